"""Qt-free layout of a LayerGraph: folding modules into blocks, and a layered top-to-bottom drawing.

Three steps, each a pure function the scene only draws the result of:

1. ``visible_graph(graph, collapsed)`` folds every node under a collapsed module path into one
   block node and re-maps the edges;
2. ``default_collapsed(graph)`` picks what a deep network opens with;
3. ``compute_layout(visible)`` places the nodes with igraph's Sugiyama layout (layers, crossing
   reduction, long edges bent through dummy vertices) and routes residual shortcuts beside the
   block they bypass.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import igraph
from torch import nn

from explorer.core.graph import LayerGraph
from explorer.core.layers import Shape

BLOCK = "block"  # the kind of a collapsed module

NODE_WIDTH = 184.0
NODE_HEIGHT = 46.0
COLUMN_GAP = 44.0  # between neighbours in one layer
LAYER_GAP = 40.0  # between layers, before room for frames
SHORTCUT_MARGIN = 26.0  # from the bypassed block's edge to its shortcut's lane
FRAME_PAD = 8.0  # around an innermost module frame; each frame nested inside adds FRAME_STEP
FRAME_STEP = 12.0
FRAME_HEADER = 17.0  # room above a frame's nodes for its label, and each nested frame's label
_FRAME_SPACING = 14.0  # between a frame and whatever sits above or below it

# Plain lists of modules say nothing about the architecture: they never become blocks or frames.
# Exact types, because a subclass (torchvision's Conv2dNormActivation) is a real building block.
_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)
_RESIDUAL_OPS = frozenset({"add"})  # layers.op_name already maps ``iadd``/``add_`` to ``add``

Point = tuple[float, float]


# --- the visible graph ---------------------------------------------------------------------


@dataclass(frozen=True)
class VisibleNode:
    name: str  # a graph node's name, or the module path of a collapsed block
    kind: str  # a layers.KINDS entry, or BLOCK
    op: str  # the node's op, or the block module's class name ("" if unknown)
    output_shape: Shape
    members: tuple[str, ...]  # the graph nodes it stands for, in topological order

    @property
    def is_block(self) -> bool:
        return self.kind == BLOCK

    @property
    def label(self) -> str:
        return f"{self.name} · {self.op}" if self.is_block and self.op else self.name


@dataclass(frozen=True)
class VisibleEdge:
    source: str
    target: str
    shape: Shape  # the tensor on the edge: the producing graph node's output


@dataclass(frozen=True)
class ModuleGroup:
    """An expanded module that the scene frames: its visible nodes and how many frames it holds."""

    path: str
    op: str
    members: tuple[str, ...]
    height: int  # 0 for a frame with no frame inside it


@dataclass(frozen=True)
class VisibleGraph:
    nodes: tuple[VisibleNode, ...]  # ordered by each one's first member: topological but for folded cycles
    edges: tuple[VisibleEdge, ...]
    collapsed: frozenset[str]  # the collapsed paths that hide nodes (outermost only)
    groups: tuple[ModuleGroup, ...]  # parents before children
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


def _prefixes(path: str) -> Iterable[str]:
    """The module paths enclosing ``path``, outermost first (``a``, ``a.b`` for ``a.b.c``)."""
    parts = path.split(".")
    for depth in range(1, len(parts)):
        yield ".".join(parts[:depth])


def _owner(path: str, collapsed: frozenset[str] | set[str]) -> str | None:
    """The outermost collapsed module that hides a node at ``path``, if any."""
    for prefix in _prefixes(path):
        if prefix in collapsed:
            return prefix
    return None


def _is_hidden_module(path: str, collapsed: frozenset[str]) -> bool:
    return path in collapsed or _owner(path, collapsed) is not None


def module_class(graph: LayerGraph, path: str) -> str:
    """The class name of the module at ``path``, or "" for a path that is not a submodule."""
    module = _submodule(graph, path)
    return type(module).__name__ if module is not None else ""


def _submodule(graph: LayerGraph, path: str) -> nn.Module | None:
    try:
        return graph.model.get_submodule(path)
    except (AttributeError, TypeError):
        return None


def _is_container(graph: LayerGraph, path: str) -> bool:
    return type(_submodule(graph, path)) in _CONTAINERS


def module_sizes(graph: LayerGraph) -> dict[str, int]:
    """How many graph nodes each module path holds (paths as ``LayerGraph.module_paths``)."""
    sizes: dict[str, int] = defaultdict(int)
    for node in graph.nodes:
        for prefix in _prefixes(node.path):
            sizes[prefix] += 1
    return dict(sizes)


def visible_graph(graph: LayerGraph, collapsed: Iterable[str] = ()) -> VisibleGraph:
    """``graph`` with every node under a collapsed module path folded into one block node.

    A node folds into its outermost collapsed enclosing path; edges are re-mapped, de-duplicated
    and self-loops (edges inside a block) dropped. Folding a module that is called in two
    separate pieces (a tower around an exchange) can make a cycle; the layout copes with that.
    """
    collapsed = frozenset(collapsed)
    owner: dict[str, str] = {}
    block_members: dict[str, list[str]] = defaultdict(list)
    order: list[str] = []
    for node in graph.nodes:
        block = _owner(node.path, collapsed)
        name = block if block is not None else node.name
        owner[node.name] = name
        if block is not None:
            if not block_members[block]:
                order.append(block)
            block_members[block].append(node.name)
        else:
            order.append(name)

    edges: dict[tuple[str, str], VisibleEdge] = {}
    leaving: dict[str, str] = {}  # block → its last member that feeds something outside
    for source, target in graph.edges:
        a, b = owner[source], owner[target]
        if a == b:
            continue
        if a in block_members:
            leaving[a] = max(leaving.get(a, source), source, key=graph.index)
        edges.setdefault((a, b), VisibleEdge(a, b, graph.node(source).output_shape))

    nodes = []
    for name in order:
        if name in block_members:
            members = tuple(block_members[name])
            last = graph.node(leaving.get(name, members[-1]))
            nodes.append(VisibleNode(name, BLOCK, module_class(graph, name), last.output_shape, members))
        else:
            node = graph.node(name)
            nodes.append(VisibleNode(name, node.kind, node.op, node.output_shape, (name,)))
    return VisibleGraph(
        nodes=tuple(nodes),
        edges=tuple(edges.values()),
        collapsed=frozenset(block_members),
        groups=_groups(graph, nodes, collapsed),
        owner=MappingProxyType(owner),
    )


def _groups(graph: LayerGraph, nodes: list[VisibleNode], collapsed: frozenset[str]) -> tuple[ModuleGroup, ...]:
    """The expanded modules holding two visible nodes or more, with their nesting heights."""
    members: dict[str, list[str]] = defaultdict(list)
    for node in nodes:
        for prefix in _prefixes(node.name if node.is_block else graph.node(node.name).path):
            members[prefix].append(node.name)
    modules = [p for p in graph.module_paths() if len(members.get(p, ())) >= 2 and not _is_hidden_module(p, collapsed)]
    containers = {p for p in modules if _is_container(graph, p)}
    # A container frames a network's stages (ResNet's layerN, AlexNet's features) but not the
    # lists inside a real block (an inception branch): that block's frame says enough.
    framed = [
        path
        for path in modules
        if path not in containers or all(prefix in containers for prefix in _prefixes(path) if prefix in members)
    ]
    height: dict[str, int] = dict.fromkeys(framed, 0)
    for path in reversed(framed):  # children before parents
        for prefix in _prefixes(path):
            if prefix in height:
                height[prefix] = max(height[prefix], height[path] + 1)
    return tuple(ModuleGroup(p, module_class(graph, p), tuple(members[p]), height[p]) for p in framed)


# --- what a network opens with -------------------------------------------------------------


def _visible_count(graph: LayerGraph, collapsed: set[str]) -> int:
    return len({_owner(node.path, collapsed) or node.name for node in graph.nodes})


def block_levels(graph: LayerGraph) -> list[list[str]]:
    """Module paths that make meaningful blocks, by nesting: ``[level 1 paths, level 2 paths, …]``.

    A block is a module that holds two nodes or more and is not a plain container; its level
    counts the blocks around it, itself included. ResNet's ``layerN`` are Sequentials, so its
    level-1 blocks are the bottlenecks ``layerN.M``; GoogLeNet's are the inception modules.
    """
    sizes = module_sizes(graph)
    blocks = [p for p in graph.module_paths() if sizes.get(p, 0) >= 2 and not _is_container(graph, p)]
    is_block = set(blocks)
    levels: dict[int, list[str]] = defaultdict(list)
    for path in blocks:
        levels[1 + sum(prefix in is_block for prefix in _prefixes(path))].append(path)
    return [levels[k] for k in sorted(levels)]


def default_collapsed(graph: LayerGraph, max_visible: int = 150, min_visible: int = 16) -> frozenset[str]:
    """What a network opens with: everything when it fits, else its building blocks folded.

    A graph of at most ``max_visible`` nodes opens fully expanded (AlexNet, VGG, LeNet,
    ResNet-18). A larger one opens with its outermost blocks collapsed (ResNet-152's 50
    bottlenecks, GoogLeNet's 9 inception modules), one block level deeper while that leaves
    fewer than ``min_visible`` nodes on screen (a model wrapped in one big module). Where even
    the outermost blocks are too many, the deepest plain module depth that fits is folded.
    """
    if len(graph) <= max_visible:
        return frozenset()
    levels = block_levels(graph)
    counts = [_visible_count(graph, set(level)) for level in levels]
    if counts and counts[0] <= max_visible:
        k = 0
        while k + 1 < len(levels) and counts[k] < min_visible and counts[k + 1] <= max_visible:
            k += 1
        return frozenset(levels[k])
    by_depth: dict[int, set[str]] = defaultdict(set)
    for path in graph.module_paths():
        by_depth[path.count(".") + 1].add(path)
    for depth in sorted(by_depth, reverse=True):
        if _visible_count(graph, by_depth[depth]) <= max_visible:
            return frozenset(by_depth[depth])
    return frozenset(by_depth.get(1, ()))


# --- the drawing ---------------------------------------------------------------------------


@dataclass(frozen=True)
class EdgeRoute:
    """A polyline from the source node's border to the target node's border.

    Ordinary edges run from the source's bottom to the target's top through Sugiyama's bend
    points (igraph's dummy vertices, so long edges pass beside the nodes); a shortcut leaves its
    source sideways (or from below when the source sits beside the block), runs down a lane
    beside the block it bypasses, and enters its target's side.
    """

    source: str
    target: str
    points: tuple[Point, ...]
    shape: Shape
    shortcut: bool = False


@dataclass(frozen=True)
class Frame:
    """The box drawn behind an expanded module (one per contiguous run of its layers)."""

    path: str
    op: str
    rect: tuple[float, float, float, float]  # x, y, width, height
    height: int  # nesting height: outer frames are larger and drawn below
    title: str  # the path, or relative to the frame around it: "branch2.0" inside "inception3a"

    @property
    def label(self) -> str:
        return f"{self.title} · {self.op}" if self.op else self.title


@dataclass(frozen=True)
class Layout:
    positions: Mapping[str, Point]  # node centres
    layers: Mapping[str, int]
    edges: tuple[EdgeRoute, ...]
    frames: tuple[Frame, ...]

    @property
    def shortcuts(self) -> tuple[EdgeRoute, ...]:
        return tuple(edge for edge in self.edges if edge.shortcut)

    def layer_members(self, layer: int) -> list[str]:
        """The nodes of one layer, left to right."""
        return sorted((n for n, k in self.layers.items() if k == layer), key=lambda n: self.positions[n][0])


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
        if node.is_block or node.op not in _RESIDUAL_OPS:
            continue
        inputs = visible.predecessors(node.name)
        if len(inputs) < 2:
            continue
        deepest = max(layers[p] for p in inputs)
        found.update((p, node.name) for p in inputs if layers[p] < deepest)
    return found


def compute_layout(visible: VisibleGraph, maxiter: int = 100) -> Layout:
    """Place ``visible`` top to bottom; see ``Layout`` and ``EdgeRoute``.

    igraph lays out every edge but the shortcuts, so a residual block's main branch stays a
    straight column and its shortcut is drawn as a lane beside it instead of a column of its own.
    """
    layers = _layers(visible)
    shortcuts = shortcut_edges(visible, layers)
    names = [node.name for node in visible.nodes]
    laid_out = [e for e in visible.edges if (e.source, e.target) not in shortcuts]
    g = igraph.Graph(
        n=len(names), edges=[(visible.index(e.source), visible.index(e.target)) for e in laid_out], directed=True
    )
    result = g.layout_sugiyama(
        layers=[layers[n] for n in names], hgap=NODE_WIDTH + COLUMN_GAP, vgap=1, maxiter=maxiter
    )
    xs = {n: float(x) for n, (x, _) in zip(names, result.coords, strict=True)}
    bends = [[(float(x), round(y)) for x, y in points] for points in result.edge_routing]
    _separate(xs, layers, laid_out, bends)
    layer_y = _layer_ys(visible, layers)
    positions = {n: (x, layer_y[layers[n]]) for n, x in xs.items()}
    fan_in: dict[str, int] = defaultdict(int)
    for e in laid_out:
        fan_in[e.target] += 1
    routes = [
        EdgeRoute(e.source, e.target, _edge_points(e, positions, bend, layer_y, fan_in[e.target] > 1), e.shape)
        for e, bend in zip(laid_out, bends, strict=True)
    ]
    routes += [
        EdgeRoute(e.source, e.target, _shortcut_points(visible, e, positions, layers), e.shape, shortcut=True)
        for e in visible.edges
        if (e.source, e.target) in shortcuts
    ]
    return Layout(
        positions=MappingProxyType(positions),
        layers=MappingProxyType(layers),
        edges=tuple(routes),
        frames=_frames(visible, positions, layers),
    )


def _separate(
    xs: dict[str, float], layers: Mapping[str, int], laid_out: list[VisibleEdge], bends: list[list[tuple[float, int]]]
) -> None:
    """Move nodes and bend points apart, in place, where igraph left them too close.

    igraph's coordinate assignment can leave two vertices of a layer closer than its ``hgap``
    (seen: two inception branches half a column apart). Pushing them apart layer by layer
    would kink the columns, so the columns igraph lined up (a chain of one-in, one-out
    elements at one x) move as one piece. Pieces are ordered by x; one pass pushes each
    right of its left neighbours, one pushes each left of its right neighbours, and the mean
    of the two keeps every pair apart (both do) while moving nobody more than needed.
    """
    keys: list[str | tuple[int, int]] = [*xs]
    x = [xs[name] for name in xs]
    layer_of = [layers[name] for name in xs]
    half = [(NODE_WIDTH + COLUMN_GAP) / 2] * len(keys)
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

    # Column pieces: union each element with the one below when that link is the only one
    # between them and igraph put them at the same x.
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

    # Separation constraints between neighbouring pieces, in one global order: (x, piece).
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


def frame_pad(height: int) -> float:
    """Between a frame and its nodes, at the sides and bottom."""
    return FRAME_PAD + FRAME_STEP * height


def frame_top(height: int) -> float:
    """Between a frame's top and its nodes: its label above the labels of the frames inside."""
    return FRAME_PAD + FRAME_HEADER * (height + 1)


def _group_runs(group: ModuleGroup, layers: Mapping[str, int]) -> list[list[str]]:
    """A group's members split where a layer holds none of them (a tower around an exchange)."""
    runs: list[list[str]] = []
    previous = None
    for name in sorted(group.members, key=layers.__getitem__):
        if previous is None or layers[name] > previous + 1:
            runs.append([])
        runs[-1].append(name)
        previous = layers[name]
    return runs


def _layer_ys(visible: VisibleGraph, layers: Mapping[str, int]) -> list[float]:
    """Each layer's y: at least LAYER_GAP apart, more where frames start or end between two layers."""
    count = max(layers.values(), default=0) + 1
    below = [0.0] * count  # the largest frame padding ending at each layer
    above = [0.0] * count  # … and starting at each layer, label included
    for group in visible.groups:
        pad = frame_pad(group.height)
        for run in _group_runs(group, layers):
            first, last = layers[run[0]], layers[run[-1]]
            above[first] = max(above[first], frame_top(group.height))
            below[last] = max(below[last], pad)
    ys = [0.0]
    for i in range(1, count):
        frames = below[i - 1] + above[i]
        gap = max(LAYER_GAP, frames + _FRAME_SPACING) if frames else LAYER_GAP
        ys.append(ys[-1] + NODE_HEIGHT + gap)
    return ys


def _edge_points(
    edge: VisibleEdge, positions: Mapping[str, Point], bends: list[tuple[float, int]], layer_y: list[float], merge: bool
) -> tuple[Point, ...]:
    (sx, sy), (tx, ty) = positions[edge.source], positions[edge.target]
    middle = [(x, layer_y[layer]) for x, layer in bends]
    upward = ty < sy  # an edge closing a folded cycle
    start = (sx, sy - NODE_HEIGHT / 2 if upward else sy + NODE_HEIGHT / 2)
    spread = 0.0
    if merge:  # inputs of a merge arrive side by side along its top edge, not all at one point
        towards = middle[-1][0] if middle else sx
        spread = max(-NODE_WIDTH / 3, min(NODE_WIDTH / 3, (towards - tx) * 0.25))
    end = (tx + spread, ty + NODE_HEIGHT / 2 if upward else ty - NODE_HEIGHT / 2)
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
    visible: VisibleGraph, edge: VisibleEdge, positions: Mapping[str, Point], layers: Mapping[str, int]
) -> tuple[Point, ...]:
    (sx, sy), (tx, ty) = positions[edge.source], positions[edge.target]
    half = NODE_WIDTH / 2
    # Work in "outward" coordinates (x times side), so one code path serves both sides.
    side = -1.0 if sx < tx - 1 else 1.0  # the side the source leans to; right when aligned
    low, high = layers[edge.source], layers[edge.target]
    bypassed = _bypassed(visible, edge, layers)
    lane = max((side * positions[n][0] for n in bypassed), default=side * tx) + half + SHORTCUT_MARGIN
    # Step past any other node in the way: a neighbouring column in the same layers.
    others = sorted(side * positions[n][0] for n in layers if low < layers[n] < high and n not in bypassed)
    for x in others:
        if x - half - SHORTCUT_MARGIN / 2 < lane < x + half + SHORTCUT_MARGIN / 2:
            lane = x + half + SHORTCUT_MARGIN
    target_side = (tx + side * half, ty)
    if side * sx - half >= lane:
        # The source stands beside the block already (a projection's last layer): go straight down.
        return (sx, sy + NODE_HEIGHT / 2), (sx, ty), target_side
    return (sx + side * half, sy), (side * lane, sy), (side * lane, ty), target_side


def _frames(visible: VisibleGraph, positions: Mapping[str, Point], layers: Mapping[str, int]) -> tuple[Frame, ...]:
    """Frames for the expanded modules, dropped where one would cover a node that is not its own."""
    by_layer: dict[int, list[str]] = defaultdict(list)
    for name, layer in layers.items():
        by_layer[layer].append(name)
    half_w, half_h = NODE_WIDTH / 2, NODE_HEIGHT / 2
    kept: list[tuple[ModuleGroup, tuple[float, float, float, float]]] = []
    for group in visible.groups:
        pad = frame_pad(group.height)
        members = set(group.members)
        for run in _group_runs(group, layers):
            xs = [positions[n][0] for n in run]
            ys = [positions[n][1] for n in run]
            x0, x1 = min(xs) - half_w - pad, max(xs) + half_w + pad
            y0, y1 = min(ys) - half_h - frame_top(group.height), max(ys) + half_h + pad
            strangers = (
                n
                for layer in range(layers[run[0]], layers[run[-1]] + 1)
                for n in by_layer[layer]
                if n not in members
            )
            if not any(x0 < positions[n][0] + half_w and positions[n][0] - half_w < x1 for n in strangers):
                kept.append((group, (x0, y0, x1 - x0, y1 - y0)))
    framed = {group.path for group, _ in kept}
    frames = []
    for group, rect in kept:
        title = group.path
        outer = next((p for p in reversed(list(_prefixes(group.path))) if p in framed), None)
        if outer and not group.path[len(outer) + 1].isdigit():  # "branch2.0", but "layer2.1", not "1"
            title = group.path[len(outer) + 1 :]
        frames.append(Frame(group.path, group.op, rect, group.height, title))
    return tuple(frames)
