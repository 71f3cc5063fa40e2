"""Counting conventions: the lecture's, and the rules of the tools people compare it with.

"MACs or FLOPs, and why does every tool give a different number?" Each tool counts something a
little different, and each is right by its own rules. A :class:`Convention` reproduces one tool's
rules layer by layer on the analysis' graph, with a formula for every number:

- ``lecture`` (the default): the seeds' table; see ``stats.CONVENTIONS``.
- ``torchinfo`` 1.8 (``summary(...).total_mult_adds``): a leaf module's parameters times its output
  positions — for a class whose name contains "Conv", (weights + biases) × N·H'·W'; for any
  other module, its parameters once per image (BatchNorm: γ and β, 2·C). Modules without
  parameters and functional ops: 0.
- ``fvcore`` 0.1.5 (``FlopCountAnalysis``, one fused multiply-add = one "flop", i.e. MACs): the
  traced aten ops: convolutions and matrix products (no bias), BatchNorm 2 per element in eval
  (5 in training), Group/LayerNorm 5, adaptive average pooling 1 per input element, upsampling;
  every other op (ReLU, max pooling, add, mul, …) 0.
- ``ptflops`` 0.7.5 (PyTorch backend, ``get_model_complexity_info``, MACs): hooks on exact
  module types — conv and linear with their bias, 1 per output of ReLU/ELU/LeakyReLU/ReLU6/
  GELU/PReLU, 1 per *input* element of every pooling, BatchNorm 2 per element — plus patched
  ``torch.nn.functional`` calls (``F.relu``, ``F.silu``, the poolings, ``torch.matmul``, …) that
  count again when a module's own forward calls them (nn.ReLU, nn.MaxPool2d: counted twice).
- ``thop`` 0.1.1 (``profile``, MACs): hooks on exact module types — conv without bias, linear,
  BatchNorm 2 per element (×2 with the affine scale and shift), average pooling, adaptive
  average pooling (window + 1 per output); ReLU and max pooling 0; a subclass or any type not
  in its table (SiLU, Sigmoid, a Conv2d subclass) 0.
- ``torch`` (``torch.utils.flop_counter.FlopCounterMode``, FLOPs): 2 per multiply-add of
  convolutions and matrix products, nothing else.

A convention's count is the tool's own number in the unit the tool reports; the other column
follows (FLOPs = 2 × MACs, the multiply and the add of each MAC; for ``torch``, MACs = FLOPs / 2).
tests/core/test_conventions.py runs the real tools on every zoo model and requires the same
number layer by layer.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from types import MappingProxyType
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from explorer.core.convention_names import CONVENTION_NAMES, DEFAULT_CONVENTION
from explorer.core.errors import ExplorerError
from explorer.core.graph import LayerNode
from explorer.core.layers import Shape
from explorer.core.stats import CONVENTIONS as LECTURE_RULES
from explorer.core.stats import Formula, _conv, _n, _numel, _product, _rule_for

__all__ = ["CONVENTIONS", "CONVENTION_NAMES", "DEFAULT_CONVENTION", "Convention", "get_convention"]

#: (macs, flops, formulas) of one node; the signature of stats' counting rules.
Count = tuple[int, int, list[Formula]]
CountRule = Callable[[LayerNode, "nn.Module | None", str], Count]
#: A tool's own number for a node (in the unit it reports) and its formula.
_Native = tuple[int, str]


@dataclass(frozen=True)
class Convention:
    name: str  # "lecture", "torchinfo", "fvcore", "ptflops", "thop", "torch"
    title: str  # what the picker shows
    tool: str | None  # the package whose numbers it reproduces (None: the lecture)
    reports: str  # the unit the tool itself reports: "MACs" or "FLOPs"
    reported_as: str  # the tool's own name for its number
    summary: str  # one line: what it counts
    rules: Mapping[str, str] = field(repr=False)  # the JSON's "conventions"
    count: CountRule = field(repr=False, compare=False)

    def native(self, macs: int, flops: int) -> int:
        """The number the tool prints, from a layer's (or a model's) MACs and FLOPs."""
        return flops if self.reports == "FLOPs" else macs


# --- small helpers --------------------------------------------------------------------------


def _torch_own(module: nn.Module) -> bool:
    return type(module).__module__.startswith("torch.nn")


def _exact(module: nn.Module | None, types: tuple[type, ...]) -> bool:
    """``type(module) in types``: thop and ptflops look modules up by exact type, not isinstance."""
    return module is not None and type(module) in types


def _macs_first(native: Callable[[LayerNode, "nn.Module | None", str], _Native]) -> CountRule:
    """A rule for a tool that reports MACs: FLOPs = 2 × MACs."""

    def count(node: LayerNode, module: nn.Module | None, mode: str) -> Count:
        macs, text = native(node, module, mode)
        formulas = [Formula("MACs", text)]
        if macs:
            formulas.append(Formula("FLOPs", f"2 × {_n(macs)} = {_n(2 * macs)} (a multiply and an add per MAC)"))
        return macs, 2 * macs, formulas

    return count


def _plus(terms: Sequence[tuple[int, str]], note: str = "") -> _Native:
    """``a + b + c = total (note)`` from (value, expression) terms; one term reads without the sum."""
    terms = [t for t in terms if t[1]]
    total = sum(value for value, _ in terms)
    if not terms:
        return 0, f"0{f' ({note})' if note else ''}"
    text = " + ".join(expression for _, expression in terms)
    return total, f"{text} = {_n(total)}" + (f" ({note})" if note else "")


def _numel_term(shape: Shape) -> tuple[int, str]:
    return _numel(shape), _product(shape) or "1"


def _conv_products(node: LayerNode, module: nn.Module) -> tuple[int, str]:
    """A convolution's multiply-adds (weights only, batch 1), as the lecture writes them."""
    macs, _flops, formulas = _conv(node, module, "eval")
    return macs, formulas[0].expression.rsplit(" = ", 1)[0]


def _linear_products(node: LayerNode) -> tuple[int, str]:
    inner = node.input_shapes[0][-1] if node.input_shapes and node.input_shapes[0] else 1
    out = node.output_shape[-1] if node.output_shape else 1
    rows = _numel(node.output_shape[:-1])
    return rows * inner * out, (f"{rows} × " if rows > 1 else "") + f"{inner} × {out}"


# --- what a custom module runs, recorded on the meta device ---------------------------------


@dataclass(frozen=True)
class _Call:
    """One torch function a module's forward called (with batch dimension; meta tensors)."""

    name: str  # ``conv2d``, ``linear``, ``avg_pool2d``, ``mul`` …
    function: Any
    args: tuple[Any, ...]
    kwargs: Mapping[str, Any]
    output: Any

    def tensor(self, index: int, keyword: str | None = None) -> torch.Tensor | None:
        value = self.args[index] if index < len(self.args) else self.kwargs.get(keyword or "", None)
        return value if isinstance(value, torch.Tensor) else None

    def argument(self, index: int, keyword: str, default: Any = None) -> Any:
        return self.args[index] if index < len(self.args) else self.kwargs.get(keyword, default)


class _CallRecorder(TorchFunctionMode):
    """The outermost torch functions a forward calls (the mode is off inside each, so no inner ones)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[_Call] = []

    def __torch_function__(self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None) -> Any:
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        name = getattr(func, "__name__", "") or type(func).__name__
        self.calls.append(_Call(name.lstrip("_"), func, tuple(args), MappingProxyType(dict(kwargs)), result))
        return result


def _recorded_calls(node: LayerNode, module: nn.Module) -> tuple[_Call, ...] | None:
    """Run ``module`` on meta inputs of the node's shapes and record its calls; None if it cannot run."""
    from explorer.core.graph import _run_module_on_meta

    inputs = tuple(torch.empty((1, *shape), device="meta") for shape in node.input_shapes)
    recorder = _CallRecorder()
    try:
        with torch.no_grad(), recorder:
            _run_module_on_meta(module, inputs, {})
    except Exception:
        return None
    return tuple(recorder.calls)


def _shape(tensor: torch.Tensor | None) -> Shape:
    return tuple(int(d) for d in tensor.shape) if tensor is not None else ()


def _recorded_conv(call: _Call) -> tuple[int, str] | None:
    """prod(weight) × output positions (input positions when transposed), from a recorded conv call."""
    x, weight, out = call.tensor(0, "input"), call.tensor(1, "weight"), call.output
    if x is None or weight is None or not isinstance(out, torch.Tensor):
        return None
    transposed = call.name.startswith("conv_transpose")
    positions = _shape(x)[2:] if transposed else _shape(out)[2:]
    w = _shape(weight)
    macs = _numel(positions) * _numel(w) * _shape(x)[0]
    return macs, f"{w[0]} × {_product(positions)} × ({_product(w[1:])})"


def _recorded_matmul(call: _Call) -> tuple[int, str] | None:
    """prod(a) × b[-1] for matmul/mm/bmm; prod(mat1) × mat2[-1] for addmm/baddbmm; linear: prod(x) × out."""
    if call.name in {"addmm", "baddbmm"}:
        a, b = call.tensor(1, "mat1" if call.name == "addmm" else "batch1"), call.tensor(2, "mat2" if call.name == "addmm" else "batch2")
    elif call.name == "linear":
        a, weight = call.tensor(0, "input"), call.tensor(1, "weight")
        if a is None or weight is None:
            return None
        return _numel(_shape(a)) * _shape(weight)[0], f"{_product(_shape(a))} × {_shape(weight)[0]}"
    else:
        a, b = call.tensor(0, "input"), call.tensor(1, "other" if call.name == "matmul" else "mat2")
    if a is None or b is None or not b.dim():
        return None
    return _numel(_shape(a)) * _shape(b)[-1], f"{_product(_shape(a))} × {_shape(b)[-1]}"


_MATMULS = frozenset({"matmul", "mm", "bmm", "addmm", "baddbmm", "linear"})
_CONVS = frozenset({"conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d"})


def _recorded(
    node: LayerNode, module: nn.Module, rule: Callable[[_Call], tuple[int, str] | None], tool: str
) -> _Native:
    """A custom module: what ``tool`` counts of the torch functions its forward runs."""
    calls = _recorded_calls(node, module)
    if calls is None:
        return 0, f"0 (not counted: {type(module).__name__} could not run on the meta device to see its ops)"
    terms = []
    names = []
    for call in calls:
        counted = rule(call)
        if counted is not None and counted[0]:
            terms.append(counted)
            names.append(call.name)
    if not terms:
        ran = ", ".join(dict.fromkeys(c.name for c in calls)) or "nothing"
        return 0, f"0 ({type(module).__name__} runs {ran}: nothing {tool} counts)"
    return _plus(terms, f"{' + '.join(names)} inside {type(module).__name__}")


# --- torchinfo ----------------------------------------------------------------------------------


def _torchinfo(node: LayerNode, module: nn.Module | None, mode: str) -> _Native:
    if module is None:
        return 0, "0 (torchinfo counts modules with parameters; a functional op is not a module)"
    if next(iter(module.children()), None) is not None:
        return 0, f"0 (torchinfo's total counts leaf modules only; {type(module).__name__} has children)"
    conv_like = "Conv" in type(module).__name__
    positions = node.output_shape[1:]
    terms: list[tuple[int, str]] = []
    for name, parameter in module.named_parameters():
        count = parameter.numel()
        if name in ("weight", "bias"):
            terms.append((count, _product(tuple(parameter.shape)) or "1"))
        elif "weight" in name or "bias" in name:  # RNN-style names: × the output's channels
            channels = node.output_shape[0] if node.output_shape else 1
            terms.append((channels * count, f"{channels} × {_product(tuple(parameter.shape)) or '1'}"))
    if not terms:
        return 0, "0 (torchinfo counts parameters × output positions; this layer has none)"
    if conv_like and positions:
        inner = " + ".join(text for _, text in terms)
        total = sum(value for value, _ in terms) * _numel(positions)
        inner = f"({inner})" if len(terms) > 1 else inner
        return total, f"{inner} × {_product(positions)} = {_n(total)} (weights and biases at every output position)"
    return _plus(terms, "its parameters, once per image" if not conv_like else "")


# --- fvcore -------------------------------------------------------------------------------------


def _fvcore_norm(numel: int, shape: Shape, factor: int, why: str) -> _Native:
    return factor * numel, f"{factor} × {_product(shape)} = {_n(factor * numel)} ({why})"


def _fvcore_module(node: LayerNode, module: nn.Module, mode: str) -> _Native:
    in_shape = node.input_shapes[0] if node.input_shapes else node.output_shape
    if isinstance(module, nn.modules.conv._ConvNd):
        macs, text = _conv_products(node, module)
        return macs, f"{text} = {_n(macs)} (aten::_convolution; bias not counted)"
    if isinstance(module, nn.Linear):
        macs, text = _linear_products(node)
        return macs, f"{text} = {_n(macs)} (aten::linear; bias not counted)"
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        training = mode == "train" or not module.track_running_stats
        affine = module.weight is not None
        factor = (5 if affine else 4) if training else (2 if affine else 1)
        why = "aten::batch_norm in training: 5 per element" if training else "aten::batch_norm in eval: scale and shift, 2 per element"
        return _fvcore_norm(_numel(in_shape), in_shape, factor, why if affine else why.replace("scale and shift, 2", "1"))
    if isinstance(module, (nn.GroupNorm, nn.LayerNorm, nn.modules.instancenorm._InstanceNorm)):
        affine = getattr(module, "weight", None) is not None
        return _fvcore_norm(_numel(in_shape), in_shape, 5 if affine else 4, "fvcore's norm estimate per element")
    if isinstance(module, nn.AdaptiveAvgPool2d):
        return _numel(in_shape), f"{_product(in_shape)} = {_n(_numel(in_shape))} (aten::adaptive_avg_pool2d: 1 per input element)"
    if isinstance(module, nn.Upsample):
        return _fvcore_upsample(node, str(module.mode))
    if _torch_own(module) or node.kind in {"dropout", "activation", "reshape"}:
        return 0, f"0 (fvcore counts no op of {type(module).__name__})"
    return _recorded(node, module, _fvcore_call, "fvcore")


def _fvcore_upsample(node: LayerNode, mode: str) -> _Native:
    factor = {"nearest": 1, "bilinear": 4}.get(mode)
    if factor is None or len(node.output_shape) != 3:
        return 0, f"0 (fvcore has no rule for {mode} upsampling of this rank)"
    total = factor * _numel(node.output_shape)
    return total, f"{factor} × {_product(node.output_shape)} = {_n(total)} (aten::upsample_{mode}2d, per output element)"


def _fvcore_call(call: _Call) -> tuple[int, str] | None:
    if call.name in _CONVS:
        return _recorded_conv(call)
    if call.name in _MATMULS:
        return _recorded_matmul(call)
    if call.name == "adaptive_avg_pool2d":
        x = call.tensor(0, "input")
        return (_numel(_shape(x)), _product(_shape(x))) if x is not None else None
    if call.name == "interpolate" and isinstance(call.output, torch.Tensor) and call.output.dim() == 4:
        factor = {"nearest": 1, "bilinear": 4}.get(str(call.argument(3, "mode", "nearest")))
        return (factor * call.output.numel(), f"{factor} × {_product(_shape(call.output))}") if factor else None
    if call.name in {"batch_norm", "group_norm", "layer_norm", "instance_norm"}:
        x = call.tensor(0, "input")
        weight_at = {"batch_norm": (3, "weight"), "group_norm": (2, "weight"), "layer_norm": (2, "weight"), "instance_norm": (3, "weight")}
        affine = call.tensor(*weight_at[call.name]) is not None
        if call.name == "batch_norm" and not call.argument(5, "training", False):
            factor = 2 if affine else 1
        else:
            factor = 5 if affine else 4
        return (factor * _numel(_shape(x)), f"{factor} × {_product(_shape(x))}") if x is not None else None
    return None


def _fvcore(node: LayerNode, module: nn.Module | None, mode: str) -> _Native:
    if module is not None:
        return _fvcore_module(node, module, mode)
    op = node.op
    if op in {"linear", "matmul", "mm", "bmm", "addmm"}:
        return _functional_matmul(node, "fvcore")
    if op == "adaptive_avg_pool2d" and node.input_shapes:
        shape = node.input_shapes[0]
        return _numel(shape), f"{_product(shape)} = {_n(_numel(shape))} (aten::adaptive_avg_pool2d: 1 per input element)"
    if op in {"interpolate", "upsample"}:
        return _fvcore_upsample(node, str(node.arguments.get("mode", "nearest")))
    return 0, f"0 (fvcore counts no aten::{op})"


def _functional_matmul(node: LayerNode, tool: str) -> _Native:
    """A functional matrix product from the graph's shapes (batch dimension left out)."""
    if len(node.input_shapes) < 2 and node.op != "linear":
        return 0, f"0 (not counted: the shapes of {node.op}'s operands are not known)"
    a = node.input_shapes[1] if node.op == "addmm" else node.input_shapes[0]
    out = node.output_shape[-1] if node.output_shape else 1
    macs = _numel(a) * out
    return macs, f"{_product(a)} × {out} = {_n(macs)} ({node.op}, as {tool} counts it)"


# --- torch.utils.flop_counter ------------------------------------------------------------------


def _torch(node: LayerNode, module: nn.Module | None, mode: str) -> _Native:
    """Half of FlopCounterMode's FLOPs: the multiply-adds of convolutions and matrix products."""
    if module is None:
        if node.op in {"linear", "matmul", "mm", "bmm", "addmm", "baddbmm"}:
            return _functional_matmul(node, "torch's counter")
        return 0, f"0 (FlopCounterMode counts only convolutions and matrix products, not {node.op})"
    if isinstance(module, nn.modules.conv._ConvNd):
        macs, text = _conv_products(node, module)
        return macs, f"{text} = {_n(macs)} (aten.convolution; bias not counted)"
    if isinstance(module, nn.Linear):
        macs, text = _linear_products(node)
        return macs, f"{text} = {_n(macs)} (aten.addmm / aten.mm; bias not counted)"
    if _torch_own(module) or node.kind in {"dropout", "activation", "reshape"}:
        return 0, f"0 (FlopCounterMode counts only convolutions and matrix products, not {type(module).__name__})"
    return _recorded(node, module, _torch_call, "FlopCounterMode")


def _torch_call(call: _Call) -> tuple[int, str] | None:
    if call.name in _CONVS:
        return _recorded_conv(call)
    if call.name in _MATMULS:
        return _recorded_matmul(call)
    return None


def _torch_count(node: LayerNode, module: nn.Module | None, mode: str) -> Count:
    macs, text = _torch(node, module, mode)
    formulas = [Formula("MACs", text)]
    if macs:
        formulas.append(Formula("FLOPs", f"2 × {_n(macs)} = {_n(2 * macs)} (FlopCounterMode: 2 per multiply-add)"))
    return macs, 2 * macs, formulas


# --- thop ----------------------------------------------------------------------------------------

_THOP_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
_THOP_NORM = (
    nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm, nn.LayerNorm,
    nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d,
)  # fmt: skip
_THOP_ZERO = (
    nn.ZeroPad2d, nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d,
    nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d, nn.Dropout, nn.PixelShuffle,
)  # fmt: skip
_THOP_AVG = (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)
_THOP_ADAPTIVE_AVG = (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d)
_THOP_UPSAMPLE = (nn.Upsample, nn.UpsamplingBilinear2d, nn.UpsamplingNearest2d)
_THOP_UPSAMPLE_FACTOR = {"nearest": 1, "linear": 5, "bilinear": 11, "bicubic": 259, "trilinear": 31}


def _thop(node: LayerNode, module: nn.Module | None, mode: str) -> _Native:
    if module is None:
        return 0, "0 (thop counts modules only; a functional op has no hook)"
    out, in_shape = node.output_shape, node.input_shapes[0] if node.input_shapes else node.output_shape
    name = type(module).__name__
    if _exact(module, _THOP_CONV):
        cin, kernel = in_shape[0], tuple(module.weight.shape[2:])
        groups = module.groups
        macs = _numel(out) * (cin // groups) * _numel(kernel)
        cin_text = str(cin) if groups == 1 else f"{cin}/{groups}"
        return macs, f"{_product(out)} × ({cin_text} × {_product(kernel)}) = {_n(macs)} (bias not counted)"
    if _exact(module, _THOP_NORM):
        affine = bool(getattr(module, "affine", False) or getattr(module, "elementwise_affine", False))
        numel = _numel(in_shape)
        if affine:
            return 4 * numel, f"2 × 2 × {_product(in_shape)} = {_n(4 * numel)} (thop: 2 per element, × 2 with the affine scale and shift)"
        return 2 * numel, f"2 × {_product(in_shape)} = {_n(2 * numel)} (thop: 2 per element)"
    if _exact(module, (nn.PReLU,)):
        return _numel(in_shape), f"{_product(in_shape)} = {_n(_numel(in_shape))} (1 per element)"
    if _exact(module, (nn.Softmax,)):
        if module.dim is None or not in_shape:
            return 0, "0 (not counted: thop needs Softmax's dim)"
        features = (1, *in_shape)[module.dim]
        rows = _numel(in_shape) // features
        total = rows * (3 * features - 1)
        return total, f"{rows} × (3 × {features} − 1) = {_n(total)} (exp, sum and divide per row)"
    if _exact(module, _THOP_ZERO):
        return 0, f"0 (thop's zero_ops for {name})"
    if _exact(module, _THOP_AVG):
        return _numel(out), f"{_product(out)} = {_n(_numel(out))} (thop: 1 per output element)"
    if _exact(module, _THOP_ADAPTIVE_AVG):
        return _thop_adaptive_average(in_shape, out)
    if _exact(module, (nn.Linear,)):
        total = module.in_features * _numel(out)
        return total, f"{module.in_features} × {_product(out)} = {_n(total)} (bias not counted)"
    if _exact(module, _THOP_UPSAMPLE):
        factor = _THOP_UPSAMPLE_FACTOR.get(str(module.mode))
        if factor is None:
            return 0, f"0 (thop counts {module.mode} upsampling as zero)"
        return factor * _numel(out), f"{factor} × {_product(out)} = {_n(factor * _numel(out))} ({module.mode}, per output element)"
    return 0, f"0 (thop has no rule for {name}: it looks modules up by exact type)"


def _thop_adaptive_average(in_shape: Shape, out: Shape) -> _Native:
    """thop: (∏ In/Out + 1) × output elements, multiplied in floating point and truncated.

    Exactly, that is input elements + output elements; the float product can fall just short of
    that integer, and then thop's ``int()`` gives one less, which the formula says.
    """
    window = 1.0
    for i, o in zip(in_shape[1:], out[1:]):
        window *= i / o
    total = int((window + 1) * _numel(out))
    if all(i % o == 0 for i, o in zip(in_shape[1:], out[1:])):
        kernel = " × ".join(str(i // o) for i, o in zip(in_shape[1:], out[1:]))
        return total, f"({kernel} + 1) × {_product(out)} = {_n(total)} (thop: the window plus a division per output)"
    kernel = " × ".join(f"{i}/{o}" for i, o in zip(in_shape[1:], out[1:]))
    exact = math.floor((math.prod(Fraction(i, o) for i, o in zip(in_shape[1:], out[1:])) + 1) * _numel(out))
    short = exact - total
    rounding = f" − {short}" if short else ""
    note = "thop: the mean window plus a division per output"
    if short:
        note += "; it multiplies in floating point and truncates, one less"
    return total, f"⌊({kernel} + 1) × {_product(out)}⌋{rounding} = {_n(total)} ({note})"


# --- ptflops ---------------------------------------------------------------------------------------

_PT_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_PT_CONV_TRANSPOSED = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
_PT_ACTIVATION = (nn.ReLU, nn.PReLU, nn.ELU, nn.LeakyReLU, nn.ReLU6, nn.GELU)
_PT_POOL = (
    nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d,
    nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d,
    nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
)  # fmt: skip
_PT_NORM = (
    nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d,
    nn.GroupNorm, nn.LayerNorm,
)  # fmt: skip
#: torch.nn.functional calls ptflops replaces with counting wrappers (1 per input element).
_PT_FUNCTIONAL_NUMEL = frozenset(
    {"relu", "prelu", "elu", "relu6", "gelu", "silu", "softmax"}
    | {f"{kind}_pool{d}d" for kind in ("avg", "max") for d in (1, 2, 3)}
    | {f"adaptive_{kind}_pool{d}d" for kind in ("avg", "max") for d in (1, 2, 3)}
)
#: Which patched functional each torch.nn module's forward calls (so ptflops counts it a second time).
_PT_FORWARD_CALLS: tuple[tuple[type[nn.Module], str], ...] = (
    (nn.ReLU, "F.relu"), (nn.PReLU, "F.prelu"), (nn.ELU, "F.elu"), (nn.GELU, "F.gelu"), (nn.SiLU, "F.silu"),
    (nn.Softmax, "F.softmax"), (nn.modules.pooling._MaxPoolNd, "F.max_pool"), (nn.modules.pooling._AvgPoolNd, "F.avg_pool"),
    (nn.modules.pooling._AdaptiveAvgPoolNd, "F.adaptive_avg_pool"), (nn.modules.pooling._AdaptiveMaxPoolNd, "F.adaptive_max_pool"),
    (nn.Upsample, "F.interpolate"),
)  # fmt: skip


def _ptflops_hook(node: LayerNode, module: nn.Module) -> tuple[int, str] | None:
    """The module hook's count (exact types only), as a (value, expression) term."""
    out, in_shape = node.output_shape, node.input_shapes[0] if node.input_shapes else node.output_shape
    if _exact(module, _PT_CONV) or _exact(module, _PT_CONV_TRANSPOSED):
        macs, text = _conv_products(node, module)
        if module.bias is None:
            return macs, text
        return macs + _numel(out), f"{text} + {_product(out)}"
    if _exact(module, _PT_ACTIVATION):
        return _numel(out), _product(out)
    if _exact(module, _PT_POOL):
        return _numel(in_shape), _product(in_shape)
    if _exact(module, _PT_NORM):
        affine = bool(getattr(module, "affine", False))  # LayerNorm's is elementwise_affine: ptflops misses it
        return (2 * _numel(in_shape), f"2 × {_product(in_shape)}") if affine else (_numel(in_shape), _product(in_shape))
    if _exact(module, (nn.Linear,)):
        rows = _numel(in_shape[:-1])
        per_row = module.in_features * module.out_features + (module.out_features if module.bias is not None else 0)
        bias = f" + {module.out_features}" if module.bias is not None else ""
        text = f"{module.in_features} × {module.out_features}{bias}"
        return rows * per_row, (f"{rows} × ({text})" if rows > 1 else text)
    if _exact(module, (nn.Upsample,)):
        return _numel(out), _product(out)
    return None


def _ptflops_functional(name: str, node: LayerNode) -> tuple[int, str] | None:
    """A patched functional's count from the node's shapes."""
    if name in _PT_FUNCTIONAL_NUMEL and node.input_shapes:
        return _numel(node.input_shapes[0]), _product(node.input_shapes[0])
    if name in {"interpolate", "upsample"}:
        return _numel(node.output_shape), _product(node.output_shape)
    if name in {"matmul", "mm", "bmm"} and len(node.input_shapes) >= 2:
        a, out = node.input_shapes[0], node.output_shape[-1]
        return _numel(a) * out, f"{_product(a)} × {out}"
    if name in {"addmm", "baddbmm"} and len(node.input_shapes) >= 3:
        bias, a, out = node.input_shapes[0], node.input_shapes[1], node.output_shape[-1]
        return _numel(a) * out + _numel(bias), f"{_product(a)} × {out} + {_product(bias) or '1'}"
    return None


def _ptflops_lrn(node: LayerNode, module: nn.Module) -> tuple[list[tuple[int, str]], str]:
    """F.local_response_norm's patched calls: input.mul(input), the avg pool over padded channels, .mul(α), .add(k)."""
    shape = node.input_shapes[0]
    c, rest = shape[0], shape[1:]
    padded = (c + module.size - 1, *rest)
    numel = _product(shape)
    return (
        [(_numel(shape), numel), (_numel(padded), f"({c} + {module.size} − 1) × {_product(rest)}"), (_numel(shape), numel), (_numel(shape), numel)],
        "Tensor.mul, F.avg_pool over the padded channels, Tensor.mul and Tensor.add inside F.local_response_norm",
    )


def _ptflops_call(call: _Call) -> tuple[int, str] | None:
    """A recorded call inside a custom module that ptflops's patches count."""
    if call.name in _PT_FUNCTIONAL_NUMEL or call.name.startswith(("max_pool", "avg_pool")):
        x = call.tensor(0, "input")
        return (_numel(_shape(x)), _product(_shape(x))) if x is not None else None
    if call.name in {"matmul", "mm", "bmm"}:
        return _recorded_matmul(call)
    return None


def _ptflops(node: LayerNode, module: nn.Module | None, mode: str) -> _Native:
    if module is None:
        counted = _ptflops_functional(node.op, node)
        if counted is None:
            return 0, f"0 (ptflops patches no {node.op}; + and * are never counted)"
        return _plus([counted], f"the patched {node.op}, 1 per input element" if node.op in _PT_FUNCTIONAL_NUMEL else f"the patched {node.op}")
    hook = _ptflops_hook(node, module)
    if isinstance(module, nn.LocalResponseNorm):
        terms, note = _ptflops_lrn(node, module)
        return _plus(terms, note)
    if not _torch_own(module) and hook is None and node.kind not in {"dropout", "reshape"}:
        return _recorded(node, module, _ptflops_call, "ptflops")
    again = next((call for cls, call in _PT_FORWARD_CALLS if isinstance(module, cls)), None)
    if again is not None and again.endswith("_pool"):  # F.max_pool2d, F.adaptive_avg_pool2d, …
        again = "F." + re.sub(r"(?<!^)(?=[A-Z])", "_", type(module).__name__).lower()
    terms = [hook] if hook is not None else []
    if again == "F.interpolate":  # counted by the output's size
        terms.append((_numel(node.output_shape), _product(node.output_shape)))
    elif again is not None and node.input_shapes:
        terms.append((_numel(node.input_shapes[0]), _product(node.input_shapes[0])))
    if not terms:
        return 0, f"0 (ptflops has no hook for {type(module).__name__} and its forward calls nothing it patches)"
    if hook is not None and again is not None:
        note = f"the {type(module).__name__} hook, then {again} counted again inside its forward"
    elif hook is not None:
        with_bias = isinstance(module, (nn.modules.conv._ConvNd, nn.Linear)) and module.bias is not None
        note = f"the {type(module).__name__} hook" + (", bias included" if with_bias else "")
    else:
        note = f"no hook for {type(module).__name__}; the patched {again} in its forward"
    return _plus(terms, note)


# --- the lecture ----------------------------------------------------------------------------------


def _lecture(node: LayerNode, module: nn.Module | None, mode: str) -> Count:
    return _rule_for(node, module)(node, module, mode)


# --- the registry ---------------------------------------------------------------------------------


def _rules(macs: str, flops: str) -> Mapping[str, str]:
    return MappingProxyType({**LECTURE_RULES, "macs": macs, "flops": flops})


_ALL: tuple[Convention, ...] = (
    Convention(
        name="lecture",
        title="lecture (the seeds' table)",
        tool=None,
        reports="MACs",
        reported_as="MACs (the lecture's table calls them FLOPs)",
        summary="conv + linear weights, pooling windows, LRN; FLOPs add 1 per element of BN, activations and adds",
        rules=LECTURE_RULES,
        count=_lecture,
    ),
    Convention(
        name="torchinfo",
        title="torchinfo 1.8 (Mult-Adds)",
        tool="torchinfo",
        reports="MACs",
        reported_as="Total mult-adds",
        summary="a leaf module's parameters × output positions for 'Conv' classes (bias included), its parameters once "
        "per image otherwise (linear with bias, BN 2·C); modules without parameters and functional ops 0",
        rules=_rules(
            "torchinfo 1.8: per leaf module, (weights + biases) × N·H'·W' when its class name contains 'Conv', else "
            "N × its parameters (linear: in·out + out; BatchNorm: 2·C); modules without parameters and functional ops: 0",
            "2 × MACs",
        ),
        count=_macs_first(_torchinfo),
    ),
    Convention(
        name="fvcore",
        title="fvcore 0.1.5 (FlopCountAnalysis)",
        tool="fvcore",
        reports="MACs",
        reported_as="flops (fvcore counts one fused multiply-add as one flop)",
        summary="traced aten ops: conv and linear without bias, BN 2 per element (5 in training), adaptive average "
        "pooling 1 per input element; ReLU, max pooling, add and mul 0",
        rules=_rules(
            "fvcore 0.1.5 (one fused multiply-add = one flop): conv and matmul/linear products without bias; batch_norm "
            "2 per element in eval (1 without affine), 5 in training; group/layer/instance norm 5; adaptive_avg_pool2d 1 "
            "per input element; upsample nearest 1, bilinear 4 per output; every other op 0",
            "2 × MACs",
        ),
        count=_macs_first(_fvcore),
    ),
    Convention(
        name="ptflops",
        title="ptflops 0.7.5 (PyTorch backend)",
        tool="ptflops",
        reports="MACs",
        reported_as="MACs (get_model_complexity_info)",
        summary="exact-type hooks: conv and linear with bias, activations 1 per output, poolings 1 per input, BN 2 per "
        "element; patched F.relu, F.silu, poolings, matmul count again inside the modules that call them",
        rules=_rules(
            "ptflops 0.7.5, PyTorch backend: hooks on exact module types (Conv: K·Cin·Cout/g per position + bias per "
            "output; ReLU/PReLU/ELU/LeakyReLU/ReLU6/GELU: 1 per output; every pooling: 1 per input element; "
            "BatchNorm/InstanceNorm/GroupNorm: 2 per element with affine, LayerNorm 1; Linear: in·out + out per row) plus "
            "patched functionals (F.relu, F.elu, F.prelu, F.relu6, F.gelu, F.silu, F.softmax, F.*pool*: 1 per input "
            "element; F.interpolate; torch.matmul/mm/bmm/addmm/baddbmm; torch.add/mul), counted again when a module's "
            "forward calls them",
            "2 × MACs",
        ),
        count=_macs_first(_ptflops),
    ),
    Convention(
        name="thop",
        title="thop 0.1.1 (profile)",
        tool="thop",
        reports="MACs",
        reported_as="MACs (profile's total_ops)",
        summary="exact-type hooks: conv without bias, linear, BN 2 per element (×2 affine), average pooling, adaptive "
        "average pooling (window + 1 per output); ReLU, max pooling, subclasses and unknown types 0",
        rules=_rules(
            "thop 0.1.1: hooks on exact module types: conv N·Cout·H'·W'·(Cin/g)·K (no bias); Linear in × output "
            "elements; BatchNorm/LayerNorm/InstanceNorm 2 per input element, × 2 with affine; AvgPool 1 per output; "
            "AdaptiveAvgPool (window + 1) per output; Softmax (3n − 1) per row; PReLU 1 per element; ReLU, ReLU6, "
            "LeakyReLU, max pooling, Dropout: 0; any other type (subclasses too) and functional ops: 0",
            "2 × MACs",
        ),
        count=_macs_first(_thop),
    ),
    Convention(
        name="torch",
        title="torch.utils.flop_counter (FLOPs)",
        tool="torch",
        reports="FLOPs",
        reported_as="FLOPs (FlopCounterMode.get_total_flops)",
        summary="2 FLOPs per multiply-add of convolutions and matrix products (no bias); nothing else",
        rules=_rules(
            "FLOPs / 2: the multiply-adds of convolutions and matrix products (torch.utils.flop_counter counts nothing else)",
            "torch.utils.flop_counter.FlopCounterMode: 2 per multiply-add of aten convolution, mm, addmm, bmm, baddbmm "
            "(bias not counted); every other op 0",
        ),
        count=_torch_count,
    ),
)
CONVENTIONS: Mapping[str, Convention] = MappingProxyType({c.name: c for c in _ALL})
assert tuple(CONVENTIONS) == CONVENTION_NAMES, "convention_names.py lists the registry's names, in its order"


def get_convention(name: str | Convention) -> Convention:
    """The convention called ``name``; ExplorerError for an unknown one."""
    if isinstance(name, Convention):
        return name
    convention = CONVENTIONS.get(name)
    if convention is None:
        raise ExplorerError(f"Unknown convention {name!r}: use {', '.join(CONVENTION_NAMES)}.")
    return convention
