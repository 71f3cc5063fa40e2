"""What-if in the app: the Edit panel, the marked graphs and the diff, Undo/Redo, lessons, files, ONNX."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.qt_log_ignore(r"This plugin does not support (propagateSizeHints|raise)\(\)")


def choose(window, name: str) -> None:
    assert window.catalogue.select(name), f"{name} is in the catalogue"
    assert window.wait_idle()
    assert window.summary is not None and window.summary.model == name


def type_into(qtbot, box, text: str) -> None:
    box.setFocus()
    qtbot.keyClick(box, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(box, text)


def test_edit_a_kernel_see_graph_and_diff_update_then_undo(window, qtbot) -> None:
    choose(window, "alexnet")
    window.select("features.0")
    feature, panel = window.whatif, window.whatif.edit_panel
    assert "features.0" in panel.title.text() and set(panel.fields) >= {"kernel_size", "stride", "padding", "out_channels"}
    for box in panel.fields["kernel_size"].boxes:
        type_into(qtbot, box, "7")
    assert panel.changes() == {"kernel_size": (7, 7)}
    assert panel.apply_button.isEnabled()
    qtbot.mouseClick(panel.apply_button, Qt.MouseButton.LeftButton)
    assert window.wait_idle()

    edited = feature.session.result.edited
    # 64 × 3 × 7 × 7 + 64 weights; ⌊(227 − 7 + 2×2)/4⌋ + 1 = 57.
    assert edited.layer("features.0").params == 64 * 3 * 7 * 7 + 64
    assert edited.layer("features.0").output_shape == (64, 57, 57)
    rows = {row.name: row for row in feature.view.rows()}
    assert rows["features.0"].status == "edited" and rows["features.3"].status == "affected"
    assert feature.view.table.item(0, 0).text() == "features.0"
    assert feature.view.table.item(0, 4).text() == f"23,296 → {64 * 3 * 7 * 7 + 64:,}"
    assert feature.view.graph.summary is edited
    assert feature.view.graph.marks()["features.0"] == "changed"
    assert feature.view.graph.marks()["features.3"] == "affected"
    assert window.graph_view.marks()["features.0"] == "changed"  # the original's graph marks it too
    assert feature.view.total_labels["params"][1].text() == f"{61_100_840 - 23_296 + 64 * 3 * 7 * 7 + 64:,}"
    assert feature.view.total_labels["params"][2].text() == "0.9998×"  # a change never reads as 1×
    change = 64 * 3 * 7 * 7 - 64 * 3 * 11 * 11  # the status bar says by how much, not "params ×1"
    assert window.statusBar().currentMessage() == f"What if: 1 edit; params 61,100,840 → {61_100_840 + change:,} (−{-change:,})"
    window.show_view("whatif")  # the Weights tab does not pass the original's weights off as the edited layer's
    assert window.weights_view.weights is None and "features.0 is edited" in window.weights_view.title.text()
    window.show_view("graph")  # the original again: its weights
    assert window.wait_idle()
    assert window.weights_view.weights is not None and window.weights_view.weights.layer == "features.0"

    window.activateWindow()
    window.graph_view.setFocus()
    qtbot.keyClick(window.graph_view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert window.wait_idle()
    assert feature.session.edits == () and feature.session.result is None
    assert feature.view.placeholder.isVisible() or not feature.view.isVisible()
    assert window.graph_view.marks() == {}
    assert panel.fields["kernel_size"].value() == (11, 11)  # the panel shows the original again

    qtbot.keyClick(window.graph_view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert window.wait_idle()
    assert len(feature.session.edits) == 1 and feature.session.result.edited.layer("features.0").params == 9_472


def test_a_bad_value_turns_the_field_red_with_the_reason(window, qtbot) -> None:
    choose(window, "alexnet")
    window.select("features.0")
    panel = window.whatif.edit_panel
    panel.fields["kernel_size"].set_value(300)
    assert "kernel_size" in panel.problems and "larger than the padded input" in panel.problems["kernel_size"]
    assert "2px solid" in panel.fields["kernel_size"].boxes[0].styleSheet()
    assert not panel.apply_button.isEnabled()  # an empty output: blocked
    panel.fields["kernel_size"].set_value(11)
    panel.fields["padding"].set_value(11)
    assert "K − 1 = 10" in panel.problems["padding"]
    assert panel.apply_button.isEnabled()  # legal, only wasteful: red, but it applies


def test_an_impossible_edit_says_why_and_keeps_the_last_result(window, qtbot) -> None:
    choose(window, "resnet18")
    window.select("layer1.0.conv1")
    feature, panel = window.whatif, window.whatif.edit_panel
    panel.fields["out_channels"].set_value(32)
    panel.apply()
    assert window.wait_idle()
    good = feature.session.result
    assert good is not None and [p.describe() for p in good.propagated] == ["layer1.0.bn1 num_features 64 → 32", "layer1.0.conv2 in_channels 64 → 32"]
    window.select("layer1.0.conv2")
    panel.fields["out_channels"].set_value(128)
    panel.apply()
    assert window.wait_idle()
    assert "Not applied" in panel.message.text() and "breaks at the add in layer1.0" in panel.message.text()
    assert feature.session.result is good and feature.session.stack.count() == 1


def test_lessons_menu_opens_the_experiment_with_claim_numbers_and_verdict(window, qtbot) -> None:
    feature = window.whatif
    qtbot.waitUntil(lambda: len(feature.lessons_menu.actions()) > 9, timeout=30_000)
    action = next(a for a in feature.lessons_menu.actions() if a.text().startswith("VGG: one 7×7"))
    action.trigger()
    assert window.wait_idle(120_000) and window.wait_idle()
    assert window.summary.model == "vgg16" and window.current_view() == "whatif"
    banner = feature.view.banner
    assert banner.isVisibleTo(feature.view) and "7×7" in banner.title.text()
    assert "81 % more" in banner.verdict.text()
    assert banner.numbers.item(1, 1).text() == "7,077,888" and banner.numbers.item(1, 2).text() == "12,845,056"
    assert window.selected == "features.24"
    assert feature.view.graph.marks()["features.24"] == "changed"
    assert feature.lessons_page.list.count() == len(feature.lessons_menu.actions()) - 2  # a separator and "All lessons…"


def test_save_and_open_an_edit_file(window, qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    choose(window, "lenet5")
    window.select("c3")
    feature = window.whatif
    feature.edit_panel.replace_field.setText("conv:out=16,k=5")
    qtbot.mouseClick(feature.edit_panel.replace_button, Qt.MouseButton.LeftButton)
    assert window.wait_idle()
    assert feature.session.result.edited.layer("c3").params == 2_416
    path = tmp_path / "lenet.json"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(path), ""))
    feature.view.buttons["save"].click()
    saved = json.loads(path.read_text())
    assert saved["model"] == "lenet5" and saved["edits"][0] == {"op": "replace", "layer": "c3", "with": [{"type": "conv", "out_channels": 16, "kernel_size": 5}]}

    choose(window, "resnet18")  # another model: a new session
    assert feature.session.edits == ()
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(path), ""))
    feature.view.buttons["open"].click()
    assert window.wait_idle() and window.wait_idle()
    assert window.summary.model == "lenet5"
    assert feature.session.result.edited.layer("c3").params == 2_416

    path.write_text("{not json")
    feature.open_edits(str(path))
    assert "is not valid JSON" in feature.edit_panel.message.text()


def test_export_the_edited_model_to_onnx(window, qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    choose(window, "lenet5")
    window.select("c1")
    feature = window.whatif
    feature.edit_panel.fields["out_channels"].set_value(8)
    feature.edit_panel.apply()
    assert window.wait_idle()
    # S2 is LeNet's own sum-pooling with 6 coefficients: it cannot follow, and says so.
    assert "breaks at s2 (Subsampling2d)" in feature.edit_panel.message.text()
    window.select("c5")
    feature.edit_panel.fields["kernel_size"].set_value(3)
    feature.edit_panel.apply()
    assert window.wait_idle()
    assert feature.session.result.edited.layer("c5").output_shape == (120, 3, 3)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(tmp_path))
    feature.view.buttons["export"].click()
    assert window.wait_idle(120_000)
    assert (tmp_path / "lenet5-edited.onnx").is_file()
    assert "onnxruntime agrees" in feature.view.status.text()


def test_the_what_if_widgets_do_not_import_torch() -> None:
    probe = (
        "import sys\n"
        "import explorer.gui.whatif, explorer.gui.widgets.edit_panel, explorer.gui.widgets.lessons, explorer.gui.widgets.whatif_compare\n"
        "print('torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.strip() == "False"


def test_the_layer_table_shows_the_edited_model_on_the_what_if_page(window, qtbot) -> None:
    from explorer.core.edits import LayerSpec, ReplaceLayer

    choose(window, "alexnet")
    feature, table = window.whatif, window.table
    window.select("features.0")
    # conv1 11×11/4 → a 3×3/4 conv, a ReLU and a 3×3 conv: two layers the original does not have.
    specs = (LayerSpec("conv", out_channels=64, kernel_size=3, stride=4, padding=2), LayerSpec("relu"),
             LayerSpec("conv", out_channels=64, kernel_size=3, padding=1))  # fmt: skip
    feature.session.propose(ReplaceLayer("features.0", specs))
    assert window.wait_idle()
    edited = feature.session.result.edited
    added = [layer.name for layer in edited.layers if layer.name not in window.summary.graph]
    assert len(added) >= 2
    assert table.summary is window.summary and window.table_dock.windowTitle() == "Layer table"  # Graph page: the original

    window.show_view("whatif")
    assert table.summary is edited and window.table_dock.windowTitle() == "Layer table — edited model"
    assert table.model.row_of(added[-1]) is not None and table.model.row_of("features.0") is None
    window._table_selected(added[-1])  # a row only the edited model has: its panels, the What-if view follow
    assert window.selected == added[-1] and window.panel.toPlainText().startswith(added[-1])
    assert feature.view.graph.selected() == added[-1]
    window._table_selected("features.3")  # a layer both have: the original's views follow too
    assert window.selected == "features.3" and window.graph_view.selected() == "features.3"

    window.show_view("graph")
    assert table.summary is window.summary and window.table_dock.windowTitle() == "Layer table"
    assert table.selected_names() == ["features.3"]
    feature.session.clear()
    assert window.wait_idle()
    window.show_view("whatif")  # no edits: the original everywhere
    assert table.summary is window.summary and window.table_dock.windowTitle() == "Layer table"


def test_at_1024x700_the_graph_shows_whole_cards_and_the_edits_go_under_the_totals(window, qtbot) -> None:
    from PySide6.QtWidgets import QApplication, QBoxLayout

    from explorer.core.edits import SetLayer
    from explorer.gui.widgets.whatif_compare import GRAPH_COLUMN

    choose(window, "alexnet")
    window.whatif.session.propose(SetLayer("features.0", kernel_size=7))
    assert window.wait_idle()
    view, size = window.whatif.view, window.size()
    window.show_view("whatif")
    try:
        for (width, height), direction in (((1024, 700), QBoxLayout.Direction.TopToBottom), ((1600, 1000), QBoxLayout.Direction.LeftToRight)):
            window.resize(width, height)
            for _ in range(3):
                QApplication.processEvents()
            assert view.split.orientation() == Qt.Orientation.Horizontal
            assert view.split.sizes()[0] >= GRAPH_COLUMN - 8, (width, view.split.sizes())  # (175 px before)
            card = view.graph.node_item("features.0")
            on_screen = view.graph.mapFromScene(card.mapRectToScene(card.rect)).boundingRect()
            assert on_screen.width() <= view.graph.viewport().width(), width  # a whole card fits beside the diff
            assert view.summary_row.direction() == direction, width
            assert not view.info_area.horizontalScrollBar().isVisible(), width  # the edits were squeezed beside 0.9998×
    finally:
        window.resize(size)
        window.show_view("graph")
