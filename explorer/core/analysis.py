"""``analyze(model_or_name, input_shape, mode)``: the one entry point every view and the CLI use.

Zoo and torchvision models are built on the meta device (no weights, no memory) and traced
once per mode; changing the input shape only re-runs the shape propagation.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Iterator, Sequence

import torch
from torch import fx, nn
from torch.overrides import TorchFunctionMode

from explorer.core.conventions import get_convention
from explorer.core.errors import ExplorerError
from explorer.core.graph import build_graph, trace
from explorer.core.layers import Shape
from explorer.core.stats import ModelSummary, layer_stats
from explorer.core.usercode import running_user_code
from explorer.core.zoo.registry import USER_FAMILY, ModelSpec, get_spec

MODES = ("eval", "train")
_SHAPE_SEPARATORS = re.compile(r"\s*[x×,*]\s*|\s+")


def parse_input_shape(text: str | Sequence[int], *, channels: int | None = None) -> Shape:
    """``"3x224x224"`` → ``(3, 224, 224)``; a single size ``"224"`` keeps ``channels`` and is square."""
    if not isinstance(text, str):
        values = tuple(int(v) for v in text)
    else:
        parts = _SHAPE_SEPARATORS.split(text.strip().lower())
        if not all(p.isdigit() for p in parts):
            raise ExplorerError(
                f"Malformed input shape {text!r}: expected C×H×W, for example 3x224x224."
            )
        values = tuple(int(p) for p in parts)
        if len(values) == 1 and channels is not None:
            values = (channels, values[0], values[0])
    if not values or any(v <= 0 for v in values):
        raise ExplorerError(f"Malformed input shape {text!r}: every size must be a positive integer.")
    if any(v > 16384 for v in values[1:]) or (values and values[0] > 4096):
        raise ExplorerError(f"Input shape {text!r} is unreasonably large (at most 4096 channels and 16384 px).")
    return values


def _check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ExplorerError(f"Unknown mode {mode!r}: use 'eval' or 'train'.")
    return mode


@contextlib.contextmanager
def _in_mode(model: nn.Module, mode: str) -> Iterator[nn.Module]:
    """Put every submodule in ``mode``; restore each one's own flag afterwards (as torchinfo does)."""
    saved = [(m, m.training) for m in model.modules()]
    model.train(mode == "train")
    try:
        yield model
    finally:
        for module, training in saved:
            module.training = training


#: The in-place fills that weight initialisers (``torch.nn.init``) use. On a meta tensor they have
#: nothing to fill, but torch runs them through its Python reference kernels, whose first call
#: imports ``torch._dynamo`` (1.1 s here): ``_NoInitOnMeta`` returns the tensor untouched instead.
_INIT_FILLS = frozenset(
    [
        getattr(torch.Tensor, name)
        for name in (
            "normal_", "uniform_", "fill_", "zero_", "random_", "bernoulli_", "exponential_",
            "cauchy_", "log_normal_", "geometric_", "erfinv_", "clamp_", "mul_", "add_", "sub_", "div_",
        )
    ]
    + [  # the initialisers themselves, which torch also hands to the mode first
        getattr(nn.init, name)
        for name in (
            "normal_", "uniform_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_", "dirac_",
            "xavier_normal_", "xavier_uniform_", "kaiming_normal_", "kaiming_uniform_", "orthogonal_", "sparse_",
        )
        if hasattr(nn.init, name)
    ]
)  # fmt: skip


class _NoInitOnMeta(TorchFunctionMode):
    """While a model is built on the meta device, its initialisers' fills are no-ops (as they are in effect)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = kwargs or {}
        if func in _INIT_FILLS:
            tensor = args[0] if args else kwargs.get("tensor")  # nn.init hands its tensor over by keyword
            if isinstance(tensor, torch.Tensor) and tensor.is_meta:
                return tensor
        return func(*args, **kwargs)


def build_on_meta(spec: ModelSpec) -> nn.Module:
    """Build a spec without allocating weights; fall back to the CPU for builders that need it."""
    try:
        with torch.device("meta"), _NoInitOnMeta():
            return spec.build()
    except ExplorerError:
        raise
    except Exception:
        return spec.build()


@functools.lru_cache(maxsize=48)
def _cached_model(name: str, mode: str) -> tuple[nn.Module, fx.Graph | None]:
    spec = get_spec(name)
    model = build_on_meta(spec)
    model.train(mode == "train")
    try:
        traced = trace(model)
    except Exception:  # fx cannot trace it: build_graph records the ops instead
        traced = None
    return model, traced


def analyze(
    model_or_name: nn.Module | str,
    input_shape: Sequence[int] | str | None = None,
    mode: str = "eval",
    convention: str = "lecture",
) -> ModelSummary:
    """Shapes, params, MACs/FLOPs, memory and receptive field of every layer.

    ``model_or_name`` is a zoo or torchvision name, ``path/file.py:factory``, or an ``nn.Module``.
    ``input_shape`` is C×H×W without the batch (default: the spec's). ``convention`` says whose
    counting rules the MACs and FLOPs follow (``conventions.CONVENTION_NAMES``). Raises
    ExplorerError for anything the user can get wrong.
    """
    _check_mode(mode)
    convention = get_convention(convention).name  # an unknown name fails before any work
    if isinstance(model_or_name, nn.Module):
        if input_shape is None:
            raise ExplorerError("An input shape is needed to analyze a model instance.")
        shape = parse_input_shape(input_shape)
        with _in_mode(model_or_name, mode):
            graph = build_graph(model_or_name, shape)
        name = title = type(model_or_name).__name__
        differences = ""
    else:
        spec = get_spec(model_or_name)
        shape = spec.input_shape if input_shape is None else parse_input_shape(input_shape, channels=spec.input_shape[0])
        if spec.family == USER_FAMILY:
            model = build_on_meta(spec)
            with _in_mode(model, mode), running_user_code(f"tracing {spec.name}"):
                graph = build_graph(model, shape)
        else:
            model, traced = _cached_model(spec.name, mode)
            graph = build_graph(model, shape, traced=traced)
        name, title, differences = spec.name, spec.title, spec.paper_differences
    rows, totals = layer_stats(graph, mode, convention)
    return ModelSummary(
        model=name, title=title, input_shape=shape, mode=mode, graph=graph, rows=tuple(rows), totals=totals,
        convention=convention, paper_differences=differences,
    )  # fmt: skip
