"""Stages of a network (runs of layers at one spatial resolution) and side-by-side comparisons.

A *stage* is a run of consecutive layers (topological order) whose outputs share one spatial
resolution H×W; a new stage starts where the resolution changes. The layers after the last
spatial output (flatten, the fully connected classifier) form a final *head* stage whose
resolution is ``None``.

Short excursions to a lower resolution that come back — a squeeze-and-excitation branch
(global pool to 1×1, then a multiply back at H×W), an auxiliary classifier, the stride-2 branch
of a reduction block listed before its sibling branches — stay in the enclosing stage: each
layer belongs to the largest resolution that any later layer still has, so stages only ever
shrink and every resolution appears once.

Qt-free: the GUI's compare view and charts display what this module computes.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from explorer.core.layers import Shape
from explorer.core.stats import LayerStats, ModelSummary, Totals

Resolution = tuple[int, ...]

#: The quantities a comparison puts side by side (attribute names of Totals).
QUANTITIES = ("params", "trainable_params", "macs", "flops", "activation_bytes")


@dataclass(frozen=True)
class Stage:
    """Consecutive layers at one output resolution (or the head, ``resolution is None``)."""

    index: int  # 0-based, in order
    resolution: Resolution | None  # (H, W) of the outputs; None for the head
    channels: int  # channels at the stage's end (features of the last output for the head)
    layer_names: tuple[str, ...]
    params: int
    macs: int
    flops: int
    activation_bytes: int

    @property
    def first(self) -> str:
        return self.layer_names[0]

    @property
    def last(self) -> str:
        return self.layer_names[-1]

    @property
    def layer_count(self) -> int:
        return len(self.layer_names)

    @property
    def is_head(self) -> bool:
        return self.resolution is None

    @property
    def label(self) -> str:
        """``"56×56"``, or ``"head"``."""
        return resolution_text(self.resolution)


def resolution_text(resolution: Resolution | None) -> str:
    return "head" if resolution is None else "×".join(str(v) for v in resolution)


def _resolution_of(shape: Shape, spatial_rank: int) -> Resolution | None:
    """The spatial part of an output shape (C, H, W) → (H, W); None when it is not spatial."""
    if spatial_rank == 0 or len(shape) != spatial_rank + 1:
        return None
    return tuple(shape[1:])


def _order_key(resolution: Resolution | None) -> tuple[int, Resolution]:
    """Larger resolutions first: by pixel count, then by the sizes; the head (None) is the smallest."""
    if resolution is None:
        return (-1, ())
    count = 1
    for v in resolution:
        count *= v
    return (count, resolution)


def stages(summary: ModelSummary) -> tuple[Stage, ...]:
    """Group the layers of ``summary`` (the input excluded) into stages by output resolution."""
    layers = summary.layers
    if not layers:
        return ()
    spatial_rank = len(summary.input_shape) - 1
    own = [_resolution_of(layer.output_shape, spatial_rank) for layer in layers]
    # Each layer takes the largest resolution still to come (itself included): excursions that
    # return to a larger resolution stay in their stage, and the sequence never grows.
    assigned: list[Resolution | None] = [None] * len(layers)
    best: Resolution | None = None
    for i in range(len(layers) - 1, -1, -1):
        if own[i] is not None and (best is None or _order_key(own[i]) > _order_key(best)):
            best = own[i]
        assigned[i] = best
    result: list[Stage] = []
    position = 0
    for resolution, group in itertools.groupby(assigned):
        count = len(list(group))
        run = layers[position : position + count]
        position += count
        result.append(_stage(len(result), resolution, run))
    return tuple(result)


def _stage(index: int, resolution: Resolution | None, run: tuple[LayerStats, ...]) -> Stage:
    last_shape = run[-1].output_shape
    return Stage(
        index=index,
        resolution=resolution,
        channels=last_shape[0] if last_shape else 1,
        layer_names=tuple(layer.name for layer in run),
        params=sum(layer.params for layer in run),
        macs=sum(layer.macs for layer in run),
        flops=sum(layer.flops for layer in run),
        activation_bytes=sum(layer.activation_bytes for layer in run),
    )


def cumulative(values: Iterable[int]) -> tuple[int, ...]:
    """Running sums: the cumulative params or MACs column of the layer table and charts."""
    return tuple(itertools.accumulate(values))


@dataclass(frozen=True)
class StagePair:
    """One row of a comparison: the stages of both models at one resolution (either may be absent)."""

    resolution: Resolution | None
    a: Stage | None
    b: Stage | None

    @property
    def label(self) -> str:
        return resolution_text(self.resolution)


@dataclass(frozen=True)
class Comparison:
    a: ModelSummary
    b: ModelSummary
    stages_a: tuple[Stage, ...]
    stages_b: tuple[Stage, ...]
    pairs: tuple[StagePair, ...]  # outer join by resolution, larger resolutions first, head last
    ratios: Mapping[str, float | None]  # b / a per quantity of QUANTITIES; None where a is 0

    @property
    def totals_a(self) -> Totals:
        return self.a.totals

    @property
    def totals_b(self) -> Totals:
        return self.b.totals


def ratio(a: int | float, b: int | float) -> float | None:
    """``b / a``, or None when ``a`` is zero."""
    return None if a == 0 else b / a


def comparison(a: ModelSummary, b: ModelSummary) -> Comparison:
    """Pair the stages of ``a`` and ``b`` by resolution and compare their totals (ratios are b / a)."""
    stages_a, stages_b = stages(a), stages(b)
    by_a = {s.resolution: s for s in stages_a}
    by_b = {s.resolution: s for s in stages_b}
    resolutions = sorted(by_a.keys() | by_b.keys(), key=_order_key, reverse=True)
    pairs = tuple(StagePair(r, by_a.get(r), by_b.get(r)) for r in resolutions)
    ratios = {q: ratio(getattr(a.totals, q), getattr(b.totals, q)) for q in QUANTITIES}
    return Comparison(
        a=a,
        b=b,
        stages_a=stages_a,
        stages_b=stages_b,
        pairs=pairs,
        ratios=MappingProxyType(ratios),
    )
