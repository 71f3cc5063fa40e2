"""The feature-map view and the weights view in a real main window (offscreen)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
from PySide6.QtGui import QImage

from explorer.core.features import receptive_box

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "resources" / "images"


def test_the_first_pane_fills_and_follows_the_graph_selection(window, qtbot) -> None:
    window.open_model("resnet18")
    assert window.wait_idle()
    window.select("layer1.0.conv1")
    window.send_to_features()
    assert window.wait_idle(120_000)
    assert window.tabs.currentWidget() is window.features_page
    pane = window.features.panes[0]
    assert pane.model() == "resnet18" and pane.capture is not None
    assert pane.capture.layer == "layer1.0.conv1"
    assert pane.activation.shape == window.summary.layer("layer1.0.conv1").output_shape
    assert pane.badge.isVisible() and "untrained" in pane.badge.text()  # no torchvision weights offline
    assert pane.grid.mosaic is not None and np.isfinite(pane.grid.mosaic).any()
    # A click in the graph (any view's selection) moves the pane to that node.
    window.select("layer2.0.downsample.0")
    assert window.wait_idle(120_000)
    assert pane.capture.layer == "layer2.0.downsample.0"
    assert pane.activation.shape == (128, 28, 28)
    # One pane unless asked; a second one keeps its own model.
    assert len(window.features.panes) == 1
    second = window.features.add_pane()
    assert window.wait_idle(120_000)
    assert second.model() not in ("", "resnet18") and second.capture is not None


def test_inception_module_shows_four_branches_and_the_cat(window, qtbot) -> None:
    window.open_model("googlenet")
    assert window.wait_idle()
    window.send_to_features(layer="inception3a")
    assert window.wait_idle(120_000)
    pane = window.features.panes[0]
    assert pane.capture.branch is not None and pane.capture.branch.kind == "inception"
    assert [grid.channels for grid in pane.branch_grids] == [64, 128, 32, 32, 256]
    assert pane.branch_summary.text() == "64 + 128 + 32 + 32 = 256 cat channels"


def test_residual_block_shows_input_branch_shortcut_sum_and_relu(window, qtbot) -> None:
    window.open_model("resnet50")
    assert window.wait_idle()
    window.send_to_features(layer="layer2.0")
    assert window.wait_idle(120_000)
    pane = window.features.panes[0]
    titles = [title for title, _node in pane.capture.branch.items]
    assert titles == ["block input", "residual branch", "shortcut (projection)", "sum", "after ReLU"]
    acts = pane.capture.activations
    items = dict(pane.capture.branch.items)
    total = acts[items["residual branch"]].values + acts[items["shortcut (projection)"]].values
    np.testing.assert_allclose(acts[items["sum"]].values, total, atol=1e-5)
    assert len(pane.branch_grids) == 5


def test_channel_detail_receptive_field_paging_and_save(window, qtbot, tmp_path: Path) -> None:
    window.open_model("vgg16")
    assert window.wait_idle()
    window.send_to_features(layer="features.28")  # conv5_3: 512 channels, 14×14
    assert window.wait_idle(120_000)
    pane = window.features.panes[0]
    assert pane.activation.shape == (512, 14, 14)
    assert pane.page_count() == 2 and len(pane.page_channels()) == 256
    pane.set_page(1)
    assert pane.page_channels()[0] == 256
    pane.set_sorted(True)
    means = [pane.activation.channels[c].mean for c in pane.order]
    assert means == sorted(means, reverse=True)
    pane.open_channel(pane.order[0])
    assert pane.detail.isVisible()
    box = pane.select_position(7, 7)
    stats = window.summary.layer("features.28")
    assert box == receptive_box(stats, 7, 7, pane.capture.input_hw)
    target = tmp_path / "grid.png"
    assert pane.save_png(target)
    assert not QImage(str(target)).isNull()


def test_weights_view_histogram_and_first_layer_filters(window, qtbot) -> None:
    window.open_model("efficientnet_lite0")
    assert window.wait_idle()
    window.select("_conv_stem")
    assert window.wait_idle(120_000)
    weights = window.weights_view.weights
    assert weights is not None and weights.pretrained and weights.weight.shape == (32, 3, 3, 3)
    assert weights.untrained is not None and weights.untrained.shape == weights.weight.shape
    assert window.weights_view.histogram.isVisible() and window.weights_view.filters.isVisible()
    window.select("_relu0")  # no weights
    assert window.wait_idle()
    assert window.weights_view.weights is None and "no weights" in window.weights_view.title.text()


def test_screenshot_of_an_inception_branch_view(tmp_path: Path) -> None:
    target = tmp_path / "features.png"
    result = subprocess.run(
        [sys.executable, "-m", "explorer", "gui", "--model", "googlenet", "--view", "features", "--select", "inception3a",
         "--image", str(IMAGES / "espresso-coffee.png"), "--screenshot", str(target), "--size", "1200x800"],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    image = QImage(str(target))
    assert (image.width(), image.height()) == (1200, 800)
    bad = subprocess.run(
        [sys.executable, "-m", "explorer", "gui", "--model", "googlenet", "--view", "features", "--select", "nope",
         "--screenshot", str(tmp_path / "bad.png")],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert bad.returncode == 2 and "nope" in bad.stderr and "Traceback" not in bad.stderr


def test_a_module_without_shortcut_shows_its_output(window, qtbot) -> None:
    """Issue 9: ``_blocks.3`` of EfficientNet-Lite0 has no shortcut; the pane shows the block's output."""
    window.open_model("efficientnet_lite0")
    assert window.wait_idle()
    window.send_to_features(layer="_blocks.3")
    assert window.wait_idle(120_000)
    pane = window.features.panes[0]
    assert pane.capture.branch is None and pane.capture.layer == "_blocks.3"
    assert pane.capture.shown == "_blocks.3._bn2" and pane.activation.layer == "_blocks.3._bn2"
    assert pane.activation.shape == (40, 28, 28)
    assert "its output, _blocks.3._bn2" in pane.title.text()
    assert not pane.status.text().startswith("efficientnet_lite0 has no")
