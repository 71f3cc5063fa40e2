"""The layer table, the charts and the compare view, on real analyses (no mocks)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QFileDialog

from explorer.core import report
from explorer.core.analysis import analyze
from explorer.core.compare import comparison, stages
from explorer.core.stats import ModelSummary
from explorer.gui.widgets.charts import METRICS, ChartsView, compact, compact_bytes
from explorer.gui.widgets.compare import CompareView, ratio_text
from explorer.gui.widgets.layer_table import NAME_ROLE, SORT_ROLE, LayerTable

# The offscreen platform says so when a top-level widget is shown or a tooltip raised: not ours to fix.
pytestmark = pytest.mark.qt_log_ignore(r"This plugin does not support (propagateSizeHints|raise)\(\)")


@pytest.fixture(scope="module")
def resnet18() -> ModelSummary:
    return analyze("resnet18")


@pytest.fixture(scope="module")
def alexnet() -> ModelSummary:
    return analyze("alexnet")


@pytest.fixture(scope="module")
def zfnet() -> ModelSummary:
    return analyze("zfnet")


@pytest.fixture
def table(qtbot, resnet18: ModelSummary) -> LayerTable:
    widget = LayerTable()
    qtbot.addWidget(widget)
    widget.set_summary(resnet18)
    widget.resize(1200, 600)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def column_values(table: LayerTable, header: str, role: int = SORT_ROLE) -> list:
    column = table.model.column_of(header)
    return [table.proxy.index(row, column).data(role) for row in range(table.proxy.rowCount())]


# --- the layer table -----------------------------------------------------------------------------


def test_table_has_one_row_per_layer_and_every_cli_column(table: LayerTable, resnet18: ModelSummary) -> None:
    assert table.model.rowCount() == len(resnet18.layers) == 69
    assert table.proxy.rowCount() == len(resnet18.layers)
    headers = [table.model.headerData(c, Qt.Orientation.Horizontal) for c in range(table.model.columnCount())]
    for header, _ in report.COLUMNS:
        assert header in headers
    for extra in ("kind", "trainable", "cum. params", "cum. MACs"):
        assert extra in headers
    assert column_values(table, "layer", NAME_ROLE) == [layer.name for layer in resnet18.layers]
    # display text is the CLI's, the numbers are right-aligned
    first = resnet18.layers[0]
    for header, getter in report.COLUMNS:
        index = table.proxy.index(0, table.model.column_of(header))
        assert index.data() == getter(first)
    macs = table.proxy.index(0, table.model.column_of("MACs"))
    assert macs.data(Qt.ItemDataRole.TextAlignmentRole) & Qt.AlignmentFlag.AlignRight
    cum_params = column_values(table, "cum. params")
    assert cum_params[-1] == resnet18.totals.params
    assert column_values(table, "cum. MACs")[-1] == resnet18.totals.macs
    assert table.count_label.text() == "69 layers"


def test_sorting_by_macs_is_numeric(table: LayerTable, resnet18: ModelSummary) -> None:
    column = table.model.column_of("MACs")
    table.view.sortByColumn(column, Qt.SortOrder.DescendingOrder)
    values = column_values(table, "MACs")
    assert values == sorted((layer.macs for layer in resnet18.layers), reverse=True)
    texts = column_values(table, "MACs", Qt.ItemDataRole.DisplayRole)
    assert texts != sorted(texts, reverse=True)  # a text sort would order "6,422,528" above "57,802,752"
    assert texts[0] == f"{max(layer.macs for layer in resnet18.layers):,}"
    # clicking the header again sorts ascending, and "#" brings back the topological order
    table.view.sortByColumn(column, Qt.SortOrder.AscendingOrder)
    assert column_values(table, "MACs") == sorted(layer.macs for layer in resnet18.layers)
    table.view.sortByColumn(table.model.column_of("#"), Qt.SortOrder.AscendingOrder)
    assert column_values(table, "layer", NAME_ROLE) == [layer.name for layer in resnet18.layers]


def test_filter_narrows_rows_by_name_type_or_kind(qtbot, table: LayerTable, resnet18: ModelSummary) -> None:
    qtbot.keyClicks(table.filter_edit, "DownSample")  # case-insensitive, typed by the user
    names = column_values(table, "layer", NAME_ROLE)
    assert names == [layer.name for layer in resnet18.layers if "downsample" in layer.name]
    assert len(names) == 6
    assert table.count_label.text() == "6 of 69 layers"
    table.set_filter("norm")  # a kind
    assert table.proxy.rowCount() == sum(layer.kind == "norm" for layer in resnet18.layers) == 20
    table.set_filter("Conv2d")  # a type
    assert table.proxy.rowCount() == sum(layer.type == "Conv2d" for layer in resnet18.layers)
    table.set_filter("")
    assert table.proxy.rowCount() == 69


def test_select_selects_and_scrolls_without_emitting(qtbot, table: LayerTable) -> None:
    with qtbot.assertNotEmitted(table.nodeSelected):
        assert table.select("layer4.1.conv2")
    assert table.selected_names() == ["layer4.1.conv2"]
    current = table.view.currentIndex()
    assert current.data(NAME_ROLE) == "layer4.1.conv2"
    assert table.view.viewport().rect().intersects(table.view.visualRect(current))  # scrolled into view
    # a collapsed block of the graph view selects its layers
    with qtbot.assertNotEmitted(table.nodeSelected):
        assert table.select("layer1.0")
    assert table.selected_names()[0] == "layer1.0.conv1" and len(table.selected_names()) == 7
    # unknown names (the graph's input) clear the selection
    with qtbot.assertNotEmitted(table.nodeSelected):
        assert not table.select("input")
    assert table.selected_names() == []


def test_clicking_a_row_emits_node_selected(qtbot, table: LayerTable) -> None:
    row = table.model.row_of("layer1.0.bn1")
    index = table.proxy.mapFromSource(table.model.index(row, table.model.column_of("type")))
    position = table.view.visualRect(index).center()
    with qtbot.waitSignal(table.nodeSelected, timeout=2000) as blocker:
        qtbot.mouseClick(table.view.viewport(), Qt.MouseButton.LeftButton, pos=position)
    assert blocker.args == ["layer1.0.bn1"]
    with qtbot.waitSignal(table.nodeSelected, timeout=2000) as blocker:
        qtbot.keyClick(table.view, Qt.Key.Key_Down)
    assert blocker.args == ["layer1.0.relu"]


def test_export_csv_and_markdown_match_the_cli(table: LayerTable, resnet18: ModelSummary, tmp_path: Path) -> None:
    csv_path = table.export(tmp_path / "layers.csv")  # unfiltered: exactly the CLI's rendering
    md_path = table.export(tmp_path / "layers.md")
    assert csv_path.read_text(encoding="utf-8") == report.render_csv(resnet18)
    assert md_path.read_text(encoding="utf-8") == report.render_markdown(resnet18)
    with pytest.raises(ValueError):
        table.export(tmp_path / "layers.xlsx")


def test_export_from_the_context_menu_actions(
    table: LayerTable, resnet18: ModelSummary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "chosen"  # no suffix typed: the format's is added
    calls = []

    def fake_dialog(*args, **kwargs):
        calls.append(args)
        return str(target), "CSV (*.csv)"

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(fake_dialog))
    table.export_csv_action.trigger()
    assert (tmp_path / "chosen.csv").read_text(encoding="utf-8") == report.render_csv(resnet18)
    assert calls and Path(calls[0][2]).name == "resnet18.csv"  # suggested file name

    table.export_markdown_action.trigger()
    assert Path(calls[1][2]).parent == tmp_path  # the next dialog opens in the folder chosen last
    assert (tmp_path / "chosen.md").read_text(encoding="utf-8") == report.render_markdown(resnet18)


def test_copy_puts_the_selected_rows_into_the_clipboard(qtbot, table: LayerTable) -> None:
    QApplication.clipboard().clear()
    assert table.select("layer1.0")  # seven rows
    table.view.setFocus()
    qtbot.keyClick(table.view, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    text = QApplication.clipboard().text()
    lines = text.rstrip("\n").split("\n")
    assert lines[0].split("\t") == [c.header for c in table.model.columns]
    assert len(lines) == 8
    first = lines[1].split("\t")
    assert first[table.model.column_of("layer")] == "layer1.0.conv1"
    assert first[table.model.column_of("MACs")] == "115,605,504"
    # the context menu's action does the same
    QApplication.clipboard().clear()
    assert table.select("fc")
    table.copy_action.trigger()
    assert QApplication.clipboard().text().split("\n")[1].startswith("69\tfc\tLinear\tlinear\t1000\t513,000")


def test_set_summary_replaces_rows_silently(qtbot, table: LayerTable, alexnet: ModelSummary) -> None:
    table.select("layer1.0.conv1")
    with qtbot.assertNotEmitted(table.nodeSelected):
        table.set_summary(alexnet)
    assert table.model.rowCount() == len(alexnet.layers) == 22
    assert table.selected_names() == []


# --- the charts ----------------------------------------------------------------------------------


@pytest.fixture
def charts(qtbot, resnet18: ModelSummary) -> ChartsView:
    widget = ChartsView()
    qtbot.addWidget(widget)
    widget.set_summary(resnet18)
    widget.resize(1200, 700)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def test_charts_have_one_bar_per_layer(charts: ChartsView, resnet18: ModelSummary) -> None:
    assert set(charts.panels) == {m.key for m in METRICS} == {"params", "macs", "activation_bytes"}
    for key, panel in charts.panels.items():
        heights = list(panel.bars.opts["height"])
        assert heights == [getattr(layer, key) for layer in resnet18.layers]
        assert list(panel.bars.opts["x"]) == list(range(1, 70))
        assert panel.curve.yData[-1] == pytest.approx(100.0)  # cumulative, in % of the total
    assert charts.bar_count() == 69
    assert charts.stages == stages(resnet18)
    assert "ResNet-18" in charts.title_label.text()


def test_charts_use_one_bar_item_per_plot_for_resnet152(charts: ChartsView) -> None:
    import pyqtgraph as pg

    summary = analyze("resnet152")
    charts.set_summary(summary)
    assert charts.bar_count() == len(summary.layers) > 500
    for panel in charts.panels.values():
        bar_items = [item for item in panel.plot.items if isinstance(item, pg.BarGraphItem)]
        assert len(bar_items) == 2  # the bars and the highlight, whatever the number of layers
        assert len(panel.bars.opts["height"]) == len(summary.layers)


def test_charts_select_highlights_without_emitting(qtbot, charts: ChartsView, resnet18: ModelSummary) -> None:
    index = [layer.name for layer in resnet18.layers].index("layer3.0.conv2")
    with qtbot.assertNotEmitted(charts.nodeSelected):
        assert charts.select("layer3.0.conv2")
    assert charts.selected() == ["layer3.0.conv2"]
    for key, panel in charts.panels.items():
        assert list(panel.highlight.opts["x"]) == [index + 1]
        assert list(panel.highlight.opts["height"]) == [getattr(resnet18.layers[index], key)]
        assert panel.selection.isVisible()
    with qtbot.assertNotEmitted(charts.nodeSelected):
        assert charts.select("layer2.0")  # a block: all its bars
    assert len(charts.selected()) == 9
    assert not charts.select("nothing")
    assert all(not panel.selection.isVisible() for panel in charts.panels.values())


def test_clicking_a_bar_emits_node_selected(qtbot, charts: ChartsView, resnet18: ModelSummary) -> None:
    names = [layer.name for layer in resnet18.layers]
    row = names.index("layer4.0.conv2")
    height = resnet18.layers[row].macs
    position = charts.data_to_viewport("macs", row + 1, height / 2)
    with qtbot.waitSignal(charts.nodeSelected, timeout=2000) as blocker:
        qtbot.mouseClick(charts.graphics.viewport(), Qt.MouseButton.LeftButton, pos=position)
    assert blocker.args == ["layer4.0.conv2"]
    assert charts.selected() == ["layer4.0.conv2"]
    assert list(charts.panels["params"].highlight.opts["x"]) == [row + 1]


def test_hovering_a_bar_names_the_layer_and_its_value(qtbot, charts: ChartsView, resnet18: ModelSummary) -> None:
    names = [layer.name for layer in resnet18.layers]
    row = names.index("fc")
    position = charts.data_to_viewport("params", row + 1, resnet18.layers[row].params / 2)
    qtbot.mouseMove(charts.graphics.viewport(), position)
    qtbot.waitUntil(lambda: "fc" in charts.info_label.text(), timeout=2000)
    assert "513,000" in charts.info_label.text()
    text = charts.hover_text("params", row)
    assert "fc" in text and "513,000" in text and "100.0 %" in text


def test_charts_take_their_background_from_the_palette(charts: ChartsView) -> None:
    palette = QPalette(charts.palette())
    palette.setColor(QPalette.ColorRole.Base, QColor("#1e1e1e"))
    palette.setColor(QPalette.ColorRole.Text, QColor("#e6e6e6"))
    charts.setPalette(palette)
    assert charts.graphics.backgroundBrush().color() == QColor("#1e1e1e")
    assert charts.panels["params"].bars.opts["brush"].color() == QColor(METRICS[0].dark)


def test_number_formats() -> None:
    assert compact(25_557_032) == "25.6M"
    assert compact(4_089_184_256, " ") == "4.09 G"
    assert compact(512) == "512"
    assert compact_bytes(3 * 2**20) == "3 MB"
    assert compact_bytes(0) == "0"
    assert ratio_text(11.27) == "11.3×" and ratio_text(0.0845) == "0.0845×" and ratio_text(None) == "—"


# --- the compare view ----------------------------------------------------------------------------


NAMES = ["alexnet", "zfnet", "vgg16", "resnet18"]


@pytest.fixture
def compare(qtbot) -> CompareView:
    widget = CompareView()
    qtbot.addWidget(widget)
    widget.resize(1200, 700)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def test_compare_shows_both_totals_and_the_stages(qtbot, compare: CompareView, alexnet, zfnet) -> None:
    with qtbot.assertNotEmitted(compare.modelsChanged):
        compare.set_model_names(NAMES, "alexnet", "zfnet")
        assert not compare.has_summaries()
        compare.set_summaries(alexnet, zfnet)
    assert compare.has_summaries()
    assert compare.current_models() == ("alexnet", "zfnet")
    assert "AlexNet" in compare.title_a.text() and "ZFNet" in compare.title_b.text()
    params_a, params_b, params_ratio = (label.text() for label in compare.total_labels["params"])
    assert f"{alexnet.totals.params:,}" in params_a and "61.1 M" in params_a
    assert f"{zfnet.totals.params:,}" in params_b
    assert ratio_text(zfnet.totals.params / alexnet.totals.params) in params_ratio
    for key in ("macs", "flops", "activation_bytes"):
        a_text, b_text, _ = (label.text() for label in compare.total_labels[key])
        assert f"{getattr(alexnet.totals, key):,}" in a_text and f"{getattr(zfnet.totals, key):,}" in b_text

    table = compare.stage_table
    expected = comparison(alexnet, zfnet)
    assert table.rowCount() == len(expected.pairs) == 9
    assert [table.item(r, 0).text() for r in range(table.rowCount())] == [p.label for p in expected.pairs]
    six = [p.label for p in expected.pairs].index("6×6")
    # AlexNet's 6×6 stage: pool5's 82,944 MACs; its avgpool (6×6 → 6×6, the identity) costs nothing.
    assert [table.item(six, c).text() for c in range(1, 9)] == ["256", "2", "0", "82.9 k", "512", "1", "0", "73.7 k"]
    head = table.rowCount() - 1
    assert table.item(head, 3).text() == "58.6 M" and table.item(head, 7).text() == "96.4 M"
    assert table.item(head, 3).toolTip() == f"{expected.pairs[-1].a.params:,} parameters"
    assert table.item(0, 1).text() == "—" and table.item(0, 5).text() == "64"  # 110×110: ZFNet only
    # the per-stage bars: one per stage a model has, A left of B at the stage's position
    bars_a, bars_b = compare.stage_bars["macs"]
    assert list(bars_a.opts["height"]) == [s.macs for s in expected.stages_a]
    assert list(bars_b.opts["height"]) == [s.macs for s in expected.stages_b]
    assert list(bars_b.opts["x"])[0] == pytest.approx(0.2)  # 110×110 is the first row


def test_picking_a_model_asks_for_a_new_comparison(qtbot, compare: CompareView, alexnet, zfnet) -> None:
    compare.set_model_names(NAMES, "alexnet", "zfnet")
    compare.set_summaries(alexnet, zfnet)
    compare.combo_b.setFocus()
    with qtbot.waitSignal(compare.modelsChanged, timeout=2000) as blocker:
        qtbot.keyClick(compare.combo_b, Qt.Key.Key_Down)
    assert blocker.args == ["alexnet", "vgg16"]
    assert "Analysing" in compare.status_label.text()
    # the main window answers with the summaries; the pickers follow without a new request
    with qtbot.assertNotEmitted(compare.modelsChanged):
        compare.set_summaries(zfnet, alexnet)
    assert compare.current_models() == ("zfnet", "alexnet")
    assert compare.status_label.text() == "MACs and FLOPs as lecture counts them"  # the analysis is done


def test_main_window_api_points(compare: CompareView, charts: ChartsView, table: LayerTable) -> None:
    """The names the main window relies on."""
    for widget in (charts, table):
        assert hasattr(widget, "nodeSelected") and callable(widget.set_summary) and callable(widget.select)
    assert callable(compare.set_model_names) and callable(compare.set_summaries) and callable(compare.has_summaries)
