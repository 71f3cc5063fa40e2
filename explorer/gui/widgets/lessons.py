"""The Lessons page: the seeds' lessons, each a claim and an experiment that tests it.

It lists what ``explorer.core.lessons`` defines (loaded on a worker, as ``LessonInfo`` values);
choosing one emits ``lessonChosen(name)`` and the What-if view opens its experiment.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton, QSplitter, QTextBrowser, QVBoxLayout, QWidget

if TYPE_CHECKING:
    from explorer.gui.whatif import LessonInfo


class LessonsPage(QWidget):
    lessonChosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.lessons: dict[str, LessonInfo] = {}
        self.list = QListWidget(self)
        self.list.setWordWrap(True)
        self.list.currentItemChanged.connect(lambda current, _previous: self._show(current))
        self.list.itemActivated.connect(lambda item: self.lessonChosen.emit(item.data(Qt.ItemDataRole.UserRole)))
        self.details = QTextBrowser(self)
        self.details.setOpenLinks(False)
        self.open_button = QPushButton("Open the experiment", self)
        self.open_button.setEnabled(False)
        self.open_button.clicked.connect(self._open)
        intro = QLabel(
            "The seeds' lessons as live experiments: each takes a real network, makes the edit the lesson is "
            "about, and measures both sides with the same analysis. Double-click one, or use the Lessons menu.",
            self,
            wordWrap=True,
        )
        right = QWidget(self)
        right_box = QVBoxLayout(right)
        right_box.setContentsMargins(0, 0, 0, 0)
        right_box.addWidget(self.details, 1)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.open_button)
        right_box.addLayout(row)
        split = QSplitter(Qt.Orientation.Horizontal, self)
        split.addWidget(self.list)
        split.addWidget(right)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 3)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addWidget(intro)
        layout.addWidget(split, 1)
        self.details.setHtml("<p><i>Loading the lessons…</i></p>")

    def set_lessons(self, lessons: Sequence[LessonInfo]) -> None:
        self.lessons = {lesson.name: lesson for lesson in lessons}
        self.list.clear()
        for lesson in lessons:
            item = QListWidgetItem(lesson.title)
            item.setData(Qt.ItemDataRole.UserRole, lesson.name)
            item.setToolTip(lesson.claim)
            self.list.addItem(item)
        if lessons:
            self.list.setCurrentRow(0)

    def select(self, name: str) -> None:
        for row in range(self.list.count()):
            if self.list.item(row).data(Qt.ItemDataRole.UserRole) == name:
                self.list.setCurrentRow(row)
                return

    def _show(self, item: QListWidgetItem | None) -> None:
        lesson = self.lessons.get(item.data(Qt.ItemDataRole.UserRole)) if item is not None else None
        self.open_button.setEnabled(lesson is not None)
        if lesson is None:
            return
        if lesson.compares:
            experiment = (
                f"<p><b>Experiment</b> on <code>{html.escape(lesson.model)}</code>: {html.escape(lesson.labels[0])} "
                f"against {html.escape(lesson.labels[1])}.</p>"
            )
            steps = [f"<li>both: {html.escape(e)}</li>" for e in lesson.base_edits]
            steps += [f"<li>{html.escape(lesson.labels[1])}: {html.escape(e)}</li>" for e in lesson.edits]
            experiment += f"<ul>{''.join(steps)}</ul>"
        else:
            experiment = f"<p><b>A table</b> over the family of <code>{html.escape(lesson.model)}</code>, analysed model by model.</p>"
        self.details.setHtml(
            f"<h3>{html.escape(lesson.title)}</h3><p style='color:gray'>{html.escape(lesson.source)}</p>"
            f"<p><b>Claim.</b> {html.escape(lesson.claim)}</p>{experiment}"
            f"<p>From the command line: <code>cnn-explorer lesson {html.escape(lesson.name)}</code>.</p>"
        )

    def _open(self) -> None:
        item = self.list.currentItem()
        if item is not None:
            self.lessonChosen.emit(item.data(Qt.ItemDataRole.UserRole))
