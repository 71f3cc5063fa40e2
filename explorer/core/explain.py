"""Why did it say that: class activation maps, saliency, occlusion and the effective receptive field.

The attributions are captum's (PyTorch's own interpretability library): ``LayerGradCam``,
``GuidedGradCam``, ``Saliency`` and ``Occlusion``, run on a model that the ``ModelRunner`` has
loaded (its weights cache, its device: CUDA when present, else the CPU). Every call is a
generator yielding ``RunnerProgress``, so a GUI worker can cancel it between steps; occlusion,
the long one, reports every batch of patches and stops at the next batch when closed.

How a map is computed, for a network that ``torch.fx`` traces (every curated model):

- the loaded model is traced once with the analysis' tracer, so layers are named as in the
  graph (``analyze(model).graph``) and any node can be explained, functional ones too (``add``,
  ``cat``, a shared ReLU's second call);
- the traced graph is copied with two changes that leave every forward value as it was: an
  ``nn.Identity`` *tap* after the chosen node (captum's layer methods hook a module; the tap is
  one for any node), and every ReLU and ReLU6 (module or function) gets a module of its own.
  captum's guided backpropagation hooks ``nn.ReLU`` modules only, so ReLU6 becomes
  ``GuidedReLU6`` (an ``nn.ReLU`` subclass computing ReLU6) and is guided too; and no hook ever
  lands on a module the runner shares with the other views;
- the network's output is wrapped as the score of one class (``_ClassScore``): the first
  forward pass picks the class ("top1", "top3", an index or a label) from its own logits, so a
  map costs one forward pass, not two.

The effective receptive field (Luo et al. 2016) of a unit is the gradient of that activation
(one position of a layer's map, one channel or their sum) with respect to the input, on the
user's image. It is non-zero only inside the theoretical field of the analysis
(``features.receptive_box``), and its mass concentrates in a small part of it: ``MassShare``
says how many of the box's pixels hold 50 % and 90 % of the gradient's mass.

Results are cached per (model, weights, image, class, method, layer), bounded by bytes.
"""

from __future__ import annotations

import difflib
import math
import os
import queue
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw
from torch import Tensor, fx, nn

from explorer.core.errors import ExplorerError

# The methods' names live in a torch-free module: the CLI's parser and the GUI read them before torch loads.
from explorer.core.explain_methods import LAYER_METHODS, METHODS  # noqa: F401  (re-exported)
from explorer.core.features import _run_with_hooks, _Traced, check_layers, image_cache_key, module_output, receptive_box, viridis
from explorer.core.graph import INPUT_NAME
from explorer.core.images import CropGeometry, load_image
from explorer.core.layers import function_kind, module_kind, op_name
from explorer.core.runner import Prediction, RunnerProgress, _logits, drain

if TYPE_CHECKING:
    from explorer.core.runner import ModelRunner
    from explorer.core.stats import LayerStats, ModelSummary
    from explorer.core.weights import LoadedWeights

UNTRAINED_NOTICE = "untrained weights: this map explains a random network"
#: The shares of the gradient's mass the effective field is measured at.
MASS_LEVELS = (0.5, 0.9)
DEFAULT_CACHE_BYTES = 256 * 2**20
TRACED_MODELS = 4  # traces kept (each holds its model)
EXPLAIN_MODULES = 8  # tapped copies kept per traced model
PREDICTIONS_KEPT = 64  # (model, weights, image) whose logits are remembered


# --- results -------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Explanation:
    """One attribution map of one class on one image, over the crop the network saw."""

    model: str
    weights: str  # the weights' label
    weights_key: str
    pretrained: bool
    image: str
    method: str  # a key of METHODS
    layer: str | None  # the explained node (Grad-CAM, guided Grad-CAM); None for the input methods
    target: Prediction  # the class explained, with the network's probability for it
    top: tuple[Prediction, ...]  # the network's top-5 on this image (the GUI's class picker)
    #: float32 (H, W) on the crop: Grad-CAM upsampled bilinearly, the others per input pixel.
    values: np.ndarray = field(repr=False)
    #: Grad-CAM at the layer's own resolution (h, w), before upsampling; None for the other methods.
    layer_values: np.ndarray | None = field(repr=False)
    geometry: CropGeometry
    device: str
    ms: float
    settings: Mapping[str, Any] = field(default_factory=dict)  # occlusion: patch, stride, baseline
    notes: tuple[str, ...] = ()

    @property
    def method_title(self) -> str:
        return METHODS[self.method]

    @property
    def untrained(self) -> bool:
        return not self.pretrained

    @property
    def nbytes(self) -> int:
        return int(self.values.nbytes + (self.layer_values.nbytes if self.layer_values is not None else 0))

    @property
    def peak(self) -> tuple[int, int] | None:
        """(row, col) of the largest value on the crop; None when nothing is positive."""
        if not float(self.values.max()) > 0:
            return None
        row, col = np.unravel_index(int(np.argmax(self.values)), self.values.shape)
        return int(row), int(col)

    @property
    def peak_in_image(self) -> tuple[int, int] | None:
        """(x, y) of the peak in the pixels of the image file (upright), not of the crop."""
        peak = self.peak
        return None if peak is None else self.geometry.pixel_in_image(peak[1], peak[0])

    def display_range(self) -> tuple[float, float]:
        """The values the colours span: 0 to the maximum, or for the gradient methods (heavy-tailed)
        0 to the 99.5th percentile, brighter values clipped; negative occlusion values (covering the
        patch raised the score) show as 0."""
        high = float(np.percentile(self.values, 99.5)) if self.method in {"guided", "saliency"} else float(self.values.max())
        return 0.0, high if high > 0 else 1.0

    def display_values(self) -> np.ndarray:
        """The map scaled to [0, 1] over ``display_range``: what the overlays paint."""
        low, high = self.display_range()
        return np.clip((self.values - low) / (high - low), 0.0, 1.0).astype(np.float32)

    def describe(self) -> str:
        """``Grad-CAM at _relu1 for "Egyptian cat" (class 285, 35.5 %)``."""
        where = f" at {self.layer}" if self.layer else ""
        return f'{self.method_title}{where} for "{self.target.label}" (class {self.target.index}, {self.target.probability:.1%})'

    def to_dict(self) -> dict[str, Any]:
        """The CLI's JSON: peaks in the image file's pixels (``peak``) and the crop's (``peak_in_crop``)."""
        peak, peak_image = self.peak, self.peak_in_image
        left, top, right, bottom = self.geometry.crop_in_image()
        return {
            "model": self.model,
            "weights": self.weights,
            "untrained": self.untrained,
            "image": self.image,
            "image_size": list(self.geometry.image_size),
            "crop": {"size": list(self.geometry.crop_size), "in_image": [left, top, right, bottom]},
            "method": self.method,
            "layer": self.layer,
            "class": _prediction_dict(self.target),
            "top": [_prediction_dict(p) for p in self.top],
            "shape": list(self.values.shape),
            "layer_shape": list(self.layer_values.shape) if self.layer_values is not None else None,
            "min": float(self.values.min()),
            "max": float(self.values.max()),
            "peak": None if peak_image is None else {"x": peak_image[0], "y": peak_image[1]},
            "peak_in_crop": None if peak is None else {"x": peak[1], "y": peak[0]},
            "settings": dict(self.settings),
            "notes": list(self.notes),
            "device": self.device,
            "ms": round(self.ms, 3),
        }


def _prediction_dict(prediction: Prediction) -> dict[str, Any]:
    return {"label": prediction.label, "index": prediction.index, "probability": prediction.probability}


@dataclass(frozen=True)
class MassShare:
    """How much of the theoretical box a share of the gradient's mass needs."""

    level: float  # 0.5: half the mass
    pixels: int  # the fewest pixels (strongest first) holding that share
    box_pixels: int  # the theoretical box's pixels on the crop
    threshold: float  # the weakest of those pixels: the contour's level

    @property
    def fraction(self) -> float:
        return self.pixels / self.box_pixels

    @property
    def formula(self) -> str:
        """``50 % of the mass in the 143 strongest pixels: 143 / 4,624 = 3.09 % of the box``."""
        return (
            f"{self.level:.0%} of the mass in the {self.pixels:,} strongest pixels: "
            f"{self.pixels:,} / {self.box_pixels:,} = {self.fraction:.2%} of the box"
        )


@dataclass(frozen=True, eq=False)
class EffectiveField:
    """The gradient of one unit with respect to the input, beside its theoretical receptive field."""

    model: str
    weights: str
    weights_key: str
    pretrained: bool
    image: str
    layer: str
    position: tuple[int, int]  # (row, col) in the layer's map
    channel: int | None  # None: the sum over the layer's channels at that position
    layer_shape: tuple[int, ...]
    #: float32 (H, W) on the crop: Σ over the input's channels of |∂ unit / ∂ input|.
    gradient: np.ndarray = field(repr=False)
    #: (top, left, bottom, right), inclusive crop pixels, clipped to the crop.
    theoretical_box: tuple[int, int, int, int]
    #: The same before clipping (it may reach into the padding).
    unclipped_box: tuple[int, int, int, int]
    #: Bounding box of the non-zero gradient; None when the gradient is zero everywhere.
    support: tuple[int, int, int, int] | None
    mass: tuple[MassShare, ...]  # one per MASS_LEVELS; empty when the gradient is zero
    geometry: CropGeometry
    device: str
    ms: float
    notes: tuple[str, ...] = ()

    @property
    def untrained(self) -> bool:
        return not self.pretrained

    @property
    def nbytes(self) -> int:
        return int(self.gradient.nbytes)

    def share(self, level: float) -> MassShare | None:
        return next((share for share in self.mass if math.isclose(share.level, level)), None)

    def box_size(self) -> tuple[int, int]:
        top, left, bottom, right = self.theoretical_box
        return bottom - top + 1, right - left + 1

    def to_dict(self) -> dict[str, Any]:
        top, left, bottom, right = self.theoretical_box
        peak = np.unravel_index(int(np.argmax(self.gradient)), self.gradient.shape) if self.mass else None
        return {
            "model": self.model,
            "weights": self.weights,
            "untrained": self.untrained,
            "image": self.image,
            "image_size": list(self.geometry.image_size),
            "layer": self.layer,
            "layer_shape": list(self.layer_shape),
            "at": {"y": self.position[0], "x": self.position[1]},
            "channel": self.channel,
            "shape": list(self.gradient.shape),
            "theoretical_box": {"top": top, "left": left, "bottom": bottom, "right": right,
                                "height": bottom - top + 1, "width": right - left + 1},
            "unclipped_box": dict(zip(("top", "left", "bottom", "right"), self.unclipped_box, strict=True)),
            "support": None if self.support is None else dict(zip(("top", "left", "bottom", "right"), self.support, strict=True)),
            "mass_fractions": {f"{share.level:.0%}": share.fraction for share in self.mass},
            "mass_pixels": {f"{share.level:.0%}": share.pixels for share in self.mass},
            "box_pixels": (bottom - top + 1) * (right - left + 1),
            "min": float(self.gradient.min()),
            "max": float(self.gradient.max()),
            "peak": None if peak is None else dict(zip(("x", "y"), self.geometry.pixel_in_image(int(peak[1]), int(peak[0])), strict=True)),
            "peak_in_crop": None if peak is None else {"x": int(peak[1]), "y": int(peak[0])},
            "notes": list(self.notes),
            "device": self.device,
            "ms": round(self.ms, 3),
        }  # fmt: skip


def mass_shares(gradient: np.ndarray, box: tuple[int, int, int, int], levels: Sequence[float] = MASS_LEVELS) -> tuple[MassShare, ...]:
    """For each level, the fewest pixels (strongest first) holding that share of ``gradient``'s mass.

    The mass is counted over the whole crop, so mass outside ``box`` (there should be none) would
    still count; the fraction is of the box's pixels. Empty when the gradient is zero everywhere.
    """
    top, left, bottom, right = box
    box_pixels = (bottom - top + 1) * (right - left + 1)
    ordered = np.sort(np.asarray(gradient, dtype=np.float64).ravel())[::-1]
    cumulative = np.cumsum(ordered)
    if box_pixels <= 0 or not cumulative.size or not cumulative[-1] > 0:
        return ()
    shares = []
    for level in levels:
        pixels = int(np.searchsorted(cumulative, level * cumulative[-1], side="left")) + 1
        pixels = min(pixels, ordered.size)
        shares.append(MassShare(float(level), pixels, box_pixels, float(ordered[pixels - 1])))
    return tuple(shares)


# --- choosing the layer and the class --------------------------------------------------------------


def is_spatial(stats: LayerStats) -> bool:
    """A node whose output is a C×H×W map (what Grad-CAM and the effective field need)."""
    return stats.kind != "input" and len(stats.output_shape) == 3 and stats.output_shape[1] * stats.output_shape[2] >= 1


def explainable_layers(summary: ModelSummary) -> list[str]:
    """Every node with a spatial map, deepest first (the layer picker's list)."""
    return [stats.name for stats in reversed(summary.layers) if is_spatial(stats)]


def default_layer(summary: ModelSummary) -> str:
    """The last convolution stage's output: the last conv node with a map larger than 1×1, followed
    through its normalisation, activation and merge (residual ``add``, Inception ``cat``) while
    the map keeps its size. ResNet-18: ``layer4.1.relu:2``; VGG-16: ``features.29``;
    EfficientNet-Lite0: ``_relu1``; GoogLeNet: ``inception5b.cat``.
    """
    graph = summary.graph
    convs = [s for s in summary.layers if s.kind == "conv" and is_spatial(s) and s.output_shape[1] * s.output_shape[2] > 1]
    if not convs:
        spatial = [s for s in summary.layers if is_spatial(s)]
        if not spatial:
            raise ExplorerError(f"{summary.model} has no layer with a spatial map to explain.")
        return spatial[-1].name
    node = convs[-1]
    while True:
        after = graph.successors(node.name)
        if len(after) != 1:
            return node.name
        following = summary.layer(after[0])
        if following.kind not in {"norm", "activation", "merge"} or following.output_shape[1:] != node.output_shape[1:]:
            return node.name
        node = following


def check_explainable(summary: ModelSummary, layer: str, *, what: str = "Grad-CAM") -> LayerStats:
    """The layer's stats; a clear error for an unknown name or a node without a spatial map.

    A module path that is no node (a residual block, an Inception module, an MBConv block) stands
    for the module's output node, as in ``features.select_layer``: the returned stats are that node's.
    """
    if layer not in summary.graph:
        layer = module_output(summary, layer) or layer
    check_layers(summary, [layer])
    stats = summary.layer(layer)
    if layer == INPUT_NAME or not is_spatial(stats):
        shape = "×".join(str(d) for d in stats.output_shape) or "a scalar"
        raise ExplorerError(
            f"{what} needs a layer with a spatial map (C×H×W); {layer}'s output is {shape}.",
            hint=f"For example {default_layer(summary)} (`cnn-explorer summary {summary.model}` lists the layers).",
        )
    return stats


def resolve_class(target: str | int | None, logits: Tensor, categories: Sequence[str] | None) -> int:
    """``top1`` (the default), ``topN``, a class index, or a class label (case-insensitive)."""
    classes = int(logits.numel())
    text = "top1" if target is None else str(target).strip()
    lowered = text.lower()
    if lowered.startswith("top") and lowered[3:].isdigit():
        rank = int(lowered[3:])
        if not 1 <= rank <= classes:
            raise ExplorerError(f"--class {text}: the network has {classes} classes, so top1 … top{classes}.")
        return int(torch.argsort(logits, descending=True)[rank - 1])
    if text.lstrip("-").isdigit():
        index = int(text)
        if not 0 <= index < classes:
            raise ExplorerError(f"Class {index} does not exist: the network has classes 0 to {classes - 1}.")
        return index
    if not categories:
        raise ExplorerError(f"This model's {classes} classes have no names: give a class index (0 to {classes - 1}) or topN.")
    by_name = {name.lower(): i for i, name in enumerate(categories)}
    if lowered in by_name:
        return by_name[lowered]
    close = difflib.get_close_matches(text, list(categories), n=5, cutoff=0.6)
    hint = f"Did you mean {', '.join(close)}?" if close else "Give top1 … top5, a class index, or an ImageNet label."
    raise ExplorerError(f"No class named {text!r}.", hint=hint)


def _predictions(logits: Tensor, categories: Sequence[str] | None, indices: Sequence[int]) -> tuple[Prediction, ...]:
    probabilities = logits.float().softmax(dim=0)
    return tuple(
        Prediction(categories[i] if categories and i < len(categories) else f"class {i}", int(i), float(probabilities[i]))
        for i in indices
    )


# --- the explain graph -----------------------------------------------------------------------------


class GuidedReLU6(nn.ReLU):
    """ReLU6, as an ``nn.ReLU`` subclass: captum's guided backpropagation hooks ``nn.ReLU`` modules only.

    The forward value is ReLU6's; guided backpropagation then passes a gradient only where it is
    positive and the ReLU6 passed it (0 < x < 6), as for a ReLU.
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.relu6(input)


def _relu_kind(node: fx.Node, modules: Mapping[str, nn.Module]) -> str | None:
    """"relu" or "relu6" for a node guided backpropagation should see, else None."""
    if node.op == "call_module":
        module = modules.get(str(node.target))
        if isinstance(module, nn.ReLU):
            return "relu"
        if isinstance(module, nn.ReLU6):
            return "relu6"
        return None
    if node.op in {"call_function", "call_method"}:
        name = op_name(node.target)
        if name in {"relu", "relu6"}:
            return name
    return None


def _other_activation(node: fx.Node, modules: Mapping[str, nn.Module]) -> str | None:
    """The name of an activation that guided backpropagation leaves alone (SiLU, sigmoid, …)."""
    if node.op == "call_module":
        module = modules.get(str(node.target))
        return type(module).__name__ if module is not None and module_kind(module) == "activation" else None
    if node.op in {"call_function", "call_method"}:
        name = op_name(node.target)
        return name if function_kind(name, 1) == "activation" else None
    return None


def _resolve_target(root: nn.Module, target: str) -> Any:
    value: Any = root
    for part in target.split("."):
        value = getattr(value, part)
    return value


@dataclass
class _ExplainModule:
    module: fx.GraphModule
    tap: nn.Module | None
    unguided: tuple[str, ...]  # activations guided backpropagation does not change


class _ExplainGraph(_Traced):
    """A traced model, with its capture modules (the effective field) and its explain modules."""

    def __init__(self, net: nn.Module, example: Tensor) -> None:
        super().__init__(net, example)
        self._explain: OrderedDict[str | None, _ExplainModule] = OrderedDict()

    def explain_module(self, layer: str | None) -> _ExplainModule:
        built = self._explain.get(layer)
        if built is None:
            built = self._explain[layer] = self._build_explain(layer)
            while len(self._explain) > EXPLAIN_MODULES:
                self._explain.popitem(last=False)
        self._explain.move_to_end(layer)
        return built

    def _build_explain(self, layer: str | None) -> _ExplainModule:
        modules = dict(self.net.named_modules())
        tapped = self.by_layer[layer] if layer is not None else None
        graph = fx.Graph()
        env: dict[fx.Node, fx.Node] = {}
        owned: dict[str, Any] = {}
        tap = nn.Identity() if layer is not None else None
        unguided: dict[str, None] = {}
        for number, node in enumerate(self.graph.nodes):
            kind = _relu_kind(node, modules)
            if kind is not None:
                source = node.args[0]
                # In place only where the input has other users (they must see the activated values).
                inplace = isinstance(source, fx.Node) and len(source.users) > 1 and _is_inplace(node, modules)
                name = f"_explain_{kind}_{number}"
                owned[name] = GuidedReLU6() if kind == "relu6" else nn.ReLU(inplace=inplace)
                env[node] = graph.call_module(name, (env[source],))
            else:
                other = _other_activation(node, modules)
                if other is not None:
                    unguided[other] = None
                env[node] = graph.node_copy(node, lambda n: env[n])
                if node.op in {"call_module", "get_attr"}:
                    owned[str(node.target)] = _resolve_target(self.net, str(node.target))
            if tap is not None and node.name == tapped:
                owned["_explain_tap"] = tap
                env[node] = graph.call_module("_explain_tap", (env[node],))
        module = fx.GraphModule(owned, graph)
        module.eval()  # its submodules are the runner's, already in eval mode; this is the container's flag
        return _ExplainModule(module, tap, tuple(unguided))


def _is_inplace(node: fx.Node, modules: Mapping[str, nn.Module]) -> bool:
    if node.op == "call_module":
        return bool(getattr(modules.get(str(node.target)), "inplace", False))
    return bool(node.kwargs.get("inplace", False)) or str(getattr(node.target, "__name__", node.target)).endswith("_")


class _ClassScore(nn.Module):
    """The logit of one class: what every attribution explains.

    The first forward pass picks the class from its own logits (``choose``), so "top1" costs no
    extra pass; ``before_forward`` runs before each pass (occlusion counts and cancels there).
    """

    def __init__(
        self, body: nn.Module, choose: Callable[[Tensor], int], before_forward: Callable[[], None] | None = None,
        *, model: str = "the model",
    ) -> None:
        super().__init__()
        self.body = body
        self._model = model  # named in the error when the output is not class scores
        self._choose = choose
        self._before_forward = before_forward
        self.index: int | None = None
        self.first_logits: Tensor | None = None

    def forward(self, x: Tensor) -> Tensor:
        if self._before_forward is not None:
            self._before_forward()
        logits = _logits(self.body(x), self._model)
        if self.index is None:
            self.first_logits = logits[0].detach().float().cpu()
            self.index = self._choose(self.first_logits)
        return logits[:, self.index : self.index + 1]


class _Stopped(Exception):
    """Raised inside a forward pass once the generator driving a threaded job has been closed."""


def _threaded(work: Callable[[Callable[[RunnerProgress], None], threading.Event], Any]) -> Generator[RunnerProgress, None, Any]:
    """Run ``work(report, stop)`` on a helper thread and yield what it reports, as it reports it.

    captum's Occlusion loops over its batches internally, with no place to yield: the loop runs
    here on a thread, each forward pass reports and checks ``stop``. Closing this generator (a
    cancelled GUI worker) sets ``stop`` and waits for the current batch to end.
    """
    reports: queue.Queue[RunnerProgress] = queue.Queue()
    stop = threading.Event()
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = work(reports.put, stop)
        except BaseException as error:  # handed to the generator's thread, raised there
            outcome["error"] = error

    thread = threading.Thread(target=run, name="cnn-explorer-occlusion", daemon=True)
    thread.start()
    try:
        while thread.is_alive() or not reports.empty():
            try:
                yield reports.get(timeout=0.05)
            except queue.Empty:
                continue
    finally:
        stop.set()
        thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


# --- the explainer -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Input:
    loaded: LoadedWeights
    crop: Image.Image
    tensor: Tensor
    geometry: CropGeometry
    summary: ModelSummary
    image_key: tuple[Any, ...]


class Explainer:
    """Attribution maps and effective receptive fields through a ``ModelRunner``'s loaded models.

    Thread-safe: one computation runs at a time (the GUI's panes share one explainer).
    """

    def __init__(self, runner: ModelRunner, *, cache_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.runner = runner
        self.cache_bytes = cache_bytes
        self.computations = 0  # maps and fields actually computed (the cache's effect is visible)
        self._lock = threading.RLock()
        self._traced: OrderedDict[tuple[str, str], tuple[nn.Module, _ExplainGraph | None]] = OrderedDict()
        self._results: OrderedDict[tuple[Any, ...], Explanation | EffectiveField] = OrderedDict()
        self._logits: OrderedDict[tuple[Any, ...], Tensor] = OrderedDict()

    # -- attribution maps ----------------------------------------------------------------------------

    def explain(
        self,
        model: str,
        image: str | os.PathLike[str],
        *,
        target: str | int | None = "top1",
        method: str = "gradcam",
        layer: str | None = None,
        weights: str | None = None,
        summary: ModelSummary | None = None,
        patch: int | None = None,
        stride: int | None = None,
    ) -> Generator[RunnerProgress, None, Explanation]:
        """The ``method`` map of class ``target`` on ``image`` (a file), over the network's crop.

        ``layer`` (Grad-CAM, guided Grad-CAM) defaults to ``default_layer``; ``patch`` and
        ``stride`` (occlusion) to a seventh of the crop and half a patch. Loads the model through
        the runner first (uncached torchvision weights raise ``WeightsUnavailableError``).
        """
        if method not in METHODS:
            raise ExplorerError(f"Unknown method {method!r}: use {', '.join(METHODS)}.")
        inputs = yield from self._inputs(model, image, weights, summary)
        if method in LAYER_METHODS:
            layer = check_explainable(inputs.summary, layer or default_layer(inputs.summary), what=METHODS[method]).name
        else:
            layer = None
        settings: dict[str, Any] = {}
        if method == "occlusion":
            settings = self._occlusion_settings(inputs.tensor, patch, stride)
        categories = inputs.loaded.categories
        base = (model, inputs.loaded.key, inputs.image_key)
        with self._lock:
            logits = self._logits.get(base)
            if logits is not None:
                index = resolve_class(target, logits, categories)
                cached = self._results.get(("map", *base, index, method, layer, tuple(sorted(settings.items()))))
                if isinstance(cached, Explanation):
                    self._results.move_to_end(("map", *base, index, method, layer, tuple(sorted(settings.items()))))
                    return cached
            title = METHODS[method] + (f" at {layer}" if layer else "")
            yield RunnerProgress("explain", 0, 1, f"{title} of {model}…")
            started = time.perf_counter()
            values, layer_values, score, unguided = yield from self._on_device(
                lambda: self._attribute(model, inputs, method, layer, target, settings)
            )
            ms = (time.perf_counter() - started) * 1e3
            assert score.index is not None and score.first_logits is not None
            logits = score.first_logits
            self._remember_logits(base, logits)
            order = torch.argsort(logits, descending=True)[:5].tolist()
            notes = [UNTRAINED_NOTICE] if not inputs.loaded.pretrained else []
            if method == "guided" and unguided:
                notes.append(
                    f"guided backpropagation changes the gradient at ReLU and ReLU6 only; "
                    f"{', '.join(unguided)} pass{'es' if len(unguided) == 1 else ''} the ordinary gradient"
                )
            explanation = Explanation(
                model=model, weights=inputs.loaded.label, weights_key=inputs.loaded.key,
                pretrained=inputs.loaded.pretrained, image=str(image), method=method, layer=layer,
                target=_predictions(logits, categories, [score.index])[0],
                top=_predictions(logits, categories, order), values=values, layer_values=layer_values,
                geometry=inputs.geometry, device=str(self.runner.device), ms=ms,
                settings=MappingProxyType(settings), notes=tuple(notes),
            )  # fmt: skip
            self.computations += 1
            self._store(("map", *base, score.index, method, layer, tuple(sorted(settings.items()))), explanation)
            yield RunnerProgress("explain", 1, 1, f"{title} of {model}: done")
            return explanation

    def explain_all(self, *args: Any, **kwargs: Any) -> Explanation:
        """``explain`` run to the end."""
        return drain(self.explain(*args, **kwargs))

    @staticmethod
    def _occlusion_settings(tensor: Tensor, patch: int | None, stride: int | None) -> dict[str, Any]:
        size = min(tensor.shape[-2:])
        patch = patch if patch is not None else max(1, size // 7)
        stride = stride if stride is not None else max(1, patch // 2)
        if not 1 <= patch <= size:
            raise ExplorerError(f"The occlusion patch must be 1 to {size} pixels, not {patch}.")
        if not 1 <= stride <= patch:
            raise ExplorerError(f"The occlusion stride must be 1 to the patch size ({patch}), not {stride}.")
        return {"patch": patch, "stride": stride, "baseline": "0 after normalisation (the mean colour)"}

    def _attribute(
        self, model: str, inputs: _Input, method: str, layer: str | None, target: str | int | None, settings: Mapping[str, Any]
    ) -> Generator[RunnerProgress, None, tuple[np.ndarray, np.ndarray | None, _ClassScore, tuple[str, ...]]]:
        """(map on the crop, map at the layer or None, the class score that ran, unguided activations)."""
        categories = inputs.loaded.categories
        net = self.runner.on_device(model, inputs.loaded.key)
        graph = self._graph(model, inputs)
        if graph is not None:
            built = graph.explain_module(layer)
            body, tap, unguided = built.module, built.tap, built.unguided
        else:
            body, tap, unguided = net, _loaded_module(net, inputs.summary, layer) if layer else None, ()
        batch = inputs.tensor.unsqueeze(0).to(self.runner.device)
        if method in {"guided", "saliency"}:
            batch.requires_grad_(True)  # captum would, with a warning each time
        per_pass = 16 if self.runner.device.type == "cpu" else 64  # occlusion's patches per forward pass

        # Everything the helper thread needs is prepared above: it must not take this explainer's lock.
        def compute(report: Callable[[RunnerProgress], None] | None, stop: threading.Event | None) -> Any:
            before = _occlusion_progress(batch, settings, per_pass, report, stop) if method == "occlusion" else None
            score = _ClassScore(body, lambda logits: resolve_class(target, logits, categories), before, model=model)
            with torch.enable_grad():
                values, layer_values = _run_method(method, score, tap, batch, settings, per_pass)
            return values, layer_values, score, unguided

        return (yield from (_threaded(compute) if method == "occlusion" else _immediate(compute)))

    # -- the effective receptive field ------------------------------------------------------------

    def effective_field(
        self,
        model: str,
        image: str | os.PathLike[str],
        layer: str,
        *,
        at: tuple[int, int] | None = None,
        channel: int | None = None,
        weights: str | None = None,
        summary: ModelSummary | None = None,
    ) -> Generator[RunnerProgress, None, EffectiveField]:
        """The effective field of ``layer``'s unit at ``at`` (row, col; default the map's centre)."""
        fields = yield from self.effective_fields(model, image, layer, [at] if at is not None else None, channel=channel, weights=weights, summary=summary)
        return fields[0]

    def effective_fields(
        self,
        model: str,
        image: str | os.PathLike[str],
        layer: str,
        positions: Sequence[tuple[int, int]] | None = None,
        *,
        channel: int | None = None,
        weights: str | None = None,
        summary: ModelSummary | None = None,
    ) -> Generator[RunnerProgress, None, list[EffectiveField]]:
        """The effective fields of several positions of one layer, from one batched backward pass."""
        inputs = yield from self._inputs(model, image, weights, summary)
        stats = check_explainable(inputs.summary, layer, what="The effective receptive field")
        layer = stats.name
        channels, height, width = stats.output_shape
        positions = list(positions) if positions else [(height // 2, width // 2)]
        for row, col in positions:
            if not (0 <= row < height and 0 <= col < width):
                raise ExplorerError(
                    f"Position ({row}, {col}) is outside {layer}'s {height}×{width} map: rows run 0 to {height - 1}, "
                    f"columns 0 to {width - 1}."
                )
        if channel is not None and not 0 <= channel < channels:
            raise ExplorerError(f"{layer} has channels 0 to {channels - 1}, not {channel}.")
        base = ("erf", model, inputs.loaded.key, inputs.image_key, layer, channel)
        with self._lock:
            missing = [p for p in dict.fromkeys(positions) if (*base, p) not in self._results]
            if missing:
                where = f"({missing[0][0]}, {missing[0][1]})" + (f" and {len(missing) - 1} more" if len(missing) > 1 else "")
                yield RunnerProgress("explain", 0, 1, f"Effective receptive field of {layer} at {where}…")
                started = time.perf_counter()
                gradients = yield from self._on_device(
                    lambda: _immediate(lambda _r, _s: self._unit_gradients(model, inputs, layer, missing, channel))
                )
                ms = (time.perf_counter() - started) * 1e3 / len(missing)
                crop_hw = tuple(inputs.tensor.shape[-2:])
                notes = (UNTRAINED_NOTICE,) if not inputs.loaded.pretrained else ()
                for (row, col), gradient in zip(missing, gradients, strict=True):
                    box = receptive_box(stats, row, col, crop_hw)
                    rows, cols = np.nonzero(gradient)
                    support = (int(rows.min()), int(cols.min()), int(rows.max()), int(cols.max())) if rows.size else None
                    zero_note = () if support is not None else (
                        "the gradient is zero everywhere: this unit is switched off (a ReLU at 0) on this image; "
                        "try another position or channel",
                    )  # fmt: skip
                    field_ = EffectiveField(
                        model=model, weights=inputs.loaded.label, weights_key=inputs.loaded.key,
                        pretrained=inputs.loaded.pretrained, image=str(image), layer=layer, position=(row, col),
                        channel=channel, layer_shape=tuple(stats.output_shape), gradient=gradient,
                        theoretical_box=box, unclipped_box=receptive_box(stats, row, col), support=support,
                        mass=mass_shares(gradient, box), geometry=inputs.geometry, device=str(self.runner.device),
                        ms=ms, notes=notes + zero_note,
                    )  # fmt: skip
                    self._store((*base, (row, col)), field_)
                self.computations += 1
                yield RunnerProgress("explain", 1, 1, f"Effective receptive field of {layer}: done")
            results = []
            for position in positions:
                result = self._results[(*base, position)]
                self._results.move_to_end((*base, position))
                assert isinstance(result, EffectiveField)
                results.append(result)
            return results

    def effective_field_all(self, *args: Any, **kwargs: Any) -> EffectiveField:
        return drain(self.effective_field(*args, **kwargs))

    def _unit_gradients(
        self, model: str, inputs: _Input, layer: str, positions: Sequence[tuple[int, int]], channel: int | None
    ) -> list[np.ndarray]:
        """Σ_c |∂ unit / ∂ input_c| per position: one forward to ``layer`` (stopping there), one backward."""
        net = self.runner.on_device(model, inputs.loaded.key)
        graph = self._graph(model, inputs)
        count = len(positions)
        x = inputs.tensor.unsqueeze(0).to(self.runner.device).repeat(count, 1, 1, 1).requires_grad_(True)
        rows = torch.tensor([p[0] for p in positions], device=x.device)
        cols = torch.tensor([p[1] for p in positions], device=x.device)
        samples = torch.arange(count, device=x.device)
        with torch.enable_grad():
            if graph is not None:
                output = graph.module_for(frozenset([layer]))(x)[layer]
            else:
                output = _run_with_hooks(net, x, [layer])[layer]
            # Sample n's unit (n, ·, row_n, col_n): its gradient lands in sample n's input only.
            units = output[samples, :, rows, cols] if channel is None else output[samples, channel, rows, cols]
            (gradient,) = torch.autograd.grad(units.sum(), x)
        magnitude = gradient.detach().abs().sum(dim=1).to("cpu", torch.float32).numpy()
        return [np.ascontiguousarray(m) for m in magnitude]

    # -- shared internals ------------------------------------------------------------------------------

    def _inputs(
        self, model: str, image: str | os.PathLike[str], weights: str | None, summary: ModelSummary | None
    ) -> Generator[RunnerProgress, None, _Input]:
        picture = load_image(image)  # a clear error for a bad file before any model loads
        loaded = yield from self.runner.load(model, weights)
        crop, tensor = self.runner.preprocess(model, picture, loaded.key)
        shape = tuple(int(d) for d in tensor.shape)
        if summary is None or tuple(summary.input_shape) != shape:
            from explorer.core.analysis import analyze

            # The analysis at the crop's own size: the boxes and the layer shapes are the run's.
            summary = analyze(model, shape)
        geometry = loaded.preprocessing.geometry(picture.size)
        return _Input(loaded, crop, tensor, geometry, summary, image_cache_key(image))

    def _graph(self, model: str, inputs: _Input) -> _ExplainGraph | None:
        net = self.runner.on_device(model, inputs.loaded.key)
        slot = (model, inputs.loaded.key)
        with self._lock:
            cached = self._traced.get(slot)
            if cached is None or cached[0] is not net:  # new, or the runner reloaded (or moved) the model
                try:
                    graph: _ExplainGraph | None = _ExplainGraph(net, inputs.tensor.unsqueeze(0))
                except Exception:  # not fx-traceable: captum hooks the module nodes directly
                    graph = None
                self._traced[slot] = cached = (net, graph)
            self._traced.move_to_end(slot)
            while len(self._traced) > TRACED_MODELS:
                self._traced.popitem(last=False)
            return cached[1]

    def _on_device(self, start: Callable[[], Generator[RunnerProgress, None, Any]]) -> Generator[RunnerProgress, None, Any]:
        """Run ``start()``'s generator; on CUDA out-of-memory, move the runner to the CPU and run it again."""
        try:
            return (yield from start())
        except torch.OutOfMemoryError:
            if self.runner.device.type != "cuda":
                raise ExplorerError(
                    f"Out of memory on the {self.runner.device.type}.", hint="Use a smaller model or fewer positions."
                ) from None
        # Retried outside the except block: the exception's frames hold the GPU tensors.
        self.runner._move_to_cpu()
        with self._lock:
            self._traced.clear()
        return (yield from start())

    def _remember_logits(self, key: tuple[Any, ...], logits: Tensor) -> None:
        self._logits[key] = logits
        self._logits.move_to_end(key)
        while len(self._logits) > PREDICTIONS_KEPT:
            self._logits.popitem(last=False)

    def _store(self, key: tuple[Any, ...], result: Explanation | EffectiveField) -> None:
        self._results[key] = result
        self._results.move_to_end(key)
        while len(self._results) > 1 and self.cached_bytes > self.cache_bytes:
            self._results.popitem(last=False)

    @property
    def cached_bytes(self) -> int:
        with self._lock:
            return sum(result.nbytes for result in self._results.values())

    def clear(self) -> None:
        with self._lock:
            self._results.clear()
            self._logits.clear()
            self._traced.clear()


def _immediate(work: Callable[[Any, Any], Any]) -> Generator[RunnerProgress, None, Any]:
    """``work`` run in this thread, as a generator (the same shape as ``_threaded``)."""
    return work(None, None)
    yield  # makes this a generator


def _loaded_module(net: nn.Module, summary: ModelSummary, layer: str) -> nn.Module:
    """A module node of a model fx cannot trace: captum hooks the loaded module directly."""
    node = summary.graph.node(layer)
    if node.module_path is None or node.call_index != 1:
        raise ExplorerError(
            f"{summary.model} cannot be traced, so only a module's first call can be explained, not {layer}."
        )
    return net.get_submodule(node.module_path)


def _occlusion_progress(
    tensor: Tensor,
    settings: Mapping[str, Any],
    per_pass: int,
    report: Callable[[RunnerProgress], None] | None,
    stop: threading.Event | None,
) -> Callable[[], None]:
    """Counts the forward passes of captum's occlusion loop, reports each and stops when asked."""
    height, width = tensor.shape[-2:]
    patch, stride = settings["patch"], settings["stride"]
    windows = (math.ceil((height - patch) / stride) + 1) * (math.ceil((width - patch) / stride) + 1)
    total = 1 + math.ceil(windows / per_pass)
    done = [0]

    def before_forward() -> None:
        if stop is not None and stop.is_set():
            raise _Stopped
        done[0] += 1
        if report is not None and done[0] > 1:
            covered = min((done[0] - 1) * per_pass, windows)
            report(RunnerProgress("explain", done[0] - 1, total, f"Occlusion: {covered} of {windows} patches"))

    return before_forward


def _run_method(
    method: str, score: _ClassScore, tap: nn.Module | None, batch: Tensor, settings: Mapping[str, Any], per_pass: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """captum's attribution for the class ``score`` explains, as float32 maps on the CPU."""
    from captum.attr import GuidedGradCam, LayerAttribution, LayerGradCam, Occlusion, Saliency

    size = tuple(batch.shape[-2:])
    if method == "gradcam":
        assert tap is not None
        cam = LayerGradCam(score, tap).attribute(batch, target=0, relu_attributions=True)
        upsampled = LayerAttribution.interpolate(cam, size, interpolate_mode="bilinear")
        return _numpy(upsampled[0, 0]), _numpy(cam[0, 0])
    if method == "guided":
        assert tap is not None
        with warnings.catch_warnings():  # captum announces its ReLU hooks on every call
            warnings.filterwarnings("ignore", message="Setting backward hooks on ReLU activations")
            guided = GuidedGradCam(score, tap).attribute(batch, target=0, interpolate_mode="bilinear")
        return _numpy(guided[0].abs().amax(dim=0)), None
    if method == "saliency":
        gradient = Saliency(score).attribute(batch, target=0, abs=True)
        return _numpy(gradient[0].amax(dim=0)), None  # Simonyan et al.: the largest over the colour channels
    channels = batch.shape[1]
    patch, stride = settings["patch"], settings["stride"]
    attribution = Occlusion(score).attribute(
        batch, target=0, sliding_window_shapes=(channels, patch, patch), strides=(channels, stride, stride),
        baselines=0.0, perturbations_per_eval=per_pass,
    )  # fmt: skip
    return _numpy(attribution[0, 0]), None  # the patch covers every channel: they carry the same value


def _numpy(tensor: Tensor) -> np.ndarray:
    return np.ascontiguousarray(tensor.detach().to("cpu", torch.float32).numpy())


# --- pictures (the CLI's --out; the GUI saves the same) ----------------------------------------------


def normalised(values: np.ndarray) -> np.ndarray:
    """Values scaled to [0, 1] over their own range (a constant map is all 0)."""
    low, high = float(values.min()), float(values.max())
    if not high > low:
        return np.zeros_like(values, dtype=np.float32)
    return ((values - low) / (high - low)).astype(np.float32)


def blend(base: np.ndarray, strength: np.ndarray, *, opacity: float) -> np.ndarray:
    """``base`` (H, W, 3 floats) with viridis colours laid over it, each pixel as opaque as its
    strength (in [0, 1]) × ``opacity``: where the map is 0 the photo shows through."""
    alpha = (opacity * strength)[..., None]
    return base * (1 - alpha) + viridis(strength).astype(np.float32) * alpha


def explanation_image(picture: Image.Image, explanation: Explanation, *, opacity: float = 0.7) -> Image.Image:
    """The map over the picture it explains, placed where the crop lies; outside the crop is dimmed."""
    rgb = np.asarray(picture.convert("RGB"), dtype=np.float32)
    height, width = rgb.shape[:2]
    left, top, right, bottom = (int(round(v)) for v in explanation.geometry.crop_in_image())
    heat = np.asarray(
        Image.fromarray(explanation.display_values(), "F").resize(
            (max(right - left, 1), max(bottom - top, 1)), Image.Resampling.BILINEAR
        )
    )
    out = rgb * 0.45  # the network never saw this part
    x0, y0, x1, y1 = max(left, 0), max(top, 0), min(right, width), min(bottom, height)
    if x1 > x0 and y1 > y0:
        strength = np.clip(heat[y0 - top : y1 - top, x0 - left : x1 - left], 0.0, 1.0)
        out[y0:y1, x0:x1] = blend(rgb[y0:y1, x0:x1], strength, opacity=opacity)
    result = Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(result)
    draw.rectangle([left, top, right - 1, bottom - 1], outline=(255, 255, 255))
    peak = explanation.peak_in_image
    if peak is not None:
        x, y = peak
        arm = max(4, min(width, height) // 40)
        draw.line([x - arm, y, x + arm, y], fill=(255, 64, 64), width=2)
        draw.line([x, y - arm, x, y + arm], fill=(255, 64, 64), width=2)
    return result


def field_strength(gradient: np.ndarray) -> np.ndarray:
    """The effective field for display: √(gradient / its maximum), so the tails show beside the peak."""
    high = float(gradient.max())
    return np.sqrt(gradient / high).astype(np.float32) if high > 0 else np.zeros_like(gradient, dtype=np.float32)


def _outline(mask: np.ndarray) -> np.ndarray:
    """The pixels of ``mask`` that touch a pixel outside it (4-neighbourhood)."""
    padded = np.pad(mask, 1, constant_values=False)
    inner = padded[1:-1, 1:-1] & padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    return mask & ~inner


MASS_COLOURS = {0.5: (255, 255, 255), 0.9: (255, 152, 0)}
BOX_COLOUR = (0, 229, 255)


def effective_field_image(crop: Image.Image, field_: EffectiveField, *, opacity: float = 0.85, scale: int | None = None) -> Image.Image:
    """The crop with the gradient (√ scale), the outlines of the pixels holding 50 % (white) and
    90 % (orange) of its mass and the theoretical box (cyan), enlarged ``scale`` times (default:
    at least 448 pixels)."""
    rgb = np.asarray(crop.convert("RGB"), dtype=np.float32) * 0.6
    height, width = rgb.shape[:2]
    scale = scale or max(1, math.ceil(448 / max(height, width)))
    out = np.clip(np.rint(blend(rgb, field_strength(field_.gradient), opacity=opacity)), 0, 255).astype(np.uint8)
    out = out.repeat(scale, axis=0).repeat(scale, axis=1)
    for share in sorted(field_.mass, key=lambda s: -s.level):
        mask = (field_.gradient >= share.threshold).repeat(scale, axis=0).repeat(scale, axis=1)
        out[_outline(mask)] = MASS_COLOURS.get(share.level, (255, 255, 255))
    result = Image.fromarray(out, "RGB")
    top, left, bottom, right = field_.theoretical_box
    ImageDraw.Draw(result).rectangle(
        [left * scale, top * scale, (right + 1) * scale - 1, (bottom + 1) * scale - 1], outline=BOX_COLOUR, width=2
    )
    return result
