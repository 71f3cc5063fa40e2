"""The layer panel: what the selected layer is, its numbers, and the formula behind each one."""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from PySide6.QtGui import QTextOption
from PySide6.QtWidgets import QTextBrowser, QWidget

if TYPE_CHECKING:
    from explorer.core.stats import LayerStats, ModelSummary, Totals

#: the narrowest the Layer panel gets
MINIMUM_WIDTH = 270

_QUANTITY_ORDER = ("output size", "params", "MACs", "FLOPs", "memory", "receptive field")


def _shape(shape: Sequence[int]) -> str:
    return "×".join(str(d) for d in shape) if shape else "scalar"


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, tuple) and value and len(set(value)) == 1 and len(value) <= 3:
        return f"{value[0]}" if len(value) == 1 else "×".join(str(v) for v in value)
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _kb(n_bytes: int) -> str:
    kb = n_bytes / 1024
    return f"{kb:,.0f} KB" if kb == int(kb) else f"{kb:,.2f} KB"


def _percent(part: int, whole: int) -> str:
    share = 100 * part / whole
    return f"{share:.1f} %" if share >= 1 else f"{share:.2g} %"


def _convention_title(summary: ModelSummary) -> str:
    from explorer.core.conventions import get_convention  # loaded with the summary: no import cost here

    return get_convention(summary.convention).title


def _rows(pairs: Iterable[tuple[str, str]]) -> str:
    return "".join(f"<tr><td class='key'>{html.escape(k)}</td><td>{v}</td></tr>" for k, v in pairs)


class LayerPanel(QTextBrowser):
    """Read-only HTML; it shows what the core computed and never computes anything itself."""

    STYLE = """
        h2 { margin: 0 0 2px 0; }
        .sub { margin: 0 0 8px 0; }
        table { border-collapse: collapse; margin-bottom: 8px; }
        td { padding: 1px 10px 1px 0; vertical-align: top; }
        td.key { font-weight: 600; white-space: nowrap; }
        h3 { margin: 10px 0 4px 0; }
        .formula { font-family: monospace; margin: 0 0 6px 0; }
        .quantity { font-weight: 600; }
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # Room for the key column and a number beside it (issue 13: cramped at 1024×700); long
        # formulas wrap, the panel never asks for more.
        self.setMinimumWidth(MINIMUM_WIDTH)
        self.setMinimumHeight(170)  # the splitter under it (Edit / Weights) never folds it to two lines
        # Wrap between words only: a narrow panel broke numbers as "2,359,29 6".
        self.setWordWrapMode(QTextOption.WrapMode.WordWrap)
        self.setOpenLinks(False)
        self.document().setDefaultStyleSheet(self.STYLE)
        self.show_placeholder()

    def show_placeholder(self, text: str = "Select a layer in the graph, the table or the charts.") -> None:
        self.setHtml(f"<p><i>{html.escape(text)}</i></p>")

    def show_layer(self, summary: ModelSummary, name: str, *, collapsed: bool | None = None) -> None:
        """A node's panel; for a block (a module path), the block's totals.

        ``collapsed``: whether the graph shows the block folded (its hint says how to open it) or
        open (how to fold it); ``None`` when no graph says (the hint names both).
        """
        if name in summary.graph:
            self.setHtml(self._layer_html(summary, summary.layer(name)))
        else:
            rows, totals = summary.block(name)
            if rows:
                self.setHtml(self._block_html(summary, name, rows, totals, collapsed=collapsed))
            else:
                self.show_placeholder(f"{name} is not in this graph.")

    def _layer_html(self, summary: ModelSummary, row: LayerStats) -> str:
        node = row.node
        where = f"module <code>{html.escape(node.module_path)}</code>" if node.module_path else "functional op"
        if node.call_index > 1:
            where += f", call {node.call_index} (parameters counted at the first call)"
        parts = [
            f"<h2>{html.escape(row.name)}</h2>",
            f"<p class='sub'>{html.escape(row.type)} · {row.kind} · {where}</p>",
        ]
        if row.hyperparameters:
            parts += ["<h3>Hyperparameters</h3>", f"<table>{_rows(self._hyper(row.hyperparameters))}</table>"]
        inputs = ", ".join(
            f"{html.escape(source)} ({_shape(shape)})" for source, shape in zip(row.inputs, row.input_shapes)
        ) or "—"
        share = lambda part, whole: f" ({_percent(part, whole)} of the model)" if whole and part else ""  # noqa: E731
        totals = summary.totals
        parts += [
            "<h3>Numbers</h3>",
            "<table>"
            + _rows(
                [
                    ("input", inputs),
                    ("output", _shape(row.output_shape)),
                    ("params", f"{row.params:,}" + (f" ({row.trainable_params:,} trainable)" if row.trainable_params != row.params else "") + share(row.params, totals.params)),
                    ("MACs", f"{row.macs:,}" + share(row.macs, totals.macs)),
                    ("FLOPs", f"{row.flops:,}"),
                    ("counted as", html.escape(_convention_title(summary))),
                    ("activation memory", f"{row.activation_bytes:,} B = {_kb(row.activation_bytes)}"),
                    ("receptive field", f"{self._axes(row.receptive_field_hw)} px" + (" (H × W)" if len(set(row.receptive_field_hw)) > 1 else "")),
                    ("jump (cumulative stride)", self._axes(row.jump_hw)),
                    *self._gate(row),
                ]
            )
            + "</table>",
        ]
        formulas = sorted(row.formulas, key=lambda f: _QUANTITY_ORDER.index(f.quantity) if f.quantity in _QUANTITY_ORDER else 99)
        if formulas:
            parts.append("<h3>How each number is computed</h3>")
            # "general form: values" reads better on two lines.
            parts += [
                f"<p class='formula'><span class='quantity'>{html.escape(f.quantity)}</span><br>"
                f"{html.escape(f.expression).replace(': ', ':<br>', 1) if f.quantity == 'output size' else html.escape(f.expression)}</p>"
                for f in formulas
            ]
        return "".join(parts)

    def _block_html(
        self, summary: ModelSummary, path: str, rows: Sequence[LayerStats], totals: Totals, *, collapsed: bool | None
    ) -> str:
        hint = {
            True: "double-click it in the graph to expand it",
            False: "expanded in the graph: double-click its frame to fold it",
            None: "double-click it in the graph to expand it, its frame to fold it",
        }[collapsed]
        first, last = rows[0], rows[-1]
        kinds: dict[str, int] = {}
        for row in rows:
            kinds[row.type] = kinds.get(row.type, 0) + 1
        contents = ", ".join(f"{n} × {t}" for t, n in kinds.items())
        return "".join(
            [
                f"<h2>{html.escape(path)}</h2>",
                f"<p class='sub'>block of {len(rows)} layers ({hint})</p>",
                "<table>"
                + _rows(
                    [
                        ("input", _shape(first.input_shapes[0]) if first.input_shapes else "—"),
                        ("output", _shape(last.output_shape)),
                        ("params", f"{totals.params:,}"),
                        ("MACs", f"{totals.macs:,}"),
                        ("FLOPs", f"{totals.flops:,}"),
                        ("counted as", html.escape(_convention_title(summary))),
                        ("activation memory", _kb(totals.activation_bytes)),
                        ("receptive field", f"{self._axes(last.receptive_field_hw)} px"),
                        ("contains", html.escape(contents)),
                    ]
                )
                + "</table>",
                "<h3>Sum over the block</h3>",
                f"<p class='formula'>params = {' + '.join(f'{r.params:,}' for r in rows if r.params) or '0'} = {totals.params:,}</p>",
            ]
        )

    @staticmethod
    def _hyper(params: Mapping[str, Any]) -> list[tuple[str, str]]:
        return [(key.replace("_", " "), html.escape(_value(value))) for key, value in params.items()]

    @staticmethod
    def _axes(values: Sequence[Any]) -> str:
        from explorer.core.receptive import number_text  # pure Python, but keep the GUI's imports light

        if not values:
            return "1"
        shown = [number_text(v) for v in values]
        return shown[0] if len(set(shown)) == 1 else " × ".join(shown)

    @staticmethod
    def _gate(row: LayerStats) -> list[tuple[str, str]]:
        if row.gate is None:
            return []
        through = "its own gate" if row.gate == row.name else f"the gate <code>{html.escape(row.gate)}</code>"
        return [("also sees", f"the whole image, through {through} (a squeeze-excitation scale, pooled over the whole map)")]
