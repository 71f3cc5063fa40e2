"""The classifier view: drop photos, see what each network thinks they are (top-5).

One row per image: its thumbnail, the crop the network actually sees, and a column of top-5
bars for every model being compared. Loading, downloading and classifying run in a worker;
errors show inline in the row they belong to.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QObject, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QDragEnterEvent, QDropEvent, QFont, QImage, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from explorer.gui import file_dialogs, jobs
from explorer.gui.messages import in_gui_words
from explorer.gui.widgets.untrained_badge import BADGE_COLOUR, BADGE_TEXT, mark_fell_back, show_untrained, untrained_badge
from explorer.gui.workers import TaskRunner

if TYPE_CHECKING:
    from explorer.core.runner import Classification

THUMBNAIL = 150
#: The crop a network sees is shown at its own size (224 px for most), the thumbnail at THUMBNAIL;
#: when the page is narrower than a row needs, both shrink (to at most MIN_IMAGE_SCALE of that)
#: before the row scrolls sideways.
CROP_SIDE = 224
MIN_IMAGE_SCALE = 0.35
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.gif *.tif *.tiff *.webp);;All files (*)"


class ScaledImage(QLabel):
    """A picture shown at ``scale`` of its own size (never larger): narrow windows shrink it."""

    def __init__(self, image: QImage | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.image: QImage | None = None
        self.scale = 1.0
        self.set_image(image)

    def set_image(self, image: QImage | None) -> None:
        self.image = image
        self._show()

    def set_scale(self, scale: float) -> None:
        if abs(scale - self.scale) > 1e-3:
            self.scale = scale
            self._show()

    def _show(self) -> None:
        if self.image is None or self.image.isNull():
            self.clear()
            return
        width = max(1, round(self.image.width() * self.scale))
        height = max(1, round(self.image.height() * self.scale))
        scaled = self.image if self.scale >= 1.0 else self.image.scaled(
            width, height, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
        )
        self.setPixmap(QPixmap.fromImage(scaled))


class TopKBars(QWidget):
    """Horizontal probability bars, one per prediction, labelled with the class name."""

    ROW = 22
    MIN_WIDTH = 260

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.predictions: list[tuple[str, float]] = []
        self.message = ""
        self.untrained: str | None = None  # why these bars come from random weights (the red line says so)
        self.setMinimumWidth(self.MIN_WIDTH)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_predictions(self, predictions: Sequence[tuple[str, float]], message: str = "", untrained: str | None = None) -> None:
        self.predictions, self.message, self.untrained = list(predictions), message, untrained
        lines = bool(message) + (untrained is not None)
        self.setFixedHeight(max(len(self.predictions), 1) * self.ROW + 18 * lines + 4)
        self.setToolTip(f"{BADGE_TEXT}: {untrained}" if untrained else "")
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(320, max(len(self.predictions), 1) * self.ROW + 4)

    def paintEvent(self, event: Any) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        highlight = palette.color(QPalette.ColorRole.Highlight)
        text = palette.color(QPalette.ColorRole.Text)
        track = palette.color(QPalette.ColorRole.AlternateBase)
        width = self.width() - 2
        y = 2
        for rank, (label, probability) in enumerate(self.predictions):
            rect = QRectF(1, y, width, self.ROW - 4)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(track)
            painter.drawRoundedRect(rect, 3, 3)
            bar = QColor(highlight)
            bar.setAlpha(220 if rank == 0 else 110)
            painter.setBrush(bar)
            painter.drawRoundedRect(QRectF(rect.left(), rect.top(), max(rect.width() * probability, 2), rect.height()), 3, 3)
            painter.setPen(text)
            font = QFont(self.font())
            font.setBold(rank == 0)
            painter.setFont(font)
            painter.drawText(rect.adjusted(6, 0, -60, 0), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, label)
            painter.drawText(rect.adjusted(0, 0, -6, 0), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, f"{100 * probability:.1f} %")
            y += self.ROW
        if self.untrained is not None:  # the badge's red, with white text, as on every view
            font = QFont(self.font())
            font.setBold(True)
            painter.setFont(font)
            text = f"{BADGE_TEXT} — {self.untrained}"
            label_width = min(painter.fontMetrics().horizontalAdvance(text) + 12, width)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(BADGE_COLOUR))
            painter.drawRoundedRect(QRectF(1, y, label_width, 16), 4, 4)
            painter.setPen(QColor("white"))
            painter.drawText(QRectF(7, y, label_width - 12, 16), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                             painter.fontMetrics().elidedText(text, Qt.TextElideMode.ElideRight, int(label_width - 12)))
            y += 18
        if self.message:
            painter.setFont(self.font())
            painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(QRectF(1, y, width, 16), Qt.AlignmentFlag.AlignLeft, self.message)
        painter.end()


@dataclass
class ModelColumn:
    """One model being compared: its pickers in the header."""

    widget: QWidget
    model: QComboBox
    weights: QComboBox
    remove: QToolButton
    badge: QLabel  # red "untrained weights" when the weights in use are random
    untrained: str | None = None  # why (None: trained weights, or not run yet)


class ClassifierView(QWidget):
    imagesChanged = Signal(int)
    explainRequested = Signal(str, str, object)  # issue 14: image path, model, weights key (the explain view)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.paths: list[str] = []
        self.results: dict[tuple[int, int], Classification] = {}  # (image row, model column) → result
        self.notices: dict[str, str] = {}  # model → its weights' notice, while the model is a column
        self._model_names: list[str] = []
        self._weight_files: dict[str, str] = {}  # model → a user state-dict file chosen for it
        self.columns: list[ModelColumn] = []
        self.runner = TaskRunner(self)
        self.runner.progress.connect(self._progress)
        self.runner.result.connect(self._finished)
        self.runner.error.connect(self._failed)
        self.runner.idle.connect(self._idle)

        self.open_button = QPushButton("Open images…")
        self.open_button.clicked.connect(self.open_images)
        self.samples_button = QPushButton("Samples")
        self.samples_button.setToolTip("The sample photos shipped with cnn-explorer (CC0 / public domain)")
        self.samples_button.clicked.connect(self.open_samples)
        self.add_model_button = QPushButton("Add a model")
        self.add_model_button.setToolTip("Compare with another model: its top-5 in a column beside the first")
        self.add_model_button.clicked.connect(lambda: self.add_model_column())
        self.load_weights_button = QPushButton("Load weights…")
        self.load_weights_button.setToolTip("A .pth/.pt state dict or .safetensors file for the first model")
        self.load_weights_button.clicked.connect(self.load_weights_file)
        self.clear_button = QPushButton("Clear")
        self.clear_button.clicked.connect(self.clear)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.status = QLabel("Drop photos or a folder here, paste an image (Ctrl+V), or open files (Ctrl+O).")
        self.status.setWordWrap(True)

        # One model's pickers a line (side by side, a second model set the window's minimum
        # width and squeezed the docks for good).
        self.columns_row = QVBoxLayout()
        self.columns_row.setSpacing(4)
        buttons = QHBoxLayout()
        for button in (self.open_button, self.samples_button, self.add_model_button, self.load_weights_button, self.clear_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        progress_row = QHBoxLayout()
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.cancel_button)

        self.grid_host = QWidget()
        self.grid = QGridLayout(self.grid_host)
        self.grid.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.grid.setHorizontalSpacing(16)
        self.grid.setVerticalSpacing(10)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setWidget(self.grid_host)
        self.scaled_images: list[ScaledImage] = []
        self.captions: list[QLabel] = []
        self.scroll.viewport().installEventFilter(self)  # a narrower page shrinks the pictures (_fit_images)

        layout = QVBoxLayout(self)
        layout.addLayout(self.columns_row)
        layout.addLayout(buttons)
        layout.addLayout(progress_row)
        layout.addWidget(self.status)
        layout.addWidget(self.scroll, 1)
        self._set_busy(False)

    # --- models ----------------------------------------------------------------------------------

    def set_model_names(self, names: Sequence[str], default: str = "efficientnet_lite0") -> None:
        self._model_names = list(names)
        if not self.columns:
            self.add_model_column(default)
        else:
            for column in self.columns:
                current = column.model.currentText()
                column.model.blockSignals(True)
                column.model.clear()
                column.model.addItems(self._model_names)
                column.model.setCurrentText(current)
                column.model.blockSignals(False)

    def add_model_column(self, name: str | None = None) -> ModelColumn:
        widget = QFrame()
        widget.setFrameShape(QFrame.Shape.StyledPanel)
        model = QComboBox()
        model.setEditable(False)
        model.addItems(self._model_names)
        weights = QComboBox()
        for box, length in ((model, 10), (weights, 14)):
            # Shrink to this many characters, not to the longest entry: the page fits beside the docks at 1024 px.
            box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            box.setMinimumContentsLength(length)
        remove = QToolButton(text="✕")
        remove.setToolTip("Stop comparing this model")
        badge = untrained_badge()
        row = QHBoxLayout(widget)
        row.setContentsMargins(6, 4, 6, 4)
        row.addWidget(QLabel(f"Model {len(self.columns) + 1}"))
        row.addWidget(model, 1)
        row.addWidget(weights, 2)
        row.addWidget(badge)
        row.addWidget(remove)
        column = ModelColumn(widget, model, weights, remove, badge)
        self.columns.append(column)
        self.columns_row.addWidget(widget)
        model.currentTextChanged.connect(lambda _text, c=column: self._model_changed(c))
        weights.activated.connect(lambda _i: self.reclassify())
        remove.clicked.connect(lambda _checked=False, c=column: self.remove_model_column(c))
        remove.setVisible(len(self.columns) > 1)
        if name is None:
            others = [n for n in ("resnet50", "googlenet", "vgg16", "alexnet") if n in self._model_names]
            name = next((n for n in others if n not in self.models()), self._model_names[0] if self._model_names else "")
        model.setCurrentText(name)
        self._model_changed(column)
        return column

    def remove_model_column(self, column: ModelColumn) -> None:
        if len(self.columns) <= 1:
            return
        self.columns.remove(column)
        column.widget.deleteLater()
        self._forget_notices()
        self.reclassify()

    def models(self) -> list[str]:
        return [column.model.currentText() for column in self.columns]

    def weight_keys(self) -> list[str | None]:
        return [column.weights.currentData() for column in self.columns]

    def _model_changed(self, column: ModelColumn) -> None:
        from explorer.core.weights import weight_options

        name = column.model.currentText()
        column.weights.clear()
        column.untrained = None
        show_untrained(column.badge, None)
        self._forget_notices()
        if not name:
            return
        try:
            options = weight_options(name)
        except Exception as error:  # a user model without weight sources, say
            self.status.setText(str(error))
            options = []
        for option in options:
            column.weights.addItem(option.label, option.key)
            column.weights.setItemData(column.weights.count() - 1, f"status: {option.status}", Qt.ItemDataRole.ToolTipRole)
        if name in self._weight_files:
            path = self._weight_files[name]
            column.weights.insertItem(0, f"file: {path.rsplit('/', 1)[-1]}", path)
            column.weights.setCurrentIndex(0)
        self.reclassify()

    def load_weights_file(self) -> None:
        path = file_dialogs.open_file(self, "Load weights", "weights", "Weights (*.pth *.pt *.safetensors)")
        if path:
            self.use_weights_file(path)

    def use_weights_file(self, path: str, column: int = 0) -> None:
        self._weight_files[self.columns[column].model.currentText()] = path
        self._model_changed(self.columns[column])

    # --- images ----------------------------------------------------------------------------------

    def open_images(self) -> None:
        paths = file_dialogs.open_files(self, "Open images", "images", IMAGE_FILTER)
        if paths:
            self.add_images(paths)

    def open_samples(self) -> None:
        from explorer.core.images import image_files

        self.add_images([str(p) for p in image_files([jobs.SAMPLE_IMAGES])])

    def add_images(self, paths: Sequence[str]) -> None:
        """Files or folders; folders are expanded in the worker."""
        self.paths.extend(str(p) for p in paths)
        self.reclassify()

    def add_image_data(self, data: bytes, name: str) -> None:
        """A pasted image: saved to a temporary PNG so every model reads the same pixels."""
        self.add_images([jobs.save_pasted_image(data, name)])

    def clear(self) -> None:
        self.cancel()
        self.paths.clear()
        self.results.clear()
        self._rebuild_grid([])
        self.imagesChanged.emit(0)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls() or event.mimeData().hasImage():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        self.drop_mime_data(event.mimeData())
        event.acceptProposedAction()

    def drop_mime_data(self, mime: Any) -> bool:
        """URLs (files, folders) or raw image data, as dropped or pasted."""
        paths = [url.toLocalFile() for url in mime.urls() if url.isLocalFile()]
        if paths:
            self.add_images(paths)
            return True
        if mime.hasImage():
            image = QImage(mime.imageData())
            if not image.isNull():
                from PySide6.QtCore import QBuffer, QIODevice

                buffer = QBuffer()
                buffer.open(QIODevice.OpenModeFlag.WriteOnly)
                image.save(buffer, "PNG")
                self.add_image_data(bytes(buffer.data()), "pasted image")
                return True
        self.status.setText("Nothing to classify in what was dropped: drop image files or a folder.")
        return False

    # --- running ---------------------------------------------------------------------------------

    def reclassify(self) -> None:
        if not self.paths or not self.columns:
            return
        self.results.clear()
        self._set_busy(True)
        self.runner.submit(jobs.classify, list(self.paths), list(zip(self.models(), self.weight_keys())))

    def cancel(self) -> None:
        if self.runner.busy:
            self.runner.cancel()
            self.status.setText("Cancelled.")
        self._set_busy(False)

    def _set_busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        if busy:
            self.progress.setRange(0, 0)

    def _progress(self, event: object) -> None:
        if isinstance(event, jobs.ClassifyImages):
            self._rebuild_grid(event.images)
            self.imagesChanged.emit(len(event.images))
        elif isinstance(event, jobs.ClassifyColumn):
            if event.column < len(self.columns):  # first: the bars and headers below read it
                self._show_weights_in_use(self.columns[event.column], event)
            for row, result in enumerate(event.results):
                if result is not None:
                    self.results[(row, event.column)] = result
                    self._show_result(row, event.column, result)
            if event.notice:
                self.notices[self.models()[event.column]] = event.notice
                self.status.setText(event.notice)
            self._set_crops(event.column, event.crops)
        elif isinstance(event, jobs.ClassifyProgress):
            if event.total:
                self.progress.setRange(0, event.total)
                self.progress.setValue(event.done)
            else:
                self.progress.setRange(0, 0)
            self.progress.setFormat(event.message)
            self.status.setText(event.message)

    def _show_weights_in_use(self, column: ModelColumn, event: jobs.ClassifyColumn) -> None:
        """The picker and the badge say which weights the column really ran with."""
        column.untrained = event.untrained
        show_untrained(column.badge, event.untrained)
        mark_fell_back(column.weights, event.weights_key)  # asked for weights that could not be had

    def _forget_notices(self) -> None:
        """A model no longer compared takes its notice with it."""
        models = set(self.models())
        self.notices = {model: text for model, text in self.notices.items() if model in models}
        if not self.notices and "untrained weights (" in self.status.text():
            self.status.setText("")

    def _finished(self, summary: str) -> None:
        notices = [self.notices[m] for m in self.models() if m in self.notices]
        self.status.setText(" · ".join([summary, *notices]))

    def _failed(self, error: BaseException) -> None:
        self.status.setText(in_gui_words(error))

    def _idle(self) -> None:
        self._set_busy(False)

    # --- the grid --------------------------------------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Resize and watched is self.scroll.viewport():
            self._fit_images()
        return super().eventFilter(watched, event)

    def image_scale(self) -> float:
        """How much the thumbnails and crops are shrunk so that a row fits the page's width."""
        margins = self.grid.contentsMargins()
        spacing = self.grid.horizontalSpacing()
        models = max(len(self.columns), 1)
        others = models * TopKBars.MIN_WIDTH + (models + 1) * spacing + margins.left() + margins.right() + 12
        room = self.scroll.viewport().width() - others
        return min(1.0, max(MIN_IMAGE_SCALE, room / (THUMBNAIL + CROP_SIDE)))

    def _fit_images(self) -> None:
        scale = self.image_scale()
        for picture in self.scaled_images:
            picture.set_scale(scale)
        for caption in self.captions:
            caption.setMaximumWidth(round(THUMBNAIL * scale) + 20)

    def _clear_grid(self) -> None:
        while self.grid.count():
            item = self.grid.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()

    def _rebuild_grid(self, images: Sequence[jobs.LoadedImage]) -> None:
        self._clear_grid()
        self.bars: dict[tuple[int, int], TopKBars] = {}
        self.explain_buttons: dict[tuple[int, int], QPushButton] = {}  # issue 14
        self.crop_labels: dict[int, ScaledImage] = {}
        self.scaled_images: list[ScaledImage] = []
        self.captions: list[QLabel] = []
        self.error_labels: dict[int, QLabel] = {}
        headers = ["image", "what the network sees", *[f"{m}" for m in self.models()]]
        self.header_badges: dict[int, QLabel] = {}
        for column, text in enumerate(headers):
            label = QLabel(f"<b>{text}</b>")
            if column < 2:
                label.setWordWrap(True)  # a shrunk picture's column is not held wide by its header
                self.grid.addWidget(label, 0, column, Qt.AlignmentFlag.AlignBottom)
                continue
            header = QWidget()  # the model's name, and its badge while its weights are random
            row = QHBoxLayout(header)
            row.setContentsMargins(0, 0, 0, 0)
            row.addWidget(label)
            badge = self.header_badges[column - 2] = untrained_badge()
            show_untrained(badge, self.columns[column - 2].untrained if column - 2 < len(self.columns) else None)
            row.addWidget(badge)
            row.addStretch(1)
            self.grid.addWidget(header, 0, column)
        for row, image in enumerate(images, start=1):
            thumb = ScaledImage(image.thumbnail)
            thumb.setToolTip(image.path)
            self.scaled_images.append(thumb)
            caption = QLabel(image.name)
            caption.setMaximumWidth(THUMBNAIL + 20)
            self.captions.append(caption)
            caption.setWordWrap(True)
            cell = QVBoxLayout()
            cell.setContentsMargins(0, 0, 0, 0)  # (image_scale counts the grid's spacing, not these)
            cell.addWidget(thumb)
            cell.addWidget(caption)
            holder = QWidget()
            holder.setLayout(cell)
            self.grid.addWidget(holder, row, 0, Qt.AlignmentFlag.AlignTop)
            if image.error:
                error = QLabel(f"⚠ {image.error}")
                error.setWordWrap(True)
                error.setStyleSheet("color: #c62828;")
                self.error_labels[row - 1] = error
                self.grid.addWidget(error, row, 1, 1, len(headers) - 1, Qt.AlignmentFlag.AlignTop)
                continue
            crop = ScaledImage()
            self.crop_labels[row - 1] = crop
            self.scaled_images.append(crop)
            self.grid.addWidget(crop, row, 1, Qt.AlignmentFlag.AlignTop)
            for column in range(len(self.columns)):
                bars = TopKBars()
                bars.set_predictions([], "waiting…")
                self.bars[(row - 1, column)] = bars
                self.grid.addWidget(self._with_explain(bars, row - 1, column), row, 2 + column, Qt.AlignmentFlag.AlignTop)
        self._fit_images()

    def _with_explain(self, bars: TopKBars, row: int, column: int) -> QWidget:
        """Issue 14: the bars with an "Explain" button under them (enabled once classified)."""
        button = QPushButton("Explain…")
        button.setToolTip("Where did the network look? Grad-CAM, saliency and occlusion for this photo")
        button.setEnabled(False)
        button.clicked.connect(lambda _checked=False: self.request_explain(row, column))
        self.explain_buttons[(row, column)] = button
        cell = QWidget()
        layout = QVBoxLayout(cell)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(bars)
        layout.addWidget(button, 0, Qt.AlignmentFlag.AlignLeft)
        return cell

    def request_explain(self, row: int, column: int) -> None:
        """Issue 14: ask for the explain view on image ``row`` with model ``column`` (its button's click)."""
        if (row, column) in self.results and column < len(self.columns):
            path = self.results[(row, column)].image
            self.explainRequested.emit(path, self.models()[column], self.weight_keys()[column])

    def _set_crops(self, column: int, crops: Sequence[QImage | None]) -> None:
        if column != 0:
            return  # the first model's crop; the others' differ only when their preprocessing does
        for row, crop in enumerate(crops):
            label = self.crop_labels.get(row)
            if label is not None and crop is not None:
                label.set_image(crop)

    def _show_result(self, row: int, column: int, result: Classification) -> None:
        bars = self.bars.get((row, column))
        if bars is None:
            return
        if result.error:
            bars.set_predictions([], f"⚠ {result.error}")
            return
        if (row, column) in self.explain_buttons:
            self.explain_buttons[(row, column)].setEnabled(True)
        pairs = [(p.label, p.probability) for p in result.predictions]
        untrained = self.columns[column].untrained if column < len(self.columns) else None
        if column in getattr(self, "header_badges", {}):
            show_untrained(self.header_badges[column], untrained)
        bars.set_predictions(pairs, f"{result.weights} · {result.device} · {result.ms:.0f} ms", untrained)
