""""Why do the numbers differ?": one model's operation count from the paper, torchvision and every tool.

The view shows a ``core.reconcile.Reconciliation`` the main window computed in a worker; it never
counts anything itself. Clicking a convention's row asks the window to count the whole app with it
(``conventionChosen``).
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from PySide6.QtCore import QRect, Qt, Signal
from PySide6.QtGui import QFont, QFontMetrics, QPalette, QResizeEvent
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
        self.title.setWordWrap(True)  # a long title wraps rather than set the window's minimum width
        self.intro = QLabel(INTRO, self)
        self.intro.setWordWrap(True)
        self.table = QTableWidget(0, 0, self)  # its columns come with the first reconciliation
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setWordWrap(True)
        self.table.setShowGrid(False)
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
        """One entry per source: its numbers on a row, what makes the difference wrapped on the row below."""
        self.reconciliation = reconciliation
        shape = "×".join(str(d) for d in reconciliation.input_shape)
        self.title.setText(
            f"<b>Why do the numbers differ?</b> &nbsp;{html.escape(reconciliation.title)} · input {shape} · "
            f"{reconciliation.mode} mode"
        )
        headers = reconciliation.HEADERS[:-1]  # the last, "what makes the difference", spans the row below
        if self.table.columnCount() != len(headers):
            self._set_columns(headers)
        self.table.clearSpans()
        self.table.setRowCount(2 * len(reconciliation.lines))
        muted = self.palette().color(QPalette.ColorRole.PlaceholderText)
        for index, line in enumerate(reconciliation.lines):
            cells = reconciliation.cells(line)
            for column, text in enumerate((self._source_text(line), *cells[1 : len(headers)])):
                item = QTableWidgetItem(text)
                if column == 0:
                    item.setToolTip(line.label)
                right = column in (1, 3, 4)
                item.setTextAlignment((Qt.AlignmentFlag.AlignRight if right else Qt.AlignmentFlag.AlignLeft) | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(2 * index, column, item)
            why = QTableWidgetItem(cells[-1])
            why.setForeground(muted)
            why.setToolTip(cells[-1])
            why.setTextAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
            self.table.setItem(2 * index + 1, 0, why)
            self.table.setSpan(2 * index + 1, 0, 1, len(headers))
        self.set_convention(convention)

    def set_convention(self, convention: str) -> None:
        """Mark the convention the app counts with (bold, "in use")."""
        self.convention = convention
        if self.reconciliation is None:
            return
        for index, line in enumerate(self.reconciliation.lines):
            in_use = line.source == convention
            for row in (2 * index, 2 * index + 1):
                for column in range(self.table.columnCount()):
                    item = self.table.item(row, column)
                    if item is not None:
                        font = QFont(item.font())
                        font.setBold(in_use)
                        item.setFont(font)
            self.table.item(2 * index, 0).setText(self._source_text(line))
        self._fit_rows()

    def row_of(self, source: str) -> int:
        """The table row with ``source``'s numbers (what makes the difference is the row below)."""
        assert self.reconciliation is not None
        return 2 * next(i for i, line in enumerate(self.reconciliation.lines) if line.source == source)

    # --- internals -----------------------------------------------------------------------------

    def _set_columns(self, headers: tuple[str, ...]) -> None:
        self.table.setColumnCount(len(headers))
        self.table.setHorizontalHeaderLabels(list(headers))
        header = self.table.horizontalHeader()
        for column in range(1, len(headers)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)

    def _source_text(self, line: Line) -> str:
        """The convention's title (marked when in use), or where a published figure is from."""
        if line.source in CONVENTION_NAMES:
            return f"● {line.label} — in use" if line.source == self.convention else line.label
        return f"{line.source}: {line.label}"

    def _clicked(self, row: int, column: int) -> None:
        if self.reconciliation is None:
            return
        source = self.reconciliation.lines[row // 2].source
        if source in CONVENTION_NAMES and source != self.convention:
            self.conventionChosen.emit(source)

    def _fit_rows(self) -> None:
        """Row heights for the wrapped lines (Qt's own resizeRowsToContents ignores spans)."""
        width = self.table.viewport().width() - 8
        for row in range(self.table.rowCount()):
            item = self.table.item(row, 0)
            if item is None:
                continue
            if row % 2:
                metrics = QFontMetrics(item.font())
                flags = int(Qt.TextFlag.TextWordWrap)
                height = metrics.boundingRect(QRect(0, 0, max(width, 50), 10_000), flags, item.text()).height()
                self.table.setRowHeight(row, height + 8)
            else:
                self.table.setRowHeight(row, QFontMetrics(item.font()).height() + 8)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_rows()  # the wrapped lines take more or fewer lines
