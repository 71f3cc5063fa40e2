"""Table, CSV, Markdown and JSON renderings of a ModelSummary (CLI and GUI exports share them)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from explorer.core.numbers import ratio_text
from explorer.core.receptive import number_text
from explorer.core.stats import LayerStats, ModelSummary

if TYPE_CHECKING:
    from explorer.core.edits import WhatIf

FORMATS = ("table", "csv", "markdown", "json")


def shape_text(shape: Sequence[int]) -> str:
    return "×".join(str(d) for d in shape) if shape else "scalar"


def axes_text(values: Sequence[int | float]) -> str:
    """A per-axis number: ``43`` when the axes agree, ``523×555`` (H×W) when they differ."""
    shown = [number_text(v) for v in values] or ["1"]
    return shown[0] if len(set(shown)) == 1 else "×".join(shown)


def kb_text(n_bytes: int) -> str:
    kb = n_bytes / 1024
    return f"{kb:,.0f}" if kb == int(kb) else f"{kb:,.2f}"


#: (header, value) for every column of the human-readable renderings; CSV uses raw numbers.
COLUMNS: tuple[tuple[str, Callable[[LayerStats], str]], ...] = (
    ("layer", lambda r: r.name),
    ("type", lambda r: r.type),
    ("output", lambda r: shape_text(r.output_shape)),
    ("params", lambda r: f"{r.params:,}"),
    ("MACs", lambda r: f"{r.macs:,}"),
    ("FLOPs", lambda r: f"{r.flops:,}"),
    ("memory KB", lambda r: kb_text(r.activation_bytes)),
    ("RF", lambda r: axes_text(r.receptive_field_hw) + ("*" if r.gate else "")),
    ("jump", lambda r: axes_text(r.jump_hw)),
)
_RIGHT_ALIGNED = {"params", "MACs", "FLOPs", "memory KB", "RF", "jump"}


def _totals_row(summary: ModelSummary) -> list[str]:
    t = summary.totals
    return ["total", "", "", f"{t.params:,}", f"{t.macs:,}", f"{t.flops:,}", kb_text(t.activation_bytes), "", ""]


def _sum_row(layers: Sequence[LayerStats]) -> list[str]:
    """The totals row of a subset (a filtered table): the sums of the rows shown, said to be so."""
    params, macs = sum(r.params for r in layers), sum(r.macs for r in layers)
    flops, memory = sum(r.flops for r in layers), sum(r.activation_bytes for r in layers)
    return [f"sum of these {len(layers)}", "", "", f"{params:,}", f"{macs:,}", f"{flops:,}", kb_text(memory), "", ""]


def heading(summary: ModelSummary) -> str:
    return (
        f"{summary.title} — input {shape_text(summary.input_shape)}, {summary.mode} mode, {len(summary.layers)} layers, "
        f"{summary.convention} convention"
    )


#: What the ``*`` after a receptive field means (the tables' legend).
GATE_LEGEND = "* also sees the whole image, through a gate that multiplies by a globally pooled branch (squeeze-excitation)"


def notes(summary: ModelSummary) -> list[str]:
    """The lines under the heading: where the network is not its paper's, and the gate legend."""
    lines = [f"Not the paper's: {summary.paper_differences}"] if summary.paper_differences else []
    if any(row.gate for row in summary.layers):
        lines.append(GATE_LEGEND)
    return lines


def render_table(summary: ModelSummary) -> str:
    headers = [h for h, _ in COLUMNS]
    body = [[value(row) for _, value in COLUMNS] for row in summary.layers]
    totals = _totals_row(summary)
    widths = [max(len(h), *(len(r[i]) for r in [*body, totals])) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if h in _RIGHT_ALIGNED else c.ljust(w) for c, w, h in zip(cells, widths, headers)
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    t = summary.totals
    footer = (
        f"params {t.params:,} (trainable {t.trainable_params:,}) · MACs {t.macs:,} · "
        f"FLOPs {t.flops:,} · activations {kb_text(t.activation_bytes)} KB"
    )
    top = [heading(summary), *notes(summary)]
    return "\n".join([*top, "", line(headers), rule, *map(line, body), rule, line(totals), "", footer]) + "\n"


def render_markdown(summary: ModelSummary, *, layers: Sequence[LayerStats] | None = None) -> str:
    """The summary as a Markdown table; ``layers``: only these rows (a filtered table), summed as such."""
    headers = [h for h, _ in COLUMNS]
    align = ["---:" if h in _RIGHT_ALIGNED else "---" for h in headers]
    shown = summary.layers if layers is None else tuple(layers)
    rows = [[value(row).replace("*", "\\*") for _, value in COLUMNS] for row in shown]
    totals = [f"**{c}**" if c else "" for c in (_totals_row(summary) if layers is None else _sum_row(shown))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    top = [f"### {heading(summary)}", *("\n" + note.replace("*", "\\*", 1) for note in notes(summary))]
    if layers is not None:
        top.append(f"\n{len(shown)} of the {len(summary.layers)} layers (the table's filter)")
    return "\n".join([*top, "", line(headers), line(align), *map(line, rows), line(totals)]) + "\n"


CSV_FIELDS = (
    "name", "type", "inputs", "input_shapes", "output_shape", "params", "trainable_params",
    "macs", "flops", "activation_bytes", "receptive_field", "jump", "receptive_field_hw", "jump_hw", "gate",
)  # fmt: skip


def render_csv(summary: ModelSummary, *, layers: Sequence[LayerStats] | None = None) -> str:
    """One raw row per layer; ``layers``: only these (a filtered table), in their order."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    every = summary.to_dict()["layers"]
    if layers is not None:
        by_name = {layer["name"]: layer for layer in every}
        every = [by_name[row.name] for row in layers]
    for layer in every:
        writer.writerow(
            {
                **layer,
                "inputs": " ".join(layer["inputs"]),
                "input_shapes": " ".join(shape_text(s) for s in layer["input_shapes"]),
                "output_shape": shape_text(layer["output_shape"]),
                "receptive_field_hw": "×".join(str(v) for v in layer["receptive_field_hw"]),
                "jump_hw": "×".join(str(v) for v in layer["jump_hw"]),
                "gate": layer["gate"] or "",
            }
        )
    return out.getvalue()


def render(summary: ModelSummary, fmt: str) -> str:
    renderers: dict[str, Callable[[ModelSummary], str]] = {
        "table": render_table,
        "csv": render_csv,
        "markdown": render_markdown,
        "json": lambda s: s.to_json() + "\n",
    }
    return renderers[fmt](summary)


# --- what-if diffs -------------------------------------------------------------------------------


def _before_after(before: str, after: str) -> str:
    return before if before == after else f"{before} → {after}"


def render_whatif(whatif: WhatIf, *, all_layers: bool = False) -> str:
    """``cnn-explorer whatif``'s table: the layers that changed (or all), then the totals with ratios."""
    from explorer.core.compare import QUANTITIES

    diff = whatif.diff
    lines = [
        f"{whatif.edited.title} — {len(whatif.edits)} edit{'s' if len(whatif.edits) != 1 else ''} on {whatif.model}, "
        f"{whatif.mode} mode, {whatif.edited.convention} convention"
    ]
    lines += [f"  {edit.describe()}" for edit in whatif.edits]
    if whatif.propagated:
        lines += ["", "propagated (rebuilt to fit what they now receive):"]
        lines += [f"  {p.describe()}" for p in whatif.propagated]
    if whatif.notes:
        lines += ["", *(f"note: {note}" for note in whatif.notes)]
    headers = ["layer", "status", "type", "output", "params", "MACs", "RF"]
    body = []
    for layer in diff.layers if all_layers else diff.changed:
        b, a = layer.before, layer.after
        cells = []
        for value in (
            lambda r: r.type, lambda r: shape_text(r.output_shape), lambda r: f"{r.params:,}",
            lambda r: f"{r.macs:,}", dict(COLUMNS)["RF"],  # the summary's RF cell: both axes where they differ, * behind a gate
        ):  # fmt: skip
            if b is None or a is None:
                cells.append(value(a or b))  # type: ignore[arg-type]
            else:
                cells.append(_before_after(value(b), value(a)))
        body.append([layer.name, layer.status, *cells])
    if not body:
        body.append(["(no layer changed)", "", "", "", "", "", ""])
    widths = [max(len(h), *(len(row[i]) for row in body)) for i, h in enumerate(headers)]
    right = {"params", "MACs", "RF"}

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if h in right else c.ljust(w) for c, w, h in zip(cells, widths, headers)).rstrip()

    lines += ["", line(headers), "  ".join("-" * w for w in widths), *map(line, body), ""]
    labels = {"params": "params", "trainable_params": "trainable", "macs": "MACs", "flops": "FLOPs", "activation_bytes": "activations"}
    for quantity in QUANTITIES:
        before, after = getattr(diff.before.totals, quantity), getattr(diff.after.totals, quantity)
        share = diff.ratios[quantity]
        share_text = ratio_text(share, 4)
        if quantity == "activation_bytes":
            before_text, after_text = f"{kb_text(before)} KB", f"{kb_text(after)} KB"
        else:
            before_text, after_text = f"{before:,}", f"{after:,}"
        lines.append(f"{labels[quantity]:<12} {before_text:>18} → {after_text:<18} {share_text}")
    shapes = (shape_text(whatif.original.input_shape), shape_text(whatif.edited.input_shape))
    lines.append(f"{'input':<12} {shapes[0]:>18} → {shapes[1]}")
    return "\n".join(lines) + "\n"
