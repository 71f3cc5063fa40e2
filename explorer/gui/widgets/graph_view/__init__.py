"""The layer-graph view: the analysed model's layers as a layered diagram (see view.py)."""

from explorer.gui.widgets.graph_view.view import GraphView

__all__ = ["GraphView"]
