"""The selected layer's weights: a histogram (pretrained against untrained) and first-layer filters.

This is the seeds' weight-initialisation lesson made visible: trained filters of a first
convolution are oriented edges and colour blobs, untrained ones are noise, and training
widens and reshapes the initial distribution. The weights come from the shared runner in a
worker (the best weights available offline); nothing here blocks the GUI thread.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from explorer.gui import jobs
from explorer.gui.workers import TaskRunner

if TYPE_CHECKING:
    from explorer.core.stats import ModelSummary

TRAINED_PEN, UNTRAINED_PEN = pg.mkPen("#1e88e5", width=2), pg.mkPen("#9e9e9e", width=1.5)


class WeightsView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.weights: jobs.LayerWeights | None = None
        self.title = QLabel("")
        self.title.setWordWrap(True)
        self.histogram = pg.PlotWidget(background=None)
        self.histogram.setMinimumHeight(130)
        self.histogram.setLabel("bottom", "weight value")
        self.histogram.setLabel("left", "count")
        self.histogram.setMouseEnabled(False, False)
        # Room for the axis label under the tick labels (it was cut at the bottom).
        self.histogram.getAxis("bottom").setHeight(self.fontMetrics().height() * 2 + 12)
        # The legend is a line above the plot, never over the bars (pyqtgraph's sat on them).
        self.legend = QLabel("")
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.legend.setWordWrap(True)
        self.filters_title = QLabel("")
        self.filters_title.setWordWrap(True)  # (unwrapped, its one line set the Layer dock's minimum at ~500 px)
        self.filters = pg.GraphicsLayoutWidget()
        self.filters.setBackground(None)
        self.filters.setMinimumHeight(120)
        box = self.filters.addViewBox(lockAspect=True, invertY=True, enableMenu=False)
        box.setMouseEnabled(False, False)
        self.filter_item = pg.ImageItem(axisOrder="row-major")
        box.addItem(self.filter_item)
        self._filter_box = box
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.title)
        layout.addWidget(self.legend)
        layout.addWidget(self.histogram, 1)
        layout.addWidget(self.filters_title)
        layout.addWidget(self.filters, 1)
        self.runner = TaskRunner(self)
        self.runner.result.connect(self._show)
        self.runner.error.connect(lambda error: self._message(f"Weights: {error}"))
        self.clear()

    def clear(self, text: str = "Select a layer with weights to see their histogram.") -> None:
        self.weights = None
        self.histogram.clear()
        self.histogram.setVisible(False)
        self.legend.setVisible(False)
        self.filters.setVisible(False)
        self.filters_title.setVisible(False)
        self._message(text)

    def _message(self, text: str) -> None:
        self.title.setText(text)

    def show_layer(self, summary: ModelSummary, name: str) -> None:
        """Fetch the weights of ``name``'s module (nothing for a block or a parameter-free node)."""
        node = summary.graph.node(name) if name in summary.graph else None
        if node is None or not node.module_path or not node.parameters:
            self.runner.cancel()
            self.clear("This layer has no weights." if node is not None else "Select a single layer to see its weights.")
            return
        self._message(f"Loading {summary.model}'s weights for {node.module_path}…")
        self.runner.submit(jobs.layer_weights, summary.model, node.module_path)

    def _show(self, weights: jobs.LayerWeights | None) -> None:
        """Draw what the worker computed (nothing heavy here: fc6 of VGG has 103 M weights)."""
        if weights is None:
            self.clear("This layer has no weight tensor.")
            return
        self.weights = weights
        values = weights.weight
        self.histogram.clear()
        self.histogram.setVisible(True)
        label = "pretrained" if weights.pretrained else "untrained (initialisation)"
        self.histogram.plot(
            weights.edges, weights.counts, stepMode="center", pen=TRAINED_PEN, fillLevel=0,
            brush=(30, 136, 229, 60), name=label,
        )  # fmt: skip
        entries = [(TRAINED_PEN, label)]
        if weights.untrained_counts is not None:
            self.histogram.plot(
                weights.edges, weights.untrained_counts, stepMode="center", pen=UNTRAINED_PEN,
                name="untrained (initialisation)",
            )  # fmt: skip
            entries.append((UNTRAINED_PEN, "untrained (initialisation)"))
        self.legend.setText(
            " &nbsp; ".join(f"<span style='color:{pen.color().name()}'>▬</span>&nbsp;{text}" for pen, text in entries)
        )
        self.legend.setVisible(True)
        shape = "×".join(str(d) for d in values.shape)
        mean, std, low, high = weights.moments
        self._message(
            f"<b>{weights.layer}.weight</b> · {shape} · {values.size:,} values · <i>{weights.label}</i><br>"
            f"mean {mean:.3g} · std {std:.3g} · min {low:.3g} · max {high:.3g}"
        )
        tiles = weights.tiles
        self.filters.setVisible(tiles is not None)
        self.filters_title.setVisible(tiles is not None)
        if tiles is not None:
            self.filters_title.setText(
                f"{values.shape[0]} filters as RGB tiles ({weights.label}; grey is zero, each filter scaled to its own range)"
            )
            self.filter_item.setImage((np.clip(tiles, 0, 1) * 255).astype(np.uint8), levels=(0, 255))
            self._filter_box.autoRange(padding=0.01)

    @property
    def busy(self) -> bool:
        return self.runner.busy
