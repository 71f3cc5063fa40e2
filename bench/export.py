"""Benchmark: exporting every curated zoo model to ONNX, and onnxruntime against PyTorch on the CPU.

Run from a checkout (no installation needed)::

    python bench/export.py [--models a,b] [--repeat N] [--budget S] [--threads N] [--json FILE]

What is measured, per curated zoo model (``zoo_specs()``, catalogue order), each in turn:

- **weights**: the model is built with ``default_weights(name)``, the best weights available
  offline (the embedded ImageNet weights for EfficientNet-Lite0; here, with no torchvision cache,
  random init for the others), after ``torch.manual_seed(0)`` so untrained runs repeat.
  ``load s`` is that build; it is not part of the export time.
- **export**: ``export_one(name, folder, ExportOptions(opset=18, dynamic_batch=False,
  verify=True), model=…)`` into a temporary folder: the dynamo ``torch.onnx.export`` at static
  batch 1, ``program.save``, ``onnx.checker`` (full check), then the parity check in onnxruntime.
  ``export s`` is ``ExportResult.seconds`` (all of that), ``MB`` the file size (10^6 bytes, with a
  ``.data`` file if any), ``nodes`` the top-level graph's node count.
- **parity**: the largest differences over the export's own checks (random input at batch 1,
  and the bundled cat photo where the input takes one): ``max abs`` is max |onnx − torch|,
  ``max rel`` that divided by max |torch|, so it does not depend on the scale of the logits.
- **inference**: batch 1 on the model's default input (one seeded ``torch.randn``, the same
  array for both): ``model(x)`` under ``torch.inference_mode()`` against
  ``InferenceSession(file, providers=["CPUExecutionProvider"]).run`` with default session
  options (graph optimisations on). One untimed warm-up of each, then the two interleaved, so
  that drift hits both alike, ``gc.collect()`` before every timed call; each time is the median
  (``time.perf_counter``). The runs are ``--repeat`` (10), fewer where a warm-up pair took so
  long that they would pass ``--budget`` seconds (30) per model, but at least 3. ``ORT/torch``
  below 1 means onnxruntime is faster.

Each exported file is deleted once measured, and the model, session and proto are released
(``gc.collect()``) before the next model, so disk and memory stay bounded by one model. A model
that fails (export, checker, parity or timing) gets a row with the error and the rest go on.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import logging
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from explorer.core.onnx_export import ExportOptions, export_one, run_to_end  # noqa: E402
from explorer.core.weights import default_weights, load_weights  # noqa: E402
from explorer.core.zoo.registry import zoo_specs  # noqa: E402

OPSET = 18
DEFAULT_REPEAT = 10
DEFAULT_BUDGET_S = 30.0
MIN_REPEAT = 3
INPUT_SEED = 0


@dataclass
class ModelResult:
    model: str
    input_shape: tuple[int, ...] = ()
    weights: str = ""
    load_s: float | None = None
    export_s: float | None = None
    bytes: int | None = None
    nodes: int | None = None
    max_abs_diff: float | None = None
    max_rel_diff: float | None = None
    parity: list[dict[str, Any]] = field(default_factory=list)
    op_types: dict[str, int] = field(default_factory=dict)
    torch_ms: float | None = None
    ort_ms: float | None = None
    runs: int | None = None
    torch_runs_ms: list[float] = field(default_factory=list)
    ort_runs_ms: list[float] = field(default_factory=list)
    timing_input_max_abs_diff: float | None = None  # ORT vs torch on the timing input (a sanity check)
    rss_mb_after: float | None = None
    error: str | None = None

    @property
    def ratio(self) -> float | None:
        if self.torch_ms is None or self.ort_ms is None or self.torch_ms == 0:
            return None
        return self.ort_ms / self.torch_ms

    @property
    def exported(self) -> bool:
        return self.export_s is not None


# --- measuring ---------------------------------------------------------------------------------


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


def timed_ms(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return (time.perf_counter() - start) * 1e3


def interleaved_runs(
    first: Callable[[], object], second: Callable[[], object], repeat: int, budget_s: float
) -> tuple[list[float], list[float]]:
    """One untimed warm-up of each, then up to ``repeat`` interleaved timed pairs (milliseconds)."""
    warm = timed_ms(first) + timed_ms(second)
    affordable = int(budget_s * 1e3 / warm) if warm > 0 else repeat
    runs = max(min(repeat, MIN_REPEAT), min(repeat, affordable))
    a: list[float] = []
    b: list[float] = []
    for _ in range(runs):
        gc.collect()
        a.append(timed_ms(first))
        gc.collect()
        b.append(timed_ms(second))
    return a, b


def _error_text(error: BaseException) -> str:
    text = " ".join(str(error).split())
    text = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def _remove_files(folder: Path) -> None:
    for path in folder.iterdir():
        if path.is_file():
            path.unlink(missing_ok=True)


def bench_model(name: str, folder: Path, repeat: int, budget_s: float, threads: int | None) -> ModelResult:
    import onnxruntime

    result = ModelResult(model=name)
    model = session = export = None
    try:
        torch.manual_seed(0)
        started = time.perf_counter()
        model, loaded = run_to_end(load_weights(name, default_weights(name)))
        model = model.eval()
        result.load_s = time.perf_counter() - started
        result.weights = loaded.label

        options = ExportOptions(opset=OPSET, dynamic_batch=False, verify=True)
        export = run_to_end(export_one(name, folder, options, model=model, weights_label=loaded.label))
        result.input_shape = tuple(export.input_shape)
        result.export_s = export.seconds
        result.bytes = export.bytes
        result.nodes = export.nodes
        result.max_abs_diff = export.max_abs_diff
        result.max_rel_diff = export.max_rel_diff
        result.parity = [asdict(p) for p in export.parity]
        result.op_types = dict(export.op_types)

        session_options = onnxruntime.SessionOptions()
        if threads is not None:
            session_options.intra_op_num_threads = threads
        session = onnxruntime.InferenceSession(
            str(export.path), sess_options=session_options, providers=["CPUExecutionProvider"]
        )
        input_name = session.get_inputs()[0].name
        x = torch.randn((1, *export.input_shape), generator=torch.Generator().manual_seed(INPUT_SEED))
        x_numpy = x.numpy()
        feed = {input_name: x_numpy}

        def torch_forward() -> Any:
            with torch.inference_mode():
                return model(x)

        def ort_forward() -> Any:
            return session.run(None, feed)

        expected = torch_forward()
        expected = (expected[0] if isinstance(expected, (tuple, list)) else expected).numpy()
        got = ort_forward()[0]
        result.timing_input_max_abs_diff = float(np.abs(got - expected).max())
        del expected, got

        result.torch_runs_ms, result.ort_runs_ms = interleaved_runs(torch_forward, ort_forward, repeat, budget_s)
        result.runs = len(result.torch_runs_ms)
        result.torch_ms = statistics.median(result.torch_runs_ms)
        result.ort_ms = statistics.median(result.ort_runs_ms)
    except Exception as error:  # noqa: BLE001 - a failing model gets a row, the rest go on
        result.error = _error_text(error)
    finally:
        del model, session, export
        _remove_files(folder)
        gc.collect()
        result.rss_mb_after = rss_mb()
    return result


# --- report ------------------------------------------------------------------------------------


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


def environment(threads: int | None) -> dict[str, Any]:
    import onnx
    import onnxruntime
    import onnxscript
    import torchvision

    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "onnx": onnx.__version__,
        "onnxscript": onnxscript.__version__,
        "onnxruntime": onnxruntime.__version__,
        "torch_threads": torch.get_num_threads(),
        "ort_intra_op_threads": threads if threads is not None else "default",
    }


def _fmt_shape(shape: Sequence[int]) -> str:
    return "×".join(str(d) for d in shape) if shape else "—"


def _num(value: float | int | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def _sci(value: float | None) -> str:
    return "—" if value is None else f"{value:.2e}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def print_report(env: dict[str, Any], results: Sequence[ModelResult], args: argparse.Namespace, wall_s: float) -> None:
    print("# ONNX export benchmark")
    print()
    print(f"- date: {env['date']}")
    print(f"- machine: {env['machine']}")
    print(
        f"- python {env['python']}, torch {env['torch']}, torchvision {env['torchvision']}, onnx {env['onnx']}, "
        f"onnxscript {env['onnxscript']}, onnxruntime {env['onnxruntime']}"
    )
    print(f"- torch threads: {env['torch_threads']}; onnxruntime intra-op threads: {env['ort_intra_op_threads']}")
    print(
        f"- opset {OPSET}, static batch 1, verify on, default weights; inference: median of up to {args.repeat} "
        f"interleaved runs after 1 warm-up (at least {MIN_REPEAT}, capped at ~{args.budget:g} s per model)"
    )
    print()
    print(
        "| model | input | weights | load s | export s | MB | nodes | max abs diff | max rel diff "
        "| torch ms | ORT ms | ORT/torch | runs | error |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in results:
        megabytes = None if r.bytes is None else r.bytes / 1e6
        print(
            f"| {r.model} | {_fmt_shape(r.input_shape)} | {r.weights or '—'} | {_num(r.load_s, '.2f')} | "
            f"{_num(r.export_s, '.1f')} | {_num(megabytes, '.1f')} | {_num(r.nodes, 'd')} | "
            f"{_sci(r.max_abs_diff)} | {_sci(r.max_rel_diff)} | {_num(r.torch_ms, '.1f')} | "
            f"{_num(r.ort_ms, '.1f')} | {_num(r.ratio, '.2f')} | {_num(r.runs, 'd')} | {_cell(r.error or '')} |"
        )
    print()
    exported = [r for r in results if r.exported]
    failed = [r for r in results if r.error is not None]
    export_total = sum(r.export_s or 0.0 for r in results)
    print(
        f"Totals: {len(exported)}/{len(results)} exported, {len(failed)} failed; "
        f"export time {export_total:.1f} s; whole run {wall_s:.1f} s."
    )
    rel = [r for r in results if r.max_rel_diff is not None]
    if rel:
        worst = max(rel, key=lambda r: r.max_rel_diff or 0.0)
        print(
            f"Worst max rel diff: {worst.max_rel_diff:.2e} ({worst.model}; max abs diff {_sci(worst.max_abs_diff)})."
        )
    else:
        print("Worst max rel diff: — (no parity check completed).")
    for r in failed:
        print(f"FAILED {r.model}: {r.error}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--models", default=None, metavar="A,B", help="comma-separated zoo names (default: all)")
    parser.add_argument(
        "--repeat", type=int, default=DEFAULT_REPEAT, help=f"timed inference runs per framework (default {DEFAULT_REPEAT})"
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=DEFAULT_BUDGET_S,
        metavar="S",
        help=f"cap on timed inference seconds per model; fewer runs (≥ {MIN_REPEAT}) above it (default {DEFAULT_BUDGET_S:g})",
    )
    parser.add_argument(
        "--threads", type=int, default=None, metavar="N", help="torch and onnxruntime intra-op threads (default: theirs)"
    )
    parser.add_argument("--json", type=Path, default=None, metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.budget <= 0:
        parser.error("--budget must be positive")
    if args.threads is not None:
        if args.threads < 1:
            parser.error("--threads must be at least 1")
        torch.set_num_threads(args.threads)

    known = [spec.name for spec in zoo_specs()]
    if args.models:
        names = [n.strip() for n in args.models.split(",") if n.strip()]
        unknown = [n for n in names if n not in known]
        if unknown:
            parser.error(f"not in the curated zoo: {', '.join(unknown)} (known: {', '.join(known)})")
    else:
        names = known

    # The dynamo exporter and onnxscript print warnings and log lines that are not results.
    warnings.filterwarnings("ignore")
    for logger in ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript", "onnx_ir"):
        logging.getLogger(logger).setLevel(logging.ERROR)

    env = environment(args.threads)
    results: list[ModelResult] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="cnn-explorer-bench-export-") as folder:
        for index, name in enumerate(names, 1):
            result = bench_model(name, Path(folder), args.repeat, args.budget, args.threads)
            results.append(result)
            status = f"error: {result.error}" if result.error else f"export {result.export_s:.1f} s"
            print(
                f"  [{index}/{len(names)}] {name}: {status}; RSS {result.rss_mb_after:.0f} MB",
                file=sys.stderr,
                flush=True,
            )
    wall_s = time.perf_counter() - started
    print_report(env, results, args, wall_s)

    if args.json is not None:
        payload = {
            "environment": env,
            "opset": OPSET,
            "repeat": args.repeat,
            "budget_s": args.budget,
            "wall_s": wall_s,
            "results": [{**asdict(r), "ort_over_torch": r.ratio} for r in results],
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return 1 if any(r.error for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
