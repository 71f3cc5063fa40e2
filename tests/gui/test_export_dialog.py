"""The Export to ONNX dialog, driven as a user would (real exports, offscreen)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

pytestmark = pytest.mark.qt_log_ignore(r"This plugin does not support (propagateSizeHints|raise)\(\)")


def test_export_dialog_exports_and_reports_parity(window, qtbot, tmp_path: Path) -> None:
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    window.open_model("lenet5")
    assert window.wait_idle()
    dialog = window.open_export_dialog()
    assert dialog.checked_models() == ["lenet5"]  # preselected from the catalogue
    names = [dialog.models.item(i).text() for i in range(dialog.models.count())]
    zfnet = dialog.models.item(names.index("zfnet"))
    zfnet.setCheckState(Qt.CheckState.Checked)
    dialog.folder.setText(str(tmp_path))
    dialog.input_shape.setText("1x32x32")  # fits LeNet, not ZFNet: that row shows an error
    dialog.weights.setCurrentIndex(dialog.weights.findData("untrained"))
    qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    assert dialog.runner.busy
    assert window.wait_idle(120_000)
    rows = {dialog.table.item(r, 0).text(): r for r in range(dialog.table.rowCount())}
    assert dialog.table.item(rows["lenet5"], 1).text() == "done"
    assert float(dialog.table.item(rows["lenet5"], 4).text()) < 1e-4  # max rel diff
    assert dialog.table.item(rows["zfnet"], 1).text().startswith("error")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lenet5.onnx"]
    assert dialog.progress_bar.value() == 2
    assert "1 exported, 1 failed" in dialog.status.text()
    # The options are remembered.
    assert window.settings.value("export/folder") == str(tmp_path)
    assert window.settings.value("export/weights") == "untrained"
    dialog.close()


def test_export_dialog_cancel_leaves_no_partial_file(window, qtbot, tmp_path: Path) -> None:
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    dialog = window.open_export_dialog()
    dialog.folder.setText(str(tmp_path))
    dialog.weights.setCurrentIndex(dialog.weights.findData("untrained"))
    for i in range(dialog.models.count()):
        item = dialog.models.item(i)
        item.setCheckState(Qt.CheckState.Checked if item.text() in {"vgg16", "vgg19"} else Qt.CheckState.Unchecked)
    dialog.start()
    qtbot.waitUntil(lambda: "exporting" in dialog.status.text() or "loading" in dialog.status.text(), timeout=60_000)
    dialog.cancel()
    assert window.wait_idle(120_000)
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".onnx")] == []  # no staging left
    assert dialog.export_button.isEnabled()
    dialog.close()


def test_export_dialog_bad_folder_is_reported(window, qtbot, tmp_path: Path) -> None:
    dialog = window.open_export_dialog()
    dialog.folder.setText(str(tmp_path / "missing"))
    dialog.start()
    assert window.wait_idle(60_000)
    assert "does not exist" in dialog.status.text()
    dialog.close()
