"""Import torchvision without importing ``torch._dynamo`` (about 1 s of a 2-core machine's start).

``torchvision/ops/roi_align.py`` (0.29) begins with ``from torch._dynamo.utils import
is_compile_supported``, a function it calls only when ``roi_align`` runs. That one line makes every
``import torchvision`` import dynamo and, through it, sympy and much of ``torch.distributed``:
1.1 s of the 1.3 s that importing torchvision takes here, on the path to the app's first graph and
to every CLI command. torchvision's own comment in that file says it means to avoid "eagerly
importing dynamo", and PyTorch's maintainers call importing it undesirable for eager-mode users.

``install()`` (run by ``import explorer.core``, cheap: it imports nothing) adds a finder that
wraps the first import of torchvision: while torchvision's package runs, ``torch._dynamo`` and
``torch._dynamo.utils`` are placeholder modules whose ``is_compile_supported`` imports the real
dynamo on its first call and forwards to it. When the import ends the placeholders are gone, so
any later ``import torch._dynamo`` (``torch.compile``, the ONNX exporter) gets the real package.
Anything else torchvision might ask of the placeholders (a newer release) loads the real dynamo
there and then, so the worst case is today's import time, never a wrong answer.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
from collections.abc import Sequence
from typing import Any

_DYNAMO = "torch._dynamo"
_UTILS = "torch._dynamo.utils"


def is_compile_supported(device_type: Any) -> Any:
    """torch._dynamo.utils.is_compile_supported, imported on the first call."""
    from torch._dynamo.utils import is_compile_supported as real

    return real(device_type)


class _Placeholder(types.ModuleType):
    """Stands for a dynamo module while torchvision imports; any other attribute loads the real one."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        _remove_placeholders()
        return getattr(importlib.import_module(self.__name__), name)


def _placeholders() -> dict[str, types.ModuleType]:
    package = _Placeholder(_DYNAMO)
    package.__path__ = []  # a package, so that ``torch._dynamo.utils`` can be found in sys.modules
    utils = _Placeholder(_UTILS)
    utils.is_compile_supported = is_compile_supported  # type: ignore[attr-defined]
    package.utils = utils  # type: ignore[attr-defined]
    return {_DYNAMO: package, _UTILS: utils}


def _remove_placeholders() -> None:
    for name in (_UTILS, _DYNAMO):
        if isinstance(sys.modules.get(name), _Placeholder):
            del sys.modules[name]
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(torch.__dict__.get("_dynamo"), _Placeholder):
        del torch.__dict__["_dynamo"]  # torch's own __getattr__ imports the real one when asked


class _DeferringLoader(importlib.abc.Loader):
    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        module.__loader__ = self._loader  # torchvision sees its own loader, as without this wrapper
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        if _DYNAMO in sys.modules:  # already imported by someone: nothing to save
            self._loader.exec_module(module)
            return
        import torch  # noqa: F401  (torchvision imports it first anyway; the placeholders sit under it)

        sys.modules.update(_placeholders())
        try:
            self._loader.exec_module(module)
        finally:
            _remove_placeholders()


class _TorchvisionFinder(importlib.abc.MetaPathFinder):
    def find_spec(
        self, name: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if name != "torchvision":
            return None
        uninstall()  # only the first import is wrapped
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _DeferringLoader(spec.loader)
        return spec


_FINDER = _TorchvisionFinder()


def install() -> None:
    """Wrap the process's first ``import torchvision`` (no-op once torchvision is imported)."""
    if "torchvision" not in sys.modules and _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)


def uninstall() -> None:
    if _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)
