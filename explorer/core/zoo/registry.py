"""The model catalogue: ModelSpec entries, registered by the family modules.

Modelled on torchvision's ``models/_api.py``: ``register``/``list_specs``/``get_spec``.
Names resolve in this order: the curated zoo, any torchvision classification model
("More (torchvision)"), then a user's ``path/to/file.py:factory``.
"""

from __future__ import annotations

import difflib
import functools
import importlib.util
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from explorer.core.errors import ExplorerError
from explorer.core.usercode import is_user_reference, running_user_code

if TYPE_CHECKING:
    from torch import nn

InputShape = tuple[int, int, int]
WeightKind = Literal["embedded", "torchvision"]

#: Display order of the families in the catalogue.
FAMILIES: tuple[str, ...] = (
    "LeNet",
    "AlexNet",
    "ZFNet",
    "VGG",
    "GoogLeNet",
    "ResNet",
    "EfficientNet",
    "More (torchvision)",
    "User",
)
TORCHVISION_FAMILY = "More (torchvision)"
USER_FAMILY = "User"
DEFAULT_INPUT_SHAPE: InputShape = (3, 224, 224)


@dataclass(frozen=True)
class Paper:
    title: str
    authors: str
    venue: str
    year: int
    url: str = ""

    def citation(self) -> str:
        return f"{self.authors}. {self.title}. {self.venue}, {self.year}."


@dataclass(frozen=True)
class WeightSource:
    """Where pretrained weights for a spec can come from (the user picks one)."""

    kind: WeightKind
    name: str  # torchvision enum member ("ResNet50_Weights.IMAGENET1K_V2") or package name
    description: str = ""


@dataclass(frozen=True)
class ModelSpec:
    name: str
    family: str
    title: str
    builder: Callable[..., nn.Module] = field(repr=False)
    paper: Paper | None = None
    input_shape: InputShape = DEFAULT_INPUT_SHAPE
    weight_sources: tuple[WeightSource, ...] = ()
    notes: str = ""
    #: Where this network is not the one its paper describes, and what that does to the numbers:
    #: shown with them (``summary``'s header, the catalogue's paper tooltip, the compare view).
    paper_differences: str = ""
    #: The torchvision builder this spec wraps, if any (module paths and state dicts match it).
    torchvision_name: str | None = None

    @property
    def year(self) -> int | None:
        return self.paper.year if self.paper else None

    def build(self, **kwargs: object) -> nn.Module:
        """Build the network with random weights (on the current default device)."""
        return self.builder(**kwargs)


_REGISTRY: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    if spec.name in _REGISTRY:
        raise ValueError(f"model {spec.name!r} is registered twice")
    if spec.family not in FAMILIES:
        raise ValueError(f"unknown family {spec.family!r} for {spec.name!r}")
    _REGISTRY[spec.name] = spec
    return spec


def _ensure_families_loaded() -> None:
    # The family modules register themselves on import; importing the package does it.
    import explorer.core.zoo  # noqa: F401


def zoo_specs() -> list[ModelSpec]:
    """The curated zoo, in catalogue order (family, then registration order)."""
    _ensure_families_loaded()
    order = {family: i for i, family in enumerate(FAMILIES)}
    return sorted(_REGISTRY.values(), key=lambda s: order[s.family])


def list_specs(*, include_torchvision: bool = True) -> list[ModelSpec]:
    specs = zoo_specs()
    if include_torchvision:
        specs += [torchvision_spec(name) for name in torchvision_extra_names()]
    return specs


@functools.cache
def torchvision_classification_names() -> tuple[str, ...]:
    import torchvision.models

    return tuple(torchvision.models.list_models(module=torchvision.models))


def torchvision_extra_names() -> list[str]:
    """torchvision classification models not already in the curated zoo."""
    _ensure_families_loaded()
    wrapped = {s.torchvision_name for s in _REGISTRY.values()} | set(_REGISTRY)
    return [n for n in torchvision_classification_names() if n not in wrapped]


def torchvision_weight_sources(tv_name: str) -> tuple[WeightSource, ...]:
    import torchvision.models

    try:
        enum = torchvision.models.get_model_weights(tv_name)
    except (KeyError, ValueError):
        return ()
    return tuple(
        WeightSource(
            "torchvision",
            f"{enum.__name__}.{member.name}",
            f"ImageNet acc@1 {member.meta.get('_metrics', {}).get('ImageNet-1K', {}).get('acc@1', '?')}",
        )
        for member in enum
    )


def torchvision_builder(tv_name: str, **fixed: object) -> Callable[..., nn.Module]:
    """A builder that wraps torchvision's own, so module paths and state dicts stay torchvision's."""

    def build(**kwargs: object) -> nn.Module:
        import torchvision.models

        options = {"weights": None, **fixed, **kwargs}
        return torchvision.models.get_model(tv_name, **options)

    build.__name__ = f"build_{tv_name}"
    return build


#: Builder arguments that keep torchvision quiet and the auxiliary heads available.
_TORCHVISION_FIXED: dict[str, dict[str, object]] = {"inception_v3": {"init_weights": True, "aux_logits": True}}


@functools.cache
def torchvision_spec(tv_name: str) -> ModelSpec:
    import torchvision.models

    input_shape = DEFAULT_INPUT_SHAPE
    fixed: dict[str, object] = dict(_TORCHVISION_FIXED.get(tv_name, {}))
    try:
        default = torchvision.models.get_model_weights(tv_name).DEFAULT
        crop = getattr(default.transforms(), "crop_size", None)
        if crop:
            input_shape = (3, int(crop[0]), int(crop[-1]))
            if tv_name.startswith("vit_"):
                # ViTs are built for one size; build at the size their weights use.
                fixed["image_size"] = int(crop[0])
    except (KeyError, ValueError):
        pass
    return ModelSpec(
        name=tv_name,
        family=TORCHVISION_FAMILY,
        title=f"{tv_name} (torchvision)",
        builder=torchvision_builder(tv_name, **fixed),
        input_shape=input_shape,
        weight_sources=torchvision_weight_sources(tv_name),
        notes="torchvision's builder, listed under More (torchvision).",
        torchvision_name=tv_name,
    )


def get_spec(name: str) -> ModelSpec:
    """Resolve a zoo name, a torchvision model name, or ``path/to/file.py:factory``."""
    _ensure_families_loaded()
    if name in _REGISTRY:
        return _REGISTRY[name]
    if is_user_reference(name):
        return user_spec(name)
    if name in torchvision_classification_names():
        return torchvision_spec(name)
    if name.endswith(".py"):  # a model file without its factory
        raise ExplorerError(
            f"Unknown model {name!r}: a model file is named with the function that builds the model, "
            f"{name}:FACTORY (e.g. {name}:build)."
        )
    candidates = list(dict.fromkeys([*_REGISTRY, *torchvision_classification_names()]))
    close = difflib.get_close_matches(name, candidates, n=4, cutoff=0.6)
    hint = f"Did you mean: {', '.join(close)}?" if close else "Run `cnn-explorer models` for the list."
    raise ExplorerError(f"Unknown model {name!r}.", hint=hint)


def _initialise_lazy_modules(model: nn.Module, input_shape: tuple[int, ...], what: str, path: Path, *, declared: bool) -> None:
    """Give lazy modules (``nn.LazyLinear`` …) their shapes with torch's own dry run: one forward of
    a zero batch of ``input_shape`` (in eval mode; on the meta device when building there).
    Counting, loading weights and classifying all need the parameters' shapes first."""
    import torch
    from torch.nn.parameter import is_lazy

    lazy = [
        f"{name or 'the model'}: {type(module).__name__}"
        for name, module in model.named_modules()
        if any(is_lazy(t) for t in (*module.parameters(recurse=False), *module.buffers(recurse=False)))
    ]
    if not lazy:
        return
    training = model.training
    shape = "×".join(map(str, input_shape))
    try:
        with running_user_code(f"the dry run of {what} that initialises its lazy modules"), torch.no_grad():
            model.eval()
            model(torch.zeros(1, *input_shape))
    except ExplorerError:
        raise
    except Exception as error:  # a user's code may raise anything
        raise ExplorerError(
            f"{what} has lazy modules ({', '.join(lazy[:3])}{' …' if len(lazy) > 3 else ''}), and the 1×{shape} "
            f"zero batch that initialises them failed: {_one_line(error, path)}",
            hint=None if declared else "Set INPUT_SHAPE in the file to the (C, H, W) the model takes.",
        ) from error
    finally:
        model.train(training)


def user_spec(reference: str) -> ModelSpec:
    """A spec for ``path/to/file.py:factory``; the factory returns an ``nn.Module``.

    This imports the file, which runs its code (as the README and the GUI's dialog say); the
    import, the factory and every forward pass run under ``usercode.running_user_code``.
    """
    path_text, _, factory_name = reference.rpartition(":")
    path = Path(path_text).expanduser()
    if not path.is_file():
        raise ExplorerError(f"Model file not found: {path}")
    module = _import_user_file(path)
    factory = getattr(module, factory_name, None)
    if not callable(factory):
        raise ExplorerError(f"{path} has no callable {factory_name!r}.")
    declared = getattr(factory, "input_shape", None) or getattr(module, "INPUT_SHAPE", None)
    input_shape = _declared_input_shape(declared, path) if declared is not None else DEFAULT_INPUT_SHAPE

    def build(**kwargs: object) -> nn.Module:
        from torch import nn

        try:
            with running_user_code(f"{factory_name}() in {path.name}"):
                model = factory(**kwargs)
        except ExplorerError:
            raise
        except Exception as error:  # a user's code may raise anything
            raise ExplorerError(f"{factory_name}() failed: {_one_line(error, path)}") from error
        if not isinstance(model, nn.Module):
            raise ExplorerError(
                f"{factory_name}() returned {type(model).__name__}, not a torch.nn.Module."
            )
        _initialise_lazy_modules(model, input_shape, f"{factory_name}() in {path.name}", path, declared=declared is not None)
        return model

    return ModelSpec(
        name=reference,
        family=USER_FAMILY,
        title=f"{factory_name} from {path.name}",
        builder=build,
        input_shape=input_shape,  # type: ignore[arg-type]
        notes=f"User model from {path}.",
    )


def _declared_input_shape(declared: object, path: Path) -> tuple[int, ...]:
    """``INPUT_SHAPE`` (or ``factory.input_shape``): a tuple of positive ints, or text like "3x32x32"."""
    problem = f"INPUT_SHAPE in {path.name} must be the input's (C, H, W) as positive integers, e.g. (3, 32, 32)"
    if isinstance(declared, str):
        from explorer.core.analysis import parse_input_shape

        try:
            return parse_input_shape(declared)
        except ExplorerError:
            raise ExplorerError(f"{problem}, not {declared!r}.") from None
    try:
        values = tuple(declared)  # type: ignore[call-overload]
    except TypeError:
        raise ExplorerError(f"{problem}, not {declared!r}.") from None
    if not values or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in values):
        raise ExplorerError(f"{problem}, not {declared!r}.")
    return values


def _import_user_file(path: Path) -> object:
    module_name = f"explorer_user_model_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ExplorerError(f"Cannot import {path}: not a Python file.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        with running_user_code(f"importing {path.name}"):
            spec.loader.exec_module(module)
    except ExplorerError:
        sys.modules.pop(module_name, None)
        raise
    except Exception as error:  # SyntaxError, ImportError, anything the file raises
        sys.modules.pop(module_name, None)
        raise ExplorerError(f"Cannot import {path}: {_one_line(error, path)}") from error
    return module


def _one_line(error: BaseException, path: Path) -> str:
    """``Type: message (file:line)``, locating the error in the user's file when possible."""
    location = ""
    if isinstance(error, SyntaxError) and error.lineno:
        location = f" ({path.name}:{error.lineno})"
    else:
        frames = [f for f in traceback.extract_tb(error.__traceback__) if Path(f.filename) == path]
        if frames:
            location = f" ({path.name}:{frames[-1].lineno})"
    message = str(error).strip().splitlines()[0] if str(error).strip() else ""
    text = f"{type(error).__name__}: {message}" if message else type(error).__name__
    return text + location
