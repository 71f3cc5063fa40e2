"""GraphView: the app's centre widget, the layer graph of the analysed model.

It only displays: the ModelSummary comes from a worker, the layout from ``layout.py``.

Interaction:
- click selects (``nodeSelected``); arrow keys walk along edges (Down: first successor, Up:
  first predecessor, Left/Right: the neighbouring branch, else the neighbour in the layer);
- double-click a block, or press Enter on it, to expand it; double-click an expanded module's
  frame, or press Backspace on a node inside it, to collapse it; the context menu does both
  for every enclosing module;
- wheel zooms around the cursor, dragging pans, F or Ctrl+0 fits, Ctrl+F finds.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from PySide6.QtCore import QEvent, QPoint, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QAction,
    QContextMenuEvent,
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

from explorer.core.stats import ModelSummary
from explorer.gui.widgets.graph_view.items import FrameItem, FrameLabel, NodeItem
from explorer.gui.widgets.graph_view.layout import (
    Layout,
    VisibleGraph,
    compute_layout,
    default_collapsed,
    module_sizes,
    visible_graph,
)
from explorer.gui.widgets.graph_view.legend import Legend, LegendContent, legend_size, paint_legend
from explorer.gui.widgets.graph_view.scene import GraphScene
from explorer.gui.widgets.graph_view.style import Theme

_MIN_SCALE, _MAX_SCALE = 0.05, 4.0
_READABLE_SCALE = 0.75  # below this the labels get hard to read: open big graphs at the top instead
_EXPORT_MARGIN = 24.0


def _encloses(module: str, path: str) -> bool:
    return path.startswith(module + ".")


def _enclosing(path: str) -> list[str]:
    """The module paths around ``path``, innermost first."""
    parts = path.split(".")
    return [".".join(parts[:depth]) for depth in range(len(parts) - 1, 0, -1)]


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
        self.field.setPlaceholderText("Find layer…")
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
    """The layer graph: nodes coloured by kind, deep networks folded into expandable blocks."""

    nodeSelected = Signal(str)  # a graph node's name, or a collapsed block's module path

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._scene = GraphScene(self)
        self.setScene(self._scene)
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._summary: ModelSummary | None = None
        self._visible: VisibleGraph | None = None
        self._layout: Layout | None = None
        self._collapsed: frozenset[str] = frozenset()
        self._theme = Theme.from_palette(self.palette(), self.font())
        self._quiet = False  # set while the view changes the selection itself
        self._initial_view_pending = False
        self._matches: list[str] = []
        self._match = -1
        self._search = _SearchBar(self)
        self._legend = Legend(self)
        self._legend.hide()
        self._scene.selectionChanged.connect(self._selection_changed)

    # --- content -------------------------------------------------------------------------------

    @property
    def summary(self) -> ModelSummary | None:
        return self._summary

    @property
    def visible_graph(self) -> VisibleGraph | None:
        """What is on screen: the graph with the collapsed modules folded into blocks."""
        return self._visible

    @property
    def graph_layout(self) -> Layout | None:
        return self._layout

    @property
    def collapsed(self) -> frozenset[str]:
        return self._collapsed

    def node_item(self, name: str) -> NodeItem | None:
        return self._scene.nodes.get(name)

    def set_summary(self, summary: ModelSummary | None) -> None:
        """Show ``summary``'s graph, deep networks folded as ``layout.default_collapsed`` says.

        The same graph recounted under another convention keeps its layout, folds and view: only the
        numbers (the tooltips) change.
        """
        if summary is not None and self._summary is not None and summary.graph is self._summary.graph:
            self._summary = summary
            self._scene.refresh_tooltips(summary)
            return
        self._summary = summary
        self._collapsed = default_collapsed(summary.graph) if summary is not None else frozenset()
        self._matches, self._match = [], -1
        self._search.count.clear()
        self._rebuild()
        self._initial_view_pending = True
        if self.isVisible():
            self._initial_view()

    def set_collapsed(self, paths: Iterable[str]) -> None:
        """Fold exactly these module paths (unknown ones are ignored); the view keeps its place."""
        self._set_collapsed(frozenset(paths), anchor=None)

    def expand(self, path: str) -> None:
        """Open a collapsed block; its first layer takes the block's place on screen."""
        if path in self._collapsed:
            self._set_collapsed(self._collapsed - {path}, anchor=path)

    def collapse(self, path: str) -> None:
        """Fold a module into a block that takes its first visible node's place on screen."""
        if self._summary is not None and path in module_sizes(self._summary.graph):
            self._set_collapsed(self._collapsed | {path}, anchor=path)

    def expand_all(self) -> None:
        self._set_collapsed(frozenset(), anchor=self.selected())

    def collapse_to_default(self) -> None:
        if self._summary is not None:
            self._set_collapsed(default_collapsed(self._summary.graph), anchor=self.selected())

    def _set_collapsed(self, paths: frozenset[str], anchor: str | None) -> None:
        if self._summary is None:
            return
        known = module_sizes(self._summary.graph)
        paths = frozenset(p for p in paths if p in known)
        if paths == self._collapsed:
            return
        before = self._anchor_point(anchor)
        centre = self.mapToScene(self.viewport().rect().center())
        self._collapsed = paths
        self._rebuild()
        after = self._anchor_point(anchor)
        if before is not None and after is not None:
            # Keep what the user acted on where it was: no jump when a block opens or closes.
            self.centerOn(centre + (after - before))

    def _anchor_point(self, anchor: str | None) -> QPointF | None:
        """Where ``anchor`` (a node, or a module path: its block or first node) is, in the scene."""
        if anchor is None or self._visible is None or self._summary is None:
            return None
        name = anchor
        if anchor not in self._visible:
            under = self._summary.graph.nodes_under(anchor) if anchor not in self._summary.graph else []
            if under:
                name = self._visible.owner[under[0].name]
            elif anchor in self._summary.graph:
                name = self._visible.owner[anchor]
        item = self._scene.nodes.get(name)
        return None if item is None else item.pos()

    def _rebuild(self) -> None:
        selected = self.selected()
        self._quiet = True
        try:
            if self._summary is None:
                self._visible = self._layout = None
                self._scene.reset()
                self._legend.set_content(None, self._theme)
                return
            self._visible = visible_graph(self._summary.graph, self._collapsed)
            self._layout = compute_layout(self._visible)
            self._scene.populate(self._summary, self._visible, self._layout, self._theme)
            self._legend.set_content(LegendContent.of(self._visible, self._layout), self._theme)
            self._place_overlays()
        finally:
            self._quiet = False
        if selected is not None:
            self._set_selection(self._shown_as(selected), emit=False)

    def _shown_as(self, name: str) -> str | None:
        """The visible node that shows ``name`` now, without changing what is collapsed."""
        if self._visible is None:
            return None
        if name in self._visible:
            return name
        return self._visible.owner.get(name)

    # --- selection -----------------------------------------------------------------------------

    def selected(self) -> str | None:
        for item in self._scene.selectedItems():
            if isinstance(item, NodeItem):
                return item.name
        return None

    def select(self, name: str) -> None:
        """Select ``name`` and centre on it, without emitting ``nodeSelected`` (the caller knows).

        A layer hidden inside collapsed blocks is revealed: those blocks expand, since whoever
        asks (the table, a chart) means that layer. A module path selects its block when it is
        collapsed, else its first layer. An unknown name clears the selection.
        """
        target = self._reveal(name)
        self._set_selection(target, emit=False)
        if target is not None:
            self.centerOn(self._scene.nodes[target])

    def _reveal(self, name: str) -> str | None:
        if self._summary is None or self._visible is None:
            return None
        if name in self._visible:
            return name
        graph = self._summary.graph
        if name in graph:
            path = graph.node(name).path
            self._set_collapsed(frozenset(p for p in self._collapsed if not _encloses(p, path)), anchor=None)
            return name if name in self._scene.nodes else None
        under = graph.nodes_under(name)
        return self._reveal(under[0].name) if under else None

    def _set_selection(self, name: str | None, *, emit: bool) -> None:
        self._quiet = True
        try:
            self._scene.clearSelection()
            if name is not None and name in self._scene.nodes:
                self._scene.nodes[name].setSelected(True)
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
        if current is None or self._visible is None:
            return
        if key == Qt.Key.Key_Down:
            candidates = self._visible.successors(current)
        elif key == Qt.Key.Key_Up:
            candidates = self._visible.predecessors(current)
        else:
            siblings = self._siblings(current)
            i = siblings.index(current) + (1 if key == Qt.Key.Key_Right else -1)
            candidates = (siblings[i],) if 0 <= i < len(siblings) else ()
        if candidates:
            self._set_selection(candidates[0], emit=True)
            self.ensureVisible(self._scene.nodes[candidates[0]], 80, 80)

    def _siblings(self, name: str) -> list[str]:
        """Left to right: the branches leaving this node's predecessor, else its whole layer."""
        assert self._visible is not None and self._layout is not None
        layers, positions = self._layout.layers, self._layout.positions
        predecessors = self._visible.predecessors(name)
        if predecessors:
            branches = [s for s in self._visible.successors(predecessors[0]) if layers[s] == layers[name]]
            if len(branches) > 1:
                return sorted(branches, key=lambda n: positions[n][0])
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
        whose own path matches too is found as the block, so "layer3.4" finds the block, not
        its ten layers.
        """
        self._matches, self._match = self._find(text), -1
        self.next_match(1)
        if not self._matches:
            self._search.count.setText("0/0" if text.strip() else "")
        return list(self._matches)

    def _find(self, text: str) -> list[str]:
        needle = text.strip().lower()
        if not needle or self._summary is None or self._visible is None:
            return []
        found: dict[str, None] = {}
        for node in self._summary.graph.nodes:
            if needle in node.name.lower() or needle in node.op.lower():
                owner = self._visible.owner[node.name]
                found[owner if owner in self._visible.collapsed and needle in owner.lower() else node.name] = None
        return list(found)

    def next_match(self, step: int = 1) -> str | None:
        """Select the next (or, with -1, previous) match of the last ``find``; cycles."""
        if not self._matches:
            return None
        self._match = (self._match + step) % len(self._matches)
        name = self._matches[self._match]
        target = self._reveal(name)
        self._set_selection(target, emit=True)
        if target is not None:
            self.centerOn(self._scene.nodes[target])
        self._search.count.setText(f"{self._match + 1}/{len(self._matches)}")
        return target

    # --- navigation ----------------------------------------------------------------------------

    def fit(self) -> None:
        """The whole graph in view (never enlarged past 150 %)."""
        if not self._scene.nodes:
            return
        self.fitInView(self._scene.itemsBoundingRect().adjusted(-20, -20, 20, 20), Qt.AspectRatioMode.KeepAspectRatio)
        if self.transform().m11() > 1.5:
            self._set_scale(1.5)

    def zoom(self) -> float:
        return self.transform().m11()

    def _set_scale(self, scale: float) -> None:
        factor = max(_MIN_SCALE, min(_MAX_SCALE, scale)) / self.transform().m11()
        self.scale(factor, factor)

    def _initial_view(self) -> None:
        """Small graphs fit; big ones open at a readable scale, at the input, centred."""
        self._initial_view_pending = False
        if not self._scene.nodes:
            return
        rect = self._scene.itemsBoundingRect().adjusted(-20, -20, 20, 20)
        view = self.viewport().rect()
        whole = min(view.width() / rect.width(), view.height() / rect.height())
        if whole >= _READABLE_SCALE:
            self.fit()
            return
        self._set_scale(max(_READABLE_SCALE, min(1.0, view.width() / rect.width())))
        top = self.mapToScene(QPoint(0, 0))
        centre = self.mapToScene(view.center())
        self.centerOn(QPointF(rect.center().x(), rect.top() + (centre.y() - top.y())))

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
        """The modules enclosing a visible node that hold more than it, innermost first."""
        if self._summary is None or self._visible is None:
            return []
        graph = self._summary.graph
        path = name if self._visible.node(name).is_block else graph.node(name).path
        sizes = module_sizes(graph)
        own = len(self._visible.node(name).members)
        return [p for p in _enclosing(path) if sizes.get(p, 0) > own]

    # --- mouse ---------------------------------------------------------------------------------

    def _item_at(self, pos: QPoint) -> QGraphicsItem | None:
        for item in self.items(pos):
            if isinstance(item, (NodeItem, FrameItem, FrameLabel)):
                return item
        return None

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        item = self._item_at(event.position().toPoint())
        if isinstance(item, NodeItem) and item.node.is_block:
            self.expand(item.name)
        elif isinstance(item, (FrameItem, FrameLabel)):
            self.collapse(item.path)
        else:
            super().mouseDoubleClickEvent(event)
            return
        event.accept()

    def context_menu(self, item: QGraphicsItem | None) -> QMenu:
        """The menu for a node, a frame or the background (separate from the event, for tests)."""
        menu = QMenu(self)
        paths: list[str] = []
        if isinstance(item, NodeItem):
            if item.node.is_block:
                self._add_action(menu, f"Expand {item.name}", lambda p=item.name: self.expand(p))
            paths = self._collapsible_around(item.name)
        elif isinstance(item, (FrameItem, FrameLabel)):
            paths = [item.path, *_enclosing(item.path)]
        for path in paths:
            self._add_action(menu, f"Collapse {path}", lambda p=path: self.collapse(p))
        if paths or (isinstance(item, NodeItem) and item.node.is_block):
            menu.addSeparator()
        self._add_action(menu, "Expand all", self.expand_all)
        self._add_action(menu, "Collapse to default", self.collapse_to_default)
        self._add_action(menu, "Fit to view\tF", self.fit)
        return menu

    def _add_action(self, menu: QMenu, text: str, slot: object) -> QAction:
        action = menu.addAction(text)
        action.triggered.connect(slot)
        return action

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        if self._summary is None:
            return
        self.context_menu(self._item_at(event.pos())).exec(event.globalPos())

    # --- export --------------------------------------------------------------------------------

    def save_image(self, path: str | os.PathLike[str]) -> None:
        """The whole graph with its legend: SVG for a ``.svg`` path, else a 2× raster (PNG, JPEG…)."""
        if self._visible is None or self._layout is None:
            raise ValueError("There is no graph to save.")
        path = Path(path)
        source = self._scene.itemsBoundingRect().adjusted(-_EXPORT_MARGIN, -_EXPORT_MARGIN, _EXPORT_MARGIN, _EXPORT_MARGIN)
        legend = LegendContent.of(self._visible, self._layout)
        key = legend_size(legend, self._theme, max(source.width(), 320.0))
        size = QSize(int(source.width()), int(source.height() + key.height() + 8))
        selected = self.selected()
        self._set_selection(None, emit=False)
        for item in self._scene.nodes.values():  # vector output wants vector text, not cached pixmaps
            item.setCacheMode(QGraphicsItem.CacheMode.NoCache)
        try:
            if path.suffix.lower() == ".svg":
                generator = QSvgGenerator()
                generator.setFileName(str(path))
                generator.setSize(size)
                generator.setViewBox(QRectF(0, 0, size.width(), size.height()))
                generator.setTitle(self._summary.title if self._summary else "graph")
                self._paint_export(QPainter(generator), source, size, legend, key)
            else:
                image = QImage(size * 2, QImage.Format.Format_ARGB32_Premultiplied)
                image.setDevicePixelRatio(2.0)
                self._paint_export(QPainter(image), source, size, legend, key)
                if not image.save(str(path)):
                    raise OSError(f"Could not write {path}")
        finally:
            for item in self._scene.nodes.values():
                item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
            self._set_selection(selected, emit=False)

    def _paint_export(self, painter: QPainter, source: QRectF, size: QSize, legend: LegendContent, key: QSize) -> None:
        painter.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        painter.fillRect(QRectF(0, 0, size.width(), size.height()), self._theme.background)
        self._scene.render(painter, QRectF(0, 0, source.width(), source.height()), source)
        if legend.kinds:
            area = QRectF(_EXPORT_MARGIN / 2, source.height(), key.width(), key.height())
            paint_legend(painter, area, legend, self._theme, backdrop=False)
        painter.end()

    # --- widget plumbing -----------------------------------------------------------------------

    def _place_overlays(self) -> None:
        area = QRectF(self.viewport().geometry())
        self._legend.place(area)
        hint = self._search.sizeHint()
        self._search.setGeometry(int(area.right() - hint.width() - 10), int(area.top() + 10), hint.width(), hint.height())

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._place_overlays()

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
