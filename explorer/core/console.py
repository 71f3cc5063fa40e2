"""What reaches the terminal: the project's own one-line messages, not its libraries' chatter.

Pillow warns about odd TIFF tags and EXIF blocks, torch.onnx logs its opset fallback and dumps
torch.export's failure reports, onnxruntime logs graph-optimiser notes. Every one of those
cases is either harmless or turned into an ``ExplorerError`` with a sentence of its own, so the
entry points (the CLI's ``main``, the GUI's ``run``) call ``quiet_libraries`` once at start.

Process-wide filters, set once, rather than ``warnings.catch_warnings`` around each call:
``catch_warnings`` swaps global state and is not safe with the GUI's worker threads.
"""

from __future__ import annotations

import json
import logging
import math
import warnings
from typing import Any

#: Loggers whose warnings and tracebacks duplicate what the project reports itself.
QUIET_LOGGERS = (
    "torch.onnx",
    "torch.export",
    "torch._export",
    "torch._dynamo",
    "torch.fx.experimental.symbolic_shapes",
    "onnxscript",
    "onnx_ir",
)
#: Warnings from these modules are the libraries talking to their developers, not to our users.
QUIET_WARNING_MODULES = r"(PIL|torch|torchvision|onnx|onnxscript|onnx_ir|onnxruntime|pyqtgraph)(\.|$)"

_quieted = False


def quiet_libraries() -> None:
    """Silence library warnings and logs that the project reports in its own words (idempotent)."""
    global _quieted
    if _quieted:
        return
    _quieted = True
    warnings.filterwarnings("ignore", module=QUIET_WARNING_MODULES)
    try:
        from PIL import Image

        warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
    except ImportError:
        pass
    for name in QUIET_LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(logging.CRITICAL + 1)
        logger.propagate = False


def finite_or_none(value: Any) -> Any:
    """NaN and infinity as None, recursively: JSON has no such numbers (``json.dumps`` writes bare ``NaN``)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite_or_none(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(item) for item in value]
    return value


def dumps_json(value: Any, **options: Any) -> str:
    """``json.dumps`` that never writes NaN or Infinity (which JSON parsers reject): they become null."""
    return json.dumps(finite_or_none(value), allow_nan=False, **{"indent": 2, "ensure_ascii": False, **options})
