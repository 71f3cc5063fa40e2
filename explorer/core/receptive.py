"""Receptive field, jump and start of every node, per spatial axis, and the formula behind each.

The rules (README, "The numbers' conventions"); input pixel p spans [p, p + 1):

- **a window** (conv, pooling; kernel K, stride S, dilation D, padding P before):
  ``RF = RF_in + D·(K − 1)·jump_in``, ``jump = jump_in·S``, ``start = start_in + (D·(K − 1)/2 − P)·jump_in``
  (``start`` is the centre of the first unit's field, on the input);
- **adaptive pooling** uses PyTorch's own windows: output q reads input units
  ⌊q·In/Out⌋ … ⌈(q + 1)·In/Out⌉ − 1. When Out divides In that is a window K = S = In/Out;
  otherwise the windows differ in size and spacing (or repeat units, when Out > In), and the axis
  remembers them (``AdaptiveWindows``) so that every later unit's field is still exact; its
  ``RF`` is the widest unit's and ``jump`` the mean spacing ``jump_in·In/Out``. A field never shrinks;
- **global** ops (flatten, a global mean, a linear layer on a map) see the whole map: a window as
  large as the map;
- **merges** (``add``, ``cat``, …) take the union of their inputs' fields: ``max(27, 43, 43, 19)``
  when they share a centre, as every zoo network's branches do;
- **a gate**: an input broadcast over the spatial axes (squeeze-excitation's scale, any global
  context) leaves the field and jump of the spatial path as they are; the node, and every node
  after it, is marked as also seeing the whole image through that gate (``Field.gate``).

Everything here is O(1) per node and axis except on axes behind a non-uniform adaptive pool,
which cost O(units); the formulas are built only when asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any, Union

from torch import nn

from explorer.core.graph import LayerNode
from explorer.core.layers import Shape, effective_padding

Number = Union[int, Fraction]


def plain(value: Number | float) -> int | float:
    """An int when the value is whole (JSON, tables), else a float."""
    if isinstance(value, int):
        return value
    if value == int(value):
        return int(value)
    return float(value)


def number_text(value: Number | float) -> str:
    """``1,043``; a fraction as ``96/7`` (so a formula stays exact arithmetic)."""
    if isinstance(value, Fraction):
        if value.denominator == 1:
            return f"{value.numerator:,}"
        return f"{value.numerator:,}/{value.denominator}"
    if isinstance(value, float) and value != int(value):
        return f"{value:g}"
    return f"{int(value):,}"


def _exact(value: Fraction) -> Number:
    return value.numerator if value.denominator == 1 else value


# --- the field ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AdaptiveWindows:
    """One axis behind an adaptive pool whose windows are not all alike.

    A unit i of the node covers the pool's outputs ``first + i·step`` … ``first + i·step + span − 1``;
    pool output q covers the units ⌊q·In/Out⌋ … ⌈(q + 1)·In/Out⌉ − 1 of the pool's input, whose
    field on the image is ``base_size`` wide, ``base_jump`` apart, the first centred at ``base_start``.
    """

    inputs: int  # In
    outputs: int  # Out
    base_size: Number
    base_jump: Number
    base_start: float
    first: int = 0
    step: int = 1
    span: int = 1

    def base_units(self, index: int) -> tuple[int, int]:
        """The first and last unit of the pool's input that unit ``index`` sees."""
        low = self.first + index * self.step
        high = low + self.span - 1
        return (low * self.inputs) // self.outputs, -(-(high + 1) * self.inputs // self.outputs) - 1

    def interval(self, index: int) -> tuple[float, float]:
        first, last = self.base_units(index)
        return (
            float(self.base_start + first * self.base_jump - Fraction(self.base_size) / 2),
            float(self.base_start + last * self.base_jump + Fraction(self.base_size) / 2),
        )

    def then(self, kernel: int, stride: int, pad_before: int, dilation: int) -> AdaptiveWindows:
        """These windows seen through a further window (K, S, P, D) over the pooled units."""
        return AdaptiveWindows(
            self.inputs,
            self.outputs,
            self.base_size,
            self.base_jump,
            self.base_start,
            first=self.first - pad_before * self.step,
            step=self.step * stride,
            span=dilation * (kernel - 1) * self.step + self.span,
        )

    def summary(self, units: int) -> tuple[Number, Number, float, int]:
        """(size of the widest unit's field, mean jump, centre of unit 0, base units the widest spans)."""
        widest = max(high - low + 1 for low, high in map(self.base_units, range(max(units, 1))))
        low, high = self.interval(0)
        jump = _exact(Fraction(self.base_jump) * self.inputs * self.step / self.outputs)
        return self.base_size + (widest - 1) * self.base_jump, jump, (low + high) / 2, widest


@dataclass(frozen=True)
class Field:
    """The receptive field of a node's units, per spatial axis of the input."""

    size: tuple[Number, ...]
    jump: tuple[Number, ...]
    start: tuple[float, ...]
    #: The nearest gate through which the units also see the whole image (None: none upstream).
    gate: str | None = None
    #: Per axis, the adaptive windows the axis is seen through (None everywhere in most networks).
    windows: tuple[AdaptiveWindows | None, ...] | None = None
    #: Per axis, [low, high) of the input pixels the node's units can see at all. Near the border
    #: a field reaches into the padding, and some pixels there are seen by no real unit (a
    #: pooling that rounds down drops the last unit before it): a unit sees its field ∩ this.
    reach: tuple[tuple[float, float], ...] = ()

    def interval(self, axis: int, index: int) -> tuple[float, float]:
        """Where unit ``index`` along ``axis`` sees the input: [low, high) in input pixels, padding included."""
        windows = self.windows[axis] if self.windows else None
        if windows is not None:
            return windows.interval(index)
        centre = self.start[axis] + index * self.jump[axis]
        half = self.size[axis] / 2
        return float(centre - half), float(centre + half)

    def pixels(self, axis: int, index: int) -> tuple[float, float]:
        """The input pixels unit ``index`` really sees: its field without what only padding reaches."""
        low, high = self.interval(axis, index)
        if not self.reach:
            return low, high
        reach_low, reach_high = self.reach[axis]
        return max(low, reach_low), min(high, reach_high)


def input_field(spatial: Shape) -> Field:
    ones = (1,) * len(spatial)
    return Field(ones, ones, (0.5,) * len(spatial), reach=tuple((0.0, float(n)) for n in spatial))




#: How a node's field came about, for its formula (built only when asked for): ("window" or
#: "global", per-axis ``_AxisHow``), ("merge", (input names, their fields)) or
#: ("gate", (spatial input names, gate input names, their fields)).
How = tuple[str, Any]


# --- the rules -----------------------------------------------------------------------------------


def _axes(value: Any, n: int) -> tuple[int, ...]:
    return (value,) * n if isinstance(value, int) else tuple(value)


def _window(node: LayerNode, module: nn.Module | None, in_spatial: Shape, rank: int) -> tuple[Shape, Shape, Shape, Shape] | None:
    """(kernel, stride, dilation, padding before) of a sliding window, per axis; None if none."""
    if isinstance(module, nn.modules.conv._ConvNd):
        if module.transposed:
            return None
        padding = module.padding
        # The common case, read straight off the module (the analysis benchmark counts every µs).
        if isinstance(padding, tuple) and len(padding) == rank and getattr(type(module), "explorer_padding_mode", None) is None:
            return module.kernel_size, module.stride, module.dilation, padding
    if module is not None and hasattr(module, "kernel_size") and node.kind in {"conv", "pool"}:
        if getattr(module, "transposed", False):
            return None
        kernel = _axes(module.kernel_size, rank)
        stride = _axes(getattr(module, "stride", None) or module.kernel_size, rank)
        dilation = _axes(getattr(module, "dilation", 1), rank)
        pads = tuple(p[0] for p in effective_padding(module, in_spatial))
        return kernel, stride, dilation, pads
    if module is None and node.op in {"max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d"}:
        args = node.arguments
        kernel_arg = args.get("kernel_size", args.get("arg1"))
        if kernel_arg is None:
            return None
        kernel = _axes(kernel_arg, rank)
        stride_arg = args.get("stride", args.get("arg2"))
        stride = _axes(stride_arg, rank) if stride_arg not in (None, [], ()) else kernel
        pads = _axes(args.get("padding", args.get("arg3", 0)) or 0, rank)
        dilation = _axes(args.get("dilation", 1), rank) if node.op.startswith("max") else (1,) * rank
        return kernel, stride, dilation, pads
    return None


#: How one axis grew, for its formula: (RF_in, K, D, jump_in, factor text, jump_in shown, note).
_AxisHow = tuple[Number, Number, int, Number, str, Number, str]


def _window_axis(
    field: Field, axis: int, kernel: int, stride: int, dilation: int, pad: int, units: int
) -> tuple[Number, Number, float, AdaptiveWindows | None, _AxisHow]:
    """One axis through a window: the plain rule, or exactly through remembered adaptive windows."""
    r, j, s0 = field.size[axis], field.jump[axis], field.start[axis]
    behind = field.windows[axis] if field.windows else None
    if behind is None:
        reach = dilation * (kernel - 1)
        return r + reach * j, j * stride, s0 + (reach / 2 - pad) * j, None, (r, kernel, dilation, j, str(stride), j, "")
    through = behind.then(kernel, stride, pad, dilation)
    size, jump, centre, widest = through.summary(units)
    note = "the widest unit, through the adaptive pool's windows"
    return size, jump, centre, through, (behind.base_size, widest, 1, behind.base_jump, str(stride), j, note)


def _adaptive_axis(field: Field, axis: int, n_in: int, n_out: int) -> tuple[Number, Number, float, AdaptiveWindows | None, _AxisHow]:
    """PyTorch's adaptive windows along one axis: a plain window where Out divides In."""
    if n_in % n_out == 0:
        k = n_in // n_out
        return _window_axis(field, axis, k, k, 1, 0, n_out)
    r, j, s0 = field.size[axis], field.jump[axis], field.start[axis]
    # Behind a second adaptive pool the first one's mean geometry stands in for its windows
    # (an approximation; no network here stacks two on one axis).
    pooled = AdaptiveWindows(n_in, n_out, r, j, s0)
    size, jump, centre, widest = pooled.summary(n_out)
    note = f"PyTorch's windows ⌊i·{n_in}/{n_out}⌋ … ⌈(i + 1)·{n_in}/{n_out}⌉, the widest {widest} units"
    return size, jump, centre, pooled, (r, widest, 1, j, f"{n_in}/{n_out}", j, note)


def _assemble(
    field: Field, axes: Sequence[tuple[Number, Number, float, AdaptiveWindows | None, _AxisHow]], kind: str, units: Sequence[int]
) -> tuple[Field, How]:
    # A plain loop: this runs for every conv and pool, and the analysis benchmark counts its µs.
    sizes, jumps, starts, reach, details = [], [], [], [], []
    windows: list[AdaptiveWindows | None] | None = None
    for axis, (size, jump, start, through, detail) in enumerate(axes):
        sizes.append(size)
        jumps.append(jump)
        starts.append(start)
        details.append(detail)
        if through is None:  # the first and the last unit's field …
            half = size / 2
            low, high = start - half, start + (units[axis] - 1) * jump + half
        else:
            windows = windows or [None] * len(axes)
            windows[axis] = through
            low, high = through.interval(0)[0], through.interval(units[axis] - 1)[1]
        low_in, high_in = field.reach[axis]  # … cut to what the input's units see
        reach.append((low if low > low_in else low_in, high if high < high_in else high_in))
    grown = Field(tuple(sizes), tuple(jumps), tuple(starts), field.gate, tuple(windows) if windows else None, tuple(reach))
    return grown, (kind, tuple(details))


def _union(fields: Sequence[Field], out_spatial: Shape | None) -> Field:
    """The smallest field that holds every input's (their units share positions)."""
    first = fields[0]
    if all(f == first for f in fields[1:]):
        return first
    size: list[Number] = []
    jump: list[Number] = []
    start: list[float] = []
    windows: list[AdaptiveWindows | None] = []
    for axis in range(len(first.size)):
        behind = [f.windows[axis] if f.windows else None for f in fields]
        reference = behind[0]
        alike = reference is not None and all(
            w is not None
            and (w.inputs, w.outputs, w.base_size, w.base_jump, w.base_start, w.step)
            == (reference.inputs, reference.outputs, reference.base_size, reference.base_jump, reference.base_start, reference.step)
            for w in behind
        )
        if alike:
            assert reference is not None
            low = min(w.first for w in behind if w is not None)
            high = max(w.first + w.span for w in behind if w is not None)
            merged = AdaptiveWindows(
                reference.inputs, reference.outputs, reference.base_size, reference.base_jump, reference.base_start,
                first=low, step=reference.step, span=high - low,
            )  # fmt: skip
            units = out_spatial[axis] if out_spatial is not None else 1
            widest_size, mean_jump, centre, _ = merged.summary(units)
            size.append(widest_size), jump.append(mean_jump), start.append(centre), windows.append(merged)
            continue
        lows = [f.interval(axis, 0)[0] for f in fields]
        highs = [f.interval(axis, 0)[1] for f in fields]
        low, high = min(lows), max(highs)
        width = high - low
        size.append(int(width) if width == int(width) else Fraction(width).limit_denominator(1 << 20))
        jump.append(max(f.jump[axis] for f in fields))
        start.append((low + high) / 2)
        windows.append(None)
    # The gate of the widest input: in a residual add the branch's, the most recent one.
    gated = [f for f in fields if f.gate]
    gate = max(gated, key=lambda f: sum(f.size)).gate if gated else None
    reaches = [f.reach for f in fields if f.reach]
    reach = tuple((min(r[a][0] for r in reaches), max(r[a][1] for r in reaches)) for a in range(len(first.size))) if reaches else ()
    return Field(tuple(size), tuple(jump), tuple(start), gate, tuple(windows) if any(w is not None for w in windows) else None, reach)


def _broadcast_over_space(shape: Shape, out_spatial: Shape) -> bool:
    """Does a tensor of ``shape`` (no batch) spread over the output's spatial axes (a gate's scale)?"""
    rank = len(out_spatial)
    tail = tuple(shape[-rank:]) if len(shape) >= rank else (1,) * (rank - len(shape)) + tuple(shape)
    return any(a == 1 and b > 1 for a, b in zip(tail, out_spatial))


_WINDOWED = frozenset({"conv", "pool"})


def field_of(
    node: LayerNode,
    module: nn.Module | None,
    names: Sequence[str],
    fields: Sequence[Field],
    shapes: Sequence[Shape],
    rank: int,
) -> tuple[Field, How | None]:
    """The field of ``node`` from its inputs' (``names``, their ``fields`` and output ``shapes``)."""
    out = node.output_shape
    if len(fields) == 1 and node.kind not in _WINDOWED and (len(out) == rank + 1 or len(shapes[0]) != rank + 1):
        # Most nodes (normalisation, activation, elementwise, reshape, after a flatten): unchanged.
        return fields[0], None
    out_spatial = out[1:] if len(out) == rank + 1 else None
    how: How | None = None
    if len(fields) > 1:
        spatial = list(range(len(fields)))
        gates: list[int] = []
        if out_spatial is not None:
            gates = [i for i in spatial if _broadcast_over_space(shapes[i], out_spatial)]
            spatial = [i for i in spatial if i not in gates] or spatial
            gates = [i for i in gates if i not in spatial]
        field = _union([fields[i] for i in spatial], out_spatial)
        if gates:
            field = replace(field, gate=node.name)
            how = ("gate", (tuple(names[i] for i in spatial), tuple(names[i] for i in gates), tuple(fields[i] for i in spatial)))
        elif len({fields[i] for i in spatial}) > 1:
            how = ("merge", (tuple(names[i] for i in spatial), tuple(fields[i] for i in spatial)))
        return field, how
    field = fields[0]
    in_shape = shapes[0]
    if len(in_shape) != rank + 1:
        return field, None  # already global (after a flatten): nothing spatial changes
    in_spatial = in_shape[1:]
    if out_spatial is None:
        # Global: flatten, a mean over the map, a linear layer on it — a window as large as the map.
        axes = [_window_axis(field, a, n, n, 1, 0, 1) for a, n in enumerate(in_spatial)]
        return _assemble(field, axes, "global", (1,) * rank)
    if node.kind not in _WINDOWED:
        return field, None  # elementwise, normalisation, activation, reshape: the field passes through
    window = _window(node, module, in_spatial, rank)
    if window is not None:
        kernel, stride, dilation, pads = window
        axes = [_window_axis(field, a, kernel[a], stride[a], dilation[a], pads[a], out_spatial[a]) for a in range(rank)]
        return _assemble(field, axes, "window", out_spatial)
    if node.kind == "pool" and in_spatial != out_spatial:
        axes = [_adaptive_axis(field, a, n_in, n_out) for a, (n_in, n_out) in enumerate(zip(in_spatial, out_spatial))]
        return _assemble(field, axes, "window", out_spatial)
    return field, None


# --- the formula ---------------------------------------------------------------------------------

_AXIS_NAMES = {1: ("",), 2: ("H", "W"), 3: ("D", "H", "W")}


def _per_axis(clauses: Sequence[str]) -> list[str]:
    """One clause when every axis reads the same, else one per axis: ``H: RF = …; W: RF = …``."""
    if len(set(clauses)) <= 1:
        return list(clauses[:1])
    names = _AXIS_NAMES.get(len(clauses)) or tuple(f"axis {i}" for i in range(len(clauses)))
    return [f"{name}: {clause}" for name, clause in zip(names, clauses)]


def _value_text(value: Number) -> str:
    """A result: ``56``, or ``96/7 ≈ 13.71`` for a fraction."""
    text = number_text(value)
    if isinstance(value, Fraction) and value.denominator != 1:
        text += f" ≈ {float(value):.4g}"
    return text


def _size_text(value: Number) -> str:
    return _value_text(value) + " px"


def field_formula(node: LayerNode, field_in: Field | None, field: Field, how: How | None) -> str | None:
    """The receptive-field line of the layer panel and ``--formulas``; None when nothing changed."""
    if how is None:
        return None
    kind, details = how
    if kind in {"window", "global"}:
        if field_in is not None and field_in == field:
            return None  # a 1×1 convolution with stride 1, an identity adaptive pool
        sizes, jumps = [], []
        for axis, (r, k, d, j, factor, j_shown, note) in enumerate(details):
            reach = f"({number_text(k)} − 1)" if d == 1 else f"{d}×({number_text(k)} − 1)"
            if kind == "global":
                note = f"the whole map, {number_text(k)} units"
            sizes.append(f"RF = {number_text(r)} + {reach} × {number_text(j)} = {_size_text(field.size[axis])}" + (f" ({note})" if note else ""))
            jumps.append(f"jump = {number_text(j_shown)} × {factor} = {_value_text(field.jump[axis])}")
        return "; ".join(_per_axis(sizes) + _per_axis(jumps))
    if kind == "merge":
        names, fields = details
        clauses = []
        for axis in range(len(field.size)):
            if len({f.start[axis] for f in fields}) == 1:
                values = ", ".join(number_text(f.size[axis]) for f in fields)
                clauses.append(f"RF = max({values}) = {_size_text(field.size[axis])}")
            else:
                highs = ", ".join(number_text(plain(f.interval(axis, 0)[1])) for f in fields)
                lows = ", ".join(number_text(plain(f.interval(axis, 0)[0])) for f in fields)
                clauses.append(f"RF = max({highs}) − min({lows}) = {_size_text(field.size[axis])}")
        jumps = _per_axis([f"jump = {number_text(j)}" for j in field.jump])
        return "; ".join(_per_axis(clauses) + jumps) + f" (the widest of {', '.join(_short_names(node, names))})"
    if kind == "gate":
        spatial, gates, _fields = details
        clauses = _per_axis([f"RF = {_size_text(s)}" for s in field.size]) + _per_axis(
            [f"jump = {number_text(j)}" for j in field.jump]
        )
        source = ", ".join(_short_names(node, spatial))
        gate = ", ".join(_short_names(node, gates))
        return "; ".join(clauses) + (
            f" (those of {source}; the gate {gate} is computed from the whole map, so through it this node, "
            "and every node after it, also sees the whole image)"
        )
    return None


def _short_names(node: LayerNode, names: Sequence[str]) -> list[str]:
    """Input names relative to the node's scope: ``branch2.1.bn`` inside ``inception3a``."""
    prefix = node.scope + "." if node.scope else ""
    return [name[len(prefix):] if prefix and name.startswith(prefix) else name for name in names]
