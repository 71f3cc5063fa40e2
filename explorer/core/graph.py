"""LayerGraph: the dataflow of a model, one node per leaf module call and per functional op.

Two ways to get it, tried in order:

1. ``torch.fx`` symbolic tracing, with every childless module as a leaf, then shape
   propagation on the meta device (exact rules for the common layers, see ``layers.py``);
2. for models fx cannot trace (data-dependent control flow, …): running the model on meta
   tensors under a ``TorchFunctionMode`` plus module hooks, recording the ops that actually run.

Both give the same node names: a module call is named by its module path (``layer1.0.conv1``;
a second call of the same module ``layer1.0.relu:2``), and a functional op by its enclosing
module and op (``layer1.0.add``, ``inception3a.cat``, top-level ``flatten``).
"""

from __future__ import annotations

import contextlib
import functools
from copy import deepcopy
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import torch
from torch import fx, nn
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten

from explorer.core.errors import ExplorerError
from explorer.core.layers import (
    EmptyOutputError,
    Shape,
    function_kind,
    function_output_shape,
    module_kind,
    module_output_shape,
    op_name,
)

INPUT_NAME = "input"
#: Joins the first and last part of a range of one module's parts: ``inception4a…inception4e``.
RANGE_MARK = "…"
_NO_ARGS: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True)
class LayerNode:
    name: str
    op: str  # the module's class name (``Conv2d``) or the op's name (``add``, ``cat``)
    kind: str  # see layers.KINDS
    inputs: tuple[str, ...]
    input_shapes: tuple[Shape, ...]  # without the batch dimension
    output_shape: Shape  # without the batch dimension
    module_path: str | None = None  # set for module calls
    scope: str = ""  # the enclosing module's path ("" at top level)
    call_index: int = 1  # > 1 when a shared module is called again
    arguments: Mapping[str, Any] = field(default_factory=lambda: _NO_ARGS, compare=False)  # a functional op's constants
    parameters: tuple[str, ...] = ()  # qualified names of the parameters this node counts

    @property
    def path(self) -> str:
        """Where the node sits in the module nesting: what a view groups and collapses by."""
        return self.module_path if self.module_path is not None else self.name

    @property
    def is_module(self) -> bool:
        return self.module_path is not None


@dataclass(frozen=True)
class LayerGraph:
    nodes: tuple[LayerNode, ...]  # topological order; nodes[0] is the input
    outputs: tuple[str, ...]  # the nodes whose tensors the model returns
    method: str  # "fx" or "recorded"
    model: nn.Module = field(repr=False, compare=False)
    modules: Mapping[str, nn.Module] = field(default_factory=dict, repr=False, compare=False)
    _index: Mapping[str, int] = field(init=False, repr=False, compare=False)
    _successors: Mapping[str, tuple[str, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index = {node.name: i for i, node in enumerate(self.nodes)}
        successors: dict[str, list[str]] = defaultdict(list)
        for node in self.nodes:
            for source in node.inputs:
                successors[source].append(node.name)
        object.__setattr__(self, "_index", MappingProxyType(index))
        object.__setattr__(self, "_successors", MappingProxyType({k: tuple(v) for k, v in successors.items()}))

    def __len__(self) -> int:
        return len(self.nodes)

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def node(self, name: str) -> LayerNode:
        return self.nodes[self._index[name]]

    def index(self, name: str) -> int:
        return self._index[name]

    @property
    def names(self) -> list[str]:
        return [node.name for node in self.nodes]

    @property
    def edges(self) -> list[tuple[str, str]]:
        """(producer, consumer) pairs; each edge carries the producer's output tensor."""
        return [(source, node.name) for node in self.nodes for source in node.inputs]

    def predecessors(self, name: str) -> tuple[str, ...]:
        return self.node(name).inputs

    def successors(self, name: str) -> tuple[str, ...]:
        return self._successors.get(name, ())

    def module_paths(self) -> list[str]:
        """Every module path that contains at least one node, parents before children."""
        paths: dict[str, None] = {}
        for node in self.nodes:
            parts = node.path.split(".")
            for depth in range(1, len(parts)):
                paths.setdefault(".".join(parts[:depth]), None)
        return list(paths)

    def nodes_under(self, path: str) -> list[LayerNode]:
        """The nodes inside a module path (``layer1.0``), or inside a range of its parts (``first…last``).

        A range names consecutive parts of one module (see ``units``): ``inception4a…inception4e``
        is GoogLeNet's fourth stage, ``layer3.1…layer3.35`` a run of ResNet-152's blocks. It holds
        the parts from ``first`` to ``last`` in execution order, except side outputs computed in
        between (GoogLeNet's ``aux1``, run after ``inception4a``). A malformed range holds nothing.
        """
        if RANGE_MARK in path:
            return self._range_nodes(path)
        prefix = path + "."
        return [node for node in self.nodes if node.path.startswith(prefix) or node.path == path]

    def units(self, scope: str = "") -> tuple[str, ...]:
        """The parts of module ``scope`` ("" is the model) in execution order: the paths of its
        child modules that hold nodes, and the names of the functional nodes directly in it."""
        return self._scope_units[0].get(scope, ())

    def side_outputs(self, scope: str = "") -> frozenset[str]:
        """The units of ``scope`` that the model's main output does not depend on: side outputs such as
        GoogLeNet's auxiliary heads in train mode (and what packs the outputs into a tuple)."""
        return self._scope_units[1].get(scope, frozenset())

    @functools.cached_property
    def _scope_units(self) -> tuple[Mapping[str, tuple[str, ...]], Mapping[str, frozenset[str]]]:
        units: dict[str, dict[str, None]] = defaultdict(dict)
        for node in self.nodes:
            for scope, unit in _scopes_and_units(node.path):
                units[scope].setdefault(unit, None)
        main = self._main_line()
        trunk: dict[str, set[str]] = defaultdict(set)  # scope → its units on the way to the main output
        for name in main:
            for scope, unit in _scopes_and_units(self.node(name).path):
                trunk[scope].add(unit)
        ordered = {scope: tuple(found) for scope, found in units.items()}
        side = {scope: frozenset(u for u in found if u not in trunk[scope]) for scope, found in ordered.items()}
        return MappingProxyType(ordered), MappingProxyType(side)

    def _main_line(self) -> set[str]:
        """The main output (the first the model returns) and every node it depends on.

        A functional node that only packs several outputs (GoogLeNet's ``GoogLeNetOutputs`` in
        train mode) is not a result itself: its first input is.
        """
        if not self.outputs:
            return {node.name for node in self.nodes}
        main = self.node(self.outputs[0])
        while not main.is_module and main.kind == "other" and len(main.inputs) > 1 and not self.successors(main.name):
            main = self.node(main.inputs[0])
        seen, stack = set(), [main.name]
        while stack:
            name = stack.pop()
            if name not in seen:
                seen.add(name)
                stack.extend(self.node(name).inputs)
        return seen

    def _range_nodes(self, path: str) -> list[LayerNode]:
        first, _, last = path.partition(RANGE_MARK)
        scope = first.rpartition(".")[0]
        units = self.units(scope)
        if scope != last.rpartition(".")[0] or first not in units or last not in units:
            return []
        i, j = units.index(first), units.index(last)
        side = self.side_outputs(scope)
        chosen = {u for u in units[i : j + 1] if u in (first, last) or u not in side}
        return [node for node in self.nodes if dict(_scopes_and_units(node.path)).get(scope) in chosen]

    def module(self, node: LayerNode | str) -> nn.Module | None:
        node = self.node(node) if isinstance(node, str) else node
        if node.module_path is None:
            return None
        module = self.modules.get(node.module_path)
        return module if module is not None else self.model.get_submodule(node.module_path)


def _scopes_and_units(path: str) -> Iterator[tuple[str, str]]:
    """For each module enclosing ``path`` ("" first), the part of it that holds ``path``."""
    parts = path.split(".")
    for depth in range(len(parts)):
        yield ".".join(parts[:depth]), ".".join(parts[: depth + 1])


class GraphBuildError(Exception):
    """Shape propagation failed at a node (internal: analyze() turns it into an ExplorerError)."""

    def __init__(self, node: str, op: str, input_shapes: list[Shape], error: BaseException) -> None:
        super().__init__(f"{node} ({op}): {error}")
        self.node, self.op, self.input_shapes, self.error = node, op, input_shapes, error

    @property
    def is_empty_output(self) -> bool:
        text = str(self.error).lower()
        return isinstance(self.error, EmptyOutputError) or "too small" in text or "output size" in text


# --- helpers shared by both builders -------------------------------------------------------


def is_leaf(module: nn.Module) -> bool:
    """Childless modules and torch's own layers (``MultiheadAttention``) are one node each."""
    if next(iter(module.children()), None) is None:
        return True
    own = type(module).__module__.startswith(("torch.nn", "torch.ao.nn"))
    return own and not isinstance(module, (nn.Sequential, nn.ModuleList, nn.ModuleDict))


class _LeafTracer(fx.Tracer):
    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return is_leaf(m)


def _meta_like(value: Any) -> Any:
    if isinstance(value, torch.Tensor) and value.device.type != "meta":
        return torch.empty_like(value, device="meta")
    return value


def _is_meta_module(module: nn.Module) -> bool:
    tensor = next(iter(module.parameters()), None)
    if tensor is None:
        tensor = next(iter(module.buffers()), None)
    return tensor is None or tensor.device.type == "meta"


def _run_module_on_meta(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if _is_meta_module(module):
        return module(*args, **kwargs)
    state = {name: _meta_like(t) for name, t in [*module.named_parameters(), *module.named_buffers()]}
    return torch.func.functional_call(module, state, args, kwargs)


def _tensors(value: Any) -> list[torch.Tensor]:
    """The tensors in nested tuples, lists and dicts (a plain loop: pytree is 4 ms per ResNet-152)."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for item in value for t in _tensors(item)]
    if isinstance(value, dict):
        return [t for item in value.values() for t in _tensors(item)]
    return []


def _repackages(value: Any, tensor_args: list[torch.Tensor]) -> bool:
    """Is ``value`` a tuple, list or dict holding only tensors it was given (no new tensor)?"""
    if isinstance(value, torch.Tensor):
        return False
    given = {id(t) for t in tensor_args}
    return all(id(t) in given for t in _tensors(value))


def _first_tensor(value: Any) -> torch.Tensor | None:
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (tuple, list)):
        for item in value:
            found = _first_tensor(item)
            if found is not None:
                return found
    return None


#: Positional parameter names of common functional ops, so the panel says ``dim`` and not ``arg1``.
_POOL_ARGUMENTS = ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode")
_ARGUMENT_NAMES: dict[str, tuple[str, ...]] = {
    "cat": ("tensors", "dim"),
    "stack": ("tensors", "dim"),
    "flatten": ("input", "start_dim", "end_dim"),
    "adaptive_avg_pool2d": ("input", "output_size"),
    "adaptive_max_pool2d": ("input", "output_size"),
    "max_pool2d": _POOL_ARGUMENTS,
    "avg_pool2d": _POOL_ARGUMENTS,
    "dropout": ("input", "p", "training", "inplace"),
    "relu": ("input", "inplace"),
    "mean": ("input", "dim", "keepdim"),
    "view": ("input", "size"),
    "reshape": ("input", "shape"),
    "permute": ("input", "dims"),
    "transpose": ("input", "dim0", "dim1"),
    "interpolate": ("input", "size", "scale_factor", "mode"),
}


def _constants(args: tuple[Any, ...], kwargs: Mapping[str, Any], arg_names: tuple[str, ...] = ()) -> Mapping[str, Any]:
    """The non-tensor arguments of a functional op (``dim=1``, ``kernel_size=3``)."""
    out: dict[str, Any] = {}
    for i, value in enumerate(args):
        if not isinstance(value, (torch.Tensor, fx.Node, list, tuple)) or (
            isinstance(value, (list, tuple)) and not any(isinstance(v, (torch.Tensor, fx.Node)) for v in value)
        ):
            out[arg_names[i] if i < len(arg_names) else f"arg{i}"] = value
    for key, value in kwargs.items():
        if not isinstance(value, (torch.Tensor, fx.Node)):
            out[key] = value
    return MappingProxyType(out)


class _Namer:
    """Unique, readable node names."""

    def __init__(self) -> None:
        self.used: set[str] = {INPUT_NAME}
        self.calls: dict[str, int] = defaultdict(int)

    def module(self, path: str) -> tuple[str, int]:
        self.calls[path] += 1
        count = self.calls[path]
        name = path if count == 1 else f"{path}:{count}"
        return self._unique(name), count

    def function(self, scope: str, op: str) -> str:
        base = f"{scope}.{op}" if scope else op
        return self._unique(base)

    def _unique(self, base: str) -> str:
        name, n = base, 0
        while name in self.used:
            n += 1
            name = f"{base}_{n}"
        self.used.add(name)
        return name


def _input_node(x: torch.Tensor) -> LayerNode:
    return LayerNode(INPUT_NAME, "Input", "input", (), (), tuple(x.shape[1:]))


def _shape(t: torch.Tensor) -> Shape:
    return tuple(int(d) for d in t.shape[1:])


# --- builder 1: torch.fx -------------------------------------------------------------------


def trace(model: nn.Module) -> fx.Graph:
    """Symbolically trace ``model`` in its current train/eval mode (no arithmetic)."""
    return _LeafTracer().trace(model)


#: ``adapt(module_path, module, input_shapes)`` → the module to run there (what-if edits use it to
#: make a layer fit the channels it now receives; ``input_shapes`` include the batch dimension).
Adapter = Callable[[str, nn.Module, list[Shape]], nn.Module]


def graph_from_fx(model: nn.Module, traced: fx.Graph, x: torch.Tensor, *, adapt: Adapter | None = None) -> LayerGraph:
    """Propagate ``x`` (a meta tensor with batch dimension) through ``traced`` and build nodes."""
    return _graph_and_names_from_fx(model, traced, x, adapt)[0]


def graph_and_layer_names(
    model: nn.Module, traced: fx.Graph, x: torch.Tensor, *, adapt: Adapter | None = None
) -> tuple[LayerGraph, dict[str, str]]:
    """``graph_from_fx`` and ``fx_layer_names`` from one propagation."""
    return _graph_and_names_from_fx(model, traced, x, adapt)


def fx_layer_names(model: nn.Module, traced: fx.Graph, x: torch.Tensor) -> dict[str, str]:
    """fx node name → the LayerNode name ``graph_from_fx`` gives it, for the nodes that become layers.

    The placeholder maps to ``input``; size/shape arithmetic and other non-tensor nodes are absent.
    Code that runs ``traced`` for real (feature capture) uses this, so its names are the graph's.
    """
    return _graph_and_names_from_fx(model, traced, x)[1]


def _graph_and_names_from_fx(
    model: nn.Module, traced: fx.Graph, x: torch.Tensor, adapt: Adapter | None = None
) -> tuple[LayerGraph, dict[str, str]]:
    namer = _Namer()
    layer_names: dict[str, str] = {}
    values: dict[fx.Node, Any] = {}
    producers: dict[fx.Node, tuple[str, ...]] = {}
    pending_params: dict[fx.Node, tuple[str, ...]] = {}
    counted: set[str] = set()
    nodes: list[LayerNode] = []
    outputs: tuple[str, ...] = ()
    modules = dict(model.named_modules())

    def lookup(arg: Any) -> Any:
        return fx.node.map_arg(arg, lambda n: values[n])

    for fx_node in traced.nodes:
        op = fx_node.op
        if op == "placeholder":
            if fx_node.name != next(iter(traced.nodes)).name:
                values[fx_node] = fx_node.args[0] if fx_node.args else None  # defaulted extra argument
                producers[fx_node] = ()
                continue
            values[fx_node] = x
            producers[fx_node] = (INPUT_NAME,)
            layer_names[fx_node.name] = INPUT_NAME
            nodes.append(_input_node(x))
            continue
        if op == "output":
            flat, _ = tree_flatten(fx_node.args[0])
            outputs = tuple(dict.fromkeys(p for n in flat if isinstance(n, fx.Node) for p in producers[n]))
            continue
        if op == "get_attr":
            attribute = _get_attr(model, fx_node.target)
            values[fx_node] = _meta_like(attribute)
            producers[fx_node] = ()
            if isinstance(attribute, nn.Parameter):
                pending_params[fx_node] = (fx_node.target,)
            continue

        input_nodes = fx_node.all_input_nodes
        inputs = tuple(dict.fromkeys(p for n in input_nodes for p in producers[n]))
        params = tuple(p for n in input_nodes for p in pending_params.get(n, ()) if p not in counted)
        args, kwargs = lookup(fx_node.args), lookup(fx_node.kwargs)
        tensor_args = _tensors((args, kwargs))
        input_shapes = [tuple(t.shape) for t in tensor_args]

        if op == "call_module":
            module = modules[fx_node.target]
            if adapt is not None:
                module = modules[fx_node.target] = adapt(fx_node.target, module, input_shapes)
            label, kind = type(module).__name__, module_kind(module)
            name, call_index = namer.module(fx_node.target)
            try:
                shape = module_output_shape(module, input_shapes, name) if not kwargs else None
                value = (
                    _run_module_on_meta(module, args, kwargs)
                    if shape is None
                    else torch.empty(shape, device="meta", dtype=tensor_args[0].dtype)
                )
            except Exception as error:
                raise GraphBuildError(name, label, input_shapes, error) from error
            if call_index == 1:
                params += tuple(f"{fx_node.target}.{p}" for p, _ in module.named_parameters())
            node_fields: dict[str, Any] = {"module_path": fx_node.target, "call_index": call_index}
            scope = fx_node.target.rpartition(".")[0]
        else:
            label = op_name(fx_node.target)
            try:
                shape = function_output_shape(label, fx_node.target, args, kwargs, input_shapes)
                if shape is not None:
                    value = torch.empty(shape, device="meta", dtype=tensor_args[0].dtype)
                elif op == "call_method":
                    value = getattr(args[0], fx_node.target)(*args[1:], **kwargs)
                else:
                    value = fx_node.target(*args, **kwargs)
            except Exception as error:
                raise GraphBuildError(_scope_of(fx_node) or label, label, input_shapes, error) from error
            output = _first_tensor(value)
            if output is None or not tensor_args or _repackages(value, tensor_args):
                # Sizes, shapes, and containers of tensors already on an edge (GoogLeNet's
                # ``GoogLeNetOutputs`` namedtuple): not layers; consumers inherit the producers.
                values[fx_node], producers[fx_node] = value, inputs
                if params:
                    pending_params[fx_node] = params
                continue
            scope = _scope_of(fx_node)
            name = namer.function(scope, label)
            kind = function_kind(label, len(tensor_args))
            node_fields = {"arguments": _constants(fx_node.args, fx_node.kwargs, _ARGUMENT_NAMES.get(label, ()))}

        output = _first_tensor(value)
        if output is None:
            values[fx_node], producers[fx_node] = value, inputs
            continue
        if output.dim() and any(d == 0 for d in output.shape) and not any(0 in s for s in input_shapes):
            raise GraphBuildError(name, label, input_shapes, EmptyOutputError(f"output {tuple(output.shape[1:])} is empty"))
        counted.update(params)
        values[fx_node], producers[fx_node] = value, (name,)
        layer_names[fx_node.name] = name
        nodes.append(
            LayerNode(
                name=name,
                op=label,
                kind=kind,
                inputs=inputs,
                input_shapes=tuple(s[1:] for s in input_shapes if s),
                output_shape=tuple(int(d) for d in output.shape[1:]),
                scope=scope,
                parameters=params,
                **node_fields,
            )
        )
    return LayerGraph(tuple(nodes), outputs, "fx", model, modules), layer_names


def _get_attr(model: nn.Module, target: str) -> Any:
    owner_path, _, attribute = target.rpartition(".")
    owner = model.get_submodule(owner_path) if owner_path else model
    return getattr(owner, attribute)


def _scope_of(fx_node: fx.Node) -> str:
    stack = fx_node.meta.get("nn_module_stack")
    if not stack:
        return ""
    path = next(reversed(stack.values()))[0]
    return path if isinstance(path, str) else ""


# --- builder 2: recording the ops that run -------------------------------------------------


class _Recorder(TorchFunctionMode):
    """Records leaf-module calls (hooks) and functional ops (this mode) on real tensors."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.namer = _Namer()
        self.nodes: list[LayerNode] = []
        self.producer: dict[int, str] = {}
        self.alive: list[torch.Tensor] = []  # keeps ids unique while recording
        self.scope: list[str] = [""]
        self.leaf_depth = 0
        self.counted: set[int] = set()
        self.param_names = {id(p): n for n, p in model.named_parameters()}

    def track(self, tensor: torch.Tensor, name: str) -> None:
        self.producer[id(tensor)] = name
        self.alive.append(tensor)

    def sources(self, values: Any) -> tuple[tuple[str, ...], list[Shape], tuple[str, ...]]:
        flat = _tensors(values)
        inputs = tuple(dict.fromkeys(self.producer[id(t)] for t in flat if id(t) in self.producer))
        params = []
        for t in flat:
            if isinstance(t, nn.Parameter) and id(t) not in self.counted and id(t) in self.param_names:
                self.counted.add(id(t))
                params.append(self.param_names[id(t)])
        return inputs, [tuple(t.shape) for t in flat if id(t) in self.producer], tuple(params)

    def __torch_function__(self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None) -> Any:
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        if self.leaf_depth:
            return result
        output = _first_tensor(result)
        if output is None:
            return result
        inputs, shapes, params = self.sources((args, kwargs))
        if not inputs:
            return result
        label = op_name(func)
        scope = self.scope[-1]
        name = self.namer.function(scope, label)
        self.nodes.append(
            LayerNode(
                name=name,
                op=label,
                kind=function_kind(label, len(shapes)),
                inputs=inputs,
                input_shapes=tuple(s[1:] for s in shapes),
                output_shape=_shape(output),
                scope=scope,
                arguments=_constants(args, kwargs, _ARGUMENT_NAMES.get(label, ())),
                parameters=params,
            )
        )
        self.track(output, name)
        return result

    @contextlib.contextmanager
    def hooks(self) -> Iterator[None]:
        handles = []
        for path, module in self.model.named_modules():
            if module is self.model:
                continue
            if is_leaf(module):
                handles.append(module.register_forward_pre_hook(self._leaf_pre, with_kwargs=True))
                handles.append(module.register_forward_hook(self._make_leaf_post(path, module), with_kwargs=True))
            else:
                handles.append(module.register_forward_pre_hook(self._make_enter(path)))
                handles.append(module.register_forward_hook(self._exit))
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()

    def _make_enter(self, path: str) -> Any:
        def enter(module: nn.Module, args: Any) -> None:
            self.scope.append(path)

        return enter

    def _exit(self, module: nn.Module, args: Any, output: Any) -> None:
        self.scope.pop()

    def _leaf_pre(self, module: nn.Module, args: Any, kwargs: Any) -> None:
        self.leaf_depth += 1

    def _make_leaf_post(self, path: str, module: nn.Module) -> Any:
        def post(mod: nn.Module, args: Any, kwargs: Any, result: Any) -> None:
            self.leaf_depth -= 1
            output = _first_tensor(result)
            if output is None:
                return
            inputs, shapes, _ = self.sources((args, kwargs))
            name, call_index = self.namer.module(path)
            params = tuple(f"{path}.{n}" for n, p in module.named_parameters() if id(p) not in self.counted)
            self.counted.update(id(p) for p in module.parameters())
            self.nodes.append(
                LayerNode(
                    name=name,
                    op=type(module).__name__,
                    kind=module_kind(module),
                    inputs=inputs,
                    input_shapes=tuple(s[1:] for s in shapes),
                    output_shape=_shape(output),
                    module_path=path,
                    scope=path.rpartition(".")[0],
                    call_index=call_index,
                    parameters=params,
                )
            )
            self.track(output, name)

        return post


def graph_by_recording(model: nn.Module, x: torch.Tensor) -> LayerGraph:
    """Run ``model(x)`` and record what runs (for models that fx cannot trace)."""
    recorder = _Recorder(model)
    recorder.track(x, INPUT_NAME)
    nodes = [_input_node(x)]
    if x.device.type == "meta" and not _is_meta_module(model):
        state = {name: _meta_like(t) for name, t in [*model.named_parameters(), *model.named_buffers()]}

        def run() -> Any:
            return torch.func.functional_call(model, state, (x,))
    else:

        def run() -> Any:
            return model(x)

    with torch.no_grad(), recorder.hooks(), recorder:
        result = run()
    flat = [t for t in tree_flatten(result)[0] if isinstance(t, torch.Tensor)]
    outputs = tuple(dict.fromkeys(recorder.producer[id(t)] for t in flat if id(t) in recorder.producer))
    return LayerGraph(_reaching(nodes + recorder.nodes, outputs), outputs, "recorded", model, dict(model.named_modules()))


def _reaching(nodes: list[LayerNode], outputs: tuple[str, ...]) -> tuple[LayerNode, ...]:
    """Drop what feeds no output: the ``sum`` and ``gt`` of an ``if x.sum() > 0`` test."""
    needed = set(outputs) | {INPUT_NAME}
    for node in reversed(nodes):
        if node.name in needed:
            needed.update(node.inputs)
    return tuple(node for node in nodes if node.name in needed)


def build_graph(model: nn.Module, input_shape: Shape, *, traced: fx.Graph | None = None) -> LayerGraph:
    """The LayerGraph of ``model`` (in its current mode) for one input of ``input_shape``.

    Raises ExplorerError for an input that does not fit (empty output, wrong channels).
    """
    x = torch.empty((1, *input_shape), device="meta")
    first_error: GraphBuildError | None = None
    try:
        return graph_from_fx(model, traced if traced is not None else trace(model), x)
    except GraphBuildError as error:
        if error.is_empty_output:
            raise _input_error(error, input_shape) from error
        first_error = error
    except Exception:  # fx cannot trace this model: record it instead
        pass
    try:
        return graph_by_recording(model, x)
    except Exception as error:
        meta_error: Exception = error
    try:
        # Data-dependent control flow (``if x.sum() > 0``) needs real numbers: run on the CPU.
        return graph_by_recording(_on_cpu(model), torch.zeros((1, *input_shape)))
    except Exception as error:
        if first_error is not None:
            raise _input_error(first_error, input_shape) from error
        raise ExplorerError(
            f"Could not run the model on an input of {_fmt(input_shape)}: {_first_line(meta_error)}"
        ) from error


def _on_cpu(model: nn.Module) -> nn.Module:
    """``model`` itself, or for a meta model a CPU copy with zeroed weights (deterministic)."""
    if not _is_meta_module(model):
        return model
    copy = deepcopy(model).to_empty(device="cpu")
    with torch.no_grad():
        for tensor in [*copy.parameters(), *copy.buffers()]:
            tensor.zero_()
    return copy


def _input_error(error: GraphBuildError, input_shape: Shape) -> ExplorerError:
    shapes = ", ".join(_fmt(s[1:]) for s in error.input_shapes) or "?"
    if error.is_empty_output:
        return ExplorerError(
            f"Input {_fmt(input_shape)} is too small for this network: the output of {error.node} "
            f"({error.op}) becomes empty (its input is {shapes}).",
            hint="Use a larger --input.",
        )
    return ExplorerError(
        f"The model cannot take an input of {_fmt(input_shape)}: {error.node} ({error.op}) "
        f"fails on {shapes}: {_first_line(error.error)}"
    )


def _fmt(shape: Shape) -> str:
    return "×".join(str(d) for d in shape)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
