"""The long jobs the GUI runs on worker threads. Each imports the core lazily, so the window
appears before PyTorch has finished loading."""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtGui import QImage

from explorer.core.samples import sample_folder
from explorer.core.usercode import is_user_reference  # noqa: F401  (the window asks jobs whether a name is a file)

if TYPE_CHECKING:
    from explorer.core.reconcile import Reconciliation
    from explorer.core.runner import Classification, ModelRunner
    from explorer.core.stats import ModelSummary
    from explorer.core.zoo.registry import ModelSpec

#: The bundled sample photos' folder (through the one accessor, so an installed wheel finds them).
SAMPLE_IMAGES = sample_folder()
THUMBNAIL_SIZE = 150


def untrained_reason(error: BaseException) -> str:
    """Why a model runs on random weights instead, in plain words for the GUI (never a raw
    "[Errno -2] Name or service not known"; the full message stays in the error's tooltip)."""
    from explorer.core.weights import WeightsUnavailableError

    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    if isinstance(error, WeightsUnavailableError):
        if "refused" in text:
            return "ImageNet weights not downloaded — the server refused the download"
        if "broke off" in text or "stopped at" in text:
            return "ImageNet weights not downloaded — the download broke off"
        return "ImageNet weights not downloaded — no network"
    if "corrupt" in text:
        return "the downloaded ImageNet weights are corrupt — download them again"
    return text.split(" (", 1)[0].rstrip(".")


def untrained_notice(model: str, reason: str) -> str:
    """The one sentence every view says when ``model`` falls back to random weights."""
    return f"{model}: untrained weights ({reason})."


@dataclass(frozen=True)
class Catalogue:
    specs: tuple[ModelSpec, ...]
    device: str


#: What the start-up job says while it works (the catalogue and the status bar show it).
LOADING_TORCH = "Loading PyTorch…"
LOADING_MODELS = "Loading the model catalogue…"


def load_catalogue() -> Generator[str, None, Catalogue]:
    """The start-up job: PyTorch, torchvision's models and the catalogue, off the GUI thread."""
    yield LOADING_TORCH
    import torch  # noqa: F401  (the longest step: said before it starts)

    yield LOADING_MODELS
    from explorer.core.devices import describe_device, pick_device
    from explorer.core.zoo import list_specs

    return Catalogue(tuple(list_specs(include_torchvision=True)), describe_device(pick_device()))


def analyse(name: str, input_shape: str | None, mode: str, convention: str = "lecture") -> Generator[str, None, ModelSummary]:
    from explorer.core.analysis import analyze

    yield f"Analysing {name}…"
    summary = analyze(name, input_shape, mode, convention=convention)
    yield f"Folding {name}'s graph…"
    from explorer.gui.widgets.graph_view.hierarchy import hierarchy_of  # Qt-free

    hierarchy_of(summary.graph)  # the graph view finds it ready (its stages, blocks and repeats)
    from explorer.gui.widgets.graph_view.layout import load_igraph  # Qt-free

    load_igraph()  # imported here, not by the GUI thread's first layout
    return summary


def analyse_pair(first: str, second: str, convention: str = "lecture") -> Generator[str, None, tuple[ModelSummary, ModelSummary]]:
    from explorer.core.analysis import analyze

    yield f"Analysing {first}…"
    a = analyze(first, convention=convention)
    yield f"Analysing {second}…"
    return a, analyze(second, convention=convention)


def recount(summary: ModelSummary, convention: str) -> ModelSummary:
    """The same analysis under another convention: its graph is reused, nothing is traced again."""
    return summary.with_convention(convention)


def recount_pair(pair: tuple[ModelSummary, ModelSummary], convention: str) -> tuple[ModelSummary, ModelSummary]:
    return pair[0].with_convention(convention), pair[1].with_convention(convention)


def reconcile(summary: ModelSummary) -> Reconciliation:
    """The "Why do the numbers differ?" table: the paper, torchvision's _ops, every convention."""
    from explorer.core.reconcile import reconcile as table

    return table(summary)


def user_spec(reference: str) -> ModelSpec:
    from explorer.core.zoo.registry import user_spec as load

    return load(reference)


def export_models(
    names: list[str], folder: str, *, opset: int, input_shape: str | None, dynamic_batch: bool, weights: str, verify: bool
) -> Generator[object, None, list[object]]:
    from explorer.core.onnx_export import ExportOptions, export_many

    options = ExportOptions(opset=opset, input_shape=input_shape, dynamic_batch=dynamic_batch, weights=weights, verify=verify)
    return (yield from export_many(names, folder, options))


# --- classification ------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadedImage:
    path: str
    name: str
    thumbnail: QImage | None
    error: str | None = None


@dataclass(frozen=True)
class ClassifyImages:
    """First event of a classification: the images, loaded (or their errors)."""

    images: tuple[LoadedImage, ...]


@dataclass(frozen=True)
class ClassifyColumn:
    """One model's results for every image, in image order (an image that failed to load: None)."""

    column: int
    results: tuple[Classification | None, ...]
    crops: tuple[QImage | None, ...]
    notice: str | None = None
    #: Why this column's weights are random (fallen back to, or chosen in the picker); None when trained.
    untrained: str | None = None
    weights_key: str | None = None  # the weights the column ran with


@dataclass(frozen=True)
class ClassifyProgress:
    done: int
    total: int | None
    message: str


_runner: ModelRunner | None = None
_runner_lock = threading.Lock()


def shared_runner() -> ModelRunner:
    """The app's one ModelRunner (its model cache is shared by every view); made on first use."""
    global _runner
    with _runner_lock:
        if _runner is None:
            from explorer.core.runner import ModelRunner

            _runner = ModelRunner()
        return _runner


def pil_to_qimage(image: Any) -> QImage:
    """A PIL image as a QImage that owns its pixels (QImage, unlike QPixmap, may be made off the GUI thread)."""
    rgb = image.convert("RGB")
    data = rgb.tobytes("raw", "RGB")
    return QImage(data, rgb.width, rgb.height, 3 * rgb.width, QImage.Format.Format_RGB888).copy()


def save_pasted_image(data: bytes, name: str) -> str:
    folder = Path(tempfile.gettempdir()) / "cnn-explorer-pasted"
    folder.mkdir(exist_ok=True)
    handle = tempfile.NamedTemporaryFile(dir=folder, prefix=name.replace(" ", "-") + "-", suffix=".png", delete=False)
    with handle:
        handle.write(data)
    return handle.name


def _load_images(paths: Sequence[str]) -> list[LoadedImage]:
    from explorer.core.errors import ExplorerError
    from explorer.core.images import image_files, load_image

    images = []
    for path in image_files(paths):
        try:
            picture = load_image(path)
            picture.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
            images.append(LoadedImage(str(path), Path(path).name, pil_to_qimage(picture)))
        except ExplorerError as error:
            images.append(LoadedImage(str(path), Path(path).name, None, str(error)))
    return images


def _progress(events: Generator[Any, None, Any]) -> Generator[ClassifyProgress, None, Any]:
    """The runner's progress as the view's, returning what the runner returns."""
    try:
        while True:
            event = next(events)
            yield ClassifyProgress(event.done, event.total or None, event.message)
    except StopIteration as stop:
        return stop.value


def classify(paths: Sequence[str], columns: Sequence[tuple[str, str | None]]) -> Generator[object, None, str]:
    """Load the images, then for each (model, weights) load the weights and classify them all."""
    from explorer.core.errors import ExplorerError

    images = _load_images(paths)
    yield ClassifyImages(tuple(images))
    good = [i for i in images if i.error is None]
    if not good:
        return "No image could be read."
    runner = shared_runner()
    for column, (model, weights) in enumerate(columns):
        notice = untrained = None
        try:
            loaded = yield from _progress(runner.load(model, weights, allow_download=True))
        except ExplorerError as error:
            # Offline and not cached (or a bad file): the model stays usable, labelled untrained.
            untrained = untrained_reason(error)
            notice = untrained_notice(model, untrained)
            weights = "untrained"
            loaded = yield from _progress(runner.load(model, weights))
        if untrained is None and not loaded.pretrained:
            untrained = "chosen in the weights picker"
        results = (yield from _progress(runner.classify(model, [i.path for i in good], weights=weights)))
        by_path = {image.path: result for image, result in zip(good, results, strict=True)}
        crops: dict[str, QImage] = {}
        for path, result in by_path.items():
            if result.error is None:  # an image this model could not take has its error, not a crop
                try:
                    crops[path] = pil_to_qimage(runner.preprocess(model, path, weights)[0])
                except ExplorerError:
                    pass
        yield ClassifyColumn(
            column,
            tuple(by_path.get(image.path) if image.error is None else None for image in images),
            tuple(crops.get(image.path) for image in images),
            notice,
            untrained,
            loaded.key,
        )
    return f"{len(good)} image{'s' if len(good) != 1 else ''} classified by {len(columns)} model{'s' if len(columns) != 1 else ''}."


# --- feature maps ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerNames:
    """A model's graph node names and module paths (for the layer picker's completion)."""

    model: str
    names: tuple[str, ...]
    default: str  # the first convolution, else the first layer


@dataclass(frozen=True)
class FeatureCapture:
    """One pane's answer: the activations of a layer (or of a block's branches) on one image."""

    model: str
    layer: str  # as asked: a node name, or a block path ("inception3a", "layer1.0")
    image: str
    weights_key: str
    weights_label: str
    pretrained: bool
    crop: QImage  # the input the network saw
    input_hw: tuple[int, int]
    activations: dict[str, Any]  # node name → LayerActivation
    branch: Any | None  # a BranchView when ``layer`` is an Inception module or residual block
    summary: ModelSummary
    #: The node whose maps stand for ``layer``: itself, a module's output, a branch view's last.
    shown: str = ""
    notice: str | None = None


_extractor: Any = None
_extractor_lock = threading.Lock()


def shared_extractor() -> Any:
    """The app's one FeatureExtractor, over the shared runner (its model cache); made on first use."""
    global _extractor
    with _extractor_lock:
        if _extractor is None:
            from explorer.core.features import FeatureExtractor

            _extractor = FeatureExtractor(shared_runner())
        return _extractor


def layer_names(model: str) -> LayerNames:
    """Every node of ``model``'s graph, then the module paths that are blocks (``layer1.0``)."""
    from explorer.core.analysis import analyze

    graph = analyze(model).graph
    nodes = [node for node in graph.nodes if node.name != "input"]
    names = [node.name for node in nodes]
    seen = set(names)
    blocks = [path for path in graph.module_paths() if path and path not in seen]
    default = next((n.name for n in nodes if n.op.startswith("Conv")), names[0] if names else "")
    return LayerNames(model, tuple(names + blocks), default)


def capture_features(model: str, weights: str | None, image_path: str, layer: str) -> Generator[object, None, FeatureCapture]:
    """Load ``model`` (untrained when its weights are not cached offline) and capture ``layer``.

    A block path (``inception3a``, ``layer1.0``) captures every branch ``branch_layers`` names;
    any other module path its output node (``features.select_layer``).
    """
    from explorer.core.analysis import analyze
    from explorer.core.errors import ExplorerError
    from explorer.core.features import select_layer

    yield ClassifyProgress(0, None, f"Analysing {model}…")
    summary = analyze(model)
    selection = select_layer(summary, layer)
    branch, layers = selection.branch, list(selection.nodes)
    runner = shared_runner()
    notice = None
    try:
        yield from _progress(runner.load(model, weights, allow_download=True))
    except ExplorerError as error:
        notice = untrained_notice(model, untrained_reason(error))
        weights = "untrained"
        yield from _progress(runner.load(model, weights))
    _net, loaded = runner.loaded(model, weights)
    extractor = shared_extractor()
    activations = yield from _progress(extractor.capture(model, image_path, layers, weights=loaded.key, summary=summary))
    crop = extractor.crop(model, image_path, weights)
    return FeatureCapture(
        model=model,
        layer=layer,
        image=image_path,
        weights_key=loaded.key,
        weights_label=loaded.label,
        pretrained=loaded.pretrained,
        crop=pil_to_qimage(crop),
        input_hw=(crop.height, crop.width),
        activations=dict(activations),
        branch=branch,
        summary=summary,
        shown=selection.shown,
        notice=notice,
    )


@dataclass(frozen=True)
class LayerWeights:
    """A module's weights (best available offline) and what the view draws, computed in the worker."""

    model: str
    layer: str  # the module path
    label: str  # the weights' label ("ImageNet (embedded)", "untrained", …)
    pretrained: bool
    weight: Any  # np.ndarray (the model's own memory on the CPU: not copied)
    untrained: Any | None  # np.ndarray of the same layer at initialisation, when ``weight`` is pretrained
    edges: Any  # histogram bin edges, shared by both histograms
    counts: Any
    untrained_counts: Any | None
    tiles: Any | None  # a first convolution's filters as an RGB mosaic (``filter_tiles``)
    moments: tuple[float, float, float, float]  # mean, std, min, max of ``weight``


def layer_weights(model: str, module_path: str) -> Generator[object, None, LayerWeights | None]:
    """The weight of ``module_path`` in ``model`` (None when the module has none).

    The untrained comparison comes from the runner's cache too, so selecting another layer of
    the same model builds nothing.
    """
    import torch

    from explorer.core.features import filter_tiles, weight_histogram
    from explorer.core.weights import UNTRAINED, default_weights

    runner = shared_runner()

    def weight_of(key: str) -> Generator[object, None, tuple[Any, Any]]:
        loaded = yield from _progress(runner.load(model, key))
        net, _ = runner.loaded(model, loaded.key)
        try:
            weight = getattr(net.get_submodule(module_path), "weight", None)
        except AttributeError:
            return loaded, None
        if not isinstance(weight, torch.Tensor) or weight.dim() < 1:
            return loaded, None
        return loaded, weight.detach().to("cpu", torch.float32).numpy()

    loaded, values = yield from weight_of(default_weights(model))
    if values is None:
        return None
    untrained = None
    if loaded.pretrained:
        yield ClassifyProgress(0, None, f"Loading an untrained {model} to compare…")
        _, untrained = yield from weight_of(UNTRAINED)
        if untrained is not None and untrained.shape != values.shape:
            untrained = None
    both = [values] if untrained is None else [values, untrained]
    low, high = float(min(v.min() for v in both)), float(max(v.max() for v in both))
    span = (low, high) if high > low else (low - 0.5, high + 0.5)
    counts, edges = weight_histogram(values, value_range=span)
    untrained_counts = weight_histogram(untrained, value_range=span)[0] if untrained is not None else None
    return LayerWeights(
        model, module_path, loaded.label, loaded.pretrained, values, untrained,
        edges, counts, untrained_counts, filter_tiles(values),
        (float(values.mean()), float(values.std()), float(values.min()), float(values.max())),
    )  # fmt: skip
