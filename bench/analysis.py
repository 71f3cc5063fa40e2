"""Benchmark: how long ``explorer.core.analysis.analyze`` takes, next to torchinfo and fvcore.

Run from a checkout (no installation needed)::

    python bench/analysis.py [--repeat N] [--json FILE]

What is measured, per model and input shape (C×H×W, batch 1, eval mode):

- **analyze (cold)**: ``analyze(model, shape)`` on a torchvision model instance built on the
  CPU. Nothing is cached for an instance: this is the whole path (``torch.fx`` trace, shape
  propagation on the meta device, per-layer statistics and formulas). torchinfo and fvcore
  also receive a built model, so this is the like-for-like comparison with them.
- **analyze (warm)**: ``analyze(name, shape)`` after one warm-up call. The meta-device model
  and its fx trace are cached per (name, mode), so only shape propagation and statistics run:
  the GUI's path when the user changes the input shape.
- **torchinfo**: ``torchinfo.summary(model, input_size=(1, *shape), verbose=0)``.
- **fvcore**: ``FlopCountAnalysis(model, torch.randn(1, *shape)).total()`` with its
  unsupported-op and uncalled-module warnings off (the input is created inside the timed call,
  as torchinfo creates its own).

torchinfo and fvcore run under ``torch.no_grad()`` on the same CPU-built instances, in this
same process, with torch's default thread count. Both run a real forward pass (fvcore through
a JIT trace), so their cost grows with the input size, whereas analyze does no arithmetic at
all (meta tensors): that difference is what the two target checks measure.

Every number is the median of ``--repeat`` timed runs (``time.perf_counter``), each measurement
preceded by one untimed warm-up run; ``gc.collect()`` runs before every timed call. The slow
real-forward cases at 512 and 1024 px use ``min(repeat, 3)`` runs for torchinfo and fvcore.

**edit + re-analyse**: ``apply_edits("resnet50", [one SetLayer])`` — a copy-on-write copy of the
cached meta model and of its fx graph, the edit, and the same shape propagation and counting as
``analyze`` — against a warm ``analyze("resnet50")`` in the same run (target ≤ 2×, so editing in
the app feels instant). ``what_if`` (that, plus the original's analysis and the per-layer diff) is
reported beside it. ``--edits-only`` measures just this.
Counting conventions: for ResNet-152 @224, ``summary.with_convention(name)`` (what the GUI's
"Count as" picker runs: the same graph recounted, nothing traced or propagated) next to a warm
``analyze``, for every convention of ``explorer.core.conventions``.

Sanity check: analyze's total parameter count must equal ``sum(p.numel())`` of the instance;
a mismatch prints a warning naming the modules whose parameters were not counted (modules
that do not run in eval mode, such as GoogLeNet's auxiliary classifiers, are not in the graph).
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import logging
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from explorer.core.analysis import analyze  # noqa: E402
from explorer.core.stats import ModelSummary  # noqa: E402
from explorer.core.zoo.registry import get_spec  # noqa: E402

Shape = tuple[int, int, int]

#: (model name, input shapes) in the order they are reported.
CASES: tuple[tuple[str, tuple[Shape, ...]], ...] = (
    ("alexnet", ((3, 224, 224),)),
    ("vgg16", ((3, 224, 224),)),
    ("googlenet", ((3, 224, 224),)),
    ("resnet50", ((3, 224, 224), (3, 512, 512), (3, 1024, 1024))),
    ("resnet152", ((3, 224, 224),)),
    ("efficientnet_b0", ((3, 224, 224),)),
)
#: Inputs larger than this (pixels per side) run torchinfo and fvcore at most 3 times.
SLOW_FORWARD_SIDE = 224
SLOW_FORWARD_REPEAT = 3

TARGET_COLD_VS_TORCHINFO = 0.25  # ResNet-152 @224: analyze (cold) ≤ 0.25 × torchinfo
TARGET_SIZE_SCALING = 1.2  # ResNet-50 @1024 ≤ 1.2 × ResNet-50 @224, cold and warm
TARGET_EDIT_VS_WARM = 2.0  # ResNet-50: one edit applied and re-analysed ≤ 2 × a warm analyze


@dataclass
class CaseResult:
    model: str
    input_shape: Shape
    analyze_cold_ms: float
    analyze_warm_ms: float
    torchinfo_ms: float
    fvcore_ms: float
    repeat_analyze: int
    repeat_reference: int
    analyze_params: int
    instance_params: int
    cold_runs_ms: list[float] = field(default_factory=list)
    warm_runs_ms: list[float] = field(default_factory=list)
    torchinfo_runs_ms: list[float] = field(default_factory=list)
    fvcore_runs_ms: list[float] = field(default_factory=list)

    @property
    def cold_vs_torchinfo(self) -> float:
        return self.analyze_cold_ms / self.torchinfo_ms

    @property
    def cold_vs_fvcore(self) -> float:
        return self.analyze_cold_ms / self.fvcore_ms


@dataclass
class Check:
    description: str
    passed: bool
    detail: str


# --- timing ------------------------------------------------------------------------------------


def time_runs(call: Callable[[], Any], repeat: int) -> list[float]:
    """One untimed warm-up, then ``repeat`` timed runs; milliseconds."""
    call()
    runs: list[float] = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        call()
        runs.append((time.perf_counter() - start) * 1000.0)
    return runs


def median(runs: Sequence[float]) -> float:
    return statistics.median(runs)


# --- the four measured calls -------------------------------------------------------------------


def build_cpu_instance(name: str) -> nn.Module:
    """The torchvision model behind the zoo name, with random weights, on the CPU, in eval mode."""
    with torch.device("cpu"):
        model = get_spec(name).build()
    return model.eval()


def analyze_cold(model: nn.Module, shape: Shape) -> ModelSummary:
    return analyze(model, shape)


def analyze_warm(name: str, shape: Shape) -> ModelSummary:
    return analyze(name, shape)


def run_torchinfo(model: nn.Module, shape: Shape) -> Any:
    import torchinfo

    with torch.no_grad():
        return torchinfo.summary(model, input_size=(1, *shape), verbose=0)


def run_fvcore(model: nn.Module, shape: Shape) -> int:
    from fvcore.nn import FlopCountAnalysis

    with torch.no_grad():
        analysis = FlopCountAnalysis(model, torch.randn(1, *shape))
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        return int(analysis.total())


# --- sanity check ------------------------------------------------------------------------------


def params_warning(name: str, summary: ModelSummary, model: nn.Module) -> str | None:
    """None when analyze counted every parameter of the instance; else a one-line explanation."""
    expected = sum(p.numel() for p in model.parameters())
    if summary.totals.params == expected:
        return None
    counted = {p for node in summary.graph.nodes for p in node.parameters}
    missing: dict[str, int] = {}
    for qualified, parameter in model.named_parameters():
        if qualified not in counted:
            owner = qualified.split(".")[0]
            missing[owner] = missing.get(owner, 0) + parameter.numel()
    where = ", ".join(f"{owner} ({count:,})" for owner, count in missing.items()) or "?"
    return (
        f"WARNING: {name}: analyze counts {summary.totals.params:,} parameters, the instance has "
        f"{expected:,} (difference {expected - summary.totals.params:,}; not in the {summary.mode}-mode "
        f"graph: {where})"
    )


# --- one model ---------------------------------------------------------------------------------


def bench_model(name: str, shapes: Sequence[Shape], repeat: int, warnings_out: list[str]) -> list[CaseResult]:
    model = build_cpu_instance(name)
    instance_params = sum(p.numel() for p in model.parameters())
    results: list[CaseResult] = []
    for shape in shapes:
        reference_repeat = repeat if max(shape[1:]) <= SLOW_FORWARD_SIDE else min(repeat, SLOW_FORWARD_REPEAT)
        cold = time_runs(lambda: analyze_cold(model, shape), repeat)
        warm = time_runs(lambda: analyze_warm(name, shape), repeat)
        info = time_runs(lambda: run_torchinfo(model, shape), reference_repeat)
        flops = time_runs(lambda: run_fvcore(model, shape), reference_repeat)
        summary = analyze_cold(model, shape)
        warning = params_warning(name, summary, model)
        if warning is not None and warning not in warnings_out:
            warnings_out.append(warning)
        results.append(
            CaseResult(
                model=name,
                input_shape=tuple(shape),  # type: ignore[arg-type]
                analyze_cold_ms=median(cold),
                analyze_warm_ms=median(warm),
                torchinfo_ms=median(info),
                fvcore_ms=median(flops),
                repeat_analyze=repeat,
                repeat_reference=reference_repeat,
                analyze_params=summary.totals.params,
                instance_params=instance_params,
                cold_runs_ms=cold,
                warm_runs_ms=warm,
                torchinfo_runs_ms=info,
                fvcore_runs_ms=flops,
            )
        )
        print(f"  measured {name} @ {_fmt_shape(shape)}", file=sys.stderr, flush=True)
    del model
    gc.collect()
    return results


# --- what-if edits -------------------------------------------------------------------------------


@dataclass
class EditResult:
    model: str
    edit: str
    warm_ms: float
    apply_ms: float
    what_if_ms: float
    repeat: int

    @property
    def apply_vs_warm(self) -> float:
        return self.apply_ms / self.warm_ms


def bench_edit(repeat: int) -> EditResult:
    from explorer.core.edits import SetLayer, apply_edits, what_if

    name, edit = "resnet50", SetLayer("layer1.0.conv2", kernel_size=5, padding=2)
    # Interleaved, so a load change on the machine hits both alike.
    warm, applied, whole = [], [], []
    for _ in range(repeat):
        warm += time_runs(lambda: analyze(name), 1)
        applied += time_runs(lambda: apply_edits(name, [edit]), 1)
        whole += time_runs(lambda: what_if(name, [edit]), 1)
    return EditResult(name, edit.describe(), median(warm), median(applied), median(whole), repeat)


def edit_check(result: EditResult) -> Check:
    return Check(
        "ResNet-50: one edit applied and re-analysed ≤ 2× a warm analyze",
        result.apply_vs_warm <= TARGET_EDIT_VS_WARM,
        f"{result.apply_ms:.1f} ms / {result.warm_ms:.1f} ms = {result.apply_vs_warm:.2f}× "
        f"(what_if with the original and the diff: {result.what_if_ms:.1f} ms = {result.what_if_ms / result.warm_ms:.2f}×)",
    )


def print_edit_report(result: EditResult) -> None:
    print()
    print(f"| what-if ({result.model}, {result.edit}) | ms | × warm analyze |")
    print("|---|---:|---:|")
    print(f"| warm analyze | {result.warm_ms:.1f} | 1.00 |")
    print(f"| apply_edits (copy, edit, re-analyse) | {result.apply_ms:.1f} | {result.apply_vs_warm:.2f} |")
    print(f"| what_if (+ original and diff) | {result.what_if_ms:.1f} | {result.what_if_ms / result.warm_ms:.2f} |")
def bench_conventions(repeat: int) -> list[tuple[str, float, float]]:
    """(convention, recount ms, warm analyze ms) for ResNet-152 @224."""
    from explorer.core.conventions import CONVENTION_NAMES

    shape = (3, 224, 224)
    lecture = analyze_warm("resnet152", shape)
    warm = median(time_runs(lambda: analyze_warm("resnet152", shape), repeat))
    rows = []
    for name in CONVENTION_NAMES[1:]:
        rows.append((name, median(time_runs(lambda n=name: lecture.with_convention(n), repeat)), warm))
    print("  measured the conventions' recounts", file=sys.stderr, flush=True)
    return rows


# --- report ------------------------------------------------------------------------------------


def _fmt_shape(shape: Sequence[int]) -> str:
    return "×".join(str(d) for d in shape)


def _find(results: Sequence[CaseResult], name: str, side: int) -> CaseResult | None:
    return next((r for r in results if r.model == name and r.input_shape[1] == side), None)


def target_checks(results: Sequence[CaseResult]) -> list[Check]:
    checks: list[Check] = []
    big = _find(results, "resnet152", 224)
    if big is not None:
        ratio = big.cold_vs_torchinfo
        checks.append(
            Check(
                "ResNet-152 @224: analyze (cold) ≤ 0.25× torchinfo",
                ratio <= TARGET_COLD_VS_TORCHINFO,
                f"{big.analyze_cold_ms:.1f} ms / {big.torchinfo_ms:.1f} ms = {ratio:.3f}×",
            )
        )
    small, large = _find(results, "resnet50", 224), _find(results, "resnet50", 1024)
    if small is not None and large is not None:
        cold = large.analyze_cold_ms / small.analyze_cold_ms
        warm = large.analyze_warm_ms / small.analyze_warm_ms
        checks.append(
            Check(
                "ResNet-50 @1024 ≤ 1.2× ResNet-50 @224 (cold and warm)",
                cold <= TARGET_SIZE_SCALING and warm <= TARGET_SIZE_SCALING,
                f"cold {large.analyze_cold_ms:.1f} / {small.analyze_cold_ms:.1f} ms = {cold:.2f}×; "
                f"warm {large.analyze_warm_ms:.1f} / {small.analyze_warm_ms:.1f} ms = {warm:.2f}×",
            )
        )
    return checks


def cpu_model_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def environment() -> dict[str, Any]:
    return {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "processor": platform.processor(),
        "machine": platform.machine(),
        "cpu_model": cpu_model_name(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
    }


def print_report(env: dict[str, Any], results: Sequence[CaseResult], checks: Sequence[Check], notes: Sequence[str], repeat: int) -> None:
    import fvcore
    import torchinfo

    print("# analyze() benchmark")
    print()
    print(f"- date: {env['date_utc']}")
    processor = env["processor"] or "(empty)"
    model = f" — {env['cpu_model']}" if env["cpu_model"] else ""
    print(f"- platform.processor(): {processor}; platform.machine(): {env['machine']}{model}")
    print(f"- CPU count: {env['cpu_count']}; torch threads: {env['torch_threads']}")
    print(
        f"- torch {env['torch']}; torchinfo {getattr(torchinfo, '__version__', '?')}; "
        f"fvcore {getattr(fvcore, '__version__', '?')}; Python {env['python']}"
    )
    print(
        f"- median of {repeat} runs after 1 warm-up (torchinfo/fvcore above {SLOW_FORWARD_SIDE} px: "
        f"{min(repeat, SLOW_FORWARD_REPEAT)} runs)"
    )
    print()
    print("| model | input | analyze cold ms | analyze warm ms | torchinfo ms | fvcore ms | cold/torchinfo | cold/fvcore |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r.model} | {_fmt_shape(r.input_shape)} | {r.analyze_cold_ms:.1f} | {r.analyze_warm_ms:.1f} | "
            f"{r.torchinfo_ms:.1f} | {r.fvcore_ms:.1f} | {r.cold_vs_torchinfo:.3f} | {r.cold_vs_fvcore:.3f} |"
        )
    print()
    for check in checks:
        print(f"{'PASS' if check.passed else 'MISS'}: {check.description} — {check.detail}")
    if notes:
        print()
        for note in notes:
            print(note)
    else:
        print()
        print("Parameter sanity check: analyze's totals equal sum(p.numel()) for every model.")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per measurement (median; default 5)")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--edits-only", action="store_true", help="only the what-if measurement")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.edits_only:
        edit = bench_edit(max(args.repeat, 15))
        print("# what-if benchmark")
        print_edit_report(edit)
        check = edit_check(edit)
        print(f"\n{'PASS' if check.passed else 'MISS'}: {check.description} — {check.detail}")
        return

    # fvcore's JIT trace and torchinfo emit TracerWarnings and log lines that are not results.
    warnings.filterwarnings("ignore")
    logging.getLogger("fvcore").setLevel(logging.ERROR)

    env = environment()
    results: list[CaseResult] = []
    notes: list[str] = []
    for name, shapes in CASES:
        results += bench_model(name, shapes, args.repeat, notes)
    edit = bench_edit(max(args.repeat, 15))
    checks = [*target_checks(results), edit_check(edit)]
    recounts = bench_conventions(args.repeat)
    print_report(env, results, checks, notes, args.repeat)
    print_edit_report(edit)
    print()
    print("| ResNet-152 @224: switch the convention to | recount ms | warm analyze ms | recount / analyze |")
    print("|---|---:|---:|---:|")
    for name, recount, warm in recounts:
        print(f"| {name} | {recount:.1f} | {warm:.1f} | {recount / warm:.2f} |")

    if args.json is not None:
        payload = {
            "environment": env,
            "repeat": args.repeat,
            "results": [
                {**asdict(r), "cold_vs_torchinfo": r.cold_vs_torchinfo, "cold_vs_fvcore": r.cold_vs_fvcore}
                for r in results
            ],
            "checks": [asdict(c) for c in checks],
            "edit": {**asdict(edit), "apply_vs_warm": edit.apply_vs_warm},
            "recounts": [{"convention": n, "recount_ms": r, "analyze_warm_ms": w} for n, r, w in recounts],
            "warnings": notes,
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
