"""Importing a library without the optional extras it would load and this app never uses (Qt-free).

igraph's ``__init__`` always imports its plotting package, which imports ``matplotlib.pyplot``
when matplotlib is installed (captum brings it); pyqtgraph's always imports ``RawImageWidget``,
which tries CUDA's Python bindings (torch's CUDA build brings them) for a GPU video widget. Neither
library has a setting to skip that, and it cost 0.5 s (igraph) and 0.15–0.2 s (pyqtgraph) here,
more on a loaded machine: time the window and the first graph wait for. This app uses igraph for
layouts and pyqtgraph for plots only, so while such a library loads, ``None`` in ``sys.modules``
(Python's documented way to make an import fail) makes its optional import fall back, as it would
where the extra is not installed; the entries are removed at once, so torch and captum still
import those modules normally later. A module that is already loaded is left alone.
"""

from __future__ import annotations

import importlib
import sys
import threading
from types import ModuleType

_LOCK = threading.Lock()


def import_without(name: str, *optional: str) -> ModuleType:
    """Import ``name`` (once) while the modules ``optional`` cannot be imported."""
    with _LOCK:
        if name in sys.modules:
            return sys.modules[name]
        blocked = [module for module in optional if module not in sys.modules]
        for module in blocked:
            sys.modules[module] = None  # type: ignore[assignment]
        try:
            return importlib.import_module(name)
        finally:
            for module in blocked:
                if module in sys.modules and sys.modules[module] is None:
                    del sys.modules[module]
