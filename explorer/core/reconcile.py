"""Why do the numbers differ? One model's operation count from every source, side by side.

``reconcile(summary)`` puts in one table the paper's published figure (where the paper gives
one), torchvision's ``_ops`` (the GFLOPS in its weights' meta), and the total under every
convention of ``conventions.py``, each with one line saying what makes the difference. The
lines for the conventions are computed, not written: each says how far that tool's count is
from the convolutions' and linear layers' multiply-adds and which kinds of layer make up the
rest (biases, BatchNorm, activations, pooling, ops it skips).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from explorer.core.conventions import CONVENTION_NAMES, get_convention
from explorer.core.layers import Shape
from explorer.core.stats import ModelSummary


@dataclass(frozen=True)
class PublishedFigure:
    """What a paper says a network costs, and where it says it."""

    value: float | None  # None: the paper gives no operation count
    shown: str  # the figure as the paper writes it ("3.8×10⁹")
    unit: str  # as the paper names it ("FLOPs (multiply-adds)", "connections")
    source: str  # where: authors, year, table or section
    why: str  # what it is, and what makes torchvision's (or the zoo's) count differ from it
    input_size: tuple[int, int] = (224, 224)


def _no_figure(source: str, why: str) -> PublishedFigure:
    return PublishedFigure(None, "—", "", source, why)


_HE = "He et al. 2016, Table 1"
_HE_UNIT = "FLOPs (multiply-adds)"  # §3.3: "3.6 billion FLOPs (multiply-adds)"
_V15 = (
    "torchvision's {name} is ResNet v1.5: the stride 2 of each downsampling bottleneck sits on the 3×3, not on "
    "the first 1×1, so that 1×1 runs at 4× the positions ({name}_v1 in the zoo is the paper's layout)"
)
_VGG_PAPER = "the VGG paper gives parameters only (Table 2), no operation count"
_ALEXNET_PAPER = (
    "the 2012 paper gives no operation count (60 M parameters, 650,000 neurons); the lecture (seed 001) "
    "gives its table row by row (conv1 72,855,552, pool1 419,904), which the lecture convention reproduces"
)
_GOOGLENET_BUDGET = (
    '"a computational budget of 1.5 billion multiply-adds at inference time": a design budget, not a count'
)

#: The papers' own figures, by zoo name (a name that is not in the zoo is simply never asked for).
PAPER_FIGURES: Mapping[str, PublishedFigure] = MappingProxyType(
    {
        "lenet5": PublishedFigure(
            340_068,
            "340,068",
            "connections (C1–F6)",
            "LeCun et al. 1998, §II-B (per layer)",
            "C1 122,304 + S2 5,880 + C3 151,600 + S4 2,000 + C5 48,120 + F6 10,164, summed here; a connection is a "
            "multiply-add with the bias as one more input (torchinfo's rule for C1, C3, C5, F6), S2/S4 count 4 inputs "
            "and a bias per unit, and the RBF output's 840 are not listed",
            (32, 32),
        ),
        "alexnet": _no_figure("Krizhevsky et al. 2012", _ALEXNET_PAPER),
        "alexnet_2gpu": _no_figure("Krizhevsky et al. 2012", _ALEXNET_PAPER),
        "zfnet": _no_figure("Zeiler & Fergus 2014", "the paper gives no operation count"),
        "zfnet_paper": _no_figure("Zeiler & Fergus 2014", "the paper gives no operation count"),
        "vgg11": _no_figure("Simonyan & Zisserman 2015", _VGG_PAPER),
        "vgg11_lrn": _no_figure("Simonyan & Zisserman 2015", _VGG_PAPER),
        "vgg13": _no_figure("Simonyan & Zisserman 2015", _VGG_PAPER),
        "vgg16_c": _no_figure("Simonyan & Zisserman 2015", _VGG_PAPER),
        "vgg16": PublishedFigure(
            15.3e9,
            "15.3×10⁹",
            "FLOPs",
            "He et al. 2016, §4.1",
            '"VGG-16/19 nets (15.3/19.6 billion FLOPs)" (the VGG paper gives none); He et al. do not say how they '
            "counted VGG-16: its convolutions alone are 15.35 G multiply-adds, the fully connected layers add 0.12 G",
        ),
        "vgg19": PublishedFigure(
            19.6e9,
            "19.6×10⁹",
            "FLOPs",
            "He et al. 2016, §3.3",
            '"VGG-19 (19.6 billion FLOPs)" (the VGG paper gives none): convolutions and fully connected layers, '
            "multiply-adds, rounded",
        ),
        "googlenet": PublishedFigure(
            1.5e9,
            "1.5×10⁹",
            "multiply-adds",
            "Szegedy et al. 2015, §1",
            _GOOGLENET_BUDGET + "; torchvision's GoogLeNet is not the paper's either: its '5×5' branch is 3×3 and "
            "it adds BatchNorm (googlenet_paper in the zoo has the 5×5)",
        ),
        "googlenet_paper": PublishedFigure(1.5e9, "1.5×10⁹", "multiply-adds", "Szegedy et al. 2015, §1", _GOOGLENET_BUDGET),
        "resnet18": PublishedFigure(1.8e9, "1.8×10⁹", _HE_UNIT, _HE, "the paper's layout; the paper rounds"),
        "resnet34": PublishedFigure(3.6e9, "3.6×10⁹", _HE_UNIT, _HE, "the paper's layout; the paper rounds"),
        "resnet50": PublishedFigure(3.8e9, "3.8×10⁹", _HE_UNIT, _HE, _V15.format(name="resnet50")),
        "resnet101": PublishedFigure(7.6e9, "7.6×10⁹", _HE_UNIT, _HE, _V15.format(name="resnet101")),
        "resnet152": PublishedFigure(11.3e9, "11.3×10⁹", _HE_UNIT, _HE, _V15.format(name="resnet152")),
        "resnet50_v1": PublishedFigure(3.8e9, "3.8×10⁹", _HE_UNIT, _HE, "the paper's layout (v1)"),
        "resnet101_v1": PublishedFigure(7.6e9, "7.6×10⁹", _HE_UNIT, _HE, "the paper's layout (v1)"),
        "resnet152_v1": PublishedFigure(11.3e9, "11.3×10⁹", _HE_UNIT, _HE, "the paper's layout (v1)"),
        "efficientnet_b0": PublishedFigure(
            0.39e9,
            "0.39 B",
            "FLOPs",
            "Tan & Le 2019, Table 2",
            "the paper's FLOPs are multiply-adds (the scale of torchvision's _ops), rounded",
        ),
        "efficientnet_lite0": _no_figure("no paper", "EfficientNet-Lite comes from TensorFlow's model repository, not a paper"),
    }
)


@dataclass(frozen=True)
class Line:
    """One row of the table."""

    source: str  # "paper", "torchvision", or a convention's name
    label: str  # who says it: a citation, "torchvision _ops", a convention's title
    total: float | None  # in ``unit``; None when there is no such figure
    shown: str  # the total as its source writes it ("3.8×10⁹", "4.089 G", "4,111,512,576")
    unit: str
    macs: float | None  # the same in multiply-adds (FLOPs / 2), to compare the rows
    why: str


@dataclass(frozen=True)
class Reconciliation:
    model: str
    title: str
    input_shape: Shape
    mode: str
    lines: tuple[Line, ...]

    #: The columns of ``cells`` (the CLI's table and the GUI's view show the same).
    HEADERS = ("source", "total", "unit", "MACs", "× lecture", "what makes the difference")

    def line(self, source: str) -> Line:
        return next(line for line in self.lines if line.source == source)

    def cells(self, line: Line) -> tuple[str, str, str, str, str, str]:
        """``line`` as text, in the order of ``HEADERS``: the total in MACs and as a multiple of the lecture's."""
        lecture = self.line("lecture").macs or 0
        macs = compact(line.macs, 4) if line.macs is not None else "—"
        ratio = f"{line.macs / lecture:.3f}" if line.macs is not None and lecture else "—"
        label = line.source if line.source in CONVENTION_NAMES else f"{line.source} ({line.label})"
        return label, line.shown, line.unit or "—", macs, ratio, line.why

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "input_shape": list(self.input_shape),
            "mode": self.mode,
            "lines": [
                {
                    "source": line.source, "label": line.label, "total": line.total, "shown": line.shown,
                    "unit": line.unit, "macs": line.macs, "why": line.why,
                }  # fmt: skip
                for line in self.lines
            ],
        }


def compact(value: float, digits: int = 3) -> str:
    """``4.09 G``, ``10.8 M``, ``2.1 K``: ``digits`` significant digits and an SI prefix."""
    magnitude = abs(value)
    for scale, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if magnitude >= scale:
            scaled = value / scale
            return f"{scaled:,.{digits}g} {prefix}" if abs(scaled) < 10**digits else f"{scaled:,.0f} {prefix}"
    return f"{value:,.0f}"


def _paper_line(summary: ModelSummary) -> Line:
    figure = PAPER_FIGURES.get(summary.model)
    if figure is None:
        return Line("paper", "none recorded", None, "—", "", None, "cnn-explorer knows of no published figure for this model")
    why = figure.why
    if figure.value is not None and tuple(summary.input_shape[1:]) != figure.input_size:
        why += f"; the paper's figure is for {figure.input_size[0]}×{figure.input_size[1]}"
    return Line("paper", figure.source, figure.value, figure.shown, figure.unit, figure.value, why)


def _torchvision_line(summary: ModelSummary) -> Line:
    from explorer.core.zoo import get_spec

    try:
        tv_name = get_spec(summary.model).torchvision_name
    except Exception:  # a model instance or a user's file
        tv_name = None
    if tv_name is None:
        return Line("torchvision", "_ops", None, "—", "", None, "torchvision has no weights for this model")
    import torchvision

    try:
        weights = torchvision.models.get_model_weights(tv_name).DEFAULT
    except ValueError:
        return Line("torchvision", "_ops", None, "—", "", None, f"torchvision has no weights for {tv_name}")
    ops = weights.meta.get("_ops")
    crop = weights.transforms().crop_size[0]
    why = (
        "the GFLOPS in its weights' meta, from a torch-dispatch counter of convolutions and matrix products "
        "(pytorch/vision#6936): numerically conv + linear multiply-adds, no bias"
    )
    if tuple(summary.input_shape[1:]) != (crop, crop):
        why += f"; measured at {crop}×{crop}"
    if ops is None:
        return Line("torchvision", f"_ops of {weights}", None, "—", "", None, "its weights' meta has no _ops")
    value = float(ops) * 1e9
    return Line("torchvision", f"_ops of {weights}", value, f"{ops:g} G", "MACs (called GFLOPS)", value, why)


def _convention_line(summary: ModelSummary, name: str, base: Mapping[str, int]) -> Line:
    convention = get_convention(name)
    counted = summary.with_convention(name)
    total = convention.native(counted.totals.macs, counted.totals.flops)
    products = sum(base.values())
    shown = f"{total:,}"
    if name == "torch":
        why = f"2 FLOPs per multiply-add: 2 × {compact(products, 4)} conv + linear products, nothing else"
        return Line(name, convention.title, total, shown, convention.reports, counted.totals.macs, why)
    extra: dict[str, int] = defaultdict(int)
    for row in counted.layers:
        products_here = base.get(row.name, 0)
        delta = row.macs - products_here
        if delta:
            extra[_difference_label(summary, row, products_here, delta)] += delta
    parts = sorted(extra.items(), key=lambda item: -abs(item[1]))
    largest = parts[:5]
    rest = sum(value for _, value in parts[5:])
    terms = [f"{'+' if value > 0 else '−'} {compact(abs(value))} {label}" for label, value in largest]
    if rest:
        terms.append(f"{'+' if rest > 0 else '−'} {compact(abs(rest))} other")
    why = f"conv + linear {compact(products, 4)} " + (" ".join(terms) if terms else "and nothing else")
    return Line(name, convention.title, total, shown, convention.reports, counted.totals.macs, why)


def _difference_label(summary: ModelSummary, row: Any, products: int, delta: int) -> str:
    """What a layer's count beyond (or short of) its conv/linear products is: bias, BatchNorm2d, ReLU, …"""
    if row.kind in {"conv", "linear"} and products and delta > 0:
        module = summary.graph.module(row.node)
        if getattr(module, "bias", None) is not None:
            return "bias"
    label = row.type if row.node.is_module else f"{row.type} (functional)"
    return f"{label} not counted" if delta < 0 and row.macs == 0 else label


def reconcile(summary: ModelSummary) -> Reconciliation:
    """The paper, torchvision's ``_ops`` and every convention's total for ``summary``'s model."""
    products = summary.with_convention("torch")  # conv and matrix products only: the common core
    base = {row.name: row.macs for row in products.layers}
    lines = [_paper_line(summary), _torchvision_line(summary)]
    lines += [_convention_line(summary, name, base) for name in CONVENTION_NAMES]
    return Reconciliation(summary.model, summary.title, summary.input_shape, summary.mode, tuple(lines))


def render_reconciliation(reconciliation: Reconciliation) -> str:
    """The CLI's table: source, total, unit, in multiply-adds, × lecture, and what makes the difference."""
    from explorer.core.report import shape_text

    headers = list(Reconciliation.HEADERS)
    body = [list(reconciliation.cells(line)) for line in reconciliation.lines]
    widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(headers[:-1])]
    right = {1, 3, 4}

    def row(cells: list[str]) -> str:
        padded = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))]
        return "  ".join([*padded, cells[-1]]).rstrip()

    title = (
        f"{reconciliation.title} — input {shape_text(reconciliation.input_shape)}, {reconciliation.mode} mode: "
        "why do the numbers differ?"
    )
    rule = "  ".join("-" * w for w in widths) + "  " + "-" * len(headers[-1])
    note = (
        "MACs are multiply-accumulates (a multiply and an add); FLOPs count both, so 1 MAC = 2 FLOPs. "
        "Papers and most tools say FLOPs and mean multiply-adds."
    )
    return "\n".join([title, "", row(headers), rule, *map(row, body), "", note]) + "\n"


def render_reconciliation_markdown(reconciliation: Reconciliation) -> str:
    """The same table in Markdown (the README's tables are made with it)."""
    from explorer.core.report import shape_text

    def line(cells: tuple[str, ...] | list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    align = ["---", "---:", "---", "---:", "---:", "---"]
    title = f"**{reconciliation.title}**, input {shape_text(reconciliation.input_shape)}, {reconciliation.mode} mode"
    rows = [line(reconciliation.cells(l)) for l in reconciliation.lines]
    return "\n".join([title, "", line(list(Reconciliation.HEADERS)), line(align), *rows]) + "\n"
