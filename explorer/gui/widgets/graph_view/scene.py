"""The scene: turns a VisibleGraph and its Layout into items, and nothing else."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QGraphicsScene

from explorer.core.stats import ModelSummary
from explorer.gui.widgets.graph_view.items import EdgeItem, FrameItem, FrameLabel, NodeItem
from explorer.gui.widgets.graph_view.layout import Layout, VisibleGraph, VisibleNode
from explorer.gui.widgets.graph_view.style import Theme

_MARGIN = 60.0


def format_shape(shape: Sequence[int]) -> str:
    return "×".join(str(d) for d in shape) if shape else "scalar"


def _count(n: int) -> str:
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= limit:
            return f"{n / limit:.3g}{suffix}"
    return str(n)


def node_texts(node: VisibleNode, framed: Sequence[str], theme: Theme) -> tuple[str, str]:
    """A node's two lines: its name (and a block's class) and what it is and outputs.

    A name too long for the card loses the part its frame already says ("branch2.0.conv"
    inside "inception3a"); a block whose class does not fit beside its path moves it down.
    """
    shape = format_shape(node.output_shape)
    fits = theme.title_metrics.horizontalAdvance(node.label) <= NodeItem.text_width(node)
    if node.is_block:
        if fits:
            return node.label, f"{len(node.members)} layers · {shape}"
        # The shape matters more than the end of a long class name.
        room = NodeItem.text_width(node) - theme.detail_metrics.horizontalAdvance(f" · {shape}")
        op = theme.detail_metrics.elidedText(node.op, Qt.TextElideMode.ElideRight, room)
        return node.name, f"{op} · {shape}"
    return (node.name if fits else _short_name(node.name, framed)), f"{node.op} · {shape}"


def _short_name(name: str, framed: Sequence[str]) -> str:
    """The name relative to the outermost frame around it that leaves a readable rest."""
    for path in sorted(framed, key=len):
        if name.startswith(path + ".") and not name[len(path) + 1].isdigit():
            return name[len(path) + 1 :]
    return name


def node_tooltip(summary: ModelSummary, node: VisibleNode) -> str:
    if node.is_block:
        rows = [summary.layer(member) for member in node.members]
        params, macs = sum(r.params for r in rows), sum(r.macs for r in rows)
        return (
            f"{node.label}\n{len(node.members)} layers, output {format_shape(node.output_shape)}\n"
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

    def reset(self) -> None:
        self.nodes, self.edges, self.frames = {}, [], []  # before clear(): it may signal a selection change
        self.clear()

    def populate(self, summary: ModelSummary, visible: VisibleGraph, layout: Layout, theme: Theme) -> None:
        self.reset()
        for frame in layout.frames:
            item = FrameItem(frame, theme)
            self.addItem(item)
            self.addItem(FrameLabel(frame, theme))
            self.frames.append(item)
        for route in layout.edges:
            edge = EdgeItem(route, theme)
            self.addItem(edge)
            self.edges.append(edge)
        framed = [frame.path for frame in layout.frames]
        for node in visible.nodes:
            title, detail = node_texts(node, framed, theme)
            item = NodeItem(node, title, detail, node_tooltip(summary, node), theme)
            item.setPos(*layout.positions[node.name])
            self.addItem(item)
            self.nodes[node.name] = item
        self.setSceneRect(self.itemsBoundingRect().adjusted(-_MARGIN, -_MARGIN, _MARGIN, _MARGIN))

    def refresh_tooltips(self, summary: ModelSummary) -> None:
        """New numbers for the same nodes (a recount under another convention)."""
        for item in self.nodes.values():
            item.setToolTip(node_tooltip(summary, item.node))

    def highlight_edges_of(self, name: str | None) -> None:
        for edge in self.edges:
            edge.set_highlighted(name is not None and name in (edge.route.source, edge.route.target))
