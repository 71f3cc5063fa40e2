"""Run the real peer counters on a real (CPU) model and read their numbers per module.

Each function returns ``(per_module, total)``: ``per_module`` maps a module path ("" is the
model) to what the tool reports for it, ``total`` is the tool's own total from its public API.
How each tool reports decides what ``per_module`` holds:

- torchinfo: the Mult-Adds of every leaf layer (a module called twice: both calls added);
- fvcore, torch, thop: every module, its descendants included (their hierarchical reports);
- ptflops: every module's own count: a hooked module's ``__flops__`` plus the patched
  functionals (``F.relu``, ``torch.matmul``, …) that ran while it was the innermost module
  (ptflops itself only adds those to the total; the attribution is this harness's).

Used by tests/core/test_conventions.py; never by the app (the peers are test extras).
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections import defaultdict
from collections.abc import Iterator

import torch
from torch import nn

Counts = tuple[dict[str, int], int]


def _paths(model: nn.Module) -> dict[int, str]:
    return {id(module): path for path, module in model.named_modules()}


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def torchinfo_counts(model: nn.Module, shape: tuple[int, ...], mode: str = "eval") -> Counts:
    with _quiet():
        from torchinfo import summary

        stats = summary(model, input_size=(1, *shape), verbose=0, mode=mode)
    paths = _paths(model)
    per_module: dict[str, int] = defaultdict(int)
    for layer in stats.summary_list:
        if layer.is_leaf_layer:
            per_module[paths[id(layer.module)]] += int(layer.macs)
    return dict(per_module), int(stats.total_mult_adds)


def fvcore_counts(model: nn.Module, shape: tuple[int, ...], mode: str = "eval") -> Counts:
    model.train(mode == "train")
    with _quiet():  # importing fvcore warns that torch.jit.script is deprecated
        from fvcore.nn import FlopCountAnalysis

        analysis = FlopCountAnalysis(model, (torch.randn(1, *shape),))
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")
        by_module = {path: int(value) for path, value in analysis.by_module().items()}
        total = int(analysis.total())
    model.eval()
    return by_module, total


def torch_counts(model: nn.Module, shape: tuple[int, ...], mode: str = "eval") -> Counts:
    from torch.utils.flop_counter import FlopCounterMode

    model.train(mode == "train")
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(torch.randn(1, *shape))
    model.eval()
    root = type(model).__name__
    per_module = {}
    for name, by_op in counter.get_flop_counts().items():
        if name == "Global":
            continue
        path = "" if name == root else name.removeprefix(root + ".")
        per_module[path] = int(sum(by_op.values()))
    return per_module, int(counter.get_total_flops())


def thop_counts(model: nn.Module, shape: tuple[int, ...], mode: str = "eval") -> Counts:
    with _quiet():  # thop's import warns about distutils' LooseVersion
        from thop import profile

        total, _params, layers = profile(model, (torch.randn(1, *shape),), verbose=False, ret_layer_info=True)
    per_module: dict[str, int] = {"": int(total)}

    def walk(prefix: str, children: dict[str, tuple[float, float, dict]]) -> None:
        for name, (ops, _p, grandchildren) in children.items():
            path = f"{prefix}.{name}" if prefix else name
            per_module[path] = int(ops)
            walk(path, grandchildren)

    walk("", layers)
    for module in model.modules():  # thop leaves its buffers on the modules it has no rule for
        module._buffers.pop("total_ops", None)
        module._buffers.pop("total_params", None)
    return per_module, int(total)


def ptflops_counts(model: nn.Module, shape: tuple[int, ...], mode: str = "eval") -> Counts:
    """ptflops's PyTorch backend, as ``get_model_complexity_info`` runs it (functionals patched)."""
    from ptflops import get_model_complexity_info
    from ptflops import pytorch_engine as engine

    with _quiet():
        total, _params = get_model_complexity_info(
            model, shape, as_strings=False, print_per_layer_stat=False, verbose=False, backend="pytorch"
        )
    # The same run again through the engine's own steps, keeping what it counts per module.
    paths = _paths(model)
    stack: list[str] = []
    collector: list[int] = []
    own: dict[str, int] = defaultdict(int)
    seen = 0

    def settle() -> None:  # functionals appended since the last look belong to the innermost module
        nonlocal seen
        if stack:
            for flops in collector[seen:]:
                own[stack[-1]] += int(flops)
        seen = len(collector)

    def enter(module: nn.Module, args: object) -> None:
        settle()
        stack.append(paths[id(module)])

    def leave(module: nn.Module, args: object, output: object) -> None:
        settle()
        stack.pop()

    handles = [m.register_forward_pre_hook(enter) for m in model.modules()]
    handles += [m.register_forward_hook(leave) for m in model.modules()]
    counted = engine.add_flops_counting_methods(model)
    counted.eval()
    with _quiet():
        counted.start_flops_count(ost=io.StringIO(), verbose=False, ignore_list=[])
    engine.patch_functional(collector)
    engine.patch_tensor_ops(collector)
    try:
        with torch.no_grad():
            counted(torch.ones(1, *shape))
        for module in model.modules():
            if engine.is_supported_instance(module):
                own[paths[id(module)]] += int(module.__flops__)
    finally:
        engine.unpatch_functional()
        engine.unpatch_tensor_ops()
        counted.stop_flops_count()
        for handle in handles:
            handle.remove()
    return dict(own), int(total)


PEERS = {
    "torchinfo": torchinfo_counts,
    "fvcore": fvcore_counts,
    "ptflops": ptflops_counts,
    "thop": thop_counts,
    "torch": torch_counts,
}
