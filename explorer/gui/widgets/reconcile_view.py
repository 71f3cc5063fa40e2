""""Why do the numbers differ?": one model's operation count from the paper, torchvision and every tool.

The view shows a ``core.reconcile.Reconciliation`` the main window computed in a worker; it never
counts anything itself. Clicking a convention's row asks the window to count the whole app with it
(``conventionChosen``).
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from explorer.core.convention_names import CONVENTION_NAMES

if TYPE_CHECKING:
    from explorer.core.reconcile import Line, Reconciliation

INTRO = (
    "A MAC (multiply-accumulate) is one multiplication and one addition; FLOPs count both, so 1 MAC = 2 FLOPs. "
    "Papers and most tools say “FLOPs” and mean multiply-adds. Each tool counts something a little different "
    "(biases, BatchNorm, activations, pooling, the types it knows), and every row says what. "
    "Click a convention to count the whole app with it."
)


class ReconcileView(QWidget):
    conventionChosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.reconciliation: Reconciliation | None = None
        self.convention = CONVENTION_NAMES[0]
        self.title = QLabel(self)
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.intro = QLabel(INTRO, self)
        self.intro.setWordWrap(True)
        self.table = QTableWidget(0, 0, self)  # its columns come with the first reconciliation
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setWordWrap(True)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setHighlightSections(False)
        self.table.cellClicked.connect(self._clicked)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        layout.setSpacing(6)
        layout.addWidget(self.title)
        layout.addWidget(self.intro)
        layout.addWidget(self.table, 1)
        self.show_message("Open a model to see where its numbers come from.")

    # --- public API ----------------------------------------------------------------------------

    def show_message(self, text: str) -> None:
        self.reconciliation = None
        self.title.setText(f"<b>Why do the numbers differ?</b> &nbsp;<i>{html.escape(text)}</i>")
        self.table.setRowCount(0)

    def set_reconciliation(self, reconciliation: Reconciliation, convention: str) -> None:
        self.reconciliation = reconciliation
        shape = "×".join(str(d) for d in reconciliation.input_shape)
        self.title.setText(
            f"<b>Why do the numbers differ?</b> &nbsp;{html.escape(reconciliation.title)} · input {shape} · "
            f"{reconciliation.mode} mode"
        )
        if self.table.columnCount() != len(reconciliation.HEADERS):
            self._set_columns(reconciliation.HEADERS)
        self.table.setRowCount(len(reconciliation.lines))
        for row, line in enumerate(reconciliation.lines):
            cells = reconciliation.cells(line)
            for column, text in enumerate((self._source_text(line), *cells[1:])):
                item = QTableWidgetItem(text)
                item.setToolTip(text if column in (0, len(cells) - 1) else "")
                if column in (1, 3, 4):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                else:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, column, item)
        self.table.setColumnWidth(0, min(max(self.width() // 6, 150), 260))
        self.set_convention(convention)

    def set_convention(self, convention: str) -> None:
        """Mark the convention the app counts with (bold, "in use")."""
        self.convention = convention
        if self.reconciliation is None:
            return
        for row, line in enumerate(self.reconciliation.lines):
            in_use = line.source == convention
            for column in range(self.table.columnCount()):
                item = self.table.item(row, column)
                font = QFont(item.font())
                font.setBold(in_use)
                item.setFont(font)
            self.table.item(row, 0).setText(self._source_text(line))
        self.table.resizeRowsToContents()

    def row_of(self, source: str) -> int:
        assert self.reconciliation is not None
        return next(i for i, line in enumerate(self.reconciliation.lines) if line.source == source)

    # --- internals -----------------------------------------------------------------------------

    def _set_columns(self, headers: tuple[str, ...]) -> None:
        self.table.setColumnCount(len(headers))
        self.table.setHorizontalHeaderLabels(list(headers))
        header = self.table.horizontalHeader()
        for column in range(1, len(headers) - 1):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(len(headers) - 1, QHeaderView.ResizeMode.Stretch)

    def _source_text(self, line: Line) -> str:
        """The convention's title (marked when in use), or where a published figure is from."""
        if line.source in CONVENTION_NAMES:
            return f"{line.label} — in use" if line.source == self.convention else line.label
        return f"{line.source}: {line.label}"

    def _clicked(self, row: int, column: int) -> None:
        if self.reconciliation is None:
            return
        source = self.reconciliation.lines[row].source
        if source in CONVENTION_NAMES and source != self.convention:
            self.conventionChosen.emit(source)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.table.resizeRowsToContents()  # the wrapped "what makes the difference" lines
