"""GraphView: the app's centre widget, the layer graph of the analysed model.

It only displays: the ModelSummary comes from a worker, the folding from ``hierarchy.py``, the
layout from ``layout.py``.

Interaction:
- click selects (``nodeSelected``); arrow keys walk along edges (Down: first successor, Up:
  first predecessor, Left/Right: the neighbouring branch, else the neighbour in the layer);
- double-click a block, or press Enter on it, to expand it; double-click an expanded group's
  frame, or press Backspace on a node inside it, to collapse it; what was double-clicked stays
  where it was on screen; the context menu does both for every enclosing group;
- wheel zooms around the cursor, dragging pans, F or Ctrl+0 fits, Ctrl+F finds (the view
  centres and zooms to the match and pulses it); the overview in the corner (shown while part of
  the graph is out of view) moves the view by click or drag.

Options (the main window's View menu remembers them): top-down or left-to-right layout, runs of
identical blocks folded into one ``× N`` node, tensor shapes on the edges.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QPoint, QPointF, QRectF, QSize, Qt, QVariantAnimation, Signal
from PySide6.QtGui import (
    QAction,
    QContextMenuEvent,
    QFont,
    QFontMetricsF,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QResizeEvent,
    QShowEvent,
    QWheelEvent,
)
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import QFrame, QGraphicsItem, QGraphicsView, QHBoxLayout, QLabel, QLineEdit, QMenu, QWidget

from explorer.gui.widgets.graph_view.hierarchy import Hierarchy, default_collapsed, hierarchy_of
from explorer.gui.widgets.graph_view.items import FrameItem, FrameLabel, NodeItem, PulseItem
from explorer.gui.widgets.graph_view.layout import (
    DIRECTIONS,
    TOP_DOWN,
    Layout,
    VisibleGraph,
    compute_layout,
    visible_graph,
)
from explorer.gui.widgets.graph_view.legend import Legend, LegendContent, legend_size, paint_legend
from explorer.gui.widgets.graph_view.minimap import Minimap
from explorer.gui.widgets.graph_view.scene import GraphScene
from explorer.gui.widgets.graph_view.style import Theme

if TYPE_CHECKING:
    from explorer.core.stats import ModelSummary

_MIN_SCALE, _MAX_SCALE = 0.002, 4.0  # fit shows even a fully expanded 1,000-node graph whole
_READABLE_SCALE = 0.75  # names and shapes readable: what a graph too big to fit opens at
_FOCUS_SCALE = 1.0  # a search hit is shown at least this close: the full card
_EXPANDED_FLOOR = 0.5  # an expanded block may zoom the view out this far to show it whole
_FIT_PAD = 20.0
_EXPORT_MARGIN = 24.0
#: The overview (minimap) shows only in a viewport at least this many pixels on each side.
MINIMAP_ROOM = 240


class _SearchField(QLineEdit):
    """Enter: next match, Shift+Enter: previous, Escape: close."""

    def __init__(self, bar: _SearchBar) -> None:
        super().__init__(bar)
        self._bar = bar

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            back = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
            self._bar.view.next_match(-1 if back else 1)
        elif key == Qt.Key.Key_Escape:
            self._bar.close_search()
        else:
            super().keyPressEvent(event)


class _SearchBar(QFrame):
    def __init__(self, view: GraphView) -> None:
        super().__init__(view)
        self.view = view
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        self.field = _SearchField(self)
        self.field.setPlaceholderText("Find layer or block…")
        self.field.setClearButtonEnabled(True)
        self.field.setMinimumWidth(220)
        self.field.textEdited.connect(view.find)
        self.count = QLabel(self)
        self.count.setMinimumWidth(48)
        box = QHBoxLayout(self)
        box.setContentsMargins(6, 4, 6, 4)
        box.addWidget(self.field)
        box.addWidget(self.count)
        self.hide()

    def close_search(self) -> None:
        self.hide()
        self.view.setFocus()


class GraphView(QGraphicsView):
    """The layer graph: nodes coloured by kind, deep networks folded into stages and blocks."""

    nodeSelected = Signal(str)  # a graph node's name, or a collapsed group's path (module path or range)
    foldingChanged = Signal()  # a block was opened or folded (the layer panel's hint follows)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._scene = GraphScene(self)
        self.setScene(self._scene)
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        # Every item sets the pen, brush and hints it paints with: no state to save around each.
        self.setOptimizationFlag(QGraphicsView.OptimizationFlag.DontSavePainterState)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._summary: ModelSummary | None = None
        self._hierarchy: Hierarchy | None = None
        self._visible: VisibleGraph | None = None
        self._layout: Layout | None = None
        self._collapsed: frozenset[str] = frozenset()
        self._direction = TOP_DOWN
        self._fold_repeats = True
        self._edge_labels = True
        self._changed: frozenset[str] = frozenset()  # graph nodes a what-if edit changed …
        self._affected: frozenset[str] = frozenset()  # … and those whose numbers changed with them
        self._theme = Theme.from_palette(self.palette(), self.font())
        self._quiet = False  # set while the view changes the selection itself
        self._initial_view_pending = False
        self._matches: list[str] = []
        self._match = -1
        self._search = _SearchBar(self)
        self._legend = Legend(self)
        self._legend.hide()
        self._minimap = Minimap(self, self._centre_on)
        self._pulse: PulseItem | None = None
        self._took_press = False
        self._pulse_animation = QVariantAnimation(self)
        self._pulse_animation.setStartValue(0.0)
        self._pulse_animation.setEndValue(1.0)
        self._pulse_animation.setDuration(700)
        self._pulse_animation.setLoopCount(3)
        self._pulse_animation.valueChanged.connect(self._pulse_step)
        self._pulse_animation.finished.connect(self._pulse_done)
        self._scene.selectionChanged.connect(self._selection_changed)

    # --- content -------------------------------------------------------------------------------

    @property
    def summary(self) -> ModelSummary | None:
        return self._summary

    @property
    def hierarchy(self) -> Hierarchy | None:
        """Every group the graph can fold: modules, stages, stem and head, runs of repeats."""
        return self._hierarchy

    @property
    def visible_graph(self) -> VisibleGraph | None:
        """What is on screen: the graph with the collapsed groups folded into blocks."""
        return self._visible

    @property
    def graph_layout(self) -> Layout | None:
        return self._layout

    @property
    def collapsed(self) -> frozenset[str]:
        return self._collapsed

    @property
    def minimap(self) -> Minimap:
        return self._minimap

    @property
    def legend(self) -> Legend:
        return self._legend

    def node_item(self, name: str) -> NodeItem | None:
        return self._scene.nodes.get(name)

    def set_summary(self, summary: ModelSummary | None) -> None:
        """Show ``summary``'s graph, folded as ``hierarchy.default_collapsed`` says.

        The same graph recounted under another convention keeps its layout, folds, marks and view:
        only the numbers (the tooltips) change.
        """
        if summary is not None and self._summary is not None and summary.graph is self._summary.graph:
            self._summary = summary
            self._scene.refresh_tooltips(summary)
            return
        self._summary = summary
        self._hierarchy = hierarchy_of(summary.graph, repeats=self._fold_repeats) if summary is not None else None
        self._collapsed = self._default_collapsed()
        self._changed = self._affected = frozenset()
        self._matches, self._match = [], -1
        self._search.count.clear()
        self._rebuild()
        self._initial_view_pending = True
        if self.isVisible():
            self._initial_view()

    def _default_collapsed(self) -> frozenset[str]:
        if self._summary is None or self._hierarchy is None:
            return frozenset()
        return default_collapsed(self._hierarchy, self._summary.graph)

    def group_path(self, name: str) -> str | None:
        """The group ``name`` means: its path, its title ("stem", "inception4a–4e"), either typed
        with plain ASCII ("inception4a-4e", "layer3.1...layer3.35"); None if there is none."""
        if self._hierarchy is None:
            return None
        typed = name.strip().replace("...", "…")
        if typed in self._hierarchy:
            return typed
        plain = typed.replace("–", "-")
        return next((p for p, g in self._hierarchy.groups.items() if g.title.replace("–", "-") == plain), None)

    # --- options -------------------------------------------------------------------------------

    @property
    def direction(self) -> str:
        return self._direction

    def set_direction(self, direction: str) -> None:
        """Lay the graph out ``layout.TOP_DOWN`` or ``layout.LEFT_RIGHT``; the selection stays in view."""
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}, not {direction!r}")
        if direction == self._direction:
            return
        self._direction = direction
        if self._summary is not None:
            self._rebuild()
            self._initial_view()
            selected = self.selected()
            if selected is not None:
                self.centerOn(self._scene.nodes[selected])

    @property
    def fold_repeats(self) -> bool:
        return self._fold_repeats

    def set_fold_repeats(self, fold: bool) -> None:
        """Draw runs of identical blocks as one ``× N`` node (folded where their blocks are)."""
        if fold == self._fold_repeats:
            return
        self._fold_repeats = fold
        if self._summary is None:
            return
        old = self._hierarchy
        self._hierarchy = hierarchy_of(self._summary.graph, repeats=fold)
        collapsed = {p for p in self._collapsed if p in self._hierarchy}
        if fold and old is not None:
            # A new run folds when all of its blocks are folded: the picture only gets shorter.
            for path in self._hierarchy.of_kind("repeat"):
                units = [p for p in self._hierarchy.groups if self._hierarchy.group(p).parent == path]
                if units and all(u in collapsed for u in units):
                    collapsed.add(path)
        self._set_collapsed(frozenset(collapsed), anchor=self.selected())

    @property
    def edge_labels(self) -> bool:
        return self._edge_labels

    def set_edge_labels(self, shown: bool) -> None:
        """Write each tensor's shape on its edges (where it is readable: zoomed in)."""
        self._edge_labels = shown
        self._scene.set_edge_labels(shown)

    # --- what-if marks -------------------------------------------------------------------------

    def mark_nodes(self, changed: set[str], affected: set[str]) -> None:
        """Highlight the graph nodes an edit ``changed`` and those ``affected`` downstream.

        Names are graph node names (a module path marks every node in it). A node folded into a
        block marks the block (changed wins). ``mark_nodes(set(), set())`` clears the marks.
        """
        self._changed, self._affected = frozenset(changed), frozenset(affected) - frozenset(changed)
        self._apply_marks()
        self._update_legend()

    def marks(self) -> dict[str, str]:
        """Visible node → "changed" or "affected"."""
        if self._summary is None or self._visible is None:
            return {}
        graph, owner = self._summary.graph, self._visible.owner
        marks: dict[str, str] = {}
        for kind, names in (("affected", self._affected), ("changed", self._changed)):
            for name in names:
                nodes = [name] if name in graph else [n.name for n in graph.nodes_under(name)]
                for node in nodes:
                    marks[owner[node]] = kind
        return marks

    def _apply_marks(self) -> None:
        self._scene.set_marks(self.marks())

    # --- folding -------------------------------------------------------------------------------

    def set_collapsed(self, paths: Iterable[str]) -> None:
        """Fold exactly these groups (unknown paths are ignored); the view keeps its place."""
        self._set_collapsed(frozenset(paths), anchor=None)

    def expand(self, path: str, *, at: QPoint | None = None) -> None:
        """Open a collapsed block (and the blocks around it, if it is inside one); it stays where
        it was on screen (under ``at``, a viewport point) and is brought into view whole."""
        if path in self._collapsed and self._hierarchy is not None:
            opened = self._collapsed - {path} - set(self._hierarchy.chain(path))
            self._set_collapsed(opened, anchor=path, at=at, show_whole=True)

    def collapse(self, path: str, *, at: QPoint | None = None) -> None:
        """Fold a group into a block that takes its place on screen (under ``at``)."""
        if self._hierarchy is not None and path in self._hierarchy:
            self._set_collapsed(self._collapsed | {path}, anchor=path, at=at)

    def expand_all(self) -> None:
        self._set_collapsed(frozenset(), anchor=self.selected())

    def collapse_to_default(self) -> None:
        if self._summary is not None:
            self._set_collapsed(self._default_collapsed(), anchor=self.selected())

    def _set_collapsed(
        self, paths: frozenset[str], *, anchor: str | None, at: QPoint | None = None, show_whole: bool = False
    ) -> None:
        if self._summary is None or self._hierarchy is None:
            return
        paths = frozenset(p for p in paths if p in self._hierarchy)
        if paths == self._collapsed:
            return
        before = self._anchor_rect(anchor)
        old_view = self.mapToScene(self.viewport().rect()).boundingRect()
        if before is not None:
            point = QPointF(at) if at is not None else self.mapFromScene(before.center()).toPointF()
            grabbed = self.mapToScene(point.toPoint()) - before.topLeft()
        self._collapsed = paths
        self._rebuild(keep=old_view)
        self.foldingChanged.emit()
        after = self._anchor_rect(anchor)
        if before is None or after is None:
            return
        # What the user acted on stays under the pointer: the same offset from its top-left
        # corner, inside what it became (a block's place in its frame, a frame's in its block).
        offset = QPointF(min(max(grabbed.x(), 0.0), after.width()), min(max(grabbed.y(), 0.0), after.height()))
        now = self.mapToScene(point.toPoint())
        self._pan_by(after.topLeft() + offset - now)
        if show_whole:
            self._show_whole(after)

    def _anchor_rect(self, anchor: str | None) -> QRectF | None:
        """Where ``anchor`` (a node, or a group: its block or its frames) is drawn, in the scene."""
        if anchor is None or self._visible is None or self._summary is None:
            return None
        item = self._scene.nodes.get(anchor)
        if item is not None:
            return item.mapRectToScene(item.rect)
        frames = [f.rect for f in self._scene.frames if f.path == anchor]
        if frames:
            rect = QRectF(frames[0])
            for other in frames[1:]:
                rect = rect.united(other)
            return rect
        graph = self._summary.graph
        members = [anchor] if anchor in graph else [n.name for n in graph.nodes_under(anchor)]
        shown = [
            self._scene.nodes[self._visible.owner[m]]
            for m in members
            if self._visible.owner.get(m) in self._scene.nodes
        ]
        if not shown:
            return None
        rect = shown[0].mapRectToScene(shown[0].rect)
        for item in shown[1:]:
            rect = rect.united(item.mapRectToScene(item.rect))
        return rect

    def _pan_by(self, delta: QPointF) -> None:
        self._allow_scroll_to(self.mapToScene(self.viewport().rect()).boundingRect().translated(delta))
        centre = self.mapToScene(self.viewport().rect().center())
        self.centerOn(centre + delta)

    def _allow_scroll_to(self, region: QRectF) -> None:
        """Let the view scroll over ``region`` even past the graph (anchoring near its edges)."""
        rect = self._scene.sceneRect()
        if not rect.contains(region):
            self._scene.setSceneRect(rect.united(region))

    def show_group(self, path: str) -> None:
        """Centre a group (its frame, or its block) or a node in view, whole: zoomed out if it is
        larger than the view (not past a readable scale)."""
        rect = self._anchor_rect(path)
        if rect is not None:
            self._pan_by(rect.center() - self.mapToScene(self.viewport().rect().center()))
            self._show_whole(rect)

    def _show_whole(self, rect: QRectF) -> None:
        """Bring ``rect`` into view with the least movement, zooming out (not past a readable
        scale) when it is larger than the view."""
        view = self._viewport_scene_rect()
        padded = rect.adjusted(-_FIT_PAD, -_FIT_PAD, _FIT_PAD, _FIT_PAD)
        if padded.width() > view.width() or padded.height() > view.height():
            area = self.viewport().rect()
            scale = min(area.width() / padded.width(), area.height() / padded.height())
            if scale < self.zoom():
                anchor = self.transformationAnchor()
                self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
                centre = self.mapToScene(self.viewport().rect().center())
                self._set_scale(max(scale, min(_EXPANDED_FLOOR, self.zoom())))
                self.centerOn(centre)
                self.setTransformationAnchor(anchor)
                view = self._viewport_scene_rect()
        dx = dy = 0.0
        if padded.width() <= view.width():
            dx = min(0.0, padded.left() - view.left()) or max(0.0, padded.right() - view.right())
        else:
            dx = padded.left() - view.left()
        if padded.height() <= view.height():
            dy = min(0.0, padded.top() - view.top()) or max(0.0, padded.bottom() - view.bottom())
        else:
            dy = padded.top() - view.top()
        if dx or dy:
            self._pan_by(QPointF(dx, dy))

    def _viewport_scene_rect(self) -> QRectF:
        return self.mapToScene(self.viewport().rect()).boundingRect()

    def _rebuild(self, keep: QRectF | None = None) -> None:
        selected = self.selected()
        self._quiet = True
        self._stop_pulse()
        try:
            if self._summary is None or self._hierarchy is None:
                self._visible = self._layout = None
                self._scene.reset()
                self._legend.set_content(None, self._theme)
                self._minimap.set_graph(None, None, QRectF(), self._theme)
                self._place_overlays()
                return
            self._visible = visible_graph(self._summary.graph, self._hierarchy, self._collapsed)
            self._layout = compute_layout(self._visible, direction=self._direction)
            self._scene.populate(self._summary, self._visible, self._layout, self._theme, edge_labels=self._edge_labels)
            if keep is not None:
                self._allow_scroll_to(keep)
            self._apply_marks()
            self._minimap.set_graph(self._visible, self._layout, self._scene.graph_rect, self._theme)
            self._update_legend()  # places the overlays too, the overview's size included
        finally:
            self._quiet = False
        if selected is not None:
            self._set_selection(self._shown_as(selected), emit=False)
        self._scene.zoom_changed(self.zoom())
        self._update_minimap()

    def _update_legend(self) -> None:
        if self._visible is None or self._layout is None:
            return
        marks = tuple(kind for kind, names in (("changed", self._changed), ("affected", self._affected)) if names)
        self._legend.set_content(LegendContent.of(self._visible, self._layout, marks), self._theme)
        self._place_overlays()

    def _shown_as(self, name: str) -> str | None:
        """The visible node that shows ``name`` now, without changing what is collapsed."""
        if self._visible is None:
            return None
        if name in self._visible:
            return name
        if name in self._visible.owner:
            return self._visible.owner[name]
        if self._summary is not None:  # a group that is expanded now: its first node
            under = self._summary.graph.nodes_under(name)
            if under:
                return self._visible.owner.get(under[0].name)
        return None

    # --- selection -----------------------------------------------------------------------------

    def selected(self) -> str | None:
        for item in self._scene.selectedItems():
            if isinstance(item, NodeItem):
                return item.name
        return None

    def select(self, name: str) -> None:
        """Select ``name`` and centre on it, without emitting ``nodeSelected`` (the caller knows).

        A layer hidden inside collapsed blocks is revealed: those blocks expand, since whoever
        asks (the table, a chart) means that layer. A group selects its block when it is
        collapsed, else its first layer. An unknown name clears the selection.
        """
        target = self._reveal(name)
        self._set_selection(target, emit=False)
        if target is not None:
            self.centerOn(self._scene.nodes[target])

    def _reveal(self, name: str) -> str | None:
        if self._summary is None or self._visible is None or self._hierarchy is None:
            return None
        if name in self._visible:
            return name
        graph, hierarchy = self._summary.graph, self._hierarchy
        if name in graph or name in hierarchy:
            around = set(hierarchy.chain(name))
            opened = self._collapsed - around
            if opened != self._collapsed:
                self._set_collapsed(opened, anchor=None)
            if name in self._scene.nodes:
                return name
        under = graph.nodes_under(name) if name not in graph else []
        return self._reveal(under[0].name) if under else None

    def _set_selection(self, name: str | None, *, emit: bool) -> None:
        self._quiet = True
        try:
            self._scene.clearSelection()
            if name is not None and name in self._scene.nodes:
                item = self._scene.nodes[name]
                item.setVisible(True)  # far out the overview draws the nodes, but a hidden item cannot be selected
                item.setSelected(True)
        finally:
            self._quiet = False
        selected = self.selected()
        self._scene.highlight_edges_of(selected)
        if emit and selected is not None:
            self.nodeSelected.emit(selected)

    def _selection_changed(self) -> None:
        """The user clicked: the view's own changes go through ``_set_selection``."""
        if self._quiet:
            return
        name = self.selected()
        self._scene.highlight_edges_of(name)
        if name is not None:
            self.nodeSelected.emit(name)

    def _walk(self, key: int) -> None:
        current = self.selected()
        if current is None or self._visible is None or self._layout is None:
            return
        along = (Qt.Key.Key_Right, Qt.Key.Key_Left) if self._layout.horizontal else (Qt.Key.Key_Down, Qt.Key.Key_Up)
        if key == along[0]:
            candidates = self._visible.successors(current)
        elif key == along[1]:
            candidates = self._visible.predecessors(current)
        else:
            siblings = self._siblings(current)
            forward = key in (Qt.Key.Key_Down, Qt.Key.Key_Right)
            i = siblings.index(current) + (1 if forward else -1)
            candidates = (siblings[i],) if 0 <= i < len(siblings) else ()
        if candidates:
            self._set_selection(candidates[0], emit=True)
            self.ensureVisible(self._scene.nodes[candidates[0]], 80, 80)

    def _siblings(self, name: str) -> list[str]:
        """Across the flow: the branches leaving this node's predecessor, else its whole layer."""
        assert self._visible is not None and self._layout is not None
        layers, positions = self._layout.layers, self._layout.positions
        axis = 1 if self._layout.horizontal else 0
        predecessors = self._visible.predecessors(name)
        if predecessors:
            branches = [s for s in self._visible.successors(predecessors[0]) if layers[s] == layers[name]]
            if len(branches) > 1:
                return sorted(branches, key=lambda n: positions[n][axis])
        return self._layout.layer_members(layers[name])

    # --- search --------------------------------------------------------------------------------

    def start_search(self) -> None:
        """Show the inline search field (Ctrl+F)."""
        self._place_overlays()
        self._search.show()
        self._search.raise_()
        self._search.field.setFocus()
        self._search.field.selectAll()

    def find(self, text: str) -> list[str]:
        """Layers whose name or type contains ``text`` (any case), in graph order.

        Selects the first (emitting ``nodeSelected``, as a user's search does); ``next_match``
        and Enter in the search field cycle through the rest. A match inside a collapsed block
        whose own path or title matches too is found as the block, so "layer3.4" finds the
        block, not its ten layers, and "stem" finds the stem.
        """
        self._matches, self._match = self._find(text), -1
        self.next_match(1)
        if not self._matches:
            self._search.count.setText("0/0" if text.strip() else "")
        return list(self._matches)

    def _find(self, text: str) -> list[str]:
        needle = text.strip().lower()
        if not needle or self._summary is None or self._visible is None or self._hierarchy is None:
            return []
        hierarchy = self._hierarchy
        found: dict[str, None] = {}
        for node in self._summary.graph.nodes:
            group = next(
                (g for g in hierarchy.chains[node.name] if g in self._collapsed and _matches(hierarchy, g, needle)),
                None,
            )
            if group is not None:
                found[group] = None
            elif needle in node.name.lower() or needle in node.op.lower():
                found[node.name] = None
        return list(found)

    def next_match(self, step: int = 1) -> str | None:
        """Select the next (or, with -1, previous) match of the last ``find``; cycles. The view
        centres on it, zooms in to read it, and pulses it."""
        if not self._matches:
            return None
        self._match = (self._match + step) % len(self._matches)
        name = self._matches[self._match]
        target = self._reveal(name)
        self._set_selection(target, emit=True)
        if target is not None:
            self.focus_on(target)
        self._search.count.setText(f"{self._match + 1}/{len(self._matches)}")
        return target

    def focus_on(self, name: str) -> None:
        """Centre on a visible node, zoomed in to its full card if the view is further out, and pulse it."""
        item = self._scene.nodes.get(name)
        if item is None:
            return
        if self.zoom() < _FOCUS_SCALE:
            self._set_scale(_FOCUS_SCALE)
        self.centerOn(item)
        self._start_pulse(item)

    def _start_pulse(self, item: NodeItem) -> None:
        self._stop_pulse()
        self._pulse = PulseItem(item.mapRectToScene(item.rect), self._theme)
        self._scene.addItem(self._pulse)
        self._pulse_animation.start()

    def _pulse_step(self, value: float) -> None:
        if self._pulse is not None:
            self._pulse.set_phase(float(value))

    def _pulse_done(self) -> None:
        if self._pulse is not None and self._pulse.scene() is self._scene:
            self._scene.removeItem(self._pulse)
        self._pulse = None

    def _stop_pulse(self) -> None:
        self._pulse_animation.stop()
        self._pulse_done()

    @property
    def pulsing(self) -> str | None:
        """The node a search pulse is on, while it runs."""
        if self._pulse is None:
            return None
        centre = self._pulse.boundingRect().center()
        return next((n for n, item in self._scene.nodes.items() if item.sceneBoundingRect().contains(centre)), None)

    # --- navigation ----------------------------------------------------------------------------

    def _fit_area(self) -> QRectF:
        """The part of the viewport a fit fills: all of it but the search bar, when it is open."""
        area = QRectF(self.viewport().rect())
        if self._search.isVisible():
            area.setTop(area.top() + self._search.height() + 12)
        return area

    def fit(self) -> None:
        """The whole graph in view, every node inside the viewport (never enlarged past 150 %).
        The legend has a strip of its own below the viewport, so nothing is under it."""
        if not self._scene.nodes:
            return
        items = self._scene.graph_rect.adjusted(-_FIT_PAD, -_FIT_PAD, _FIT_PAD, _FIT_PAD)
        area = self._fit_area()
        self._set_scale(self._fit_scale())
        self._allow_scroll_to(items)
        # Centre the graph in the area the fit filled (below an open search bar).
        shift = QPointF(self.viewport().rect().center()) - area.center()
        self.centerOn(items.center() + shift / self.zoom())
        self._update_minimap()

    def _fit_scale(self) -> float:
        """The scale at which the whole graph fills the fit area (at most 150 %)."""
        items = self._scene.graph_rect.adjusted(-_FIT_PAD, -_FIT_PAD, _FIT_PAD, _FIT_PAD)
        area = self._fit_area()
        return min(area.width() / max(items.width(), 1.0), area.height() / max(items.height(), 1.0), 1.5)

    def zoom(self) -> float:
        return self.transform().m11()

    def _set_scale(self, scale: float) -> None:
        factor = max(_MIN_SCALE, min(_MAX_SCALE, scale)) / self.transform().m11()
        self.scale(factor, factor)
        self._scene.zoom_changed(self.zoom())
        self._update_minimap()

    def _centre_on(self, point: QPointF) -> None:
        self.centerOn(point)
        self._update_minimap()

    def _initial_view(self) -> None:
        """Graphs that fit readably fit; bigger ones open at a readable scale, at the input."""
        self._initial_view_pending = False
        if not self._scene.nodes:
            return
        items = self._scene.graph_rect.adjusted(-_FIT_PAD, -_FIT_PAD, _FIT_PAD, _FIT_PAD)
        area = self._fit_area()
        whole = min(area.width() / items.width(), area.height() / items.height())
        if whole >= _READABLE_SCALE:
            self.fit()
            return
        horizontal = self._layout is not None and self._layout.horizontal
        across = area.height() / items.height() if horizontal else area.width() / items.width()
        self._set_scale(max(_READABLE_SCALE, min(1.0, across)))
        view = self._viewport_scene_rect()
        # At the input; across, centred if the graph fits, else from its first column (or row),
        # where the main one is (side branches and shortcut lanes lie beyond it).
        if horizontal:
            across = items.center().y() if items.height() <= view.height() else items.top() + view.height() / 2
            self.centerOn(QPointF(items.left() + view.width() / 2, across))
        else:
            across = items.center().x() if items.width() <= view.width() else items.left() + view.width() / 2
            self.centerOn(QPointF(across, items.top() + view.height() / 2))
        self._update_minimap()

    def _update_minimap(self) -> None:
        """The overview shows while part of the graph is out of view, with the view's region."""
        if self._layout is None or not self._scene.nodes:
            self._minimap.hide()
            return
        region = self._viewport_scene_rect()
        self._minimap.set_region(region)
        slack = 3 / self.zoom()  # scroll positions are whole pixels: a few pixels short is "all of it"
        whole = self._scene.graph_rect.adjusted(slack, slack, -slack, -slack)
        # In a small view (What if's graph column at 1024×700) the overview would hide the nodes it
        # summarises: it shows only in a viewport at least MINIMAP_ROOM px on each side.
        room = self.viewport().size()
        roomy = min(room.width(), room.height()) >= MINIMAP_ROOM
        self._minimap.setVisible(roomy and not region.contains(whole))
        if self._minimap.isVisible():
            self._minimap.raise_()

    def scrollContentsBy(self, dx: int, dy: int) -> None:
        super().scrollContentsBy(dx, dy)
        self._update_minimap()

    def wheelEvent(self, event: QWheelEvent) -> None:
        delta = event.angleDelta().y()
        if not delta:
            super().wheelEvent(event)
            return
        self._set_scale(self.transform().m11() * 1.0015**delta)  # anchored under the mouse
        event.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key, modifiers = event.key(), event.modifiers()
        ctrl = bool(modifiers & Qt.KeyboardModifier.ControlModifier)
        selected = self.selected()
        if ctrl and key == Qt.Key.Key_F:
            self.start_search()
        elif (key == Qt.Key.Key_F and not modifiers) or (ctrl and key == Qt.Key.Key_0):
            self.fit()
        elif selected is not None and key in (Qt.Key.Key_Up, Qt.Key.Key_Down, Qt.Key.Key_Left, Qt.Key.Key_Right):
            self._walk(key)
        elif selected is not None and key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.expand(selected)
        elif selected is not None and key == Qt.Key.Key_Backspace:
            self._collapse_around(selected)
        elif key == Qt.Key.Key_Escape and self._search.isVisible():
            self._search.close_search()
        else:
            super().keyPressEvent(event)

    def _collapse_around(self, name: str) -> None:
        paths = self._collapsible_around(name)
        if paths:
            self.collapse(paths[0])
            self._set_selection(paths[0], emit=True)

    def _collapsible_around(self, name: str) -> list[str]:
        """The groups enclosing a visible node that hold more than it, innermost first."""
        if self._hierarchy is None or self._visible is None:
            return []
        own = len(self._visible.node(name).members)
        around = self._hierarchy.chain(name)
        return [p for p in reversed(around) if len(self._hierarchy.group(p).members) > own]

    # --- mouse ---------------------------------------------------------------------------------

    def _item_at(self, pos: QPoint) -> QGraphicsItem | None:
        if self._scene.far:  # the overview draws the nodes: find one by its place, give or take 3 px
            node = self._scene.node_at(self.mapToScene(pos), 3 / self.zoom())
            if node is not None:
                return node
        for item in self.items(pos):
            if isinstance(item, (NodeItem, FrameItem, FrameLabel)):
                return item
        return None

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if self._scene.far and event.button() == Qt.MouseButton.LeftButton:
            node = self._scene.node_at(self.mapToScene(event.position().toPoint()), 3 / self.zoom())
            if node is not None and not node.isVisible():
                self._set_selection(node.name, emit=True)
                self._took_press = True
                event.accept()
                return
        super().mousePressEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._took_press:  # the press selected a node the overview drew: its release is ours too
            self._took_press = False
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        pos = event.position().toPoint()
        item = self._item_at(pos)
        if isinstance(item, NodeItem) and item.node.is_block:
            self.expand(item.name, at=pos)
        elif isinstance(item, (FrameItem, FrameLabel)):
            self.collapse(item.path, at=pos)
        else:
            super().mouseDoubleClickEvent(event)
            return
        event.accept()

    def context_menu(self, item: QGraphicsItem | None) -> QMenu:
        """The menu for a node, a frame or the background (separate from the event, for tests)."""
        menu = QMenu(self)
        paths: list[str] = []
        titled = self._titled
        if isinstance(item, NodeItem):
            if item.node.is_block:
                self._add_action(menu, f"Expand {titled(item.name)}", lambda p=item.name: self.expand(p))
            paths = self._collapsible_around(item.name)
        elif isinstance(item, (FrameItem, FrameLabel)) and self._hierarchy is not None:
            paths = [item.path, *reversed(self._hierarchy.chain(item.path))]
        for path in paths:
            self._add_action(menu, f"Collapse {titled(path)}", lambda p=path: self.collapse(p))
        if paths or (isinstance(item, NodeItem) and item.node.is_block):
            menu.addSeparator()
        self._add_action(menu, "Expand all", self.expand_all)
        self._add_action(menu, "Collapse to default", self.collapse_to_default)
        self._add_action(menu, "Fit to view\tF", self.fit)
        return menu

    def _titled(self, path: str) -> str:
        """A group as the menu names it: its path, or its title and range (``stem (conv1…maxpool)``)."""
        if self._hierarchy is None or path not in self._hierarchy:
            return path
        group = self._hierarchy.group(path)
        return path if group.title == path else f"{group.title} ({path})"

    def _add_action(self, menu: QMenu, text: str, slot: object) -> QAction:
        action = menu.addAction(text)
        action.triggered.connect(slot)
        return action

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        if self._summary is None:
            return
        self.context_menu(self._item_at(event.pos())).exec(event.globalPos())

    # --- for tests: what is drawn --------------------------------------------------------------

    def drawn_labels(self) -> list[tuple[str, float]]:
        """Every label drawn in the viewport now: (text, point size on screen)."""
        region = self._viewport_scene_rect()
        return self._scene.drawn_labels(self.zoom(), self._scene.items(region))

    # --- export --------------------------------------------------------------------------------

    def export_title(self) -> str:
        """What a saved image says on top: the model, its input and mode."""
        if self._summary is None:
            return ""
        shape = "×".join(str(d) for d in self._summary.input_shape)
        return f"{self._summary.title} — input {shape}, {self._summary.mode} mode"

    def save_image(self, path: str | os.PathLike[str]) -> None:
        """The whole graph with the model's name on top and the whole legend below: SVG for a
        ``.svg`` path, else a 2× raster (PNG, JPEG…)."""
        if self._visible is None or self._layout is None:
            raise ValueError("There is no graph to save.")
        path = Path(path)
        source = self._scene.graph_rect.adjusted(-_EXPORT_MARGIN, -_EXPORT_MARGIN, _EXPORT_MARGIN, _EXPORT_MARGIN)
        legend = self._legend.content or LegendContent.of(self._visible, self._layout)
        title_font = QFont(self._theme.title_font)
        title_font.setPointSizeF(title_font.pointSizeF() * 1.4)
        title = self.export_title()
        title_width = QFontMetricsF(title_font).horizontalAdvance(title) + 2 * _EXPORT_MARGIN
        title_height = QFontMetricsF(title_font).height() + _EXPORT_MARGIN
        # The legend wraps at the graph's width, but never at less than its widest entry.
        width = max(source.width(), title_width, 320.0)
        key = legend_size(legend, self._theme, width - _EXPORT_MARGIN)
        width = max(width, key.width() + _EXPORT_MARGIN)
        size = QSize(int(width + 1), int(title_height + source.height() + key.height() + _EXPORT_MARGIN / 2 + 1))
        selected = self.selected()
        self._set_selection(None, emit=False)
        self._stop_pulse()
        try:
            if path.suffix.lower() == ".svg":
                generator = QSvgGenerator()
                generator.setFileName(str(path))
                generator.setSize(size)
                generator.setViewBox(QRectF(0, 0, size.width(), size.height()))
                generator.setTitle(title or "graph")
                generator.setDescription(f"Layer graph of {title}, made with cnn-explorer")
                self._paint_export(QPainter(generator), source, size, legend, key, title, title_font, title_height)
            else:
                image = QImage(size * 2, QImage.Format.Format_ARGB32_Premultiplied)
                image.setDevicePixelRatio(2.0)
                self._paint_export(QPainter(image), source, size, legend, key, title, title_font, title_height)
                if not image.save(str(path)):
                    raise OSError(f"Could not write {path}")
        finally:
            self._set_selection(selected, emit=False)

    def _paint_export(
        self,
        painter: QPainter,
        source: QRectF,
        size: QSize,
        legend: LegendContent,
        key: QSize,
        title: str,
        title_font: QFont,
        title_height: float,
    ) -> None:
        painter.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        painter.fillRect(QRectF(0, 0, size.width(), size.height()), self._theme.background)
        painter.setPen(self._theme.text)
        painter.setFont(title_font)
        painter.drawText(
            QRectF(
                _EXPORT_MARGIN, _EXPORT_MARGIN / 2, size.width() - 2 * _EXPORT_MARGIN, title_height - _EXPORT_MARGIN / 2
            ),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            title,
        )
        left = (size.width() - source.width()) / 2
        self._scene.render(painter, QRectF(left, title_height, source.width(), source.height()), source)
        if legend.labels:
            area = QRectF(
                _EXPORT_MARGIN / 2, title_height + source.height(), size.width() - _EXPORT_MARGIN, key.height()
            )
            paint_legend(painter, area, legend, self._theme)
        painter.end()

    # --- widget plumbing -----------------------------------------------------------------------

    def _place_overlays(self) -> None:
        """The legend in its strip below the viewport, the search bar and the overview over it."""
        full = self.contentsRect()
        content = self._legend.content
        height = self._legend.needed_height(full.width()) if content else 0
        # In a short or narrow view (What if's graph at 1024×700) the legend would take the graph's
        # place: it is left out while it needs more than a third of the height.
        fits = 0 < height <= full.height() // 3
        self._legend.setVisible(bool(content and content.labels) and fits)
        height = height if fits else 0
        if self.viewportMargins().bottom() != height:
            self.setViewportMargins(0, 0, 0, height)
        area = QRectF(self.viewport().geometry())
        if height:
            self._legend.setGeometry(int(area.left()), int(area.bottom() + 1), int(area.width()), height)
        hint = self._search.sizeHint()
        self._search.setGeometry(
            int(area.right() - hint.width() - 10), int(area.top() + 10), hint.width(), hint.height()
        )
        size = self._minimap.preferred_size(area.size().toSize())
        self._minimap.setGeometry(
            int(area.right() - size.width() - 10), int(area.bottom() - size.height() - 10), size.width(), size.height()
        )

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._place_overlays()
        self._update_minimap()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._place_overlays()
        if self._initial_view_pending:
            self._initial_view()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.FontChange, QEvent.Type.StyleChange):
            self._theme = Theme.from_palette(self.palette(), self.font())
            if self._summary is not None:
                self._rebuild()


def _matches(hierarchy: Hierarchy, path: str, needle: str) -> bool:
    group = hierarchy.group(path)
    return needle in path.lower() or needle in group.title.lower()
