"""The classifier view: drop, paste, compare, bad files inline — real weights, real photos."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent, QImage
from PySide6.QtWidgets import QApplication

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "resources" / "images"
CATS = {"tabby", "tiger cat", "Egyptian cat"}
pytestmark = pytest.mark.qt_log_ignore(r"This plugin does not support (propagateSizeHints|raise)\(\)")


def drop(window, paths: list[Path]) -> None:
    """A real QDropEvent with file URLs (simulated mouse drags block in QDrag.exec)."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    event = QDropEvent(QPointF(200, 200), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)


def top1(view, row: int, column: int = 0) -> str:
    return view.results[(row, column)].predictions[0].label


def test_dropped_photos_are_classified_with_the_embedded_weights(window, qtbot) -> None:
    view = window.classifier
    assert view.models() == ["efficientnet_lite0"]
    assert view.weight_keys()[0] == "embedded"
    drop(window, [IMAGES / "cat-chelsea.png", IMAGES / "espresso-coffee.png"])
    assert window.tabs.currentWidget() is view
    assert window.wait_idle(120_000)
    assert top1(view, 0) in CATS
    assert top1(view, 1) in {"espresso", "cup", "coffee mug"}
    result = view.results[(0, 0)]
    assert len(result.predictions) == 5 and "embedded" in result.weights.lower() or "ImageNet" in result.weights
    assert view.crop_labels[0].pixmap().width() == 224  # the crop the network sees
    assert view.bars[(0, 0)].predictions[0][0] == top1(view, 0)


def test_a_narrow_window_shrinks_the_pictures_so_a_row_needs_no_sideways_scrolling(window, qtbot) -> None:
    from explorer.gui.widgets.classifier import CROP_SIDE, MIN_IMAGE_SCALE

    view = window.classifier
    window.resize(1024, 700)
    drop(window, [IMAGES / "cat-chelsea.png"])
    assert window.wait_idle(120_000)
    qtbot.waitUntil(lambda: view.crop_labels[0].pixmap() is not None and not view.crop_labels[0].pixmap().isNull())
    QApplication.processEvents()
    crop = view.crop_labels[0].pixmap().width()
    assert round(MIN_IMAGE_SCALE * CROP_SIDE) <= crop < CROP_SIDE  # shrunk, not hidden
    qtbot.waitUntil(lambda: view.scroll.horizontalScrollBar().maximum() == 0)  # the bars are whole
    window.resize(1600, 1000)
    qtbot.waitUntil(lambda: view.crop_labels[0].pixmap().width() == CROP_SIDE)  # full size again when there is room


def test_a_folder_and_a_bad_file_in_one_drop(window, qtbot, tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "rocket.jpg").write_bytes((IMAGES / "rocket-falcon9.jpg").read_bytes())
    bad = tmp_path / "not-an-image.png"
    bad.write_text("hello")
    drop(window, [folder, bad])
    assert window.wait_idle(120_000)
    view = window.classifier
    assert top1(view, 0) in {"missile", "projectile", "space shuttle"}
    assert list(view.error_labels) == [1]
    assert "not-an-image.png" in view.error_labels[1].text() or "image" in view.error_labels[1].text().lower()
    assert (1, 0) not in view.results  # the bad file is reported inline, not classified


def test_paste_an_image(window, qtbot) -> None:
    QApplication.clipboard().setImage(QImage(str(IMAGES / "cat-chelsea.png")))
    window.setFocus()
    window.paste_image()
    assert window.wait_idle(120_000)
    assert top1(window.classifier, 0) in CATS


def test_compare_two_models_on_the_same_images(window, qtbot) -> None:
    view = window.classifier
    view.add_images([str(IMAGES / "cat-chelsea.png")])
    column = view.add_model_column("resnet18")
    assert window.wait_idle(120_000)
    assert len(view.columns) == 2
    # Offline, torchvision's weights are not cached: the model is usable, labelled untrained.
    labels = [column.weights.itemText(i) for i in range(column.weights.count())]
    assert any("untrained" in label for label in labels)
    second = view.results[(0, 1)]
    assert second.model == "resnet18"
    assert "untrained" in second.weights or view.notices
    assert top1(view, 0, 0) in CATS
    view.remove_model_column(column)
    assert window.wait_idle(120_000)
    assert len(view.columns) == 1


def test_untrained_weights_are_said_in_red_with_the_reason_in_plain_words(window, qtbot) -> None:
    from explorer.gui.widgets.untrained_badge import FELL_BACK

    window.show_view("classify")
    view = window.classifier
    view.add_images([str(IMAGES / "cat-chelsea.png")])
    column = view.add_model_column("resnet18")  # offline, and its torchvision weights are not cached
    assert column.weights.currentData() != "untrained"  # asked for ImageNet weights
    assert window.wait_idle(120_000)
    reason = "ImageNet weights not downloaded — no network"
    assert column.untrained == reason
    assert column.badge.isVisibleTo(window) and column.badge.text() == "untrained weights"
    assert reason in column.badge.toolTip()
    assert view.header_badges[1].isVisibleTo(window) and not view.header_badges[0].isVisibleTo(window)
    assert view.bars[(0, 1)].untrained == reason and view.bars[(0, 0)].untrained is None
    assert column.weights.currentText().startswith(FELL_BACK)  # the picker does not claim the ImageNet weights
    assert not view.columns[0].badge.isVisibleTo(window)  # Lite0's embedded weights are trained
    assert f"resnet18: untrained weights ({reason})." in view.status.text()
    assert "Errno" not in view.status.text() and "--" not in view.status.text()
    view.remove_model_column(column)
    assert window.wait_idle(120_000)
    assert "untrained" not in view.status.text() and view.notices == {}


def test_screenshot_of_the_classifier(tmp_path: Path) -> None:
    target = tmp_path / "classify.png"
    result = subprocess.run(
        [sys.executable, "-m", "explorer", "gui", "--view", "classify", "--image",
         str(IMAGES / "cat-chelsea.png"), str(IMAGES / "espresso-coffee.png"), "--screenshot", str(target), "--size", "1200x800"],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    image = QImage(str(target))
    assert image.width() == 1200
    assert len({image.pixel(x, y) for x in range(0, 1200, 9) for y in range(0, 800, 9)}) > 50
