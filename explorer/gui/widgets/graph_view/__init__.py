"""The layer-graph view: the analysed model's layers as a layered diagram (see view.py).

``hierarchy.py`` and ``layout.py`` are Qt-free; ``GraphView`` loads Qt only when it is asked for.
"""

from __future__ import annotations

from typing import Any

__all__ = ["GraphView"]


def __getattr__(name: str) -> Any:
    if name == "GraphView":
        from explorer.gui.widgets.graph_view.view import GraphView

        return GraphView
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
