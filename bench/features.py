"""Benchmark: feature capture against a plain forward, and painting a 512-channel grid.

Run from a checkout (no installation needed)::

    python bench/features.py [--device cpu|cuda|auto] [--repeat N]

What is measured (batch 1, warm: one untimed run of each first, then interleaved medians as in
``bench/runner.py``):

- **capture overhead**: ``FeatureExtractor`` capturing five nodes spread over ResNet-50
  (``conv1``, ``layer1.0.add``, ``layer2.0.add``, ``layer3.0.add`` and the last node,
  ``layer4.2.relu:3``; so the whole network runs), each cloned where it is computed, moved to
  the CPU and summarised per channel (min, max, mean, zero fraction), against a plain
  ``model(x)`` under ``torch.inference_mode()`` on the same preprocessed tensor. The cache is
  bypassed (every timed capture runs the network). Target: at most 1.2×.
- **512-channel grid**: VGG-16's ``features.28`` (512 × 14 × 14) on the cat photo, all 512
  channels tiled (``tile_channels``), normalised per channel, set on the pyqtgraph image item
  and painted (``grab()`` of the widget, offscreen Qt), against the peer that paints an
  already-made mosaic of the same size. Target: at most 200 ms.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
for folder in (REPO_ROOT, REPO_ROOT / "bench"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import torch  # noqa: E402
from runner import interleaved_medians, machine  # noqa: E402  (bench/runner.py's timing helpers)

from explorer.core.devices import describe_device  # noqa: E402
from explorer.core.features import FeatureExtractor  # noqa: E402
from explorer.core.runner import ModelRunner  # noqa: E402
from explorer.core.samples import sample_image  # noqa: E402

CAT = sample_image()
CAPTURE_MODEL = "resnet50"
CAPTURE_LAYERS = ["conv1", "layer1.0.add", "layer2.0.add", "layer3.0.add", "layer4.2.relu:3"]
OVERHEAD_TARGET = 1.2
GRID_TARGET_MS = 200.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args(argv)

    runner = ModelRunner(args.device)
    device = runner.device
    extractor = FeatureExtractor(runner)
    net = runner.on_device(CAPTURE_MODEL, "untrained")
    _crop, tensor = runner.preprocess(CAPTURE_MODEL, str(CAT), "untrained")
    batch = tensor.unsqueeze(0).to(device)

    def capture() -> object:
        return extractor._forward(CAPTURE_MODEL, "untrained", tensor, CAPTURE_LAYERS)  # no cache

    def plain() -> object:
        with torch.inference_mode():
            return net(batch)

    capture_ms, plain_ms = interleaved_medians(capture, plain, device, args.repeat)

    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    from explorer.core.features import tile_channels
    from explorer.gui.widgets.feature_maps import ChannelGrid

    activation = extractor.capture_all("vgg16", CAT, ["features.28"], weights="untrained")["features.28"]
    grid, peer = ChannelGrid(), ChannelGrid()
    for widget in (grid, peer):
        widget.resize(900, 900)
        widget.show()
    channels = list(range(activation.shape[0]))
    ready = tile_channels(activation.normalised("channel"), channels)

    def paint_grid() -> object:
        grid.show_channels(activation.normalised("channel"), channels)
        app.processEvents()
        return grid.grab()

    def paint_peer() -> object:
        peer.image_item.setImage(ready, levels=(0.0, 1.0), autoLevels=False)
        app.processEvents()
        return peer.grab()

    grid_ms, peer_ms = interleaved_medians(paint_grid, paint_peer, torch.device("cpu"), args.repeat)

    ratio = capture_ms / plain_ms
    print("# Feature-map benchmark")
    print()
    print(f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}")
    print(f"- machine: {machine()}")
    print(f"- python {platform.python_version()}, torch {torch.__version__}; device: {describe_device(device)}; torch threads: {torch.get_num_threads()}")
    print(f"- medians of {args.repeat} interleaved runs after one warm-up; untrained weights (same arithmetic as pretrained)")
    print()
    print("| measure | ours ms | peer ms | ratio | target |")
    print("|---|---:|---:|---:|---|")
    print(f"| capture 5 nodes of {CAPTURE_MODEL} vs plain forward | {capture_ms:.1f} | {plain_ms:.1f} | {ratio:.3f}× | ≤ {OVERHEAD_TARGET}× |")
    print(f"| 512-channel grid (vgg16 features.28) painted vs a ready mosaic | {grid_ms:.1f} | {peer_ms:.1f} | {grid_ms / peer_ms:.2f}× | ≤ {GRID_TARGET_MS:.0f} ms |")
    print()
    checks = [
        (ratio <= OVERHEAD_TARGET, f"capture overhead {ratio:.3f}× (target ≤ {OVERHEAD_TARGET}×)"),
        (grid_ms <= GRID_TARGET_MS, f"512-channel grid {grid_ms:.1f} ms (target ≤ {GRID_TARGET_MS:.0f} ms)"),
    ]
    for passed, text in checks:
        print(f"{'PASS' if passed else 'MISS'}: {text}")
    grid.close()
    peer.close()
    return 0 if all(passed for passed, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
