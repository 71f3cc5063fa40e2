"""The counting-convention picker and the "Why do the numbers differ?" view, driven as a user would."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings, Qt

from explorer.core.analysis import analyze
from explorer.core.convention_names import CONVENTION_NAMES
from explorer.gui.widgets.charts import count_text

pytestmark = pytest.mark.qt_log_ignore(r"This plugin does not support (propagateSizeHints|raise)\(\)")


def choose(window, name: str) -> None:
    assert window.catalogue.select(name)
    assert window.wait_idle()
    assert window.summary is not None and window.summary.model == name


def pick(window, convention: str) -> None:
    window.convention_picker.setCurrentText(convention)
    assert window.wait_idle()
    assert window.summary.convention == convention


def table_cell(window, layer: str, header: str) -> str:
    model = window.table.model
    return model.data(model.index(model.row_of(layer), model.column_of(header)))


def test_the_picker_recounts_every_view_without_tracing_again(window, qtbot) -> None:
    assert [window.convention_picker.itemText(i) for i in range(window.convention_picker.count())] == list(CONVENTION_NAMES)
    assert window.convention_picker.currentText() == "lecture"
    choose(window, "resnet18")
    window.graph_view.expand("layer1.0")
    window.select("layer1.0.bn1")
    graph, collapsed = window.summary.graph, window.graph_view.collapsed
    lecture = window.summary
    pick(window, "fvcore")
    expected = analyze("resnet18", convention="fvcore")
    summary = window.summary
    assert summary.graph is graph  # recounted on the same graph: nothing traced, no shapes propagated
    assert window.graph_view.collapsed == collapsed  # the graph keeps its folds
    assert window.selected == "layer1.0.bn1"
    # every view shows fvcore's numbers
    assert f"MACs {count_text(expected.totals.macs)} ·" in window.totals_label.text()
    assert table_cell(window, "layer1.0.bn1", "MACs") == f"{2 * 64 * 56 * 56:,}"
    assert "as fvcore counts them" in window.table.count_label.text()
    panel = window.panel.toPlainText()
    assert "2 × 64 × 56 × 56 = 401,408 (aten::batch_norm in eval" in panel and "fvcore 0.1.5" in panel
    assert list(window.charts._values["macs"]) == [r.macs for r in expected.layers]
    assert "(fvcore)" in window.charts.title_label.text()
    tooltip = window.graph_view.node_item("layer1.0.bn1").toolTip()
    assert "MACs 401" in tooltip
    assert window.settings.value("counting/convention") == "fvcore"
    # and back: the lecture's numbers again
    pick(window, "lecture")
    assert window.summary.totals == lecture.totals
    assert table_cell(window, "layer1.0.bn1", "MACs") == "0"


def test_torch_counts_flops_and_the_status_bar_says_so(window) -> None:
    choose(window, "alexnet")
    pick(window, "torch")
    flops = analyze("alexnet", convention="torch").totals.flops
    assert f"FLOPs {count_text(flops)} ·" in window.totals_label.text()


def test_the_convention_is_remembered(qtbot, settings: QSettings) -> None:
    from explorer.gui.main_window import MainWindow

    settings.setValue("counting/convention", "thop")
    win = MainWindow(settings)
    qtbot.addWidget(win)
    win.show()
    assert win.wait_idle()
    assert win.convention_picker.currentText() == "thop"
    assert win.summary.convention == "thop"
    settings.setValue("counting/convention", "no such tool")
    other = MainWindow(settings)
    qtbot.addWidget(other)
    assert other.convention == "lecture"
    assert other.wait_idle()


def test_compare_follows_the_convention(window) -> None:
    choose(window, "alexnet")
    window.show_view("compare")
    assert window.wait_idle()
    pick(window, "ptflops")
    a, b = window.compare.summaries()
    assert a.convention == b.convention == "ptflops"
    assert a.totals.macs == analyze(a.model, convention="ptflops").totals.macs
    assert "ptflops" in window.compare.status_label.text()


def test_switching_while_an_analysis_runs_keeps_the_new_model(window) -> None:
    choose(window, "alexnet")
    window.catalogue.select("vgg16")  # an analysis on its way …
    window.convention_picker.setCurrentText("torchinfo")  # … and a new convention before it lands
    assert window.wait_idle()
    assert window.summary.model == "vgg16" and window.summary.convention == "torchinfo"


def test_why_do_the_numbers_differ_view(window, qtbot) -> None:
    choose(window, "resnet50")
    window.show_view("reconcile")
    assert window.wait_idle()
    view = window.reconcile_view
    assert view.reconciliation is not None and view.reconciliation.model == "resnet50"
    assert view.table.rowCount() == 2 * (2 + len(CONVENTION_NAMES))  # numbers, then what makes the difference
    paper = view.table.item(view.row_of("paper"), 0).text()
    assert "He et al. 2016" in paper and view.table.item(view.row_of("paper"), 1).text() == "3.8×10⁹"
    assert view.table.item(view.row_of("lecture"), 0).text().startswith("● lecture")
    # a click on a convention's row counts the whole app with it
    row = view.row_of("thop")
    rect = view.table.visualItemRect(view.table.item(row, 1))
    qtbot.mouseClick(view.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert window.wait_idle()
    assert window.convention_picker.currentText() == "thop" and window.summary.convention == "thop"
    assert view.table.item(row, 0).text().startswith("● thop")
    assert view.table.item(row, 0).font().bold() and "BatchNorm2d" in view.table.item(row + 1, 0).text()
    # another model: the view follows
    choose(window, "googlenet")
    assert view.reconciliation.model == "googlenet"
