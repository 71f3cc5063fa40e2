"""Start-up benchmark (not a test): how long a person waits for the window, for the first graph,
and for the process to end once the window has closed.

Each run starts ``python -m explorer gui`` (offscreen, a fresh settings folder, the default model)
with ``CNN_EXPLORER_STARTUP_TRACE=close`` (``explorer/gui/startup.py``): the app prints the
``time.monotonic()`` of each step on stderr and closes its window once the first graph is
painted, as a user would. Measured, each the median of ``--runs`` (5) runs:

- process start → main window shown (its first frame painted);
- process start → first graph painted (torch, torchvision's models, the catalogue and the first
  analysis loaded on workers, the graph laid out and painted);
- window closed → process exited.

The peer, interleaved with the app's runs in the same benchmark: a process that only does
``import torch, PySide6.QtWidgets`` (start → the line after those imports). Targets (issue 13):
window shown ≤ 1.0 s; first graph ≤ that import time + 1.5 s; exit ≤ 1.0 s.

Run: ``python bench/startup.py [--runs N]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from explorer.gui.startup import TRACE_ENV, TRACE_PREFIX  # noqa: E402  (Qt only, no torch: cheap)

PEER = "import torch, PySide6.QtWidgets, time; print(time.monotonic(), flush=True)"
#: A second peer, for context: the app's first analysis needs torchvision's models too, and a plain
#: import of them imports torch._dynamo (torchvision.ops.roi_align does, at module level), which
#: the app avoids (explorer/core/lazy_dynamo.py): so the app can paint its first graph before
#: this peer has finished importing.
PEER_WITH_TORCHVISION = "import torch, torchvision.models, PySide6.QtWidgets, time; print(time.monotonic(), flush=True)"
EVENTS = ("window-shown", "catalogue", "first-graph", "window-closed")


def _environment(config: Path) -> dict[str, str]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(config), TRACE_ENV: "close"}
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    return env


def _peer_import_s(env: dict[str, str], code: str = PEER) -> float:
    start = time.monotonic()
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True, timeout=300)
    return float(result.stdout.split()[-1]) - start


def _app_run(env: dict[str, str]) -> dict[str, float]:
    """Seconds from process start to each event, and ``exit``: window closed → process exited."""
    start = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "explorer", "gui"], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env, cwd=ROOT
    )
    stamps: dict[str, float] = {}
    assert process.stderr is not None
    for line in process.stderr:  # read as it comes: the exit is timed from the process's own close
        if line.startswith(TRACE_PREFIX):
            event, stamp = line[len(TRACE_PREFIX) :].split()
            stamps[event] = float(stamp)
    code = process.wait(timeout=300)
    ended = time.monotonic()
    missing = [event for event in EVENTS if event not in stamps]
    if code != 0 or missing:
        raise SystemExit(f"the app exited {code} without {missing}")
    times = {event: stamps[event] - start for event in EVENTS}
    times["exit"] = ended - stamps["window-closed"]
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cnn-explorer-bench-") as folder:
        env = _environment(Path(folder))
        _peer_import_s(env)  # warm-up: the files are read from the page cache from here on
        _app_run(env)
        peers: list[float] = []
        peers_torchvision: list[float] = []
        runs: list[dict[str, float]] = []
        for _ in range(args.runs):  # interleaved: the machine's load falls on all alike
            peers.append(_peer_import_s(env))
            peers_torchvision.append(_peer_import_s(env, PEER_WITH_TORCHVISION))
            runs.append(_app_run(env))
    peer = statistics.median(peers)
    peer_torchvision = statistics.median(peers_torchvision)
    median = {key: statistics.median(run[key] for run in runs) for key in (*EVENTS, "exit")}
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"# startup: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"offscreen, median of {args.runs}, load average {load:.1f} at the end"
    )
    print(f"peer `import torch, PySide6.QtWidgets`: {peer:.2f} s  (runs: {', '.join(f'{p:.2f}' for p in peers)})")
    print(
        f"peer `import torch, torchvision.models, PySide6.QtWidgets`: {peer_torchvision:.2f} s  "
        f"(runs: {', '.join(f'{p:.2f}' for p in peers_torchvision)})"
    )
    print("| measurement | s | runs | target | met |")
    print("|---|---:|---|---:|---|")
    rows = (
        ("process start → window shown", "window-shown", 1.0),
        ("process start → catalogue filled", "catalogue", None),
        ("process start → first graph painted", "first-graph", peer + 1.5),
        ("window closed → process exited", "exit", 1.0),
    )
    for label, key, target in rows:
        values = ", ".join(f"{run[key]:.2f}" for run in runs)
        goal = f"≤ {target:.2f}" if target is not None else ""
        met = ("yes" if median[key] <= target else "no") if target is not None else ""
        print(f"| {label} | {median[key]:.2f} | {values} | {goal} | {met} |")
    print(f"first graph − import time: {median['first-graph'] - peer:+.2f} s (target ≤ +1.50)")
    print(f"first graph − import time with torchvision.models: {median['first-graph'] - peer_torchvision:+.2f} s")


if __name__ == "__main__":
    main()
