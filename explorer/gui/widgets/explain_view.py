"""The explain view (issue 14): where did the network look, for which class?

An ``ExplainView`` holds one or more ``ExplainPane``s side by side on the same photo (two
methods, or two models). Each pane picks a model, its weights, the method (Grad-CAM, guided
Grad-CAM, saliency, occlusion), the class (the network's top-5 on this photo) and, for the
layer methods, the layer. The map lies over the whole photo where the network's crop came
from (the rest is shaded: the network never saw it), with an opacity slider; "Save PNG…"
writes the same picture as ``cnn-explorer explain --out``. Every map is computed by the core's
``Explainer`` in a worker; a newer request cancels the older one.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, QStringListModel, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QDragEnterEvent, QDropEvent, QImage, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QCompleter,
    QFrame,
    QGraphicsPathItem,
    QGraphicsRectItem,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSlider,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from explorer.core.explain_methods import LAYER_METHODS, METHODS
from explorer.gui import explain_jobs, file_dialogs, jobs
from explorer.gui.widgets.feature_maps import IMAGE_FILTER, qimage_to_array
from explorer.gui.widgets.untrained_badge import BADGE_STYLE, mark_fell_back
from explorer.gui.workers import TaskRunner

if TYPE_CHECKING:
    from explorer.core.explain import Explanation

#: The core's explanation methods (from the torch-free module ``explorer.core.explain_methods``).
METHOD_TITLES: tuple[tuple[str, str], ...] = tuple(METHODS.items())
COLORMAP = "viridis"
DEFAULT_OPACITY = 70  # percent, as the CLI's --opacity 0.7
BADGE_TEXT = "untrained weights: this map explains a random network"
DEFAULT_IMAGE = jobs.SAMPLE_IMAGES / "cat-chelsea.png"


def heat_lookup_table() -> np.ndarray:
    """viridis with alpha rising with the value (RGBA, 256 rows): where the map is 0 the photo shows,
    as in the core's ``blend``; the opacity slider scales the whole layer."""
    table = pg.colormap.get(COLORMAP).getLookupTable(0.0, 1.0, 256, alpha=True)
    table[:, 3] = np.arange(256)
    return table


class ExplainPane(QFrame):
    """One model × weights × method × class (× layer) on the view's photo."""

    removeRequested = Signal(object)
    explained = Signal(object)  # the ExplainResult shown

    def __init__(self, parent: QWidget | None = None, *, removable: bool = True) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.image_path: str | None = None
        self.result: explain_jobs.ExplainResult | None = None
        self.error: str | None = None
        self._target: str | int = "top1"
        self._layer: str | None = None  # None: the default layer

        self.runner = TaskRunner(self)
        self.runner.progress.connect(self._progress)
        self.runner.result.connect(self._show)
        self.runner.error.connect(self._failed)
        self.runner.idle.connect(lambda: self._set_busy(False))

        self.model_box = QComboBox()
        self.model_box.setMinimumContentsLength(12)
        self.weights_box = QComboBox()
        self.weights_box.setMinimumContentsLength(14)
        self.remove_button = QToolButton(text="✕")
        self.remove_button.setToolTip("Remove this pane")
        self.remove_button.setVisible(removable)
        self.remove_button.clicked.connect(lambda: self.removeRequested.emit(self))
        self.method_box = QComboBox()
        for key, title in METHOD_TITLES:
            self.method_box.addItem(title, key)
        self.method_box.setToolTip(
            "Grad-CAM: the layer's channels weighted by their mean gradient · guided Grad-CAM: × guided "
            "backpropagation · saliency: |∂score/∂pixel| · occlusion: the score's drop when a patch is covered"
        )
        self.class_box = QComboBox()
        self.class_box.setMinimumContentsLength(14)
        self.class_box.setToolTip("The class explained: the network's top-5 on this photo")
        self.layer_box = QComboBox()
        self.layer_box.setEditable(True)
        self.layer_box.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.layer_box.setMinimumContentsLength(12)
        self.layer_box.setToolTip("Grad-CAM's layer: any node with a spatial map (default: the last convolution stage)")
        self._completion = QStringListModel(self)
        completer = QCompleter(self._completion, self)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.layer_box.setCompleter(completer)

        for box, length in ((self.model_box, 8), (self.weights_box, 8), (self.method_box, 6), (self.class_box, 7), (self.layer_box, 6)):
            # Shrink to this many characters rather than to the longest item: two panes fit side by side.
            box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            box.setMinimumContentsLength(length)
        self.save_button = QPushButton("Save PNG…")
        self.save_button.setEnabled(False)
        first_row = QHBoxLayout()
        first_row.addWidget(self.model_box, 2)
        first_row.addWidget(self.weights_box, 3)
        first_row.addWidget(self.remove_button)
        second_row = QHBoxLayout()
        second_row.addWidget(self.method_box, 2)
        second_row.addWidget(self.class_box, 3)
        third_row = QHBoxLayout()
        third_row.addWidget(QLabel("layer"))
        third_row.addWidget(self.layer_box, 1)
        third_row.addWidget(self.save_button)

        self.title = QLabel("—")
        self.title.setWordWrap(True)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.badge = QLabel(BADGE_TEXT)
        self.badge.setWordWrap(True)
        self.badge.setStyleSheet(BADGE_STYLE)
        self.badge.setVisible(False)

        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(DEFAULT_OPACITY)
        self.opacity.setToolTip("The map's opacity over the photo")
        self.opacity.setMinimumWidth(60)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.setMaximumWidth(160)
        self.cancel_button = QPushButton("Cancel")
        controls = QHBoxLayout()
        controls.addWidget(QLabel("opacity"))
        controls.addWidget(self.opacity, 1)
        controls.addWidget(self.progress)
        controls.addWidget(self.cancel_button)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self._set_status("")

        # The photo, the shade over what the network did not see, the map over its crop, the peak.
        self.plot = pg.GraphicsLayoutWidget()
        self.plot.setBackground(None)
        self.plot.setMinimumSize(200, 150)
        self.plot.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.box = self.plot.addViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.box.setMouseEnabled(False, False)
        self.photo_item = pg.ImageItem(axisOrder="row-major")
        self.heat_item = pg.ImageItem(axisOrder="row-major")
        self.heat_item.setLookupTable(heat_lookup_table())
        self.heat_item.setOpacity(DEFAULT_OPACITY / 100)
        self.shade_item = QGraphicsPathItem()
        self.shade_item.setBrush(QBrush(QColor(0, 0, 0, 140)))
        self.shade_item.setPen(QPen(Qt.PenStyle.NoPen))
        self.crop_item = QGraphicsRectItem()
        crop_pen = QPen(QColor("white"))
        crop_pen.setCosmetic(True)
        self.crop_item.setPen(crop_pen)
        self.peak_item = pg.ScatterPlotItem(size=14, symbol="+", pen=pg.mkPen("#ff4040", width=2), brush=None)
        for item in (self.photo_item, self.shade_item, self.heat_item, self.crop_item, self.peak_item):
            self.box.addItem(item)
        self.caption = QLabel("")
        self.caption.setWordWrap(True)
        self.caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        # A wrapped label's minimum size hint is its height at its narrowest, many lines: in the view's
        # scroll area that would make every pane that tall. A line's height is their minimum here.
        line = self.fontMetrics().lineSpacing()
        for label in (self.title, self.badge, self.status, self.caption):
            label.setMinimumSize(1, line + 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(first_row)
        layout.addLayout(second_row)
        layout.addLayout(third_row)
        layout.addWidget(self.title)
        layout.addWidget(self.badge)
        layout.addLayout(controls)
        layout.addWidget(self.status)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.caption)

        self.model_box.currentTextChanged.connect(self._model_changed)
        self.weights_box.activated.connect(lambda _i: self._reset_and_refresh())
        self.method_box.currentIndexChanged.connect(lambda _i: self._method_changed())
        self.class_box.activated.connect(lambda _i: self.set_target(self.class_box.currentData()))
        self.layer_box.activated.connect(lambda _i: self.set_layer(self.layer_box.currentText()))
        self.layer_box.lineEdit().returnPressed.connect(lambda: self.set_layer(self.layer_box.currentText()))
        self.opacity.valueChanged.connect(lambda value: self.heat_item.setOpacity(value / 100))
        self.save_button.clicked.connect(self._save_dialog)
        self.cancel_button.clicked.connect(self.cancel)
        self._set_busy(False)

    # --- public API -----------------------------------------------------------------------------

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

    def set_model(self, name: str, weights: str | None = None, *, run: bool = True) -> None:
        """Show ``name`` (added to the picker if missing) with ``weights`` (a key; None: the first option)."""
        if self.model_box.findText(name) < 0:
            self.model_box.addItem(name)
        self.model_box.blockSignals(True)
        self.model_box.setCurrentText(name)
        self.model_box.blockSignals(False)
        self._fill_weights(name)
        if weights is not None:
            index = self.weights_box.findData(weights)
            if index < 0:
                self.weights_box.insertItem(0, f"file: {Path(weights).name}" if "/" in weights else weights, weights)
                index = 0
            self.weights_box.setCurrentIndex(index)
        self._target, self._layer = "top1", None
        if run:
            self.clear_display()
            self.refresh()

    def model(self) -> str:
        return self.model_box.currentText()

    def weights(self) -> str | None:
        return self.weights_box.currentData()

    def method(self) -> str:
        return self.method_box.currentData()

    def set_method(self, method: str) -> None:
        self.method_box.setCurrentIndex(self.method_box.findData(method))

    def target(self) -> str | int:
        return self._target

    def set_target(self, target: str | int | None) -> None:
        """The class to explain: "top1"…"top5", an index, or a label."""
        if target is None:
            return
        self._target = target
        self.refresh()

    def layer(self) -> str | None:
        return self._layer

    def set_layer(self, name: str | None) -> None:
        name = (name or "").strip() or None
        if self.result is not None and name is not None and name not in self.result.layers:
            model = self.result.explanation.model
            self._set_status(f"{model} has no layer with a spatial map named {name!r}.", error=True)
            return
        self._layer = name
        self.refresh()

    def set_image(self, path: str | Path) -> None:
        self.image_path = str(path)
        self._target = "top1"  # another photo: its own top-5
        self.clear_display()  # the old photo's map must not stand under the new photo's name
        self.refresh()

    def clear_display(self) -> None:
        """No map until the next one arrives (another photo or model)."""
        self.result = None
        for item in (self.photo_item, self.heat_item):
            item.clear()
        self.shade_item.setPath(QPainterPath())
        self.crop_item.setRect(QRectF())
        self.peak_item.setData([], [])
        self.title.setText("—")
        self.caption.setText("")
        self.badge.setVisible(False)
        self.save_button.setEnabled(False)

    def refresh(self) -> None:
        """Explain again for the current choices (in the worker)."""
        model = self.model()
        if not model or not self.image_path:
            return
        self.error = None
        method = self.method()
        self.layer_box.setEnabled(method in LAYER_METHODS)
        layer = self._layer if method in LAYER_METHODS else None
        self._set_busy(True)
        title = dict(METHOD_TITLES)[method]
        self._set_status(f"{title} of {model}…")
        self.runner.submit(
            explain_jobs.explain, model, self.weights(), self.image_path, target=self._target, method=method, layer=layer
        )

    def cancel(self) -> None:
        if self.runner.busy:
            self.runner.cancel()
            self._set_status("Cancelled.")
        self._set_busy(False)

    @property
    def busy(self) -> bool:
        return self.runner.busy

    @property
    def explanation(self) -> Explanation | None:
        return self.result.explanation if self.result is not None else None

    def heat_image(self) -> np.ndarray | None:
        """The map as painted (in [0, 1], on the crop); tests and screenshots read it."""
        return self.heat_item.image

    def save_png(self, path: str | Path) -> bool:
        """The map over the photo at the photo's resolution, as ``cnn-explorer explain --out`` writes it."""
        if self.result is None:
            return False
        from explorer.core.explain import explanation_image
        from explorer.core.images import load_image

        explanation = self.result.explanation
        picture = explanation_image(load_image(explanation.image), explanation, opacity=self.opacity.value() / 100)
        try:
            picture.save(str(path), "PNG")
        except OSError as error:
            self._set_status(f"Cannot write {path}: {error.strerror or error}.", error=True)
            return False
        self._set_status(f"Saved {path}")
        return True

    # --- internals ------------------------------------------------------------------------------

    def _set_status(self, text: str, *, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setVisible(bool(text))
        self.status.setStyleSheet("QLabel { color: #c62828; }" if error else "QLabel { color: palette(placeholder-text); }")
        if error:
            self.error = text

    def _set_busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        if busy:
            self.progress.setRange(0, 0)

    def _fill_weights(self, name: str) -> None:
        from explorer.core.weights import weight_options

        self.weights_box.clear()
        try:
            options = weight_options(name)
        except Exception as error:  # a user model without weight sources, say
            self._set_status(str(error), error=True)
            options = []
        for option in options:
            self.weights_box.addItem(option.label, option.key)
            self.weights_box.setItemData(self.weights_box.count() - 1, f"status: {option.status}", Qt.ItemDataRole.ToolTipRole)

    def _model_changed(self, name: str) -> None:
        if not name:
            return
        self._fill_weights(name)
        self._reset_and_refresh()

    def _reset_and_refresh(self) -> None:
        self._target, self._layer = "top1", None
        self.clear_display()
        self.refresh()

    def _method_changed(self) -> None:
        self.refresh()

    def _progress(self, event: Any) -> None:
        if getattr(event, "total", None):
            self.progress.setRange(0, event.total)
            self.progress.setValue(event.done)
        message = getattr(event, "message", None)
        if message:
            self._set_status(message)

    def _failed(self, error: BaseException) -> None:
        self._set_status(str(error) or type(error).__name__, error=True)

    def _show(self, result: explain_jobs.ExplainResult) -> None:
        self.result = result
        explanation = result.explanation
        self._set_status(result.notice or "")
        self.badge.setVisible(explanation.untrained)
        self.title.setText(f"<b>{explanation.describe()}</b>")
        self.title.setToolTip(f"{explanation.model} · {explanation.weights} · {Path(explanation.image).name}")
        self._fill_pickers(result)
        mark_fell_back(self.weights_box, explanation.weights_key)  # the picker does not claim weights not in use
        photo = qimage_to_array(result.picture)
        height, width = photo.shape[:2]
        self.photo_item.setImage(photo, autoLevels=False, levels=(0, 255))
        self.photo_item.setRect(QRectF(0, 0, width, height))
        left, top, right, bottom = explanation.geometry.crop_in_image()
        crop = QRectF(left, top, right - left, bottom - top)
        self.heat_item.setImage(np.asarray(result.display, dtype=np.float32), autoLevels=False, levels=(0.0, 1.0))
        self.heat_item.setRect(crop)
        self.crop_item.setRect(crop)
        shade = QPainterPath()
        shade.addRect(QRectF(0, 0, width, height))
        shade.addRect(crop)  # the odd-even fill leaves the crop clear
        self.shade_item.setPath(shade)
        peak = explanation.peak_in_image
        self.peak_item.setData([peak[0] + 0.5], [peak[1] + 0.5]) if peak is not None else self.peak_item.setData([], [])
        self.box.autoRange(padding=0.01)
        self.caption.setText(self._caption(explanation))
        self.save_button.setEnabled(True)
        self.explained.emit(result)

    def _fill_pickers(self, result: explain_jobs.ExplainResult) -> None:
        explanation = result.explanation
        self.class_box.blockSignals(True)
        self.class_box.clear()
        for rank, prediction in enumerate(explanation.top, start=1):
            self.class_box.addItem(f"{prediction.label} · {prediction.probability:.1%}", prediction.index)
            self.class_box.setItemData(self.class_box.count() - 1, f"top {rank}: class {prediction.index}", Qt.ItemDataRole.ToolTipRole)
        if explanation.target.index not in [p.index for p in explanation.top]:
            self.class_box.addItem(f"{explanation.target.label} · {explanation.target.probability:.1%}", explanation.target.index)
        self.class_box.setCurrentIndex(self.class_box.findData(explanation.target.index))
        self.class_box.blockSignals(False)
        self._target = explanation.target.index  # the same class when the method or layer changes
        self.layer_box.blockSignals(True)
        self.layer_box.clear()
        self.layer_box.addItems(list(result.layers))
        self._completion.setStringList(list(result.layers))
        self.layer_box.setCurrentText(explanation.layer or self._layer or result.default_layer)
        self.layer_box.blockSignals(False)
        self.layer_box.setEnabled(explanation.method in LAYER_METHODS)

    @staticmethod
    def _caption(explanation: Explanation) -> str:
        height, width = explanation.values.shape
        parts = [f"map {width}×{height}"]
        if explanation.layer_values is not None:
            lh, lw = explanation.layer_values.shape
            parts[0] += f" (the layer's {lw}×{lh}, upsampled)"
        settings = explanation.settings
        if "patch" in settings:
            parts.append(f"patch {settings['patch']} px, stride {settings['stride']} px")
        low, high = explanation.display_range()
        clipped = " (99.5th percentile)" if explanation.method in {"guided", "saliency"} else ""
        parts.append(f"min {explanation.values.min():.3g} · max {explanation.values.max():.3g} · colours {low:.3g} … {high:.3g}{clipped}")
        peak = explanation.peak_in_image
        parts.append(f"peak at x {peak[0]}, y {peak[1]} of the photo" if peak is not None else "no positive value")
        parts.extend(note for note in explanation.notes if note != BADGE_TEXT)
        return " · ".join(parts)

    def _save_dialog(self) -> None:
        explanation = self.explanation
        if explanation is None:
            return
        default = f"{explanation.model}-{explanation.method}-{Path(explanation.image).stem}.png".replace(":", "_").replace("/", "_")
        path, _ = file_dialogs.save_file(self, "Save the map", "exports", default, "PNG image (*.png)")
        if path:
            self.save_png(path)


class ExplainView(QWidget):
    """Explain panes side by side on one photo."""

    imageChanged = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.image_path: str | None = None
        self.panes: list[ExplainPane] = []
        self._model_names: list[str] = []

        self.thumbnail = QLabel()
        self.thumbnail.setFixedSize(40, 40)
        self.thumbnail.setScaledContents(True)
        self.image_label = QLabel("Explain a classified photo (its row's “Explain” button), or open one here.")
        # Not wrapped: a wrapped label would make the scroll area size the view by height-for-width.
        self.image_label.setMinimumWidth(1)
        self.image_label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.open_button = QPushButton("Open image…")
        self.open_button.clicked.connect(self.open_image)
        self.add_button = QPushButton("Side by side")
        self.add_button.setToolTip("Another pane on the same photo: another method, or another model")
        self.add_button.clicked.connect(lambda: self.add_pane())
        toolbar = QHBoxLayout()
        toolbar.addWidget(self.thumbnail)
        toolbar.addWidget(self.image_label, 1)
        toolbar.addWidget(self.open_button)
        toolbar.addWidget(self.add_button)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.addLayout(toolbar)
        layout.addWidget(self.splitter, 1)
        self.add_pane()

    def set_model_names(self, names: Sequence[str], default: str = "efficientnet_lite0") -> None:
        self._model_names = list(names)
        for pane in self.panes:
            had = pane.model()
            pane.set_model_names(self._model_names)
            if not had and default in self._model_names:
                pane.set_model(default, run=False)

    def add_pane(self, model: str | None = None, method: str | None = None, weights: str | None = None) -> ExplainPane:
        """Another pane; by default the first pane's model with the next method."""
        pane = ExplainPane(removable=bool(self.panes))
        pane.removeRequested.connect(self.remove_pane)
        if self._model_names:
            pane.set_model_names(self._model_names)
        first = self.panes[0] if self.panes else None
        self.panes.append(pane)
        self.splitter.addWidget(pane)
        if method is None and first is not None:
            keys = [key for key, _title in METHOD_TITLES]
            method = keys[(keys.index(first.method()) + 1) % len(keys)]
        if method is not None:
            pane.method_box.blockSignals(True)
            pane.set_method(method)
            pane.method_box.blockSignals(False)
        pane.image_path = self.image_path
        if model is None and first is not None:
            model, weights = first.model(), first.weights()
        if model:
            pane.set_model(model, weights)
        return pane

    def remove_pane(self, pane: ExplainPane) -> None:
        if pane not in self.panes or pane is self.panes[0]:
            return
        self.panes.remove(pane)
        pane.runner.cancel()
        pane.setParent(None)
        pane.deleteLater()

    def explain(self, image: str, model: str, weights: str | None = None) -> None:
        """From the classifier: explain ``image`` with ``model`` in the first pane (the others follow the photo)."""
        self._set_image_label(image)
        for pane in self.panes[1:]:
            pane.set_image(image)
        first = self.panes[0]
        first.image_path = image
        first.set_model(model, weights)

    def set_image(self, path: str | Path) -> None:
        self._set_image_label(str(path))
        for pane in self.panes:
            pane.set_image(self.image_path or "")

    def _set_image_label(self, path: str) -> None:
        self.image_path = path
        self.image_label.setText(f"<b>{Path(path).name}</b> — drop an image here or open one")
        self.image_label.setToolTip(path)
        picture = QImage(path)
        if not picture.isNull():
            self.thumbnail.setPixmap(QPixmap.fromImage(picture))
        self.imageChanged.emit(path)

    def open_image(self) -> None:
        path = file_dialogs.open_file(self, "Open image", "images", IMAGE_FILTER, first=jobs.SAMPLE_IMAGES)
        if path:
            self.set_image(path)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        for url in event.mimeData().urls():
            if url.isLocalFile() and Path(url.toLocalFile()).is_file():
                self.set_image(url.toLocalFile())
                event.acceptProposedAction()
                return

    def cancel(self) -> None:
        for pane in self.panes:
            pane.runner.cancel()

    @property
    def busy(self) -> bool:
        return any(pane.busy for pane in self.panes)

    @property
    def runners(self) -> tuple[TaskRunner, ...]:
        return tuple(pane.runner for pane in self.panes)
