"""The scene: turns a VisibleGraph and its Layout into items, and nothing else."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QPointF, QRectF, Qt
from PySide6.QtWidgets import QGraphicsScene

from explorer.gui.widgets.graph_view.hierarchy import MODULE, REPEAT
from explorer.gui.widgets.graph_view.items import (
    FAR_SCALE,
    EdgeItem,
    FrameItem,
    FrameLabel,
    NodeItem,
    NodeTexts,
    OutsideTitle,
    OverviewItem,
    ShapeLabel,
)
from explorer.gui.widgets.graph_view.layout import NODE_HEIGHT, NODE_WIDTH, Layout, VisibleGraph, VisibleNode
from explorer.gui.widgets.graph_view.style import Theme, zoom_band

if TYPE_CHECKING:
    from explorer.core.stats import ModelSummary

_MARGIN = 60.0


def format_shape(shape: Sequence[int]) -> str:
    return "×".join(str(d) for d in shape) if shape else "scalar"


def _count(n: int) -> str:
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= limit:
            return f"{n / limit:.3g}{suffix}"
    return str(n)


def _fit_tail(theme: Theme, head: str, tail: str, width: float) -> str:
    """``head · tail`` in ``width``, the head cut rather than the tail (the shape matters most)."""
    metrics = theme.detail_metrics
    text = f"{head} · {tail}" if head else tail
    if metrics.horizontalAdvance(text) <= width or not head:
        return text
    room = width - metrics.horizontalAdvance(f" · {tail}")
    return f"{metrics.elidedText(head, Qt.TextElideMode.ElideRight, room)} · {tail}"


def node_texts(node: VisibleNode, framed: Sequence[str], theme: Theme) -> NodeTexts:
    """What a node says close up and zoomed out.

    A name too long for the card loses the part its frame already says ("branch2.0.conv"
    inside "inception3a"); a detail line too long loses the end of the type, never the shape.
    """
    shape = format_shape(node.output_shape)
    width = NodeItem.text_width(node)
    fits = theme.title_metrics.horizontalAdvance(node.label) <= width
    if not node.is_block:
        title = node.name if fits else _short_name(node.name, framed)
        return NodeTexts(title, _fit_tail(theme, node.op, shape, width), _short_name(node.name, framed), shape)
    # Zoomed out a stage says what it holds (its shape is on its outgoing edge, just below).
    compact = node.summary if node.count else shape
    if node.group == MODULE:
        if fits:
            return NodeTexts(node.label, f"{len(node.members)} layers · {shape}", node.title, compact)
        return NodeTexts(node.title, _fit_tail(theme, node.op, shape, width), node.title, compact)
    # A stage, a run of repeats, the stem or the head: "36 × Bottleneck · 1024×14×14". Zoomed out,
    # a run of repeats inside its stage's frame is "× 35" when its title no longer fits.
    short = f"× {node.count}" if node.group == REPEAT else node.title
    return NodeTexts(node.title, _fit_tail(theme, node.summary, shape, width), short, compact)


def _short_name(name: str, framed: Sequence[str]) -> str:
    """The name relative to the outermost frame around it that leaves a readable rest
    (``framed``: the framed paths, shortest first)."""
    for path in framed:
        if name.startswith(path) and name[len(path) : len(path) + 1] == "." and not name[len(path) + 1].isdigit():
            return name[len(path) + 1 :]
    return name


def node_tooltip(summary: ModelSummary, node: VisibleNode) -> str:
    if node.is_block:
        rows = [summary.layer(member) for member in node.members]
        params, macs = sum(r.params for r in rows), sum(r.macs for r in rows)
        where = f" ({node.name})" if node.title != node.name else ""
        return (
            f"{node.label}{where}\n{len(node.members)} layers, output {format_shape(node.output_shape)}\n"
            f"params {_count(params)} · MACs {_count(macs)}\nDouble-click to expand"
        )
    stats = summary.layer(node.name)
    inputs = ", ".join(format_shape(s) for s in stats.input_shapes) or "—"
    return (
        f"{node.name} ({node.op}, {node.kind})\n{inputs} → {format_shape(node.output_shape)}\n"
        f"params {_count(stats.params)} · MACs {_count(stats.macs)}"
    )


class GraphScene(QGraphicsScene):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.nodes: dict[str, NodeItem] = {}
        self.edges: list[EdgeItem] = []
        self.frames: list[FrameItem] = []
        self.frame_labels: list[FrameLabel] = []
        self.shape_labels: list[ShapeLabel] = []
        self.outside_titles: list[tuple[FrameLabel, OutsideTitle]] = []  # the outermost frames'
        self._band = -1  # the zoom band the labels were last shown for
        self._edge_labels = True
        self.overview: OverviewItem | None = None
        self.far = False  # painting the overview instead of each node and edge
        self.graph_rect = QRectF()  # what the graph's items cover (not a search pulse): fit, overview, export

    def reset(self) -> None:
        # Before clear(): it may signal a selection change.
        self.nodes, self.edges, self.frames, self.frame_labels, self.shape_labels = {}, [], [], [], []
        self.outside_titles = []
        self._band = -1
        self.overview, self.far = None, False
        self.graph_rect = QRectF()
        self.clear()

    def populate(
        self, summary: ModelSummary, visible: VisibleGraph, layout: Layout, theme: Theme, *, edge_labels: bool = True
    ) -> None:
        self.reset()
        self._edge_labels = edge_labels
        horizontal = layout.horizontal
        labels: dict[str, FrameLabel] = {}
        for frame in layout.frames:
            item = FrameItem(frame, theme)
            self.addItem(item)
            self.frames.append(item)
            label = FrameLabel(frame, theme)
            if frame.outer in labels:
                outer = labels[frame.outer]
                label.outer = [outer, *outer.outer]
            labels.setdefault(frame.path, label)
            self.addItem(label)
            self.frame_labels.append(label)
            if frame.outer is None:
                title = OutsideTitle(frame, theme, horizontal=horizontal)
                label.outside = title
                self.addItem(title)
                self.outside_titles.append((label, title))
        for route in layout.edges:
            edge = EdgeItem(route, theme, horizontal=horizontal)
            self.addItem(edge)
            self.edges.append(edge)
        framed = sorted({frame.path for frame in layout.frames}, key=len)
        for node in visible.nodes:
            texts = node_texts(node, framed, theme)
            item = NodeItem(node, texts, node_tooltip(summary, node), theme, horizontal=horizontal)
            item.setPos(*layout.positions[node.name])
            self.addItem(item)
            self.nodes[node.name] = item
        for source, shape in _sent_shapes(layout):
            self._add_shape_label(source, shape, layout, theme, edge_labels)
        # All shapes or none: zoomed out to where the longest no longer fits, none is drawn (a
        # missing label would read as a missing tensor).
        furthest = min((label.max_band for label in self.shape_labels), default=0)
        for label in self.shape_labels:
            label.max_band = furthest
        for _, title in self.outside_titles:  # they ignore the scale: not part of the graph's extent
            title.setVisible(False)
        self.graph_rect = self.itemsBoundingRect()
        self.overview = OverviewItem(list(self.nodes.values()), self.edges, theme, self.graph_rect)
        self.addItem(self.overview)
        self.setSceneRect(self.graph_rect.adjusted(-_MARGIN, -_MARGIN, _MARGIN, _MARGIN))

    def _add_shape_label(self, source: str, shape: Sequence[int], layout: Layout, theme: Theme, shown: bool) -> None:
        x, y = layout.positions[source]
        spacing = layout.spacing
        if layout.horizontal:
            anchor = QPointF(x + NODE_WIDTH / 2 + 4, y - 3)
            room = QRectF(anchor.x(), anchor.y() - (NODE_HEIGHT / 2 + spacing.across_gap / 2 - 6), spacing.along_gap - 8,
                          NODE_HEIGHT / 2 + spacing.across_gap / 2 - 6)  # fmt: skip
        else:
            anchor = QPointF(x + 8, y + NODE_HEIGHT / 2 + 3)
            room = QRectF(anchor.x(), anchor.y(), NODE_WIDTH / 2 + spacing.across_gap - 8, spacing.along_gap - 6)
        label = ShapeLabel(format_shape(shape), anchor, room, theme, horizontal=layout.horizontal)
        label.setVisible(shown)
        self.addItem(label)
        self.shape_labels.append(label)

    def zoom_changed(self, scale: float) -> None:
        """Outermost frames too small on screen for their whole title get it beside them, where
        it covers no other such title."""
        far = scale < FAR_SCALE
        if far != self.far:
            self.far = far
            self._show_far()
        band = zoom_band(scale)
        if band != self._band:
            # Labels with nothing to draw at this band are hidden: the view then skips them whole.
            self._band = band
            for shape_label in self.shape_labels:
                shape_label.setVisible(self._edge_labels and bool(shape_label.labels(band)))
            for frame_label in self.frame_labels:
                frame_label.setVisible(bool(frame_label.labels(band)))
        needed = [(label, title) for label, title in self.outside_titles if not label.whole(band)]
        obstacles: list[QRectF] = []  # what a title beside its frame must not cover, in pixels
        if needed:
            obstacles = [QRectF(*(v * scale for v in label.frame.rect)) for label, _ in self.outside_titles]
            for item in self.nodes.values():
                card = item.mapRectToScene(item.rect)
                obstacles.append(
                    QRectF(card.x() * scale, card.y() * scale, card.width() * scale, card.height() * scale)
                )
        taken: list[QRectF] = []
        for label, title in self.outside_titles:
            place = None
            if (label, title) in needed:
                for i in range(len(title.places)):
                    rect = title.screen_rect(scale, i)
                    if not any(rect.intersects(other) for other in (*obstacles, *taken)):
                        place = i
                        taken.append(rect)
                        break
            if place is not None:
                title.use(place)
            title.setVisible(place is not None)

    def set_edge_labels(self, shown: bool) -> None:
        self._edge_labels = shown
        for label in self.shape_labels:
            label.setVisible(shown and bool(label.labels(self._band)))

    def _show_far(self) -> None:
        """Far out, the overview draws the graph; a selected or marked node and the selection's
        edges keep their own items, so they still stand out."""
        if self.overview is not None:
            self.overview.setVisible(self.far)
        for item in self.nodes.values():
            item.setVisible(not self.far or item.isSelected() or item.mark is not None)
        for edge in self.edges:
            edge.setVisible(not self.far or edge.highlighted)

    def node_at(self, point: QPointF, slack: float = 0.0) -> NodeItem | None:
        """The node whose card holds ``point`` (give or take ``slack``), drawn by its item or by
        the overview; the nearest one where several do."""
        found, best = None, math.inf
        for item in self.nodes.values():
            card = item.mapRectToScene(item.rect)
            if card.adjusted(-slack, -slack, slack, slack).contains(point):
                distance = math.hypot(card.center().x() - point.x(), card.center().y() - point.y())
                if distance < best:
                    found, best = item, distance
        return found

    def refresh_tooltips(self, summary: ModelSummary) -> None:
        """New numbers for the same nodes (a recount under another convention)."""
        for item in self.nodes.values():
            item.setToolTip(node_tooltip(summary, item.node))

    def highlight_edges_of(self, name: str | None) -> None:
        for edge in self.edges:
            edge.set_highlighted(name is not None and name in (edge.route.source, edge.route.target))
        if self.far:
            self._show_far()

    def set_marks(self, marks: Mapping[str, str]) -> None:
        """``marks``: visible node → "changed" or "affected"; every other node is unmarked."""
        for name, item in self.nodes.items():
            item.set_mark(marks.get(name))
        if self.far:
            self._show_far()

    def drawn_labels(self, scale: float, items: Iterable[object] | None = None) -> list[tuple[str, float]]:
        """Every label the scene's items draw at ``scale``: (text, point size on screen)."""
        found: list[tuple[str, float]] = []
        for item in self.items() if items is None else items:
            drawn = getattr(item, "drawn_labels", None)
            if drawn is not None:
                found.extend(drawn(scale))
        return found


def _sent_shapes(layout: Layout) -> list[tuple[str, Sequence[int]]]:
    """Each node that sends a tensor on, with the tensor's shape (its edges all carry the same)."""
    sent: dict[str, Sequence[int]] = {}
    for route in layout.edges:
        sent.setdefault(route.source, route.shape)
    return list(sent.items())
