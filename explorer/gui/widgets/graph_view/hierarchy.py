"""Qt-free: what a LayerGraph folds into, from the outside in — stem, stages and head, blocks, runs
of identical blocks, and the modules inside them.

A ``Group`` is anything the view can fold into one block node or frame when it is expanded:

- a **module** (``layer3.0``, a Bottleneck; ``inception3a``), named by its module path;
- a **stage** of the network: a plain list of blocks (ResNet's ``layer3``, EfficientNet's
  ``features.4``), or a range of consecutive blocks of one class that the model does not hold in
  a module of their own (GoogLeNet's ``inception4a…inception4e``, MobileNet's blocks at one
  resolution), or a run of plain layers that a pooling layer ends (VGG's five stages);
- the **stem** and the **head**: what comes before the first stage and after the last;
- a **repeat**: consecutive identical blocks (same class, hyperparameters and shapes), drawn as
  one node ``× N`` (ResNet-152's ``layer3.1…layer3.35``), when the view folds repeats.

Groups that are not modules are named by a range of one module's parts, ``first…last``, which
``LayerGraph.nodes_under`` resolves too, so the other views show a selected stage's layers.
"""

from __future__ import annotations

import threading
import weakref
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from os.path import commonprefix
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from explorer.core.graph import LayerGraph
    from explorer.core.layers import Shape

RANGE_MARK = "…"  # the same as explorer.core.graph.RANGE_MARK (that module imports torch)

MODULE, STAGE, STEM, HEAD, REPEAT = "module", "stage", "stem", "head", "repeat"

#: A block smaller than this (a conv + norm + activation) is a layer with extras, not a building
#: block that stages are made of: GoogLeNet's ``conv2``, ``conv3`` do not make a stage.
_MIN_STAGE_BLOCK = 4
#: A plain list of layers this long is cut into stages at its pooling layers (VGG's 21–37
#: layers); shorter ones (AlexNet's 13) read well as they are.
_MIN_LAYERS_TO_STAGE = 16
RESIDUAL_OPS = frozenset({"add"})  # layers.op_name already maps ``iadd``/``add_`` to ``add``


@dataclass(frozen=True)
class Group:
    path: str  # a module path, or a range of one module's parts: "first…last"
    kind: str  # MODULE, STAGE, STEM, HEAD or REPEAT
    title: str  # what its block and frame say: "layer3", "stem", "inception4a–4e", "stage 2"
    op: str  # the module's class ("Bottleneck"), or the class of the blocks a stage or repeat holds
    members: tuple[str, ...]  # the graph nodes inside, in topological order
    parent: str | None  # the group around it
    output_shape: Shape  # the tensor that leaves it
    count: int = 0  # how many blocks a stage or repeat holds (0: it is not made of blocks)
    container: bool = False  # a plain nn.Sequential / ModuleList / ModuleDict
    residual: bool = False  # it holds a residual add: its block shows the shortcut

    @property
    def is_range(self) -> bool:
        return RANGE_MARK in self.path

    @property
    def summary(self) -> str:
        """What it holds, for a block's second line: ``36 × Bottleneck``, ``× 35 Bottleneck`` (a
        repeat), ``2 × Conv2d + MaxPool2d`` (a stage of plain layers), ``4 layers``."""
        if self.count and self.kind == REPEAT:
            return f"× {self.count} {self.op}"
        if self.count:
            return f"{self.count} × {self.op}"
        if self.kind == STAGE and self.op:
            return self.op
        return f"{len(self.members)} layers"


@dataclass(frozen=True)
class Hierarchy:
    groups: Mapping[str, Group]  # outer groups before the groups inside them
    chains: Mapping[str, tuple[str, ...]]  # graph node → the groups around it, outermost first
    repeats: bool  # whether runs of identical blocks are groups

    def __contains__(self, path: object) -> bool:
        return path in self.groups

    def group(self, path: str) -> Group:
        return self.groups[path]

    def chain(self, path: str) -> tuple[str, ...]:
        """The groups around a graph node or a group, outermost first (not including itself)."""
        if path in self.chains:
            return self.chains[path]
        group = self.groups.get(path)
        if group is None:
            return ()
        chain = self.chains[group.members[0]]
        return chain[: chain.index(path)]

    def of_kind(self, *kinds: str) -> list[str]:
        return [path for path, group in self.groups.items() if group.kind in kinds]


# --- building it ----------------------------------------------------------------------------


def _is_container(module: Any) -> bool:
    from torch import nn  # lazily: the GUI imports this module before torch is loaded

    # Exact types: a subclass (torchvision's Conv2dNormActivation, RegNet's AnyStage) is a real block.
    return type(module) in (nn.Sequential, nn.ModuleList, nn.ModuleDict)


def _range(first: str, last: str) -> str:
    return f"{first}{RANGE_MARK}{last}"


def range_title(first: str, last: str) -> str:
    """``inception4a–4e``, ``layer3.1–35``, ``features.0–4``: the end without what both share."""
    common = commonprefix([first, last])
    while common and common[-1].isdigit():  # "inception4" → "inception": keep "4a–4e" whole
        common = common[:-1]
    return f"{first}–{last[len(common) :]}"


def _resolution(shape: Shape) -> tuple[int, ...]:
    """What a new stage changes: the spatial size of a C×H×W tensor (any other shape as it is)."""
    return tuple(shape[1:]) if len(shape) == 3 else tuple(shape)


class _Builder:
    def __init__(self, graph: LayerGraph, repeats: bool) -> None:
        self.graph = graph
        self.repeats = repeats
        self.groups: dict[str, Group] = {}
        self._module_members: dict[str, list[str]] = defaultdict(list)
        for node in graph.nodes:
            for prefix in _prefixes(node.path):
                self._module_members[prefix].append(node.name)
        self.sizes = {path: len(members) for path, members in self._module_members.items()}
        self._classes: dict[str, str] = {}
        self._containers: dict[str, bool] = {}

    # module facts ----------------------------------------------------------------------

    def module_class(self, path: str) -> str:
        if path not in self._classes:
            module = self._submodule(path)
            self._classes[path] = type(module).__name__ if module is not None else ""
        return self._classes[path]

    def is_container(self, path: str) -> bool:
        if path not in self._containers:
            self._containers[path] = _is_container(self._submodule(path))
        return self._containers[path]

    def _submodule(self, path: str) -> Any:
        try:
            return self.graph.model.get_submodule(path)
        except (AttributeError, TypeError):
            return None

    def is_block(self, unit: str) -> bool:
        """A module holding two nodes or more that is not a plain list of modules."""
        return self.sizes.get(unit, 0) >= 2 and not self.is_container(unit)

    def members(self, path: str) -> tuple[str, ...]:
        if path in self._module_members:  # one pass over the graph serves every module
            return tuple(self._module_members[path])
        return tuple(node.name for node in self.graph.nodes_under(path))

    def output_shape(self, members: Sequence[str]) -> Shape:
        inside = set(members)
        leaving = [m for m in members if any(s not in inside for s in self.graph.successors(m))]
        return self.graph.node((leaving or list(members))[-1]).output_shape

    def residual(self, members: Sequence[str]) -> bool:
        graph = self.graph
        return any(graph.node(m).op in RESIDUAL_OPS and len(graph.node(m).inputs) >= 2 for m in members)

    def trunk(self, scope: str) -> list[str]:
        """The parts of ``scope`` on the way to the main output, the input left out."""
        side = self.graph.side_outputs(scope)
        return [u for u in self.graph.units(scope) if u not in side and u != "input"]

    # groups ------------------------------------------------------------------------------

    def add(self, path: str, kind: str, title: str, op: str, members: tuple[str, ...], count: int = 0) -> None:
        if len(members) < 2 or path in self.groups:
            return
        self.groups[path] = Group(
            path=path,
            kind=kind,
            title=title,
            op=op,
            members=members,
            parent=None,  # set once every group is known
            output_shape=self.output_shape(members),
            count=count,
            container=kind == MODULE and self.is_container(path),
            residual=self.residual(members),
        )

    def build(self) -> Hierarchy:
        for path in self.graph.module_paths():
            if self.sizes[path] >= 2:
                self.add(path, MODULE, path, self.module_class(path), self.members(path))
        # Stages, stem and head: in the plain lists along the model's spine, then the model itself
        # (inner lists first: the model's head is what follows the list that holds its stages).
        for scope in [*(p for p in reversed(self.graph.module_paths()) if self._on_spine(p)), ""]:
            self._stages(scope)
        if self.repeats:
            for scope in ["", *self.graph.module_paths()]:
                self._repeats(scope)
        return self._finish()

    def _on_spine(self, path: str) -> bool:
        """A plain list with only plain lists around it: where a network keeps its stages."""
        return self.is_container(path) and all(self.is_container(p) for p in _prefixes(path))

    def _is_stage_module(self, unit: str) -> bool:
        """A plain list of building blocks (ResNet's layerN): a stage in its own right."""
        if not self.is_container(unit) or self.sizes.get(unit, 0) < 2:
            return False
        parts = self.trunk(unit)
        return bool(parts) and all(self.is_block(part) and self.sizes[part] >= _MIN_STAGE_BLOCK for part in parts)

    def _feeds(self, before: str, after: str) -> bool:
        """Whether unit ``after`` takes its input from unit ``before``: one after the other, not side by side."""
        inside = set(self.members(before))
        return any(source in inside for m in self.members(after) for source in self.graph.node(m).inputs)

    def _block_runs(self, units: Sequence[str], *, split_at_resolution: bool) -> list[list[str]]:
        """Consecutive blocks of one class (a stage's worth), cut where the resolution changes."""
        runs: list[list[str]] = []
        previous: tuple[str, tuple[int, ...]] | None = None
        for unit in units:
            if not self.is_block(unit) or self.sizes[unit] < _MIN_STAGE_BLOCK:
                previous = None
                continue
            key = (self.module_class(unit), _resolution(self.output_shape(self.members(unit))))
            same = previous is not None and previous[0] == key[0] and self._feeds(runs[-1][-1], unit)
            if same and split_at_resolution:
                same = previous[1] == key[1]
            if same:
                runs[-1].append(unit)
            else:
                runs.append([unit])
            previous = key
        return [run for run in runs if len(run) >= 2]

    def _pool_stages(self, units: Sequence[str]) -> list[list[str]]:
        """A long plain list of layers cut after each pooling layer that shrinks the resolution (VGG)."""
        graph = self.graph
        if len(units) < _MIN_LAYERS_TO_STAGE or any(self.sizes.get(u, 0) >= 2 for u in units):
            return []
        stages: list[list[str]] = [[]]
        for unit in units:
            stages[-1].append(unit)
            node = graph.node(unit)
            shrinks = node.input_shapes and _resolution(node.output_shape) != _resolution(node.input_shapes[0])
            if node.kind == "pool" and shrinks:
                stages.append([])
        stages = [stage for stage in stages if stage]
        return stages if len(stages) >= 2 else []

    def _stages(self, scope: str) -> None:
        units = self.trunk(scope)
        anchors: list[str] = []  # the stages of this scope, and the lists holding stages
        if self._is_stage_module(scope):
            # One list of every block (EfficientNet-Lite's _blocks): its stages are its resolutions.
            runs = self._block_runs(units, split_at_resolution=True)
            if len(runs) >= 2:
                for run in runs:
                    self._add_range(STAGE, run, title=range_title(run[0], run[-1]))
            return
        # A list of every block whose resolutions made stages inside it (MobileNet's features) holds
        # stages rather than being one.
        modules = [u for u in units if self._is_stage_module(u) and not self._holds_stages(u)]
        for unit in modules:
            group = self.groups.get(unit)
            if group is not None:
                self.groups[unit] = _replace(group, kind=STAGE, op=self._block_class(unit), count=len(self.trunk(unit)))
        anchors += modules
        if not modules:
            runs = self._block_runs(units, split_at_resolution=True)
            for run in runs:
                self._add_range(STAGE, run, title=range_title(run[0], run[-1]))
            pools = [] if runs else self._pool_stages(units)
            for number, stage in enumerate(pools, start=1):
                self._add_range(STAGE, stage, title=f"stage {number}", op=self._layer_mix(stage))
            anchors += [_range(r[0], r[-1]) for r in runs] + [_range(s[0], s[-1]) for s in pools]
        anchors += [u for u in units if self.is_container(u) and self._holds_stages(u)]
        if not anchors:
            return
        order = {u: i for i, u in enumerate(units)}
        first = min(order[a.partition(RANGE_MARK)[0]] for a in anchors)
        last = max(order[a.rpartition(RANGE_MARK)[2]] for a in anchors)
        for kind, part in ((STEM, units[:first]), (HEAD, units[last + 1 :])):
            if len(part) >= 2:
                self._add_range(kind, part, title=kind)

    def _holds_stages(self, path: str) -> bool:
        prefix = path + "."
        return any(g.kind == STAGE and g.path.startswith(prefix) for g in self.groups.values())

    def _block_class(self, path: str) -> str:
        classes = Counter(self.module_class(u) for u in self.trunk(path))
        return classes.most_common(1)[0][0] if len(classes) == 1 else "blocks"

    def _layer_mix(self, units: Sequence[str]) -> str:
        """``2 × Conv2d``: the layers with weights a stage of plain layers holds (its pool ends it)."""
        graph = self.graph
        ops = Counter(graph.node(u).op for u in units if graph.node(u).kind in ("conv", "linear"))
        return " + ".join(f"{n} × {op}" for op, n in ops.items()) or f"{len(units)} layers"

    def _add_range(self, kind: str, units: Sequence[str], *, title: str, op: str | None = None) -> None:
        path = _range(units[0], units[-1]) if len(units) > 1 else units[0]
        members = self.members(path)
        blocks = [u for u in units if self.is_block(u)]
        same_class = len({self.module_class(u) for u in blocks}) == 1 and len(blocks) == len(units)
        if op is not None:  # a stage of plain layers: "2 × Conv2d + MaxPool2d" says what it holds
            self.add(path, kind, title, op, members)
        else:
            self.add(
                path,
                kind,
                title,
                self.module_class(units[0]) if same_class else "",
                members,
                len(units) if same_class else 0,
            )

    def _repeats(self, scope: str) -> None:
        units = self.trunk(scope)
        counted = self.groups.get(scope)
        runs: list[list[str]] = []
        previous = None
        for unit in units:
            signature = self._signature(unit) if self.is_block(unit) else None
            if signature is not None and signature == previous and self._feeds(runs[-1][-1], unit):
                runs[-1].append(unit)
            else:
                runs.append([unit])
            previous = signature
        for run in runs:
            if len(run) < 2 or not self.is_block(run[0]):
                continue
            if counted is not None and counted.count and len(run) == len(units):
                continue  # the stage's own block says "3 × CNBlock" already
            self._add_range(REPEAT, run, title=range_title(run[0], run[-1]))

    def _signature(self, block: str) -> tuple[Any, ...]:
        """Equal for blocks that compute the same thing on the same shapes (names aside)."""
        from explorer.core.layers import hyperparameters  # lazily, as above

        graph = self.graph
        cut = len(block) + 1
        rows: list[tuple[Any, ...]] = [(self.module_class(block),)]
        for name in self.members(block):
            node = graph.node(name)
            module = graph.module(node) if node.is_module else None
            settings = hyperparameters(module) if module is not None else dict(node.arguments)
            rows.append((name[cut:], node.op, node.input_shapes, node.output_shape, repr(sorted(settings.items()))))
        return tuple(rows)

    def _finish(self) -> Hierarchy:
        # Each node's chain: the groups holding it, outermost (most members) first.
        holding: dict[str, list[Group]] = defaultdict(list)
        for group in self.groups.values():
            for member in group.members:
                holding[member].append(group)
        chains: dict[str, tuple[str, ...]] = {}
        for node in self.graph.nodes:
            around = sorted(holding.get(node.name, ()), key=_outer_first)
            chains[node.name] = tuple(g.path for g in around)
        parents: dict[str, str | None] = {}
        for chain in chains.values():
            for outer, inner in zip((None, *chain), chain, strict=False):
                parents.setdefault(inner, outer)
        ordered = sorted(
            self.groups.values(), key=lambda g: (chains[g.members[0]].index(g.path), self.graph.index(g.members[0]))
        )
        groups = {g.path: _replace(g, parent=parents.get(g.path)) for g in ordered}
        return Hierarchy(MappingProxyType(groups), MappingProxyType(chains), self.repeats)


def _outer_first(group: Group) -> tuple[int, int]:
    # A stage and the module it is (ResNet's layer3) are one group; a range around modules holds
    # more members; at equal size the range (stage) goes around the module it consists of.
    return (-len(group.members), 0 if group.is_range else 1)


def _replace(group: Group, **changes: Any) -> Group:
    from dataclasses import replace

    return replace(group, **changes)


def _prefixes(path: str) -> Iterable[str]:
    """The module paths enclosing ``path``, outermost first (``a``, ``a.b`` for ``a.b.c``)."""
    parts = path.split(".")
    for depth in range(1, len(parts)):
        yield ".".join(parts[:depth])


def build_hierarchy(graph: LayerGraph, *, repeats: bool = True) -> Hierarchy:
    """Every group of ``graph``; with ``repeats``, runs of identical blocks are groups too."""
    return _Builder(graph, repeats).build()


def without_repeats(hierarchy: Hierarchy) -> Hierarchy:
    """The same groups but the runs of repeats (what ``build_hierarchy(repeats=False)`` gives)."""
    if not hierarchy.repeats:
        return hierarchy
    gone = set(hierarchy.of_kind(REPEAT))
    chains = {node: tuple(g for g in chain if g not in gone) for node, chain in hierarchy.chains.items()}
    groups: dict[str, Group] = {}
    for path, group in hierarchy.groups.items():
        if path in gone:
            continue
        parent = group.parent
        while parent in gone:
            parent = hierarchy.group(parent).parent
        groups[path] = group if parent == group.parent else _replace(group, parent=parent)
    return Hierarchy(MappingProxyType(groups), MappingProxyType(chains), repeats=False)


_built: dict[int, tuple[weakref.ref[Any], Hierarchy]] = {}
_built_lock = threading.Lock()


def hierarchy_of(graph: LayerGraph, *, repeats: bool = True) -> Hierarchy:
    """``build_hierarchy``, remembered per graph: the analysis worker builds it (``jobs.analyse``),
    so the GUI thread only looks it up when the summary arrives."""
    with _built_lock:
        found = _built.get(id(graph))
        built = found[1] if found is not None and found[0]() is graph else None
    if built is None:
        built = build_hierarchy(graph, repeats=True)
        with _built_lock:
            for key in [k for k, (ref, _) in _built.items() if ref() is None]:  # graphs gone since
                del _built[key]
            _built[id(graph)] = (weakref.ref(graph), built)
    return built if repeats else without_repeats(built)


# --- what a network opens with ---------------------------------------------------------------


def visible_count(hierarchy: Hierarchy, graph: LayerGraph, collapsed: Iterable[str]) -> int:
    collapsed = set(collapsed)
    shown = set()
    for node in graph.nodes:
        shown.add(next((g for g in hierarchy.chains[node.name] if g in collapsed), node.name))
    return len(shown)


def default_collapsed(
    hierarchy: Hierarchy,
    graph: LayerGraph,
    *,
    max_expanded: int = 100,
    max_expanded_with_stages: int = 30,
    min_visible: int = 4,
) -> frozenset[str]:
    """What a network opens with: everything when it is small, else the level a person reads.

    A network with stages opens at them when it has more than ``max_expanded_with_stages``
    nodes (VGG-16's 41 layers as its five stages, ResNet as stem → layer1 … layer4 → head,
    GoogLeNet's inception groups), every block inside folded too, so expanding a stage shows its
    blocks and expanding a block its layers. One without stages opens expanded up to
    ``max_expanded`` nodes (LeNet, AlexNet, the two towers of AlexNet's original), else with
    every block folded. A model that would show fewer than ``min_visible`` nodes (one big
    module around everything) opens one level deeper.
    """
    staged = bool(hierarchy.of_kind(STAGE))
    if len(graph) <= (max_expanded_with_stages if staged else max_expanded):
        return frozenset()
    foldable = {p for p, g in hierarchy.groups.items() if not (g.container and g.kind == MODULE)}
    collapsed = set(foldable)
    while visible_count(hierarchy, graph, collapsed) < min_visible:
        outermost = [p for p in collapsed if not any(a in collapsed for a in hierarchy.chain(p))]
        if not outermost:
            break
        biggest = max(outermost, key=lambda p: len(hierarchy.group(p).members))
        if visible_count(hierarchy, graph, collapsed - {biggest}) > 150:
            break
        collapsed.discard(biggest)
    return frozenset(collapsed)
