"""The Qt-free core: zoo, graph, statistics, weights, images, runner and export.

Never imports PySide6, pyqtgraph or ``explorer.gui`` (tests/core/test_no_qt.py checks it).
``analyze`` and friends load lazily so ``import explorer.core`` stays cheap.
"""

from __future__ import annotations

from typing import Any

from explorer.core import lazy_dynamo
from explorer.core.errors import ExplorerError

lazy_dynamo.install()  # importing torchvision leaves torch._dynamo unimported (lazy_dynamo.py)

__all__ = ["ExplorerError", "ModelSummary", "analyze", "parse_input_shape"]


def __getattr__(name: str) -> Any:
    if name in {"analyze", "parse_input_shape"}:
        from explorer.core import analysis

        return getattr(analysis, name)
    if name == "ModelSummary":
        from explorer.core.stats import ModelSummary

        return ModelSummary
    raise AttributeError(f"module 'explorer.core' has no attribute {name!r}")
