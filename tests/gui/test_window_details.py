"""Issue 13, item 7 and the layouts: the details a user meets, on real analyses and real widgets."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from explorer.core.analysis import analyze
from explorer.core.stats import ModelSummary
from explorer.gui.messages import in_gui_words
from explorer.gui.widgets.catalogue import FAMILY_ROLE, NAME_ROLE, Catalogue
from explorer.gui.widgets.charts import count_text
from explorer.gui.widgets.layer_table import LayerTable

pytestmark = pytest.mark.qt_log_ignore(r"This plugin does not support (propagateSizeHints|raise)\(\)")


@pytest.fixture(scope="module")
def resnet18() -> ModelSummary:
    return analyze("resnet18")


@pytest.fixture
def table(qtbot, resnet18: ModelSummary) -> LayerTable:
    widget = LayerTable()
    qtbot.addWidget(widget)
    widget.set_summary(resnet18)
    widget.resize(900, 300)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


# --- the layer table ------------------------------------------------------------------------------


def test_csv_export_of_a_filtered_table_writes_the_rows_shown(table: LayerTable, tmp_path: Path) -> None:
    table.set_filter("conv")
    shown = [table.proxy.index(row, 1).data() for row in range(table.proxy.rowCount())]
    assert len(shown) == 20 and table.model.rowCount() == 69  # 20 of ResNet-18's 69 rows are convolutions
    with open(table.export(tmp_path / "convs.csv"), encoding="utf-8", newline="") as handle:
        written = [row["name"] for row in csv.DictReader(handle)]
    assert written == shown
    markdown = table.export(tmp_path / "convs.md").read_text(encoding="utf-8")
    assert "20 of the 69 layers (the table's filter)" in markdown
    rows = [line for line in markdown.splitlines() if line.startswith("| ") and "Conv2d" in line]
    assert len(rows) == 20
    assert "**sum of these 20**" in markdown


def test_a_new_model_opens_the_table_at_its_first_row(qtbot, table: LayerTable) -> None:
    table.view.verticalScrollBar().setValue(table.view.verticalScrollBar().maximum())
    assert table.view.verticalScrollBar().value() > 0
    table.set_summary(analyze("alexnet"))
    assert table.view.verticalScrollBar().value() == 0
    assert table.view.rowAt(0) == 0


# --- the catalogue ----------------------------------------------------------------------------------


def test_catalogue_group_counts_follow_the_search(qtbot) -> None:
    from explorer.core.zoo import list_specs

    specs = list_specs(include_torchvision=False)
    catalogue = Catalogue()
    qtbot.addWidget(catalogue)
    catalogue.set_specs(specs)
    model = catalogue._model
    families = {model.item(r).data(FAMILY_ROLE): model.item(r) for r in range(model.rowCount())}
    resnets = sum(1 for spec in specs if spec.family == "ResNet")
    assert resnets >= 5 and families["ResNet"].text() == f"ResNet  ({resnets})"
    catalogue.search.setText("resnet5")
    proxy = catalogue._proxy
    family = proxy.mapFromSource(families["ResNet"].index())
    shown = [proxy.index(r, 0, family).data(NAME_ROLE) for r in range(proxy.rowCount(family))]
    assert "resnet50" in shown and "resnet18" not in shown
    assert families["ResNet"].text() == f"ResNet  ({len(shown)} of {resnets})"
    catalogue.search.clear()
    assert families["ResNet"].text() == f"ResNet  ({resnets})"


def test_gui_words_replace_the_cli_options() -> None:
    assert in_gui_words("Input 3×8×8 is too small.\nUse a larger --input.") == (
        "Input 3×8×8 is too small.\nUse a larger input shape (Input, in the Models panel)."
    )
    assert in_gui_words("Output folder /x does not exist.\nCreate it first, or choose another --out.").endswith(
        "choose another folder."
    )


def test_count_text_shows_the_number_in_a_unit_that_shows_it() -> None:
    assert count_text(416_520) == "416.5 k"
    assert count_text(1_814_083_072) == "1.814 G"
    assert count_text(61) == "61"


# --- the window -------------------------------------------------------------------------------------


def test_a_rejected_input_shape_is_kept_red_with_the_message(window, qtbot) -> None:
    catalogue = window.catalogue
    window.open_model("alexnet")
    assert window.wait_idle()
    catalogue.input_shape.selectAll()
    qtbot.keyClicks(catalogue.input_shape, "3x32x32")  # AlexNet's features.12 becomes empty
    qtbot.keyClick(catalogue.input_shape, Qt.Key.Key_Return)
    assert window.wait_idle()
    assert catalogue.input_shape.text() == "3x32x32"  # kept for editing, not replaced by 3×227×227
    assert catalogue.input_rejected and "c62828" in catalogue.input_shape.styleSheet()
    message = catalogue.message.text()
    assert catalogue.message.isVisibleTo(catalogue) and "too small" in message
    assert "--input" not in message and "input shape" in message
    assert window.summary.model == "alexnet" and window.summary.input_shape == (3, 227, 227)  # the last good one stays
    catalogue.input_shape.selectAll()
    qtbot.keyClicks(catalogue.input_shape, "3x160x160")
    assert not catalogue.input_rejected  # editing clears the red
    qtbot.keyClick(catalogue.input_shape, Qt.Key.Key_Return)
    assert window.wait_idle()
    assert window.summary.input_shape == (3, 160, 160) and catalogue.input_shape.text() == "3×160×160"
    assert not catalogue.message.isVisibleTo(catalogue)


def test_compare_opens_with_the_current_model_as_a(window, qtbot) -> None:
    window.open_model("alexnet")
    assert window.wait_idle()
    window.show_view("compare")
    assert window.wait_idle()
    a, b = window.compare.summaries()
    assert (a.model, b.model) == ("alexnet", "resnet18")
    assert window.compare.current_models() == ("alexnet", "resnet18")
    legend = window.compare.stage_legend.text()  # the charts say which colour is which model
    assert window.compare.stage_legend.isVisibleTo(window.compare)
    assert "#4e79a7'>■</span>&nbsp;A: alexnet" in legend and "#e07b00'>■</span>&nbsp;B: resnet18" in legend
    window.show_view("graph")
    window.open_model("resnet18")  # A would repeat B: B becomes another classic
    assert window.wait_idle()
    window.show_view("compare")
    assert window.wait_idle()
    assert [s.model for s in window.compare.summaries()] == ["resnet18", "vgg16"]


def test_status_bar_shows_lenet_macs_in_a_unit_that_shows_them(window) -> None:
    window.open_model("lenet5")
    assert window.wait_idle()
    text = window.totals_label.text()
    macs = window.summary.totals.macs
    assert "0.000 G" not in text and f"MACs {count_text(macs)} " in text
    number, unit = count_text(macs).split()
    assert abs(float(number) * {"k": 1e3, "M": 1e6}[unit] - macs) / macs < 5e-4  # the figure is the total


def test_the_block_hint_says_how_to_open_or_fold_it(window) -> None:
    window.select("layer1")  # a folded stage of ResNet-18
    assert "layer1" in window.graph_view.collapsed
    assert "double-click it in the graph to expand it" in window.panel.toPlainText()
    window.graph_view.expand("layer1")
    assert "expanded in the graph: double-click its frame to fold it" in window.panel.toPlainText()


# --- the charts -------------------------------------------------------------------------------------


def test_the_hover_readout_is_never_cut_off(qtbot, resnet18: ModelSummary) -> None:
    width = 780  # (the offscreen screen is 800 px wide: a mouse beyond it does not arrive)
    from explorer.gui.widgets.charts import ChartsView

    charts = ChartsView()
    qtbot.addWidget(charts)
    charts.set_summary(resnet18)
    charts.resize(width, 500)
    charts.show()
    qtbot.waitExposed(charts)
    qtbot.waitUntil(lambda: charts.info_label.width() > 0)
    assert charts._readout_below  # under the title: the line has no room for both
    row = [layer.name for layer in resnet18.layers].index("layer4.1.conv2")
    position = charts.data_to_viewport("macs", row + 1, resnet18.layers[row].macs / 2)
    qtbot.mouseMove(charts.graphics.viewport(), position)
    qtbot.waitUntil(lambda: "layer4.1.conv2" in charts.info_label.text(), timeout=2000)
    text = charts.info_label.text()
    assert charts._text_width(text) <= charts.info_label.width()  # shown whole
    assert "115,605,504" in text  # the value always stays
    assert "cumulative" in text  # full width under the title: all of it fits
    charts.resize(400, 500)
    qtbot.waitUntil(lambda: charts.info_label.width() < 400)
    other = [layer.name for layer in resnet18.layers].index("layer4.0.conv2")
    qtbot.mouseMove(charts.graphics.viewport(), charts.data_to_viewport("macs", other + 1, resnet18.layers[other].macs / 2))
    qtbot.waitUntil(lambda: "layer4.0.conv2" in charts.info_label.text(), timeout=2000)
    assert charts._text_width(charts.info_label.text()) <= charts.info_label.width()
    assert "cumulative" not in charts.info_label.text()  # the running share goes first


# --- feature maps -----------------------------------------------------------------------------------


def _scroll_bars_shown(widget) -> list[str]:
    from PySide6.QtWidgets import QAbstractScrollArea

    shown = []
    for area in widget.findChildren(QAbstractScrollArea):
        for bar in (area.horizontalScrollBar(), area.verticalScrollBar()):
            if bar.isVisible():
                shown.append(type(area).__name__)
    return shown


def test_feature_panes_at_1024x700_fill_without_nested_scroll_bars(window, qtbot) -> None:
    from explorer.gui.widgets.feature_maps import PANE_MIN_WIDTH

    window.resize(1024, 700)
    window.open_model("resnet50")
    assert window.wait_idle()
    window.send_to_features(layer="layer2.0")  # a residual block: five grids
    assert window.wait_idle(120_000)
    features = window.features
    assert len(features.panes) == 1  # nothing appears unasked
    pane = features.panes[0]
    qtbot.waitUntil(lambda: pane.branch_grids and pane.branch_grids[0].grid.width() > 50)
    assert _scroll_bars_shown(features) == []  # only the page itself may scroll
    assert pane.branch_columns < 5  # too narrow for five in a row: they wrap
    for branch in pane.branch_grids:
        assert branch.grid.filled_fraction() > 0.55, branch.title
    second = features.add_pane("vgg16", "features.0")
    assert window.wait_idle(120_000)
    qtbot.waitUntil(lambda: second.grid.mosaic is not None)
    QApplication.processEvents()
    narrow = features.width() < 2 * PANE_MIN_WIDTH
    assert features.splitter.orientation() == (Qt.Orientation.Vertical if narrow else Qt.Orientation.Horizontal)
    assert _scroll_bars_shown(features) == []
    assert second.grid.filled_fraction() > 0.6  # 64 tiles shaped to the pane, not a square in a band
    window.resize(1600, 1000)
    qtbot.waitUntil(lambda: features.splitter.orientation() == Qt.Orientation.Horizontal or features.width() < 2 * PANE_MIN_WIDTH)
    sizes = features.splitter.sizes()
    assert max(sizes) - min(sizes) <= 2  # the panes share the width


def test_a_saved_grid_carries_its_caption_with_the_untrained_badge(window, qtbot, tmp_path: Path) -> None:
    from PySide6.QtGui import QColor, QImage

    window.open_model("resnet18")
    assert window.wait_idle()
    window.send_to_features(layer="layer1.0.conv1")
    assert window.wait_idle(120_000)
    pane = window.features.panes[0]
    assert not pane.capture.pretrained  # offline: torchvision's weights are not there
    from explorer.gui.widgets.untrained_badge import FELL_BACK

    assert pane.weights_box.currentText().startswith(FELL_BACK)  # the picker does not claim ImageNet weights
    assert sum(pane.weights_box.itemText(i).startswith(FELL_BACK) for i in range(pane.weights_box.count())) == 1
    target = tmp_path / "grid.png"
    assert pane.save_png(target)
    image = QImage(str(target))
    description = image.text("Description")
    assert "resnet18 · layer1.0.conv1" in description and "64×56×56" in description
    assert pane.capture.weights_label in description and description.endswith("untrained weights")
    grid_height = pane.grid.grab().height()
    strip = image.height() - grid_height
    assert strip > 20  # a caption above the grid
    reds = sum(
        1
        for y in range(strip)
        for x in range(0, image.width(), 2)
        if QColor(image.pixel(x, y)).name() == "#c62828"
    )
    assert reds > 50  # the badge, in the panes' red


# --- layouts ----------------------------------------------------------------------------------------


def test_side_panels_keep_their_minimum_widths_whatever_is_shown(window, qtbot) -> None:
    from explorer.gui.widgets import catalogue, layer_panel

    window.resize(1024, 700)
    window.open_model("efficientnet_lite0")
    assert window.wait_idle()
    window.select("_conv_stem")  # its filters' long caption once set a ~500 px minimum on the Layer dock
    assert window.wait_idle()
    QApplication.processEvents()
    assert window.weights_view.filters.isVisible()
    assert window.panel_dock.minimumSizeHint().width() <= layer_panel.MINIMUM_WIDTH + 40
    assert window.catalogue_dock.width() >= catalogue.MINIMUM_WIDTH
    assert window.panel_dock.width() >= layer_panel.MINIMUM_WIDTH
    field = window.catalogue.input_shape
    assert field.width() >= field.fontMetrics().horizontalAdvance("3×1024×1024")  # never "×224"
    # Numbers wrap between words only (a narrow panel once broke "2,359,29 6").
    from PySide6.QtGui import QTextOption

    assert window.panel.wordWrapMode() == QTextOption.WrapMode.WordWrap


def test_a_status_message_is_never_cut_short_by_the_totals(window) -> None:
    window.open_model("alexnet")
    assert window.wait_idle()
    bar, totals = window.statusBar(), window.totals_label
    size = window.size()
    window.resize(1600, 1000)
    bar.showMessage("alexnet: analysed (fx)")
    assert not totals.isHidden()  # room for both
    window.resize(1024, 700)
    long = "What if: 1 edit; params 61,100,840 → 61,087,016 (−13,824) — and a message as long as a narrow window allows, or longer"
    bar.showMessage(long)
    assert totals.isHidden()  # it would have cut the message to its first words
    bar.clearMessage()
    assert not totals.isHidden() and "61,100,840" in totals.text()
    window.resize(size)
