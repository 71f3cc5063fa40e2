"""Feature maps: the activations of chosen graph nodes on one image, in one forward pass.

``FeatureExtractor`` runs a model that the ``ModelRunner`` has loaded (so it shares the runner's
weights cache and device) and returns a ``LayerActivation`` per requested node: the values on
the CPU, per-channel statistics and display normalisation.

How a capture works, for a network that ``torch.fx`` traces (every curated model):

- the loaded model is traced once with the analysis' own tracer, and ``graph.fx_layer_names``
  maps the fx nodes to the layer names of ``analyze(model).graph``, so that every graph node
  qualifies, functional ones too (``add``, ``cat``, ``relu``);
- for a set of wanted nodes the graph is rewritten to return a ``clone`` of each, taken right
  where the node is computed (an in-place ReLU or ``+=`` further on cannot change it), and dead
  code after the last wanted node is removed: the forward stops there, and the generated code
  frees every other intermediate as soon as it is used, so memory stays bounded;
- results are cached per (model, weights, image): asking for a layer that is already there
  does not run the network again.

A model that fx cannot trace falls back to forward hooks, which reach module calls only.
"""

from __future__ import annotations

import difflib
import math
import os
import threading
from collections import OrderedDict
from collections.abc import Generator, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor, fx, nn

from explorer.core import usercode
from explorer.core.errors import ExplorerError
from explorer.core.graph import INPUT_NAME, fx_layer_names, trace
from explorer.core.weights import canonical_key

if TYPE_CHECKING:
    from explorer.core.analysis import ModelSummary
    from explorer.core.runner import ModelRunner, RunnerProgress
    from explorer.core.stats import LayerStats

NORMALISE_MODES = ("channel", "layer")
DEFAULT_CACHE_BYTES = 512 * 2**20
TRACED_MODELS = 4  # traces kept (each holds its model)


class UnknownLayerError(ExplorerError):
    """A layer name that is not in the model's graph (with close matches as the hint)."""


@dataclass(frozen=True)
class ChannelStats:
    index: int
    min: float
    max: float
    mean: float
    #: The fraction of values a ReLU sets to zero (≤ 0): after a ReLU, the fraction of zeros.
    zero_fraction: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "min": self.min,
            "max": self.max,
            "mean": self.mean,
            "zero_fraction": self.zero_fraction,
        }


@dataclass(frozen=True, eq=False)
class LayerActivation:
    """One node's output for one image (batch dimension removed), on the CPU."""

    layer: str
    values: np.ndarray  # float32: (C, H, W) for a feature map, (C,) for a vector
    channels: tuple[ChannelStats, ...]

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.values.shape)

    @property
    def nbytes(self) -> int:
        return int(self.values.nbytes)

    @classmethod
    def from_tensor(cls, layer: str, tensor: Tensor) -> LayerActivation:
        """``tensor`` without its batch dimension; channels are its first axis."""
        values = tensor.detach().to("cpu", torch.float32)
        if values.dim() == 0:
            values = values.reshape(1)
        flat = values.reshape(values.shape[0], -1)
        minimum, maximum = flat.amin(dim=1).tolist(), flat.amax(dim=1).tolist()
        mean = flat.mean(dim=1).tolist()
        zeros = (flat <= 0).float().mean(dim=1).tolist()
        channels = tuple(
            ChannelStats(i, lo, hi, mu, z) for i, (lo, hi, mu, z) in enumerate(zip(minimum, maximum, mean, zeros))
        )
        return cls(layer, values.numpy(), channels)

    def normalised(self, mode: str = "channel") -> np.ndarray:
        """Values scaled to [0, 1]: each channel to its own range, or all to the layer's range.

        A constant channel (or layer) maps to 0.
        """
        if mode not in NORMALISE_MODES:
            raise ExplorerError(f"Unknown normalisation {mode!r}; use {' or '.join(NORMALISE_MODES)}.")
        values = self.values
        if mode == "layer" or values.ndim == 1:
            lo, hi = float(values.min()), float(values.max())
            span = hi - lo
            return ((values - lo) / span if span > 0 else np.zeros_like(values)).astype(np.float32)
        flat = values.reshape(values.shape[0], -1)
        lo = flat.min(axis=1, keepdims=True)
        span = flat.max(axis=1, keepdims=True) - lo
        scaled = np.divide(flat - lo, span, out=np.zeros_like(flat), where=span > 0)
        return scaled.reshape(values.shape).astype(np.float32, copy=False)

    def order_by_strength(self) -> list[int]:
        """Channel indices, strongest (highest mean activation) first; ties keep index order."""
        return sorted(range(len(self.channels)), key=lambda i: (-self.channels[i].mean, i))

    def to_dict(self, *, channels: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"layer": self.layer, "shape": list(self.shape)}
        if channels:
            out["channels"] = [c.to_dict() for c in self.channels]
        return out


# --- receptive field mapping ---------------------------------------------------------------------


def receptive_box(
    stats: LayerStats, row: int, col: int, input_hw: tuple[int, int] | None = None
) -> tuple[int, int, int, int]:
    """The input pixels that output position (row, col) of ``stats``' layer sees.

    Returns (top, left, bottom, right), inclusive pixel indices. In the core's convention input
    pixel p spans [p, p + 1); along each axis unit i sees ``stats.unit_interval(axis, i)``: its
    field of ``receptive_field`` pixels centred on ``start + i × jump``, or, behind an adaptive pool
    whose windows differ, exactly the windows it reads. With ``input_hw`` the box is clipped to the
    image, and near the border to the pixels the layer's units really see (some are reached only
    through padding units, e.g. when a pooling rounds down and drops the last unit before it);
    without, it may reach into the padding (negative or past the edge).
    """
    rank = len(stats.receptive_field_hw)
    box = []
    for axis, index in zip((0, 1) if rank >= 2 else (0, 0), (row, col)):
        if rank == 0:
            low, high = 0.0, 1.0
        else:
            low, high = stats.unit_interval(axis, index, padding=input_hw is None)
        first = math.floor(low + 0.5)  # the field's edges are whole pixels; rounding absorbs float error
        box.append((first, math.floor(high + 0.5) - 1))
    (top, bottom), (left, right) = box
    if input_hw is not None:
        height, width = input_hw
        top, bottom = max(top, 0), min(bottom, height - 1)
        left, right = max(left, 0), min(right, width - 1)
    return top, left, bottom, right


# --- Inception and residual branch views ---------------------------------------------------------


@dataclass(frozen=True)
class BranchView:
    """The nodes that show how a block combines its branches, in display order.

    ``kind`` is "inception" (each branch's output, then the ``cat``) or "residual" (block
    input, residual branch, shortcut, sum, then the activation after the sum when there is one).
    ``items`` are (title, node name); a node may appear twice (an identity shortcut is the
    block input).
    """

    kind: str
    block: str
    items: tuple[tuple[str, str], ...]
    merge: str  # the cat or add node


def _block_of(summary: ModelSummary, path: str) -> str:
    graph = summary.graph
    if path in graph:
        node = graph.node(path)
        if node.op in {"cat", "add", "iadd", "add_"}:
            return node.scope
    return path


def branch_layers(summary: ModelSummary, path: str) -> BranchView | None:
    """The branch view of block ``path`` (an Inception module, a residual block), else None.

    ``path`` may also name the block's ``cat`` or ``add`` node.
    """
    graph = summary.graph
    block = _block_of(summary, path)
    inside = graph.nodes_under(block) if block else []
    if not inside:
        return None
    names = {n.name for n in inside}
    cats = [n for n in inside if n.op == "cat" and n.scope == block and len(n.inputs) >= 2]
    if cats:
        merge = cats[-1]
        items = [(_branch_title(graph, names, source, i), source) for i, source in enumerate(merge.inputs, 1)]
        return BranchView("inception", block, (*items, (f"{merge.name} (concatenated)", merge.name)), merge.name)
    adds = [n for n in inside if n.op in {"add", "iadd", "add_"} and n.scope == block and len(n.inputs) == 2]
    if not adds:
        return None
    merge = adds[-1]
    outside = [p for n in inside for p in n.inputs if p not in names]
    if not outside:
        return None
    block_input = outside[0]
    # The shortcut is the input reached from the block input in fewer steps (identity: none).
    branch, shortcut = sorted(merge.inputs, key=lambda n: _steps_from(graph, names, n, block_input), reverse=True)
    projection = shortcut != block_input
    items = [
        ("block input", block_input),
        ("residual branch", branch),
        ("shortcut (projection)" if projection else "shortcut (identity)", shortcut),
        ("sum", merge.name),
    ]
    after = [s for s in graph.successors(merge.name) if s in names]
    if len(after) == 1 and graph.node(after[0]).kind == "activation":
        items.append((f"after {graph.node(after[0]).op}", after[0]))
    return BranchView("residual", block, tuple(items), merge.name)


def _steps_from(graph: Any, names: set[str], node: str, source: str) -> int:
    """How many block nodes lie on the longest path from ``source`` to ``node`` (0: it is the source)."""
    steps = 0
    while node != source and node in names:
        inputs = graph.node(node).inputs
        if not inputs:
            break
        node = inputs[0]
        steps += 1
    return steps


def _branch_title(graph: Any, names: set[str], output: str, index: int) -> str:
    """'branch 2: 1×1 → 3×3' from the kernels on the path that ends at ``output``."""
    parts: list[str] = []
    node = output
    while node in names:
        layer = graph.node(node)
        module = graph.module(layer)
        kernel = getattr(module, "kernel_size", None)
        if kernel is not None:
            k = kernel if isinstance(kernel, tuple) else (kernel, kernel)
            size = "×".join(str(v) for v in k)
            parts.append(f"{size} pool" if layer.kind == "pool" else size)
        if not layer.inputs:
            break
        node = layer.inputs[0]
    return f"branch {index}: " + " → ".join(reversed(parts)) if parts else f"branch {index}"


@dataclass(frozen=True)
class LayerSelection:
    """What a layer name or module path asked of the feature views stands for.

    A graph node is itself; an Inception module or a residual block is its branch view; any
    other module path (``features.3``, ``_blocks.3``, ``layer1``) is its output node.
    """

    asked: str
    nodes: tuple[str, ...]  # the graph nodes to capture, in display order
    branch: BranchView | None = None
    output: str | None = None  # the node shown for it when there is no branch view

    @property
    def shown(self) -> str:
        return self.output or (self.branch.items[-1][1] if self.branch else self.asked)


def module_output(summary: ModelSummary, path: str) -> str | None:
    """The node whose tensor leaves the module at ``path`` (its last one read from outside), or None."""
    graph = summary.graph
    inside = graph.nodes_under(path) if path else []
    if not inside:
        return None
    names = {node.name for node in inside}
    leaving = [
        node.name for node in inside
        if node.name in graph.outputs or any(successor not in names for successor in graph.successors(node.name))
    ]  # fmt: skip
    return (leaving or [inside[-1].name])[-1]


def select_layer(summary: ModelSummary, name: str) -> LayerSelection:
    """A node, a block's branch view, or a module's output; ``UnknownLayerError`` for anything else."""
    name = name.strip()
    if name in summary.graph:
        return LayerSelection(name, (name,))
    branch = branch_layers(summary, name)
    if branch is not None:
        return LayerSelection(name, tuple(dict.fromkeys(node for _title, node in branch.items)), branch=branch)
    output = module_output(summary, name)
    if output is not None:
        return LayerSelection(name, (output,), output=output)
    check_layers(summary, [name])
    raise AssertionError("check_layers raises for a name it does not know")  # pragma: no cover


# --- capture -------------------------------------------------------------------------------------


class _Traced:
    """A loaded model's fx graph, with its layer names, and capture modules per set of layers."""

    def __init__(self, net: nn.Module, example: Tensor) -> None:
        self.net = net
        self.graph = trace(net)
        meta = torch.empty(example.shape, device="meta", dtype=example.dtype)
        names = fx_layer_names(net, self.graph, meta)
        self.by_layer = {layer: node for node, layer in names.items()}
        self._modules: OrderedDict[frozenset[str], fx.GraphModule] = OrderedDict()

    def module_for(self, layers: frozenset[str]) -> fx.GraphModule:
        module = self._modules.get(layers)
        if module is None:
            module = self._build(layers)
            self._modules[layers] = module
            while len(self._modules) > 8:
                self._modules.popitem(last=False)
        self._modules.move_to_end(layers)
        return module

    def _build(self, layers: frozenset[str]) -> fx.GraphModule:
        graph = fx.Graph()
        env: dict[fx.Node, fx.Node] = {}
        wanted = {self.by_layer[layer]: layer for layer in layers}
        captured: dict[str, fx.Node] = {}
        for node in self.graph.nodes:
            if node.op == "output":
                continue
            env[node] = graph.node_copy(node, lambda n: env[n])
            if node.name in wanted:
                captured[wanted[node.name]] = graph.call_method("clone", (env[node],))
        graph.output({layer: captured[layer] for layer in sorted(captured)})
        module = fx.GraphModule(self.net, graph)
        module.graph.eliminate_dead_code()  # nothing after the last wanted node runs
        module.recompile()
        return module


@dataclass
class _ImageEntry:
    crop: Image.Image
    tensor: Tensor
    activations: dict[str, LayerActivation]

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.activations.values())


def image_cache_key(image: str | os.PathLike[str]) -> tuple[str, int, int]:
    """An image file's identity for caches: its path, changed time and size (an edited file is new)."""
    path = Path(image)
    try:
        stat = path.stat()
    except OSError:
        return str(path), 0, 0  # load_image reports the error
    return str(path.resolve()), stat.st_mtime_ns, stat.st_size


class FeatureExtractor:
    """Captures chosen nodes' activations through a ``ModelRunner``'s loaded models.

    Thread-safe: one capture runs at a time (the GUI's panes share one extractor).
    """

    def __init__(self, runner: ModelRunner, *, cache_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.runner = runner
        self.cache_bytes = cache_bytes
        self.forward_passes = 0  # how many times the network ran (the cache's effect is visible)
        self._lock = threading.RLock()
        # Per (model, weights): the trace of the runner's loaded module (None: not traceable).
        # Bounded, because a trace keeps its module alive after the runner has evicted it.
        self._traced: OrderedDict[tuple[str, str], tuple[nn.Module, _Traced | None]] = OrderedDict()
        self._images: OrderedDict[tuple[Any, ...], _ImageEntry] = OrderedDict()

    # -- public ---------------------------------------------------------------------------------

    def capture(
        self,
        model: str,
        image: str | os.PathLike[str],
        layers: Iterable[str],
        *,
        weights: str | None = None,
        summary: ModelSummary | None = None,
    ) -> Generator[RunnerProgress, None, dict[str, LayerActivation]]:
        """Each of ``layers`` (graph node names) on ``image``, in the order asked.

        Loads the model through the runner first (yielding its progress); uncached torchvision
        weights raise ``WeightsUnavailableError`` as the runner does. Unknown names raise
        ``UnknownLayerError`` with close matches. Nodes already captured for this (model,
        weights, image) come from the cache without a forward pass.
        """
        from explorer.core.runner import RunnerProgress

        from explorer.core.runner import require_image_model

        layers = list(dict.fromkeys(layers))
        require_image_model(model, "features")
        if summary is None:
            from explorer.core.analysis import analyze

            summary = analyze(model)
        check_layers(summary, layers)
        loaded = yield from self.runner.load(model, weights)
        key = (model, loaded.key, image_cache_key(image))
        with self._lock:
            entry = self._images.get(key)
            if entry is None:
                crop, tensor = self.runner.preprocess(model, image, loaded.key)
                entry = _ImageEntry(crop, tensor, {})
            missing = [layer for layer in layers if layer not in entry.activations]
            if missing:
                yield RunnerProgress("features", 0, 1, f"Running {model} to {', '.join(missing[:3])}{'…' * (len(missing) > 3)}")
                entry.activations.update(self._forward(model, loaded.key, entry.tensor, missing))
            self._images[key] = entry
            self._images.move_to_end(key)
            self._evict(keep=key)
            yield RunnerProgress("features", 1, 1, f"Captured {len(layers)} layer{'s' * (len(layers) != 1)} of {model}")
            return {layer: entry.activations[layer] for layer in layers}

    def capture_all(self, *args: Any, **kwargs: Any) -> dict[str, LayerActivation]:
        from explorer.core.runner import drain

        return drain(self.capture(*args, **kwargs))

    def crop(self, model: str, image: str | os.PathLike[str], weights: str | None = None) -> Image.Image:
        """The crop the network saw for ``image`` (from the cache when it was captured)."""
        key = canonical_key(model, weights)
        with self._lock:
            entry = self._images.get((model, key, image_cache_key(image)))
        return entry.crop if entry is not None else self.runner.preprocess(model, image, key)[0]

    def clear(self) -> None:
        with self._lock:
            self._images.clear()
            self._traced.clear()

    @property
    def cached_bytes(self) -> int:
        with self._lock:
            return sum(entry.nbytes for entry in self._images.values())

    # -- internals ------------------------------------------------------------------------------

    def _forward(self, model: str, key: str, tensor: Tensor, layers: Sequence[str]) -> dict[str, LayerActivation]:
        net = self.runner.on_device(model, key)
        batch = tensor.unsqueeze(0).to(self.runner.device)
        from explorer.core.runner import forward_failed

        try:
            with usercode.guard(model, "the forward pass"):
                traced = self._trace(model, key, net, batch)
                with torch.inference_mode():
                    outputs = self._run(traced, net, batch, layers)
        except ExplorerError:
            raise
        except Exception as error:
            if not usercode.is_user_reference(model):
                raise
            raise forward_failed(model, "features", batch, error) from None
        self.forward_passes += 1
        return {layer: LayerActivation.from_tensor(layer, outputs[layer][0]) for layer in layers}

    def _trace(self, model: str, key: str, net: nn.Module, batch: Tensor) -> _Traced | None:
        slot = (model, key)
        cached = self._traced.get(slot)
        if cached is None or cached[0] is not net:  # new, or the runner reloaded the model
            try:
                traced: _Traced | None = _Traced(net, batch)
            except Exception:  # not fx-traceable: forward hooks reach the module calls
                traced = None
            self._traced[slot] = cached = (net, traced)
        self._traced.move_to_end(slot)
        while len(self._traced) > TRACED_MODELS:
            self._traced.popitem(last=False)
        return cached[1]

    @staticmethod
    def _run(traced: _Traced | None, net: nn.Module, batch: Tensor, layers: Sequence[str]) -> dict[str, Tensor]:
        if INPUT_NAME in layers:
            extra = {INPUT_NAME: batch.clone()}
            layers = [layer for layer in layers if layer != INPUT_NAME]
        else:
            extra = {}
        if not layers:
            return extra
        if traced is not None:
            return {**traced.module_for(frozenset(layers))(batch), **extra}
        return {**_run_with_hooks(net, batch, layers), **extra}

    def _evict(self, *, keep: tuple[Any, ...]) -> None:
        while len(self._images) > 1 and sum(e.nbytes for e in self._images.values()) > self.cache_bytes:
            oldest = next(iter(self._images))
            if oldest == keep:
                break
            del self._images[oldest]


def _run_with_hooks(net: nn.Module, batch: Tensor, layers: Sequence[str]) -> dict[str, Tensor]:
    """Module outputs by forward hook (``path`` or ``path:N`` for the N-th call of a shared module)."""
    wanted: dict[str, set[int]] = {}
    for layer in layers:
        path, _, call = layer.partition(":")
        wanted.setdefault(path, set()).add(int(call) if call.isdigit() else 1)
    modules = dict(net.named_modules())
    unreachable = [layer for layer in layers if layer.partition(":")[0] not in modules]
    if unreachable:
        raise ExplorerError(
            f"This model cannot be traced, so only module layers can be captured, not {', '.join(unreachable)}."
        )
    outputs: dict[str, Tensor] = {}
    calls: dict[str, int] = {}

    def hook_for(path: str) -> Any:
        def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
            calls[path] = calls.get(path, 0) + 1
            if calls[path] in wanted[path] and isinstance(output, Tensor):
                name = path if calls[path] == 1 else f"{path}:{calls[path]}"
                outputs[name] = output.clone()

        return hook

    handles = [modules[path].register_forward_hook(hook_for(path)) for path in wanted]
    try:
        net(batch)
    finally:
        for handle in handles:
            handle.remove()
    return outputs


def check_layers(summary: ModelSummary, layers: Iterable[str]) -> None:
    """Raise ``UnknownLayerError`` (with close matches, module paths too) for a name not in the graph."""
    names = summary.graph.names
    known = set(names)
    for layer in layers:
        if layer not in known:
            close = difflib.get_close_matches(layer, [*names, *summary.graph.module_paths()], n=5, cutoff=0.5)
            hint = f"Did you mean {', '.join(close)}?" if close else f"`cnn-explorer summary {summary.model}` lists the layers."
            raise UnknownLayerError(f"{summary.model} has no layer named {layer!r}.", hint=hint)


# --- channel grid images (for the CLI; the GUI paints with pyqtgraph) ------------------------

# matplotlib's viridis at 16 evenly spaced points; linear interpolation between them stays
# within about 1/255 of the full table.
_VIRIDIS_ANCHORS = np.array(
    [
        (68, 1, 84), (72, 26, 108), (71, 47, 125), (65, 68, 135), (57, 86, 140), (49, 104, 142),
        (42, 120, 142), (35, 136, 142), (31, 152, 139), (34, 168, 132), (53, 183, 121),
        (84, 197, 104), (122, 209, 81), (165, 219, 54), (210, 226, 27), (253, 231, 37),
    ],
    dtype=np.float32,
)


def viridis(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] → uint8 RGB (an extra last axis of 3)."""
    position = np.clip(values, 0.0, 1.0) * (len(_VIRIDIS_ANCHORS) - 1)
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, len(_VIRIDIS_ANCHORS) - 1)
    weight = (position - low)[..., None]
    rgb = _VIRIDIS_ANCHORS[low] * (1 - weight) + _VIRIDIS_ANCHORS[high] * weight
    return np.rint(rgb).astype(np.uint8)


def grid_columns(count: int) -> int:
    return max(1, math.ceil(math.sqrt(count)))


def tile_channels(
    values: np.ndarray, channels: Sequence[int], *, columns: int | None = None, padding: int = 1
) -> np.ndarray:
    """``values[channels]`` (C, H, W) laid out row by row as one float32 mosaic; padding is NaN.

    Tile k sits at row ``k // columns``, column ``k % columns``, its top-left corner at
    ``(padding + row × (H + padding), padding + column × (W + padding))``. A vector (C,) is one
    tile of 1 × C.
    """
    if values.ndim == 1:
        values, channels = values.reshape(1, 1, -1), [0]
    elif values.ndim != 3:
        values = values.reshape(values.shape[0], 1, -1)
    channels = list(channels)
    columns = columns or grid_columns(len(channels))
    rows = max(1, math.ceil(len(channels) / columns))
    height, width = values.shape[1:]
    mosaic = np.full((rows * (height + padding) + padding, columns * (width + padding) + padding), np.nan, np.float32)
    for slot, channel in enumerate(channels):
        r, c = divmod(slot, columns)
        top, left = padding + r * (height + padding), padding + c * (width + padding)
        mosaic[top : top + height, left : left + width] = values[channel]
    return mosaic


def channel_grid(
    activation: LayerActivation,
    *,
    mode: str = "channel",
    order: Sequence[int] | None = None,
    padding: int = 1,
    scale: int | None = None,
) -> Image.Image:
    """Every channel as a tile (``tile_channels``), viridis-coloured, on a dark background.

    ``scale`` enlarges small maps (default: tiles at least 32 pixels tall).
    """
    values = activation.normalised(mode)
    order = list(order) if order is not None else list(range(values.shape[0] if values.ndim > 1 else 1))
    height = values.shape[1] if values.ndim == 3 else 1
    if scale is None:
        scale = max(1, math.ceil(32 / height)) if height < 32 else 1
    mosaic = tile_channels(values, order, padding=padding)
    rgb = viridis(np.nan_to_num(mosaic))
    rgb[np.isnan(mosaic)] = 24
    if scale > 1:
        rgb = rgb.repeat(scale, axis=0).repeat(scale, axis=1)
    return Image.fromarray(rgb, "RGB")


# --- a layer's weights (the layer panel's histogram and first-layer filters) --------------------


def weight_histogram(weights: np.ndarray, bins: int = 80, value_range: tuple[float, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(counts, edges) of every value of ``weights``; ``value_range`` to share bins across two tensors."""
    flat = np.asarray(weights, dtype=np.float64).ravel()
    return np.histogram(flat, bins=bins, range=value_range)


def filter_tiles(weight: np.ndarray, *, padding: int = 1, columns: int | None = None) -> np.ndarray | None:
    """A first convolution's kernels (out, 3, k, k) as one RGB mosaic (H, W, 3) of floats in [0, 1].

    Each filter is scaled on its own, symmetrically around zero (0.5 is a zero weight), as in
    the AlexNet paper's figure 3. None unless the layer sees exactly three input channels.
    """
    if weight.ndim != 4 or weight.shape[1] != 3:
        return None
    count, _, height, width = weight.shape
    columns = columns or grid_columns(count)
    rows = math.ceil(count / columns)
    mosaic = np.full((rows * (height + padding) + padding, columns * (width + padding) + padding, 3), 1.0, np.float32)
    for index in range(count):
        kernel = weight[index].transpose(1, 2, 0)  # k × k × RGB
        scale = float(np.abs(kernel).max()) or 1.0
        r, c = divmod(index, columns)
        top, left = padding + r * (height + padding), padding + c * (width + padding)
        mosaic[top : top + height, left : left + width] = 0.5 + 0.5 * kernel / scale
    return mosaic
