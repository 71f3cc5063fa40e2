"""GUI benchmark (not a test): how long from a model switch to the graph being painted, and how
long the GUI thread ever stalls while analyses run on workers.

- switch → painted: ``open_model`` until the analysis result is applied and the graph view's
  viewport has been repainted (a synchronous ``repaint()``), for ResNet-152 with its blocks
  collapsed (the default) and fully expanded;
- the peer: ``analyze`` of the same model in the same process, so the table shows how much the
  view adds on top of the core;
- stall: a 5 ms QTimer heartbeat runs while the window switches through several models; the
  longest gap between beats, minus the interval, is the longest time the GUI thread was busy.

Run: ``python bench/gui.py`` (offscreen unless a display is set).
"""

from __future__ import annotations

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

from PySide6.QtCore import QSettings, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

SWITCH_MODELS = ("resnet152", "googlenet", "vgg16", "efficientnet_b0", "resnet50", "alexnet_2gpu")


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
    settings = QSettings(str(Path(tempfile.mkdtemp()) / "bench.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings)
    window.resize(1600, 1000)
    window.show()
    assert window.wait_idle(120_000)

    # Warm up: the first analysis of a model builds and traces it; the app caches that.
    for name in ("resnet152", "alexnet"):
        _switch_and_paint(window, name, expand=False)

    collapsed, expanded, expand_only, analyse_only = [], [], [], []
    for _ in range(5):
        _switch_and_paint(window, "alexnet", expand=False)
        collapsed.append(_switch_and_paint(window, "resnet152", expand=False))
        expand_only.append(_expand_and_paint(window))
        _switch_and_paint(window, "alexnet", expand=False)
        expanded.append(_switch_and_paint(window, "resnet152", expand=True))
        start = time.perf_counter()
        analyze("resnet152")
        analyse_only.append((time.perf_counter() - start) * 1000)
    stall, beats = _heartbeat_stall(window, app)

    median = statistics.median
    print("# GUI benchmark\n")
    print(f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {platform.machine()}, {os.cpu_count()} CPUs; "
          f"Qt platform: {app.platformName()}")
    print(f"- median of 5; the peer is analyze('resnet152') warm in the same process: {median(analyse_only):.1f} ms\n")
    print("| measurement | ms | × analyze | target | |")
    print("|---|---:|---:|---:|---|")
    rows = [
        ("ResNet-152 switch → painted, collapsed", median(collapsed), 300),
        ("ResNet-152 switch → painted, fully expanded", median(expanded), 1000),
        ("ResNet-152 expand all → painted", median(expand_only), 1000),
    ]
    for label, value, target in rows:
        verdict = "PASS" if value <= target else "MISS"
        print(f"| {label} | {value:.1f} | {value / median(analyse_only):.1f} | ≤ {target} | {verdict} |")
    verdict = "PASS" if stall < 100 else "MISS"
    print(f"| longest GUI-thread stall during {2 * len(SWITCH_MODELS)} switches ({beats} beats) | {stall:.1f} | | < 100 | {verdict} |")
    window.close()
    window.deleteLater()
    app.processEvents()


if __name__ == "__main__":
    main()
