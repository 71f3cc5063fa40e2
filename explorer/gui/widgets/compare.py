"""Two models side by side: their totals, the ratio b/a, and their stages paired by resolution.

The view never analyses anything: the main window analyses the two picked models in a worker
(``modelsChanged(a, b)``) and hands the summaries back through ``set_summaries(a, b)``. The
pairing of stages comes from ``explorer.core.compare.comparison``.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QAbstractScrollArea,
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from explorer.gui.widgets.charts import SparseLabelAxis, ValueAxis, compact, compact_bytes

# The core (and torch under it) is imported where summaries are shown, never at import: the window
# must appear before torch has loaded (tests/gui/test_startup.py).
if TYPE_CHECKING:
    from explorer.core.compare import Comparison, Stage, StagePair
    from explorer.core.stats import ModelSummary

_ACCENTS = ("#4e79a7", "#e07b00")  # model A, model B

#: (label, Totals attribute, short formatter) of the header's rows
_TOTAL_ROWS: tuple[tuple[str, str, Callable[[int], str]], ...] = (
    ("params", "params", lambda v: compact(v, " ")),
    ("MACs", "macs", lambda v: compact(v, " ")),
    ("FLOPs", "flops", lambda v: compact(v, " ")),
    ("activation memory", "activation_bytes", compact_bytes),
)


def ratio_text(value: float | None) -> str:
    """``11.27×``; ``—`` when undefined."""
    if value is None:
        return "—"
    if value == 0:
        return "0×"
    if value < 10:
        return f"{value:.3g}×"
    return f"{value:,.1f}×" if value < 100 else f"{value:,.0f}×"


def _exact(attribute: str, value: int) -> str:
    return f"{value:,} B" if attribute == "activation_bytes" else f"{value:,}"


class CompareView(QWidget):
    """Model pickers, a totals header and a per-stage table of two analysed models.

    ``modelsChanged(a, b)`` is emitted when the user picks another model in either box, never by
    ``set_model_names()`` or ``set_summaries()``.
    """

    modelsChanged = Signal(str, str)

    STAGE_HEADERS = ("stage", "channels", "layers", "params", "MACs")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.comparison: Comparison | None = None
        self._syncing = False

        self.combo_a = QComboBox(self)
        self.combo_b = QComboBox(self)
        for combo in (self.combo_a, self.combo_b):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
            combo.setMinimumContentsLength(14)
            combo.currentIndexChanged.connect(self._picked)
        self.status_label = QLabel(self)
        pickers = QHBoxLayout()
        pickers.setContentsMargins(0, 0, 0, 0)
        pickers.addWidget(self._tag("A", 0))
        pickers.addWidget(self.combo_a)
        pickers.addSpacing(12)
        pickers.addWidget(QLabel("vs", self))
        pickers.addSpacing(12)
        pickers.addWidget(self._tag("B", 1))
        pickers.addWidget(self.combo_b)
        pickers.addSpacing(16)
        pickers.addWidget(self.status_label, 1)

        # The header: a grid of labels, one row per total, columns A | B | B / A.
        self.totals_frame = QFrame(self)
        self.totals_frame.setFrameShape(QFrame.Shape.StyledPanel)
        self.totals_grid = QGridLayout(self.totals_frame)
        self.totals_grid.setContentsMargins(12, 8, 12, 8)
        self.totals_grid.setHorizontalSpacing(28)
        self.totals_grid.setVerticalSpacing(4)
        self.title_a = self._label(bold=True)
        self.title_b = self._label(bold=True)
        self.ratio_header = self._label("B / A", bold=True, right=True)
        self.totals_grid.addWidget(self._label(""), 0, 0)
        self.totals_grid.addWidget(self.title_a, 0, 1)
        self.totals_grid.addWidget(self.title_b, 0, 2)
        self.totals_grid.addWidget(self.ratio_header, 0, 3)
        self.total_labels: dict[str, tuple[QLabel, QLabel, QLabel]] = {}
        rows = [("input", "input"), ("layers", "layers")] + [(label, attr) for label, attr, _ in _TOTAL_ROWS]
        for row, (label, key) in enumerate(rows, start=1):
            self.totals_grid.addWidget(self._label(label, muted=True), row, 0)
            cells = (self._label(right=True), self._label(right=True), self._label(right=True))
            for column, cell in enumerate(cells, start=1):
                self.totals_grid.addWidget(cell, row, column)
            self.total_labels[key] = cells
        self.totals_grid.setColumnStretch(4, 1)
        # Where a network is not its paper's, which moves the numbers above (ModelSpec.paper_differences).
        self.paper_notes = QLabel("", self)
        self.paper_notes.setWordWrap(True)
        self.paper_notes.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.paper_notes.setVisible(False)
        self.paper_notes.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)

        self.stage_table = QTableWidget(0, 1 + 2 * (len(self.STAGE_HEADERS) - 1) + 1, self)
        self.stage_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.stage_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.stage_table.setAlternatingRowColors(False)
        self.stage_table.setWordWrap(False)
        self.stage_table.verticalHeader().hide()
        self.stage_table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.stage_table.horizontalHeader().setHighlightSections(False)
        self.stage_table.horizontalHeader().setStretchLastSection(False)
        self.stage_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        # As tall as its rows (scrolling only when the window is too small); the space below stays empty.
        self.stage_table.setSizeAdjustPolicy(QAbstractScrollArea.SizeAdjustPolicy.AdjustToContents)
        self.stage_table.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Maximum)
        self.stage_caption = QLabel("Stages: runs of layers at one output resolution, paired by resolution", self)
        self.stage_caption.setStyleSheet("font-weight: 600")
        self.stage_caption.setWordWrap(True)  # (it set a 470 px minimum on the central area)

        # Per-stage bars, A and B side by side: where each model keeps its compute and its weights.
        self.stage_charts = pg.GraphicsLayoutWidget(self)
        self.stage_charts.setMinimumHeight(160)
        self.stage_plots: dict[str, pg.PlotItem] = {}
        self.stage_titles: dict[str, str] = {}
        # Which colour is which model, one line above both charts (a legend inside a plot covered bars).
        self.stage_legend = QLabel("", self)
        self.stage_legend.setTextFormat(Qt.TextFormat.RichText)
        self.stage_legend.setWordWrap(True)
        self.stage_bars: dict[str, tuple[pg.BarGraphItem, pg.BarGraphItem]] = {}
        for column, (key, title) in enumerate((("macs", "MACs per stage"), ("params", "params per stage"))):
            plot = self.stage_charts.addPlot(
                row=0,
                col=column,
                axisItems={"left": ValueAxis("left", compact), "bottom": SparseLabelAxis("bottom")},
            )
            plot.setTitle(title, size="9pt")
            plot.setMenuEnabled(False)
            plot.hideButtons()
            plot.setMouseEnabled(x=False, y=False)
            plot.showGrid(x=False, y=True, alpha=0.2)
            plot.getAxis("left").setWidth(48)
            plot.getAxis("left").setStyle(maxTickLevel=0)
            plot.getAxis("bottom").setStyle(tickLength=0)
            bars = (
                pg.BarGraphItem(x=[], height=[], width=0.38, pen=None, brush=_ACCENTS[0]),
                pg.BarGraphItem(x=[], height=[], width=0.38, pen=None, brush=_ACCENTS[1]),
            )
            self.stage_titles[key] = title
            for item in bars:
                plot.addItem(item)
            self.stage_plots[key] = plot
            self.stage_bars[key] = bars

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.setSpacing(8)
        layout.addLayout(pickers)
        layout.addWidget(self.totals_frame)
        layout.addWidget(self.paper_notes)
        layout.addWidget(self.stage_caption)
        layout.addWidget(self.stage_table)
        layout.addWidget(self.stage_legend)
        layout.addWidget(self.stage_charts, 1)
        self._apply_theme()
        self._set_headers()
        self._show_empty()

    # --- public API ----------------------------------------------------------------------------

    def set_model_names(self, names: Sequence[str], current_a: str | None = None, current_b: str | None = None) -> None:
        """Fill both pickers (silently) and choose ``current_a`` and ``current_b``."""
        self._syncing = True
        try:
            for combo, current in ((self.combo_a, current_a), (self.combo_b, current_b)):
                combo.clear()
                combo.addItems(list(names))
                if current is not None:
                    self._choose(combo, current)
        finally:
            self._syncing = False

    def current_models(self) -> tuple[str, str]:
        return self.combo_a.currentText(), self.combo_b.currentText()

    def set_summaries(self, a: ModelSummary, b: ModelSummary) -> None:
        """Show the comparison of ``a`` and ``b``; the pickers follow silently."""
        self._syncing = True
        try:
            self._choose(self.combo_a, a.model)
            self._choose(self.combo_b, b.model)
        finally:
            self._syncing = False
        from explorer.core.compare import comparison  # loaded with the summaries

        self.comparison = comparison(a, b)
        self.status_label.setText(f"MACs and FLOPs as {a.convention} counts them")
        self._show_totals(self.comparison)
        self._show_stages(self.comparison)
        self._show_stage_charts(self.comparison)

    def has_summaries(self) -> bool:
        return self.comparison is not None

    def summaries(self) -> tuple[ModelSummary, ModelSummary] | None:
        return (self.comparison.a, self.comparison.b) if self.comparison is not None else None

    # --- internals -----------------------------------------------------------------------------

    def _choose(self, combo: QComboBox, name: str) -> None:
        index = combo.findText(name)
        if index < 0:  # a model outside the list (a user file): add it so the box can show it
            combo.addItem(name)
            index = combo.count() - 1
        combo.setCurrentIndex(index)

    def _picked(self, index: int) -> None:
        if self._syncing or index < 0:
            return
        a, b = self.current_models()
        if not a or not b:
            return
        self.status_label.setText(f"Analysing {a} and {b}…")
        self.modelsChanged.emit(a, b)

    def _tag(self, text: str, which: int) -> QLabel:
        tag = QLabel(text, self)
        tag.setAlignment(Qt.AlignmentFlag.AlignCenter)
        tag.setFixedWidth(self.fontMetrics().height() + 8)
        tag.setStyleSheet(f"background: {_ACCENTS[which]}; color: white; font-weight: 700; border-radius: 3px;")
        return tag

    def _label(self, text: str = "", *, bold: bool = False, muted: bool = False, right: bool = False) -> QLabel:
        label = QLabel(text, self)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        if bold:
            label.setStyleSheet("font-weight: 600")
        if muted:
            label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        if right:
            label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        return label

    def _muted_colour(self) -> str:
        return self.palette().color(QPalette.ColorRole.PlaceholderText).name()

    def _show_empty(self) -> None:
        self.title_a.setText("A")
        self.title_b.setText("B")
        for cells in self.total_labels.values():
            for cell in cells:
                cell.setText("—")
        self.stage_table.setRowCount(0)
        for bars in self.stage_bars.values():
            for item in bars:
                item.setOpts(x=[], height=[])

    def _show_totals(self, result: Comparison) -> None:
        from explorer.core.compare import ratio  # loaded with the summaries
        from explorer.core.report import shape_text

        a, b = result.a, result.b
        self.title_a.setText(self._title_html(a, 0))
        self.title_b.setText(self._title_html(b, 1))
        self.title_a.setToolTip(a.model)
        self.title_b.setToolTip(b.model)
        muted = self._muted_colour()
        notes = [
            f"<b>{tag}</b> {html.escape(summary.model)} is not the paper's: {html.escape(summary.paper_differences, quote=False)}"
            for tag, summary in (("A", a), ("B", b))
            if summary.paper_differences and (tag == "A" or summary.model != a.model)
        ]
        self.paper_notes.setText(f"<span style='color:{muted}'>" + "<br>".join(notes) + "</span>")
        self.paper_notes.setVisible(bool(notes))
        cells = self.total_labels["input"]
        cells[0].setText(shape_text(a.input_shape))
        cells[1].setText(shape_text(b.input_shape))
        cells[2].setText("")
        cells = self.total_labels["layers"]
        cells[0].setText(f"{len(a.layers):,}")
        cells[1].setText(f"{len(b.layers):,}")
        cells[2].setText(ratio_text(ratio(len(a.layers), len(b.layers))))
        for _, attribute, short in _TOTAL_ROWS:
            value_a, value_b = getattr(a.totals, attribute), getattr(b.totals, attribute)
            cells = self.total_labels[attribute]
            for cell, value in ((cells[0], value_a), (cells[1], value_b)):
                cell.setText(
                    f"<b>{html.escape(short(value))}</b> &nbsp;<span style='color:{muted}'>"
                    f"{html.escape(_exact(attribute, value))}</span>"
                )
            cells[2].setText(f"<b>{ratio_text(result.ratios[attribute])}</b>")

    @staticmethod
    def _title_html(summary: ModelSummary, which: int) -> str:
        return (
            f"<span style='color:{_ACCENTS[which]}'>{'AB'[which]}</span>&nbsp; "
            f"{html.escape(summary.title)}"
        )

    def _set_headers(self, title_a: str = "", title_b: str = "") -> None:
        headers = ["stage"]
        for tag in "AB":
            headers += [f"{tag} · {h}" for h in self.STAGE_HEADERS[1:]]
        headers.append("MACs B / A")
        self.stage_table.setHorizontalHeaderLabels(headers)
        tints = [self._tint(i, 0.22) for i in (0, 1)]
        for column in range(self.stage_table.columnCount()):
            item = self.stage_table.horizontalHeaderItem(column)
            if item is None:
                continue
            if column == 0:
                item.setTextAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
                continue
            item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            which = (column - 1) // 4
            if which < 2:
                item.setBackground(tints[which])
                item.setToolTip((title_a, title_b)[which])

    def _show_stages(self, result: Comparison) -> None:
        from explorer.core.compare import ratio  # loaded with the summaries

        self._set_headers(result.a.title, result.b.title)
        table = self.stage_table
        table.setRowCount(len(result.pairs))
        tints = [self._tint(i) for i in (0, 1)]
        muted = self.palette().color(QPalette.ColorRole.PlaceholderText)
        for row, pair in enumerate(result.pairs):
            stage_item = QTableWidgetItem(pair.label)
            stage_item.setToolTip(self._pair_tooltip(pair))
            table.setItem(row, 0, stage_item)
            for which, stage in enumerate((pair.a, pair.b)):
                for offset, (text, tooltip) in enumerate(self._stage_cells(stage)):
                    item = QTableWidgetItem(text)
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                    item.setBackground(tints[which])
                    if stage is None:
                        item.setForeground(muted)
                    if tooltip:
                        item.setToolTip(tooltip)
                    table.setItem(row, 1 + which * 4 + offset, item)
            macs_ratio = ratio(pair.a.macs, pair.b.macs) if pair.a is not None and pair.b is not None else None
            item = QTableWidgetItem(ratio_text(macs_ratio))
            item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            if macs_ratio is None:
                item.setForeground(muted)
            table.setItem(row, table.columnCount() - 1, item)

    def _show_stage_charts(self, result: Comparison) -> None:
        self.stage_legend.setText(
            "per stage: &nbsp; " + " &nbsp; ".join(
                f"<span style='color:{_ACCENTS[which]}'>■</span>&nbsp;{'AB'[which]}: {html.escape(summary.model)}"
                for which, summary in enumerate((result.a, result.b))
            )
        )  # fmt: skip
        labels = [(i, pair.label) for i, pair in enumerate(result.pairs)]
        for key, plot in self.stage_plots.items():
            highest = 1
            for which, item in enumerate(self.stage_bars[key]):
                offset = -0.2 if which == 0 else 0.2
                x, heights = [], []
                for i, pair in enumerate(result.pairs):
                    stage = pair.a if which == 0 else pair.b
                    if stage is not None:
                        x.append(i + offset)
                        heights.append(getattr(stage, key))
                item.setOpts(x=x, height=heights)
                highest = max([highest, *heights])
            plot.getAxis("bottom").setTicks([labels, []])
            plot.setXRange(-0.6, len(labels) - 0.4, padding=0)
            plot.setYRange(0, highest * 1.08, padding=0)

    def _apply_theme(self) -> None:
        background = self.palette().color(QPalette.ColorRole.Base)
        foreground = self.palette().color(QPalette.ColorRole.Text)
        self.stage_charts.setBackground(background)
        axis_pen = QColor(foreground)
        axis_pen.setAlphaF(0.55)
        for key, plot in self.stage_plots.items():
            plot.setTitle(self.stage_titles[key], size="9pt", color=foreground.name())
            for side in ("left", "bottom"):
                plot.getAxis(side).setPen(pg.mkPen(axis_pen))
                plot.getAxis(side).setTextPen(pg.mkPen(foreground))

    def changeEvent(self, event: QEvent) -> None:
        palette_events = (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange)
        if event.type() in palette_events and hasattr(self, "stage_plots"):
            self._apply_theme()
            if self.comparison is not None:
                self._show_totals(self.comparison)
                self._show_stages(self.comparison)
        super().changeEvent(event)

    @staticmethod
    def _stage_cells(stage: Stage | None) -> list[tuple[str, str | None]]:
        if stage is None:
            return [("—", None)] * 4
        span = f"{stage.first} … {stage.last}" if stage.layer_count > 1 else stage.first
        return [
            (f"{stage.channels:,}", None),
            (f"{stage.layer_count:,}", span),
            (compact(stage.params, " ") if stage.params else "0", f"{stage.params:,} parameters"),
            (compact(stage.macs, " ") if stage.macs else "0", f"{stage.macs:,} MACs"),
        ]

    @staticmethod
    def _pair_tooltip(pair: StagePair) -> str:
        if pair.resolution is None:
            return "The head: flatten and the fully connected layers after the last spatial output"
        return f"Layers whose outputs are {pair.label}"

    def _tint(self, which: int, strength: float = 0.08) -> QColor:
        base = self.palette().color(QPalette.ColorRole.Base)
        accent = QColor(_ACCENTS[which])
        mix = strength if base.lightnessF() >= 0.5 else 1.5 * strength
        return QColor.fromRgbF(
            base.redF() * (1 - mix) + accent.redF() * mix,
            base.greenF() * (1 - mix) + accent.greenF() * mix,
            base.blueF() * (1 - mix) + accent.blueF() * mix,
        )


__all__: Sequence[str] = ("CompareView", "ratio_text")
