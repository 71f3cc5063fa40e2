"""The overview: the whole graph in a corner of the view, with the visible region as a rectangle
that a click moves and a drag carries.

A deep network is a long, thin column (or row), so the overview stretches the thin axis to a
readable width instead of keeping the aspect: each node stays a coloured tick, and the titles
of the outermost parts (stem, layer1 … layer4, head; a stage block or an expanded frame) are
written beside them in the view's 9 pt font, where they do not overlap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent, QPen, QPixmap
from PySide6.QtWidgets import QWidget

from explorer.gui.widgets.graph_view.hierarchy import HEAD, STAGE, STEM
from explorer.gui.widgets.graph_view.layout import NODE_HEIGHT, NODE_WIDTH, Layout, VisibleGraph
from explorer.gui.widgets.graph_view.style import Theme, kind_color

_LONG_SIDE = 230  # px: the overview's longer side, when the view has room
_SHORT_SIDE = 96  # px: at least this across a thin graph, so titles fit
_PAD = 6.0
_TITLED = (STAGE, STEM, HEAD)


@dataclass(frozen=True)
class _Overview:
    scene: QRectF  # what the overview shows, in scene coordinates
    nodes: tuple[tuple[QRectF, str], ...]  # scene rectangles and kinds
    frames: tuple[tuple[QRectF, str], ...]  # the outermost frames and their titles
    titles: tuple[tuple[QRectF, str], ...]  # collapsed stages (and stem, head): where and what


class Minimap(QWidget):
    def __init__(self, parent: QWidget, navigate: Callable[[QPointF], None]) -> None:
        super().__init__(parent)
        self._navigate = navigate  # centre the view on a scene point
        self._overview: _Overview | None = None
        self._theme: Theme | None = None
        self._region = QRectF()
        self._pixmap: QPixmap | None = None
        self._grab: QPointF | None = None  # scene offset from the region's centre while dragging
        self.setCursor(Qt.CursorShape.OpenHandCursor)
        self.setToolTip("Overview: click or drag to move the view")
        self.hide()

    # content ---------------------------------------------------------------------------------

    def set_graph(self, visible: VisibleGraph | None, layout: Layout | None, scene: QRectF, theme: Theme) -> None:
        self._theme = theme
        self._pixmap = None
        if visible is None or layout is None or not layout.positions:
            self._overview = None
            self.hide()
            return
        half_w, half_h = NODE_WIDTH / 2, NODE_HEIGHT / 2
        nodes = tuple(
            (QRectF(x - half_w, y - half_h, NODE_WIDTH, NODE_HEIGHT), visible.node(name).kind)
            for name, (x, y) in layout.positions.items()
        )
        frames = tuple((QRectF(*f.rect), f.title) for f in layout.frames if f.outer is None)
        titles = tuple(
            (
                QRectF(
                    layout.positions[n.name][0] - half_w, layout.positions[n.name][1] - half_h, NODE_WIDTH, NODE_HEIGHT
                ),
                n.title,
            )
            for n in visible.blocks
            if n.group in _TITLED
        )
        self._overview = _Overview(scene, nodes, frames, titles)
        self.update()

    def set_region(self, region: QRectF) -> None:
        """The part of the scene the view shows now."""
        self._region = QRectF(region)
        self.update()

    @property
    def region(self) -> QRectF:
        return QRectF(self._region)

    def preferred_size(self, room: QSize) -> QSize:
        """The overview's size in a viewport of ``room``: the graph's aspect, thin sides stretched."""
        if self._overview is None:
            return QSize(0, 0)
        scene = self._overview.scene
        aspect = scene.width() / max(scene.height(), 1.0)
        along = room.width() if aspect >= 1 else room.height()  # the view's side the graph runs along
        long_side = max(60, min(_LONG_SIDE, int(0.3 * along)))
        short_side = min(long_side, _SHORT_SIDE)
        if aspect >= 1:
            return QSize(long_side, max(short_side, min(long_side, int(long_side / aspect))))
        return QSize(max(short_side, min(long_side, int(long_side * aspect))), long_side)

    # mapping ---------------------------------------------------------------------------------

    def _inner(self) -> QRectF:
        return QRectF(self.rect()).adjusted(_PAD, _PAD, -_PAD, -_PAD)

    def to_widget(self, point: QPointF) -> QPointF:
        assert self._overview is not None
        scene, inner = self._overview.scene, self._inner()
        return QPointF(
            inner.left() + (point.x() - scene.left()) * inner.width() / max(scene.width(), 1e-6),
            inner.top() + (point.y() - scene.top()) * inner.height() / max(scene.height(), 1e-6),
        )

    def to_scene(self, point: QPointF) -> QPointF:
        assert self._overview is not None
        scene, inner = self._overview.scene, self._inner()
        return QPointF(
            scene.left() + (point.x() - inner.left()) * scene.width() / max(inner.width(), 1e-6),
            scene.top() + (point.y() - inner.top()) * scene.height() / max(inner.height(), 1e-6),
        )

    def _map_rect(self, rect: QRectF, minimum: float = 0.0) -> QRectF:
        a, b = self.to_widget(rect.topLeft()), self.to_widget(rect.bottomRight())
        mapped = QRectF(a, b)
        if mapped.width() < minimum:
            mapped.adjust(-(minimum - mapped.width()) / 2, 0, (minimum - mapped.width()) / 2, 0)
        if mapped.height() < minimum:
            mapped.adjust(0, -(minimum - mapped.height()) / 2, 0, (minimum - mapped.height()) / 2)
        return mapped

    # painting --------------------------------------------------------------------------------

    def resizeEvent(self, event: object) -> None:
        self._pixmap = None

    def _render(self) -> QPixmap:
        assert self._overview is not None and self._theme is not None
        theme, overview = self._theme, self._overview
        ratio = self.devicePixelRatioF()
        pixmap = QPixmap(self.size() * ratio)
        pixmap.setDevicePixelRatio(ratio)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        background = QColor(theme.background)
        background.setAlphaF(0.94)
        painter.setPen(QPen(theme.frame_border, 1.0))
        painter.setBrush(background)
        painter.drawRoundedRect(QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5), 6, 6)
        painter.setPen(QPen(theme.frame_border, 1.0))
        painter.setBrush(theme.frame_fill)
        for rect, _ in overview.frames:
            painter.drawRoundedRect(self._map_rect(rect), 3, 3)
        painter.setPen(Qt.PenStyle.NoPen)
        for rect, kind in overview.nodes:
            painter.setBrush(kind_color(kind))
            painter.drawRect(self._map_rect(rect, minimum=2.0))
        # Titles where they fit, the outermost first; none overlaps another.
        painter.setFont(theme.detail_font)
        metrics = theme.detail_metrics
        taken: list[QRectF] = []
        inner = self._inner()
        for rect, title in (*overview.frames, *overview.titles):
            anchor = self._map_rect(rect)
            width = min(metrics.horizontalAdvance(title) + 6, inner.width())
            box = QRectF(anchor.left() + 1, anchor.top() + 1, width, metrics.height() + 1)
            if box.right() > inner.right():
                box.moveRight(inner.right())
            if box.bottom() > inner.bottom() or any(box.intersects(t) for t in taken):
                continue
            taken.append(box)
            label = QColor(theme.background)
            label.setAlphaF(0.82)
            painter.setBrush(label)
            painter.drawRoundedRect(box, 3, 3)
            painter.setPen(theme.text)
            text = metrics.elidedText(title, Qt.TextElideMode.ElideRight, box.width() - 4)
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)
            painter.setPen(Qt.PenStyle.NoPen)
        painter.end()
        return pixmap

    def paintEvent(self, event: QPaintEvent) -> None:
        if self._overview is None or self._theme is None:
            return
        if self._pixmap is None or self._pixmap.size() != self.size() * self.devicePixelRatioF():
            self._pixmap = self._render()
        painter = QPainter(self)
        painter.drawPixmap(0, 0, self._pixmap)
        if not self._region.isEmpty():
            region = self._map_rect(self._region, minimum=4.0).intersected(self._inner().adjusted(-2, -2, 2, 2))
            fill = QColor(self._theme.highlight)
            fill.setAlphaF(0.14)
            painter.fillRect(region, fill)
            painter.setPen(QPen(self._theme.highlight, 2.0))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(region.toAlignedRect().adjusted(1, 1, -1, -1))
        painter.end()

    # navigating ------------------------------------------------------------------------------

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if self._overview is None or event.button() != Qt.MouseButton.LeftButton:
            return
        point = self.to_scene(event.position())
        centre = self._region.center()
        inside = self._region.contains(point)
        # Grabbing the rectangle carries it from where it was taken; elsewhere it jumps there.
        self._grab = centre - point if inside else QPointF(0, 0)
        self.setCursor(Qt.CursorShape.ClosedHandCursor)
        if not inside:
            self._navigate(point)
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._grab is None or self._overview is None:
            return
        self._navigate(self.to_scene(event.position()) + self._grab)
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._grab = None
        self.setCursor(Qt.CursorShape.OpenHandCursor)
        event.accept()
