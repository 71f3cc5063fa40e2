"""The explain view and the effective field in a real main window (offscreen), with real weights."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
from PySide6.QtGui import QImage

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "resources" / "images"
CAT = IMAGES / "cat-chelsea.png"


def test_explain_a_classified_photo_then_change_class_and_method(window, qtbot, tmp_path: Path) -> None:
    classifier = window.classifier
    classifier.add_images([str(CAT)])
    assert window.wait_idle(120_000)
    button = classifier.explain_buttons[(0, 0)]
    assert button.isEnabled()
    button.click()
    assert window.tabs.currentWidget() is window.explain_page
    assert window.wait_idle(120_000)
    pane = window.explain_view.panes[0]
    first = pane.explanation
    assert first is not None and first.method == "gradcam" and first.layer == "_relu1"
    assert first.target.label == classifier.results[(0, 0)].predictions[0].label  # the top-1 it classified
    assert pane.class_box.count() == 5 and not pane.badge.isVisible()
    overlay = pane.heat_image().copy()
    assert overlay.shape == (224, 224) and 0 <= overlay.min() and overlay.max() == 1.0

    pane.class_box.setCurrentIndex(1)  # the user picks the second class
    pane.class_box.activated.emit(1)
    assert window.wait_idle(120_000)
    second = pane.explanation
    assert second.target.index == first.top[1].index and second.method == "gradcam"
    assert not np.array_equal(pane.heat_image(), overlay)
    assert f'"{second.target.label}"' in pane.title.text()

    pane.method_box.setCurrentIndex(pane.method_box.findData("saliency"))
    assert window.wait_idle(120_000)
    third = pane.explanation
    assert third.method == "saliency" and third.layer is None and third.target.index == second.target.index
    assert not pane.layer_box.isEnabled()
    assert not np.array_equal(pane.heat_image(), second.display_values())

    pane.opacity.setValue(30)
    assert abs(pane.heat_item.opacity() - 0.3) < 1e-6
    target = tmp_path / "saliency.png"
    assert pane.save_png(target)
    assert QImage(str(target)).size().toTuple() == (451, 300)  # the photo's own size


def test_two_models_side_by_side_and_a_bad_layer(window, qtbot) -> None:
    view = window.explain_view
    window.explain_photo(str(CAT), "efficientnet_lite0")
    assert window.wait_idle(120_000)
    other = view.add_pane("resnet18", "gradcam")
    assert window.wait_idle(120_000)
    assert other.explanation is not None and other.explanation.model == "resnet18"
    assert other.explanation.layer == "layer4.1.relu:2"
    assert other.badge.isVisible() and "random network" in other.badge.text()  # no torchvision weights offline
    from explorer.gui.widgets.untrained_badge import FELL_BACK

    assert other.weights_box.currentText().startswith(FELL_BACK)  # nor does its picker claim them
    assert not view.panes[0].weights_box.currentText().startswith(FELL_BACK)  # Lite0's embedded weights are in use
    assert view.panes[0].explanation.model == "efficientnet_lite0"
    shown = other.explanation
    other.set_layer("layer9")
    assert other.error and "layer9" in other.error and other.explanation is shown  # nothing stale, nothing lost
    other.set_layer("layer3.1.relu:2")
    assert window.wait_idle(120_000)
    assert other.explanation.layer == "layer3.1.relu:2" and other.explanation.layer_values.shape == (14, 14)


def test_clicking_a_position_shows_the_effective_field(window, qtbot) -> None:
    window.open_model("efficientnet_lite0")
    assert window.wait_idle()
    window.send_to_features(layer="_blocks.5._project_conv")
    assert window.wait_idle(120_000)
    pane = window.features.panes[0]
    pane.open_channel(3)
    box = pane.select_position(7, 7)
    assert window.wait_idle(120_000)
    overlay = pane.effective_field
    field_ = overlay.field
    assert field_ is not None and field_.position == (7, 7) and field_.channel == 3
    assert field_.theoretical_box == box  # the box the pane draws is the core's
    assert overlay.heat_item.isVisible() and not pane.overlay_image.isVisible()
    assert all(contour.isVisible() for contour in overlay.contours.values())
    half = field_.share(0.5)
    assert f"50% of the mass in {half.fraction:.2%} of the box" in pane.status.text()
    assert half.formula in pane.status.toolTip()  # "… 319 / 6,889 = 4.63% of the box"
    pane.open_channel(4)  # another channel: the field goes, the channel's overlay returns
    assert overlay.field is None and not overlay.heat_item.isVisible() and pane.overlay_image.isVisible()


def test_the_gui_lists_the_cores_methods_and_imports_no_torch() -> None:
    probe = (
        "import sys, explorer.gui.widgets.explain_view as v, explorer.gui.widgets.effective_field, explorer.gui.explain_jobs\n"
        "print([m for m in ('torch', 'captum') if m in sys.modules])\n"
        "from explorer.core.explain import METHODS\n"
        "print(v.METHOD_TITLES == tuple(METHODS.items()))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=120,
                            env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"})  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["[]", "True"]


def test_screenshot_of_the_explain_view(tmp_path: Path) -> None:
    target = tmp_path / "explain.png"
    result = subprocess.run(
        [sys.executable, "-m", "explorer", "gui", "--model", "efficientnet_lite0", "--view", "explain",
         "--method", "gradcam,saliency", "--image", str(IMAGES / "espresso-coffee.png"),
         "--screenshot", str(target), "--size", "1024x700"],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert QImage(str(target)).size().toTuple() == (1024, 700)
    bad = subprocess.run(
        [sys.executable, "-m", "explorer", "gui", "--model", "efficientnet_lite0", "--view", "explain",
         "--method", "gradcam,lime", "--screenshot", str(tmp_path / "bad.png")],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert bad.returncode == 2 and "lime" in bad.stderr and "Traceback" not in bad.stderr
