"""Per-layer statistics: params, MACs/FLOPs, activation memory, receptive field — with formulas.

The conventions are the lecture's (ARCHITECTURE.md, "Conventions the numbers follow"):

- MACs: conv ``Cout·H'·W'·(Cin/groups)·Kh·Kw`` (bias not counted); linear ``in·out``;
  pooling ``C·H'·W'·Kh·Kw``; adaptive/global average pooling: the input's element count;
  LRN: window size × elements; elementwise ops 0.
- FLOPs: 2 per MAC for conv and linear, 1 per MAC for pooling and LRN, plus 1 per output
  element for elementwise ops (BN, ReLU, add, …); concatenation and reshapes cost nothing.
- Memory: output elements × 4 bytes (fp32), batch 1; shown in KB (÷1024).
- Receptive field, jump and start: per spatial axis, by the rules of ``receptive.py`` (windows,
  PyTorch's adaptive windows, unions at merges, gates).

Every number comes with the formula that produced it, its values filled in.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from types import MappingProxyType
from typing import Any

from torch import nn

from explorer.core.graph import LayerGraph, LayerNode
from explorer.core.layers import Shape, effective_padding, hyperparameters
from explorer.core.receptive import Field, How, field_formula, field_of, input_field, plain

BYTES_PER_ELEMENT = 4  # fp32

CONVENTIONS: Mapping[str, str] = MappingProxyType(
    {
        "macs": "conv: Cout·H'·W'·(Cin/groups)·Kh·Kw, bias not counted; linear: in·out; "
        "pooling: C·H'·W'·Kh·Kw; adaptive/global average pooling: input elements; "
        "LRN: size·elements; elementwise ops: 0",
        "flops": "2 per MAC for conv and linear, 1 per MAC for pooling and LRN, "
        "1 per output element for elementwise ops (BN, activations, add, mul); cat and reshapes: 0",
        "activation_bytes": "output elements × 4 bytes (fp32), batch 1",
        "receptive_field": "an output unit's extent on the input in pixels, per axis (receptive_field_hw, "
        "H then W; receptive_field is the larger), the union over every path through branches; jump is the "
        "cumulative stride; adaptive pooling uses PyTorch's windows (start ⌊i·In/Out⌋, end ⌈(i+1)·In/Out⌉); "
        "a gate that multiplies by a globally pooled branch keeps the spatial path's field and jump, and "
        "gate names the nearest gate through which the unit also sees the whole image",
        "params": "parameters of the nodes in the graph for the chosen mode; a shared module counts once",
        "shapes": "without the batch dimension",
    }
)


@dataclass(frozen=True)
class Formula:
    quantity: str  # "output size", "params", "MACs", "FLOPs", "memory", "receptive field"
    expression: str  # with the layer's values filled in, ending in "= result"


@dataclass(frozen=True)
class LayerStats:
    node: LayerNode
    params: int
    trainable_params: int
    macs: int
    flops: int
    activation_bytes: int
    #: Per spatial axis of the input (H, W): whole numbers, except behind an adaptive pool whose
    #: windows differ, where the jump is their mean spacing (a fraction).
    receptive_field_hw: tuple[int | Fraction, ...]
    jump_hw: tuple[int | Fraction, ...]
    #: Centre of the first output unit on the input, in input pixels (for mapping positions back).
    start_hw: tuple[float, ...]
    #: The nearest gate (a squeeze-excitation ``mul``) through which the units also see the whole
    #: image; None when there is none upstream.
    gate: str | None = None
    #: The per-axis geometry behind the numbers above (``unit_interval`` maps a position back).
    geometry: Field | None = field(default=None, repr=False, compare=False)
    #: Builds (hyperparameters, formulas) on first use: strings for ~500 layers cost more than the counting.
    _explain: Callable[[], tuple[Mapping[str, Any], tuple[Formula, ...]]] = field(
        default=lambda: ({}, ()), repr=False, compare=False
    )

    @functools.cached_property
    def _details(self) -> tuple[Mapping[str, Any], tuple[Formula, ...]]:
        return self._explain()

    @property
    def hyperparameters(self) -> Mapping[str, Any]:
        return self._details[0]

    @property
    def formulas(self) -> tuple[Formula, ...]:
        return self._details[1]

    @property
    def name(self) -> str:
        return self.node.name

    @property
    def type(self) -> str:
        return self.node.op

    @property
    def kind(self) -> str:
        return self.node.kind

    @property
    def inputs(self) -> tuple[str, ...]:
        return self.node.inputs

    @property
    def input_shapes(self) -> tuple[Shape, ...]:
        return self.node.input_shapes

    @property
    def output_shape(self) -> Shape:
        return self.node.output_shape

    @property
    def receptive_field(self) -> int | float:
        """The larger axis' field (the one-number column); ``receptive_field_hw`` has both."""
        return plain(max(self.receptive_field_hw, default=1))

    @property
    def jump(self) -> int | float:
        return plain(max(self.jump_hw, default=1))

    def unit_interval(self, axis: int, index: int, *, padding: bool = True) -> tuple[float, float]:
        """Where unit ``index`` along spatial ``axis`` sees the input: [low, high) in input pixels.

        With ``padding`` (the convention of ``receptive_field``) the field may reach past the
        image; without, it is cut to the pixels some unit of this layer really sees.
        """
        if self.geometry is None:
            centre = self.start_hw[axis] + index * self.jump_hw[axis]
            return float(centre - self.receptive_field_hw[axis] / 2), float(centre + self.receptive_field_hw[axis] / 2)
        return self.geometry.interval(axis, index) if padding else self.geometry.pixels(axis, index)

    def formula(self, quantity: str) -> str | None:
        return next((f.expression for f in self.formulas if f.quantity == quantity), None)


@dataclass(frozen=True)
class Totals:
    params: int
    trainable_params: int
    macs: int
    flops: int
    activation_bytes: int


# --- formatting --------------------------------------------------------------------------------


def _n(value: int | float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:,.6g}"


def _product(values: Shape) -> str:
    return " × ".join(str(v) for v in values)


def human_bytes(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    for unit in ("KB", "MB", "GB"):
        n_scaled = n / 1024
        if n_scaled < 1024 or unit == "GB":
            return f"{n_scaled:,.6g} {unit}" if n_scaled < 100 else f"{n_scaled:,.1f} {unit}"
        n = n_scaled  # type: ignore[assignment]
    return f"{n} B"


def _memory_formula(shape: Shape, total: int) -> str:
    kb = total / 1024
    kb_text = f"{kb:,.0f}" if kb == int(kb) else f"{kb:,.2f}"
    equals = "=" if float(kb_text.replace(",", "")) == kb else "≈"  # 1,000 B ≈ 0.98 KB
    return f"{_product(shape) or '1'} × {BYTES_PER_ELEMENT} B = {_n(total)} B {equals} {kb_text} KB"


# --- counting rules ----------------------------------------------------------------------------

_Rule = Callable[[LayerNode, "nn.Module | None", str], tuple[int, int, list[Formula]]]


def _numel(shape: Shape) -> int:
    return math.prod(shape) if shape else 1


def _spatial(node: LayerNode) -> tuple[Shape, Shape]:
    return node.input_shapes[0][1:], node.output_shape[1:]


def _conv(node: LayerNode, module: nn.Module | None, mode: str) -> tuple[int, int, list[Formula]]:
    assert module is not None
    if getattr(module, "transposed", False):
        cin, spatial_in = node.input_shapes[0][0], node.input_shapes[0][1:]
        per = module.out_channels // module.groups
        macs = cin * _numel(spatial_in) * per * _numel(tuple(module.kernel_size))
        text = f"{cin} × {_product(spatial_in)} × ({per} × {_product(tuple(module.kernel_size))}) = {_n(macs)}"
    else:
        cout, out_spatial = node.output_shape[0], node.output_shape[1:]
        cin = node.input_shapes[0][0]
        groups = module.groups
        cin_text = str(cin) if groups == 1 else f"{cin}/{groups}"
        macs = cout * _numel(out_spatial) * (cin // groups) * _numel(tuple(module.kernel_size))
        text = f"{cout} × {_product(out_spatial)} × ({cin_text} × {_product(tuple(module.kernel_size))}) = {_n(macs)}"
    flops = 2 * macs
    return macs, flops, [Formula("MACs", text), Formula("FLOPs", f"2 × {_n(macs)} = {_n(flops)}")]


def _linear(node: LayerNode, module: nn.Module | None, mode: str) -> tuple[int, int, list[Formula]]:
    inner = node.input_shapes[0][-1] if node.input_shapes and node.input_shapes[0] else 1
    out = node.output_shape[-1] if node.output_shape else 1
    rows = _numel(node.output_shape[:-1])
    macs = rows * inner * out
    text = (f"{rows} × " if rows > 1 else "") + f"{inner} × {out} = {_n(macs)}"
    flops = 2 * macs
    return macs, flops, [Formula("MACs", text), Formula("FLOPs", f"2 × {_n(macs)} = {_n(flops)}")]


def _attention(node: LayerNode, module: nn.Module | None, mode: str) -> tuple[int, int, list[Formula]]:
    """nn.MultiheadAttention: the q/k/v and output projections plus QKᵀ and A·V."""
    assert isinstance(module, nn.MultiheadAttention)
    query = node.input_shapes[0]
    key = node.input_shapes[1] if len(node.input_shapes) > 1 else query
    length, source, embed = query[-2] if len(query) > 1 else 1, key[-2] if len(key) > 1 else 1, module.embed_dim
    projections = length * embed * embed + source * module.kdim * embed + source * module.vdim * embed
    products = 2 * length * source * embed
    out = length * embed * embed
    macs = projections + products + out
    text = (
        f"{length} × {embed} × {embed} + {source} × {module.kdim} × {embed} + {source} × {module.vdim} × {embed} "
        f"(q, k, v) + 2 × {length} × {source} × {embed} (QKᵀ, A·V) + {length} × {embed} × {embed} (out) = {_n(macs)}"
    )
    flops = 2 * macs
    return macs, flops, [Formula("MACs", text), Formula("FLOPs", f"2 × {_n(macs)} = {_n(flops)}")]


def _pool(node: LayerNode, module: nn.Module | None, mode: str) -> tuple[int, int, list[Formula]]:
    kernel = _kernel_of(node, module)
    if kernel is None:  # adaptive and global pooling (and mean): every input element is read once
        in_shape = node.input_shapes[0] if node.input_shapes else node.output_shape
        if in_shape == node.output_shape:  # an adaptive pool to the size it is given: the identity
            size = "×".join(map(str, in_shape[1:]))
            return 0, 0, [Formula("MACs", f"0 ({size} → {size}: every window is one element, nothing is computed)")]
        macs = _numel(in_shape)
        text = f"{_product(in_shape)} = {_n(macs)} (each input element once)"
    else:
        macs = _numel(node.output_shape) * _numel(kernel)
        text = f"({_product(node.output_shape)}) × ({_product(kernel)}) = {_n(macs)}"
    return macs, macs, [Formula("MACs", text), Formula("FLOPs", f"1 × {_n(macs)} = {_n(macs)}")]


def _lrn(node: LayerNode, module: nn.Module | None, mode: str) -> tuple[int, int, list[Formula]]:
    size = module.size if isinstance(module, nn.LocalResponseNorm) else 5
    macs = size * _numel(node.output_shape)
    text = f"{size} × {_product(node.output_shape)} = {_n(macs)} (sum of squares over the {size}-channel window)"
    return macs, macs, [Formula("MACs", text), Formula("FLOPs", f"1 × {_n(macs)} = {_n(macs)}")]


def _elementwise(node: LayerNode, module: nn.Module | None, mode: str) -> tuple[int, int, list[Formula]]:
    flops = _numel(node.output_shape)
    return 0, flops, [Formula("FLOPs", f"{_product(node.output_shape)} = {_n(flops)} (1 per output element)")]


def _dropout(node: LayerNode, module: nn.Module | None, mode: str) -> tuple[int, int, list[Formula]]:
    if mode == "train":
        return _elementwise(node, module, mode)
    return 0, 0, [Formula("FLOPs", "0 (identity at inference)")]


def _free(node: LayerNode, module: nn.Module | None, mode: str) -> tuple[int, int, list[Formula]]:
    return 0, 0, []


def _custom(node: LayerNode, module: nn.Module | None, mode: str) -> tuple[int, int, list[Formula]]:
    assert module is not None
    macs, text = module.explorer_macs(node.input_shapes[0] if node.input_shapes else (), node.output_shape)
    factor = 2 if node.kind in {"conv", "linear"} else 1
    flops = factor * macs
    return macs, flops, [Formula("MACs", text), Formula("FLOPs", f"{factor} × {_n(macs)} = {_n(flops)}")]


def _rule_for(node: LayerNode, module: nn.Module | None) -> _Rule:
    if module is not None and callable(getattr(module, "explorer_macs", None)) and node.kind in {"conv", "linear", "pool", "other"}:
        return _custom
    if isinstance(module, nn.LocalResponseNorm) or node.op == "local_response_norm":
        return _lrn
    if node.kind == "conv":
        return _conv if isinstance(module, nn.modules.conv._ConvNd) else _linear_conv_fallback
    return {
        "linear": _linear,
        "attention": _attention,
        "pool": _pool,
        "norm": _elementwise,
        "activation": _elementwise,
        "elementwise": _elementwise,
        "dropout": _dropout,
    }.get(node.kind, _merge if node.kind == "merge" else _free)


def _merge(node: LayerNode, module: nn.Module | None, mode: str) -> tuple[int, int, list[Formula]]:
    # add/mul/sub cost one FLOP per output element; cat/stack only move data.
    if node.op in {"cat", "concat", "stack"}:
        channels = " + ".join(str(s[0]) for s in node.input_shapes if s)
        return 0, 0, [Formula("output size", f"C = {channels} = {node.output_shape[0]}")] if node.output_shape else []
    return _elementwise(node, module, mode)


def _linear_conv_fallback(node: LayerNode, module: nn.Module | None, mode: str) -> tuple[int, int, list[Formula]]:
    """A functional conv (weights from get_attr): reconstruct from shapes when possible."""
    return 0, 0, [Formula("MACs", "not counted (functional convolution)")]


def _kernel_of(node: LayerNode, module: nn.Module | None) -> Shape | None:
    n = len(node.output_shape) - 1
    if module is not None and hasattr(module, "kernel_size"):
        k = module.kernel_size
        return (k,) * n if isinstance(k, int) else tuple(k)
    if node.op in {"max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d"}:
        k = node.arguments.get("kernel_size", node.arguments.get("arg1"))
        if k is not None:
            return (k,) * n if isinstance(k, int) else tuple(k)
    return None


# --- output-size and parameter formulas --------------------------------------------------------


_OUTPUT_AXES: Mapping[int, tuple[str, ...]] = MappingProxyType({1: ("W'",), 2: ("H'", "W'"), 3: ("D'", "H'", "W'")})


def _output_size_formula(node: LayerNode, module: nn.Module | None) -> Formula | None:
    """PyTorch's own output-size rule with the layer's values in, true as written arithmetic."""
    if module is None or not hasattr(module, "kernel_size") or not node.input_shapes:
        return None
    in_spatial, out_spatial = _spatial(node)
    if not in_spatial or len(in_spatial) != len(out_spatial):
        return None
    n = len(in_spatial)

    def axis(value: Any, default: int) -> tuple[int, ...]:
        value = default if value is None else value
        return (value,) * n if isinstance(value, int) else tuple(value)

    kernel = axis(module.kernel_size, 1)
    stride = axis(getattr(module, "stride", None) or module.kernel_size, 1)
    dilation = axis(getattr(module, "dilation", 1), 1)
    pads = effective_padding(module, in_spatial)
    ceil_mode = bool(getattr(module, "ceil_mode", False))
    same = getattr(module, "explorer_padding_mode", None) == "same"
    transposed = bool(getattr(module, "transposed", False))
    output_padding = axis(getattr(module, "output_padding", 0), 0)
    names = _OUTPUT_AXES.get(n) or tuple(f"D{i}'" for i in range(n))
    clauses = []
    for i in range(n):
        size, k, s, d, (before, after), out = in_spatial[i], kernel[i], stride[i], dilation[i], pads[i], out_spatial[i]
        reach = f"({k} − 1)" if d == 1 else f"{d}×({k} − 1)"
        pad_text = "" if before == after == 0 else (f"2×{before}" if before == after else f"({before} + {after})")
        if same:
            clauses.append(f"⌈{size}/{s}⌉ = {out} (TF SAME: pad {before} before, {after} after)")
            continue
        if transposed:
            minus_pad = f" − {pad_text}" if pad_text else ""
            extra = f" + {output_padding[i]}" if output_padding[i] else ""
            clauses.append(f"({size} − 1) × {s}{minus_pad} + {reach}{extra} + 1 = {out}")
            continue
        span = size + before + after - d * (k - 1) - 1
        plus_pad = f" + {pad_text}" if pad_text else ""
        span_text = f"{size} − {k}{plus_pad}" if d == 1 else f"{size}{plus_pad} − {reach} − 1"
        if s == 1:
            clauses.append(f"{span_text} + 1 = {out}")
        elif span % s == 0:
            clauses.append(f"({span_text})/{s} + 1 = {out}")
        elif not ceil_mode:
            clauses.append(f"⌊({span_text})/{s}⌋ + 1 = {out}")
        else:
            rounded_up = -(-span // s) + 1
            if rounded_up == out:
                clauses.append(f"⌈({span_text})/{s}⌉ + 1 = {out}")
            else:  # PyTorch's rule: the last window must start inside the input (or its left padding)
                clauses.append(
                    f"⌈({span_text})/{s}⌉ + 1 − 1 = {out} (the last window would start at "
                    f"({rounded_up} − 1) × {s} = {(rounded_up - 1) * s} ≥ {size} + {before}, past the input: dropped)"
                )
    if n == 2 and clauses[0] == clauses[1]:
        lines = [f"H' = W' = {clauses[0]}"]
    else:
        lines = [f"{name} = {clause}" for name, clause in zip(names, clauses)]
    if same:
        general = "⌈W/S⌉"
    elif transposed:
        general = "(W − 1)×S − 2P + D×(K − 1) + OP + 1"
    else:
        inner = "W − K + 2P" if all(d == 1 for d in dilation) else "W + 2P − D×(K − 1) − 1"
        general = f"⌈({inner})/S⌉ + 1, the last window starting inside the input" if ceil_mode else f"⌊({inner})/S⌋ + 1"
    return Formula("output size", f"{general}: " + "; ".join(lines))


def _params_formula(node: LayerNode, module: nn.Module | None, params: int) -> Formula | None:
    if params == 0:
        return None
    if isinstance(module, nn.modules.conv._ConvNd) and not module.transposed:
        weight = (module.out_channels, module.in_channels // module.groups, *module.kernel_size)
        bias = f" + {module.out_channels}" if module.bias is not None else ""
        return Formula("params", f"{_product(weight)}{bias} = {_n(params)}")
    if isinstance(module, nn.Linear):
        bias = f" + {module.out_features}" if module.bias is not None else ""
        return Formula("params", f"{module.out_features} × {module.in_features}{bias} = {_n(params)}")
    if isinstance(module, (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)):
        count = params // 2
        return Formula("params", f"2 × {count} = {_n(params)} (scale γ and shift β; running statistics are buffers)")
    return Formula("params", " + ".join(_product(tuple(p.shape)) or "1" for p in _params_of(node, module)) + f" = {_n(params)}")


def _params_of(node: LayerNode, module: nn.Module | None) -> list[nn.Parameter]:
    return list(module.parameters()) if module is not None else []


# --- the whole graph -----------------------------------------------------------------------------


def _explain(
    node: LayerNode,
    module: nn.Module | None,
    params: int,
    activation_bytes: int,
    counted: list[Formula],
    field_in: Field | None,
    field_out: Field,
    how: How | None,
) -> tuple[Mapping[str, Any], tuple[Formula, ...]]:
    """A layer's hyperparameters and every formula, in the order the panel shows them."""
    receptive = field_formula(node, field_in, field_out, how) if node.kind != "input" else None
    formulas = [
        _output_size_formula(node, module),
        _params_formula(node, module, params) if node.call_index == 1 else None,
        *counted,
        Formula("receptive field", receptive) if receptive else None,
        Formula("memory", _memory_formula(node.output_shape, activation_bytes)),
    ]
    settings = hyperparameters(module) if module is not None else dict(node.arguments)
    return MappingProxyType(settings), tuple(f for f in formulas if f is not None)



def layer_stats(graph: LayerGraph, mode: str, convention: str = "lecture") -> tuple[list[LayerStats], Totals]:
    """Count every node of ``graph`` (shapes already propagated) under ``convention`` (conventions.py)."""
    from explorer.core.conventions import get_convention

    count = get_convention(convention).count
    params_by_name = dict(graph.model.named_parameters(remove_duplicate=False))
    spatial_rank = len(graph.nodes[0].output_shape) - 1
    fields: dict[str, Field] = {}
    shapes: dict[str, Shape] = {}
    rows: list[LayerStats] = []
    for node in graph.nodes:
        module = graph.module(node)
        how: How | None = None
        if node.kind == "input":
            fields[node.name] = input_field(node.output_shape[1:])
        else:
            names = [name for name in node.inputs if name in fields] or [graph.nodes[0].name]
            fields[node.name], how = field_of(
                node, module, names, [fields[n] for n in names], [shapes[n] for n in names], spatial_rank
            )
        shapes[node.name] = node.output_shape
        owned = [params_by_name[p] for p in node.parameters if p in params_by_name]
        params = sum(p.numel() for p in owned)
        trainable = sum(p.numel() for p in owned if p.requires_grad)
        macs, flops, formulas = (0, 0, []) if node.kind == "input" else count(node, module, mode)
        activation_bytes = _numel(node.output_shape) * BYTES_PER_ELEMENT
        field_out = fields[node.name]
        field_in = fields.get(node.inputs[0]) if node.inputs else None
        rows.append(
            LayerStats(
                node=node,
                params=params,
                trainable_params=trainable,
                macs=macs,
                flops=flops,
                activation_bytes=activation_bytes,
                receptive_field_hw=field_out.size,
                jump_hw=field_out.jump,
                start_hw=field_out.start,
                gate=field_out.gate,
                geometry=field_out,
                _explain=functools.partial(_explain, node, module, params, activation_bytes, formulas, field_in, field_out, how),
            )
        )
    # The input is not a layer: totals count the layers only.
    return rows, _sum([row for row in rows if row.kind != "input"])


def _sum(rows: Sequence[LayerStats]) -> Totals:
    return Totals(
        params=sum(r.params for r in rows),
        trainable_params=sum(r.trainable_params for r in rows),
        macs=sum(r.macs for r in rows),
        flops=sum(r.flops for r in rows),
        activation_bytes=sum(r.activation_bytes for r in rows),
    )


@dataclass(frozen=True)
class ModelSummary:
    """The analysis of one model at one input shape and mode: what every view displays."""

    model: str
    title: str
    input_shape: Shape
    mode: str
    graph: LayerGraph = field(repr=False, compare=False)
    rows: tuple[LayerStats, ...] = field(repr=False)  # the input first, then every layer
    totals: Totals = field(default_factory=lambda: Totals(0, 0, 0, 0, 0))
    convention: str = "lecture"  # whose counting rules the MACs and FLOPs follow (conventions.py)
    #: Where this network is not the one its paper describes (``ModelSpec.paper_differences``).
    paper_differences: str = ""

    @property
    def layers(self) -> tuple[LayerStats, ...]:
        """Every node but the input, in topological order."""
        return self.rows[1:]

    @property
    def conventions(self) -> Mapping[str, str]:
        from explorer.core.conventions import get_convention

        return get_convention(self.convention).rules

    def with_convention(self, convention: str) -> ModelSummary:
        """The same analysis counted under another convention: the graph is reused, nothing is traced."""
        if convention == self.convention:
            return self
        rows, totals = layer_stats(self.graph, self.mode, convention)
        return replace(self, rows=tuple(rows), totals=totals, convention=convention)

    @property
    def method(self) -> str:
        return self.graph.method

    def layer(self, name: str) -> LayerStats:
        return self.rows[self.graph.index(name)]

    def block(self, path: str) -> tuple[tuple[LayerStats, ...], Totals]:
        """The layers nested under a module path (``layer1.0``) and their totals."""
        rows = tuple(self.layer(node.name) for node in self.graph.nodes_under(path))
        return rows, _sum(rows)

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON schema of ``cnn-explorer summary --format json``."""
        return {
            "model": self.model,
            "input_shape": list(self.input_shape),
            "mode": self.mode,
            "convention": self.convention,
            "conventions": dict(self.conventions),
            "layers": [
                {
                    "name": row.name,
                    "type": row.type,
                    "inputs": list(row.inputs),
                    "input_shapes": [list(s) for s in row.input_shapes],
                    "output_shape": list(row.output_shape),
                    "params": row.params,
                    "trainable_params": row.trainable_params,
                    "macs": row.macs,
                    "flops": row.flops,
                    "activation_bytes": row.activation_bytes,
                    "receptive_field": row.receptive_field,
                    "jump": row.jump,
                    "receptive_field_hw": [plain(v) for v in row.receptive_field_hw],
                    "jump_hw": [plain(v) for v in row.jump_hw],
                    "gate": row.gate,
                }
                for row in self.layers
            ],
            "totals": {
                "params": self.totals.params,
                "trainable_params": self.totals.trainable_params,
                "macs": self.totals.macs,
                "flops": self.totals.flops,
                "activation_bytes": self.totals.activation_bytes,
            },
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        import json

        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)
