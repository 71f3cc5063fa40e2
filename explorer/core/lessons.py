"""The seeds' lessons as experiments: a claim, the edits that test it, and the measured numbers.

Each lesson names a model, the edits that make its two sides (``base_edits`` for both, ``edits`` on
top for the second), and a ``measure`` that reads its numbers from the two analyses — never typed
in — and states a one-line verdict computed from them. ``run_lesson(name)`` runs one.

The claims come from the seeds (the Korean lecture notes and paper reviews in ``shared/seeds``) and
the papers they review; tests check every number against the arithmetic done by hand.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from explorer.core.convention_names import DEFAULT_CONVENTION
from explorer.core.edits import Edit, LayerSpec, RemoveLayer, ReplaceLayer, SetInput, SetLayer, WhatIf, what_if
from explorer.core.errors import ExplorerError
from explorer.core.layers import Shape
from explorer.core.stats import LayerStats, ModelSummary


#: The lessons' numbers follow the lecture's convention (the seeds' table: MACs without the bias,
#: FLOPs = 2 MACs + 1 per element of an elementwise op): the claims are stated in it.
LESSON_CONVENTION = DEFAULT_CONVENTION
LESSON_CONVENTION_NOTE = (
    "The numbers follow the lecture's convention (the seeds' table: MACs without the bias), the one the claims "
    "are stated in; `cnn-explorer whatif --convention NAME` runs the same edits under another tool's rules."
)


@dataclass(frozen=True)
class Measured:
    """What a lesson's ``measure`` returns: a table, the raw numbers behind it, and the verdict."""

    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    values: Mapping[str, int | float]
    verdict: str
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Lesson:
    name: str  # the CLI's and the menu's key: "vgg-7x7"
    title: str
    source: str  # where the claim comes from
    claim: str  # the seed's claim, in one or two sentences
    model: str
    labels: tuple[str, str]  # what the two sides are ("three 3×3", "one 7×7")
    edits: tuple[Edit, ...]  # the second side = the first + these
    measure: Callable[[WhatIf | None], Measured] = field(repr=False, compare=False)
    base_edits: tuple[Edit, ...] = ()  # the first side (empty: the model as it is)
    input_shape: Shape | None = None
    focus: str | None = None  # the layer or block the numbers are about (selected in the app)

    @property
    def compares(self) -> bool:
        """Whether the lesson is a pair of models (a what-if); EfficientNet's is a table of eight."""
        return bool(self.edits or self.base_edits)


@dataclass(frozen=True)
class LessonResult:
    lesson: Lesson
    measured: Measured
    whatif: WhatIf | None = field(repr=False)

    @property
    def verdict(self) -> str:
        return self.measured.verdict

    @property
    def values(self) -> Mapping[str, int | float]:
        return self.measured.values

    def table(self) -> str:
        """The numbers as an aligned text table (the CLI prints it)."""
        headers, rows = self.measured.headers, self.measured.rows
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

        def line(cells: Sequence[str]) -> str:
            first = cells[0].ljust(widths[0])
            return "  ".join([first, *(c.rjust(w) for c, w in zip(cells[1:], widths[1:]))]).rstrip()

        return "\n".join([line(headers), "  ".join("-" * w for w in widths), *map(line, rows)])

    def to_dict(self) -> dict[str, Any]:
        lesson = self.lesson
        return {
            "name": lesson.name,
            "title": lesson.title,
            "source": lesson.source,
            "claim": lesson.claim,
            "model": lesson.model,
            "convention": LESSON_CONVENTION,
            "labels": list(lesson.labels),
            "base_edits": [edit.to_dict() for edit in lesson.base_edits],
            "edits": [edit.to_dict() for edit in lesson.edits],
            "headers": list(self.measured.headers),
            "rows": [list(row) for row in self.measured.rows],
            "values": dict(self.measured.values),
            "verdict": self.measured.verdict,
            "notes": list(self.measured.notes),
        }


# --- reading numbers from an analysis -----------------------------------------------------------------


def _n(value: int) -> str:
    return f"{value:,}"


def _times(after: float, before: float) -> str:
    if before == 0:
        return "—"
    value = after / before
    return f"{value:.3g}×" if value < 100 else f"{value:,.0f}×"


def _rows(summary: ModelSummary, names: Iterable[str]) -> list[LayerStats]:
    wanted = set(names)
    return [row for row in summary.layers if row.name in wanted]


def _under(summary: ModelSummary, path: str) -> list[LayerStats]:
    return list(summary.block(path)[0])


def conv_weights(row: LayerStats) -> int:
    """A conv or linear layer's weights: its parameters without the biases."""
    settings = row.hyperparameters
    bias = settings.get("out_channels", settings.get("out_features", 0)) if settings.get("bias") else 0
    return row.params - int(bias)


def _weights(rows: Iterable[LayerStats], *kinds: str) -> int:
    return sum(conv_weights(row) for row in rows if row.kind in (kinds or ("conv",)))


def _macs(rows: Iterable[LayerStats], *kinds: str) -> int:
    return sum(row.macs for row in rows if not kinds or row.kind in kinds)


def _count(rows: Iterable[LayerStats], kind: str) -> int:
    return sum(1 for row in rows if row.kind == kind)


def _pair_row(label: str, a: int, b: int) -> tuple[str, str, str, str]:
    return (label, _n(a), _n(b), _times(b, a))


def _pair_headers(lesson_labels: tuple[str, str]) -> tuple[str, ...]:
    return ("", *lesson_labels, "ratio")


def _sides(whatif: WhatIf | None) -> tuple[ModelSummary, ModelSummary]:
    assert whatif is not None, "a comparing lesson gets its what-if"
    return whatif.original, whatif.edited


# --- 1. VGG: small filters --------------------------------------------------------------------------------

_VGG_BLOCK5 = tuple(f"features.{i}" for i in range(24, 30))  # conv relu conv relu conv relu, 512 channels, 14×14


def _stacked_filters(first: str, stack: Sequence[str], kernel: int, labels: tuple[str, str]) -> Callable[[WhatIf | None], Measured]:
    """Measure "one K×K against a stack of 3×3" on VGG-16's last block (the max-pool after it: features.30)."""

    def measure(whatif: WhatIf | None) -> Measured:
        a, b = _sides(whatif)
        rows_a, rows_b = _rows(a, stack), _rows(b, stack)
        weights_a, weights_b = _weights(rows_a), _weights(rows_b)
        channels = int(a.layer(first).hyperparameters["out_channels"])
        c2 = channels * channels
        rf_a, rf_b = a.layer("features.30").receptive_field, b.layer("features.30").receptive_field
        relus_a, relus_b = _count(rows_a, "activation"), _count(rows_b, "activation")
        more = 100 * (weights_b / weights_a - 1)
        rows = (
            _pair_row("convolutions", _count(rows_a, "conv"), _count(rows_b, "conv")),
            _pair_row("weights", weights_a, weights_b),
            (f"weights ÷ C² (C = {channels})", f"{weights_a // c2}", f"{weights_b // c2}", _times(weights_b, weights_a)),
            _pair_row("MACs", _macs(rows_a, "conv"), _macs(rows_b, "conv")),
            _pair_row("ReLUs (non-linearities)", relus_a, relus_b),
            _pair_row("receptive field after the block, px", rf_a, rf_b),
        )
        if rf_a == rf_b and weights_b > weights_a:
            verdict = (
                f"The same {rf_a}-pixel receptive field, but the {kernel}×{kernel} needs {weights_b // c2}C² weights against "
                f"{weights_a // c2}C² ({more:.0f} % more: {_n(weights_b)} vs {_n(weights_a)}) and has "
                f"{relus_a - relus_b} fewer ReLU{'s' if relus_a - relus_b != 1 else ''}: the stacked 3×3 win."
            )
        else:
            verdict = f"Receptive field {rf_a} vs {rf_b} px, weights {_n(weights_a)} vs {_n(weights_b)}: the claim does not hold here."
        values = {"channels": channels, "weights_a": weights_a, "weights_b": weights_b, "rf_a": rf_a, "rf_b": rf_b,
                  "relus_a": relus_a, "relus_b": relus_b, "macs_a": _macs(rows_a, "conv"), "macs_b": _macs(rows_b, "conv")}  # fmt: skip
        return Measured(_pair_headers(labels), rows, values, verdict)

    return measure


VGG_7X7 = Lesson(
    name="vgg-7x7",
    title="VGG: one 7×7 convolution or three 3×3",
    source="VGG (Simonyan & Zisserman, 2015), seeds 000 and 002",
    claim="Three stacked 3×3 convolutions see the same 7×7 region as one 7×7 convolution, with fewer "
    "parameters (3 × 9C² = 27C² against 49C², 81 % more) and three ReLUs instead of one.",
    model="vgg16",
    labels=("three 3×3", "one 7×7"),
    edits=(SetLayer("features.24", kernel_size=7, padding=3), *(RemoveLayer(f"features.{i}") for i in range(25, 29))),
    measure=_stacked_filters("features.24", _VGG_BLOCK5, 7, ("three 3×3", "one 7×7")),
    focus="features.24",
)

VGG_5X5 = Lesson(
    name="vgg-5x5",
    title="VGG: one 5×5 convolution or two 3×3",
    source="VGG (Simonyan & Zisserman, 2015), seeds 001 and 002",
    claim="Two stacked 3×3 convolutions see a 5×5 region: 2 × 3 × 3 = 18 weights per channel pair "
    "against 25 for one 5×5.",
    model="vgg16",
    labels=("two 3×3", "one 5×5"),
    edits=(SetLayer("features.26", kernel_size=5, padding=2), RemoveLayer("features.27"), RemoveLayer("features.28")),
    measure=_stacked_filters("features.26", ("features.26", "features.27", "features.28", "features.29"), 5, ("two 3×3", "one 5×5")),
    focus="features.26",
)


# --- 2. GoogLeNet: 1×1 reductions ----------------------------------------------------------------------

_INCEPTION_3A_5X5 = SetLayer("inception3a.branch3.1.conv", kernel_size=5, padding=2)


def _measure_reductions(whatif: WhatIf | None) -> Measured:
    a, b = _sides(whatif)
    block_a, block_b = _under(a, "inception3a"), _under(b, "inception3a")
    weights_a, weights_b = _weights(block_a), _weights(block_b)
    macs_a, macs_b = _macs(block_a, "conv"), _macs(block_b, "conv")
    out_a, out_b = a.layer("inception3a.cat").output_shape[0], b.layer("inception3a.cat").output_shape[0]
    next_a, next_b = _weights(_under(a, "inception3b")), _weights(_under(b, "inception3b"))
    rows = (
        _pair_row("inception(3a) convolution weights", weights_a, weights_b),
        ("  in K (K = 1024)", f"{weights_a / 1024:,.1f}K", f"{weights_b / 1024:,.1f}K", _times(weights_b, weights_a)),
        _pair_row("inception(3a) convolution MACs", macs_a, macs_b),
        _pair_row("output channels", out_a, out_b),
        _pair_row("inception(3b) convolution weights", next_a, next_b),
    )
    verdict = (
        f"The 1×1 reductions cut inception(3a)'s convolution weights from {_n(weights_b)} to {_n(weights_a)} "
        f"({weights_b / weights_a:.2f}× fewer) and its MACs from {_n(macs_b)} to {_n(macs_a)}, and keep its output "
        f"at {out_a} channels instead of {out_b}, which would make the next module {next_b / next_a:.2f}× as heavy."
    )
    values = {"weights_a": weights_a, "weights_b": weights_b, "macs_a": macs_a, "macs_b": macs_b,
              "channels_a": out_a, "channels_b": out_b, "next_weights_a": next_a, "next_weights_b": next_b}  # fmt: skip
    notes = ("torchvision's GoogLeNet uses a 3×3 in the branch the paper calls 5×5; both sides restore the 5×5 "
             "(inception3a.branch3.1.conv), as in the paper's Table 1.",)  # fmt: skip
    return Measured(_pair_headers(("with 1×1 reductions", "naive")), rows, values, verdict, notes)


GOOGLENET_REDUCTIONS = Lesson(
    name="googlenet-reductions",
    title="GoogLeNet: the naive Inception module or one with 1×1 reductions",
    source="GoogLeNet (Szegedy et al., 2015), Table 1 and Figure 2; seeds 001 and 004",
    claim="1×1 convolutions before the 3×3 and 5×5 convolutions (and after the pooling) reduce the number "
    "of feature maps, and with it the computation: inception(3a) has 159K parameters and 128M operations.",
    model="googlenet",
    labels=("with 1×1 reductions", "naive"),
    base_edits=(_INCEPTION_3A_5X5,),
    edits=(RemoveLayer("inception3a.branch2.0"), RemoveLayer("inception3a.branch3.0"), RemoveLayer("inception3a.branch4.1")),
    measure=_measure_reductions,
    focus="inception3a",
)


# --- 3. GoogLeNet: global average pooling ---------------------------------------------------------------


def _measure_gap(whatif: WhatIf | None) -> Measured:
    a, b = _sides(whatif)
    pooled = a.layer("avgpool")
    map_shape = pooled.input_shapes[0]
    fc = b.layer("avgpool.1")
    units = int(fc.hyperparameters["out_features"])
    head_a = _weights([pooled], "linear")
    head_b = conv_weights(fc)
    formula = " × ".join(str(v) for v in (*map_shape[1:], map_shape[0], units))
    rest = a.totals.params
    rows = (
        _pair_row(f"weights from the {'×'.join(map(str, map_shape[1:]))}×{map_shape[0]} map to {units} values", head_a, head_b),
        _pair_row("all parameters", a.totals.params, b.totals.params),
        _pair_row("MACs of that step", pooled.macs, b.layer("avgpool.1").macs),
        _pair_row("all MACs", a.totals.macs, b.totals.macs),
    )
    verdict = (
        f"Global average pooling has no weights; a fully connected layer in its place needs {formula} = {_n(head_b)} "
        f"weights ({head_b / rest:.1f}× all the other parameters of GoogLeNet, {_n(rest)})."
    )
    values = {"head_weights_a": head_a, "head_weights_b": head_b, "params_a": a.totals.params, "params_b": b.totals.params,
              "units": units, "map_elements": math.prod(map_shape)}  # fmt: skip
    return Measured(_pair_headers(("global average pooling", "flatten + FC")), rows, values, verdict)


GOOGLENET_GAP = Lesson(
    name="googlenet-gap",
    title="GoogLeNet: global average pooling or a fully connected layer",
    source="GoogLeNet (Szegedy et al., 2015); seed 004",
    claim="Averaging each of the 1024 7×7 maps needs no weights, where a fully connected layer from the "
    "7×7×1024 map to 1024 units needs 7 × 7 × 1024 × 1024 = 51.3 M.",
    model="googlenet",
    labels=("global average pooling", "flatten + FC"),
    edits=(ReplaceLayer("avgpool", (LayerSpec("flatten"), LayerSpec("linear", out_features=1024))),),
    measure=_measure_gap,
    focus="avgpool",
)


# --- 4. ResNet: bottleneck, shortcut ---------------------------------------------------------------------


def _measure_bottleneck(whatif: WhatIf | None) -> Measured:
    from explorer.core.analysis import analyze

    a, b = _sides(whatif)
    block_a, block_b = _under(a, "layer1.1"), _under(b, "layer1.1")
    weights_a, weights_b = _weights(block_a), _weights(block_b)
    macs_a, macs_b = _macs(block_a, "conv"), _macs(block_b, "conv")
    channels = a.layer("layer1.1.conv3").output_shape[0]
    # For scale, the paper's Figure 5 pairs the bottleneck with a basic block at 64 channels.
    basic64 = _under(analyze("resnet34"), "layer1.1")
    weights_64, macs_64 = _weights(basic64), _macs(basic64, "conv")
    rows = (
        ("", "bottleneck, 256-d", "basic, 256-d", "ratio", "basic, 64-d (ResNet-34)"),
        (*_pair_row("convolution weights", weights_a, weights_b), _n(weights_64)),
        (*_pair_row("convolution MACs", macs_a, macs_b), _n(macs_64)),
        (*_pair_row("convolutions", _count(block_a, "conv"), _count(block_b, "conv")), str(_count(basic64, "conv"))),
    )
    verdict = (
        f"At {channels} channels a basic block needs {weights_b / weights_a:.1f}× the weights of a bottleneck "
        f"({_n(weights_b)} vs {_n(weights_a)}); the bottleneck costs about what a basic block costs at 64 channels "
        f"({_n(weights_64)}), so ResNet-50 and deeper go 4× wider for the price."
    )
    values = {"weights_a": weights_a, "weights_b": weights_b, "macs_a": macs_a, "macs_b": macs_b,
              "weights_basic64": weights_64, "channels": channels}  # fmt: skip
    return Measured(rows[0], rows[1:], values, verdict)


RESNET_BOTTLENECK = Lesson(
    name="resnet-bottleneck",
    title="ResNet: a bottleneck block or a basic block at 256 channels",
    source="ResNet (He et al., 2016), Figure 5; seed 001",
    claim="A bottleneck block (1×1 down to 64 channels, 3×3, 1×1 back to 256) costs far less than two 3×3 "
    "convolutions at 256 channels: the 1×1 convolutions reduce and restore the dimensions.",
    model="resnet50",
    labels=("bottleneck", "basic block"),
    edits=(ReplaceLayer("layer1.1", (LayerSpec("basic_block", planes=256),)),),
    measure=_measure_bottleneck,
    focus="layer1.1",
)

_GRADIENT_PATH = (
    "With the shortcut, y = relu(F(x) + x), so ∂y/∂x = relu′ · (∂F/∂x + I): the identity term carries the "
    "gradient to x whatever conv1 and conv2 do. Without it, y = relu(F(x)) and the gradient reaches x only "
    "through conv2's and conv1's weights, a product of Jacobians that shrinks layer after layer in a deep plain net."
)


def _measure_shortcut(whatif: WhatIf | None) -> Measured:
    a, b = _sides(whatif)
    adds_a = sum(1 for row in _under(a, "layer1.0") if row.kind == "merge")
    adds_b = sum(1 for row in _under(b, "layer1.0") if row.kind == "merge")
    add_flops = a.layer("layer1.0.add").flops
    rows = (
        _pair_row("parameters", a.totals.params, b.totals.params),
        _pair_row("MACs", a.totals.macs, b.totals.macs),
        _pair_row("FLOPs", a.totals.flops, b.totals.flops),
        _pair_row("adds in layer1.0", adds_a, adds_b),
    )
    same = a.totals.params == b.totals.params and a.totals.macs == b.totals.macs
    verdict = (
        f"Removing the shortcut leaves the {_n(a.totals.params)} parameters and {_n(a.totals.macs)} MACs "
        f"{'unchanged' if same else 'changed'} and saves one add ({_n(add_flops)} FLOPs): the shortcut costs almost "
        "nothing; what it buys is the identity path for the gradient."
    )
    values = {"params_a": a.totals.params, "params_b": b.totals.params, "macs_a": a.totals.macs, "macs_b": b.totals.macs,
              "flops_a": a.totals.flops, "flops_b": b.totals.flops, "adds_a": adds_a, "adds_b": adds_b}  # fmt: skip
    return Measured(_pair_headers(("with shortcut", "shortcut removed")), rows, values, verdict, (_GRADIENT_PATH,))


RESNET_SHORTCUT = Lesson(
    name="resnet-shortcut",
    title="ResNet: a residual block with and without its shortcut",
    source="ResNet (He et al., 2016); seeds 001 and 002",
    claim="The skip connection has no weights: it passes x to the output as it is, so the layers only "
    "learn the change F(x) = H(x) − x, and the gradient has a direct path back.",
    model="resnet18",
    labels=("with shortcut", "shortcut removed"),
    edits=(RemoveLayer("layer1.0.add"),),
    measure=_measure_shortcut,
    focus="layer1.0",
)


# --- 5. AlexNet: two GPUs --------------------------------------------------------------------------------

_ALEXNET_CONVS = (("conv1", "features.0"), ("conv2", "features.3"), ("conv3", "features.6"), ("conv4", "features.8"), ("conv5", "features.10"))


def _measure_two_gpus(whatif: WhatIf | None) -> Measured:
    from explorer.core.analysis import analyze

    a, b = _sides(whatif)
    rows = []
    for label, name in _ALEXNET_CONVS:
        la, lb = a.layer(name), b.layer(name)
        rows.append((f"{label} ({name})", _n(la.params), _n(lb.params), _times(lb.params, la.params), _n(la.macs), _n(lb.macs)))
    rows.append(("whole network", _n(a.totals.params), _n(b.totals.params), _times(b.totals.params, a.totals.params),
                 _n(a.totals.macs), _n(b.totals.macs)))  # fmt: skip
    towers = analyze("alexnet_2gpu").totals.params
    saved = a.totals.params - b.totals.params
    split = [label for label, name in _ALEXNET_CONVS if b.layer(name).params < a.layer(name).params]
    verdict = (
        f"Splitting {', '.join(split)} over two GPUs halves their weights and MACs, conv1, conv3 and the FC layers "
        f"(which see both towers) stay whole: {_n(saved)} parameters fewer in all, and {_n(b.totals.params)} is "
        f"{'exactly' if towers == b.totals.params else 'not'} the two-tower model's count (alexnet_2gpu: {_n(towers)})."
    )
    values = {"params_a": a.totals.params, "params_b": b.totals.params, "towers_params": towers,
              **{f"{label}_params_a": a.layer(name).params for label, name in _ALEXNET_CONVS},
              **{f"{label}_params_b": b.layer(name).params for label, name in _ALEXNET_CONVS},
              **{f"{label}_macs_a": a.layer(name).macs for label, name in _ALEXNET_CONVS},
              **{f"{label}_macs_b": b.layer(name).macs for label, name in _ALEXNET_CONVS}}  # fmt: skip
    headers = ("layer", "params, one tower", "params, two GPUs", "ratio", "MACs, one tower", "MACs, two GPUs")
    notes = ("Both sides have the paper's widths (96-256-384-384-256) and conv1 without padding, set on "
             "torchvision's AlexNet; the two GPUs are groups=2 on conv2, conv4 and conv5.",)  # fmt: skip
    return Measured(headers, tuple(rows), values, verdict, notes)


ALEXNET_TWO_GPUS = Lesson(
    name="alexnet-2gpu",
    title="AlexNet: one tower or split over two GPUs",
    source="AlexNet (Krizhevsky et al., 2012); seed 001",
    claim="AlexNet was split over two GTX 580 GPUs (3 GB each): conv2, conv4 and conv5 see only the maps "
    "of their own GPU, conv3 and the FC layers see both.",
    model="alexnet",
    labels=("one tower", "two GPUs"),
    base_edits=(SetLayer("features.0", out_channels=96, padding=0), SetLayer("features.3", out_channels=256),
                SetLayer("features.8", out_channels=384)),  # fmt: skip
    edits=(SetLayer("features.3", groups=2), SetLayer("features.8", groups=2), SetLayer("features.10", groups=2)),
    measure=_measure_two_gpus,
    focus="features.3",
)


# --- 6. ZFNet ----------------------------------------------------------------------------------------------


def _measure_zfnet(whatif: WhatIf | None) -> Measured:
    a, b = _sides(whatif)
    c1a, c1b = a.layer("features.0"), b.layer("features.0")
    last_a, last_b = a.layer("features.12"), b.layer("features.12")
    shape = lambda row: "×".join(map(str, row.output_shape))  # noqa: E731
    rows = (
        ("conv1 output", shape(c1a), shape(c1b), _times(math.prod(c1b.output_shape), math.prod(c1a.output_shape))),
        ("conv1 receptive field / jump, px", f"{c1a.receptive_field} / {c1a.jump}", f"{c1b.receptive_field} / {c1b.jump}", ""),
        _pair_row("conv1 MACs", c1a.macs, c1b.macs),
        ("last feature map (features.12)", shape(last_a), shape(last_b), ""),
        ("its receptive field / jump, px", f"{last_a.receptive_field} / {last_a.jump}", f"{last_b.receptive_field} / {last_b.jump}", ""),
        _pair_row("conv3–5 weights", _weights(_rows(a, ("features.6", "features.8", "features.10"))),
                  _weights(_rows(b, ("features.6", "features.8", "features.10")))),  # fmt: skip
        _pair_row("all MACs", a.totals.macs, b.totals.macs),
        _pair_row("all parameters", a.totals.params, b.totals.params),
    )
    verdict = (
        f"ZFNet's conv1 sees {c1b.receptive_field} px with a stride of {c1b.jump} instead of {c1a.receptive_field} px "
        f"with {c1a.jump}: a {shape(c1b)} map instead of {shape(c1a)}, finer detail for {_times(c1b.macs, c1a.macs)} "
        f"conv1's MACs; with conv3–5 widened the network does {_times(b.totals.macs, a.totals.macs)} the MACs "
        f"({_n(a.totals.macs)} → {_n(b.totals.macs)})."
    )
    values = {"conv1_side_a": c1a.output_shape[-1], "conv1_side_b": c1b.output_shape[-1], "conv1_rf_a": c1a.receptive_field,
              "conv1_rf_b": c1b.receptive_field, "conv1_jump_a": c1a.jump, "conv1_jump_b": c1b.jump,
              "conv1_macs_a": c1a.macs, "conv1_macs_b": c1b.macs, "rf_a": last_a.receptive_field, "rf_b": last_b.receptive_field,
              "macs_a": a.totals.macs, "macs_b": b.totals.macs, "params_a": a.totals.params, "params_b": b.totals.params}  # fmt: skip
    return Measured(_pair_headers(("AlexNet", "ZFNet")), rows, values, verdict)


ZFNET = Lesson(
    name="zfnet",
    title="ZFNet: AlexNet's first layer changed, conv3–5 widened",
    source="ZFNet (Zeiler & Fergus, 2014); seed 001",
    claim="ZFNet keeps AlexNet's layers and tunes them: CONV1 11×11 stride 4 → 7×7 stride 2, and conv3, 4, 5 "
    "with 512, 1024, 512 filters instead of 384, 384, 256 (top-5 error 16.4 % → 11.7 %).",
    model="alexnet",
    labels=("AlexNet", "ZFNet"),
    input_shape=(3, 224, 224),
    edits=(SetLayer("features.0", kernel_size=7, stride=2, padding=1), SetLayer("features.6", out_channels=512),
           SetLayer("features.8", out_channels=1024), SetLayer("features.10", out_channels=512)),  # fmt: skip
    measure=_measure_zfnet,
    focus="features.0",
)


# --- 7. EfficientNet compound scaling ---------------------------------------------------------------------

#: (width w, depth d, resolution r) of B0…B7: the paper's Table/official configuration, and the
#: ``width_mult``/``depth_mult`` torchvision's builders pass (tests check both against the built models).
EFFICIENTNET_SCALING: tuple[tuple[str, float, float, int], ...] = (
    ("efficientnet_b0", 1.0, 1.0, 224),
    ("efficientnet_b1", 1.0, 1.1, 240),
    ("efficientnet_b2", 1.1, 1.2, 260),
    ("efficientnet_b3", 1.2, 1.4, 300),
    ("efficientnet_b4", 1.4, 1.8, 380),
    ("efficientnet_b5", 1.6, 2.2, 456),
    ("efficientnet_b6", 1.8, 2.6, 528),
    ("efficientnet_b7", 2.0, 3.1, 600),
)
_MBCONV_BLOCK = re.compile(r"^features\.[1-7]\.\d+$")  # torchvision's layout: stages 1–7 of MBConv blocks


def mbconv_blocks(summary: ModelSummary) -> int:
    """How many MBConv blocks a torchvision EfficientNet has (B0: 16): its measured depth."""
    return sum(1 for path in summary.graph.module_paths() if _MBCONV_BLOCK.match(path))


def _measure_scaling(whatif: WhatIf | None) -> Measured:
    from explorer.core.analysis import analyze

    rows, values, ratios = [], {}, []
    base_macs = 0
    base_side = EFFICIENTNET_SCALING[0][3]
    for phi, (name, width, depth, side) in enumerate(EFFICIENTNET_SCALING):
        summary = analyze(name, (3, side, side))
        macs = summary.totals.macs
        base_macs = base_macs or macs
        predicted = depth * width**2 * (side / base_side) ** 2
        measured = macs / base_macs
        ratios.append((measured, predicted))
        blocks = mbconv_blocks(summary)
        rows.append((
            f"B{phi}", str(phi), f"{width:g}", f"{depth:g}", str(side), str(blocks), _n(summary.totals.params), _n(macs),
            f"{measured:.2f}", f"{predicted:.2f}", f"{2 ** phi:g}",
        ))  # fmt: skip
        values |= {f"b{phi}_params": summary.totals.params, f"b{phi}_macs": macs, f"b{phi}_blocks": blocks}
    deviations = [abs(m / p - 1) for m, p in ratios]
    worst = max(range(1, len(ratios)), key=lambda i: deviations[i])
    late = max(deviations[4:])
    worst_blocks, base_blocks = values[f"b{worst}_blocks"], values["b0_blocks"]
    last_measured = ratios[-1][0]
    verdict = (
        f"Measured MACs track d·w²·r²: within {100 * late:.0f} % for B4–B7; the small φ deviate most "
        f"(B{worst}: {100 * deviations[worst]:.0f} %, its d = {EFFICIENTNET_SCALING[worst][2]:g} becomes {worst_blocks} blocks, "
        f"{worst_blocks / base_blocks:.2f}× B0's {base_blocks}, as every stage rounds its depth up). B7 costs "
        f"{last_measured:.0f}× B0 ≈ 2^{math.log2(last_measured):.1f}, where α·β²·γ² ≈ 2 per step of φ gives 2^7 = 128."
    )
    values["max_deviation"] = max(deviations)
    headers = ("model", "φ", "width w", "depth d", "input r", "MBConv blocks", "params", "MACs", "MACs ÷ B0",
               "d·w²·(r/224)²", "2^φ")  # fmt: skip
    notes = ("The paper's FLOPS are multiply-adds (B0: 0.39 B): the MACs column here.",
             "Resolutions are the paper's; torchvision's B2 weights are evaluated at 288 instead of 260.")  # fmt: skip
    return Measured(headers, tuple(rows), values, verdict, notes)


EFFICIENTNET_SCALING_LESSON = Lesson(
    name="efficientnet-scaling",
    title="EfficientNet: compound scaling from B0 to B7",
    source="EfficientNet (Tan & Le, 2019); seed 000's outline",
    claim="Scaling depth, width and resolution together (d = α^φ, w = β^φ, r = γ^φ with α·β²·γ² ≈ 2) "
    "multiplies the FLOPs by about 2^φ, since FLOPs grow as d·w²·r².",
    model="efficientnet_b0",
    labels=("B0", "B7"),
    edits=(),
    measure=_measure_scaling,
)


# --- 8. LeNet-5's C3 --------------------------------------------------------------------------------------


def _measure_c3(whatif: WhatIf | None) -> Measured:
    a, b = _sides(whatif)
    c3a, c3b = a.layer("c3"), b.layer("c3")
    kernels_a = c3a.params - c3a.output_shape[0]  # the connected 5×5 kernels, times 25, plus 16 biases
    area = 25
    rows = (
        _pair_row("C3 parameters", c3a.params, c3b.params),
        _pair_row("C3 kernels (5×5 each)", kernels_a // area, (c3b.params - c3b.output_shape[0]) // area),
        _pair_row("C3 MACs", c3a.macs, c3b.macs),
        _pair_row("all parameters", a.totals.params, b.totals.params),
    )
    verdict = (
        f"C3's connection table keeps {kernels_a // area} of the 16 × 6 = 96 map pairs: {_n(c3a.params)} parameters "
        f"instead of {_n(c3b.params)} and {_n(c3a.macs)} MACs instead of {_n(c3b.macs)}; LeCun et al. also wanted it to "
        "break the symmetry, so that different maps learn different features."
    )
    values = {"params_a": c3a.params, "params_b": c3b.params, "macs_a": c3a.macs, "macs_b": c3b.macs,
              "total_a": a.totals.params, "total_b": b.totals.params}  # fmt: skip
    return Measured(_pair_headers(("connection table", "full connection")), rows, values, verdict)


LENET_C3 = Lesson(
    name="lenet-c3",
    title="LeNet-5: C3's partial connection table or a full connection",
    source="LeNet-5 (LeCun et al., 1998), Table I",
    claim="C3 connects each of its 16 maps to only some of S2's 6 maps (Table I): 1,516 trainable "
    "parameters, against 2,416 for a full connection.",
    model="lenet5",
    labels=("connection table", "full connection"),
    edits=(ReplaceLayer("c3", (LayerSpec("conv", out_channels=16, kernel_size=5),)),),
    measure=_measure_c3,
    focus="c3",
)


# --- 9. VGG and the input resolution -----------------------------------------------------------------------

_VGG_RESOLUTIONS = (224, 448, 96)


def smallest_input(model: str, *, channels: int = 3, largest: int = 224) -> tuple[int, ExplorerError | None]:
    """The smallest square side ``model`` accepts (bisection; below it the output becomes empty), and
    the error one pixel below it."""
    from explorer.core.analysis import analyze

    def fits(side: int) -> ExplorerError | None:
        try:
            analyze(model, (channels, side, side))
        except ExplorerError as error:
            return error
        return None

    low, high = 1, largest  # fits(high); the answer is in (low − 1, high]
    if fits(low) is None:
        return low, None
    while high - low > 1:
        middle = (low + high) // 2
        if fits(middle) is None:
            high = middle
        else:
            low = middle
    return high, fits(high - 1)


def _measure_resolution(whatif: WhatIf | None) -> Measured:
    from explorer.core.analysis import analyze
    from explorer.core.edits import apply_edits
    from explorer.core.graph import GraphBuildError

    rows, values = [], {}
    without_pool = (RemoveLayer("avgpool"),)
    for side in _VGG_RESOLUTIONS:
        summary = analyze("vgg16", (3, side, side))
        paper, _, _, _ = apply_edits("vgg16", without_pool, input_shape=(3, side, side))
        last = summary.layer("features.30").output_shape
        fc_in = int(summary.layer("classifier.0").input_shapes[0][-1])
        paper_fc = paper.layer("classifier.0")
        rows.append((
            f"{side}×{side}", "×".join(map(str, summary.layer("features.0").output_shape)), "×".join(map(str, last)),
            _n(fc_in), _n(summary.totals.params), _n(summary.totals.macs), _n(int(paper_fc.input_shapes[0][-1])),
            _n(paper_fc.params),
        ))  # fmt: skip
        values |= {f"fc_in_{side}": fc_in, f"paper_fc_in_{side}": int(paper_fc.input_shapes[0][-1]),
                   f"paper_fc_params_{side}": paper_fc.params, f"macs_{side}": summary.totals.macs,
                   f"params_{side}": summary.totals.params}  # fmt: skip
    side, error = smallest_input("vgg16")
    cause = error.__cause__ if error is not None else None
    where = f"{cause.node} ({cause.op})" if isinstance(cause, GraphBuildError) else "a layer"
    values["smallest_side"] = side
    breaks = (f"Below {side} px the network breaks: at {side - 1}×{side - 1} the output of {where} becomes empty "
              f"(five 2×2 max-pools halve {side - 1} down to 0)." if error is not None else "")  # fmt: skip
    verdict = (
        f"Doubling the input to 448 doubles every map's side and multiplies the MACs by "
        f"{values['macs_448'] / values['macs_224']:.2f}; torchvision's adaptive pooling keeps FC6 at {_n(values['fc_in_448'])} "
        f"inputs, so the parameters stay {_n(values['params_448'])}, where the paper's VGG (no such pooling) would need "
        f"{_n(values['paper_fc_in_448'])} inputs ({_n(values['paper_fc_params_448'])} FC6 parameters). {breaks}"
    )
    headers = ("input", "conv1 output", "last pool (features.30)", "FC6 inputs", "params", "MACs",
               "FC6 inputs without the adaptive pool", "FC6 params without it")  # fmt: skip
    notes = ("torchvision's VGG has an AdaptiveAvgPool2d((7, 7)) before the classifier; the paper's does not, "
             "which the last two columns show (the avgpool removed, FC6 resized to what it receives).",)  # fmt: skip
    return Measured(headers, tuple(rows), values, verdict.strip(), notes)


VGG_RESOLUTION = Lesson(
    name="vgg-resolution",
    title="VGG: the input resolution (224, 448, 96)",
    source="VGG (Simonyan & Zisserman, 2015): fixed 224×224 training crops, dense evaluation at other scales; seeds 002 and 003",
    claim="VGG takes a 224×224 RGB image; every layer's output scales with the input, and the fully connected "
    "layers fix the size they accept, which is why the paper turns them into convolutions for other scales.",
    model="vgg16",
    labels=("224×224", "448×448"),
    edits=(SetInput((3, 448, 448)),),
    measure=_measure_resolution,
    focus="features.30",
)


LESSONS: tuple[Lesson, ...] = (
    VGG_7X7, VGG_5X5, GOOGLENET_REDUCTIONS, GOOGLENET_GAP, RESNET_BOTTLENECK, RESNET_SHORTCUT,
    ALEXNET_TWO_GPUS, ZFNET, EFFICIENTNET_SCALING_LESSON, LENET_C3, VGG_RESOLUTION,
)  # fmt: skip
_BY_NAME: Mapping[str, Lesson] = MappingProxyType({lesson.name: lesson for lesson in LESSONS})


def get_lesson(name: str) -> Lesson:
    if name in _BY_NAME:
        return _BY_NAME[name]
    import difflib

    close = difflib.get_close_matches(name, list(_BY_NAME), n=3, cutoff=0.5)
    hint = f"Did you mean {', '.join(close)}?" if close else "Run `cnn-explorer lesson` for the list."
    raise ExplorerError(f"Unknown lesson {name!r}.", hint=hint)


def run_lesson(name: str | Lesson) -> LessonResult:
    """Apply the lesson's edits, analyse both sides, and measure."""
    lesson = get_lesson(name) if isinstance(name, str) else name
    whatif = None
    if lesson.compares:
        whatif = what_if(
            lesson.model, lesson.edits, input_shape=lesson.input_shape, base_edits=lesson.base_edits,
            convention=LESSON_CONVENTION,
        )  # fmt: skip
    return LessonResult(lesson, lesson.measure(whatif), whatif)
