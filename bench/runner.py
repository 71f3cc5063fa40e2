"""Benchmark: ``ModelRunner`` classifying with EfficientNet-Lite0, next to a bare torch pipeline.

Run from a checkout (no installation needed)::

    python bench/runner.py [--device cpu|cuda|auto] [--repeat N] [--iterations N] [--image FILE]

What is measured (batch 1, embedded ImageNet weights, eval mode, warm: one untimed run first):

- **drop-to-top-5**: ``runner.classify_all("efficientnet_lite0", [path], top_k=5)``: read the
  file from disk, decode, preprocess (resize 256, centre crop 224, normalise), forward, softmax,
  top-5 with names. The peer does the same with no runner: ``PIL.Image.open(path).convert("RGB")``,
  torchvision's ``ImageClassification`` preset, ``model(x)`` under ``torch.inference_mode()``,
  ``softmax().topk(5)``. Target: at most 150 ms per image.
- **runner overhead**: ``runner.predict(model, x)`` (the runner's forward path: device move,
  inference mode, forward, softmax, top-k, labels) against a bare ``model(x)`` under
  ``torch.inference_mode()`` on the same preprocessed tensor already on the device.
  Target: at most 1.1×.
- **memory growth**: resident set size (``VmRSS`` from ``/proc/self/status``) after
  ``--iterations`` (500) classifications, minus before them (after warm-up and
  ``gc.collect()``). The peer pipeline is measured the same way afterwards. Target: < 50 MB.

Every time is the median of ``--repeat`` runs (``time.perf_counter``; on CUDA,
``torch.cuda.synchronize()`` before each clock read), the runner and its peer interleaved so
that drift (thermal, other processes) hits both alike.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import os
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import torch  # noqa: E402
import torchvision  # noqa: E402
from PIL import Image  # noqa: E402
from torchvision.transforms._presets import ImageClassification  # noqa: E402

from explorer.core.devices import describe_device  # noqa: E402
from explorer.core.errors import ExplorerError  # noqa: E402
from explorer.core.runner import ModelRunner  # noqa: E402

MODEL = "efficientnet_lite0"
DROP_TARGET_MS = 150.0
OVERHEAD_TARGET = 1.10
MEMORY_TARGET_MB = 50.0


def rss_mb() -> float:
    """Current resident set size; peak RSS where /proc is missing (macOS)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(call: Callable[[], object], device: torch.device) -> float:
    synchronize(device)
    start = time.perf_counter()
    call()
    synchronize(device)
    return (time.perf_counter() - start) * 1e3


def interleaved_medians(
    first: Callable[[], object], second: Callable[[], object], device: torch.device, repeat: int
) -> tuple[float, float]:
    first(), second()  # warm-up
    a, b = [], []
    for _ in range(repeat):
        gc.collect()
        a.append(timed(first, device))
        gc.collect()
        b.append(timed(second, device))
    return statistics.median(a), statistics.median(b)


def memory_growth(call: Callable[[], object], iterations: int) -> float:
    call()
    gc.collect()
    before = rss_mb()
    for _ in range(iterations):
        call()
    gc.collect()
    return rss_mb() - before


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} cores"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "cuda", "auto"), default="cpu")
    parser.add_argument("--repeat", type=int, default=30, help="timed runs per measurement (median)")
    parser.add_argument("--iterations", type=int, default=500, help="classifications for the memory check")
    parser.add_argument("--image", type=Path, default=None, help="default: the bundled cat")
    args = parser.parse_args(argv)
    if args.image is None:
        from explorer.core.samples import sample_image

        args.image = sample_image()

    try:
        runner = ModelRunner(args.device)
    except ExplorerError as error:
        print(f"bench/runner.py: {error}", file=sys.stderr)
        return 2
    device = runner.device
    model, loaded = runner.loaded(MODEL)
    preset = ImageClassification(crop_size=224, resize_size=256)  # the peer's preprocessing
    path = args.image

    def runner_drop() -> object:
        return runner.classify_all(MODEL, [path], top_k=5)

    def peer_drop() -> object:
        with Image.open(path) as image:
            x = preset(image.convert("RGB")).unsqueeze(0).to(device)
        with torch.inference_mode():
            return model(x).softmax(dim=1).topk(5)

    x = loaded.preprocessing.to_tensor(Image.open(path).convert("RGB")).unsqueeze(0).to(device)

    def runner_forward() -> object:
        return runner.predict(MODEL, x, top_k=5)

    def bare_forward() -> object:
        with torch.inference_mode():
            return model(x)

    drop_runner, drop_peer = interleaved_medians(runner_drop, peer_drop, device, args.repeat)
    forward_runner, forward_bare = interleaved_medians(runner_forward, bare_forward, device, args.repeat * 2)
    growth_runner = memory_growth(runner_drop, args.iterations)
    growth_peer = memory_growth(peer_drop, args.iterations)
    overhead = forward_runner / forward_bare
    top = runner_drop()[0].predictions[0]  # type: ignore[index]

    print("# ModelRunner benchmark")
    print()
    print(f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}")
    print(f"- machine: {machine()}")
    print(f"- python {platform.python_version()}, torch {torch.__version__}, torchvision {torchvision.__version__}")
    print(f"- device: {describe_device(device)}; torch threads: {torch.get_num_threads()}")
    print(f"- model: {MODEL} ({loaded.label}), image: {path.name} → top-1 {top.label} ({top.probability:.1%})")
    print(f"- medians of {args.repeat} runs (forward: {args.repeat * 2}); memory: {args.iterations} classifications")
    print()
    rows = [
        ("measure", "runner", "peer", "runner / peer", "target"),
        (
            "drop-to-top-5, warm",
            f"{drop_runner:.1f} ms",
            f"{drop_peer:.1f} ms",
            f"{drop_runner / drop_peer:.2f}×",
            f"≤ {DROP_TARGET_MS:.0f} ms",
        ),
        (
            "forward + top-5 vs bare `model(x)`",
            f"{forward_runner:.2f} ms",
            f"{forward_bare:.2f} ms",
            f"{overhead:.3f}×",
            f"≤ {OVERHEAD_TARGET:.2f}×",
        ),
        (
            f"RSS growth over {args.iterations}",
            f"{growth_runner:+.1f} MB",
            f"{growth_peer:+.1f} MB",
            "—",
            f"< {MEMORY_TARGET_MB:.0f} MB",
        ),
    ]
    print("| " + " | ".join(rows[0]) + " |")
    print("|---|---:|---:|---:|---|")
    for row in rows[1:]:
        print("| " + " | ".join(row) + " |")
    print()
    checks = [
        (f"drop-to-top-5 {drop_runner:.1f} ms ≤ {DROP_TARGET_MS:.0f} ms", drop_runner <= DROP_TARGET_MS),
        (f"runner overhead {overhead:.3f}× ≤ {OVERHEAD_TARGET:.2f}×", overhead <= OVERHEAD_TARGET),
        (f"memory growth {growth_runner:+.1f} MB < {MEMORY_TARGET_MB:.0f} MB", growth_runner < MEMORY_TARGET_MB),
    ]
    for text, passed in checks:
        print(f"{'PASS' if passed else 'MISS'}: {text}")
    if runner.notices:
        print()
        for notice in runner.notices:
            print(f"notice: {notice}")
    return 0 if all(passed for _, passed in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
