"""Per-layer bar charts: parameters, MACs and activation memory, with their cumulative curves.

Three stacked plots share the x axis (the layer's index in topological order, as the ``#``
column of the layer table). Each has one BarGraphItem for all its bars (ResNet-152 has ~500
layers), and a cumulative curve in % of the model's total on a right-hand axis (a ViewBox
overlay). Stages — runs of layers at one resolution, from ``explorer.core.compare`` — are
shaded alternately and named along the top.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt, Signal
from PySide6.QtGui import QColor, QPalette, QResizeEvent
from PySide6.QtWidgets import QGridLayout, QLabel, QSizePolicy, QToolTip, QVBoxLayout, QWidget

# The core (and torch under it) is imported where a summary is shown, never at import: the window
# must appear before torch has loaded (tests/gui/test_startup.py).
if TYPE_CHECKING:
    from explorer.core.compare import Stage
    from explorer.core.stats import LayerStats, ModelSummary

# --- number formatting -------------------------------------------------------------------------------


def compact(value: float, sep: str = "") -> str:
    """``1234567`` → ``"1.23M"`` (``"1.23 M"`` with ``sep=" "``): three significant digits, k/M/G/T."""
    magnitude = abs(value)
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if magnitude >= factor:
            return f"{value / factor:.3g}{sep}{prefix}"
    return f"{int(value)}" if value == int(value) else f"{value:.3g}"


def _human_bytes(value: int) -> str:
    from explorer.core.stats import human_bytes  # loaded with the summary being shown

    return human_bytes(value)


def count_text(value: float) -> str:
    """A total in the unit that shows it, four significant digits: ``1.814 G``, ``416.5 k``, ``61``.

    The status bar's MACs were ``0.000 G`` for LeNet-5 in a fixed G.
    """
    magnitude = abs(value)
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if magnitude >= factor:
            return f"{value / factor:.4g} {prefix}"
    return f"{value:,.0f}"


def compact_bytes(value: float) -> str:
    """Memory in binary units, three significant digits: ``0``, ``512 KB``, ``1.5 MB``."""
    if value == 0:
        return "0"
    for factor, unit in ((2**30, "GB"), (2**20, "MB"), (2**10, "KB")):
        if abs(value) >= factor:
            return f"{value / factor:.3g} {unit}"
    return f"{value:.3g} B"


@dataclass(frozen=True)
class Metric:
    key: str  # the LayerStats / Totals attribute
    label: str  # axis label
    value: Callable[[LayerStats], int]
    tick: Callable[[float], str]
    exact: Callable[[int], str]
    light: str  # bar colour on a light background
    dark: str  # bar colour on a dark background


METRICS: tuple[Metric, ...] = (
    Metric("params", "params", lambda r: r.params, compact, lambda v: f"{v:,}", "#4e79a7", "#6f9bd1"),
    Metric("macs", "MACs", lambda r: r.macs, compact, lambda v: f"{v:,}", "#3f8f5b", "#64b57a"),
    Metric(
        "activation_bytes",
        "activations",
        lambda r: r.activation_bytes,
        compact_bytes,
        _human_bytes,
        "#9c6b98",
        "#b88bb4",
    ),
)
_CURVE = ("#e07b00", "#ffb45c")  # cumulative curves (light, dark)
_HIGHLIGHT = ("#d62728", "#ff6b6b")  # the selected layer (light, dark)


# --- axes ----------------------------------------------------------------------------------------------


class ValueAxis(pg.AxisItem):
    """Ticks formatted by a function (``1.2M``, ``3 MB``) instead of pyqtgraph's SI scaling."""

    def __init__(self, orientation: str, formatter: Callable[[float], str], **kwargs: Any) -> None:
        super().__init__(orientation, **kwargs)
        self._formatter = formatter
        self.enableAutoSIPrefix(False)

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        return [self._formatter(v) for v in values]


class BytesAxis(ValueAxis):
    """Memory ticks on round binary multiples (256 KB, 1.5 MB), not on round byte counts."""

    _UNITS = ((2**30, "GB"), (2**20, "MB"), (2**10, "KB"), (1, "B"))

    def __init__(self, orientation: str, **kwargs: Any) -> None:
        super().__init__(orientation, compact_bytes, **kwargs)
        self._unit = (1, "B")

    def tickValues(self, minVal: float, maxVal: float, size: float) -> list[tuple[float, list[float]]]:
        top = max(abs(minVal), abs(maxVal))
        self._unit = next((u for u in self._UNITS if top >= 2 * u[0]), self._UNITS[-1])
        factor = self._unit[0]
        levels = super().tickValues(minVal / factor, maxVal / factor, size)
        return [(spacing * factor, [v * factor for v in values]) for spacing, values in levels]

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        factor, unit = self._unit
        return ["0" if v == 0 else f"{v / factor:g} {unit}" for v in values]


class SparseLabelAxis(pg.AxisItem):
    """An axis with fixed ticks whose labels are dropped where they would overlap the previous one."""

    def generateDrawSpecs(self, p: Any) -> Any:
        specs = super().generateDrawSpecs(p)
        if specs is None:
            return None
        axis_spec, tick_specs, text_specs = specs
        kept: list[Any] = []
        for spec in sorted(text_specs, key=lambda s: s[0].left()):
            if kept and spec[0].left() < kept[-1][0].right() + 6:
                continue
            kept.append(spec)
        return axis_spec, tick_specs, kept


class _PassiveViewBox(pg.ViewBox):
    """The overlay of the cumulative curve: it lets every mouse event through to the bars below."""

    def mouseDragEvent(self, ev: Any, axis: int | None = None) -> None:
        ev.ignore()

    def mouseClickEvent(self, ev: Any) -> None:
        ev.ignore()

    def wheelEvent(self, ev: Any, axis: int | None = None) -> None:
        ev.ignore()


@dataclass
class _Panel:
    metric: Metric
    plot: pg.PlotItem
    bars: pg.BarGraphItem
    highlight: pg.BarGraphItem
    selection: pg.LinearRegionItem
    overlay: pg.ViewBox
    curve: pg.PlotCurveItem
    bands: list[pg.LinearRegionItem]


# --- the view --------------------------------------------------------------------------------------------


class ChartsView(QWidget):
    """Bars per layer for params, MACs and activation memory; click a bar to select its layer.

    ``nodeSelected(name)`` is emitted when the user clicks a bar, never by ``select()``.
    """

    nodeSelected = Signal(str)

    AXIS_WIDTH = 72
    RIGHT_AXIS_WIDTH = 46

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.summary: ModelSummary | None = None
        self.stages: tuple[Stage, ...] = ()
        self._names: list[str] = []
        self._index: dict[str, int] = {}
        self._values: dict[str, np.ndarray] = {}
        self._shares: dict[str, np.ndarray] = {}  # cumulative % of the total
        self._selected: list[int] = []
        self._hover: tuple[str, int] | None = None

        self.title_label = QLabel(self)
        self.title_label.setTextFormat(Qt.TextFormat.RichText)
        self.info_label = QLabel(self)
        self.info_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.info_label.setTextFormat(Qt.TextFormat.RichText)
        # The hover read-out may be long: it yields room (and clips) rather than widening the view.
        self.info_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.info_label.setMinimumWidth(0)

        self.graphics = pg.GraphicsLayoutWidget(self)
        self.graphics.ci.setContentsMargins(4, 4, 8, 4)
        self.graphics.ci.setSpacing(2)
        self.panels: dict[str, _Panel] = {}
        first: pg.PlotItem | None = None
        for row, metric in enumerate(METRICS):
            axes = {
                "left": BytesAxis("left") if metric.key == "activation_bytes" else ValueAxis("left", metric.tick),
                "right": ValueAxis("right", lambda v: f"{v:.0f} %"),
                "bottom": pg.AxisItem("bottom"),
            }
            if row == 0:
                axes["top"] = SparseLabelAxis("top")
            plot = self.graphics.addPlot(row=row, col=0, axisItems=axes)
            self.panels[metric.key] = self._make_panel(metric, plot, first)
            first = first or plot
        assert first is not None
        self._first_plot = first
        first.vb.sigXRangeChanged.connect(self._fit_y)
        self.graphics.scene().sigMouseMoved.connect(self._mouse_moved)
        self.graphics.scene().sigMouseClicked.connect(self._mouse_clicked)

        # The title, and the read-out beside it, or under it when the view is too narrow for both.
        self.title_label.setWordWrap(True)
        self.title_label.setMinimumWidth(0)
        self.title_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        header = self._header = QGridLayout()
        header.setContentsMargins(6, 4, 6, 0)
        header.setHorizontalSpacing(16)
        header.setVerticalSpacing(0)
        header.addWidget(self.title_label, 0, 0)
        header.addWidget(self.info_label, 0, 1)
        self._readout_below = False
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(header)
        layout.addWidget(self.graphics, 1)
        self._apply_theme()
        self.set_summary(None)

    def _make_panel(self, metric: Metric, plot: pg.PlotItem, first: pg.PlotItem | None) -> _Panel:
        plot.setMenuEnabled(False)
        plot.hideButtons()
        plot.setMouseEnabled(x=True, y=False)
        plot.vb.setDefaultPadding(0.0)
        plot.showAxis("right")
        plot.setLabel("left", metric.label)
        plot.setLabel("right", "cumulative")
        plot.getAxis("left").setWidth(self.AXIS_WIDTH)
        plot.getAxis("right").setWidth(self.RIGHT_AXIS_WIDTH)
        plot.showGrid(x=False, y=True, alpha=0.2)
        plot.getAxis("left").setStyle(maxTickLevel=0)  # grid lines at the labelled ticks only
        bottom = plot.getAxis("bottom")
        if metric is not METRICS[-1]:
            bottom.setStyle(showValues=False)
            bottom.setHeight(6)
        else:
            plot.setLabel("bottom", "layer # (topological order)")
        if first is not None:
            plot.setXLink(first)
        else:
            plot.showAxis("top")
            plot.getAxis("top").setStyle(tickLength=0)

        bars = pg.BarGraphItem(x=[], height=[], width=0.8, pen=None, brush=metric.light)
        highlight = pg.BarGraphItem(x=[], height=[], width=0.8, pen=None, brush=_HIGHLIGHT[0])
        highlight.setZValue(5)
        selection = pg.LinearRegionItem(values=(0, 1), movable=False, pen=pg.mkPen(None))
        selection.setZValue(-5)
        selection.hide()
        plot.addItem(selection, ignoreBounds=True)
        plot.addItem(bars)
        plot.addItem(highlight)

        overlay = _PassiveViewBox(enableMenu=False)
        overlay.setMouseEnabled(x=False, y=False)
        overlay.setDefaultPadding(0.0)
        plot.scene().addItem(overlay)
        plot.getAxis("right").linkToView(overlay)
        overlay.setXLink(plot)
        overlay.setYRange(0, 104, padding=0)
        overlay.enableAutoRange(y=False)
        plot.getAxis("right").setTicks([[(v, f"{v} %") for v in (0, 50, 100)], [(v, "") for v in (25, 75)]])
        curve = pg.PlotCurveItem(x=[0.0], y=[], stepMode="center", antialias=True)
        overlay.addItem(curve)

        def sync_overlay() -> None:
            overlay.setGeometry(plot.vb.sceneBoundingRect())
            overlay.linkedViewChanged(plot.vb, overlay.XAxis)

        plot.vb.sigResized.connect(sync_overlay)
        return _Panel(metric, plot, bars, highlight, selection, overlay, curve, [])

    # --- public API ----------------------------------------------------------------------------

    def set_summary(self, summary: ModelSummary | None) -> None:
        """Show ``summary`` (or nothing); the highlight is cleared, and the zoom resets unless only
        the counting convention changed (the same graph, recounted)."""
        if summary is not None:
            from explorer.core.compare import cumulative, stages  # loaded with the summary (None: before torch)

        recount = summary is not None and self.summary is not None and summary.graph is self.summary.graph
        self.summary = summary
        layers = summary.layers if summary is not None else ()
        self._names = [layer.name for layer in layers]
        self._index = {name: i for i, name in enumerate(self._names)}
        self.stages = stages(summary) if summary is not None else ()
        self._selected = []
        self._hover = None
        n = len(layers)
        x = np.arange(1, n + 1, dtype=float)
        width = 0.8 if n <= 150 else 1.0
        for key, panel in self.panels.items():
            values = np.array([panel.metric.value(layer) for layer in layers], dtype=float)
            total = float(getattr(summary.totals, key)) if summary is not None else 0.0
            shares = np.array(cumulative(int(v) for v in values) if summary is not None else (), dtype=float)
            shares = shares * (100.0 / total) if total else np.zeros(n)
            self._values[key] = values
            self._shares[key] = shares
            panel.bars.setOpts(x=x, height=values, width=width)
            panel.highlight.setOpts(x=[], height=[], width=width)
            panel.selection.hide()
            # a step per bar: the running total after that layer, across the bar's width
            panel.curve.setData(x=np.arange(n + 1, dtype=float) + 0.5, y=shares, stepMode="center")
            self._make_bands(panel)
            panel.plot.setLimits(xMin=0, xMax=max(n + 1, 2), minXRange=min(5, max(n, 1)))
        self._stage_ticks()
        self._update_title()
        self._show_info()
        if recount:
            self._fit_y()
        else:
            self.reset_zoom()

    def select(self, name: str | None) -> bool:
        """Highlight the bar of layer ``name`` (or the bars of block ``name``) without emitting."""
        rows = self._rows_of(name) if name else []
        self._selected = rows
        self._show_highlight()
        if rows:
            self._ensure_visible(rows[0] + 1, rows[-1] + 1)
        return bool(rows)

    def selected(self) -> list[str]:
        return [self._names[i] for i in self._selected]

    def reset_zoom(self) -> None:
        n = len(self._names)
        self._first_plot.vb.setXRange(0.5, max(n, 1) + 0.5, padding=0)
        self._fit_y()

    def bar_count(self) -> int:
        return len(self._names)

    def data_to_viewport(self, metric: str, x: float, y: float) -> QPoint:
        """Where data point (x, y) of a plot lies on the viewport (for tests and tooltips)."""
        vb = self.panels[metric].plot.vb
        scene = vb.mapViewToScene(QPointF(x, y))
        return self.graphics.mapFromScene(scene)

    # --- drawing -------------------------------------------------------------------------------

    def _make_bands(self, panel: _Panel) -> None:
        for band in panel.bands:
            panel.plot.removeItem(band)
        panel.bands = []
        position = 0.5
        for stage in self.stages:
            start, position = position, position + stage.layer_count
            if stage.index % 2 == 1:
                band = pg.LinearRegionItem(values=(start, position), movable=False, pen=pg.mkPen(None))
                band.setZValue(-10)
                panel.plot.addItem(band, ignoreBounds=True)
                panel.bands.append(band)
        self._colour_bands(panel)

    def _stage_ticks(self) -> None:
        ticks, position = [], 0.5
        for stage in self.stages:
            ticks.append((position + stage.layer_count / 2, stage.label))
            position += stage.layer_count
        self._first_plot.getAxis("top").setTicks([ticks, []])

    def _fit_y(self, *args: Any) -> None:
        """Scale each plot's y axis to the bars in view (zooming into a region rescales)."""
        low, high = self._first_plot.vb.viewRange()[0]
        i0, i1 = max(int(np.ceil(low - 0.5)) - 1, 0), max(int(np.floor(high + 0.5)), 0)
        for key, panel in self.panels.items():
            values = self._values.get(key)
            visible = values[i0:i1] if values is not None and i1 > i0 else np.zeros(0)
            top = float(visible.max()) if visible.size and visible.max() > 0 else 1.0
            panel.plot.vb.setYRange(0, top * 1.06, padding=0)

    def _show_highlight(self) -> None:
        rows = self._selected
        for key, panel in self.panels.items():
            if not rows:
                panel.highlight.setOpts(x=[], height=[])
                panel.selection.hide()
                continue
            x = np.array(rows, dtype=float) + 1
            panel.highlight.setOpts(x=x, height=self._values[key][rows])
            panel.selection.setRegion((rows[0] + 0.5, rows[-1] + 1.5))
            panel.selection.show()

    def _ensure_visible(self, first: int, last: int) -> None:
        low, high = self._first_plot.vb.viewRange()[0]
        if first >= low and last <= high:
            return
        span = high - low
        centre = (first + last) / 2
        self._first_plot.vb.setXRange(centre - span / 2, centre + span / 2, padding=0)

    def _update_title(self) -> None:
        summary = self.summary
        if summary is None:
            self.title_label.setText("<i>No model</i>")
            return
        from explorer.core.report import shape_text  # loaded with the summary

        t = summary.totals
        parts = (
            f"<b>{html.escape(summary.title)}</b>", f"input {shape_text(summary.input_shape)}",
            f"{len(summary.layers):,} layers", f"params {compact(t.params)}",
            f"MACs {compact(t.macs)} ({html.escape(summary.convention)})", f"activations {compact_bytes(t.activation_bytes)}",
        )  # fmt: skip
        # Each part unbroken; a narrow view wraps the line between parts, after a "·".
        self.title_label.setText(" &nbsp;· ".join(part.replace(" ", "&nbsp;") for part in parts))
        self._arrange_header()

    HINT = "hover a bar for its value · click to select · wheel to zoom · double-click to reset"

    def _show_info(self, text: str | None = None) -> None:
        """The hover read-out, or (when nothing is hovered and there is room) how to use the charts."""
        if text is None:
            room = self.width() - 12 if self._readout_below else self.width() - self.title_label.minimumWidth() - 40
            if self.info_label.fontMetrics().horizontalAdvance(self.HINT) > room:
                text = ""
            else:
                muted = self.palette().color(QPalette.ColorRole.PlaceholderText).name()
                text = f"<span style='color:{muted}'>{self.HINT}</span>"
        self.info_label.setText(text)

    #: the read-out's width when it shares the title's line: room for a layer name and its value
    READOUT_ROOM = 380

    def _arrange_header(self) -> None:
        """Read-out beside the title when both fit on one line, else under it (full width)."""
        title_width = self._text_width(self.title_label.text())
        below = title_width + 16 + self.READOUT_ROOM > self.width() - 12
        header = self._header
        if below != self._readout_below or header.indexOf(self.info_label) < 0:
            header.removeWidget(self.info_label)
            if below:
                header.addWidget(self.info_label, 1, 0, 1, 2)
                self.info_label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
            else:
                header.addWidget(self.info_label, 0, 1)
                self.info_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self._readout_below = below
        header.setColumnStretch(0, 1 if below else 0)
        header.setColumnStretch(1, 0 if below else 1)
        self.title_label.setMinimumWidth(0 if below else title_width)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._arrange_header()
        if self._hover is None:
            self._show_info()

    # --- theme ---------------------------------------------------------------------------------

    def _is_dark(self) -> bool:
        return self.palette().color(QPalette.ColorRole.Base).lightnessF() < 0.5

    def _apply_theme(self) -> None:
        palette = self.palette()
        background = palette.color(QPalette.ColorRole.Base)
        foreground = palette.color(QPalette.ColorRole.Text)
        dark = self._is_dark()
        self.graphics.setBackground(background)
        axis_pen = QColor(foreground)
        axis_pen.setAlphaF(0.55)
        curve_colour = QColor(_CURVE[dark])
        highlight = QColor(_HIGHLIGHT[dark])
        for panel in self.panels.values():
            plot = panel.plot
            for side in ("left", "right", "bottom", "top"):
                axis = plot.getAxis(side)
                axis.setPen(pg.mkPen(axis_pen))
                axis.setTextPen(pg.mkPen(foreground))
            plot.getAxis("right").setTextPen(pg.mkPen(curve_colour))
            plot.getAxis("right").setLabel("cumulative", color=curve_colour.name())
            plot.getAxis("left").setLabel(panel.metric.label, color=foreground.name())
            if panel.metric is METRICS[-1]:
                plot.getAxis("bottom").setLabel("layer # (topological order)", color=foreground.name())
            panel.bars.setOpts(brush=pg.mkBrush(panel.metric.dark if dark else panel.metric.light))
            panel.highlight.setOpts(brush=pg.mkBrush(highlight))
            selection = QColor(highlight)
            selection.setAlphaF(0.28 if dark else 0.16)
            panel.selection.setBrush(pg.mkBrush(selection))
            panel.curve.setPen(pg.mkPen(curve_colour, width=2))
            self._colour_bands(panel)

    def _colour_bands(self, panel: _Panel) -> None:
        shade = QColor(self.palette().color(QPalette.ColorRole.Text))
        shade.setAlphaF(0.06 if not self._is_dark() else 0.09)
        for band in panel.bands:
            band.setBrush(pg.mkBrush(shade))

    def changeEvent(self, event: QEvent) -> None:
        palette_events = (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange)
        if event.type() in palette_events and hasattr(self, "panels"):
            self._apply_theme()
            if self._hover is None:
                self._show_info()
        super().changeEvent(event)

    # --- mouse ---------------------------------------------------------------------------------

    def _hit(self, scene_pos: QPointF) -> tuple[str, int] | None:
        """(metric, layer row) under a scene position, or None."""
        for key, panel in self.panels.items():
            vb = panel.plot.vb
            if vb.sceneBoundingRect().contains(scene_pos):
                x = vb.mapSceneToView(scene_pos).x()
                row = int(np.floor(x + 0.5)) - 1
                if 0 <= row < len(self._names):
                    return key, row
                return None
        return None

    def hover_text(self, metric: str, row: int) -> str:
        """The tooltip of a bar: the layer, its value and the running total."""
        assert self.summary is not None
        layer = self.summary.layers[row]
        panel = self.panels[metric]
        value = int(self._values[metric][row])
        total = getattr(self.summary.totals, metric)
        share = f" ({100 * value / total:.1f} % of the total)" if total else ""
        stage = next((s for s in self.stages if layer.name in s.layer_names), None)
        where = f" · stage {stage.label}" if stage is not None else ""
        return (
            f"<b>#{row + 1} {html.escape(layer.name)}</b> &nbsp;{html.escape(layer.type)}{where}<br>"
            f"{panel.metric.label}: {panel.metric.exact(value)}{share}<br>"
            f"cumulative: {self._shares[metric][row]:.1f} %"
        )

    def _readout(self, metric: str, row: int) -> str:
        """The one-line version of the tooltip, for the header: as much of it as the header shows whole.

        It was cut off at the right in a narrow window; the parts drop from the end (the running
        share, then the type, then the share), the layer and its value stay.
        """
        assert self.summary is not None
        layer = self.summary.layers[row]
        panel = self.panels[metric]
        value = int(self._values[metric][row])
        total = getattr(self.summary.totals, metric)
        share = f" ({100 * value / total:.1f} %)" if total else ""
        name, kind = f"<b>#{row + 1} {html.escape(layer.name)}</b>", html.escape(layer.type)
        number = f"{panel.metric.label} {panel.metric.exact(value)}"
        cumulative = f"cumulative {self._shares[metric][row]:.1f} %"
        sep = " &nbsp;·&nbsp; "
        versions = (
            f"{name} {kind}{sep}{number}{share}{sep}{cumulative}",
            f"{name} {kind}{sep}{number}{share}",
            f"{name}{sep}{number}{share}",
            f"{name}{sep}{number}",
        )
        self._header.activate()  # the label's width now, not before the last resize was laid out
        room = self.info_label.width() if self.info_label.width() > 0 else self.width() - 12
        return next((text for text in versions if self._text_width(text) <= room), versions[-1])

    def _text_width(self, rich: str) -> int:
        """The width a one-line rich text takes in the read-out (bold measured as bold)."""
        from PySide6.QtGui import QTextDocument

        document = QTextDocument()
        document.setDefaultFont(self.info_label.font())
        document.setDocumentMargin(0)
        document.setHtml(f"<span style='white-space:nowrap'>{rich}</span>")
        return int(document.idealWidth()) + 4

    def _mouse_moved(self, scene_pos: QPointF) -> None:
        hit = self._hit(scene_pos)
        if hit == self._hover:
            return
        self._hover = hit
        if hit is None:
            QToolTip.hideText()
            self._show_info()
            return
        metric, row = hit
        text = self.hover_text(metric, row)
        self._show_info(self._readout(metric, row))
        global_pos = self.graphics.viewport().mapToGlobal(self.graphics.mapFromScene(scene_pos))
        QToolTip.showText(global_pos, text, self.graphics)

    def _mouse_clicked(self, event: Any) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        if event.double():
            self.reset_zoom()
            event.accept()
            return
        hit = self._hit(event.scenePos())
        if hit is None:
            return
        name = self._names[hit[1]]
        self._selected = [hit[1]]
        self._show_highlight()
        event.accept()
        self.nodeSelected.emit(name)

    def _rows_of(self, name: str) -> list[int]:
        if name in self._index:
            return [self._index[name]]
        if self.summary is None:
            return []
        # a collapsed block of the graph view: its layers (under a module path, or a range)
        return [self._index[node.name] for node in self.summary.graph.nodes_under(name) if node.name in self._index]


__all__: Sequence[str] = ("ChartsView", "METRICS", "BytesAxis", "SparseLabelAxis", "ValueAxis", "compact", "compact_bytes")
