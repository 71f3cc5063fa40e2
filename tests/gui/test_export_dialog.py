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
    (tmp_path / "a-file").write_text("not a folder")
    dialog = window.open_export_dialog()
    dialog.folder.setText(str(tmp_path / "a-file"))
    dialog.start()
    assert window.wait_idle(60_000)
    assert "is a file" in dialog.status.text()
    assert "--out" not in dialog.status.text()  # the GUI's words, not the CLI's
    dialog.close()


def test_export_dialog_exports_only_what_the_filter_shows_and_counts_it(window, qtbot, tmp_path: Path, monkeypatch) -> None:
    from PySide6.QtWidgets import QMessageBox

    asked = []

    def answer(*args, **kwargs):
        asked.append(args[2])
        return QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "question", staticmethod(answer))
    window.open_model("lenet5")
    assert window.wait_idle()
    dialog = window.open_export_dialog()
    names = [dialog.models.item(i).text() for i in range(dialog.models.count())]
    dialog.models.item(names.index("zfnet")).setCheckState(Qt.CheckState.Checked)
    assert dialog.checked_models() == ["lenet5", "zfnet"]
    assert dialog.count_label.text() == "2 models to export"
    dialog.filter.setText("lenet")  # zfnet is still ticked, but hidden: not exported, and said so
    assert dialog.checked_models() == ["lenet5"]
    assert dialog.count_label.text() == "1 model to export (1 ticked but hidden by the filter, not exported)"
    assert dialog.export_button.text() == "Export 1"
    target = tmp_path / "new" / "onnx"  # does not exist: the dialog offers to create it
    dialog.folder.setText(str(target))
    dialog.weights.setCurrentIndex(dialog.weights.findData("untrained"))
    dialog.start()
    assert asked and str(target) in asked[0]
    assert window.wait_idle(120_000)
    assert sorted(p.name for p in target.iterdir()) == ["lenet5.onnx"]
    assert dialog.table.rowCount() == 1
    dialog.close()


def test_export_dialog_declined_folder_exports_nothing(window, qtbot, tmp_path: Path, monkeypatch) -> None:
    from PySide6.QtWidgets import QMessageBox

    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *a, **k: QMessageBox.StandardButton.No))
    dialog = window.open_export_dialog()
    dialog.folder.setText(str(tmp_path / "missing"))
    dialog.start()
    assert not dialog.runner.busy and not (tmp_path / "missing").exists()
    assert "does not exist" in dialog.status.text()
    dialog.close()
