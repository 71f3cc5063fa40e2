"""GUI benchmark (not a test): how long from a model switch to the graph being painted, how long a
frame of zooming and panning takes, and how long the GUI thread ever stalls while analyses run.

- switch → painted: ``open_model`` until the analysis result is applied and the graph view's
  viewport has been repainted (a synchronous ``repaint()``): ResNet-152 as it opens (stem →
  stages → head), and the largest torchvision classification model by node count (found by
  analysing every one) fully expanded;
- zoom/pan frame: a QTimer steps the view through zooming out and back in while panning along
  fully expanded ResNet-152; each step applies the transform and repaints the viewport
  synchronously, and the step's time is one frame;
- the peer: ``analyze`` of the same model in the same process, so the table shows how much the
  view adds on top of the core;
- stall: a 5 ms QTimer heartbeat runs while the window switches through several models; the
  longest gap between beats, minus the interval, is the longest time the GUI thread was busy.

Run: ``python bench/gui.py`` (offscreen unless a display is set).
"""

from __future__ import annotations

import gc
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
if not os.environ.get("DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QEventLoop, QSettings, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

SWITCH_MODELS = ("resnet152", "googlenet", "vgg16", "efficientnet_b0", "resnet50", "alexnet_2gpu")
FRAMES = 160


def _switch_and_paint(window, name: str, *, expand: bool) -> float:  # noqa: ANN001
    start = time.perf_counter()
    window.open_model(name)
    assert window.wait_idle(120_000)
    if expand:
        window.graph_view.expand_all()
    window.graph_view.viewport().repaint()
    return (time.perf_counter() - start) * 1000


def _expand_and_paint(window) -> float:  # noqa: ANN001
    start = time.perf_counter()
    window.graph_view.expand_all()
    window.graph_view.viewport().repaint()
    return (time.perf_counter() - start) * 1000


def _largest_torchvision_model() -> tuple[str, int]:
    """The torchvision classification model with the most graph nodes (every one is analysed)."""
    from explorer.core import analysis
    from explorer.core.zoo.registry import list_specs

    sizes = {}
    for spec in list_specs():
        if spec.torchvision_name is None:
            continue
        try:
            sizes[spec.name] = len(analysis.analyze(spec.name).graph)
        except Exception as error:  # noqa: BLE001 - a model the tracer cannot handle is left out, and said so
            print(f"- {spec.name}: not analysed ({error})")
    name = max(sizes, key=sizes.__getitem__)
    # Leave the process as the app would be: only the models it opens are cached.
    analysis._cached_model.cache_clear()
    gc.collect()
    return name, sizes[name]


def _zoom_pan_frames(window, app: QApplication) -> list[float]:  # noqa: ANN001
    """Frame times (ms) of a QTimer-driven sweep: zoom out from 100 % to the whole graph and back,
    panning down the network meanwhile."""
    view = window.graph_view
    view.focus_on("input")
    view._stop_pulse()
    steps = FRAMES // 2
    out = (view._fit_scale() / view.zoom()) ** (1 / steps)  # per step, to the scale that fits it all
    bar = view.verticalScrollBar()
    times: list[float] = []
    loop = QEventLoop()

    def frame() -> None:
        start = time.perf_counter()
        i = len(times)
        factor = out if i < steps else 1 / out
        view.scale(factor, factor)
        view._scene.zoom_changed(view.zoom())
        bar.setValue(bar.value() + max(1, (bar.maximum() - bar.minimum()) // FRAMES))
        view.viewport().repaint()
        times.append((time.perf_counter() - start) * 1000)
        if len(times) >= FRAMES:
            timer.stop()
            loop.quit()

    timer = QTimer()
    timer.setInterval(0)
    timer.timeout.connect(frame)
    timer.start()
    loop.exec()
    return times


def _heartbeat_stall(window, app: QApplication, rounds: int = 2) -> tuple[float, int]:  # noqa: ANN001
    interval_ms = 5
    beats: list[float] = []
    timer = QTimer()
    timer.setInterval(interval_ms)
    timer.timeout.connect(lambda: beats.append(time.perf_counter()))
    timer.start()
    for _ in range(rounds):
        for name in SWITCH_MODELS:
            window.open_model(name)
            # Let the event loop run (and the heartbeat beat) until the analysis is shown.
            deadline = time.perf_counter() + 120
            while window.analysis.busy and time.perf_counter() < deadline:
                app.processEvents()
                time.sleep(0.001)
            app.processEvents()
    timer.stop()
    gaps = [(b - a) * 1000 for a, b in zip(beats, beats[1:])]
    return max(gaps) - interval_ms, len(beats)


def main() -> None:
    from explorer.core.analysis import analyze
    from explorer.gui.app import _application
    from explorer.gui.main_window import MainWindow

    app = _application()
    largest, largest_nodes = _largest_torchvision_model()
    settings = QSettings(str(Path(tempfile.mkdtemp()) / "bench.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings)
    window.resize(1600, 1000)
    window.show()
    assert window.wait_idle(120_000)

    # Warm up: the first analysis of a model builds and traces it; the app caches that.
    for name in ("resnet152", "alexnet", largest):
        _switch_and_paint(window, name, expand=False)

    staged, expanded, expand_only, analyse_152, analyse_largest = [], [], [], [], []
    for _ in range(5):
        _switch_and_paint(window, "alexnet", expand=False)
        staged.append(_switch_and_paint(window, "resnet152", expand=False))
        _switch_and_paint(window, "alexnet", expand=False)
        expanded.append(_switch_and_paint(window, largest, expand=True))
        window.graph_view.collapse_to_default()
        expand_only.append(_expand_and_paint(window))
        for name, into in (("resnet152", analyse_152), (largest, analyse_largest)):
            start = time.perf_counter()
            analyze(name)
            into.append((time.perf_counter() - start) * 1000)
    _switch_and_paint(window, "resnet152", expand=True)
    frames = _zoom_pan_frames(window, app)
    stall, beats = _heartbeat_stall(window, app)

    median = statistics.median
    print("# GUI benchmark\n")
    print(
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {platform.machine()}, {os.cpu_count()} CPUs; "
        f"Qt platform: {app.platformName()}; window 1600×1000"
    )
    print(f"- largest torchvision classification model by node count: {largest} ({largest_nodes} nodes)")
    print(
        f"- median of 5; the peers are analyze() warm in the same process: resnet152 "
        f"{median(analyse_152):.1f} ms, {largest} {median(analyse_largest):.1f} ms\n"
    )
    print("| measurement | ms | × analyze | target | |")
    print("|---|---:|---:|---:|---|")
    rows = [
        ("ResNet-152 switch → painted, at stage level (as it opens)", median(staged), median(analyse_152), 300),
        (f"{largest} switch → painted, fully expanded", median(expanded), median(analyse_largest), 1000),
        (f"{largest} expand all → painted", median(expand_only), median(analyse_largest), 1000),
    ]
    for label, value, peer, target in rows:
        verdict = "PASS" if value <= target else "MISS"
        print(f"| {label} | {value:.1f} | {value / peer:.1f} | ≤ {target} | {verdict} |")
    frame, p95 = median(frames), sorted(frames)[int(0.95 * len(frames))]
    verdict = "PASS" if frame <= 16 else "MISS"
    print(
        f"| zoom/pan frame, ResNet-152 fully expanded ({len(frames)} frames; 95th percentile {p95:.1f}) | "
        f"{frame:.1f} | | ≤ 16 | {verdict} |"
    )
    verdict = "PASS" if stall < 100 else "MISS"
    print(
        f"| longest GUI-thread stall during {2 * len(SWITCH_MODELS)} switches ({beats} beats) | {stall:.1f} | | < 100 | {verdict} |"
    )
    window.close()
    window.deleteLater()
    app.processEvents()


if __name__ == "__main__":
    main()
