"""The colour key: the layer kinds on screen, the shortcut line, what an edge's width means, and the
what-if marks when there are some.

The view keeps it in a strip of its own below the graph (viewport margins), so it never covers a
node, and fitting the graph fits it to what is left; a saved image draws it below the graph.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QWidget

from explorer.gui.widgets.graph_view.items import stroke_width
from explorer.gui.widgets.graph_view.layout import BLOCK, Layout, VisibleGraph
from explorer.gui.widgets.graph_view.style import KIND_COLORS, Theme, kind_color

_SWATCH = 11.0
_ROW = 18.0
_GAP = 14.0
_PAD = 7.0
_EDGE_SAMPLES = (1_000, 100_000, 3_000_000)  # values in a tensor, drawn as three widths
EDGE_ENTRY = "edge width: log tensor size"
MARKS = ("changed", "affected")


@dataclass(frozen=True)
class LegendContent:
    kinds: tuple[str, ...]  # in the order of the kind colours (layers.KINDS, then "block")
    shortcut: bool
    edges: bool = False
    marks: tuple[str, ...] = ()  # "changed", "affected"

    @classmethod
    def of(cls, visible: VisibleGraph, layout: Layout, marks: tuple[str, ...] = ()) -> LegendContent:
        present = {node.kind for node in visible.nodes}
        order = [*KIND_COLORS, *sorted(present - set(KIND_COLORS))]
        residual = any(node.residual for node in visible.blocks)
        return cls(
            tuple(k for k in order if k in present), bool(layout.shortcuts) or residual, bool(layout.edges), marks
        )

    @property
    def labels(self) -> list[str]:
        return [
            *self.kinds,
            *(["shortcut"] if self.shortcut else []),
            *([EDGE_ENTRY] if self.edges else []),
            *self.marks,
        ]


def _swatch_width(label: str) -> float:
    return 3 * _SWATCH if label == EDGE_ENTRY else _SWATCH


def _entries(content: LegendContent, theme: Theme) -> list[tuple[str, float]]:
    metrics = theme.detail_metrics
    return [(label, _swatch_width(label) + 5 + metrics.horizontalAdvance(label)) for label in content.labels]


def legend_size(content: LegendContent, theme: Theme, width: float) -> QSize:
    """The size the legend needs when its entries wrap at ``width``."""
    rows, x, widest = 1, 0.0, 0.0
    for _, w in _entries(content, theme):
        if x and x + w > width - 2 * _PAD:
            rows, x = rows + 1, 0.0
        x += w + _GAP
        widest = max(widest, x - _GAP)
    return QSize(int(widest + 2 * _PAD + 1), int(rows * _ROW + 2 * _PAD - 4))


def paint_legend(painter: QPainter, rect: QRectF, content: LegendContent, theme: Theme) -> None:
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setFont(theme.detail_font)
    x, y = rect.left() + _PAD, rect.top() + _PAD
    for label, w in _entries(content, theme):
        if x > rect.left() + _PAD and x + w > rect.right() - _PAD:
            x, y = rect.left() + _PAD, y + _ROW
        middle = y + _SWATCH / 2
        swatch = _swatch_width(label)
        if label == "shortcut":
            pen = QPen(theme.shortcut, 1.7)
            pen.setDashPattern([4.0, 2.5])
            painter.setPen(pen)
            painter.drawLine(QPointF(x, middle), QPointF(x + swatch, middle))
        elif label == EDGE_ENTRY:
            for i, size in enumerate(_EDGE_SAMPLES):
                painter.setPen(QPen(theme.edge, stroke_width((size,))))
                left = x + i * swatch / 3
                painter.drawLine(QPointF(left + 1, middle), QPointF(left + swatch / 3 - 2, middle))
        elif label in MARKS:
            color = theme.marked if label == "changed" else theme.affected
            pen = QPen(color, 2.2)
            if label == "affected":
                pen.setDashPattern([2.0, 1.5])
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(QRectF(x + 1, y + 1, _SWATCH - 2, _SWATCH - 2), 2.5, 2.5)
        else:
            painter.setPen(QPen(theme.border(label), 1.0))
            painter.setBrush(theme.fill(label))
            if label == BLOCK:
                painter.drawRoundedRect(QRectF(x + 2, y + 2, _SWATCH - 2, _SWATCH - 2), 2.5, 2.5)
            painter.drawRoundedRect(
                QRectF(x, y, _SWATCH - (2 if label == BLOCK else 0), _SWATCH - (2 if label == BLOCK else 0)), 2.5, 2.5
            )
            painter.fillRect(QRectF(x + 1.5, y + 1.5, 3, _SWATCH - 3 - (2 if label == BLOCK else 0)), kind_color(label))
        painter.setPen(theme.text)
        text_rect = QRectF(x + swatch + 5, y - 3, w - swatch - 5, _SWATCH + 6)
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, label)
        x += w + _GAP
    painter.restore()


class Legend(QWidget):
    """The strip below the graph (the view reserves it with viewport margins)."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self._content: LegendContent | None = None
        self._theme: Theme | None = None

    @property
    def content(self) -> LegendContent | None:
        return self._content

    def set_content(self, content: LegendContent | None, theme: Theme) -> None:
        self._content, self._theme = content, theme
        self.setVisible(bool(content and content.labels))
        self.update()

    def needed_height(self, width: float) -> int:
        if self._content is None or self._theme is None or not self._content.labels:
            return 0
        return legend_size(self._content, self._theme, width).height()

    def paintEvent(self, event: QPaintEvent) -> None:
        if self._content is None or self._theme is None:
            return
        painter = QPainter(self)
        painter.fillRect(self.rect(), self._theme.background)
        painter.setPen(QPen(self._theme.frame_border, 1.0))
        painter.drawLine(QPointF(0, 0.5), QPointF(self.width(), 0.5))
        paint_legend(painter, QRectF(self.rect()), self._content, self._theme)
        painter.end()
