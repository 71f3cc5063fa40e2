"""The scene's items: layer nodes, edges, shape labels and module frames, each painted in one
cheap pass, with semantic zoom.

Every item picks what to draw from the scale it is painted at (``style.zoom_band``): close up a
node is a card with its name and ``op · shape``; further out a tinted card with its name and
shape in a font that grows in scene units so it stays at 9 pt on screen, then its name alone,
then the colour alone. ``drawn_labels(scale)`` says what an item draws at a scale, through the
same code as ``paint``, so tests can check every label's size on screen.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QPainter, QPainterPath, QPainterPathStroker, QPen, QPolygonF
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from explorer.gui.widgets.graph_view.hierarchy import REPEAT as REPEAT_KIND
from explorer.gui.widgets.graph_view.layout import NODE_HEIGHT, NODE_WIDTH, EdgeRoute, Frame, VisibleNode
from explorer.gui.widgets.graph_view.style import BANDS_PER_OCTAVE, MAX_BAND, Theme, kind_color, zoom_band

_RADIUS = 7.0
_ACCENT = 5.0  # the kind-coloured stripe on a node's left
_TEXT_LEFT = 13.0
_STACK = 4.0  # how far a block's back card shows
_BRACKET = 14.0  # how far a collapsed residual block's shortcut glyph stands out
_HALO = 6.0  # around a selected or marked node
_ARROW_LENGTH = 8.0
_ARROW_WIDTH = 7.0
_CORNER = 16.0  # of a shortcut's bends
_ALIGN_LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter


@dataclass(frozen=True)
class Label:
    """One line of text an item draws at some zoom band."""

    rect: QRectF
    font: QFont
    text: str
    muted: bool = False


def screen_sizes(labels: Sequence[Label], scale: float) -> list[tuple[str, float]]:
    """(text, point size on screen) of each label drawn at ``scale``."""
    return [(label.text, label.font.pointSizeF() * scale) for label in labels]


def _scale_of(painter: QPainter) -> float:
    return QStyleOptionGraphicsItem.levelOfDetailFromTransform(painter.worldTransform())


def stroke_width(shape: Sequence[int]) -> float:
    """An edge's width in scene units, by the size of its tensor on a log scale: 0.8 for 1,000
    values or fewer, 1.2 more per factor of ten (a ResNet bottleneck's 64×56×56 is 3.6, its
    256×56×56 4.3), at most 6."""
    numel = math.prod(shape) if shape else 1
    return max(0.8, min(6.0, 0.8 + 1.2 * math.log10(max(numel, 1) / 1000)))


@dataclass(frozen=True)
class NodeTexts:
    """What a node says: close up (title and detail) and zoomed out (short title and shape)."""

    title: str  # "layer3.12.conv2", "layer3 · 36 × Bottleneck"
    detail: str  # "Conv2d · 256×14×14", "36 × Bottleneck · 1024×14×14"
    short: str  # "conv2" (inside its frame), "layer3"
    compact: str  # "256×14×14", "×36 · 1024×14×14"


class NodeItem(QGraphicsItem):
    """A layer (or a collapsed block): a rounded card with the kind's colour, its name and shape."""

    def __init__(
        self, node: VisibleNode, texts: NodeTexts, tooltip: str, theme: Theme, *, horizontal: bool = False
    ) -> None:
        super().__init__()
        self.node = node
        self.texts = texts
        self._theme = theme
        self._horizontal = horizontal
        self.mark: str | None = None  # "changed" or "affected" (what-if edits), else None
        self._rect = QRectF(-NODE_WIDTH / 2, -NODE_HEIGHT / 2, NODE_WIDTH, NODE_HEIGHT)
        stack = _STACK * (2 if node.group == REPEAT_KIND else 1) if node.is_block else 0.0
        right = stack + (_BRACKET if node.residual and not horizontal else 0.0)
        bottom = stack + (_BRACKET if node.residual and horizontal else 0.0)
        self._bounds = self._rect.adjusted(-_HALO, -_HALO, _HALO + right, _HALO + bottom)
        self._labels: dict[int, list[Label]] = {}
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setToolTip(tooltip)
        self.setZValue(2)

    @staticmethod
    def text_width(node: VisibleNode) -> float:
        """Room for text on a close-up card (a block's ⊞ takes some)."""
        return NODE_WIDTH - _TEXT_LEFT - (20.0 if node.is_block else 8.0)

    @property
    def name(self) -> str:
        return self.node.name

    @property
    def rect(self) -> QRectF:
        """The card, in item coordinates."""
        return self._rect

    def boundingRect(self) -> QRectF:
        return self._bounds

    def shape(self) -> QPainterPath:
        path = QPainterPath()
        path.addRoundedRect(self._rect, _RADIUS, _RADIUS)
        return path

    def set_mark(self, mark: str | None) -> None:
        if mark != self.mark:
            self.mark = mark
            self.update()

    # what it says, by zoom band ------------------------------------------------------------

    def labels(self, band: int) -> list[Label]:
        if band not in self._labels:
            self._labels[band] = self._layout_labels(band)
        return self._labels[band]

    def drawn_labels(self, scale: float) -> list[tuple[str, float]]:
        return screen_sizes(self.labels(zoom_band(scale)), scale)

    def _layout_labels(self, band: int) -> list[Label]:
        """Two lines while they fit (the richest text that fits whole), then the name alone, then
        nothing; the fonts are the band's, so on screen they are never below 9 pt."""
        theme, rect, texts = self._theme, self._rect, self.texts
        title_font, title_metrics = theme.band_font("title", band)
        detail_font, detail_metrics = theme.band_font("detail", band)
        line = max(title_metrics.lineSpacing(), detail_metrics.lineSpacing())
        room = rect.height() - 4
        left = rect.left() + _TEXT_LEFT
        width = self.text_width(self.node)
        if 2 * line <= room:
            # The end of a long name says what the layer is (its frame says where): elide the start.
            title = texts.title if title_metrics.horizontalAdvance(texts.title) <= width else texts.short
            title = title_metrics.elidedText(title, Qt.TextElideMode.ElideLeft, width)
            detail = texts.detail if detail_metrics.horizontalAdvance(texts.detail) <= width else texts.compact
            detail = detail_metrics.elidedText(detail, Qt.TextElideMode.ElideRight, width)
            top = rect.center().y() - line + 1
            return [
                Label(QRectF(left, top, width, line), title_font, title),
                Label(QRectF(left, top + line, width, line), detail_font, detail, muted=True),
            ]
        if line > room:
            return []
        width = rect.right() - left - 6
        whole = texts.title if title_metrics.horizontalAdvance(texts.title) <= width else texts.short
        short = title_metrics.elidedText(whole, Qt.TextElideMode.ElideLeft, width)
        if len(short) <= 2:  # nothing but an ellipsis fits: the colour says enough
            return []
        return [Label(QRectF(left, rect.top() + 2, width, rect.height() - 4), title_font, short)]

    # painting ------------------------------------------------------------------------------

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        theme, node, rect = self._theme, self.node, self._rect
        scale = _scale_of(painter)
        band = zoom_band(scale)
        labels = self.labels(band)
        if not labels and not self.isSelected() and self.mark is None:
            # Far out, where no text fits: the kind's colour, and nothing else (cheap for 1,000 nodes).
            painter.fillRect(rect, kind_color(node.kind))
            return
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        # Close up a tint; further out a stronger one; where no text fits, the kind's colour itself.
        fill = (
            theme.fill(node.kind) if band == 0 else theme.compact_fill(node.kind) if labels else kind_color(node.kind)
        )
        border = QPen(theme.border(node.kind), 1.2)
        if node.is_block:  # cards behind: "there is more inside" (two for a run of repeats)
            painter.setPen(border)
            painter.setBrush(fill)
            for depth in range(2 if node.group == REPEAT_KIND else 1, 0, -1):
                painter.drawRoundedRect(rect.translated(_STACK * depth, _STACK * depth), _RADIUS, _RADIUS)
        if node.residual:
            self._paint_shortcut_glyph(painter)
        if self.isSelected():
            halo = QColor(theme.highlight)
            halo.setAlphaF(0.35)
            painter.setPen(QPen(halo, _HALO))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(rect.adjusted(-2, -2, 2, 2), _RADIUS + 2, _RADIUS + 2)
            border = QPen(theme.highlight, 2.8)
        painter.setPen(border)
        painter.setBrush(fill)
        painter.drawRoundedRect(rect, _RADIUS, _RADIUS)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(kind_color(node.kind))
        painter.drawRoundedRect(QRectF(rect.left() + 2, rect.top() + 2, _ACCENT, rect.height() - 4), 2.5, 2.5)
        if self.mark is not None:
            self._paint_mark(painter)
        for label in labels:
            painter.setPen(theme.muted if label.muted else theme.text)
            painter.setFont(label.font)
            painter.drawText(label.rect, _ALIGN_LEFT, label.text)
        if node.is_block and len(labels) == 2:
            self._paint_expander(painter, QPointF(rect.right() - 13, rect.center().y()))

    def _paint_mark(self, painter: QPainter) -> None:
        theme = self._theme
        color = theme.marked if self.mark == "changed" else theme.affected
        pen = QPen(color, 3.0 if self.mark == "changed" else 2.2)
        if self.mark != "changed":
            pen.setDashPattern([3.0, 2.0])
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRoundedRect(self._rect.adjusted(-3.5, -3.5, 3.5, 3.5), _RADIUS + 3, _RADIUS + 3)
        if self.mark == "changed":
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(color)
            painter.drawEllipse(QPointF(self._rect.right() - 1, self._rect.top() + 1), 5, 5)

    def _paint_shortcut_glyph(self, painter: QPainter) -> None:
        """The shortcut a collapsed residual block hides, as a small dashed bracket beside it."""
        rect = self._rect
        pen = QPen(self._theme.shortcut, 1.7)
        pen.setDashPattern([3.0, 2.0])
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        out = _BRACKET - 3
        if self._horizontal:
            a, b = QPointF(rect.left() + 16, rect.bottom()), QPointF(rect.right() - 16, rect.bottom())
            points = [a, a + QPointF(0, out), b + QPointF(0, out), b + QPointF(0, 3)]
            tip, wing = b, QPointF(3.5, 0)
            base = b + QPointF(0, 6)
        else:
            a, b = QPointF(rect.right(), rect.top() + 10), QPointF(rect.right(), rect.bottom() - 10)
            points = [a, a + QPointF(out, 0), b + QPointF(out, 0), b + QPointF(3, 0)]
            tip, wing = b, QPointF(0, 3.5)
            base = b + QPointF(6, 0)
        painter.drawPath(_rounded_path(points, corner=5.0))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(self._theme.shortcut)
        painter.drawPolygon(QPolygonF([tip, base + wing, base - wing]))

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


def _flow_path(points: Sequence[QPointF], horizontal: bool) -> QPainterPath:
    """S-curves through every point, along the flow: smooth, and they leave and enter nodes straight."""
    path = QPainterPath(points[0])
    for a, b in zip(points, points[1:], strict=False):
        if horizontal:
            half = (b.x() - a.x()) / 2
            path.cubicTo(QPointF(a.x() + half, a.y()), QPointF(b.x() - half, b.y()), b)
        else:
            half = (b.y() - a.y()) / 2
            path.cubicTo(QPointF(a.x(), a.y() + half), QPointF(b.x(), b.y() - half), b)
    return path


def _rounded_path(points: Sequence[QPointF], corner: float = _CORNER) -> QPainterPath:
    """Straight runs with rounded corners: a shortcut's bracket around its block."""
    path = QPainterPath(points[0])
    for prev, point, nxt in zip(points, points[1:], points[2:], strict=False):
        d_in = point - prev
        d_out = nxt - point
        r = min(corner, math.hypot(d_in.x(), d_in.y()) / 2, math.hypot(d_out.x(), d_out.y()) / 2)
        ux, uy = _unit(d_in.x(), d_in.y())
        vx, vy = _unit(d_out.x(), d_out.y())
        path.lineTo(QPointF(point.x() - ux * r, point.y() - uy * r))
        path.quadTo(point, QPointF(point.x() + vx * r, point.y() + vy * r))
    path.lineTo(points[-1])
    return path


class EdgeItem(QGraphicsItem):
    """A tensor flowing from one node to the next, as wide as its size says (log scale);
    shortcuts are dashed and coloured."""

    def __init__(self, route: EdgeRoute, theme: Theme, *, horizontal: bool = False) -> None:
        super().__init__()
        self.route = route
        self._theme = theme
        self.highlighted = False
        self.width = stroke_width(route.shape)
        points = [QPointF(x, y) for x, y in route.points]
        tip, before = points[-1], points[-2]
        if not route.shortcut:  # the curve enters along the flow, whatever the previous point
            if horizontal:
                before = QPointF(tip.x() - math.copysign(1.0, tip.x() - before.x()), tip.y())
            else:
                before = QPointF(tip.x(), tip.y() - math.copysign(1.0, tip.y() - before.y()))
        ux, uy = _unit(tip.x() - before.x(), tip.y() - before.y())
        length, wing_width = _ARROW_LENGTH + self.width, _ARROW_WIDTH + self.width
        base = QPointF(tip.x() - ux * length, tip.y() - uy * length)
        points[-1] = base
        self._path = _rounded_path(points) if route.shortcut else _flow_path(points, horizontal)
        wing = QPointF(-uy * wing_width / 2, ux * wing_width / 2)
        self._arrow = QPolygonF([tip, base + wing, base - wing])
        grow = 3 + self.width
        self._bounds = self._path.boundingRect().united(self._arrow.boundingRect()).adjusted(-grow, -grow, grow, grow)
        self._hit: QPainterPath | None = None
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setZValue(1.5 if route.shortcut else 1)
        shape = "×".join(str(d) for d in route.shape) or "scalar"
        kind = "shortcut" if route.shortcut else "tensor"
        self.setToolTip(f"{route.source} → {route.target}\n{kind} {shape} ({math.prod(route.shape):,} values)")

    def boundingRect(self) -> QRectF:
        return self._bounds

    @property
    def path(self) -> QPainterPath:
        """The line, without its arrowhead, in scene coordinates (the item sits at the origin)."""
        return self._path

    def shape(self) -> QPainterPath:
        """The line itself, a few pixels wide: hover shows the tensor; the bounding box would
        take tooltips and double-clicks from the frames beneath."""
        if self._hit is None:
            stroker = QPainterPathStroker()
            stroker.setWidth(max(8.0, self.width + 4))
            self._hit = stroker.createStroke(self._path)
        return self._hit

    def set_highlighted(self, on: bool) -> None:
        if on != self.highlighted:
            self.highlighted = on
            self.update()

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        theme = self._theme
        color = theme.highlight if self.highlighted else theme.shortcut if self.route.shortcut else theme.edge
        scale = max(_scale_of(painter), 1e-6)
        width = self.width + (1.0 if self.highlighted else 0.0)
        width = max(width, 1.0 / scale)  # never thinner than a pixel
        pen = QPen(color, width)
        pen.setCapStyle(Qt.PenCapStyle.FlatCap)
        if self.route.shortcut:
            pen.setDashPattern([5.0 / max(1.0, width / 1.7), 3.0 / max(1.0, width / 1.7)])
        close = scale >= 0.2  # further out an arrowhead is a speck, and smoothing costs more than it shows
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, close)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(self._path)
        if close:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QBrush(color))
            painter.drawPolygon(self._arrow)


#: Below this scale no node has room for a single line of text: the scene then paints the whole
#: graph as one OverviewItem (one call per colour) instead of one call per node and edge.
FAR_SCALE = 0.25


class OverviewItem(QGraphicsItem):
    """The graph far out: every node as a rectangle of its kind's colour and every edge as one
    thin line, in a handful of paint calls. The scene shows it (and hides the nodes and edges it
    stands for) below FAR_SCALE."""

    def __init__(self, nodes: Sequence[NodeItem], edges: Sequence[EdgeItem], theme: Theme, bounds: QRectF) -> None:
        super().__init__()
        self._theme = theme
        self._bounds = QRectF(bounds)
        by_color: dict[str, list[QRectF]] = {}
        for item in nodes:
            by_color.setdefault(kind_color(item.node.kind).name(), []).append(item.mapRectToScene(item.rect))
        self._rects = [(QColor(name), rects) for name, rects in by_color.items()]
        self._edges, self._shortcuts = QPainterPath(), QPainterPath()
        for edge in edges:
            (self._shortcuts if edge.route.shortcut else self._edges).addPath(edge.path)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setZValue(1)
        self.hide()

    def boundingRect(self) -> QRectF:
        return self._bounds

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        for path, color in ((self._edges, self._theme.edge), (self._shortcuts, self._theme.shortcut)):
            pen = QPen(color, 0)  # cosmetic: one pixel at any scale
            painter.setPen(pen)
            painter.drawPath(path)
        painter.setPen(Qt.PenStyle.NoPen)
        for color, rects in self._rects:
            painter.setBrush(color)
            painter.drawRects(rects)


class ShapeLabel(QGraphicsItem):
    """The shape of the tensor a node sends out, on its outgoing edges (one label for all of them:
    they carry the same tensor). Drawn where its font is 9 pt or more on screen and it fits
    between the layers."""

    def __init__(self, text: str, anchor: QPointF, room: QRectF, theme: Theme, *, horizontal: bool) -> None:
        super().__init__()
        self.text = text
        self._theme = theme
        self._horizontal = horizontal
        self._room = room.translated(-anchor)  # in item coordinates: the item sits at the anchor
        self._labels: dict[int, list[Label]] = {}
        self.max_band = self.fitting_band()  # the scene lowers it to the band where all labels fit
        self.setPos(anchor)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setZValue(1.7)  # above edges, below frame titles and nodes

    def boundingRect(self) -> QRectF:
        return self._room

    def _size(self, band: int) -> tuple[float, float]:
        _, metrics = self._theme.band_font("detail", band)
        return metrics.horizontalAdvance(self.text) + 6, metrics.height() + 2

    def _fits(self, band: int) -> bool:
        width, height = self._size(band)
        return width <= self._room.width() and height <= self._room.height()

    def fitting_band(self) -> int:
        """The furthest-out zoom band at which this label fits between the layers (-1: none)."""
        width, height = self._size(0)
        need = max(width / self._room.width(), height / self._room.height())
        if need > 1:
            return -1
        # The font grows as 1 / band_scale: start from that estimate, then check the metrics.
        band = min(MAX_BAND, math.floor(-BANDS_PER_OCTAVE * math.log2(need))) if need > 0 else MAX_BAND
        while band > 0 and not self._fits(band):
            band -= 1
        return band

    def labels(self, band: int) -> list[Label]:
        if band > self.max_band:
            return []
        if band not in self._labels:
            font, _ = self._theme.band_font("detail", band)
            width, height = self._size(band)
            room = self._room
            top = room.bottom() - height if self._horizontal else room.top()
            self._labels[band] = [Label(QRectF(room.left(), top, width, height), font, self.text, muted=True)]
        return self._labels[band]

    def drawn_labels(self, scale: float) -> list[tuple[str, float]]:
        return screen_sizes(self.labels(zoom_band(scale)), scale) if self.isVisible() else []

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        labels = self.labels(zoom_band(_scale_of(painter)))
        if not labels:
            return
        label = labels[0]
        backdrop = QColor(self._theme.background)
        backdrop.setAlphaF(0.85)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(backdrop)
        painter.drawRoundedRect(label.rect, 3, 3)
        painter.setPen(self._theme.muted)
        painter.setFont(label.font)
        painter.drawText(label.rect, Qt.AlignmentFlag.AlignCenter, label.text)


class FrameItem(QGraphicsItem):
    """The light box behind an expanded group's nodes; its title is a FrameLabel above the edges."""

    def __init__(self, frame: Frame, theme: Theme) -> None:
        super().__init__()
        self.frame = frame
        self._theme = theme
        self._rect = QRectF(*frame.rect)
        self.setZValue(-1 - frame.height)  # outer frames under inner ones
        self.setToolTip(f"{frame.path} · {frame.summary or frame.op}\nDouble-click to collapse")

    @property
    def path(self) -> str:
        return self.frame.path

    @property
    def rect(self) -> QRectF:
        return self._rect

    def boundingRect(self) -> QRectF:
        return self._rect.adjusted(-1, -1, 1, 1)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(self._theme.frame_border, 1.0))
        painter.setBrush(self._theme.frame_fill)
        painter.drawRoundedRect(self._rect, 10, 10)


class FrameLabel(QGraphicsItem):
    """A frame's title at every zoom level: in its header close up, and further out in a font that
    stays 9 pt on screen, over the frame's top (above the nodes, which say nothing that far out).
    Where it would cover the title of a frame around it, the outer title wins."""

    def __init__(self, frame: Frame, theme: Theme) -> None:
        super().__init__()
        self.frame = frame
        self._theme = theme
        self._frame_rect = QRectF(*frame.rect)
        self.outer: list[FrameLabel] = []  # the labels of the frames around this one (set by the scene)
        self.outside: OutsideTitle | None = None  # an outermost frame's title beside it (set by the scene)
        self._labels: dict[int, list[Label]] = {}
        self.setZValue(2.5 + 0.01 * frame.height)  # over edges and nodes; outer titles over inner ones
        self.setToolTip(f"{frame.path} · {frame.summary or frame.op}\nDouble-click to collapse")

    @property
    def path(self) -> str:
        return self.frame.path

    def boundingRect(self) -> QRectF:
        return self._frame_rect

    def shape(self) -> QPainterPath:
        """Only the close-up title takes clicks (double-click collapses); the nodes below keep theirs."""
        path = QPainterPath()
        labels = self.labels(0)
        if labels:
            path.addRect(labels[0].rect)
        return path

    def labels(self, band: int) -> list[Label]:
        if band not in self._labels:
            self._labels[band] = self._layout_label(band)
        return self._labels[band]

    def _layout_label(self, band: int) -> list[Label]:
        font, metrics = self._theme.band_font("frame", band)
        rect = self._frame_rect
        text = metrics.elidedText(self.frame.label, Qt.TextElideMode.ElideMiddle, rect.width() - 24)
        if len(text) <= 3:
            return []
        height = metrics.height()
        if height > rect.height() - 4:
            return []
        width = metrics.horizontalAdvance(text) + 8
        own = QRectF(rect.left() + 6, rect.top() + 2, width, height)
        for outer in self.outer:
            taken = outer.labels(band)
            if taken and taken[0].rect.intersects(own):
                # Zoomed out the titles grow taller than a frame's header: go beside the outer one.
                own.moveLeft(taken[0].rect.right() + 8)
        if own.right() > rect.right() - 6 or any(
            outer.labels(band) and outer.labels(band)[0].rect.intersects(own) for outer in self.outer
        ):
            return []  # no room: the outer title wins
        return [Label(own, font, text, muted=True)]

    def whole(self, band: int) -> bool:
        """Whether the title fits in the frame unshortened at ``band``."""
        labels = self.labels(band)
        return bool(labels) and labels[0].text == self.frame.label

    def _outside_shown(self) -> bool:
        return self.outside is not None and self.outside.isVisible()

    def drawn_labels(self, scale: float) -> list[tuple[str, float]]:
        return [] if self._outside_shown() else screen_sizes(self.labels(zoom_band(scale)), scale)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        band = zoom_band(_scale_of(painter))
        labels = self.labels(band)
        if not labels or self._outside_shown():
            return
        label = labels[0]
        fill = QColor(self._theme.frame_fill)
        if band > 0:  # over the nodes: opaque enough to read
            fill = QColor(self._theme.background)
            fill.setAlphaF(0.9)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(fill)
        painter.drawRoundedRect(label.rect, 4, 4)
        painter.setPen(self._theme.muted)
        painter.setFont(label.font)
        painter.drawText(label.rect, Qt.AlignmentFlag.AlignCenter, label.text)


class OutsideTitle(QGraphicsItem):
    """The title of an outermost frame when the frame is too small on screen to hold it: beside
    the frame, at 9 pt on screen whatever the zoom (it ignores the view's scale). The scene
    picks the first of its places (right of the frame or above it, top to bottom; above or below
    it, left to right) that covers no other frame or title, or hides it."""

    def __init__(self, frame: Frame, theme: Theme, *, horizontal: bool) -> None:
        super().__init__()
        self.frame = frame
        self._theme = theme
        rect = QRectF(*frame.rect)
        self.text = frame.label
        metrics = theme.frame_metrics
        width, height = metrics.horizontalAdvance(self.text) + 10, metrics.height() + 2
        right = (rect.topRight(), QRectF(6, 0, width, height))
        above = (rect.topLeft(), QRectF(0, -height - 2, width, height))
        below = (rect.bottomLeft(), QRectF(0, 2, width, height))
        # (scene anchor, rectangle in pixels from it)
        self.places: list[tuple[QPointF, QRectF]] = [above, below] if horizontal else [right, above]
        self._rect = self.places[0][1]
        self.setPos(self.places[0][0])
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setZValue(2.6)
        self.hide()

    def boundingRect(self) -> QRectF:
        return self._rect

    def screen_rect(self, scale: float, place: int = 0) -> QRectF:
        """Where it would be drawn at ``scale`` in one of its places, in device pixels up to the
        view's scroll offset."""
        anchor, rect = self.places[place]
        return rect.translated(anchor * scale)

    def use(self, place: int) -> None:
        anchor, rect = self.places[place]
        if rect != self._rect:
            self.prepareGeometryChange()
            self._rect = rect
        self.setPos(anchor)

    def drawn_labels(self, scale: float) -> list[tuple[str, float]]:
        return [(self.text, self._theme.frame_font.pointSizeF())] if self.isVisible() else []

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        backdrop = QColor(self._theme.background)
        backdrop.setAlphaF(0.9)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(self._theme.frame_border, 1.0))
        painter.setBrush(backdrop)
        painter.drawRoundedRect(self._rect, 4, 4)
        painter.setPen(self._theme.text)
        painter.setFont(self._theme.frame_font)
        painter.drawText(self._rect, Qt.AlignmentFlag.AlignCenter, self.text)


class PulseItem(QGraphicsItem):
    """Rings that grow from a node and fade: where a search landed. ``phase`` runs 0 → 1 per ring."""

    def __init__(self, target: QRectF, theme: Theme) -> None:
        super().__init__()
        self._target = target
        self._theme = theme
        self.phase = 0.0
        self.setZValue(3)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)

    def boundingRect(self) -> QRectF:
        return self._target.adjusted(-40, -40, 40, 40)

    def set_phase(self, phase: float) -> None:
        self.phase = phase
        self.update()

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        color = QColor(self._theme.highlight)
        color.setAlphaF(max(0.0, 1.0 - self.phase))
        grow = 4 + 30 * self.phase
        scale = max(_scale_of(painter), 1e-6)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(color, max(3.0, 3.0 / scale)))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRoundedRect(self._target.adjusted(-grow, -grow, grow, grow), _RADIUS + grow, _RADIUS + grow)
