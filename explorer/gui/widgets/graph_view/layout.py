"""Qt-free layout of a LayerGraph: folding groups into blocks, and a layered drawing.

Three steps, each a pure function the scene only draws the result of:

1. ``visible_graph(graph, hierarchy, collapsed)`` folds every node under a collapsed group
   (``hierarchy.py``: modules, stages, stem and head, runs of repeated blocks) into one block
   node and re-maps the edges;
2. ``hierarchy.default_collapsed`` picks what a network opens with;
3. ``compute_layout(visible, direction=…)`` places the nodes with igraph's Sugiyama layout
   (layers, crossing reduction, long edges bent through dummy vertices), top to bottom or left
   to right, keeps the network's main column straight, and routes residual shortcuts beside
   the block they bypass.

Positions are worked out in two axes, *along* the flow (igraph's layers) and *across* it (the
order within a layer), and turned into x and y at the end: top to bottom, across is x; left to
right, across is y. Frames always carry their title on top.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from explorer.gui.widgets.graph_view.hierarchy import MODULE, RESIDUAL_OPS, Group, Hierarchy

if TYPE_CHECKING:
    from explorer.core.graph import LayerGraph
    from explorer.core.layers import Shape

BLOCK = "block"  # the kind of a collapsed group


def load_igraph() -> Any:
    """igraph, imported on first use (the analysis job calls this on its worker, before the first
    layout), not at import (the window must appear first), and without its matplotlib plotting
    (``explorer.gui.imports``)."""
    from explorer.gui.imports import import_without

    return import_without("igraph", "matplotlib")


TOP_DOWN, LEFT_RIGHT = "top-down", "left-right"
DIRECTIONS = (TOP_DOWN, LEFT_RIGHT)

NODE_WIDTH = 236.0  # room for "LocalResponseNorm · 64×224×224" and "7 × InvertedResidual · 96×14×14" at 9 pt
NODE_HEIGHT = 52.0  # two lines at 9 pt on screen down to a scale of 0.58
SHORTCUT_MARGIN = 26.0  # from the bypassed block's edge to its shortcut's lane
FRAME_PAD = 8.0  # around an innermost frame; each frame nested inside adds FRAME_STEP
FRAME_STEP = 12.0
FRAME_HEADER = 17.0  # room above a frame's nodes for its title, and each nested frame's title
_FRAME_SPACING = 14.0  # between a frame and whatever sits before or after it
_LABEL_ROOM = 22.0  # top to bottom, the shape label under a node, above a frame that starts below it


@dataclass(frozen=True)
class Spacing:
    """Sizes along the flow and across it, for one direction."""

    across: float  # a node's extent across the flow
    along: float  # … and along it
    across_gap: float  # between neighbours in one layer
    along_gap: float  # between layers (room for the shape labels on the edges), before frames

    @classmethod
    def of(cls, direction: str) -> Spacing:
        if direction == LEFT_RIGHT:
            # Across is vertical: the gap holds a frame's bottom padding and the title of the
            # frame below. Along, the gap holds an edge's shape label ("1024×14×14" at 9 pt).
            return cls(across=NODE_HEIGHT, along=NODE_WIDTH, across_gap=40.0, along_gap=96.0)
        return cls(across=NODE_WIDTH, along=NODE_HEIGHT, across_gap=44.0, along_gap=40.0)


Point = tuple[float, float]


# --- the visible graph ---------------------------------------------------------------------


@dataclass(frozen=True)
class VisibleNode:
    name: str  # a graph node's name, or the path of a collapsed group (a module path or a range)
    kind: str  # a layers.KINDS entry, or BLOCK
    op: str  # the node's op, or the group's class ("" if it has none)
    output_shape: Shape
    members: tuple[str, ...]  # the graph nodes it stands for, in topological order
    title: str = ""  # a block's title ("layer3", "stem", "inception4a–4e"); a layer's is its name
    group: str = ""  # a block's group kind (hierarchy.MODULE, STAGE, …); "" for a layer
    summary: str = ""  # a block's contents: "36 × Bottleneck", "× 35 Bottleneck", "10 layers"
    count: int = 0  # a stage's or repeat's blocks
    residual: bool = False  # a block holding a residual add: it shows its shortcut

    @property
    def is_block(self) -> bool:
        return self.kind == BLOCK

    @property
    def label(self) -> str:
        """One line: ``layer1.0 · Bottleneck``, ``layer3 · 36 × Bottleneck``, ``conv1``."""
        if not self.is_block:
            return self.name
        what = self.summary if self.count else self.op
        return f"{self.title} · {what}" if what else self.title


@dataclass(frozen=True)
class VisibleEdge:
    source: str
    target: str
    shape: Shape  # the tensor on the edge: the producing graph node's output


@dataclass(frozen=True)
class FrameGroup:
    """An expanded group that the scene frames: its visible nodes and how many frames it holds."""

    path: str
    title: str
    op: str
    members: tuple[str, ...]
    height: int  # 0 for a frame with no frame inside it
    kind: str = MODULE
    summary: str = ""
    outers: tuple[str, ...] = ()  # the groups around it, outermost first


@dataclass(frozen=True)
class VisibleGraph:
    nodes: tuple[VisibleNode, ...]  # ordered by each one's first member: topological but for folded cycles
    edges: tuple[VisibleEdge, ...]
    collapsed: frozenset[str]  # the collapsed groups that hide nodes (outermost only)
    groups: tuple[FrameGroup, ...]  # parents before children
    owner: Mapping[str, str]  # graph node name → the visible node that shows it
    _index: Mapping[str, int] = field(init=False, repr=False, compare=False)
    _successors: Mapping[str, tuple[str, ...]] = field(init=False, repr=False, compare=False)
    _predecessors: Mapping[str, tuple[str, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        successors: dict[str, list[str]] = defaultdict(list)
        predecessors: dict[str, list[str]] = defaultdict(list)
        for edge in self.edges:
            successors[edge.source].append(edge.target)
            predecessors[edge.target].append(edge.source)
        object.__setattr__(self, "_index", MappingProxyType({n.name: i for i, n in enumerate(self.nodes)}))
        object.__setattr__(self, "_successors", MappingProxyType({k: tuple(v) for k, v in successors.items()}))
        object.__setattr__(self, "_predecessors", MappingProxyType({k: tuple(v) for k, v in predecessors.items()}))

    def __len__(self) -> int:
        return len(self.nodes)

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def node(self, name: str) -> VisibleNode:
        return self.nodes[self._index[name]]

    def index(self, name: str) -> int:
        return self._index[name]

    @property
    def blocks(self) -> list[VisibleNode]:
        return [node for node in self.nodes if node.is_block]

    def successors(self, name: str) -> tuple[str, ...]:
        return self._successors.get(name, ())

    def predecessors(self, name: str) -> tuple[str, ...]:
        return self._predecessors.get(name, ())


def _block(group: Group) -> VisibleNode:
    return VisibleNode(
        name=group.path,
        kind=BLOCK,
        op=group.op,
        output_shape=group.output_shape,
        members=group.members,
        title=group.title,
        group=group.kind,
        summary=group.summary,
        count=group.count,
        residual=group.residual,
    )


def visible_graph(graph: LayerGraph, hierarchy: Hierarchy, collapsed: Iterable[str] = ()) -> VisibleGraph:
    """``graph`` with every node under a collapsed group folded into one block node.

    A node folds into its outermost collapsed group; edges are re-mapped, de-duplicated and
    self-loops (edges inside a block) dropped. Folding a module that is called in two separate
    pieces (a tower around an exchange) can make a cycle; the layout copes with that.
    """
    collapsed = frozenset(p for p in collapsed if p in hierarchy)
    owner: dict[str, str] = {}
    blocks: dict[str, None] = {}
    order: list[str] = []
    for node in graph.nodes:
        block = next((g for g in hierarchy.chains[node.name] if g in collapsed), None)
        owner[node.name] = block if block is not None else node.name
        if block is None:
            order.append(node.name)
        elif block not in blocks:
            blocks[block] = None
            order.append(block)

    edges: dict[tuple[str, str], VisibleEdge] = {}
    for source, target in graph.edges:
        a, b = owner[source], owner[target]
        if a != b:
            edges.setdefault((a, b), VisibleEdge(a, b, graph.node(source).output_shape))

    nodes = []
    for name in order:
        if name in blocks:
            nodes.append(_block(hierarchy.group(name)))
        else:
            node = graph.node(name)
            nodes.append(VisibleNode(name, node.kind, node.op, node.output_shape, (name,), title=name))
    return VisibleGraph(
        nodes=tuple(nodes),
        edges=tuple(edges.values()),
        collapsed=frozenset(blocks),
        groups=_frame_groups(hierarchy, owner, collapsed),
        owner=MappingProxyType(owner),
    )


def _frame_groups(hierarchy: Hierarchy, owner: Mapping[str, str], collapsed: frozenset[str]) -> tuple[FrameGroup, ...]:
    """The expanded groups showing two visible nodes or more, with their nesting heights.

    A plain list of modules frames a network's parts (ResNet's layerN, VGG's features) but not
    the lists inside a real block (an inception branch): that block's frame says enough.
    """
    shown: list[tuple[Group, tuple[str, ...]]] = []
    for path, group in hierarchy.groups.items():
        chain = hierarchy.chain(path)
        if path in collapsed or any(p in collapsed for p in chain):
            continue
        if group.container and group.kind == MODULE:
            around = [hierarchy.group(p) for p in chain]
            if any(not g.container and g.kind == MODULE for g in around):
                continue
        members = tuple(dict.fromkeys(owner[m] for m in group.members))
        if len(members) >= 2:
            shown.append((group, members))
    framed = {group.path for group, _ in shown}
    height: dict[str, int] = dict.fromkeys(framed, 0)
    for group, _ in reversed(shown):  # inner groups come after outer ones
        for outer in hierarchy.chain(group.path):
            if outer in height:
                height[outer] = max(height[outer], height[group.path] + 1)
    return tuple(
        FrameGroup(
            g.path,
            g.title,
            g.op,
            members,
            height[g.path],
            g.kind,
            g.summary if g.count else "",
            hierarchy.chain(g.path),
        )
        for g, members in shown
    )


# --- the drawing ---------------------------------------------------------------------------


@dataclass(frozen=True)
class EdgeRoute:
    """A polyline from the source node's border to the target node's border.

    Ordinary edges run out of the source's far side into the target's near side (bottom to top,
    or right to left) through Sugiyama's bend points (igraph's dummy vertices, so long edges
    pass beside the nodes); a shortcut leaves its source sideways (or straight on when the
    source sits beside the block), runs in a lane beside the block it bypasses, and enters its
    target's side.
    """

    source: str
    target: str
    points: tuple[Point, ...]
    shape: Shape
    shortcut: bool = False


@dataclass(frozen=True)
class Frame:
    """The box drawn behind an expanded group (one per contiguous run of its layers)."""

    path: str
    op: str
    rect: tuple[float, float, float, float]  # x, y, width, height
    height: int  # nesting height: outer frames are larger and drawn below
    title: str  # the path, or relative to the frame around it: "branch2.0" inside "inception3a"
    summary: str = ""  # a stage's or repeat's contents: "36 × Bottleneck"
    outer: str | None = None  # the path of the frame around it, if any

    @property
    def label(self) -> str:
        what = self.summary or self.op
        return f"{self.title} · {what}" if what else self.title


@dataclass(frozen=True)
class Layout:
    positions: Mapping[str, Point]  # node centres
    layers: Mapping[str, int]
    edges: tuple[EdgeRoute, ...]
    frames: tuple[Frame, ...]
    direction: str = TOP_DOWN
    spine: frozenset[str] = frozenset()  # the main column: nodes the layout keeps in one line

    @property
    def horizontal(self) -> bool:
        return self.direction == LEFT_RIGHT

    @property
    def spacing(self) -> Spacing:
        return Spacing.of(self.direction)

    @property
    def shortcuts(self) -> tuple[EdgeRoute, ...]:
        return tuple(edge for edge in self.edges if edge.shortcut)

    def layer_members(self, layer: int) -> list[str]:
        """The nodes of one layer, in order across the flow (left to right, or top to bottom)."""
        axis = 1 if self.horizontal else 0
        return sorted((n for n, k in self.layers.items() if k == layer), key=lambda n: self.positions[n][axis])


def _layers(visible: VisibleGraph) -> dict[str, int]:
    """Longest-path layering in the nodes' order; edges pointing back (folded cycles) are ignored."""
    layer: dict[str, int] = {}
    for node in visible.nodes:
        i = visible.index(node.name)
        layer[node.name] = max(
            (layer[p] + 1 for p in visible.predecessors(node.name) if visible.index(p) < i), default=0
        )
    return layer


def shortcut_edges(visible: VisibleGraph, layers: Mapping[str, int]) -> set[tuple[str, str]]:
    """Residual shortcuts: into a residual ``add``, every input from a shallower layer than its deepest.

    The deepest input ends the block's main branch; the others arrive from before it: the
    block input itself (identity) or the end of a short projection (``downsample.1``).
    """
    found: set[tuple[str, str]] = set()
    for node in visible.nodes:
        if node.is_block or node.op not in RESIDUAL_OPS:
            continue
        inputs = visible.predecessors(node.name)
        if len(inputs) < 2:
            continue
        deepest = max(layers[p] for p in inputs)
        found.update((p, node.name) for p in inputs if layers[p] < deepest)
    return found


def compute_layout(visible: VisibleGraph, *, direction: str = TOP_DOWN, maxiter: int = 100) -> Layout:
    """Place ``visible`` top to bottom or left to right; see ``Layout`` and ``EdgeRoute``.

    igraph lays out every edge but the shortcuts, so a residual block's main branch stays a
    straight column and its shortcut is drawn as a lane beside it instead of a column of its own.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, not {direction!r}")
    spacing = Spacing.of(direction)
    layers = _layers(visible)
    shortcuts = shortcut_edges(visible, layers)
    names = [node.name for node in visible.nodes]
    laid_out = [e for e in visible.edges if (e.source, e.target) not in shortcuts]
    g = load_igraph().Graph(
        n=len(names), edges=[(visible.index(e.source), visible.index(e.target)) for e in laid_out], directed=True
    )
    result = g.layout_sugiyama(
        layers=[layers[n] for n in names], hgap=spacing.across + spacing.across_gap, vgap=1, maxiter=maxiter
    )
    across = {n: float(x) for n, (x, _) in zip(names, result.coords, strict=True)}
    bends = [[(float(x), round(y)) for x, y in points] for points in result.edge_routing]
    _separate(across, layers, laid_out, bends, spacing)
    spine = _straighten(visible, across, layers, laid_out, bends)
    along = _layer_offsets(visible, layers, spacing, horizontal=direction == LEFT_RIGHT)
    flow = {n: (a, along[layers[n]]) for n, a in across.items()}  # (across, along)
    fan_in: dict[str, int] = defaultdict(int)
    for e in laid_out:
        fan_in[e.target] += 1
    routes = [
        (e, _edge_points(e, flow, bend, along, fan_in[e.target] > 1, spacing), False)
        for e, bend in zip(laid_out, bends, strict=True)
    ]
    routes += [
        (e, _shortcut_points(visible, e, flow, layers, spacing), True)
        for e in visible.edges
        if (e.source, e.target) in shortcuts
    ]
    to_xy = (lambda p: (p[1], p[0])) if direction == LEFT_RIGHT else (lambda p: p)
    positions = {n: to_xy(p) for n, p in flow.items()}
    return Layout(
        positions=MappingProxyType(positions),
        layers=MappingProxyType(layers),
        edges=tuple(EdgeRoute(e.source, e.target, tuple(map(to_xy, pts)), e.shape, sc) for e, pts, sc in routes),
        frames=_frames(visible, positions, layers, spacing, horizontal=direction == LEFT_RIGHT),
        direction=direction,
        spine=frozenset(spine),
    )


def _separate(
    xs: dict[str, float],
    layers: Mapping[str, int],
    laid_out: list[VisibleEdge],
    bends: list[list[tuple[float, int]]],
    spacing: Spacing,
) -> None:
    """Move nodes and bend points apart across the flow, in place, where igraph left them too close.

    igraph's coordinate assignment can leave two vertices of a layer closer than its ``hgap``
    (seen: two inception branches half a column apart). Pushing them apart layer by layer
    would kink the columns, so the columns igraph lined up (a chain of one-in, one-out
    elements at one position) move as one piece. Pieces are ordered by position; one pass
    pushes each past its neighbours on one side, one pass past those on the other, and the mean
    of the two keeps every pair apart (both do) while moving nobody more than needed.
    """
    keys: list[str | tuple[int, int]] = [*xs]
    x = [xs[name] for name in xs]
    layer_of = [layers[name] for name in xs]
    half = [(spacing.across + spacing.across_gap) / 2] * len(keys)
    index = {name: i for i, name in enumerate(xs)}
    chains: list[list[int]] = []
    for i, (edge, points) in enumerate(zip(laid_out, bends, strict=True)):
        chain = [index[edge.source]]
        for j, (position, layer) in enumerate(points):
            chain.append(len(keys))
            keys.append((i, j))
            x.append(position)
            layer_of.append(layer)
            half.append(8.0)  # a bend point needs only a little room
        chains.append([*chain, index[edge.target]])

    # Column pieces: union each element with the next one along when that link is the only one
    # between them and igraph put them at the same position.
    below: dict[int, list[int]] = defaultdict(list)
    above: dict[int, list[int]] = defaultdict(list)
    for chain in chains:
        for a, b in zip(chain, chain[1:], strict=False):
            below[a].append(b)
            above[b].append(a)
    piece = list(range(len(keys)))

    def root(e: int) -> int:
        while piece[e] != e:
            piece[e] = piece[piece[e]]
            e = piece[e]
        return e

    for a, targets in below.items():
        b = targets[0]
        if len(targets) == 1 and len(above[b]) == 1 and layer_of[b] == layer_of[a] + 1 and abs(x[a] - x[b]) < 0.5:
            piece[root(b)] = root(a)

    # Separation constraints between neighbouring pieces, in one global order: (position, piece).
    rows: dict[int, list[int]] = defaultdict(list)
    for e in range(len(keys)):
        rows[layer_of[e]].append(e)
    apart: dict[tuple[int, int], float] = {}
    for row in rows.values():
        row.sort(key=lambda e: (x[e], root(e)))
        for a, b in zip(row, row[1:], strict=False):
            pair = (root(a), root(b))
            apart[pair] = max(apart.get(pair, 0.0), half[a] + half[b])
    pieces = sorted({root(e) for e in range(len(keys))}, key=lambda p: (x[p], p))
    left_of: dict[int, list[tuple[int, float]]] = defaultdict(list)
    right_of: dict[int, list[tuple[int, float]]] = defaultdict(list)
    for (a, b), gap in apart.items():
        left_of[b].append((a, gap))
        right_of[a].append((b, gap))
    pushed_right: dict[int, float] = {}
    for p in pieces:
        pushed_right[p] = max([x[p], *(pushed_right[a] + gap for a, gap in left_of[p])])
    pushed_left: dict[int, float] = {}
    for p in reversed(pieces):
        pushed_left[p] = min([x[p], *(pushed_left[b] - gap for b, gap in right_of[p])])
    for e, key in enumerate(keys):
        p = root(e)
        position = (pushed_right[p] + pushed_left[p]) / 2
        if isinstance(key, str):
            xs[key] = position
        else:
            i, j = key
            bends[i][j] = (position, bends[i][j][1])


def _straighten(
    visible: VisibleGraph,
    across: dict[str, float],
    layers: Mapping[str, int],
    laid_out: list[VisibleEdge],
    bends: list[list[tuple[float, int]]],
) -> set[str]:
    """Keep the main column in one line, in place: shift whole layers so it never steps aside.

    igraph centres a layer's nodes under their parents, so where a side branch starts (a
    ResNet block's projection beside its main branch) the main column steps aside, and back
    only later. The main column is the longest path through the graph; a layer where exactly
    one node lies on a longest path moves, as a whole (so nothing in it comes closer), until
    that node is in line with the input. A layer where several do (an inception module's two
    longest branches) moves with the layer before it, so the module keeps igraph's symmetry.
    Returns the nodes in line: the spine.
    """
    if not across:
        return set()
    successors: dict[str, list[str]] = defaultdict(list)
    for e in laid_out:
        successors[e.source].append(e.target)
    to_end: dict[str, int] = {}
    for node in reversed(visible.nodes):  # longest path from each node to a sink
        name = node.name
        to_end[name] = max((to_end[s] + 1 for s in successors[name] if s in to_end), default=0)
    longest = max(layers[n] + to_end[n] for n in across)
    on_longest: dict[int, list[str]] = defaultdict(list)
    for name in across:
        if layers[name] + to_end[name] == longest:
            on_longest[layers[name]].append(name)
    line = across[visible.nodes[0].name]
    shift: dict[int, float] = {}
    spine: set[str] = set()
    previous = 0.0
    for layer in range(max(layers.values()) + 1):
        candidates = on_longest.get(layer, [])
        if len(candidates) == 1:
            previous = line - across[candidates[0]]
            spine.add(candidates[0])
        shift[layer] = previous
    for name in across:
        across[name] += shift[layers[name]]
    for points in bends:
        points[:] = [(position + shift.get(layer, 0.0), layer) for position, layer in points]
    return spine


def frame_pad(height: int) -> float:
    """Between a frame and its nodes, at the sides and the end."""
    return FRAME_PAD + FRAME_STEP * height


def frame_top(height: int) -> float:
    """Between a frame's top and its nodes: its title above the titles of the frames inside."""
    return FRAME_PAD + FRAME_HEADER * (height + 1)


def _group_runs(group: FrameGroup, layers: Mapping[str, int]) -> list[list[str]]:
    """A group's members split where a layer holds none of them (a tower around an exchange)."""
    runs: list[list[str]] = []
    previous = None
    for name in sorted(group.members, key=layers.__getitem__):
        if previous is None or layers[name] > previous + 1:
            runs.append([])
        runs[-1].append(name)
        previous = layers[name]
    return runs


def _layer_offsets(
    visible: VisibleGraph, layers: Mapping[str, int], spacing: Spacing, *, horizontal: bool
) -> list[float]:
    """Each layer's place along the flow: ``along_gap`` apart, more where frames start or end.

    Top to bottom a frame starts with its title; left to right its title is on top, so both
    its ends need only padding.
    """
    count = max(layers.values(), default=0) + 1
    after = [0.0] * count  # the largest frame padding ending at each layer
    before = [0.0] * count  # … and starting at each layer, title included
    for group in visible.groups:
        pad = frame_pad(group.height)
        start = pad if horizontal else frame_top(group.height)
        for run in _group_runs(group, layers):
            first, last = layers[run[0]], layers[run[-1]]
            before[first] = max(before[first], start)
            after[last] = max(after[last], pad)
    offsets = [0.0]
    room = _FRAME_SPACING if horizontal else max(_FRAME_SPACING, _LABEL_ROOM)
    for i in range(1, count):
        frames = after[i - 1] + before[i]
        gap = max(spacing.along_gap, frames + room) if frames else spacing.along_gap
        offsets.append(offsets[-1] + spacing.along + gap)
    return offsets


def _edge_points(
    edge: VisibleEdge,
    flow: Mapping[str, Point],
    bends: list[tuple[float, int]],
    along: list[float],
    merge: bool,
    spacing: Spacing,
) -> tuple[Point, ...]:
    """In (across, along) coordinates."""
    (sa, sl), (ta, tl) = flow[edge.source], flow[edge.target]
    middle = [(a, along[layer]) for a, layer in bends]
    backward = tl < sl  # an edge closing a folded cycle
    half = spacing.along / 2
    start = (sa, sl - half if backward else sl + half)
    spread = 0.0
    if merge:  # inputs of a merge arrive side by side along its near edge, not all at one point
        towards = middle[-1][0] if middle else sa
        limit = spacing.across / 3
        spread = max(-limit, min(limit, (towards - ta) * 0.25))
    end = (ta + spread, tl + half if backward else tl - half)
    return (start, *middle, end)


def _bypassed(visible: VisibleGraph, edge: VisibleEdge, layers: Mapping[str, int]) -> set[str]:
    """The nodes a shortcut runs beside: the target's ancestors strictly between the two layers."""
    low, high = layers[edge.source], layers[edge.target]
    seen: set[str] = set()
    stack = [p for p in visible.predecessors(edge.target) if p != edge.source]
    while stack:
        name = stack.pop()
        if name in seen or not low < layers[name] < high:
            continue
        seen.add(name)
        stack.extend(visible.predecessors(name))
    return seen


def _shortcut_points(
    visible: VisibleGraph, edge: VisibleEdge, flow: Mapping[str, Point], layers: Mapping[str, int], spacing: Spacing
) -> tuple[Point, ...]:
    """In (across, along) coordinates: beside the block (right of it, or below it left to right)."""
    (sa, sl), (ta, tl) = flow[edge.source], flow[edge.target]
    half = spacing.across / 2
    # Work in "outward" coordinates (across times side), so one code path serves both sides.
    side = -1.0 if sa < ta - 1 else 1.0  # the side the source leans to; right (or down) when aligned
    low, high = layers[edge.source], layers[edge.target]
    bypassed = _bypassed(visible, edge, layers)
    lane = max((side * flow[n][0] for n in bypassed), default=side * ta) + half + SHORTCUT_MARGIN
    # Step past any other node in the way: a neighbouring column in the same layers.
    others = sorted(side * flow[n][0] for n in layers if low < layers[n] < high and n not in bypassed)
    for a in others:
        if a - half - SHORTCUT_MARGIN / 2 < lane < a + half + SHORTCUT_MARGIN / 2:
            lane = a + half + SHORTCUT_MARGIN
    target_side = (ta + side * half, tl)
    if side * sa - half >= lane:
        # The source stands beside the block already (a projection's last layer): go straight on.
        return (sa, sl + spacing.along / 2), (sa, tl), target_side
    return (sa + side * half, sl), (side * lane, sl), (side * lane, tl), target_side


def _frames(
    visible: VisibleGraph,
    positions: Mapping[str, Point],
    layers: Mapping[str, int],
    spacing: Spacing,
    *,
    horizontal: bool,
) -> tuple[Frame, ...]:
    """Frames for the expanded groups, dropped where one would cover a node that is not its own."""
    by_layer: dict[int, list[str]] = defaultdict(list)
    for name, layer in layers.items():
        by_layer[layer].append(name)
    half_w, half_h = (spacing.along / 2, spacing.across / 2) if horizontal else (spacing.across / 2, spacing.along / 2)
    kept: list[tuple[FrameGroup, tuple[float, float, float, float]]] = []
    for group in visible.groups:
        pad = frame_pad(group.height)
        members = set(group.members)
        for run in _group_runs(group, layers):
            xs = [positions[n][0] for n in run]
            ys = [positions[n][1] for n in run]
            x0, x1 = min(xs) - half_w - pad, max(xs) + half_w + pad
            y0, y1 = min(ys) - half_h - frame_top(group.height), max(ys) + half_h + pad
            strangers = (
                n for layer in range(layers[run[0]], layers[run[-1]] + 1) for n in by_layer[layer] if n not in members
            )
            if not any(
                x0 < positions[n][0] + half_w
                and positions[n][0] - half_w < x1
                and y0 < positions[n][1] + half_h
                and positions[n][1] - half_h < y1
                for n in strangers
            ):
                kept.append((group, (x0, y0, x1 - x0, y1 - y0)))
    framed = {group.path for group, _ in kept}
    frames = []
    for group, rect in kept:
        outer = next((p for p in reversed(group.outers) if p in framed), None)
        title = group.title
        if outer and group.title.startswith(outer + ".") and not group.title[len(outer) + 1].isdigit():
            title = group.title[len(outer) + 1 :]  # "branch2.0" inside "inception3a", but "layer2.1", not "1"
        frames.append(Frame(group.path, group.op, rect, group.height, title, group.summary, outer))
    return tuple(frames)
