"""ModelRunner: loads models with their weights, keeps them in a memory-bounded cache, classifies images.

Long calls (``load``, ``classify``) are generators that yield ``RunnerProgress``: the GUI's
workers iterate them on a thread pool and stop between yields to cancel, and the CLI drains
them. A bad image never aborts a batch: it comes back as a ``Classification`` with ``error``
set. On CUDA out-of-memory the runner frees the GPU, moves to the CPU for good, records a
notice and retries there.
"""

from __future__ import annotations

import gc
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import torch
from PIL import Image
from torch import Tensor, nn

from explorer.core import usercode
from explorer.core.devices import pick_device
from explorer.core.errors import ExplorerError
from explorer.core.images import load_image
from explorer.core.weights import (
    UNTRAINED,
    LoadedWeights,
    WeightsUnavailableError,
    canonical_key,
    load_weights,
    preprocessing_for,
)

ImageInput = str | os.PathLike[str] | bytes | Image.Image
DEFAULT_CACHE_BYTES = 2 * 2**30
OOM_NOTICE = "CUDA ran out of memory; retried on the CPU (the runner stays on the CPU from now on)."
NON_FINITE_OUTPUT = "the model's scores for this image are NaN or infinite, so there are no classes to show."

_Result = TypeVar("_Result")


@dataclass(frozen=True)
class Prediction:
    label: str
    index: int
    probability: float


@dataclass(frozen=True)
class Classification:
    image: str
    predictions: tuple[Prediction, ...]
    model: str
    weights: str
    device: str
    #: This image's decode + preprocess time plus its share of the batch's forward pass.
    ms: float
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The CLI's JSON entry; ``error`` only when set."""
        entry: dict[str, Any] = {
            "image": self.image,
            "predictions": [
                {"label": p.label, "index": p.index, "probability": p.probability} for p in self.predictions
            ],
            "model": self.model,
            "weights": self.weights,
            "device": self.device,
            "ms": round(self.ms, 3),
        }
        if self.error is not None:
            entry["error"] = self.error
        return entry


@dataclass(frozen=True)
class RunnerProgress:
    stage: str  # "download", "load", "classify" or "features"
    done: int
    total: int  # 0 when unknown (a download without Content-Length)
    message: str


@dataclass(frozen=True)
class Timings:
    """One ``classify`` call: where the time went, in milliseconds."""

    images: int
    decode_ms: float  # reading + decoding + preprocessing, all images
    forward_ms: float  # forward passes + softmax + top-k, all batches
    total_ms: float
    device: str


@dataclass
class _CacheEntry:
    name: str
    model: nn.Module
    weights: LoadedWeights
    nbytes: int
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))


def drain(generator: Generator[Any, None, _Result]) -> _Result:
    """Run a progress generator to the end and return its result (the CLI and tests do this)."""
    while True:
        try:
            next(generator)
        except StopIteration as stop:
            return stop.value


def model_bytes(model: nn.Module) -> int:
    """Parameter + buffer bytes: what the cache counts against its bound."""
    tensors = [*model.parameters(), *model.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors)


def _image_name(item: ImageInput, position: int) -> str:
    if isinstance(item, Image.Image):
        return getattr(item, "filename", "") or f"image {position + 1}"
    if isinstance(item, (bytes, bytearray, memoryview)):
        return f"pasted image {position + 1}"
    return os.fspath(item)


IMAGE_MODEL_NEEDS = "an image model taking N×3×H×W (or N×1×H×W) images"


def _logits(output: Any, model: str) -> Tensor:
    """The class scores from whatever a model returns (GoogLeNet/Inception namedtuples in train mode)."""
    logits = output
    if not isinstance(logits, Tensor):
        logits = getattr(output, "logits", None)
    if not isinstance(logits, Tensor) and isinstance(output, (tuple, list)) and output:
        logits = output[0]
    if not isinstance(logits, Tensor):
        raise ExplorerError(
            f"{model} returned {type(output).__name__}, not class scores: classify needs a model "
            "that returns an N×classes tensor."
        )
    if logits.dim() != 2:
        shape = "×".join(map(str, logits.shape)) or "a scalar"
        raise ExplorerError(
            f"{model} returned scores of shape {shape}: classify needs a model that returns N×classes."
        )
    return logits


def require_image_model(model: str, command: str) -> None:
    """Refuse, before anything runs, a model whose declared input is not an image (C×H×W, C = 1 or 3)."""
    from explorer.core.zoo import get_spec

    shape = tuple(get_spec(model).input_shape)
    if len(shape) != 3 or shape[0] not in (1, 3):
        text = "×".join(map(str, shape))
        raise ExplorerError(f"{command} needs {IMAGE_MODEL_NEEDS}; {model} takes {text}.")


def forward_failed(model: str, command: str, batch: Tensor, error: Exception) -> ExplorerError:
    """A user model's forward that raised: one line saying what the command needs."""
    from explorer.core.zoo.registry import _one_line

    shape = "×".join(map(str, batch.shape))
    path = Path(model.rpartition(":")[0])
    return ExplorerError(
        f"{model} fails on a {shape} batch ({_one_line(error, path)}): {command} needs {IMAGE_MODEL_NEEDS}."
    )


class ModelRunner:
    """Runs classification for the GUI and the CLI; meant for one worker at a time."""

    def __init__(self, device: str = "auto", *, cache_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.device: torch.device = pick_device(device)
        self.cache_bytes = cache_bytes
        self.notices: list[str] = []
        self.last_timings: Timings | None = None
        self._cache: OrderedDict[tuple[str, ...], _CacheEntry] = OrderedDict()
        # The cache is the only state shared between a worker and the GUI thread (clear, notices).
        self._lock = threading.RLock()

    # --- the cache --------------------------------------------------------------------------

    @staticmethod
    def _cache_key(model: str, key: str) -> tuple[str, ...]:
        # A weights file edited on disk must not be served from the cache.
        if os.path.isabs(key) and os.path.isfile(key):
            stat = os.stat(key)
            return (model, key, str(stat.st_mtime_ns), str(stat.st_size))
        return (model, key)

    def _lookup(self, model: str, key: str) -> _CacheEntry | None:
        with self._lock:
            cache_key = self._cache_key(model, key)
            entry = self._cache.get(cache_key)
            if entry is not None:
                self._cache.move_to_end(cache_key)
            return entry

    def _store(self, model: str, key: str, net: nn.Module, weights: LoadedWeights) -> _CacheEntry:
        with self._lock:
            net = self._place(net, self.device)
            entry = _CacheEntry(model, net, weights, model_bytes(net), self.device)
            self._cache[self._cache_key(model, key)] = entry
            self._cache.move_to_end(self._cache_key(model, key))
            self._evict(keep=entry)
            return entry

    def _evict(self, *, keep: _CacheEntry) -> None:
        evicted = False
        while self.cached_bytes > self.cache_bytes and len(self._cache) > 1:
            oldest_key, oldest = next(iter(self._cache.items()))
            if oldest is keep:
                break
            del self._cache[oldest_key]
            evicted = True
        if evicted:
            self._free_memory()

    @property
    def cached_bytes(self) -> int:
        with self._lock:
            return sum(entry.nbytes for entry in self._cache.values())

    def cached_models(self) -> list[tuple[str, str]]:
        """(model, weights label) of the cached models, least recently used first."""
        with self._lock:
            return [(key[0], entry.weights.label) for key, entry in self._cache.items()]

    def clear(self) -> None:
        """Drop every cached model and give their memory back."""
        with self._lock:
            self._cache.clear()
        self._free_memory()

    def _free_memory(self) -> None:
        gc.collect()
        if self.device.type == "cuda" or torch.cuda.is_initialized():
            torch.cuda.empty_cache()

    # --- moving and timing (one place each, so tests can stand in for a GPU) ---------------

    @staticmethod
    def _place(value: Any, device: torch.device) -> Any:
        return value.to(device)

    @staticmethod
    def _synchronize(device: torch.device) -> None:
        # Kernels run asynchronously on CUDA: without this the clock stops before the work does.
        if device.type == "cuda" and torch.cuda.is_available():
            torch.cuda.synchronize(device)

    # --- loading ----------------------------------------------------------------------------

    def load(
        self,
        model: str,
        weights: str | None = None,
        *,
        allow_download: bool = False,
        fallback_untrained: bool = False,
    ) -> Generator[RunnerProgress, None, LoadedWeights]:
        """Load ``model`` with ``weights`` (None: the best offline default) into the cache.

        torchvision weights that are neither cached nor downloadable (offline, or
        ``allow_download=False``) raise ``WeightsUnavailableError``; with
        ``fallback_untrained=True`` the runner instead loads random weights, labelled
        "untrained", records the message in ``notices`` and yields it as progress. The returned
        ``LoadedWeights.key`` says which weights were loaded.
        """
        entry = yield from self._entry(
            model, weights, allow_download=allow_download, fallback_untrained=fallback_untrained
        )
        return entry.weights

    def loaded(self, model: str, weights: str | None = None) -> tuple[nn.Module, LoadedWeights]:
        """From the cache, or loaded now without the network (uncached torchvision weights raise)."""
        entry = drain(self._entry(model, weights, allow_download=False, fallback_untrained=False))
        return entry.model, entry.weights

    def _entry(
        self, model: str, weights: str | None, *, allow_download: bool, fallback_untrained: bool
    ) -> Generator[RunnerProgress, None, _CacheEntry]:
        key = canonical_key(model, weights)
        entry = self._lookup(model, key)
        if entry is not None:
            return entry
        yield RunnerProgress("load", 0, 1, f"Loading {model} ({key})")
        try:
            net, loaded = yield from self._relay(load_weights(model, key, allow_download=allow_download))
        except WeightsUnavailableError as error:
            if not fallback_untrained:
                raise
            notice = f"{error.args[0]} {model} uses random weights instead (untrained)."
            self.notices.append(notice)
            yield RunnerProgress("load", 0, 1, notice)
            key = UNTRAINED
            entry = self._lookup(model, key)
            if entry is not None:
                return entry
            net, loaded = drain(load_weights(model, key))
        entry = self._store(model, key, net, loaded)
        yield RunnerProgress("load", 1, 1, f"Loaded {model} ({loaded.label})")
        return entry

    @staticmethod
    def _relay(generator: Generator[Any, None, _Result]) -> Generator[RunnerProgress, None, _Result]:
        """Download progress as RunnerProgress; closing this closes the download (no partial file)."""
        try:
            while True:
                try:
                    progress = next(generator)
                except StopIteration as stop:
                    return stop.value
                yield RunnerProgress("download", progress.done, progress.total or 0, progress.message)
        finally:
            generator.close()

    # --- classifying ------------------------------------------------------------------------

    def preprocess(
        self, model: str, image: ImageInput, weights: str | None = None
    ) -> tuple[Image.Image, Tensor]:
        """The crop the network sees (for the GUI to show) and the normalised tensor made from it."""
        key = canonical_key(model, weights)
        entry = self._lookup(model, key)
        preprocessing = entry.weights.preprocessing if entry else preprocessing_for(model, key)
        try:
            picture = image if isinstance(image, Image.Image) else load_image(image)
            crop = preprocessing.crop_image(picture)
        except MemoryError:
            raise ExplorerError(f"{_image_name(image, 0)}: not enough memory to preprocess it.") from None
        return crop, preprocessing.normalize(crop)

    def classify(
        self,
        model: str,
        images: Sequence[ImageInput],
        *,
        weights: str | None = None,
        top_k: int = 5,
        batch_size: int = 8,
    ) -> Generator[RunnerProgress, None, list[Classification]]:
        """Top-k classes for each image, in order; a bad image gives an entry with ``error`` set."""
        if top_k < 1:
            raise ExplorerError(f"top-k must be at least 1, not {top_k}.")
        if batch_size < 1:
            raise ExplorerError(f"The batch size must be at least 1, not {batch_size}.")
        images = list(images)
        total = len(images)
        require_image_model(model, "classify")
        entry = yield from self._entry(model, weights, allow_download=False, fallback_untrained=False)
        label = entry.weights.label
        preprocessing = entry.weights.preprocessing
        results: list[Classification | None] = []
        decode_ms = forward_ms = 0.0
        started = time.perf_counter()
        for start in range(0, total, batch_size):
            pending: list[tuple[int, str, Tensor, float]] = []  # slot, name, tensor, decode ms
            for position in range(start, min(start + batch_size, total)):
                item = images[position]
                name = _image_name(item, position)
                clock = time.perf_counter()
                try:
                    picture = item if isinstance(item, Image.Image) else load_image(item, name=name)
                    tensor = preprocessing.to_tensor(picture)
                    del picture
                except (ExplorerError, MemoryError) as error:  # this file's entry; the others go on
                    message = str(error) if isinstance(error, ExplorerError) else "not enough memory to preprocess it."
                    elapsed = (time.perf_counter() - clock) * 1e3
                    decode_ms += elapsed
                    results.append(Classification(name, (), model, label, str(self.device), elapsed, message))
                    continue
                elapsed = (time.perf_counter() - clock) * 1e3
                decode_ms += elapsed
                pending.append((len(results), name, tensor, elapsed))
                results.append(None)
            if pending:
                batch = torch.stack([tensor for _, _, tensor, _ in pending])
                predictions, batch_ms = self._predict(entry, batch, top_k)
                forward_ms += batch_ms
                share = batch_ms / len(pending)
                for (slot, name, _, own_ms), top in zip(pending, predictions, strict=True):
                    if top is None:
                        results[slot] = Classification(
                            name, (), model, label, str(self.device), own_ms + share, NON_FINITE_OUTPUT
                        )
                    else:
                        results[slot] = Classification(name, top, model, label, str(self.device), own_ms + share)
            done = min(start + batch_size, total)
            yield RunnerProgress("classify", done, total, f"Classified {done} of {total} image{'s' * (total != 1)}")
        self.last_timings = Timings(
            total, decode_ms, forward_ms, (time.perf_counter() - started) * 1e3, str(self.device)
        )
        return [result for result in results if result is not None]

    def classify_all(self, *args: Any, **kwargs: Any) -> list[Classification]:
        """``classify`` run to the end."""
        return drain(self.classify(*args, **kwargs))

    def predict(
        self, model: str, batch: Tensor, *, weights: str | None = None, top_k: int = 5
    ) -> tuple[tuple[Prediction, ...], ...]:
        """Top-k for an already preprocessed (N, C, H, W) batch: the runner's forward path alone."""
        entry = drain(self._entry(model, weights, allow_download=False, fallback_untrained=False))
        predictions, _ = self._predict(entry, batch, top_k)
        if any(row is None for row in predictions):
            raise ExplorerError(f"{model}: {NON_FINITE_OUTPUT}")
        return predictions  # type: ignore[return-value]

    def _predict(
        self, entry: _CacheEntry, batch: Tensor, top_k: int
    ) -> tuple[tuple[tuple[Prediction, ...] | None, ...], float]:
        try:
            return self._forward_top_k(entry, batch, top_k)
        except torch.OutOfMemoryError:
            if self.device.type != "cuda":
                raise ExplorerError(
                    f"Out of memory classifying a batch of {len(batch)} on the {self.device.type}.",
                    hint="Use a smaller batch or a smaller model.",
                ) from None
        # Retried outside the except block: the exception's frames hold the GPU tensors.
        self._move_to_cpu()
        return self._forward_top_k(entry, batch, top_k)

    def _move_to_cpu(self) -> None:
        cpu = torch.device("cpu")
        with self._lock:
            for entry in self._cache.values():
                entry.model = self._place(entry.model, cpu)
                entry.device = cpu
            self.device = cpu
        gc.collect()
        torch.cuda.empty_cache()
        self.notices.append(OOM_NOTICE)

    def on_device(self, model: str, weights: str | None = None) -> nn.Module:
        """The cached model, in eval mode on the runner's device (moved there if need be)."""
        entry = drain(self._entry(model, weights, allow_download=False, fallback_untrained=False))
        return self._ready(entry)

    def _ready(self, entry: _CacheEntry) -> nn.Module:
        device = self.device
        model = entry.model
        if entry.device != device:
            model = entry.model = self._place(entry.model, device)
            entry.device = device
        if model.training:  # another view may have switched it for a train-mode trace
            model.eval()
        return model

    def _forward_top_k(
        self, entry: _CacheEntry, batch: Tensor, top_k: int
    ) -> tuple[tuple[tuple[Prediction, ...] | None, ...], float]:
        """Top-k per row; a row whose scores are not all finite is None (its image gets an error)."""
        device = self.device
        model = self._ready(entry)
        self._synchronize(device)
        clock = time.perf_counter()
        with torch.inference_mode():
            try:
                with usercode.guard(entry.name, "the forward pass"):
                    output = model(self._place(batch, device))
            except (ExplorerError, torch.OutOfMemoryError):
                raise
            except Exception as error:
                if not usercode.is_user_reference(entry.name):
                    raise
                raise forward_failed(entry.name, "classify", batch, error) from None
            logits = _logits(output, entry.name).float()
            finite = torch.isfinite(logits).all(dim=1).cpu().tolist()
            probabilities = logits.softmax(dim=1)
            values, indices = probabilities.topk(min(top_k, probabilities.shape[1]), dim=1)
            values, indices = values.cpu().tolist(), indices.cpu().tolist()
        self._synchronize(device)
        elapsed = (time.perf_counter() - clock) * 1e3
        categories = entry.weights.categories
        predictions = tuple(
            tuple(
                Prediction(
                    categories[index] if categories and index < len(categories) else f"class {index}",
                    int(index),
                    float(probability),
                )
                for probability, index in zip(row_values, row_indices, strict=True)
            )
            if row_finite
            else None
            for row_values, row_indices, row_finite in zip(values, indices, finite, strict=True)
        )
        return predictions, elapsed
