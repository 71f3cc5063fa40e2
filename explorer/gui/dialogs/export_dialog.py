"""Export to ONNX… (Ctrl+E): pick models and options, watch each export, read the parity."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSettings, Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from explorer.gui import file_dialogs, jobs
from explorer.gui.messages import in_gui_words
from explorer.gui.workers import TaskRunner

if TYPE_CHECKING:
    from explorer.core.onnx_export import ExportProgress, ExportResult

RESULT_COLUMNS = ("model", "status", "size", "max abs diff", "max rel diff", "nodes", "time", "weights")
WEIGHT_CHOICES = (("default (best available offline)", "default"), ("pretrained", "pretrained"), ("untrained", "untrained"))


def _size(n_bytes: int) -> str:
    return f"{n_bytes / 2**20:,.1f} MB" if n_bytes >= 2**20 else f"{n_bytes / 1024:,.0f} KB"


class ExportDialog(QDialog):
    def __init__(self, model_names: Sequence[str], selected: Sequence[str], settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export to ONNX")
        self.settings = settings
        self.results: list[ExportResult] = []
        self.runner = TaskRunner(self)
        self.runner.progress.connect(self._progress)
        self.runner.result.connect(self._finished)
        self.runner.error.connect(self._failed)
        self.runner.idle.connect(self._idle)

        self.models = QListWidget()
        self.models.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        for name in model_names:
            item = QListWidgetItem(name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if name in selected else Qt.CheckState.Unchecked)
            self.models.addItem(item)
        self.filter = QLineEdit(placeholderText="Filter models…", clearButtonEnabled=True)
        self.filter.textChanged.connect(self._filter)
        # What Export will write: the ticked models the filter shows (a hidden tick is not exported).
        self.count_label = QLabel()
        self.count_label.setWordWrap(True)
        self.models.itemChanged.connect(lambda _item: self._update_count())

        from explorer.core.onnx_export import DEFAULT_OPSET, supported_opsets  # torch is loaded by now

        opsets = supported_opsets()  # what the installed exporter writes itself
        self.opset = QSpinBox(minimum=opsets.start, maximum=opsets.stop - 1)
        self.opset.setValue(int(settings.value("export/opset", DEFAULT_OPSET)))
        self.input_shape = QLineEdit(str(settings.value("export/input", "")), placeholderText="each model's default, e.g. 3x224x224")
        self.dynamic_batch = QCheckBox("dynamic batch dimension")
        self.dynamic_batch.setChecked(settings.value("export/dynamic", "false") == "true")
        self.weights = QComboBox()
        for label, key in WEIGHT_CHOICES:
            self.weights.addItem(label, key)
        self.weights.addItem("state-dict file…", "file")
        self.weights.setCurrentIndex(max(self.weights.findData(settings.value("export/weights", "default")), 0))
        self.weights.activated.connect(self._weights_chosen)
        self.weights_file = ""
        self.verify = QCheckBox("check with onnx.checker and compare with onnxruntime")
        self.verify.setChecked(settings.value("export/verify", "true") == "true")
        self.folder = QLineEdit(str(settings.value("export/folder", str(Path.home()))))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder, 1)
        folder_row.addWidget(browse)

        form = QFormLayout()
        form.addRow("opset", self.opset)
        form.addRow("input shape", self.input_shape)
        form.addRow("", self.dynamic_batch)
        form.addRow("weights", self.weights)
        form.addRow("", self.verify)
        form.addRow("output folder", folder_row)

        self.progress_bar = QProgressBar()
        self.progress_bar.setFormat("%v of %m models")
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.table = QTableWidget(0, len(RESULT_COLUMNS))
        self.table.setHorizontalHeaderLabels(RESULT_COLUMNS)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)

        self.buttons = QDialogButtonBox()
        self.export_button = self.buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        self.cancel_button = self.buttons.addButton("Cancel export", QDialogButtonBox.ButtonRole.RejectRole)
        self.open_button = self.buttons.addButton("Open folder", QDialogButtonBox.ButtonRole.ActionRole)
        self.close_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.export_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.open_button.clicked.connect(self._open_folder)
        self.close_button.clicked.connect(self.close)
        self.cancel_button.setEnabled(False)

        left = QVBoxLayout()
        left.addWidget(self.filter)
        left.addWidget(self.models, 1)
        left.addWidget(self.count_label)
        top = QHBoxLayout()
        top.addLayout(left, 1)
        top.addLayout(form, 2)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.status)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.buttons)
        self.resize(980, 640)
        self._update_count()

    # --- choices ----------------------------------------------------------------------------------

    def _ticked(self) -> list[QListWidgetItem]:
        items = (self.models.item(i) for i in range(self.models.count()))
        return [item for item in items if item.checkState() == Qt.CheckState.Checked]

    def checked_models(self) -> list[str]:
        """The models Export writes: ticked and shown by the filter."""
        return [item.text() for item in self._ticked() if not item.isHidden()]

    def _update_count(self) -> None:
        ticked = self._ticked()
        shown = sum(1 for item in ticked if not item.isHidden())
        hidden = len(ticked) - shown
        text = f"{shown} model{'s' if shown != 1 else ''} to export"
        if hidden:
            text += f" ({hidden} ticked but hidden by the filter, not exported)"
        self.count_label.setText(text)
        self.export_button.setText(f"Export {shown}" if shown else "Export")

    def _filter(self, text: str) -> None:
        for i in range(self.models.count()):
            item = self.models.item(i)
            item.setHidden(bool(text) and text.lower() not in item.text().lower())
        self._update_count()

    def _browse(self) -> None:
        folder = file_dialogs.choose_folder(self, "Output folder", "exports", self.folder.text())
        if folder:
            self.folder.setText(folder)

    def _folder_ready(self) -> bool:
        """The output folder exists, or the user agreed to create it (and it was)."""
        folder = Path(self.folder.text().strip() or ".").expanduser()
        if folder.is_dir() or folder.exists():
            return True  # (a file there is reported by the export, in its words)
        answer = QMessageBox.question(
            self, "Export to ONNX", f"The folder {folder} does not exist. Create it?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes,
        )  # fmt: skip
        if answer != QMessageBox.StandardButton.Yes:
            self.status.setText(f"Not exported: the folder {folder} does not exist.")
            return False
        try:
            folder.mkdir(parents=True)
        except OSError as error:
            self.status.setText(f"Could not create the folder {folder}: {error.strerror or error}.")
            return False
        return True

    def _weights_chosen(self) -> None:
        if self.weights.currentData() == "file":
            path = file_dialogs.open_file(self, "State-dict file", "weights", "Weights (*.pth *.pt *.safetensors)")
            if path:
                self.weights_file = path
                self.weights.setItemText(self.weights.currentIndex(), f"file: {Path(path).name}")
            else:
                self.weights.setCurrentIndex(0)

    def _weights_key(self) -> str:
        key = self.weights.currentData()
        return self.weights_file if key == "file" else key

    # --- running ----------------------------------------------------------------------------------

    def start(self) -> None:
        models = self.checked_models()
        if not models:
            hidden = bool(self._ticked())
            self.status.setText("Tick at least one model" + (" the filter shows." if hidden else "."))
            return
        if not self._folder_ready():
            return
        self._remember()
        self.results = []
        self.table.setRowCount(len(models))
        for row, name in enumerate(models):
            self.table.setItem(row, 0, QTableWidgetItem(name))
            self.table.setItem(row, 1, QTableWidgetItem("waiting"))
            for column in range(2, len(RESULT_COLUMNS)):
                self.table.setItem(row, column, QTableWidgetItem(""))
        self.progress_bar.setRange(0, len(models))
        self.progress_bar.setValue(0)
        self.status.setText("")
        self.export_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.runner.submit(
            jobs.export_models,
            models,
            self.folder.text(),
            opset=self.opset.value(),
            input_shape=self.input_shape.text().strip() or None,
            dynamic_batch=self.dynamic_batch.isChecked(),
            weights=self._weights_key(),
            verify=self.verify.isChecked(),
        )

    def cancel(self) -> None:
        self.runner.cancel()
        self.status.setText("Cancelled: the model being exported was discarded; finished files are kept.")
        for row in range(self.table.rowCount()):
            if self.table.item(row, 1).text() not in {"done"} and not self.table.item(row, 1).text().startswith("error"):
                self.table.item(row, 1).setText("cancelled")

    def _progress(self, progress: ExportProgress | ExportResult) -> None:
        from explorer.core.onnx_export import ExportResult

        if isinstance(progress, ExportResult):
            self._show_result(progress)
            return
        self.table.item(progress.index, 1).setText(progress.message.partition(": ")[2] or progress.stage)
        self.status.setText(progress.message)

    def _show_result(self, result: ExportResult) -> None:
        row = next(r for r in range(self.table.rowCount()) if self.table.item(r, 0).text() == result.model)
        self.results.append(result)
        self.progress_bar.setValue(len(self.results))
        if result.error:
            item = self.table.item(row, 1)
            item.setText(f"error: {in_gui_words(result.error)}")
            item.setToolTip(in_gui_words(result.error))
            item.setForeground(Qt.GlobalColor.red)
            return
        values = [
            "done",
            _size(result.bytes),
            "—" if result.max_abs_diff is None else f"{result.max_abs_diff:.2e}",
            "—" if result.max_rel_diff is None else f"{result.max_rel_diff:.2e}",
            f"{result.nodes:,}",
            f"{result.seconds:.1f} s",
            result.weights,
        ]
        for column, text in enumerate(values, start=1):
            self.table.item(row, column).setText(text)
        ops = ", ".join(f"{op} {n}" for op, n in list(result.op_types.items())[:8])
        self.table.item(row, 1).setToolTip(f"{result.path}\nweights: {result.weights}\nops: {ops}")

    def _finished(self, results: list[ExportResult]) -> None:
        failed = sum(1 for r in results if r.error)
        self.status.setText(f"{len(results) - failed} exported, {failed} failed." if failed else f"{len(results)} exported.")

    def _failed(self, error: BaseException) -> None:
        self.status.setText(in_gui_words(error))

    def _idle(self) -> None:
        self.export_button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    def _open_folder(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(self.folder.text()))

    def _remember(self) -> None:
        self.settings.setValue("export/opset", self.opset.value())
        self.settings.setValue("export/input", self.input_shape.text().strip())
        self.settings.setValue("export/dynamic", "true" if self.dynamic_batch.isChecked() else "false")
        self.settings.setValue("export/weights", self.weights.currentData())
        self.settings.setValue("export/verify", "true" if self.verify.isChecked() else "false")
        self.settings.setValue("export/folder", self.folder.text())

    def closeEvent(self, event: object) -> None:
        self.runner.cancel()
        super().closeEvent(event)
