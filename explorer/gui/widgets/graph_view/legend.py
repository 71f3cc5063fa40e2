"""The colour key: the layer kinds on screen, and the shortcut line when there is one."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QWidget

from explorer.core.layers import KINDS
from explorer.gui.widgets.graph_view.layout import BLOCK, Layout, VisibleGraph
from explorer.gui.widgets.graph_view.style import Theme, kind_color

_SWATCH = 11.0
_ROW = 18.0
_GAP = 14.0
_PAD = 7.0


@dataclass(frozen=True)
class LegendContent:
    kinds: tuple[str, ...]  # in KINDS order, then "block"
    shortcut: bool

    @classmethod
    def of(cls, visible: VisibleGraph, layout: Layout) -> LegendContent:
        present = {node.kind for node in visible.nodes}
        return cls(tuple(k for k in (*KINDS, BLOCK) if k in present), bool(layout.shortcuts))


def _entries(content: LegendContent, theme: Theme) -> list[tuple[str, float]]:
    labels = [*content.kinds, *(["shortcut"] if content.shortcut else [])]
    return [(label, _SWATCH + 5 + theme.detail_metrics.horizontalAdvance(label)) for label in labels]


def legend_size(content: LegendContent, theme: Theme, width: float) -> QSize:
    """The size the legend needs when its entries wrap at ``width``."""
    rows, x, widest = 1, 0.0, 0.0
    for _, w in _entries(content, theme):
        if x and x + w > width - 2 * _PAD:
            rows, x = rows + 1, 0.0
        x += w + _GAP
        widest = max(widest, x - _GAP)
    return QSize(int(widest + 2 * _PAD + 1), int(rows * _ROW + 2 * _PAD - 4))


def paint_legend(painter: QPainter, rect: QRectF, content: LegendContent, theme: Theme, backdrop: bool) -> None:
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    if backdrop:
        fill = QColor(theme.background)
        fill.setAlphaF(0.88)
        painter.setPen(QPen(theme.frame_border, 1.0))
        painter.setBrush(fill)
        painter.drawRoundedRect(rect.adjusted(0.5, 0.5, -0.5, -0.5), 6, 6)
    painter.setFont(theme.detail_font)
    x, y = rect.left() + _PAD, rect.top() + _PAD
    for label, w in _entries(content, theme):
        if x > rect.left() + _PAD and x + w > rect.right() - _PAD:
            x, y = rect.left() + _PAD, y + _ROW
        middle = y + _SWATCH / 2
        if label == "shortcut":
            pen = QPen(theme.shortcut, 1.7)
            pen.setDashPattern([4.0, 2.5])
            painter.setPen(pen)
            painter.drawLine(QPointF(x, middle), QPointF(x + _SWATCH, middle))
        else:
            painter.setPen(QPen(theme.border(label), 1.0))
            painter.setBrush(theme.fill(label))
            painter.drawRoundedRect(QRectF(x, y, _SWATCH, _SWATCH), 2.5, 2.5)
            painter.fillRect(QRectF(x + 1.5, y + 1.5, 3, _SWATCH - 3), kind_color(label))
        painter.setPen(theme.text)
        text_rect = QRectF(x + _SWATCH + 5, y - 3, w, _SWATCH + 6)
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, label)
        x += w + _GAP
    painter.restore()


class Legend(QWidget):
    """Floats over the view's bottom-left corner; clicks go through to the graph."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self._content: LegendContent | None = None
        self._theme: Theme | None = None

    def set_content(self, content: LegendContent | None, theme: Theme) -> None:
        self._content, self._theme = content, theme
        self.setVisible(bool(content and content.kinds))
        self.update()

    def place(self, area: QRectF) -> None:
        """Fit into the bottom-left of ``area`` (the viewport's geometry in the parent)."""
        if self._content is None or self._theme is None:
            return
        size = legend_size(self._content, self._theme, min(area.width() - 16, 900))
        self.setGeometry(int(area.left() + 8), int(area.bottom() - size.height() - 8), size.width(), size.height())

    def paintEvent(self, event: QPaintEvent) -> None:
        if self._content is None or self._theme is None:
            return
        painter = QPainter(self)
        paint_legend(painter, QRectF(self.rect()), self._content, self._theme, backdrop=True)
        painter.end()
