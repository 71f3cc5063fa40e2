"""What-if edits: change a layer, swap or remove a block, change the input — and re-analyse.

An **edit** is a small value that serialises to JSON (``Edit.to_dict``/``edit_from_dict``):

- ``SetLayer("features.0", kernel_size=7, padding=3)`` — a layer's hyperparameters (kernel, stride,
  padding, dilation, groups, out channels/features, bias; pooling windows; dropout p);
- ``ReplaceLayer("c3", (LayerSpec("conv", out_channels=16, kernel_size=5),))`` — a module by one
  layer, a chain of layers, or a torchvision residual block;
- ``RemoveLayer("layer1.0.add")`` — a module (bypassed: its input takes its place), a branch (from a
  split to a ``cat``: the cat loses it), or a merge (``add``/``mul``: the shortcut or gate is gone);
- ``SetInput((3, 448, 448))`` — the input shape.

``what_if(model, edits)`` applies them to a copy of the zoo's meta-device model (copy on write: only
the modules on an edited path are copied, so the cached model is never touched) and to a copy of its
``torch.fx`` graph, then runs the same shape propagation and counting as ``analyze``: every number of
the edited model comes from the code that produced the original's. On the way, a layer whose input no
longer fits (a conv's ``in_channels``, a BatchNorm's ``num_features``, a linear's ``in_features``
after a flatten, a depthwise conv's groups) is rebuilt to fit and listed in ``WhatIf.propagated``.
An edit that cannot work (an ``add`` of unequal shapes, a ``cat`` of unequal sizes, an empty output)
raises ``ExplorerError`` naming the first layer that breaks.

The same edits replay on a real CPU model (``build_edited``): untrained, or with pretrained weights
where a layer's tensors keep their shapes and PyTorch's default initialisation for the new ones, as
an ``fx.GraphModule`` that runs, trains and exports to ONNX.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import functools
import inspect
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Union

import torch
from torch import fx, nn

from explorer.core.compare import QUANTITIES, ratio
from explorer.core.errors import ExplorerError
from explorer.core.graph import INPUT_NAME, GraphBuildError, LayerGraph, graph_and_layer_names, is_leaf, trace
from explorer.core.layers import Shape, conv_output_size
from explorer.core.stats import LayerStats, ModelSummary, layer_stats

EDIT_FILE_FORMAT = "cnn-explorer-edits"
EDIT_FILE_VERSION = 1

# --- edit values -----------------------------------------------------------------------------------

Value = Union[int, float, bool, tuple[int, ...]]


def _frozen(values: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple((key, tuple(v) if isinstance(v, list) else v) for key, v in values.items())


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


@dataclass(frozen=True)
class SetLayer:
    """Set hyperparameters of one layer (a module path): ``SetLayer("features.0", kernel_size=7)``."""

    layer: str
    changes: tuple[tuple[str, Value], ...]

    def __init__(self, layer: str, changes: Mapping[str, Any] | Iterable[tuple[str, Any]] = (), **values: Any) -> None:
        merged = dict(changes) | values
        object.__setattr__(self, "layer", layer)
        object.__setattr__(self, "changes", _frozen(merged))

    @property
    def values(self) -> dict[str, Value]:
        return dict(self.changes)

    def to_dict(self) -> dict[str, Any]:
        return {"op": "set", "layer": self.layer, **{k: _jsonable(v) for k, v in self.changes}}

    def describe(self) -> str:
        return f"set {self.layer}: " + ", ".join(f"{k} = {_value_text(v)}" for k, v in self.changes)


@dataclass(frozen=True)
class LayerSpec:
    """One layer of a replacement: ``LayerSpec("conv", out_channels=64, kernel_size=3, padding=1)``.

    Channel counts flowing in (a conv's ``in_channels``, a BatchNorm's, a linear's ``in_features``)
    are never given: they come from what the layer receives.
    """

    type: str
    options: tuple[tuple[str, Value], ...] = ()

    def __init__(self, type: str, options: Mapping[str, Any] | Iterable[tuple[str, Any]] = (), **values: Any) -> None:  # noqa: A002
        object.__setattr__(self, "type", type)
        object.__setattr__(self, "options", _frozen(dict(options) | values))

    @property
    def values(self) -> dict[str, Value]:
        return dict(self.options)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, **{k: _jsonable(v) for k, v in self.options}}

    def describe(self) -> str:
        options = ", ".join(f"{k}={_value_text(v)}" for k, v in self.options)
        return f"{self.type}({options})" if options else self.type


@dataclass(frozen=True)
class ReplaceLayer:
    """Replace a module (leaf or block) by the layers of ``replacement``, in order."""

    layer: str
    replacement: tuple[LayerSpec, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"op": "replace", "layer": self.layer, "with": [spec.to_dict() for spec in self.replacement]}

    def describe(self) -> str:
        return f"replace {self.layer} by " + " → ".join(spec.describe() for spec in self.replacement)


@dataclass(frozen=True)
class RemoveLayer:
    """Remove a module, a branch or a merge node (see the module docstring for which does what)."""

    layer: str

    def to_dict(self) -> dict[str, Any]:
        return {"op": "remove", "layer": self.layer}

    def describe(self) -> str:
        return f"remove {self.layer}"


@dataclass(frozen=True)
class SetInput:
    """Change the input shape (C×H×W, without the batch)."""

    shape: Shape

    def to_dict(self) -> dict[str, Any]:
        return {"op": "input", "shape": list(self.shape)}

    def describe(self) -> str:
        return "input " + "×".join(str(v) for v in self.shape)


Edit = Union[SetLayer, ReplaceLayer, RemoveLayer, SetInput]


def _value_text(value: Any) -> str:
    if isinstance(value, tuple):
        return "×".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def edit_from_dict(data: Mapping[str, Any]) -> Edit:
    """The inverse of ``Edit.to_dict``; a malformed entry is an ExplorerError."""
    if not isinstance(data, Mapping):
        raise ExplorerError(f"An edit must be a JSON object, not {data!r}.")
    op = data.get("op")
    if op == "input":
        from explorer.core.analysis import parse_input_shape

        return SetInput(parse_input_shape(data.get("shape") or ""))
    layer = data.get("layer")
    if not isinstance(layer, str) or not layer:
        raise ExplorerError(f"The {op!r} edit needs a \"layer\" (a name from `cnn-explorer summary`): {dict(data)}")
    if op == "set":
        changes = {k: v for k, v in data.items() if k not in {"op", "layer"}}
        if not changes:
            raise ExplorerError(f"The set edit of {layer} changes nothing.")
        return SetLayer(layer, changes)
    if op == "replace":
        specs = data.get("with")
        if isinstance(specs, Mapping):
            specs = [specs]
        if not isinstance(specs, list) or not specs:
            raise ExplorerError(f"The replace edit of {layer} needs \"with\": a list of layers.")
        return ReplaceLayer(layer, tuple(_spec_from_dict(s) for s in specs))
    if op == "remove":
        return RemoveLayer(layer)
    raise ExplorerError(f"Unknown edit {op!r}: use set, replace, remove or input.")


def _spec_from_dict(data: Any) -> LayerSpec:
    if not isinstance(data, Mapping) or not isinstance(data.get("type"), str):
        raise ExplorerError(f"A replacement layer needs a \"type\" ({', '.join(LAYER_TYPES)}): {data!r}")
    return LayerSpec(data["type"], {k: v for k, v in data.items() if k != "type"})


@dataclass(frozen=True)
class EditFile:
    """What File → Save edits writes: the model, its mode and input, and the edits in order."""

    model: str
    edits: tuple[Edit, ...]
    mode: str = "eval"
    input_shape: Shape | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": EDIT_FILE_FORMAT,
            "version": EDIT_FILE_VERSION,
            "model": self.model,
            "mode": self.mode,
            "input_shape": list(self.input_shape) if self.input_shape else None,
            "edits": [edit.to_dict() for edit in self.edits],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    def save(self, path: str | Path) -> None:
        from explorer.core.paths import atomic_write, check_output_file

        with atomic_write(check_output_file(path)) as staged:  # a full disk or a signal keeps the old file
            staged.write_text(self.to_json(), encoding="utf-8")

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "The edit file") -> EditFile:
        if not isinstance(data, Mapping) or data.get("format") != EDIT_FILE_FORMAT:
            raise ExplorerError(f"{source} is not a cnn-explorer edit file (no \"format\": \"{EDIT_FILE_FORMAT}\").")
        if data.get("version") != EDIT_FILE_VERSION:
            raise ExplorerError(f"{source} has version {data.get('version')!r}; this cnn-explorer reads version {EDIT_FILE_VERSION}.")
        model, edits = data.get("model"), data.get("edits")
        if not isinstance(model, str) or not isinstance(edits, list):
            raise ExplorerError(f"{source} needs a \"model\" name and a list of \"edits\".")
        from explorer.core.analysis import _check_mode, parse_input_shape

        shape = data.get("input_shape")
        return cls(
            model=model,
            edits=tuple(edit_from_dict(e) for e in edits),
            mode=_check_mode(str(data.get("mode", "eval"))),
            input_shape=parse_input_shape(shape) if shape else None,
        )

    @classmethod
    def load(cls, path: str | Path) -> EditFile:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as error:
            raise ExplorerError(f"Cannot read {path}: {error.strerror or error}.") from None
        except json.JSONDecodeError as error:
            raise ExplorerError(f"{path.name} is not valid JSON: {error.msg} (line {error.lineno}).") from None
        return cls.from_dict(data, source=path.name)


# --- text forms for the command line -------------------------------------------------------------


def parse_value(text: str) -> Value:
    """``7`` → 7, ``7x7`` or ``7,7`` → (7, 7), ``true``/``false``, ``0.5``."""
    cleaned = text.strip().lower()
    if cleaned in {"true", "yes", "on"}:
        return True
    if cleaned in {"false", "no", "off"}:
        return False
    parts = [p for p in cleaned.replace("×", "x").replace(",", "x").split("x")]
    try:
        if len(parts) > 1:
            return tuple(int(p) for p in parts)
        return int(cleaned)
    except ValueError:
        pass
    try:
        return float(cleaned)
    except ValueError:
        raise ExplorerError(f"Malformed value {text!r}: expected a number, AxB, true or false.") from None


#: Short names accepted on the command line for the fields of --set and --replace.
FIELD_ALIASES: Mapping[str, str] = MappingProxyType(
    {"k": "kernel_size", "kernel": "kernel_size", "s": "stride", "p": "padding", "pad": "padding", "d": "dilation",
     "g": "groups", "out": "out_channels", "c": "out_channels", "channels": "out_channels", "features": "out_features"}
)  # fmt: skip


def parse_set(text: str) -> SetLayer:
    """``features.0.kernel_size=7`` → SetLayer("features.0", kernel_size=7)."""
    target, sep, value = text.partition("=")
    layer, dot, name = target.strip().rpartition(".")
    if not sep or not dot or not layer or not name:
        raise ExplorerError(f"Malformed --set {text!r}: expected LAYER.FIELD=VALUE, for example features.0.kernel_size=7.")
    return SetLayer(layer, {FIELD_ALIASES.get(name, name): parse_value(value)})


def parse_layer_specs(text: str) -> tuple[LayerSpec, ...]:
    """``conv:out=64,k=3,p=1 + relu`` → two LayerSpecs (JSON, a list of objects, is accepted too)."""
    text = text.strip()
    if text.startswith(("[", "{")):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise ExplorerError(f"Malformed replacement JSON: {error.msg}.") from None
        return tuple(_spec_from_dict(item) for item in (data if isinstance(data, list) else [data]))
    specs = []
    for part in (p.strip() for p in text.split("+")):
        if not part:
            raise ExplorerError(f"Malformed replacement {text!r}: an empty layer between '+'.")
        kind, _, options = part.partition(":")
        values: dict[str, Value] = {}
        for option in (o.strip() for o in options.split(",") if o.strip()) if options else ():
            key, eq, value = option.partition("=")
            if not eq:
                raise ExplorerError(f"Malformed option {option!r} in {part!r}: expected NAME=VALUE.")
            values[FIELD_ALIASES.get(key.strip(), key.strip())] = parse_value(value.replace(";", ","))
        specs.append(LayerSpec(kind.strip().lower(), values))
    return tuple(specs)


def parse_remove(text: str) -> RemoveLayer:
    if not text.strip():
        raise ExplorerError("--remove needs a layer name.")
    return RemoveLayer(text.strip())


def parse_replace(text: str) -> ReplaceLayer:
    """``c3=conv:out=16,k=5`` → ReplaceLayer("c3", (LayerSpec("conv", out_channels=16, kernel_size=5),))."""
    layer, sep, specs = text.partition("=")
    if not sep or not layer.strip() or not specs.strip():
        raise ExplorerError(f"Malformed --replace {text!r}: expected LAYER=TYPE[:OPTIONS][+TYPE...], e.g. c3=conv:out=16,k=5.")
    return ReplaceLayer(layer.strip(), parse_layer_specs(specs))


# --- what can be edited ------------------------------------------------------------------------------

_CONV_FIELDS = ("out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "bias")
_LINEAR_FIELDS = ("out_features", "bias")
_POOL_FIELDS = ("kernel_size", "stride", "padding")
_PAIR_FIELDS = frozenset({"kernel_size", "stride", "padding", "dilation", "output_size"})


def editable_fields(module: nn.Module) -> tuple[str, ...]:
    """The hyperparameters ``SetLayer`` may change on ``module`` (empty: replace it instead)."""
    kind = type(module)
    if isinstance(module, nn.modules.conv._ConvNd) and not module.transposed:
        # A SAME-padded conv computes its padding from the input: the padding is not a setting.
        return tuple(f for f in _CONV_FIELDS if f != "padding" or "padding" in _init_parameters(kind))
    if kind is nn.Linear:
        return _LINEAR_FIELDS
    if isinstance(module, (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)):
        return _POOL_FIELDS
    if isinstance(module, (nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd)):
        return ("output_size",)
    if isinstance(module, nn.modules.dropout._DropoutNd):
        return ("p",)
    return ()


@functools.cache
def _init_parameters(kind: type) -> frozenset[str]:
    try:
        return frozenset(inspect.signature(kind.__init__).parameters) - {"self", "args", "kwargs"}
    except (TypeError, ValueError):
        return frozenset()


#: Constructor arguments read back from a module's attributes, to build a changed copy of it.
_CONSTRUCTOR_ATTRIBUTES = (
    "in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "padding_mode",
    "in_features", "out_features", "num_features", "eps", "momentum", "affine", "track_running_stats",
    "output_size", "ceil_mode", "count_include_pad", "divisor_override", "return_indices", "p", "inplace",
    "size", "alpha", "beta", "k",
)  # fmt: skip


def _device_of(module: nn.Module) -> torch.device:
    tensor = next(iter(module.parameters()), None)
    if tensor is None:
        tensor = next(iter(module.buffers()), None)
    return tensor.device if tensor is not None else torch.device("meta")


def _rebuilt(module: nn.Module, changes: Mapping[str, Any], *, device: torch.device | None = None) -> nn.Module:
    """A new module of the same class with ``changes``; tensors whose shape did not change are kept."""
    kind = type(module)
    accepted = _init_parameters(kind)
    arguments = {name: getattr(module, name) for name in _CONSTRUCTOR_ATTRIBUTES if name in accepted and hasattr(module, name)}
    if "bias" in accepted:
        arguments["bias"] = getattr(module, "bias", None) is not None
    arguments.update(changes)
    with torch.device(device or _device_of(module)):
        new = kind(**arguments)
    new.train(module.training)
    _keep_matching_tensors(module, new)
    return new


def _keep_matching_tensors(old: nn.Module, new: nn.Module) -> None:
    """Pretrained weights survive an edit that keeps their shape (a stride or padding change)."""
    if _device_of(old).type == "meta" or _device_of(new).type == "meta":
        return
    state = new.state_dict()
    kept = {k: v for k, v in old.state_dict().items() if k in state and state[k].shape == v.shape}
    if kept:
        new.load_state_dict(kept, strict=False)


def _spatial_rank(module: nn.Module) -> int:
    kernel = getattr(module, "kernel_size", None)
    if isinstance(kernel, tuple):
        return len(kernel)
    return {"1d": 1, "2d": 2, "3d": 3}.get(type(module).__name__[-2:].lower(), 2)


def _normalised(where: str, module: nn.Module, name: str, value: Any) -> Any:
    """A field's value as ``module``'s constructor wants it, or an ExplorerError saying why not."""
    if name == "bias":
        if not isinstance(value, bool):
            raise ExplorerError(f"{where}: bias must be true or false, not {value!r}.")
        return value
    if name == "p":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise ExplorerError(f"{where}: p must be a probability between 0 and 1, not {value!r}.")
        return float(value)
    values = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    if not values or any(isinstance(v, bool) or not isinstance(v, int) for v in values):
        raise ExplorerError(f"{where}: {name} must be a whole number (or H×W), not {_value_text(value)}.")
    smallest = 0 if name == "padding" else 1
    if any(v < smallest for v in values):
        raise ExplorerError(f"{where}: {name} must be at least {smallest}, not {_value_text(value)}.")
    if name not in _PAIR_FIELDS:
        if len(values) != 1:
            raise ExplorerError(f"{where}: {name} is one number, not {_value_text(value)}.")
        return values[0]
    rank = _spatial_rank(module)
    if len(values) not in (1, rank):
        raise ExplorerError(f"{where}: {name} has {rank} axes, not {len(values)}.")
    if name == "output_size" and len(values) == 1:
        return values[0]
    return values * rank if len(values) == 1 else values


@dataclass(frozen=True)
class FieldProblem:
    """Why a value in the Edit panel does not work (``blocking``) or works with a catch."""

    field: str
    message: str
    blocking: bool


def check_set(row: LayerStats, changes: Mapping[str, Any]) -> tuple[FieldProblem, ...]:
    """Validate ``changes`` to a conv or pooling layer against the input it receives (pure arithmetic).

    Blocking: an empty output, groups that do not divide the channels, a pooling padding above half
    the window. Not blocking, but shown red as CNN Explainer does: a padding above K − 1 (outputs that
    see only padding), and an output size that is not whole (input rows and columns never read).
    """
    settings = dict(row.hyperparameters) | dict(changes)
    problems: list[FieldProblem] = []
    if "kernel_size" not in settings or not row.input_shapes or isinstance(settings.get("padding"), str):
        return ()
    ceil_mode = bool(settings.get("ceil_mode", False))
    in_shape = row.input_shapes[0]
    spatial = in_shape[1:]
    n = len(spatial)

    def axes(name: str, default: int) -> tuple[int, ...]:
        value = settings.get(name, default)
        value = default if value is None else value
        return tuple(value) if isinstance(value, (tuple, list)) else (int(value),) * n

    try:
        kernel, stride, padding, dilation = axes("kernel_size", 1), axes("stride", 1), axes("padding", 0), axes("dilation", 1)
        stride = stride if settings.get("stride") is not None else kernel
    except (TypeError, ValueError):
        return ()
    if not (len(kernel) == len(stride) == len(padding) == len(dilation) == n):
        return ()
    is_conv = "out_channels" in settings
    if is_conv:
        groups = int(settings.get("groups", 1))
        in_channels, out_channels = in_shape[0], int(settings["out_channels"])
        if groups < 1 or in_channels % groups or out_channels % groups:
            problems.append(
                FieldProblem("groups", f"groups {groups} must divide the {in_channels} input and {out_channels} output channels", True)
            )
    names = ("H", "W") if n == 2 else tuple(f"axis {i}" for i in range(n))
    per_axis: dict[tuple[str, str, bool], list[str]] = {}  # the same problem on H and on W is said once
    for i in range(n):
        k_eff = dilation[i] * (kernel[i] - 1) + 1
        span = spatial[i] + 2 * padding[i] - k_eff
        found: list[tuple[str, str, bool]] = []
        if not is_conv and padding[i] > kernel[i] // 2:
            found.append(("padding", f"padding {padding[i]} is more than half the {kernel[i]}-wide window", True))
        elif is_conv and padding[i] > k_eff - 1:
            found.append(("padding", f"padding {padding[i]} > K − 1 = {k_eff - 1}: the outer outputs see only padding", False))
        if span < 0:
            found.append(("kernel_size", f"the {k_eff}-px kernel is larger than the padded input ({spatial[i]} + 2×{padding[i]} = {spatial[i] + 2 * padding[i]} px)", True))
        elif span % stride[i] and not ceil_mode:
            out = conv_output_size(spatial[i], kernel[i], stride[i], padding[i], dilation[i])
            exact = f"({spatial[i]} − {k_eff} + 2×{padding[i]})/{stride[i]} = {span / stride[i]:g}"
            left = span % stride[i]
            found.append(("stride", f"{exact} is not whole; the output is {out} and the last {left} px {'is' if left == 1 else 'are'} never read", False))
        for key in found:
            per_axis.setdefault(key, []).append(names[i])
    for (field_name, message, blocking), axes_named in per_axis.items():
        where = " and ".join(axes_named) if n > 1 else ""
        problems.append(FieldProblem(field_name, f"{where}: {message}" if where else message, blocking))
    return tuple(problems)


# --- replacement layers --------------------------------------------------------------------------------

#: The layer types a replacement may use, with their required and optional settings.
LAYER_TYPES: Mapping[str, str] = MappingProxyType(
    {
        "conv": "out_channels, kernel_size (3), stride (1), padding (0), dilation (1), groups (1), bias (true)",
        "linear": "out_features, bias (true)",
        "bn": "BatchNorm over the channels it receives",
        "relu": "", "relu6": "", "tanh": "", "sigmoid": "", "silu": "",
        "maxpool": "kernel_size (2), stride (= kernel), padding (0)",
        "avgpool": "kernel_size (2), stride (= kernel), padding (0)",
        "gap": "global average pooling: output_size (1)",
        "flatten": "",
        "dropout": "p (0.5)",
        "identity": "",
        "lrn": "size (5), alpha (1e-4), beta (0.75), k (2)",
        "basic_block": "torchvision's ResNet BasicBlock: planes, stride (1)",
        "bottleneck": "torchvision's ResNet Bottleneck (out = 4 × planes): planes, stride (1)",
    }
)  # fmt: skip
_ACTIVATIONS: Mapping[str, type[nn.Module]] = MappingProxyType(
    {"relu": nn.ReLU, "relu6": nn.ReLU6, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "silu": nn.SiLU}
)


def _take(spec: LayerSpec, allowed: Sequence[str]) -> dict[str, Any]:
    values = spec.values
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise ExplorerError(
            f"A {spec.type} layer has no setting {unknown[0]!r}; its settings: {', '.join(allowed) or 'none'}."
        )
    return values


def _build_layer(spec: LayerSpec, in_channels: int, rank: int) -> tuple[nn.Module, int]:
    """One replacement layer and the channels it outputs. ``in_channels`` is what it receives."""
    kind = spec.type
    if kind not in LAYER_TYPES:
        close = difflib.get_close_matches(kind, list(LAYER_TYPES), n=3)
        hint = f"Did you mean {', '.join(close)}?" if close else f"Types: {', '.join(LAYER_TYPES)}."
        raise ExplorerError(f"Unknown layer type {kind!r} in a replacement.", hint=hint)
    conv = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}.get(rank, nn.Conv2d)
    if kind == "conv":
        values = _take(spec, ("out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "bias"))
        out = values.pop("out_channels", in_channels)
        if isinstance(out, bool) or not isinstance(out, int) or out < 1:
            raise ExplorerError(f"A conv layer in a replacement needs a positive out_channels, not {out!r}.")
        values.setdefault("kernel_size", 3)
        probe = conv(1, 1, 1)  # only its class and rank matter to the checks
        values = {k: _normalised(f"The new {spec.describe()}", probe, k, v) for k, v in values.items()}
        return _checked(lambda: conv(in_channels, out, **values), spec), out
    if kind == "linear":
        values = _take(spec, ("out_features", "bias"))
        if "out_features" not in values:
            raise ExplorerError("A linear layer in a replacement needs out_features.")
        out = values["out_features"]
        if isinstance(out, bool) or not isinstance(out, int) or out < 1:
            raise ExplorerError(f"A linear layer in a replacement needs a positive out_features, not {out!r}.")
        # in_features is set to what arrives when the graph is propagated.
        return _checked(lambda: nn.Linear(1, out, bias=bool(values.get("bias", True))), spec), out
    if kind == "bn":
        _take(spec, ())
        return {1: nn.BatchNorm1d, 3: nn.BatchNorm3d}.get(rank, nn.BatchNorm2d)(in_channels), in_channels
    if kind in _ACTIVATIONS:
        _take(spec, ())
        return _ACTIVATIONS[kind](), in_channels
    if kind in {"maxpool", "avgpool"}:
        values = _take(spec, ("kernel_size", "stride", "padding"))
        pool = {"maxpool": nn.MaxPool2d, "avgpool": nn.AvgPool2d}[kind]
        return _checked(lambda: pool(values.get("kernel_size", 2), values.get("stride"), values.get("padding", 0)), spec), in_channels
    if kind == "gap":
        values = _take(spec, ("output_size",))
        return nn.AdaptiveAvgPool2d(values.get("output_size", 1)), in_channels
    if kind == "flatten":
        _take(spec, ())
        return nn.Flatten(), in_channels
    if kind == "dropout":
        values = _take(spec, ("p",))
        return _checked(lambda: nn.Dropout(float(values.get("p", 0.5))), spec), in_channels
    if kind == "identity":
        _take(spec, ())
        return nn.Identity(), in_channels
    if kind == "lrn":
        values = _take(spec, ("size", "alpha", "beta", "k"))
        return _checked(lambda: nn.LocalResponseNorm(**({"size": 5, "alpha": 1e-4, "beta": 0.75, "k": 2.0} | values)), spec), in_channels
    return _residual_block(spec, in_channels)


def _residual_block(spec: LayerSpec, in_channels: int) -> tuple[nn.Module, int]:
    from torchvision.models.resnet import BasicBlock, Bottleneck

    values = _take(spec, ("planes", "stride"))
    if "planes" not in values:
        raise ExplorerError(f"A {spec.type} needs planes (its width).")
    planes, stride = int(values["planes"]), int(values.get("stride", 1))
    block = BasicBlock if spec.type == "basic_block" else Bottleneck
    out = planes * block.expansion
    downsample = None
    if stride != 1 or in_channels != out:  # torchvision's rule: a 1×1 projection where the shape changes
        downsample = nn.Sequential(nn.Conv2d(in_channels, out, 1, stride=stride, bias=False), nn.BatchNorm2d(out))
    return _checked(lambda: block(in_channels, planes, stride=stride, downsample=downsample), spec), out


def _checked(build: Any, spec: LayerSpec) -> nn.Module:
    try:
        return build()
    except (TypeError, ValueError, RuntimeError) as error:
        raise ExplorerError(f"The replacement layer {spec.describe()} cannot be built: {_first_line(error)}") from None


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


# --- the result ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Propagation:
    """A layer rebuilt to fit what it now receives: ``features.3 in_channels 64 → 96``."""

    layer: str  # module path
    field: str  # in_channels, num_features, in_features, groups, out_channels (depthwise)
    before: int
    after: int

    def describe(self) -> str:
        return f"{self.layer} {self.field} {self.before:,} → {self.after:,}"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


#: Diff statuses, in the order the legend lists them.
STATUSES = ("edited", "added", "propagated", "affected", "removed", "same")


@dataclass(frozen=True)
class LayerDiff:
    """One layer of a diff: matched by name, or added / removed."""

    name: str
    status: str  # one of STATUSES
    before: LayerStats | None
    after: LayerStats | None

    @property
    def changed_fields(self) -> tuple[str, ...]:
        if self.before is None or self.after is None:
            return ()
        b, a = self.before, self.after
        pairs = (
            ("type", b.type, a.type), ("output", b.output_shape, a.output_shape), ("params", b.params, a.params),
            ("MACs", b.macs, a.macs), ("FLOPs", b.flops, a.flops), ("RF", b.receptive_field_hw, a.receptive_field_hw),
            ("jump", b.jump_hw, a.jump_hw), ("inputs", b.inputs, a.inputs),
        )  # fmt: skip
        return tuple(name for name, x, y in pairs if x != y)

    def to_dict(self) -> dict[str, Any]:
        def side(row: LayerStats | None) -> dict[str, Any] | None:
            if row is None:
                return None
            return {
                "type": row.type, "output_shape": list(row.output_shape), "params": row.params, "macs": row.macs,
                "flops": row.flops, "receptive_field": row.receptive_field, "jump": row.jump,
            }  # fmt: skip

        return {"name": self.name, "status": self.status, "changed": list(self.changed_fields),
                "before": side(self.before), "after": side(self.after)}  # fmt: skip


@dataclass(frozen=True)
class SummaryDiff:
    """Two analyses layer by layer, and their totals with the ratios after / before."""

    before: ModelSummary = field(repr=False)
    after: ModelSummary = field(repr=False)
    layers: tuple[LayerDiff, ...]
    ratios: Mapping[str, float | None]

    @property
    def changed(self) -> tuple[LayerDiff, ...]:
        return tuple(layer for layer in self.layers if layer.status != "same")

    def names(self, *statuses: str) -> frozenset[str]:
        return frozenset(layer.name for layer in self.layers if layer.status in statuses)

    def to_dict(self) -> dict[str, Any]:
        totals = {
            q: {"before": getattr(self.before.totals, q), "after": getattr(self.after.totals, q), "ratio": self.ratios[q]}
            for q in QUANTITIES
        }
        return {"layers": [layer.to_dict() for layer in self.changed], "totals": totals}


def diff_summaries(
    before: ModelSummary,
    after: ModelSummary,
    *,
    edited: Iterable[str] = (),
    propagated: Iterable[str] = (),
) -> SummaryDiff:
    """Pair the layers of two analyses by name; ``edited`` and ``propagated`` are module paths.

    A removed layer is listed where it was: after the last layer before it that both have.
    """
    edited, propagated = frozenset(edited), frozenset(propagated)
    after_names = {row.name for row in after.layers}
    before_by_name = {row.name: row for row in before.layers}
    removed_after: dict[str | None, list[LayerStats]] = {}
    anchor: str | None = None
    for row in before.layers:
        if row.name in after_names:
            anchor = row.name
        else:
            removed_after.setdefault(anchor, []).append(row)

    def status(old: LayerStats, new: LayerStats) -> str:
        path = new.node.module_path
        if path is not None and any(path == p or path.startswith(p + ".") for p in edited):
            return "edited"
        if path is not None and path in propagated:
            return "propagated"
        same = (
            old.type == new.type and old.output_shape == new.output_shape and old.params == new.params
            and old.macs == new.macs and old.flops == new.flops and old.receptive_field_hw == new.receptive_field_hw
            and old.jump_hw == new.jump_hw and old.inputs == new.inputs
        )  # fmt: skip
        return "same" if same else "affected"

    rows = [LayerDiff(r.name, "removed", r, None) for r in removed_after.get(None, [])]
    for new in after.layers:
        old = before_by_name.get(new.name)
        rows.append(LayerDiff(new.name, "added", None, new) if old is None else LayerDiff(new.name, status(old, new), old, new))
        rows += [LayerDiff(r.name, "removed", r, None) for r in removed_after.get(new.name, [])]
    ratios = {q: ratio(getattr(before.totals, q), getattr(after.totals, q)) for q in QUANTITIES}
    return SummaryDiff(before, after, tuple(rows), MappingProxyType(ratios))


@dataclass(frozen=True)
class WhatIf:
    """A model before and after a list of edits: both analyses, their diff, and what propagated."""

    model: str
    mode: str
    edits: tuple[Edit, ...]
    original: ModelSummary = field(repr=False)
    edited: ModelSummary = field(repr=False)
    diff: SummaryDiff = field(repr=False)
    propagated: tuple[Propagation, ...]
    notes: tuple[str, ...]  # how each removal was done ("inception3a.branch4 dropped from the cat")
    base_edits: tuple[Edit, ...] = ()  # applied to both sides (a lesson's starting point)

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON of ``cnn-explorer whatif --format json``."""
        return {
            "model": self.model,
            "mode": self.mode,
            "convention": self.edited.convention,
            "input_shape": {"before": list(self.original.input_shape), "after": list(self.edited.input_shape)},
            "base_edits": [edit.to_dict() for edit in self.base_edits],
            "edits": [edit.to_dict() for edit in self.edits],
            "propagated": [p.to_dict() for p in self.propagated],
            "notes": list(self.notes),
            **self.diff.to_dict(),
        }


# --- applying edits ----------------------------------------------------------------------------------------


class _CopyOnWrite:
    """A module tree whose submodules can be swapped without touching the original tree.

    Swapping ``a.b.c`` shallow-copies the root, ``a`` and ``a.b`` (each with its own child table);
    every other module is shared with the original. A deep copy of a meta ResNet-50 costs three
    times a warm analysis; this costs microseconds.
    """

    def __init__(self, root: nn.Module) -> None:
        self.root = self._copy(root)
        self._private: set[str] = {""}

    @staticmethod
    def _copy(module: nn.Module) -> nn.Module:
        clone = copy.copy(module)
        clone.__dict__["_modules"] = dict(module._modules)
        return clone

    def get(self, path: str) -> nn.Module | None:
        try:
            return self.root.get_submodule(path) if path else self.root
        except AttributeError:
            return None

    def set(self, path: str, module: nn.Module) -> None:
        parent_path, _, name = path.rpartition(".")
        parent = self._own(parent_path)
        if name not in parent._modules:
            raise KeyError(path)
        parent._modules[name] = module

    def _own(self, path: str) -> nn.Module:
        if path in self._private:
            return self.root.get_submodule(path) if path else self.root
        parent_path, _, name = path.rpartition(".")
        parent = self._own(parent_path)
        child = self._copy(parent._modules[name])
        parent._modules[name] = child
        self._private.add(path)
        return child


def _inside(node: fx.Node, path: str) -> bool:
    """Whether fx ``node`` belongs to module ``path`` (its call, or an op in its forward)."""
    prefix = path + "."
    if node.op in {"call_module", "get_attr"}:
        target = str(node.target)
        return target == path or target.startswith(prefix)
    if node.op in {"call_function", "call_method"}:
        stack = node.meta.get("nn_module_stack") or {}
        return any(isinstance(v, tuple) and isinstance(v[0], str) and (v[0] == path or v[0].startswith(prefix)) for v in stack.values())
    return False


class _Work:
    """The state while edits are applied: a copy-on-write module tree, a graph copy, the input."""

    def __init__(self, model: str, root: nn.Module, graph: fx.Graph, shape: Shape, mode: str) -> None:
        self.model = model
        self.modules = _CopyOnWrite(root)
        # Where new layers go: the meta device for an analysis, the CPU for a real model.
        self.device = _device_of(root)
        self.graph = copy.deepcopy(graph)
        self.shape = shape
        self.mode = mode
        self.new_paths: set[str] = set()  # modules the edits created (never "propagated")
        self.edited_paths: set[str] = set()
        self.propagations: dict[tuple[str, str], Propagation] = {}
        self.notes: list[str] = []
        self._state: tuple[LayerGraph, dict[str, str]] | None = None

    # --- shape propagation (the analysis' own, with layers adapted on the way) ---

    def propagate(self) -> tuple[LayerGraph, dict[str, str]]:
        if self._state is None:
            x = torch.empty((1, *self.shape), device="meta")
            try:
                self._state = graph_and_layer_names(self.modules.root, self.graph, x, adapt=self._adapt)
            except GraphBuildError as error:
                raise _break_error(error) from error
        return self._state

    def changed(self) -> None:
        self._state = None

    def _adapt(self, path: str, module: nn.Module, input_shapes: list[Shape]) -> nn.Module:
        if not input_shapes:
            return module
        changes = _fit(path, module, input_shapes[0])
        if not changes:
            return module
        new = _checked_rebuild(path, module, changes, self.device)
        self.modules.set(path, new)
        if not any(path == p or path.startswith(p + ".") for p in self.new_paths):
            for name, after in changes.items():
                key = (path, name)
                before = self.propagations[key].before if key in self.propagations else getattr(module, name)
                if before == after:
                    self.propagations.pop(key, None)
                else:
                    self.propagations[key] = Propagation(path, name, before, after)
        return new

    # --- resolving names ---

    def module_path(self, name: str) -> str | None:
        """``name`` as a module path of the (edited) tree, if it is one."""
        path = name.partition(":")[0]
        return path if path and self.modules.get(path) is not None else None

    def fx_node(self, name: str) -> fx.Node:
        """The fx node of graph node ``name`` (``layer1.0.add``, ``layer1.1.relu:2``)."""
        _, names = self.propagate()
        by_layer = {layer: fx_name for fx_name, layer in names.items()}
        if name not in by_layer:
            raise self.unknown(name)
        fx_name = by_layer[name]
        return next(node for node in self.graph.nodes if node.name == fx_name)

    def unknown(self, name: str) -> ExplorerError:
        candidates = [n for n, _ in self.modules.root.named_modules() if n]
        if self._state is not None:
            candidates += [node.name for node in self._state[0].nodes]
        close = difflib.get_close_matches(name, list(dict.fromkeys(candidates)), n=4, cutoff=0.6)
        hint = f"Did you mean {', '.join(close)}?" if close else "Run `cnn-explorer summary MODEL` for the layer names."
        return ExplorerError(f"{self.model} has no layer {name!r}.", hint=hint)

    # --- the edits ---

    def apply(self, edit: Edit) -> None:
        if isinstance(edit, SetInput):
            from explorer.core.analysis import parse_input_shape

            self.shape = parse_input_shape(edit.shape)
        elif isinstance(edit, SetLayer):
            self._set(edit)
        elif isinstance(edit, ReplaceLayer):
            self._replace(edit)
        elif isinstance(edit, RemoveLayer):
            self._remove(edit)
        else:  # pragma: no cover - the Edit union is closed
            raise TypeError(edit)
        self.changed()

    def _set(self, edit: SetLayer) -> None:
        path = self.module_path(edit.layer)
        if path is None:
            raise self.unknown(edit.layer)
        module = self.modules.get(path)
        assert module is not None
        allowed = editable_fields(module)
        where = f"{path} ({type(module).__name__})"
        if not allowed:
            raise ExplorerError(
                f"{where} has no settings to edit one by one.",
                hint=f"Replace it instead, e.g. --replace {path}=conv:out=64,k=3.",
            )
        unknown = [name for name in edit.values if name not in allowed]
        if unknown:
            raise ExplorerError(f"{where} has no editable setting {unknown[0]!r}; it has: {', '.join(allowed)}.")
        if not any(node.op == "call_module" and node.target == path for node in self.graph.nodes):
            raise ExplorerError(f"{where} does not run in {self.mode} mode: editing it would change nothing.")
        changes = {name: _normalised(where, module, name, value) for name, value in edit.values.items()}
        self.modules.set(path, _checked_rebuild(path, module, changes, self.device))
        self.edited_paths.add(path)

    def _replace(self, edit: ReplaceLayer) -> None:
        path = self.module_path(edit.layer)
        if path is None:
            if edit.layer in {node.name for node in self.propagate()[0].nodes}:
                raise ExplorerError(f"{edit.layer} is a functional op, not a module: only modules can be replaced.")
            raise self.unknown(edit.layer)
        owned = [node for node in self.graph.nodes if _inside(node, path)]
        if not owned:
            raise ExplorerError(f"{path} does not run in {self.mode} mode, so there is nothing to replace.")
        source, output = self._single_input_output(path, owned)
        in_shape = self._shape_of(source)
        channels, rank = (in_shape[0] if in_shape else 1), max(len(in_shape) - 1, 0)
        layers = []
        # On the model's device: a meta model stays free of memory (a new 51 M-weight FC too).
        with torch.device(self.device):
            for spec in edit.replacement:
                layer, channels = _build_layer(spec, channels, rank)
                layers.append(layer)
        new = layers[0] if len(layers) == 1 else nn.Sequential(*layers)
        new.train(self.mode == "train")
        self.modules.set(path, new)
        self.new_paths.add(path)
        self.edited_paths.add(path)
        if is_leaf(new) and len(owned) == 1 and owned[0].op == "call_module" and owned[0].target == path:
            return  # the graph already calls ``path``: only the module changed
        with self.graph.inserting_before(owned[0]):
            if is_leaf(new):
                result = self.graph.call_module(path, (source,))
                result.meta["nn_module_stack"] = dict(owned[0].meta.get("nn_module_stack") or {})
            else:
                result = _splice(self.graph, trace(new), source, path, new, owned[0])
        output.replace_all_uses_with(result)
        for node in reversed(owned):
            self.graph.erase_node(node)

    def _shape_of(self, node: fx.Node) -> Shape:
        """The output shape (no batch) of fx ``node`` in the current state."""
        if node.op == "placeholder":
            return self.shape
        graph, names = self.propagate()
        layer = names.get(node.name)
        return graph.node(layer).output_shape if layer is not None and layer in graph else ()

    def _single_input_output(self, path: str, owned: list[fx.Node]) -> tuple[fx.Node, fx.Node]:
        inside = set(owned)
        sources = list(dict.fromkeys(a for n in owned for a in n.all_input_nodes if a not in inside and a.op != "get_attr"))
        outputs = [n for n in owned if any(user not in inside for user in n.users)]
        if len(sources) != 1 or len(outputs) != 1:
            raise ExplorerError(
                f"{path} has {len(sources)} input{'s' if len(sources) != 1 else ''} and {len(outputs)} "
                f"output{'s' if len(outputs) != 1 else ''}: only a part with one input and one output can be replaced or removed."
            )
        return sources[0], outputs[0]

    def _remove(self, edit: RemoveLayer) -> None:
        name = edit.layer
        if name == INPUT_NAME:
            raise ExplorerError("The input cannot be removed.")
        path = self.module_path(name) if ":" not in name else None
        if path is not None:
            owned = [node for node in self.graph.nodes if _inside(node, path)]
            if not owned:
                raise ExplorerError(f"{path} does not run in {self.mode} mode, so there is nothing to remove.")
            module = self.modules.get(path)
            calls = [n for n in owned if n.op == "call_module" and n.target == path]
            if module is not None and next(iter(module.children()), None) is None and len(calls) > 1:
                for call in calls:  # a shared leaf (one ReLU called three times): every call goes
                    self._bypass(call)
            else:
                self._remove_part(path, owned)
            self.modules.set(path, nn.Identity())
            self.edited_paths.add(path)
            self._prune()
            return
        node = self.fx_node(name)
        if node.op == "call_module":
            self._bypass(node)
            self.notes.append(f"{name} bypassed")
        else:
            self._remove_op(name, node)
        self._prune()

    def _remove_part(self, path: str, owned: list[fx.Node]) -> None:
        source, output = self._single_input_output(path, owned)
        cats = [user for user in output.users if _op_label(user) in {"cat", "concat"}]
        # A branch (from a split to a cat): the cat loses it. Anything else: its input takes its place.
        if len(output.users) == 1 and cats and len(source.users) > 1:
            cat = cats[0]
            tensors = [t for t in cat.args[0] if t is not output]
            if not tensors:
                raise ExplorerError(f"{path} is the only input of its cat.")
            cat.args = (tensors, *cat.args[1:])
            self.notes.append(f"{path} removed: its cat loses the branch")
        else:
            output.replace_all_uses_with(source)
            self.notes.append(f"{path} bypassed: its input goes straight to what followed it")
        for node in reversed(owned):
            if not node.users:
                self.graph.erase_node(node)

    def _bypass(self, node: fx.Node) -> None:
        sources = [a for a in node.all_input_nodes if a.op != "get_attr"]
        if len(sources) != 1:
            raise ExplorerError(f"{node.target} has {len(sources)} inputs: it cannot be bypassed.")
        node.replace_all_uses_with(sources[0])
        self.graph.erase_node(node)

    def _remove_op(self, name: str, node: fx.Node) -> None:
        label = _op_label(node)
        if label in {"cat", "concat", "stack"}:
            raise ExplorerError(f"{name} joins branches; remove one of the branches instead.")
        inputs = [a for a in node.all_input_nodes if a.op != "get_attr"]
        if len(inputs) == 1:
            self._bypass(node)
            self.notes.append(f"{name} bypassed")
            return
        graph, names = self.propagate()
        layer = graph.node(name)
        by_fx = {fx_name: graph.node(layer_name) for fx_name, layer_name in names.items() if layer_name in graph}
        depth = _depths(self.graph)
        # Keep the path that carries the output's shape (the spatial path of a gate) and, among those,
        # the longest one: the residual branch; the shortcut (or the gate) is what goes.
        fitting = [a for a in inputs if a.name in by_fx and by_fx[a.name].output_shape == layer.output_shape] or inputs
        kept = max(fitting, key=lambda a: depth[a])
        dropped = [names.get(a.name, a.name) for a in inputs if a is not kept]
        node.replace_all_uses_with(kept)
        self.graph.erase_node(node)
        self.notes.append(f"{name} removed: only {names.get(kept.name, kept.name)} goes on (the input from {', '.join(dropped)} is gone)")

    def _prune(self) -> None:
        """Drop what no longer feeds the output (a shortcut's projection after its add is gone)."""
        # Only tensor ops here (no side effects): a node nobody uses is dead. (fx's own purity check
        # needs an owning module this bare graph does not have.)
        self.graph.eliminate_dead_code(is_impure_node=lambda node: node.op in {"placeholder", "output"})

    def finish(self) -> tuple[LayerGraph, tuple[Propagation, ...]]:
        graph, _ = self.propagate()
        return graph, tuple(self.propagations.values())


def _op_label(node: fx.Node) -> str:
    from explorer.core.layers import op_name

    return op_name(node.target) if node.op in {"call_function", "call_method"} else ""


def _depths(graph: fx.Graph) -> dict[fx.Node, int]:
    """The longest path from the input to each node (the residual branch is deeper than its shortcut)."""
    depth: dict[fx.Node, int] = {}
    for node in graph.nodes:
        depth[node] = 1 + max((depth[a] for a in node.all_input_nodes), default=-1)
    return depth


def _splice(graph: fx.Graph, sub: fx.Graph, source: fx.Node, path: str, module: nn.Module, anchor: fx.Node) -> fx.Node:
    """Copy ``sub`` (the trace of ``module``) into ``graph`` at ``path``, fed by ``source``."""
    placeholders = [n for n in sub.nodes if n.op == "placeholder"]
    if len(placeholders) != 1:
        raise ExplorerError(f"The replacement for {path} takes {len(placeholders)} inputs; it must take one.")
    val_map: dict[fx.Node, fx.Node] = {placeholders[0]: source}
    outer = dict(anchor.meta.get("nn_module_stack") or {})
    outer = {k: v for k, v in outer.items() if isinstance(v, tuple) and not (v[0] == path or v[0].startswith(path + "."))}
    result = graph.graph_copy(sub, val_map)
    if not isinstance(result, fx.Node):
        raise ExplorerError(f"The replacement for {path} returns {type(result).__name__}, not one tensor.")
    for node in sub.nodes:
        new = val_map.get(node)
        if new is None or node.op == "placeholder":
            continue
        if new.op in {"call_module", "get_attr"}:
            new.target = f"{path}.{new.target}"
        stack = {f"{path}.{k}": (f"{path}.{v[0]}", v[1]) for k, v in (node.meta.get("nn_module_stack") or {}).items()}
        new.meta["nn_module_stack"] = {**outer, path: (path, type(module)), **stack}
    return result


_INPUT_FIELDS = ("in_channels", "num_features", "in_features")


def _fit(path: str, module: nn.Module, shape: Shape) -> dict[str, int]:
    """What ``module`` must change to take an input of ``shape`` (batch first); empty when it fits."""
    if isinstance(module, nn.modules.conv._ConvNd) and not module.transposed and len(shape) == module.weight.dim():
        channels = shape[1]
        if channels == module.in_channels:
            return {}
        if module.groups > 1 and module.groups == module.in_channels:  # depthwise: it follows its input
            return {"in_channels": channels, "groups": channels, "out_channels": channels * (module.out_channels // module.groups)}
        if channels % module.groups:
            raise ExplorerError(
                f"The edit breaks at {path} ({type(module).__name__}): its {channels} input channels "
                f"cannot be split into groups={module.groups}."
            )
        return {"in_channels": channels}
    if isinstance(module, nn.modules.batchnorm._NormBase) and len(shape) > 1 and shape[1] != module.num_features:
        return {"num_features": shape[1]}
    if type(module) is nn.Linear and shape and shape[-1] != module.in_features:
        return {"in_features": shape[-1]}
    if getattr(module, "explorer_kind", None):  # the zoo's own layers (LeNet's C3, S2, RBF): fixed sizes
        for attribute, received in (("in_channels", shape[1:2]), ("channels", shape[1:2]), ("in_features", shape[-1:])):
            expected = getattr(module, attribute, None)
            if isinstance(expected, int) and received and received[0] != expected:
                raise ExplorerError(
                    f"The edit breaks at {path} ({type(module).__name__}): it takes {expected} "
                    f"{'features' if attribute == 'in_features' else 'channels'} and now gets {received[0]}; "
                    "it cannot be rebuilt to fit.",
                    hint=f"Replace {path} too (cnn-explorer whatif --replace).",
                )
    return {}


def _checked_rebuild(path: str, module: nn.Module, changes: Mapping[str, Any], device: torch.device) -> nn.Module:
    try:
        return _rebuilt(module, changes, device=device)
    except (TypeError, ValueError, RuntimeError) as error:
        raise ExplorerError(f"{path} ({type(module).__name__}) cannot take {_changes_text(changes)}: {_first_line(error)}") from None


def _changes_text(changes: Mapping[str, Any]) -> str:
    return ", ".join(f"{k} = {_value_text(v)}" for k, v in changes.items())


def _fmt(shape: Sequence[int]) -> str:
    return "×".join(str(d) for d in shape)


def _break_error(error: GraphBuildError) -> ExplorerError:
    """"The edit breaks at layer1.0's add: …", from the shape propagation's failure."""
    listed = [_fmt(s[1:]) for s in error.input_shapes]
    shapes = (", ".join(listed[:-1]) + " and " + listed[-1] if len(listed) > 1 else "".join(listed)) or "?"
    functional = error.op[:1].islower()
    where = f"{error.node} ({error.op})" if not functional else (f"the {error.op} in {error.node}" if error.node != error.op else f"the {error.op}")
    hint = "The original model is unchanged; undo the edit or change the layers after it too."
    if error.is_empty_output:
        return ExplorerError(f"The edit breaks at {where}: its output becomes empty (its input is {shapes}).", hint=hint)
    if error.op in {"add", "sub", "mul", "truediv"}:
        article = "an" if error.op[0] in "aeiou" else "a"
        return ExplorerError(
            f"The edit breaks at {where}: it cannot combine {shapes}; {article} {error.op} needs matching shapes.",
            hint="A shortcut or a gate must carry the same shape as its path: change its layers too. " + hint,
        )
    if error.op in {"cat", "concat"}:
        return ExplorerError(f"The edit breaks at {where}: it cannot join {shapes}; a cat along channels needs the same H×W.", hint=hint)
    return ExplorerError(f"The edit breaks at {where} on {shapes}: {_first_line(error.error)}", hint=hint)


def _base(model: str, mode: str) -> tuple[nn.Module, fx.Graph, Shape, str]:
    """The zoo's cached meta model and trace (never modified), its default input and title."""
    from explorer.core.analysis import _cached_model, _check_mode, build_on_meta
    from explorer.core.zoo.registry import USER_FAMILY, get_spec

    _check_mode(mode)
    spec = get_spec(model)
    if spec.family == USER_FAMILY:
        root = build_on_meta(spec)
        root.train(mode == "train")
        try:
            graph: fx.Graph | None = trace(root)
        except Exception:
            graph = None
    else:
        root, graph = _cached_model(spec.name, mode)
    if graph is None:
        raise ExplorerError(f"{spec.name} cannot be edited: torch.fx cannot trace it, and edits work on its fx graph.")
    return root, graph, spec.input_shape, spec.title


def _summarize(work: _Work, title: str, convention: str) -> tuple[ModelSummary, tuple[Propagation, ...]]:
    graph, propagated = work.finish()
    rows, totals = layer_stats(graph, work.mode, convention)
    summary = ModelSummary(
        model=work.model, title=title, input_shape=work.shape, mode=work.mode, graph=graph, rows=tuple(rows), totals=totals,
        convention=convention,
    )  # fmt: skip
    return summary, propagated


def _input(shape: Sequence[int] | str | None, default: Shape) -> Shape:
    from explorer.core.analysis import parse_input_shape

    return default if shape is None else parse_input_shape(shape, channels=default[0])


def apply_edits(
    model: str,
    edits: Sequence[Edit],
    *,
    input_shape: Sequence[int] | str | None = None,
    mode: str = "eval",
    convention: str = "lecture",
) -> tuple[ModelSummary, tuple[Propagation, ...], tuple[str, ...], frozenset[str]]:
    """The analysis of ``model`` with ``edits``: (summary, propagated, notes, edited module paths).

    ``convention`` is whose counting rules the MACs and FLOPs follow, as in ``analyze``.
    """
    from explorer.core.conventions import get_convention

    convention = get_convention(convention).name  # an unknown name fails before any work
    root, graph, default_shape, title = _base(model, mode)
    from explorer.core.zoo.registry import get_spec

    work = _Work(get_spec(model).name, root, graph, _input(input_shape, default_shape), mode)
    for edit in edits:
        work.apply(edit)
    summary, propagated = _summarize(work, f"{title} (edited)" if edits else title, convention)
    return summary, propagated, tuple(work.notes), frozenset(work.edited_paths)


def what_if(
    model: str,
    edits: Sequence[Edit],
    *,
    input_shape: Sequence[int] | str | None = None,
    mode: str = "eval",
    base_edits: Sequence[Edit] = (),
    convention: str = "lecture",
) -> WhatIf:
    """``model`` (after ``base_edits``) against the same with ``edits`` on top: analyses and diff.

    Raises ExplorerError for an edit that cannot work; nothing cached is modified either way.
    """
    from explorer.core.analysis import analyze

    edits, base_edits = tuple(edits), tuple(base_edits)
    base_propagated: tuple[Propagation, ...] = ()
    base_notes: tuple[str, ...] = ()
    base_paths: frozenset[str] = frozenset()
    if base_edits:
        original, base_propagated, base_notes, base_paths = apply_edits(
            model, base_edits, input_shape=input_shape, mode=mode, convention=convention
        )
    else:
        original = analyze(model, input_shape, mode, convention=convention)
    edited, propagated, notes, paths = apply_edits(
        model, base_edits + edits, input_shape=input_shape, mode=mode, convention=convention
    )
    # Only what these edits changed: the base's own propagations are on both sides.
    already = {(p.layer, p.field): p.after for p in base_propagated}
    own = tuple(
        dataclasses.replace(p, before=already.get((p.layer, p.field), p.before))
        for p in propagated
        if already.get((p.layer, p.field)) != p.after
    )
    diff = diff_summaries(original, edited, edited=paths - base_paths, propagated={p.layer for p in own})
    return WhatIf(original.model, mode, edits, original, edited, diff, own, notes[len(base_notes) :], base_edits)


# --- a real model ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EditedModule:
    """The edited network built for real on the CPU, as an ``fx.GraphModule`` in eval mode."""

    model: str
    module: fx.GraphModule = field(repr=False)
    input_shape: Shape
    weights: str  # "untrained", or the pretrained label with "new layers initialised"
    propagated: tuple[Propagation, ...]
    _layer_names: Mapping[str, str] = field(repr=False)  # fx node name → graph node name

    def layer_shapes(self, x: torch.Tensor) -> dict[str, Shape]:
        """Run ``x`` (batch first) through the module: each graph node's real output shape, batch dropped."""
        from torch.fx.passes.shape_prop import ShapeProp

        with torch.no_grad():
            ShapeProp(self.module).propagate(x)
        shapes: dict[str, Shape] = {}
        for node in self.module.graph.nodes:
            meta = node.meta.get("tensor_meta")
            if node.name in self._layer_names and hasattr(meta, "shape"):
                shapes[self._layer_names[node.name]] = tuple(int(d) for d in meta.shape[1:])
        return shapes


def build_edited(
    model: str, edits: Sequence[Edit], *, input_shape: Sequence[int] | str | None = None, weights: str = "untrained"
) -> EditedModule:
    """``model`` with ``edits``, on the CPU with real tensors (for running, training and ONNX export).

    ``weights`` is ``untrained`` or a key of ``weights.weight_options`` (pretrained where a layer's
    tensors keep their shape; new and resized layers get PyTorch's default initialisation).
    """
    from explorer.core.weights import UNTRAINED, load_weights
    from explorer.core.onnx_export import run_to_end
    from explorer.core.zoo.registry import get_spec

    spec = get_spec(model)
    if weights == UNTRAINED:
        root, label = spec.build().eval(), "untrained"
    else:
        root, loaded = run_to_end(load_weights(spec.name, weights))
        label = f"{loaded.label}; new layers initialised" if loaded.pretrained else loaded.label
    root.eval()
    work = _Work(spec.name, root, trace(root), _input(input_shape, spec.input_shape), "eval")
    for edit in edits:
        work.apply(edit)
    _, names = work.propagate()
    module = fx.GraphModule(work.modules.root, work.graph)
    return EditedModule(spec.name, module.eval(), work.shape, label, tuple(work.propagations.values()), MappingProxyType(dict(names)))


def export_edited(
    model: str,
    edits: Sequence[Edit],
    folder: str | Path,
    *,
    input_shape: Sequence[int] | str | None = None,
    weights: str = "default",
    opset: int | None = None,
    dynamic_batch: bool = False,
    verify: bool = True,
) -> Any:
    """Export ``model`` with ``edits`` to ``folder/MODEL-edited.onnx`` (a generator of export progress,
    returning the ``ExportResult``); checked like every export, by onnx.checker and onnxruntime."""
    from explorer.core.onnx_export import DEFAULT_OPSET, ExportOptions, ExportProgress, check_output_folder, export_one, offline_weights_key
    from explorer.core.zoo.registry import get_spec

    check_output_folder(folder)
    name = get_spec(model).name
    yield ExportProgress(name, 0, 1, "weights", f"{name}: building the edited model ({weights} weights)")
    edited = build_edited(name, edits, input_shape=input_shape, weights=offline_weights_key(name, weights))
    options = ExportOptions(opset=opset or DEFAULT_OPSET, input_shape=edited.input_shape, dynamic_batch=dynamic_batch, verify=verify)
    stem = Path(name).name.removesuffix(".py").replace(":", "-") + "-edited"
    return (yield from export_one(name, folder, options, model=edited.module, weights_label=edited.weights, stem=stem))
