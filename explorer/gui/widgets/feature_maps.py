"""Feature maps: what a layer of a CNN responds to in one photo, channel by channel.

A ``FeatureMapsView`` holds two or more ``FeaturePane``s side by side, all fed the same image.
Each pane picks its own model, weights and layer and shows the layer's channels as one mosaic
(a pyqtgraph ImageItem with a colormap). Clicking a channel opens it large, with its histogram
and an overlay on the input crop; clicking a position in the large view draws its receptive
field on the crop. An Inception module or a residual block shows its branches side by side.
Every capture runs in a worker; a newer request cancels the older.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, QStringListModel, Qt, Signal
from PySide6.QtGui import QColor, QDragEnterEvent, QDropEvent, QFont, QImage, QPen, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QCompleter,
    QFrame,
    QGraphicsRectItem,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from explorer.core.samples import DEFAULT_SAMPLE
from explorer.gui import jobs
from explorer.gui.widgets.untrained_badge import BADGE_COLOUR, BADGE_TEXT, mark_fell_back, untrained_badge
from explorer.gui.workers import TaskRunner

if TYPE_CHECKING:
    from explorer.core.features import LayerActivation

PAGE_SIZE = 256
PADDING = 1
COLORMAP = "viridis"
DEFAULT_IMAGE = jobs.SAMPLE_IMAGES / DEFAULT_SAMPLE
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.gif *.tif *.tiff *.webp);;All files (*)"
NORMALISE_MODES = (("per channel", "channel"), ("per layer", "layer"))


#: the narrowest a pane gets beside another; narrower, the panes stack (top to bottom)
PANE_MIN_WIDTH = 380
#: the narrowest a branch's grid gets in a block's row; narrower, the branches wrap onto another row
BRANCH_MIN_WIDTH = 150


def fit_columns(count: int, tile_hw: tuple[int, int], width: float, height: float) -> int:
    """The number of mosaic columns that shows ``count`` tiles largest in a ``width``×``height`` area.

    A square mosaic (√count columns) left tall empty bands in a wide pane, or wide ones in a narrow
    column; the mosaic takes the shape of its place instead. Ties go to fewer columns.
    """
    if count <= 1 or width <= 0 or height <= 0:
        return max(1, math.ceil(math.sqrt(max(count, 1))))
    tile_h, tile_w = tile_hw[0] + PADDING, tile_hw[1] + PADDING
    best, best_scale = 1, -1.0
    for columns in range(1, count + 1):
        rows = math.ceil(count / columns)
        scale = min(width / (columns * tile_w), height / (rows * tile_h))
        if scale > best_scale * (1 + 1e-9):
            best, best_scale = columns, scale
    return best


def qimage_to_array(image: QImage) -> np.ndarray:
    """An RGB QImage as a (H, W, 3) uint8 array (a copy)."""
    rgb = image.convertToFormat(QImage.Format.Format_RGB888)
    width, height, stride = rgb.width(), rgb.height(), rgb.bytesPerLine()
    buffer = np.frombuffer(rgb.constBits(), dtype=np.uint8, count=stride * height)
    return buffer.reshape(height, stride)[:, : width * 3].reshape(height, width, 3).copy()


def upsample(values: np.ndarray, height: int, width: int) -> np.ndarray:
    """A 2-D map resized bilinearly to (height, width) (PIL's float mode)."""
    from PIL import Image

    picture = Image.fromarray(np.ascontiguousarray(values, dtype=np.float32), mode="F")
    return np.asarray(picture.resize((width, height), Image.Resampling.BILINEAR), dtype=np.float32)


class ClickableImage(pg.ImageItem):
    """An ImageItem (row-major) that reports left clicks in image coordinates (x=column, y=row)."""

    clicked = Signal(float, float)

    def __init__(self, **options: Any) -> None:
        super().__init__(axisOrder="row-major", **options)

    def mouseClickEvent(self, event: Any) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            position = event.pos()
            self.clicked.emit(position.x(), position.y())
            event.accept()
        else:
            super().mouseClickEvent(event)


def _image_plot(widget: pg.GraphicsLayoutWidget, *, clickable: bool = True) -> tuple[pg.ViewBox, pg.ImageItem]:
    """A locked-aspect, y-down view box with one image item in it."""
    box = widget.addViewBox(lockAspect=True, invertY=True, enableMenu=False)
    box.setMouseEnabled(False, False)
    item = ClickableImage() if clickable else pg.ImageItem(axisOrder="row-major")
    item.setColorMap(pg.colormap.get(COLORMAP))
    box.addItem(item)
    return box, item


class ChannelGrid(pg.GraphicsLayoutWidget):
    """One mosaic of channels: a single ImageItem; ``channelClicked(index)`` on a tile click."""

    channelClicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setBackground(None)
        self.ci.setContentsMargins(0, 0, 0, 0)
        self.box, self.image_item = _image_plot(self)
        self.image_item.clicked.connect(self._clicked)
        self.channels: list[int] = []  # channel index of each tile, in tile order
        self.columns = 1
        self.tile_hw = (1, 1)
        self.mosaic: np.ndarray | None = None
        self._values: np.ndarray | None = None
        # The grid takes the room its pane gives it; the mosaic is re-tiled to the room's shape.
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

    def show_channels(self, values: np.ndarray, channels: Sequence[int]) -> np.ndarray:
        """Tile ``values[channels]`` (each in [0, 1]) with the core's ``tile_channels``, shaped to fit."""
        self._values = values
        self.channels = list(channels)
        self.tile_hw = (int(values.shape[-2]), int(values.shape[-1])) if values.ndim == 3 else (1, 1)
        return self._tile(self._fitting_columns())

    def _fitting_columns(self) -> int:
        if len(self.channels) > 1:
            return fit_columns(len(self.channels), self.tile_hw, self.width(), self.height())
        return 1

    def _tile(self, columns: int) -> np.ndarray:
        from explorer.core.features import tile_channels

        assert self._values is not None
        self.columns = columns
        mosaic = np.asarray(tile_channels(self._values, self.channels, columns=columns, padding=PADDING), dtype=np.float32)
        self.mosaic = mosaic
        self.image_item.setImage(mosaic, levels=(0.0, 1.0), autoLevels=False)
        self.box.autoRange(padding=0.01)
        return mosaic

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)  # (pyqtgraph calls this with None while it is being built)
        if getattr(self, "_values", None) is not None and self.channels:
            columns = self._fitting_columns()
            if columns != self.columns:
                self._tile(columns)
            else:
                self.box.autoRange(padding=0.01)

    def filled_fraction(self) -> float:
        """How much of the grid's area the mosaic covers on screen (1.0: all of it)."""
        if self.mosaic is None or self.width() <= 0 or self.height() <= 0:
            return 0.0
        height, width = self.mosaic.shape[:2]
        scale = min(self.width() / width, self.height() / height)
        return (width * scale) * (height * scale) / (self.width() * self.height())

    def clear(self) -> None:
        self.channels, self.mosaic, self._values = [], None, None
        self.image_item.clear()

    def channel_at(self, x: float, y: float) -> int | None:
        """The channel under mosaic position (x, y), or None on the padding or outside."""
        if not self.channels:
            return None
        height, width = self.tile_hw
        column, dx = divmod(int(math.floor(x)), width + PADDING)
        row, dy = divmod(int(math.floor(y)), height + PADDING)
        if x < 0 or y < 0 or column >= self.columns or dx >= width or dy >= height:
            return None
        tile = row * self.columns + column
        return self.channels[tile] if tile < len(self.channels) else None

    def tile_centre(self, channel: int) -> QPointF:
        """The mosaic coordinates of ``channel``'s tile centre (tests and keyboard use)."""
        tile = self.channels.index(channel)
        row, column = divmod(tile, self.columns)
        height, width = self.tile_hw
        return QPointF(column * (width + PADDING) + width / 2, row * (height + PADDING) + height / 2)

    def _clicked(self, x: float, y: float) -> None:
        channel = self.channel_at(x, y)
        if channel is not None:
            self.channelClicked.emit(channel)


class BranchGrid(QFrame):
    """A small titled grid of one branch of a block."""

    def __init__(self, title: str, node: str, activation: LayerActivation, mode: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.title, self.node, self.activation = title, node, activation
        self.channels = int(activation.shape[0]) if activation.shape else 0
        self.label = QLabel(f"<b>{title}</b><br><small>{node} · {self._shape_text()}</small>")
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.label.setWordWrap(True)
        self.grid = ChannelGrid()
        self.grid.setMinimumSize(BRANCH_MIN_WIDTH - 12, 110)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.label)
        layout.addWidget(self.grid, 1)
        values = activation.normalised(mode)
        if values.ndim == 3:
            self.grid.show_channels(values, list(range(min(self.channels, PAGE_SIZE))))

    def _shape_text(self) -> str:
        shape = "×".join(str(s) for s in self.activation.shape)
        return f"{self.channels} ch ({shape})"


class FeaturePane(QFrame):
    """One model × weights × layer, and its channels on the view's image."""

    layerChanged = Signal(str)
    removeRequested = Signal(object)
    captured = Signal(object)  # the FeatureCapture shown

    def __init__(self, parent: QWidget | None = None, *, removable: bool = True) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.image_path: str | None = None
        self.capture: jobs.FeatureCapture | None = None
        self.activation: LayerActivation | None = None
        self.branch_grids: list[BranchGrid] = []
        self.page = 0
        self.order: list[int] = []
        self.selected_channel: int | None = None
        self.rf_box: tuple[int, int, int, int] | None = None
        self.error: str | None = None
        self._names: jobs.LayerNames | None = None
        self._pending_layer: str | None = None

        self.names_runner = TaskRunner(self)
        self.names_runner.result.connect(self._names_ready)
        self.names_runner.error.connect(self._failed)
        self.runner = TaskRunner(self)
        self.runner.progress.connect(self._progress)
        self.runner.result.connect(self._show_capture)
        self.runner.error.connect(self._failed)

        # pickers
        # Short minimums (the lists are wider when open): two panes fit side by side at 1280 px.
        self.model_box = QComboBox()
        self.model_box.setMinimumContentsLength(9)
        self.weights_box = QComboBox()
        self.weights_box.setMinimumContentsLength(10)
        self.layer_box = QComboBox()
        self.layer_box.setEditable(True)
        self.layer_box.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.layer_box.setMinimumContentsLength(10)
        self.layer_box.setToolTip("A layer (layer1.0.conv1), or an Inception module / residual block (inception3a, layer1.0)")
        self._completion = QStringListModel(self)
        completer = QCompleter(self._completion, self)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.layer_box.setCompleter(completer)
        self.remove_button = QToolButton(text="✕")
        self.remove_button.setToolTip("Remove this pane")
        self.remove_button.setVisible(removable)
        self.remove_button.clicked.connect(lambda: self.removeRequested.emit(self))
        for box in (self.model_box, self.weights_box, self.layer_box):
            box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        pickers = QHBoxLayout()
        pickers.addWidget(self.model_box, 2)
        pickers.addWidget(self.weights_box, 3)
        pickers.addWidget(self.layer_box, 3)
        pickers.addWidget(self.remove_button)

        # title, badge, controls
        self.title = QLabel("—")
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.title.setWordWrap(True)  # a long layer name wraps instead of widening the pane
        self.badge = untrained_badge()
        self.badge.setToolTip("Random initialisation: these maps show what an untrained network computes")
        title_row = QHBoxLayout()
        title_row.addWidget(self.title, 1)
        title_row.addWidget(self.badge)

        self.normalise_box = QComboBox()
        for text, mode in NORMALISE_MODES:
            self.normalise_box.addItem(f"normalise {text}", mode)
        self.normalise_box.setToolTip("Scale each channel to its own range, or every channel to the layer's range")
        self.sort_box = QCheckBox("sort")
        self.sort_box.setToolTip("Sort by strength: the strongest channels (by mean activation) first")
        self.prev_button = QToolButton(text="◀")
        self.next_button = QToolButton(text="▶")
        self.page_label = QLabel("")
        self.save_button = QPushButton("Save PNG…")
        self.save_button.setToolTip("The grid as a PNG, with the model, the weights, the layer and the shape above it")
        controls = QHBoxLayout()
        controls.addWidget(self.normalise_box)
        controls.addWidget(self.sort_box)
        controls.addStretch(1)
        controls.addWidget(self.prev_button)
        controls.addWidget(self.page_label)
        controls.addWidget(self.next_button)
        controls.addWidget(self.save_button)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setStyleSheet("QLabel { color: palette(placeholder-text); }")

        # the channel grid, or the branches of a block
        self.grid = ChannelGrid()
        self.grid.setMinimumHeight(120)  # leaves the channel's large view room at 1024×700
        self.grid.channelClicked.connect(self.open_channel)
        # A block's branches in rows that wrap to the pane's width; no scroll area of their own (the
        # page scrolls, once, when the window is too small), each grid filling its cell.
        self.branch_host = QWidget()
        self.branch_row = QGridLayout(self.branch_host)
        self.branch_row.setContentsMargins(0, 0, 0, 0)
        self.branch_row.setSpacing(4)
        self.branch_columns = 1
        self.branch_summary = QLabel("")
        self.branch_summary.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.branch_summary.setWordWrap(True)
        self.branch_area = QWidget()
        branch_layout = QVBoxLayout(self.branch_area)
        branch_layout.setContentsMargins(0, 0, 0, 0)
        branch_layout.addWidget(self.branch_host, 1)
        branch_layout.addWidget(self.branch_summary)
        self.branch_area.setVisible(False)

        # the large view of one channel: the channel, its histogram, the overlay on the input crop
        self.detail = pg.GraphicsLayoutWidget()
        self.detail.setBackground(None)
        # The channel's numbers above the large view, wrapped (pyqtgraph's label was cut at the right).
        self.detail_label = QLabel("")
        self.detail_label.setWordWrap(True)
        self.detail_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.detail_box = self.detail.addViewBox(row=0, col=0, lockAspect=True, invertY=True, enableMenu=False)
        self.detail_box.setMouseEnabled(False, False)
        self.detail_image = ClickableImage()
        self.detail_image.setColorMap(pg.colormap.get(COLORMAP))
        self.detail_box.addItem(self.detail_image)
        self.detail_marker = QGraphicsRectItem()
        self.detail_marker.setPen(pg.mkPen("#ff5252", width=0))
        self.detail_marker.setVisible(False)
        self.detail_box.addItem(self.detail_marker)
        self.detail_image.clicked.connect(lambda x, y: self.select_position(int(y), int(x)))
        self.histogram = self.detail.addPlot(row=0, col=1)
        self.histogram.setMouseEnabled(False, False)
        self.histogram.setMenuEnabled(False)
        self.histogram.hideButtons()
        self.histogram.setLabel("bottom", "activation")
        self.histogram_curve = self.histogram.plot([0, 1], [0], stepMode="center", fillLevel=0, brush=(70, 130, 180, 160), pen="#4682b4")
        self.crop_box = self.detail.addViewBox(row=0, col=2, lockAspect=True, invertY=True, enableMenu=False)
        self.crop_box.setMouseEnabled(False, False)
        self.crop_image = pg.ImageItem(axisOrder="row-major")
        self.overlay_image = pg.ImageItem(axisOrder="row-major")
        self.overlay_image.setColorMap(pg.colormap.get("inferno"))
        self.overlay_image.setOpacity(0.55)
        self.crop_box.addItem(self.crop_image)
        self.crop_box.addItem(self.overlay_image)
        self.rf_item = QGraphicsRectItem()
        pen = QPen(QColor("#00e5ff"))
        pen.setWidthF(2.0)
        pen.setCosmetic(True)
        self.rf_item.setPen(pen)
        self.rf_item.setVisible(False)
        self.crop_box.addItem(self.rf_item)
        # The channel and the crop are what one reads: they get two shares each, the histogram one.
        for column, stretch in ((0, 2), (1, 1), (2, 2)):
            self.detail.ci.layout.setColumnStretchFactor(column, stretch)
        self.detail.setMinimumHeight(170)
        self.detail_panel = QWidget()
        detail_layout = QVBoxLayout(self.detail_panel)
        detail_layout.setContentsMargins(0, 0, 0, 0)
        detail_layout.setSpacing(2)
        detail_layout.addWidget(self.detail_label)
        detail_layout.addWidget(self.detail, 1)
        self.detail_panel.setVisible(False)
        self.detail.setVisible(False)

        splitter = QSplitter(Qt.Orientation.Vertical)
        host = QWidget()
        host_layout = QVBoxLayout(host)
        host_layout.setContentsMargins(0, 0, 0, 0)
        host_layout.addWidget(self.grid, 1)
        host_layout.addWidget(self.branch_area, 1)
        splitter.addWidget(host)
        splitter.addWidget(self.detail_panel)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setChildrenCollapsible(False)
        self.detail_splitter = splitter

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(pickers)
        layout.addLayout(title_row)
        layout.addLayout(controls)
        layout.addWidget(self.status)
        layout.addWidget(splitter, 1)

        self.model_box.currentTextChanged.connect(self._model_changed)
        self.weights_box.activated.connect(lambda _i: self.refresh())
        self.layer_box.activated.connect(lambda _i: self.set_layer(self.layer_box.currentText()))
        self.layer_box.lineEdit().returnPressed.connect(lambda: self.set_layer(self.layer_box.currentText()))
        self.normalise_box.currentIndexChanged.connect(lambda _i: self._redraw())
        self.sort_box.toggled.connect(lambda _on: self._reorder())
        self.prev_button.clicked.connect(lambda: self.set_page(self.page - 1))
        self.next_button.clicked.connect(lambda: self.set_page(self.page + 1))
        self.save_button.clicked.connect(self._save_dialog)
        self._update_paging()
        from explorer.gui.widgets.effective_field import EffectiveFieldOverlay  # issue 14 (imported here: no cycle)

        self.effective_field = EffectiveFieldOverlay(self)

    # --- public API --------------------------------------------------------------------------

    def set_model_names(self, names: Sequence[str]) -> None:
        current = self.model_box.currentText()
        self.model_box.blockSignals(True)
        self.model_box.clear()
        self.model_box.addItems(list(names))
        if current:
            self.model_box.setCurrentText(current)
        self.model_box.blockSignals(False)
        if self.model_box.currentText() != current:
            self._model_changed(self.model_box.currentText())

    def set_model(self, name: str, layer: str | None = None) -> None:
        """Show ``name`` (added to the picker if missing); ``layer`` to pick at once."""
        if layer is not None:
            self._pending_layer = layer
        if self.model_box.findText(name) < 0:
            self.model_box.addItem(name)
        if self.model_box.currentText() == name:
            if layer is not None:
                self.set_layer(layer)
            return
        self.model_box.setCurrentText(name)

    def model(self) -> str:
        return self.model_box.currentText()

    def weights(self) -> str | None:
        return self.weights_box.currentData()

    def layer(self) -> str:
        return self.layer_box.currentText().strip()

    def set_layer(self, name: str) -> None:
        """A node name (``layer1.0.conv1``) or a block path (``inception3a``, ``layer1.0``)."""
        name = name.strip()
        if not name:
            return
        self._pending_layer = None
        changed = name != self.layer() or self.capture is None or self.capture.layer != name
        self.layer_box.setCurrentText(name)
        if changed:
            self.layerChanged.emit(name)
        self.refresh()

    def set_image(self, path: str | Path) -> None:
        self.image_path = str(path)
        self.refresh()

    def refresh(self) -> None:
        """Capture again for the current model, weights, layer and image (in the worker)."""
        model, layer = self.model(), self.layer()
        if not model or not layer or not self.image_path or self._pending_layer is not None:
            return
        if self._names is not None and self._names.model == model and layer not in self._names.names:
            self._set_status(f"{model} has no layer or block named {layer!r}.", error=True)
            return
        self.error = None
        self._set_status(f"Capturing {layer}…")
        self.runner.submit(jobs.capture_features, model, self.weights(), self.image_path, layer)

    @property
    def busy(self) -> bool:
        return self.runner.busy or self.names_runner.busy or self.effective_field.busy

    def set_page(self, page: int) -> None:
        pages = self.page_count()
        self.page = max(0, min(page, pages - 1))
        self._redraw()

    def page_count(self) -> int:
        return max(1, math.ceil(len(self.order) / PAGE_SIZE))

    def page_channels(self) -> list[int]:
        return self.order[self.page * PAGE_SIZE : (self.page + 1) * PAGE_SIZE]

    def normalise_mode(self) -> str:
        return self.normalise_box.currentData()

    def set_normalise(self, mode: str) -> None:
        self.normalise_box.setCurrentIndex(self.normalise_box.findData(mode))

    def set_sorted(self, on: bool) -> None:
        self.sort_box.setChecked(on)

    def open_channel(self, channel: int) -> None:
        """The large view of ``channel``: the map, its histogram, and its overlay on the input crop."""
        if self.activation is None or self.capture is None or self.activation.values.ndim != 3:
            return
        self.selected_channel = channel
        values = self.activation.values[channel]
        stats = self.activation.channels[channel]
        scaled = self.activation.normalised(self.normalise_mode())[channel]
        self.detail_image.setImage(scaled, levels=(0.0, 1.0), autoLevels=False)
        self.detail_box.autoRange(padding=0.02)
        counts, edges = np.histogram(values, bins=40)
        self.histogram_curve.setData(edges, counts)
        self.histogram.setTitle(f"{values.size} values", size="8pt")
        crop = qimage_to_array(self.capture.crop)
        self.crop_image.setImage(crop, autoLevels=False, levels=(0, 255))
        height, width = crop.shape[:2]
        self.overlay_image.setImage(upsample(scaled, height, width), levels=(0.0, 1.0), autoLevels=False)
        self.crop_box.autoRange(padding=0.02)
        self.detail_label.setText(
            f"channel {channel} · min {stats.min:.3g} · max {stats.max:.3g} · mean {stats.mean:.3g} · "
            f"{100 * stats.zero_fraction:.0f} % zero — click a position to see its receptive field"
        )
        self.rf_box = None
        self.rf_item.setVisible(False)
        self.detail_marker.setVisible(False)
        self.effective_field.clear()  # issue 14
        opening = not self.detail_panel.isVisible()
        self.detail_panel.setVisible(True)
        self.detail.setVisible(True)
        if opening:  # the large view gets the larger share: the crop is what one reads
            total = sum(self.detail_splitter.sizes()) or self.height()
            self.detail_splitter.setSizes([total * 2 // 5, total - total * 2 // 5])

    def close_channel(self) -> None:
        self.selected_channel = None
        self.rf_box = None
        self.effective_field.clear()  # issue 14
        self.detail.setVisible(False)
        self.detail_panel.setVisible(False)

    def select_position(self, row: int, col: int) -> tuple[int, int, int, int] | None:
        """Highlight the receptive field of activation ``(row, col)`` on the input crop."""
        from explorer.core.features import receptive_box

        if self.activation is None or self.capture is None or self.activation.values.ndim != 3:
            return None
        height, width = self.activation.values.shape[-2:]
        if not (0 <= row < height and 0 <= col < width):
            return None
        stats = self.capture.summary.layer(self.activation.layer)
        top, left, bottom, right = receptive_box(stats, row, col, self.capture.input_hw)
        self.rf_box = (top, left, bottom, right)
        self.rf_item.setRect(QRectF(left, top, right - left + 1, bottom - top + 1))
        self.rf_item.setVisible(True)
        self.detail_marker.setRect(QRectF(col, row, 1, 1))
        self.detail_marker.setVisible(True)
        self.status.setText(
            f"({row}, {col}) of {self.activation.layer} sees input rows {top}–{bottom}, columns {left}–{right} "
            f"({bottom - top + 1}×{right - left + 1} px)"
        )
        self.effective_field.request(row, col)  # issue 14: the effective field beside the theoretical box
        return self.rf_box

    def grid_image(self) -> np.ndarray | None:
        return self.grid.image_item.image

    def caption(self) -> tuple[str, str, bool]:
        """What a saved grid says above it: (model and layer, weights and shape, untrained?)."""
        capture, activation = self.capture, self.activation
        if capture is None or activation is None:
            return ("", "", False)
        shape = "×".join(str(d) for d in capture.activations[capture.shown or capture.layer].shape)
        first = f"{capture.model} · {capture.layer}"
        if capture.branch is not None:
            first += f" ({capture.branch.kind} block)"
        second = f"{capture.weights_label} · {shape} · {Path(capture.image).name}"
        return (first, second, not capture.pretrained)

    def save_png(self, path: str | Path) -> bool:
        """The current grid (or the branch grids) as a PNG under its caption, written atomically.

        The caption names the model, the layer, the weights (with the red "untrained weights" badge
        when they are not pretrained) and the shape, as the pane's title does; it is also the PNG's
        ``Description`` text.
        """
        from explorer.core.errors import ExplorerError
        from explorer.core.paths import atomic_write

        try:
            with atomic_write(path) as staged:
                if not self._render_png(staged):
                    raise ExplorerError("nothing to save")
        except ExplorerError:
            return False
        return True

    def _render_png(self, path: str | Path) -> bool:
        widget = self.branch_area if self.branch_grids else self.grid
        pixmap = widget.grab()
        if pixmap.isNull() or pixmap.width() < 2:  # never shown yet: render the mosaic itself
            mosaic = self.grid.mosaic
            if mosaic is None:
                return False
            lut = pg.colormap.get(COLORMAP).getLookupTable(0.0, 1.0, 256, alpha=False)
            rgb = np.ascontiguousarray(lut[np.clip((mosaic * 255).astype(int), 0, 255)], dtype=np.uint8)
            grid = QImage(rgb.data, rgb.shape[1], rgb.shape[0], 3 * rgb.shape[1], QImage.Format.Format_RGB888).copy()
        else:
            grid = pixmap.toImage()
        return captioned(grid, *self.caption(), font=self.font()).save(str(path), "PNG")

    # --- internals --------------------------------------------------------------------------

    def _set_status(self, text: str, *, error: bool = False, result: bool = False) -> None:
        """The line under the controls: grey for progress, red for an error, the text colour for a
        ``result`` worth reading (the effective field's shares)."""
        from explorer.gui.messages import in_gui_words

        text = in_gui_words(text)
        self.status.setText(text)
        colour = "#c62828" if error else "palette(text)" if result else "palette(placeholder-text)"
        self.status.setStyleSheet(f"QLabel {{ color: {colour}; }}")
        if error:
            self.error = text

    def _model_changed(self, name: str) -> None:
        from explorer.core.weights import weight_options

        self.weights_box.clear()
        self._names = None
        self._completion.setStringList([])
        if not name:
            return
        try:
            options = weight_options(name)
        except Exception as error:  # a user model without weight sources, say
            self._set_status(str(error), error=True)
            options = []
        for option in options:
            self.weights_box.addItem(option.label, option.key)
            self.weights_box.setItemData(self.weights_box.count() - 1, f"status: {option.status}", Qt.ItemDataRole.ToolTipRole)
        self._set_status(f"Reading {name}'s layers…")
        self.names_runner.submit(jobs.layer_names, name)

    def _names_ready(self, names: jobs.LayerNames) -> None:
        if names.model != self.model():
            return
        self._names = names
        self._completion.setStringList(list(names.names))
        self.layer_box.blockSignals(True)
        current = self._pending_layer or (self.layer() if self.layer() in names.names else names.default)
        self.layer_box.clear()
        self.layer_box.addItems(list(names.names))
        self.layer_box.setCurrentText(current)
        self.layer_box.blockSignals(False)
        self._pending_layer = None
        self.set_layer(current)

    def _progress(self, event: Any) -> None:
        message = getattr(event, "message", None)
        if message:
            self._set_status(message)

    def _failed(self, error: BaseException) -> None:
        self._set_status(str(error) or type(error).__name__, error=True)

    def _show_capture(self, capture: jobs.FeatureCapture) -> None:
        self.capture = capture
        self.page = 0
        self.close_channel()
        untrained = not capture.pretrained
        self.badge.setVisible(untrained)
        mark_fell_back(self.weights_box, capture.weights_key)  # the picker does not claim weights not in use
        self.activation = capture.activations[capture.shown or capture.layer]
        shape = "×".join(str(s) for s in self.activation.shape)
        if capture.branch is not None:
            kind = f" ({capture.branch.kind} block)"
        elif capture.shown and capture.shown != capture.layer:
            kind = f" (its output, {capture.shown})"
        else:
            kind = ""
        self.title.setText(f"<b>{capture.layer}</b>{kind} · {shape} · <i>{capture.weights_label}</i>")
        self.title.setToolTip(f"{capture.model} · {Path(capture.image).name}")
        self._set_status(capture.notice or f"{capture.model} on {Path(capture.image).name}")
        self._reorder(redraw=False)
        self._redraw()
        self.captured.emit(capture)

    def _reorder(self, *, redraw: bool = True) -> None:
        if self.activation is None:
            self.order = []
        elif self.sort_box.isChecked():
            self.order = list(self.activation.order_by_strength())
        else:
            self.order = list(range(len(self.activation.channels)))
        self.page = 0
        if redraw:
            self._redraw()

    def _redraw(self) -> None:
        self._clear_branches()
        capture, activation = self.capture, self.activation
        if capture is None or activation is None:
            self.grid.clear()
            self._update_paging()
            return
        mode = self.normalise_mode()
        if capture.branch is not None:
            self._show_branches(capture, mode)
        elif activation.values.ndim == 3:
            self.grid.show_channels(activation.normalised(mode), self.page_channels())
        else:  # a vector (a Linear layer's output): one row of values
            flat = activation.normalised(mode).reshape(1, 1, -1)
            self.grid.show_channels(flat, [0])
        self.grid.setVisible(capture.branch is None)
        self.branch_area.setVisible(capture.branch is not None)
        self._update_paging()
        if self.selected_channel is not None and self.detail.isVisible():
            self.open_channel(self.selected_channel)

    def _show_branches(self, capture: jobs.FeatureCapture, mode: str) -> None:
        counts = []
        for title, node in capture.branch.items:
            activation = capture.activations[node]
            grid = BranchGrid(title, node, activation, mode)
            grid.grid.channelClicked.connect(lambda channel, a=activation: self._open_branch_channel(a, channel))
            self.branch_grids.append(grid)
            counts.append(grid.channels)
        self._arrange_branches(force=True)
        if capture.branch.kind == "inception":
            *branches, total = counts if len(counts) > 4 else (*counts, sum(counts))
            self.branch_summary.setText(" + ".join(str(c) for c in branches) + f" = {total} cat channels")
        else:
            self.branch_summary.setText("block input → branch (+ shortcut) = sum → ReLU")

    def _open_branch_channel(self, activation: LayerActivation, channel: int) -> None:
        self.activation = activation
        self.open_channel(channel)

    def _arrange_branches(self, *, force: bool = False) -> None:
        """The branch grids in as many columns as the pane's width holds (all in one row when they fit)."""
        count = len(self.branch_grids)
        if not count:
            return
        room = max(self.width() - 16, BRANCH_MIN_WIDTH)
        columns = max(1, min(count, room // BRANCH_MIN_WIDTH))
        if columns == self.branch_columns and not force:
            return
        self.branch_columns = columns
        for grid in self.branch_grids:
            self.branch_row.removeWidget(grid)
        for index, grid in enumerate(self.branch_grids):
            self.branch_row.addWidget(grid, *divmod(index, columns))
        rows = math.ceil(count / columns)
        for column in range(self.branch_row.columnCount()):
            self.branch_row.setColumnStretch(column, 1 if column < columns else 0)
        for row in range(self.branch_row.rowCount()):
            self.branch_row.setRowStretch(row, 1 if row < rows else 0)

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self._arrange_branches()

    def _clear_branches(self) -> None:
        for grid in self.branch_grids:
            self.branch_row.removeWidget(grid)
            grid.deleteLater()
        self.branch_grids = []
        self.branch_summary.setText("")

    def _update_paging(self) -> None:
        total = len(self.order)
        paged = total > PAGE_SIZE and (self.capture is None or self.capture.branch is None)
        for widget in (self.prev_button, self.next_button, self.page_label):
            widget.setVisible(paged)
        if paged:
            first = self.page * PAGE_SIZE
            self.page_label.setText(f"channels {first + 1}–{min(first + PAGE_SIZE, total)} of {total}")
            self.prev_button.setEnabled(self.page > 0)
            self.next_button.setEnabled(self.page < self.page_count() - 1)

    def _save_dialog(self) -> None:
        from explorer.gui import file_dialogs

        default = f"{self.model()}-{self.layer()}.png".replace(":", "_")
        path, _ = file_dialogs.save_file(self, "Save feature maps", "exports", default, "PNG image (*.png)")
        if path and not self.save_png(path):
            self._set_status(f"Could not save {path}.", error=True)


def captioned(grid: QImage, first: str, second: str, untrained: bool, *, font: QFont) -> QImage:
    """``grid`` under a two-line caption; ``untrained`` adds the red badge the panes show."""
    from PySide6.QtGui import QFontMetrics, QPainter

    bold = QFont(font)
    bold.setBold(True)
    metrics, bold_metrics = QFontMetrics(font), QFontMetrics(bold)
    margin, line = 8, max(metrics.height(), bold_metrics.height())
    badge_width = bold_metrics.horizontalAdvance(BADGE_TEXT) + 12 if untrained else 0
    text_width = max(bold_metrics.horizontalAdvance(first) + (badge_width + 10 if untrained else 0), metrics.horizontalAdvance(second))
    width = max(grid.width(), text_width + 2 * margin)
    strip = 2 * line + 3 * margin // 2
    image = QImage(width, strip + grid.height(), QImage.Format.Format_RGB32)
    image.fill(QColor("white"))
    painter = QPainter(image)
    try:
        painter.setPen(QColor("#202020"))
        painter.setFont(bold)
        painter.drawText(margin, margin // 2 + bold_metrics.ascent(), first)
        if untrained:
            left = margin + bold_metrics.horizontalAdvance(first) + 10
            badge = QRectF(left, margin // 2, badge_width, line)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setBrush(QColor(BADGE_COLOUR))
            painter.setPen(Qt.PenStyle.NoPen)
            painter.drawRoundedRect(badge, 4, 4)
            painter.setPen(QColor("white"))
            painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, BADGE_TEXT)
        painter.setFont(font)
        painter.setPen(QColor("#505050"))
        painter.drawText(margin, margin // 2 + line + metrics.ascent(), second)
        painter.drawImage((width - grid.width()) // 2, strip, grid)
    finally:
        painter.end()
    description = f"{first} · {second}" + (f" · {BADGE_TEXT}" if untrained else "")
    image.setText("Description", description)
    return image


class FeatureMapsView(QWidget):
    """Feature panes side by side on one image."""

    imageChanged = Signal(str)
    layerChanged = Signal(str, str)  # model, layer of a pane whose layer changed

    def __init__(self, parent: QWidget | None = None, *, image: str | Path | None = DEFAULT_IMAGE) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.image_path: str | None = None
        self.panes: list[FeaturePane] = []
        self._model_names: list[str] = []

        self.open_button = QPushButton("Open image…")
        self.open_button.clicked.connect(self.open_image)
        self.add_button = QPushButton("Add pane")
        self.add_button.clicked.connect(lambda: self.add_pane())
        self.image_label = QLabel("")
        self.image_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.image_label.setWordWrap(True)  # wraps, never widens the page past a narrow window (1024×700)
        self.thumbnail = QLabel()
        self.thumbnail.setFixedSize(40, 40)
        self.thumbnail.setScaledContents(True)
        toolbar = QHBoxLayout()
        toolbar.addWidget(self.thumbnail)
        toolbar.addWidget(self.image_label, 1)
        toolbar.addWidget(self.open_button)
        toolbar.addWidget(self.add_button)

        # Panes share the width; when each would be narrower than PANE_MIN_WIDTH they stack instead.
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.addLayout(toolbar)
        layout.addWidget(self.splitter, 1)

        self.add_pane()  # one pane; "Add pane" (or --compare) adds more, nothing appears unasked
        if image is not None:
            self.set_image(image)

    # --- panes --------------------------------------------------------------------------------

    def set_model_names(self, names: Sequence[str], defaults: Sequence[str] = ("resnet18", "vgg16", "googlenet", "alexnet")) -> None:
        self._model_names = list(names)
        for index, pane in enumerate(self.panes):
            had = pane.model()
            pane.set_model_names(self._model_names)
            if not had:
                self._pick_default(pane, index, defaults)

    def _pick_default(self, pane: FeaturePane, index: int, defaults: Sequence[str]) -> None:
        available = [n for n in defaults if n in self._model_names] or self._model_names
        if available:
            pane.set_model(available[index % len(available)])

    def add_pane(self, model: str | None = None, layer: str | None = None) -> FeaturePane:
        pane = FeaturePane(removable=bool(self.panes))
        pane.removeRequested.connect(self.remove_pane)
        pane.layerChanged.connect(lambda name, p=pane: self.layerChanged.emit(p.model(), name))
        self.panes.append(pane)
        self.splitter.addWidget(pane)
        self._arrange_panes(share=True)
        if self.image_path:
            pane.image_path = self.image_path
        if self._model_names:
            pane.set_model_names(self._model_names)
        if model is not None:
            pane.set_model(model, layer)
        elif self._model_names:
            self._pick_default(pane, len(self.panes) - 1, ("resnet18", "vgg16", "googlenet", "alexnet"))
        return pane

    def remove_pane(self, pane: FeaturePane) -> None:
        if pane not in self.panes or pane is self.panes[0]:
            return
        self.panes.remove(pane)
        pane.runner.cancel()
        pane.names_runner.cancel()
        pane.setParent(None)
        pane.deleteLater()
        self._arrange_panes(share=True)

    def _arrange_panes(self, *, share: bool = False) -> None:
        """Side by side while each pane gets PANE_MIN_WIDTH, else stacked; ``share``: equal sizes."""
        count = len(self.panes)
        wide = count <= 1 or self.width() >= count * PANE_MIN_WIDTH
        orientation = Qt.Orientation.Horizontal if wide else Qt.Orientation.Vertical
        if orientation != self.splitter.orientation():
            self.splitter.setOrientation(orientation)
            share = True
        if share and count:
            along = self.splitter.width() if wide else self.splitter.height()
            self.splitter.setSizes([max(along // count, 1)] * count)

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self._arrange_panes()

    def follow_selection(self, model: str, name: str) -> bool:
        """The main window's graph selection: the first pane follows when it shows ``model``."""
        pane = self.panes[0]
        if pane.model() != model or not name or name == "input":
            return False
        if pane.layer() != name:
            pane.set_layer(name)
        return True

    # --- the image ----------------------------------------------------------------------------

    def set_image(self, path: str | Path) -> None:
        self.image_path = str(path)
        self.image_label.setText(f"<b>{Path(path).name}</b> — drop an image here or open one")
        self.image_label.setToolTip(str(path))
        picture = QImage(str(path))
        if not picture.isNull():
            self.thumbnail.setPixmap(QPixmap.fromImage(picture))
        for pane in self.panes:
            pane.set_image(self.image_path)
        self.imageChanged.emit(self.image_path)

    def open_image(self) -> None:
        from explorer.gui import file_dialogs

        path = file_dialogs.open_file(self, "Open image", "images", IMAGE_FILTER, first=jobs.SAMPLE_IMAGES)
        if path:
            self.set_image(path)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        if self.drop_mime_data(event.mimeData()):
            event.acceptProposedAction()

    def drop_mime_data(self, mime: Any) -> bool:
        for url in mime.urls() if mime.hasUrls() else []:
            if url.isLocalFile() and Path(url.toLocalFile()).is_file():
                self.set_image(url.toLocalFile())
                return True
        return False

    def cancel(self) -> None:
        for pane in self.panes:
            pane.runner.cancel()
            pane.names_runner.cancel()
            pane.effective_field.clear()  # issue 14

    @property
    def busy(self) -> bool:
        return any(pane.busy for pane in self.panes)
