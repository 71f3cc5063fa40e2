"""The scene's items: layer nodes, edges and module frames, each painted in one cheap pass."""

from __future__ import annotations

import math
from collections.abc import Sequence

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPainter, QPainterPath, QPainterPathStroker, QPen, QPolygonF
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from explorer.gui.widgets.graph_view.layout import NODE_HEIGHT, NODE_WIDTH, EdgeRoute, Frame, VisibleNode
from explorer.gui.widgets.graph_view.style import Theme, kind_color

_RADIUS = 7.0
_ACCENT = 5.0  # the kind-coloured stripe on a node's left
_TEXT_LEFT = 14.0
_STACK = 4.0  # how far a block's back card shows
_ARROW_LENGTH = 8.0
_ARROW_WIDTH = 7.0
_CORNER = 16.0  # of a shortcut's bends
#: What-if marks (``GraphView.mark_nodes``): a layer an edit changed, and one whose numbers changed with it.
MARK_COLORS = {"changed": QColor("#db2777"), "affected": QColor("#d97706")}


class NodeItem(QGraphicsItem):
    """A layer (or a collapsed block): a rounded card with the kind's colour, its name and shape."""

    def __init__(self, node: VisibleNode, title: str, detail: str, tooltip: str, theme: Theme) -> None:
        super().__init__()
        self.node = node
        self._theme = theme
        width = self.text_width(node)
        # The end of a long name says what the layer is (its frame says where): elide the start.
        self._title = theme.title_metrics.elidedText(title, Qt.TextElideMode.ElideLeft, width)
        self._detail = theme.detail_metrics.elidedText(detail, Qt.TextElideMode.ElideRight, width)
        self._rect = QRectF(-NODE_WIDTH / 2, -NODE_HEIGHT / 2, NODE_WIDTH, NODE_HEIGHT)
        extra = _STACK if node.is_block else 0.0
        self._bounds = self._rect.adjusted(-3, -3, 3 + extra, 3 + extra)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        # Text is the expensive part of a frame; at most a few hundred nodes, so a pixmap each is fine.
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.setToolTip(tooltip)
        self.setZValue(2)
        self.mark: str | None = None  # "changed" | "affected" | None (what-if)

    def set_mark(self, mark: str | None) -> None:
        if mark != self.mark:
            self.mark = mark
            self.update()

    @staticmethod
    def text_width(node: VisibleNode) -> float:
        return NODE_WIDTH - _TEXT_LEFT - (22.0 if node.is_block else 8.0)

    @property
    def name(self) -> str:
        return self.node.name

    def boundingRect(self) -> QRectF:
        return self._bounds

    def shape(self) -> QPainterPath:
        path = QPainterPath()
        path.addRoundedRect(self._rect, _RADIUS, _RADIUS)
        return path

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        theme, node, rect = self._theme, self.node, self._rect
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        border = QPen(theme.border(node.kind), 1.2)
        if node.is_block:  # a card behind: "there is more inside"
            painter.setPen(border)
            painter.setBrush(theme.fill(node.kind))
            painter.drawRoundedRect(rect.translated(_STACK, _STACK), _RADIUS, _RADIUS)
        if self.isSelected():
            border = QPen(theme.highlight, 2.6)
        painter.setPen(border)
        painter.setBrush(theme.fill(node.kind))
        painter.drawRoundedRect(rect, _RADIUS, _RADIUS)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(kind_color(node.kind))
        painter.drawRoundedRect(QRectF(rect.left() + 2, rect.top() + 2, _ACCENT, rect.height() - 4), 2.5, 2.5)

        left = rect.left() + _TEXT_LEFT
        text_width = rect.width() - _TEXT_LEFT - 6
        painter.setPen(theme.text)
        painter.setFont(theme.title_font)
        top = QRectF(left, rect.top() + 4, text_width, rect.height() / 2 - 3)
        painter.drawText(top, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, self._title)
        painter.setPen(theme.muted)
        painter.setFont(theme.detail_font)
        bottom = QRectF(left, rect.center().y() + 1, text_width, rect.height() / 2 - 5)
        painter.drawText(bottom, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, self._detail)
        if node.is_block:
            self._paint_expander(painter, QPointF(rect.right() - 13, rect.center().y()))
        if self.mark is not None:
            self._paint_mark(painter, rect)

    def _paint_mark(self, painter: QPainter, rect: QRectF) -> None:
        """A what-if mark: a solid ring for a changed layer, a dashed one for an affected layer."""
        color = MARK_COLORS[self.mark or "changed"]
        pen = QPen(color, 2.4 if self.mark == "changed" else 1.8)
        if self.mark == "affected":
            pen.setDashPattern([3.0, 2.0])
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRoundedRect(rect.adjusted(-1.0, -1.0, 1.0, 1.0), _RADIUS + 1, _RADIUS + 1)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(color)
        painter.drawEllipse(QPointF(rect.right() - 6, rect.top() + 6), 3.2, 3.2)

    def _paint_expander(self, painter: QPainter, centre: QPointF) -> None:
        """A small ⊞: double-click opens the block."""
        painter.setPen(QPen(self._theme.border(self.node.kind), 1.2))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRoundedRect(QRectF(centre.x() - 5.5, centre.y() - 5.5, 11, 11), 2, 2)
        painter.drawLine(QPointF(centre.x() - 3, centre.y()), QPointF(centre.x() + 3, centre.y()))
        painter.drawLine(QPointF(centre.x(), centre.y() - 3), QPointF(centre.x(), centre.y() + 3))


def _unit(dx: float, dy: float) -> tuple[float, float]:
    length = math.hypot(dx, dy) or 1.0
    return dx / length, dy / length


def _flow_path(points: Sequence[QPointF]) -> QPainterPath:
    """Vertical S-curves through every point: smooth, and they leave and enter nodes straight."""
    path = QPainterPath(points[0])
    for a, b in zip(points, points[1:], strict=False):
        half = (b.y() - a.y()) / 2
        path.cubicTo(QPointF(a.x(), a.y() + half), QPointF(b.x(), b.y() - half), b)
    return path


def _rounded_path(points: Sequence[QPointF]) -> QPainterPath:
    """Straight runs with rounded corners: a shortcut's bracket around its block."""
    path = QPainterPath(points[0])
    for prev, corner, nxt in zip(points, points[1:], points[2:], strict=False):
        d_in = corner - prev
        d_out = nxt - corner
        r = min(_CORNER, math.hypot(d_in.x(), d_in.y()) / 2, math.hypot(d_out.x(), d_out.y()) / 2)
        ux, uy = _unit(d_in.x(), d_in.y())
        vx, vy = _unit(d_out.x(), d_out.y())
        path.lineTo(QPointF(corner.x() - ux * r, corner.y() - uy * r))
        path.quadTo(corner, QPointF(corner.x() + vx * r, corner.y() + vy * r))
    path.lineTo(points[-1])
    return path


class EdgeItem(QGraphicsItem):
    """A tensor flowing from one node to the next; shortcuts are dashed and coloured."""

    def __init__(self, route: EdgeRoute, theme: Theme) -> None:
        super().__init__()
        self.route = route
        self._theme = theme
        self.highlighted = False
        points = [QPointF(x, y) for x, y in route.points]
        tip, before = points[-1], points[-2]
        if not route.shortcut:  # the curve enters vertically, whatever the previous point
            before = QPointF(tip.x(), tip.y() - math.copysign(1.0, tip.y() - before.y()))
        ux, uy = _unit(tip.x() - before.x(), tip.y() - before.y())
        base = QPointF(tip.x() - ux * _ARROW_LENGTH, tip.y() - uy * _ARROW_LENGTH)
        points[-1] = base
        self._path = _rounded_path(points) if route.shortcut else _flow_path(points)
        wing = QPointF(-uy * _ARROW_WIDTH / 2, ux * _ARROW_WIDTH / 2)
        self._arrow = QPolygonF([tip, base + wing, base - wing])
        self._bounds = self._path.boundingRect().united(self._arrow.boundingRect()).adjusted(-3, -3, 3, 3)
        self._hit: QPainterPath | None = None
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setZValue(1.5 if route.shortcut else 1)
        shape = "×".join(str(d) for d in route.shape) or "scalar"
        kind = "shortcut" if route.shortcut else "tensor"
        self.setToolTip(f"{route.source} → {route.target}\n{kind} {shape}")

    def boundingRect(self) -> QRectF:
        return self._bounds

    def shape(self) -> QPainterPath:
        """The line itself, a few pixels wide: hover shows the tensor; the bounding box would
        take tooltips and double-clicks from the frames beneath."""
        if self._hit is None:
            stroker = QPainterPathStroker()
            stroker.setWidth(8)
            self._hit = stroker.createStroke(self._path)
        return self._hit

    def set_highlighted(self, on: bool) -> None:
        if on != self.highlighted:
            self.highlighted = on
            self.update()

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        theme = self._theme
        color = theme.highlight if self.highlighted else theme.shortcut if self.route.shortcut else theme.edge
        width = 2.2 if self.highlighted else 1.7 if self.route.shortcut else 1.3
        pen = QPen(color, width)
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        if self.route.shortcut:
            pen.setDashPattern([5.0, 3.0])
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(self._path)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QBrush(color))
        painter.drawPolygon(self._arrow)


class FrameItem(QGraphicsItem):
    """The light box behind an expanded module's nodes; its label is a FrameLabel above the edges."""

    def __init__(self, frame: Frame, theme: Theme) -> None:
        super().__init__()
        self.frame = frame
        self._theme = theme
        self._rect = QRectF(*frame.rect)
        self.setZValue(-1 - frame.height)  # outer frames under inner ones
        self.setToolTip(f"{frame.path} · {frame.op}\nDouble-click to collapse")

    @property
    def path(self) -> str:
        return self.frame.path

    def boundingRect(self) -> QRectF:
        return self._rect.adjusted(-1, -1, 1, 1)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(self._theme.frame_border, 1.0))
        painter.setBrush(self._theme.frame_fill)
        painter.drawRoundedRect(self._rect, 10, 10)


class FrameLabel(QGraphicsItem):
    """A frame's title, over the edges that enter the frame so they never cross the text."""

    def __init__(self, frame: Frame, theme: Theme) -> None:
        super().__init__()
        self.frame = frame
        self._theme = theme
        rect = QRectF(*frame.rect)
        text = theme.frame_metrics.elidedText(frame.label, Qt.TextElideMode.ElideMiddle, rect.width() - 24)
        self._text = text
        width = theme.frame_metrics.horizontalAdvance(text) + 8
        self._rect = QRectF(rect.left() + 6, rect.top() + 2, width, 14)
        self.setZValue(1.8)  # above edges (1, 1.5), below nodes (2)
        self.setToolTip(f"{frame.path} · {frame.op}\nDouble-click to collapse")

    @property
    def path(self) -> str:
        return self.frame.path

    def boundingRect(self) -> QRectF:
        return self._rect

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(self._theme.frame_fill)
        painter.drawRoundedRect(self._rect, 4, 4)
        painter.setPen(self._theme.muted)
        painter.setFont(self._theme.frame_font)
        painter.drawText(self._rect, Qt.AlignmentFlag.AlignCenter, self._text)
