"""The What-if view: the original and the edited model side by side.

From the top: the lesson (its claim, numbers and verdict) when one is open; the totals of both
with the ratio edited / original and the edits in order; then the edited model's graph, with the
layers an edit changed outlined solid and those whose numbers changed with them dashed, beside the
per-layer diff (before → after). It displays a ``WhatIf`` (and a ``LessonResult``) and computes nothing.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QColor, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QAbstractScrollArea,
    QBoxLayout,
    QCheckBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from shiboken6 import isValid

from explorer.core.numbers import ratio_text

if TYPE_CHECKING:
    from explorer.core.edits import LayerDiff, WhatIf
    from explorer.core.lessons import LessonResult

#: The graph column's least width beside the diff (a card, its margins and a scroll bar), where there is room.
GRAPH_COLUMN = 236

#: The least width of the edits' column beside the totals (narrower, the edits go under them).
EDITS_COLUMN = 160

#: The diff statuses the graph marks "changed" (a solid ring); "affected" gets a dashed one.
CHANGED_STATUSES = ("edited", "added", "propagated")


def status_colors() -> dict[str, QColor]:
    """The diff's statuses as they show, the graph's mark colours for edited and affected.

    A function: the graph view package imports the core (torch), which this module must not at import.
    """
    from PySide6.QtWidgets import QApplication

    from explorer.gui.widgets.graph_view.style import Theme

    theme = Theme.from_palette(QApplication.palette(), QApplication.font())
    return {
        "edited": theme.marked, "added": QColor("#2f9e44"), "propagated": QColor("#7048e8"),
        "affected": theme.affected, "removed": QColor("#868e96"), "same": QColor("#adb5bd"),
    }  # fmt: skip
_TOTALS = (("params", "params"), ("MACs", "macs"), ("FLOPs", "flops"), ("activation memory", "activation_bytes"))


def _shape(shape: Sequence[int]) -> str:
    return "×".join(str(d) for d in shape) if shape else "scalar"


def _bytes(n: int) -> str:
    return f"{n / 2**20:,.2f} MB"


def _rf(row: object) -> str:
    values = getattr(row, "receptive_field_hw", ())
    return str(values[0]) if len(set(values)) <= 1 and values else " × ".join(map(str, values))


def _cells(diff: LayerDiff) -> list[str]:
    """layer, status, type, output, params, MACs, RF — each "before → after" where it changed."""

    def pair(value: object) -> str:
        before = value(diff.before) if diff.before is not None else None  # type: ignore[operator]
        after = value(diff.after) if diff.after is not None else None  # type: ignore[operator]
        if before is None or after is None:
            return str(after if after is not None else before)
        return before if before == after else f"{before} → {after}"

    return [
        diff.name, diff.status,
        pair(lambda r: r.type), pair(lambda r: _shape(r.output_shape)), pair(lambda r: f"{r.params:,}"),
        pair(lambda r: f"{r.macs:,}"), pair(_rf),
    ]  # fmt: skip


class _ActionButton(QToolButton):
    """A button for ``action`` with a fixed label (Undo's text names the edit, and would grow the bar)."""

    def __init__(self, action: QAction, label: str, parent: QWidget) -> None:
        super().__init__(parent)
        self._action = action
        self.setText(label)
        self.clicked.connect(action.trigger)
        action.changed.connect(self._sync)  # a bound slot: disconnected when the button goes
        self._sync()

    def _sync(self) -> None:
        if not isValid(self._action):  # the window is closing: the stack updates its actions as it goes
            return
        self.setEnabled(self._action.isEnabled())
        self.setToolTip(self._action.text())


class LessonBanner(QFrame):
    """A lesson's claim, its measured numbers and the verdict computed from them."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.title = QLabel(self)
        self.title.setStyleSheet("font-size: 13pt; font-weight: 600")
        self.source = QLabel(self, wordWrap=True)
        self.source.setStyleSheet("color: palette(mid)")
        self.claim = QLabel(self, wordWrap=True)
        self.numbers = QTableWidget(0, 0, self)
        self.numbers.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.numbers.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.numbers.verticalHeader().hide()
        self.numbers.setWordWrap(False)
        self.numbers.setSizeAdjustPolicy(QAbstractScrollArea.SizeAdjustPolicy.AdjustToContents)
        self.numbers.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Maximum)
        self.numbers.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        self.verdict = QLabel(self, wordWrap=True)
        self.verdict.setTextFormat(Qt.TextFormat.RichText)
        self.verdict.setStyleSheet("padding: 6px; border-radius: 4px; background: rgba(47, 158, 68, 40)")
        self.notes = QLabel(self, wordWrap=True)
        self.notes.setStyleSheet("color: palette(mid)")
        box = QVBoxLayout(self)
        box.setContentsMargins(10, 8, 10, 8)
        box.setSpacing(5)
        for widget in (self.title, self.source, self.claim, self.numbers, self.verdict, self.notes):
            box.addWidget(widget)

    def show_lesson(self, result: LessonResult) -> None:
        lesson, measured = result.lesson, result.measured
        self.title.setText(lesson.title)
        self.source.setText(lesson.source)
        self.claim.setText(f"<b>Claim.</b> {html.escape(lesson.claim)}")
        self.numbers.clear()
        self.numbers.setColumnCount(len(measured.headers))
        self.numbers.setRowCount(len(measured.rows))
        self.numbers.setHorizontalHeaderLabels(list(measured.headers))
        for r, row in enumerate(measured.rows):
            for c, text in enumerate(row):
                item = QTableWidgetItem(text)
                item.setTextAlignment((Qt.AlignmentFlag.AlignLeft if c == 0 else Qt.AlignmentFlag.AlignRight) | Qt.AlignmentFlag.AlignVCenter)
                self.numbers.setItem(r, c, item)
        header = self.numbers.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(False)
        self.verdict.setText(f"<b>Verdict.</b> {html.escape(measured.verdict)}")
        self.notes.setText(" ".join(measured.notes))
        self.notes.setVisible(bool(measured.notes))


class WhatIfView(QWidget):
    """Original | edited: totals, edits, the marked graph and the per-layer diff."""

    layerSelected = Signal(str)
    #: The toolbar's buttons; the feature that owns the session answers them (dialogs live there).
    openRequested = Signal()
    saveRequested = Signal()
    exportRequested = Signal()
    clearRequested = Signal()

    def __init__(self, undo: QAction | None = None, redo: QAction | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.result: WhatIf | None = None
        self.lesson: LessonResult | None = None
        self._rows: list[LayerDiff] = []

        self.heading = QLabel(self)
        self.heading.setStyleSheet("font-weight: 600")
        # Long model titles must not widen the window: the labels give way.
        self.heading.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.status = QLabel(self)
        self.status.setStyleSheet("color: palette(mid)")
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.setSpacing(4)
        self.buttons: dict[str, QToolButton] = {}
        for action, label in ((undo, "Undo"), (redo, "Redo")):
            if action is not None:
                button = _ActionButton(action, label, self)
                self.buttons[label.lower()] = button
                bar.addWidget(button)
        for key, text, tip, signal in (
            ("open", "Open…", "Open an edit file (JSON)", self.openRequested),
            ("save", "Save…", "Save the edits as an edit file (JSON)", self.saveRequested),
            ("export", "ONNX…", "Export the edited model to ONNX, checked with onnxruntime", self.exportRequested),
            ("clear", "Clear", "Drop every edit", self.clearRequested),
        ):  # fmt: skip
            button = QToolButton(self)
            button.setText(text)
            button.setToolTip(tip)
            button.clicked.connect(signal.emit)
            self.buttons[key] = button
            bar.addWidget(button)
        bar.addSpacing(8)
        bar.addWidget(self.status, 1)

        self.banner = LessonBanner(self)
        self.banner.hide()
        self.totals_frame = QFrame(self)
        self.totals_frame.setFrameShape(QFrame.Shape.StyledPanel)
        grid = QGridLayout(self.totals_frame)
        grid.setContentsMargins(10, 6, 10, 6)
        grid.setHorizontalSpacing(14)
        grid.setVerticalSpacing(2)
        self.side_titles = (QLabel("original", self), QLabel("edited", self))
        for column, label in enumerate((QLabel("", self), *self.side_titles, QLabel("ratio", self))):
            label.setStyleSheet("font-weight: 600")
            grid.addWidget(label, 0, column, alignment=Qt.AlignmentFlag.AlignRight if column else Qt.AlignmentFlag.AlignLeft)
        self.total_labels: dict[str, tuple[QLabel, QLabel, QLabel]] = {}
        for row, (label, key) in enumerate((("input", "input"), ("layers", "layers"), *_TOTALS), start=1):
            grid.addWidget(QLabel(label, self), row, 0)
            cells = tuple(QLabel(self) for _ in range(3))
            for column, cell in enumerate(cells, start=1):
                cell.setAlignment(Qt.AlignmentFlag.AlignRight)
                cell.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
                grid.addWidget(cell, row, column)
            self.total_labels[key] = cells  # type: ignore[assignment]
        grid.setColumnStretch(4, 1)
        self.edits_label = QLabel(self, wordWrap=True)
        self.edits_label.setTextFormat(Qt.TextFormat.RichText)
        self.edits_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.edits_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        summary_row = self.summary_row = QBoxLayout(QBoxLayout.Direction.LeftToRight)
        summary_row.setContentsMargins(0, 0, 0, 0)
        summary_row.addWidget(self.totals_frame, 0, Qt.AlignmentFlag.AlignTop)
        summary_row.addWidget(self.edits_label, 1)

        info = QWidget(self)
        info_box = QVBoxLayout(info)
        info_box.setContentsMargins(0, 0, 0, 0)
        info_box.addWidget(self.banner)
        info_box.addLayout(summary_row)
        self.info_area = QScrollArea(self, widgetResizable=True, frameShape=QFrame.Shape.NoFrame)
        self.info_area.setWidget(info)

        from explorer.gui.widgets.graph_view import GraphView

        self._colors = status_colors()
        self.graph = GraphView(self)
        self.graph.nodeSelected.connect(self._graph_selected)
        self.table = QTableWidget(0, 7, self)
        self.table.setHorizontalHeaderLabels(["layer", "status", "type", "output", "params", "MACs", "RF"])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(False)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(False)
        self.table.itemSelectionChanged.connect(self._table_selected)
        self.only_changed = QCheckBox("only layers that changed", self)
        self.only_changed.setChecked(True)
        self.only_changed.toggled.connect(lambda _: self._fill_table())
        legend = QLabel(self)
        legend.setTextFormat(Qt.TextFormat.RichText)
        legend.setText(
            "  ".join(
                f"<span style='color:{self._colors[s].name()}'>●</span> {s}" for s in ("edited", "added", "propagated", "affected", "removed")
            )
            + "  ·  graph: solid ring = changed by an edit, dashed = numbers changed with it"
        )
        legend.setWordWrap(True)
        table_side = QWidget(self)
        table_box = QVBoxLayout(table_side)
        table_box.setContentsMargins(0, 0, 0, 0)
        table_box.addWidget(self.only_changed)
        table_box.addWidget(self.table, 1)
        table_box.addWidget(legend)
        self.split = QSplitter(Qt.Orientation.Horizontal, self)
        self.split.addWidget(self.graph)
        self.split.addWidget(table_side)
        self.split.setStretchFactor(0, 2)
        self.split.setStretchFactor(1, 3)
        self.split.setChildrenCollapsible(False)

        self.body = QSplitter(Qt.Orientation.Vertical, self)
        self.body.addWidget(self.info_area)
        self.body.addWidget(self.split)
        self.body.setStretchFactor(0, 0)
        self.body.setStretchFactor(1, 1)
        self.body.setChildrenCollapsible(False)
        self.placeholder = QLabel(
            "No edits yet. Select a layer and change it in the Edit panel (under the layer panel), "
            "or choose an experiment in the Lessons menu.",
            self,
            wordWrap=True,
            alignment=Qt.AlignmentFlag.AlignCenter,
        )
        self.placeholder.setStyleSheet("color: palette(mid); font-size: 11pt; padding: 40px")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.heading)
        layout.addLayout(bar)
        layout.addWidget(self.placeholder, 1)
        layout.addWidget(self.body, 1)
        self.set_result(None)

    # --- content ---

    def set_result(self, result: WhatIf | None, lesson: LessonResult | None = None) -> None:
        """Show ``result`` (None: nothing edited); ``lesson`` when its experiment is what is shown."""
        self.result, self.lesson = result, lesson
        empty = result is None and lesson is None
        self.placeholder.setVisible(empty)
        self.body.setVisible(not empty)
        for key in ("save", "export", "clear"):
            self.buttons[key].setEnabled(result is not None)
        if lesson is not None:
            self.banner.show_lesson(lesson)
        self.banner.setVisible(lesson is not None)
        if result is None:
            self.heading.setText("What if" if lesson is None else f"Lesson: {lesson.lesson.name}")
            self.graph.set_summary(None)
            self.table.setRowCount(0)
            self.totals_frame.setVisible(False)
            self.edits_label.clear()
            self.split.setVisible(lesson is None)
            self._fit_info()
            return
        self.totals_frame.setVisible(True)
        self.split.setVisible(True)
        count = len(result.edits)
        self.heading.setText(f"What if — {result.edited.title.removesuffix(' (edited)')}: {count} edit{'s' if count != 1 else ''}")
        labels = lesson.lesson.labels if lesson is not None else ("original", "edited")
        self.side_titles[0].setText(labels[0])
        self.side_titles[1].setText(labels[1])
        self._fill_totals(result)
        self._fill_edits(result)
        self.graph.set_summary(result.edited)
        diff = result.diff
        self.graph.mark_nodes(diff.names(*CHANGED_STATUSES), diff.names("affected"))
        first = next((d.name for d in diff.layers if d.status in CHANGED_STATUSES), None)
        if first is not None:
            self.graph.select(first)  # opens the blocks around it and centres on it
        self._fill_table()
        self._fit_info()
        self._fit_split()

    def _fit_split(self, *, force: bool = False) -> None:
        """The graph gets two fifths of the width (or height, stacked) unless the user made it wider."""
        horizontal = self.split.orientation() == Qt.Orientation.Horizontal
        total = self.split.width() if horizontal else self.split.height()
        graph = self.split.sizes()[0]
        # Side by side the graph needs GRAPH_COLUMN px for a whole card (180 px), its margins and
        # scroll bar: a first fit in a smaller page, then grown in proportion, had left it 175 px.
        least = min(GRAPH_COLUMN, total // 2) if horizontal else 0
        if total > 0 and (force or graph < 0.3 * total or graph < least):
            share = max(int(total * 0.36), least) if horizontal else int(total * 0.4)
            self.split.setSizes([share, total - share])

    def set_status(self, text: str) -> None:
        self.status.setText(text)

    def _fill_totals(self, result: WhatIf) -> None:
        a, b, diff = result.original, result.edited, result.diff
        values = {"input": (_shape(a.input_shape), _shape(b.input_shape), ""), "layers": (f"{len(a.layers):,}", f"{len(b.layers):,}", "")}
        for _label, key in _TOTALS:
            before, after = getattr(a.totals, key), getattr(b.totals, key)
            text = _bytes if key == "activation_bytes" else (lambda v: f"{v:,}")
            values[key] = (text(before), text(after), ratio_text(diff.ratios[key]))
        for key, texts in values.items():
            for label, text in zip(self.total_labels[key], texts, strict=True):
                label.setText(text)

    def _fill_edits(self, result: WhatIf) -> None:
        parts = []
        if result.base_edits:
            parts.append("<b>Both sides</b><br>" + "<br>".join(html.escape(e.describe()) for e in result.base_edits))
        parts.append(f"<b>Edits</b> ({len(result.edits)})<br>" + ("<br>".join(f"{i}. {html.escape(e.describe())}" for i, e in enumerate(result.edits, 1)) or "—"))
        if result.propagated:
            parts.append("<b>Propagated</b> (rebuilt to fit)<br>" + "<br>".join(html.escape(p.describe()) for p in result.propagated))
        if result.notes:
            parts.append("<br>".join(html.escape(n) for n in result.notes))
        self.edits_label.setText("<br><br>".join(parts))

    def _fill_table(self) -> None:
        self.table.blockSignals(True)
        try:
            diff = self.result.diff if self.result is not None else None
            self._rows = [] if diff is None else list(diff.changed if self.only_changed.isChecked() else diff.layers)
            self.table.setRowCount(len(self._rows))
            for r, layer in enumerate(self._rows):
                for c, text in enumerate(_cells(layer)):
                    item = QTableWidgetItem(text)
                    if c >= 4:
                        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                    if c == 1:
                        item.setForeground(self._colors.get(layer.status, self._colors["same"]))
                    self.table.setItem(r, c, item)
        finally:
            self.table.blockSignals(False)

    def _fit_info(self) -> None:
        """Give the information above the graph what it needs, up to about half the page."""
        hint = self.info_area.widget().sizeHint().height() + 4
        total = max(self.body.height(), 400)
        top = min(hint, int(total * (0.5 if self.lesson is not None else 0.4)))  # (the card scrolls)
        self.body.setSizes([top, max(total - top, 150)])

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        # Narrow windows stack the graph above the diff; wide ones put them side by side.
        # A graph column (cards are 180 px wide) beats a short strip: stack only when really narrow,
        # and tall enough that the stacked graph is more than its legend (at 1024×700 it was not).
        stack = self.width() < 560 and self.height() >= 620
        orientation = Qt.Orientation.Vertical if stack else Qt.Orientation.Horizontal
        turned = orientation != self.split.orientation()
        if turned:  # only then: a relayout may grow a small window
            self.split.setOrientation(orientation)
        # The edits beside the totals while they get EDITS_COLUMN px, else under them.
        beside = self.width() >= self.totals_frame.sizeHint().width() + EDITS_COLUMN
        self.summary_row.setDirection(QBoxLayout.Direction.LeftToRight if beside else QBoxLayout.Direction.TopToBottom)
        self._fit_info()
        self._fit_split(force=turned)  # (sizes kept from the other orientation mean nothing)

    # --- selection ---

    def rows(self) -> list[LayerDiff]:
        return list(self._rows)

    def select(self, name: str) -> None:
        """Select ``name`` in the graph and the table without emitting ``layerSelected``."""
        if self.result is None:
            return
        if name in self.result.edited.graph:
            self.graph.select(name)
        self.table.blockSignals(True)
        try:
            for r, layer in enumerate(self._rows):
                if layer.name == name:
                    self.table.selectRow(r)
                    self.table.scrollToItem(self.table.item(r, 0))
                    break
            else:
                self.table.clearSelection()
        finally:
            self.table.blockSignals(False)

    def _graph_selected(self, name: str) -> None:
        self.select(name)
        self.layerSelected.emit(name)

    def _table_selected(self) -> None:
        rows = {index.row() for index in self.table.selectedIndexes()}
        if rows:
            name = self._rows[min(rows)].name
            if self.result is not None and name in self.result.edited.graph:
                self.graph.select(name)
            self.layerSelected.emit(name)
