"""The catalogue dock: models grouped by family, a search box, the input shape and the mode."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import QModelIndex, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:
    from explorer.core.zoo.registry import ModelSpec

NAME_ROLE = Qt.ItemDataRole.UserRole + 1
#: a family row's name without its count ("ResNet"): its text is "ResNet  (5)", or "ResNet  (2 of 5)" while searching
FAMILY_ROLE = Qt.ItemDataRole.UserRole + 2
#: the narrowest the Models panel gets: a model's name, the input shape field and the mode
MINIMUM_WIDTH = 230
_REJECTED_STYLE = "QLineEdit { border: 1px solid #c62828; color: #c62828; }"


def shape_text(shape: Sequence[int]) -> str:
    return "×".join(str(v) for v in shape)


class Catalogue(QWidget):
    """Emits what the user asks for; the main window runs the analysis."""

    modelChosen = Signal(str)  # a spec name
    inputShapeEdited = Signal(str)  # the raw text; the core parses and reports errors
    modeChanged = Signal(str)  # "eval" or "train"
    openModelFileRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._model = QStandardItemModel(self)
        self._proxy = QSortFilterProxyModel(self)
        self._proxy.setSourceModel(self._model)
        self._proxy.setRecursiveFilteringEnabled(True)
        self._proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self._proxy.setFilterRole(Qt.ItemDataRole.ToolTipRole)

        self.search = QLineEdit(placeholderText="Search models…", clearButtonEnabled=True)
        self.search.textChanged.connect(self._filter)
        self.tree = QTreeView(headerHidden=True, uniformRowHeights=True)
        self.tree.setModel(self._proxy)
        self.tree.setEditTriggers(QTreeView.EditTrigger.NoEditTriggers)
        self.tree.selectionModel().currentChanged.connect(self._current_changed)

        self.input_shape = QLineEdit(placeholderText="C×H×W, e.g. 3×224×224")
        self.input_shape.setToolTip("Input shape without the batch: C×H×W. Press Enter to re-analyse.")
        self.input_shape.returnPressed.connect(self._input_entered)
        self.input_shape.textEdited.connect(lambda _text: self._mark_rejected(False))
        # Wide enough for "3×1024×1024" whatever squeezes the dock (it showed "×224").
        self.input_shape.setMinimumWidth(self.input_shape.fontMetrics().horizontalAdvance("3×1024×1024") + 16)
        self._entered_input: str | None = None  # the shape typed last, until an analysis succeeds or fails
        self.input_rejected = False
        self.mode = QComboBox()
        self.mode.addItems(["eval", "train"])
        self.mode.setToolTip("train mode shows what only runs in training, e.g. GoogLeNet's auxiliary heads")
        self.mode.currentTextChanged.connect(self.modeChanged)
        self.open_file = QPushButton("Open model file…")
        self.open_file.setToolTip("Load your own model: a .py file with a factory that returns an nn.Module")
        self.open_file.clicked.connect(self.openModelFileRequested)
        self.message = QLabel(wordWrap=True)
        self.message.setMinimumWidth(120)  # wraps instead of widening the dock
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message.hide()

        shape_row = QHBoxLayout()
        shape_row.addWidget(QLabel("Input"))
        shape_row.addWidget(self.input_shape, 1)
        shape_row.addWidget(self.mode)
        # The dock never squeezes below a readable list (issue 13: names cut, "×224" in the Input field).
        self.setMinimumWidth(MINIMUM_WIDTH)
        self.tree.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # "ResNet-50 v1…(2016)" keeps its year
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.search)
        layout.addWidget(self.tree, 1)
        layout.addLayout(shape_row)
        layout.addWidget(self.message)
        layout.addWidget(self.open_file)

    # --- filling -----------------------------------------------------------------------------

    def set_specs(self, specs: Sequence[ModelSpec]) -> None:
        self._model.clear()
        self._set_ready(True)
        families: dict[str, QStandardItem] = {}
        for spec in specs:
            family = families.get(spec.family)
            if family is None:
                family = QStandardItem(spec.family)
                family.setSelectable(False)
                family.setToolTip(spec.family)
                families[spec.family] = family
                self._model.appendRow(family)
            family.appendRow(self._item(spec))
        for family in families.values():
            family.setData(family.text(), FAMILY_ROLE)
            if family.text().startswith(("More", "User")):
                continue
            self.tree.expand(self._proxy.mapFromSource(family.index()))
        self._update_counts()

    def show_loading(self, text: str) -> None:
        """Before the catalogue has arrived (start-up): one grey line in the list says what is loading,
        and the controls that need a model wait; ``set_specs`` replaces it."""
        self._model.clear()
        item = QStandardItem(text)
        item.setEnabled(False)
        item.setSelectable(False)
        item.setToolTip(text)
        self._model.appendRow(item)
        self._set_ready(False)

    def _set_ready(self, ready: bool) -> None:
        for control in (self.search, self.input_shape, self.mode, self.open_file):
            control.setEnabled(ready)

    def add_spec(self, spec: ModelSpec) -> None:
        """A user model: added under "User" and selected."""
        matches = self._model.findItems("User", Qt.MatchFlag.MatchStartsWith)
        family = matches[0] if matches else QStandardItem("User")
        if not matches:
            family.setSelectable(False)
            family.setToolTip("User")
            family.setData("User", FAMILY_ROLE)
            self._model.appendRow(family)
        if not self._find(spec.name).isValid():
            family.appendRow(self._item(spec))
        self._update_counts()
        self.tree.expand(self._proxy.mapFromSource(family.index()))
        self.select(spec.name, emit=False)

    @staticmethod
    def _item(spec: ModelSpec) -> QStandardItem:
        year = f" ({spec.year})" if spec.year else ""
        item = QStandardItem(f"{spec.title}{year}")
        item.setData(spec.name, NAME_ROLE)
        lines = [f"<b>{spec.title}</b> — <code>{spec.name}</code>"]
        if spec.paper:
            lines.append(f"{spec.paper.title}<br>{spec.paper.authors}<br>{spec.paper.venue} {spec.paper.year}")
        lines.append(f"Input {shape_text(spec.input_shape)}")
        if spec.notes:
            lines.append(spec.notes)
        if spec.paper_differences:
            lines.append(f"<b>Not the paper's:</b> {spec.paper_differences}")
        item.setToolTip("<br>".join(lines))
        return item

    # --- state -------------------------------------------------------------------------------

    def current_name(self) -> str | None:
        index = self.tree.currentIndex()
        return index.data(NAME_ROLE) if index.isValid() else None

    def select(self, name: str, *, emit: bool = True) -> bool:
        index = self._find(name)
        if not index.isValid():
            return False
        proxy_index = self._proxy.mapFromSource(index)
        self.tree.blockSignals(not emit)
        self.tree.selectionModel().blockSignals(not emit)
        self.tree.setCurrentIndex(proxy_index)
        self.tree.selectionModel().blockSignals(False)
        self.tree.blockSignals(False)
        self.tree.scrollTo(proxy_index)
        return True

    def set_input_shape(self, shape: Sequence[int]) -> None:
        """The shape analysed; a rejected shape the user typed stays instead, red, for editing."""
        if self.input_rejected:
            return
        self.input_shape.setText(shape_text(shape))

    def _input_entered(self) -> None:
        self._entered_input = self.input_shape.text()
        self._mark_rejected(False)
        self.inputShapeEdited.emit(self._entered_input)

    def _mark_rejected(self, rejected: bool) -> None:
        self.input_rejected = rejected
        self.input_shape.setStyleSheet(_REJECTED_STYLE if rejected else "")

    def set_mode(self, mode: str) -> None:
        self.mode.blockSignals(True)
        self.mode.setCurrentText(mode)
        self.mode.blockSignals(False)

    def show_message(self, text: str, *, error: bool = True) -> None:
        """An inline message under the input shape (errors stay until the next success).

        An error that answers a shape typed into the Input field keeps that text there, red, with the
        message, until it is edited or an analysis succeeds (``set_input_shape`` then leaves it).
        """
        from explorer.gui.messages import in_gui_words

        entered, self._entered_input = self._entered_input, None
        if not text:
            self._mark_rejected(False)
            self.message.hide()
            return
        text = in_gui_words(text)
        if error and entered is not None:
            self.input_shape.setText(entered)
            self._mark_rejected(True)
            self.input_shape.setToolTip(text)
        colour = "#c62828" if error else self.palette().color(self.foregroundRole()).name()
        self.message.setStyleSheet(f"color: {colour};")
        self.message.setText(text)
        self.message.show()

    def _find(self, name: str) -> QModelIndex:
        matches = self._model.match(self._model.index(0, 0), NAME_ROLE, name, 1, Qt.MatchFlag.MatchExactly | Qt.MatchFlag.MatchRecursive)
        return matches[0] if matches else QModelIndex()

    def _filter(self, text: str) -> None:
        self._proxy.setFilterFixedString(text)
        if text:
            self.tree.expandAll()
        self._update_counts()

    def _update_counts(self) -> None:
        """Each family's count: its models, or while searching how many of them match."""
        searching = bool(self._proxy.filterRegularExpression().pattern())
        for row in range(self._model.rowCount()):
            family = self._model.item(row)
            total = family.rowCount()
            shown_family = self._proxy.mapFromSource(family.index())  # invalid: no model of it matches
            shown = self._proxy.rowCount(shown_family) if shown_family.isValid() else 0
            count = f"{shown} of {total}" if searching and shown != total else f"{total}"
            family.setText(f"{family.data(FAMILY_ROLE) or family.text()}  ({count})")

    def _current_changed(self, current: QModelIndex, previous: QModelIndex) -> None:
        name = current.data(NAME_ROLE)
        if name:
            self._entered_input = None  # a model picked: an error now is about the model, not a typed shape
            self._mark_rejected(False)
            self.modelChosen.emit(name)
