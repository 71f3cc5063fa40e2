"""The layer table: every layer's numbers, sortable and filterable, with CSV/Markdown export.

The columns are the CLI summary's (``report.COLUMNS``) plus the layer kind, the trainable
parameters and the running totals of parameters and MACs. Display text comes from the core's
formatting; the raw numbers sit under ``SORT_ROLE`` so sorting is numeric.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QItemSelection,
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QStyle,
    QTableView,
    QVBoxLayout,
    QWidget,
)

# The core (and torch under it) is imported with the first summary, never at import: the window
# must appear before torch has loaded (tests/gui/test_startup.py).
if TYPE_CHECKING:
    from explorer.core.stats import LayerStats, ModelSummary

_AnyIndex = QModelIndex | QPersistentModelIndex

#: Raw values for sorting (numbers sort as numbers).
SORT_ROLE = Qt.ItemDataRole.UserRole
#: "name type kind" of the row, on every column: what the filter matches.
FILTER_ROLE = Qt.ItemDataRole.UserRole + 1
#: The layer name of the row, on every column.
NAME_ROLE = Qt.ItemDataRole.UserRole + 2

#: Export suffix → the renderer of ``explorer.core.report`` that writes it (called with ``layers=`` the rows shown).
EXPORT_FORMATS: dict[str, str] = {
    ".csv": "render_csv",
    ".md": "render_markdown",
    ".markdown": "render_markdown",
}


@dataclass(frozen=True)
class Column:
    header: str
    text: Callable[[int, LayerStats], str]  # (row, layer) → display text
    raw: Callable[[int, LayerStats], Any]  # (row, layer) → sort value
    numeric: bool = False
    formula: str | None = None  # the quantity whose formula is the cell's tooltip


# Raw values for the headers of report.COLUMNS; a header added there later sorts by its text.
_RAW: dict[str, tuple[Callable[[LayerStats], Any], str | None]] = {
    "layer": (lambda r: r.name.lower(), None),
    "type": (lambda r: r.type.lower(), None),
    "output": (lambda r: math.prod(r.output_shape) if r.output_shape else 1, "output size"),
    "params": (lambda r: r.params, "params"),
    "MACs": (lambda r: r.macs, "MACs"),
    "FLOPs": (lambda r: r.flops, "FLOPs"),
    "memory KB": (lambda r: r.activation_bytes, "memory"),
    "RF": (lambda r: r.receptive_field, "receptive field"),
    "jump": (lambda r: r.jump, "receptive field"),
}
_NUMERIC = {"params", "MACs", "FLOPs", "memory KB", "RF", "jump"}
_HEADER_TIPS = {
    "RF": "Receptive field in input pixels, H×W where the axes differ. "
    "* the layer also sees the whole image, through a squeeze-excitation gate.",
    "jump": "Jump: the distance on the input between neighbouring units (the cumulative stride), H×W where they differ.",
}


class LayerTableModel(QAbstractTableModel):
    """One row per layer of a ModelSummary (the input excluded), in topological order."""

    def __init__(self, summary: ModelSummary | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._summary: ModelSummary | None = None
        self._layers: tuple[LayerStats, ...] = ()
        self._cum_params: tuple[int, ...] = ()
        self._cum_macs: tuple[int, ...] = ()
        self._row_of: dict[str, int] = {}
        self.columns: tuple[Column, ...] = ()  # made with the first summary (they come from the core's report)
        if summary is not None:
            self.set_summary(summary)

    def _make_columns(self) -> tuple[Column, ...]:
        from explorer.core import report  # loaded with the summary

        columns = [Column("#", lambda i, r: str(i + 1), lambda i, r: i, numeric=True)]
        for header, getter in report.COLUMNS:
            raw, formula = _RAW.get(header, (None, None))
            columns.append(
                Column(
                    header,
                    lambda i, r, g=getter: g(r),
                    (lambda i, r, f=raw: f(r)) if raw else (lambda i, r, g=getter: g(r)),
                    numeric=header in _NUMERIC,
                    formula=formula,
                )
            )
            if header == "type":
                columns.append(Column("kind", lambda i, r: r.kind, lambda i, r: r.kind))
            elif header == "params":
                columns.append(
                    Column("trainable", lambda i, r: f"{r.trainable_params:,}", lambda i, r: r.trainable_params, True)
                )
        columns.append(
            Column("cum. params", lambda i, r: f"{self._cum_params[i]:,}", lambda i, r: self._cum_params[i], True)
        )
        columns.append(Column("cum. MACs", lambda i, r: f"{self._cum_macs[i]:,}", lambda i, r: self._cum_macs[i], True))
        return tuple(columns)

    # --- data ----------------------------------------------------------------------------------

    @property
    def summary(self) -> ModelSummary | None:
        return self._summary

    def set_summary(self, summary: ModelSummary | None) -> None:
        self.beginResetModel()
        self._summary = summary
        self._layers = summary.layers if summary is not None else ()
        self._cum_params = self._cum_macs = ()
        if summary is not None:  # (None: perhaps before torch has loaded)
            from explorer.core.compare import cumulative  # loaded with the summary

            if not self.columns:
                self.columns = self._make_columns()
            self._cum_params = cumulative(r.params for r in self._layers)
            self._cum_macs = cumulative(r.macs for r in self._layers)
        self._row_of = {r.name: i for i, r in enumerate(self._layers)}
        self.endResetModel()

    @property
    def layers(self) -> tuple[LayerStats, ...]:
        return self._layers

    def row_of(self, name: str) -> int | None:
        return self._row_of.get(name)

    def layer_name(self, row: int) -> str:
        return self._layers[row].name

    def column_of(self, header: str) -> int:
        return next(i for i, c in enumerate(self.columns) if c.header == header)

    def rowCount(self, parent: _AnyIndex = QModelIndex()) -> int:  # noqa: B008 (Qt's signature)
        return 0 if parent.isValid() else len(self._layers)

    def columnCount(self, parent: _AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(self.columns):
            return None
        column = self.columns[section]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.header
        if role == Qt.ItemDataRole.TextAlignmentRole:
            side = Qt.AlignmentFlag.AlignRight if column.numeric else Qt.AlignmentFlag.AlignLeft
            return side | Qt.AlignmentFlag.AlignVCenter
        if role == Qt.ItemDataRole.ToolTipRole and ("MACs" in column.header or "FLOPs" in column.header):
            convention = self._summary.convention if self._summary is not None else "lecture"
            return f"{column.header} as the {convention} convention counts them (the status bar's “Count as”)"
        if role == Qt.ItemDataRole.ToolTipRole and column.header in _HEADER_TIPS:
            return _HEADER_TIPS[column.header]
        return None

    def data(self, index: _AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row, column = index.row(), self.columns[index.column()]
        layer = self._layers[row]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.text(row, layer)
        if role == SORT_ROLE:
            return column.raw(row, layer)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            side = Qt.AlignmentFlag.AlignRight if column.numeric else Qt.AlignmentFlag.AlignLeft
            return side | Qt.AlignmentFlag.AlignVCenter
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(row, layer, column)
        if role == Qt.ItemDataRole.ForegroundRole:
            if column.numeric and column.header != "#" and column.raw(row, layer) == 0:
                return QGuiApplication.palette().color(QPalette.ColorRole.PlaceholderText)
            return None
        if role == FILTER_ROLE:
            return f"{layer.name} {layer.type} {layer.kind}"
        if role == NAME_ROLE:
            return layer.name
        return None

    def _tooltip(self, row: int, layer: LayerStats, column: Column) -> str | None:
        if column.formula is not None:
            formula = layer.formula(column.formula)
            if formula:
                return f"{column.formula}: {formula}"
        if column.header == "layer":
            inputs = ", ".join(layer.inputs) or "—"
            return f"{layer.name} ({layer.type}) ← {inputs}"
        if column.header.startswith("cum.") and self._summary is not None:
            total = self._summary.totals.params if column.header == "cum. params" else self._summary.totals.macs
            share = 100 * column.raw(row, layer) / total if total else 0.0
            return f"{share:.1f} % of the model's total"
        return None

    def row_text(self, row: int) -> list[str]:
        layer = self._layers[row]
        return [c.text(row, layer) for c in self.columns]


class _LayerFilter(QSortFilterProxyModel):
    """Filters on the name, type and kind of a row (case-insensitive) and sorts by raw values."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSortRole(SORT_ROLE)
        self.setFilterRole(FILTER_ROLE)
        self.setFilterKeyColumn(0)
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.setSortCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)


class LayerTable(QWidget):
    """A filter box over a sortable table of the layers; selection is kept in sync by name.

    ``nodeSelected(name)`` is emitted when the user picks a row (click or keyboard), never by
    ``select()`` or ``set_summary()``.
    """

    nodeSelected = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = LayerTableModel(parent=self)
        self.proxy = _LayerFilter(self)
        self.proxy.setSourceModel(self.model)
        self._syncing = False

        self.filter_edit = QLineEdit(self)
        self.filter_edit.setPlaceholderText("Filter layers by name, type or kind…")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self.set_filter)
        self.count_label = QLabel(self)
        self.count_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.view = QTableView(self)
        self.view.setModel(self.proxy)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(-1, Qt.SortOrder.AscendingOrder)  # topological order until a header is clicked
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setAlternatingRowColors(True)
        self.view.setWordWrap(False)
        self.view.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.view.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.view.verticalHeader().hide()
        self.view.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        header = self.view.horizontalHeader()
        header.setHighlightSections(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        header.setSortIndicatorShown(True)
        self.view.selectionModel().currentRowChanged.connect(self._current_row_changed)
        self.view.selectionModel().selectionChanged.connect(self._selection_changed)

        self.copy_action = QAction("Copy rows", self)
        self.copy_action.setShortcut(QKeySequence.StandardKey.Copy)
        self.copy_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.copy_action.triggered.connect(self.copy_selection)
        self.view.addAction(self.copy_action)
        self.export_csv_action = QAction("Export CSV…", self)
        self.export_csv_action.triggered.connect(lambda: self._export_dialog(".csv"))
        self.export_markdown_action = QAction("Export Markdown…", self)
        self.export_markdown_action.triggered.connect(lambda: self._export_dialog(".md"))
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.customContextMenuRequested.connect(self._context_menu)

        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.filter_edit, 1)
        top.addWidget(self.count_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(4)
        layout.addLayout(top)
        layout.addWidget(self.view, 1)
        self._update_actions()
        self._update_count()

    # --- public API ----------------------------------------------------------------------------

    @property
    def summary(self) -> ModelSummary | None:
        return self.model.summary

    def set_summary(self, summary: ModelSummary | None) -> None:
        """Show ``summary``'s layers; the filter and the sort column stay, the selection is cleared."""
        self._syncing = True
        try:
            self.model.set_summary(summary)
        finally:
            self._syncing = False
        self._fit_columns()
        self._update_actions()
        self._update_count()
        # A new model starts at its first row and column (Qt keeps the old scroll offsets otherwise).
        self.view.scrollToTop()
        self.view.horizontalScrollBar().setValue(0)

    def select(self, name: str | None) -> bool:
        """Select and scroll to the row of layer ``name`` (or the rows of block ``name``), silently.

        Returns False (and clears the selection) when no visible row matches.
        """
        rows = self._proxy_rows(name) if name else []
        self._syncing = True
        try:
            selection_model = self.view.selectionModel()
            if not rows:
                selection_model.clear()
                return False
            selection = QItemSelection()
            for row in rows:
                selection.select(self.proxy.index(row, 0), self.proxy.index(row, self.proxy.columnCount() - 1))
            first = self.proxy.index(rows[0], 0)
            flags = QItemSelectionModel.SelectionFlag
            selection_model.setCurrentIndex(first, flags.NoUpdate)
            selection_model.select(selection, flags.ClearAndSelect | flags.Rows)
            self.view.scrollTo(first, QAbstractItemView.ScrollHint.PositionAtCenter)
            return True
        finally:
            self._syncing = False

    def selected_names(self) -> list[str]:
        """The layers of the selected rows, in the table's current order."""
        rows = sorted(index.row() for index in self.view.selectionModel().selectedRows())
        return [self.proxy.index(row, 0).data(NAME_ROLE) for row in rows]

    def set_filter(self, text: str) -> None:
        """Show only the layers whose name, type or kind contains ``text`` (case-insensitive)."""
        if self.filter_edit.text() != text:
            self.filter_edit.setText(text)  # comes back here through textChanged
            return
        self._syncing = True
        try:
            self.proxy.setFilterFixedString(text.strip())
        finally:
            self._syncing = False
        self._update_count()

    def shown_layers(self) -> list[LayerStats]:
        """The rows the table shows now: the filter applied, in the current sort order."""
        rows = (self.proxy.mapToSource(self.proxy.index(row, 0)).row() for row in range(self.proxy.rowCount()))
        return [self.model.layers[row] for row in rows]

    def export(self, path: str | Path) -> Path:
        """Write the rows shown (filter and sort applied) as CSV or Markdown, chosen by the suffix.

        Unfiltered, the file is exactly the CLI's ``summary --format csv|markdown``.
        """
        path = Path(path)
        if self.summary is None:
            raise ValueError("There is no model to export.")
        renderer = EXPORT_FORMATS.get(path.suffix.lower())
        if renderer is None:
            raise ValueError(f"Unknown export format {path.suffix!r}: use .csv or .md.")
        from explorer.core import report

        render: Callable[..., str] = getattr(report, renderer)
        from explorer.core.paths import atomic_write

        shown = self.shown_layers()
        whole = len(shown) == self.model.rowCount() and self.proxy.sortColumn() < 0
        layers = None if whole else shown
        with atomic_write(path) as staged:  # a failure leaves the old file, or none
            staged.write_text(render(self.summary, layers=layers), encoding="utf-8")
        return path

    def copy_selection(self) -> str:
        """Put the selected rows (with the header) into the clipboard as tab-separated text."""
        rows = sorted(index.row() for index in self.view.selectionModel().selectedRows())
        if not rows:
            return ""
        lines = ["\t".join(c.header for c in self.model.columns)]
        for row in rows:
            source = self.proxy.mapToSource(self.proxy.index(row, 0)).row()
            lines.append("\t".join(self.model.row_text(source)))
        text = "\n".join(lines) + "\n"
        QApplication.clipboard().setText(text)
        return text

    # --- internals -----------------------------------------------------------------------------

    def _proxy_rows(self, name: str) -> list[int]:
        summary = self.summary
        if summary is None:
            return []
        source_row = self.model.row_of(name)
        if source_row is not None:
            names = [name]
        else:  # a collapsed block of the graph view: every layer under that module path (or range)
            names = [node.name for node in summary.graph.nodes_under(name)]
        rows = []
        for layer_name in names:
            row = self.model.row_of(layer_name)
            if row is None:
                continue
            index = self.proxy.mapFromSource(self.model.index(row, 0))
            if index.isValid():
                rows.append(index.row())
        return sorted(rows)

    def _current_row_changed(self, current: QModelIndex, previous: QModelIndex) -> None:
        if self._syncing or not current.isValid():
            return
        self.nodeSelected.emit(current.data(NAME_ROLE))

    def _selection_changed(self, selected: QItemSelection, deselected: QItemSelection) -> None:
        self._update_actions()

    def _update_actions(self) -> None:
        has_rows = self.view.selectionModel().hasSelection()
        self.copy_action.setEnabled(has_rows)
        for action in (self.export_csv_action, self.export_markdown_action):
            action.setEnabled(self.summary is not None)

    def _update_count(self) -> None:
        summary = self.summary
        if summary is None:
            self.count_label.setText("no model")
            return
        total, shown = self.model.rowCount(), self.proxy.rowCount()
        text = f"{total:,} layers" if shown == total else f"{shown:,} of {total:,} layers"
        if summary.convention != "lecture":  # the default needs no note; another convention is flagged
            text += f" · MACs/FLOPs as {summary.convention} counts them"
        self.count_label.setText(text)

    def _fit_columns(self) -> None:
        """Widths from the contents and the header text (not the room Qt keeps for a sort arrow)."""
        header = self.view.horizontalHeader()
        metrics = header.fontMetrics()
        cell_metrics = self.view.fontMetrics()
        rows = range(self.model.rowCount())
        display = Qt.ItemDataRole.DisplayRole
        for column, spec in enumerate(self.model.columns):
            # The widest text by length, measured once: sizeHintForColumn asks every cell (~0.3 s on ResNet-152).
            texts = [str(self.model.data(self.model.index(row, column), display) or "") for row in rows]
            longest = max(texts, key=len, default="")
            content = cell_metrics.horizontalAdvance(longest) + 2 * self.view.style().pixelMetric(
                QStyle.PixelMetric.PM_FocusFrameHMargin
            ) + 8
            width = max(content, metrics.horizontalAdvance(spec.header) + 20)
            if spec.header == "layer":  # long paths (features.6.0.block.1.0) must not push the numbers away
                width = min(max(width, 120), 320)
            header.resizeSection(column, width + 6)

    def _context_menu(self, position: QPoint) -> None:
        menu = QMenu(self)
        menu.addAction(self.copy_action)
        menu.addSeparator()
        menu.addAction(self.export_csv_action)
        menu.addAction(self.export_markdown_action)
        menu.exec(self.view.viewport().mapToGlobal(position))

    def _export_dialog(self, suffix: str) -> Path | None:
        if self.summary is None:
            return None
        from explorer.gui import file_dialogs

        kind = "CSV" if suffix == ".csv" else "Markdown"
        path, _ = file_dialogs.save_file(
            self, f"Export layer table as {kind}", "exports", f"{self.summary.model}{suffix}", f"{kind} (*{suffix})"
        )
        if not path:
            return None
        target = Path(path)
        if target.suffix.lower() not in EXPORT_FORMATS:
            target = target.with_name(target.name + suffix)
        from explorer.core.errors import ExplorerError

        try:
            return self.export(target)
        except (OSError, ExplorerError) as error:
            QMessageBox.warning(self, "Export layer table", f"Could not write {target}:\n{error}")
            return None
