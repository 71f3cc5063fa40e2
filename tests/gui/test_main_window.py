"""The main window as a user drives it: real analyses, real widgets, offscreen."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.qt_log_ignore(r"This plugin does not support (propagateSizeHints|raise)\(\)")


def choose(window, qtbot, name: str) -> None:
    assert window.catalogue.select(name), f"{name} is in the catalogue"
    assert window.wait_idle()
    assert window.summary is not None and window.summary.model == name


def click_node(window, qtbot, name: str) -> None:
    view = window.graph_view
    item = view.node_item(name)
    assert item is not None, f"{name} is visible"
    view.centerOn(item)
    point = view.mapFromScene(item.sceneBoundingRect().center())
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=point)


def test_choosing_a_model_fills_graph_panel_and_table(window, qtbot) -> None:
    choose(window, qtbot, "alexnet")
    summary = window.summary
    assert window.graph_view.summary is summary
    assert window.table.model.rowCount() == len(summary.layers)
    assert len(window.graph_view.visible_graph.nodes) == len(summary.graph.nodes)  # AlexNet opens expanded
    assert window.table.select("features.0")
    window.select("features.0")
    html = window.panel.toPlainText()
    assert "64 × 56 × 56 × (3 × 11 × 11) = 72,855,552" in html
    assert "(227 − 11 + 2×2)/4 + 1 = 56" in html
    assert "61,100,840" in window.totals_label.text()
    assert window.device_label.text().startswith(("CPU", "CUDA", "Apple"))


def test_clicking_a_node_selects_its_table_row_and_back(window, qtbot) -> None:
    choose(window, qtbot, "resnet18")
    window.graph_view.expand_all()  # ResNet-18 opens at its stages: maxpool is in the stem
    click_node(window, qtbot, "maxpool")
    assert window.selected == "maxpool"
    assert window.table.selected_names() == ["maxpool"]
    assert "maxpool" in window.panel.toPlainText()
    # And from the table back to the graph.
    view = window.table.view
    row = window.table.model.row_of("conv1")
    index = window.table.proxy.mapFromSource(window.table.model.index(row, 1))
    view.scrollTo(index)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=view.visualRect(index).center())
    assert window.selected == "conv1"
    assert window.graph_view.selected() == "conv1"
    assert window.charts.selected() == ["conv1"]


def test_collapse_expand_and_search(window, qtbot) -> None:
    choose(window, qtbot, "resnet152")
    view = window.graph_view
    collapsed = len(view.visible_graph.nodes)
    assert "layer3" in view.collapsed and "layer3.20" in view.collapsed  # deep networks open at stage level
    view.expand("layer3.20")  # opens the stage (and the run of repeats) around it too
    assert len(view.visible_graph.nodes) > collapsed
    assert view.node_item("layer3.20.conv2") is not None
    view.collapse("layer3.20")
    assert view.node_item("layer3.20").node.is_block and view.node_item("layer3.20.conv2") is None
    view.expand_all()
    assert len(view.visible_graph.nodes) == len(window.summary.graph.nodes)
    matches = view.find("layer4.2.conv3")
    assert matches and matches[0] == "layer4.2.conv3"
    assert window.selected == "layer4.2.conv3"  # the search selects, and the selection syncs


def test_train_toggle_shows_googlenet_aux_heads(window, qtbot) -> None:
    choose(window, qtbot, "googlenet")
    assert "aux1.fc2" not in window.summary.graph
    window.catalogue.mode.setCurrentText("train")
    assert window.wait_idle()
    assert window.summary.mode == "train"
    assert "aux1.fc2" in window.summary.graph and "aux2.fc2" in window.summary.graph
    assert window.summary.totals.params == 13_004_888
    window.graph_view.expand_all()
    assert window.graph_view.node_item("aux1.fc2") is not None


def test_compare_view(window, qtbot) -> None:
    window.show_view("compare")
    assert window.wait_idle()
    assert window.compare.has_summaries()
    window.compare_models("alexnet", "zfnet")
    assert window.wait_idle()
    first, second = window.compare.summaries()
    assert (first.model, second.model) == ("alexnet", "zfnet")


def test_impossible_input_shows_an_inline_error_and_the_window_stays_usable(window, qtbot) -> None:
    choose(window, qtbot, "alexnet")
    window.catalogue.input_shape.setText("3x32x32")
    qtbot.keyClick(window.catalogue.input_shape, Qt.Key.Key_Return)
    assert window.wait_idle()
    assert window.catalogue.message.isVisible()
    assert "features.12 (MaxPool2d)" in window.catalogue.message.text()
    assert "Use a larger input shape (Input, in the Models panel)." in window.catalogue.message.text()
    assert "--" not in window.catalogue.message.text()  # the GUI's words, not the command line's
    assert window.summary.input_shape == (3, 227, 227)  # the last good analysis stays
    assert window.catalogue.input_shape.text() == "3x32x32"  # the rejected shape stays, to be edited
    window.catalogue.input_shape.setText("3x nonsense")
    qtbot.keyClick(window.catalogue.input_shape, Qt.Key.Key_Return)
    assert window.wait_idle()
    assert "Malformed input shape" in window.catalogue.message.text()
    choose(window, qtbot, "vgg16")  # still usable
    assert not window.catalogue.message.isVisible()


def test_a_new_request_cancels_the_old_one(window, qtbot) -> None:
    for name in ("resnet152", "vgg16", "alexnet"):
        window.catalogue.select(name)
    assert window.wait_idle()
    assert window.summary.model == "alexnet"


def test_user_model_file(window, qtbot, tmp_path: Path) -> None:
    path = tmp_path / "tiny.py"
    path.write_text(
        "from torch import nn\nINPUT_SHAPE = (1, 16, 16)\n"
        "def build():\n    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 14 * 14, 3))\n"
    )
    window.open_user_model(f"{path}:build")
    assert window.wait_idle()
    assert window.summary.model == f"{path}:build"
    assert [r.name for r in window.summary.layers] == ["0", "1", "2", "3"]


def test_screenshot_mode_writes_a_non_blank_png(tmp_path: Path) -> None:
    target = tmp_path / "shot.png"
    result = subprocess.run(
        [sys.executable, "-m", "explorer", "gui", "--model", "resnet50", "--select", "layer1.0",
         "--screenshot", str(target), "--size", "1200x800"],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    image = QImage(str(target))
    assert (image.width(), image.height()) == (1200, 800)
    colours = {image.pixel(x, y) for x in range(0, 1200, 7) for y in range(0, 800, 7)}
    assert len(colours) > 50  # a rendered window, not a blank canvas

    bad = subprocess.run(
        [sys.executable, "-m", "explorer", "gui", "--model", "alexnet", "--input", "3x16x16",
         "--screenshot", str(tmp_path / "bad.png")],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert bad.returncode == 2 and "too small" in bad.stderr and "Traceback" not in bad.stderr


def test_a_broken_user_model_file_is_reported_inline(window, qtbot, tmp_path: Path) -> None:
    path = tmp_path / "broken.py"
    path.write_text("import torch\ndef build(:\n")
    window.open_user_model(f"{path}:build")
    assert window.wait_idle()
    assert "SyntaxError" in window.catalogue.message.text() and "broken.py:2" in window.catalogue.message.text()
    assert window.summary is not None  # the previous analysis is still shown


def test_panel_shows_both_axes_and_the_gate(window, qtbot) -> None:
    """Issue 9: non-square fields as H × W; a squeeze-excitation gate named on every node after it."""
    window.open_model("resnet50", "3x97x131")
    assert window.wait_idle()
    window.select("avgpool")
    text = window.panel.toPlainText()
    assert "523 × 555 px (H × W)" in text
    assert "H: RF = 427 + (4 − 1) × 32 = 523 px; W: RF = 427 + (5 − 1) × 32 = 555 px" in text
    window.open_model("efficientnet_b0")
    assert window.wait_idle()
    window.select("features.2.0.block.1.0")
    text = window.panel.toPlainText()
    assert "RF = 7 + (3 − 1) × 2 = 11 px; jump = 2 × 2 = 4" in text
    assert "the whole image, through the gate features.1.0.block.1.mul" in text
    model = window.table.model
    rf_column = next(i for i, column in enumerate(model.columns) if column.header == "RF")
    row = model.row_of("features.2.0.block.1.0")
    assert model.data(model.index(row, rf_column)) == "11*"  # the table's gate marker


def test_paper_differences_in_the_catalogue_and_compare(window, qtbot) -> None:
    choose(window, qtbot, "resnet50")
    tooltip = window.catalogue._find("resnet50").data(Qt.ItemDataRole.ToolTipRole)
    assert "<b>Not the paper's:</b> torchvision's ResNet v1.5" in tooltip
    window.compare_models("resnet50", "resnet50_v1")
    assert window.wait_idle()
    notes = window.compare.paper_notes
    assert not notes.isHidden() and "4.09 GMACs against the paper's 3.8" in notes.text()
