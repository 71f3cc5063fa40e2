"""The what-if session: the edits on the open model, their undo stack, and the jobs that apply them.

The session holds the list of edits as values; every change of it (an edit from the Edit panel, a
lesson, an edit file, Undo/Redo) runs ``explorer.core.edits.what_if`` on a worker and hands the result
to the views through ``resultReady``. An edit that cannot work comes back as ``failed(message)`` and
is never put on the stack, so the views keep the last result that worked. Undo and Redo use Qt's own
``QUndoStack``; results are remembered per list of edits, so undoing is instant.

Nothing here imports torch at module level: the jobs import the core when they run.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence, QUndoCommand, QUndoStack
from PySide6.QtWidgets import QMenu, QMenuBar, QSplitter, QTabWidget

from explorer.gui import file_dialogs
from explorer.gui.messages import in_gui_words
from explorer.gui.widgets.edit_panel import EditPanel
from explorer.gui.widgets.lessons import LessonsPage
from explorer.gui.widgets.whatif_compare import CHANGED_STATUSES, WhatIfView
from explorer.gui.workers import TaskRunner

if TYPE_CHECKING:
    from explorer.core.edits import Edit, WhatIf
    from explorer.core.lessons import LessonResult
    from explorer.core.stats import ModelSummary
    from explorer.gui.main_window import MainWindow

#: Results kept for Undo/Redo (each holds two analyses).
_CACHE_SIZE = 24


# --- jobs (run on workers) -------------------------------------------------------------------------


@dataclass(frozen=True)
class LessonInfo:
    """What the Lessons menu and page list, without running anything."""

    name: str
    title: str
    source: str
    claim: str
    model: str
    compares: bool
    labels: tuple[str, str]
    base_edits: tuple[str, ...]  # described ("set features.0: …")
    edits: tuple[str, ...]


def list_lessons() -> tuple[LessonInfo, ...]:
    from explorer.core.lessons import LESSONS

    return tuple(
        LessonInfo(
            lesson.name, lesson.title, lesson.source, lesson.claim, lesson.model, lesson.compares, lesson.labels,
            tuple(e.describe() for e in lesson.base_edits), tuple(e.describe() for e in lesson.edits),
        )  # fmt: skip
        for lesson in LESSONS
    )


@dataclass(frozen=True)
class Request:
    """One question to the core: ``model`` at ``input_shape``/``mode``, ``base_edits`` against
    ``base_edits + edits``. Hashable: the session caches answers by it."""

    model: str
    input_shape: tuple[int, ...] | None
    mode: str
    base_edits: tuple[Edit, ...]
    edits: tuple[Edit, ...]
    convention: str = "lecture"


def compute(request: Request) -> Generator[str, None, WhatIf]:
    from explorer.core.edits import what_if

    yield f"Applying {len(request.edits)} edit{'s' if len(request.edits) != 1 else ''} to {request.model}…"
    return what_if(
        request.model, request.edits, input_shape=request.input_shape, mode=request.mode, base_edits=request.base_edits,
        convention=request.convention,
    )  # fmt: skip


def run_lesson(name: str) -> Generator[str, None, LessonResult]:
    from explorer.core.lessons import run_lesson as run

    yield f"Running the lesson {name}…"
    return run(name)


def export_edited(model: str, edits: tuple[Edit, ...], folder: str, input_shape: tuple[int, ...] | None, weights: str) -> Generator[object, None, Any]:
    from explorer.core.edits import export_edited as export

    return (yield from export(model, edits, folder, input_shape=input_shape, weights=weights))


# --- undo ----------------------------------------------------------------------------------------------


class _EditsCommand(QUndoCommand):
    """One step on the stack: the list of edits before and after it (values, so undo is exact)."""

    def __init__(self, session: WhatIfSession, before: tuple[Edit, ...], after: tuple[Edit, ...], text: str) -> None:
        super().__init__(text)
        self._session, self._before, self._after = session, before, after
        self._first = True

    def redo(self) -> None:
        if self._first:  # pushed after its result arrived: the session already shows it
            self._first = False
            return
        self._session._show_edits(self._after)

    def undo(self) -> None:
        self._session._show_edits(self._before)


# --- the session --------------------------------------------------------------------------------------


class WhatIfSession(QObject):
    """The edits on one model, as a second, linked analysis of it."""

    resultReady = Signal(object)  # WhatIf (or None: no edits)
    lessonReady = Signal(object)  # LessonResult
    failed = Signal(str)  # why the last edit (or lesson, or file) could not be applied
    busyChanged = Signal(bool)
    lessonsListed = Signal(object)  # tuple[LessonInfo, ...]
    exported = Signal(object)  # ExportResult
    exportProgress = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.model: str | None = None
        self.input_shape: tuple[int, ...] | None = None
        self.mode = "eval"
        self.convention = "lecture"  # the main window's "Count as" choice: both sides count by it
        self.base_edits: tuple[Edit, ...] = ()
        self.edits: tuple[Edit, ...] = ()
        self.lesson: LessonResult | None = None  # the lesson whose experiment is open, if any
        self.result: WhatIf | None = None
        self.stack = QUndoStack(self)
        self._cache: dict[Request, WhatIf] = {}
        self._pending: tuple[Request, str | None] | None = None  # what the runner computes, and its undo text
        self.runner = TaskRunner(self)
        self.runner.result.connect(self._computed)
        self.runner.error.connect(self._compute_failed)
        self.lesson_runner = TaskRunner(self)
        self.lesson_runner.result.connect(self._lesson_done)
        self.lesson_runner.error.connect(lambda error: self.failed.emit(str(error)))
        self.list_runner = TaskRunner(self)
        self.list_runner.result.connect(self.lessonsListed.emit)
        self.export_runner = TaskRunner(self)
        self.export_runner.result.connect(self.exported.emit)
        self.export_runner.error.connect(lambda error: self.failed.emit(str(error)))
        self.export_runner.progress.connect(lambda event: self.exportProgress.emit(getattr(event, "message", str(event))))
        self.runners = (self.runner, self.lesson_runner, self.list_runner, self.export_runner)

    # --- what the views read ---

    @property
    def has_edits(self) -> bool:
        return bool(self.edits) or bool(self.base_edits)

    def current_summary(self) -> ModelSummary | None:
        """The model as edited so far (what the next edit applies to), or None without edits."""
        return self.result.edited if self.result is not None and self.has_edits else None

    def lesson_is_current(self) -> bool:
        return self.lesson is not None and self.lesson.lesson.model == self.model and self.edits == self.lesson.lesson.edits

    # --- the open model ---

    def set_base(self, model: str, input_shape: tuple[int, ...] | None, mode: str, convention: str = "lecture") -> None:
        """The main window opened ``model``: another model starts a new session; another input
        shape, mode or counting convention re-applies the same edits."""
        if model != self.model:
            self.model, self.input_shape, self.mode, self.convention = model, input_shape, mode, convention
            self._reset()
            return
        shown = tuple(self.result.original.input_shape) if self.result is not None else None
        if mode == self.mode and convention == self.convention and input_shape in (self.input_shape, shown):
            return  # the same question (a lesson asks for the default shape by leaving it out)
        self.input_shape, self.mode, self.convention = input_shape, mode, convention
        if self.has_edits:
            self._submit(self.edits, None)

    def _reset(self) -> None:
        self.runner.cancel()
        self.base_edits, self.edits, self.lesson, self.result = (), (), None, None
        self._pending = None
        self.stack.clear()
        self.resultReady.emit(None)

    def clear(self) -> None:
        """Drop every edit and the lesson, and the undo history with them."""
        if self.edits or self.base_edits:
            self.base_edits, self.lesson = (), None
            self.stack.clear()
            self._submit((), None)

    # --- editing ---

    def propose(self, edit: Edit) -> None:
        """Apply ``edit`` on top of the current edits; it goes on the undo stack once it works."""
        if self.model is None:
            return
        self._submit((*self.edits, edit), edit.describe())

    def propose_all(self, edits: Sequence[Edit], text: str) -> None:
        if self.model is not None:
            self._submit((*self.edits, *edits), text)

    def replace_edits(self, model: str, edits: Sequence[Edit], input_shape: tuple[int, ...] | None, mode: str, text: str) -> None:
        """A loaded edit file: this model and these edits (one undoable step)."""
        if model != self.model:
            self.model, self.input_shape, self.mode = model, input_shape, mode
            self._reset()
        self.base_edits, self.lesson = (), None
        self._submit(tuple(edits), text)

    def undo(self) -> None:
        self.stack.undo()

    def redo(self) -> None:
        self.stack.redo()

    def _request(self, edits: tuple[Edit, ...]) -> Request:
        assert self.model is not None
        return Request(self.model, self.input_shape, self.mode, self.base_edits, edits, self.convention)

    def _submit(self, edits: tuple[Edit, ...], text: str | None) -> None:
        request = self._request(edits)
        if not edits and not self.base_edits:  # back to the model as it is: nothing to compute
            self.runner.cancel()
            self._pending = None
            self._accept(request, None, text)
            return
        cached = self._cache.get(request)
        if cached is not None:
            self._accept(request, cached, text)
            return
        self._pending = (request, text)
        self.busyChanged.emit(True)
        self.runner.submit(compute, request)

    def _show_edits(self, edits: tuple[Edit, ...]) -> None:
        """Undo/Redo: show ``edits`` (cached, or computed again)."""
        self._submit(edits, None)

    def _computed(self, result: WhatIf) -> None:
        if self._pending is None:
            return
        request, text = self._pending
        self._pending = None
        self.busyChanged.emit(False)
        self._remember(request, result)
        self._accept(request, result, text)

    def _compute_failed(self, error: BaseException) -> None:
        self._pending = None
        self.busyChanged.emit(False)
        self.failed.emit(str(error))

    def _remember(self, request: Request, result: WhatIf) -> None:
        self._cache[request] = result
        while len(self._cache) > _CACHE_SIZE:
            self._cache.pop(next(iter(self._cache)))

    def _accept(self, request: Request, result: WhatIf | None, text: str | None) -> None:
        if request.model != self.model or request.base_edits != self.base_edits:
            return  # an answer for a model or lesson the user has left
        before = self.edits
        self.edits, self.result = request.edits, result
        if text is not None and request.edits != before:
            self.stack.push(_EditsCommand(self, before, request.edits, text))
        self.resultReady.emit(result if self.has_edits else None)

    # --- lessons ---

    def load_lesson_list(self) -> None:
        self.list_runner.submit(list_lessons)

    def open_lesson(self, name: str) -> None:
        self.busyChanged.emit(True)
        self.lesson_runner.submit(run_lesson, name)

    def _lesson_done(self, result: LessonResult) -> None:
        self.busyChanged.emit(False)
        lesson = result.lesson
        self.runner.cancel()
        self._pending = None
        self.stack.clear()
        self.model, self.input_shape, self.mode = lesson.model, lesson.input_shape, "eval"
        self.base_edits, self.edits, self.lesson = lesson.base_edits, lesson.edits, result
        self.result = result.whatif
        if result.whatif is not None:
            self._remember(self._request(lesson.edits), result.whatif)
        self.lessonReady.emit(result)
        self.resultReady.emit(self.result)

    # --- export ---

    def export(self, folder: str, weights: str = "default") -> None:
        if self.model is None or not self.has_edits:
            self.failed.emit("There are no edits to export: edit a layer or open a lesson first.")
            return
        self.export_runner.submit(export_edited, self.model, self.base_edits + self.edits, folder, self.input_shape, weights)

    @property
    def busy(self) -> bool:
        return any(runner.busy for runner in self.runners)

    def cancel(self) -> None:
        for runner in self.runners:
            runner.cancel()


# --- the feature in the main window ---------------------------------------------------------------------


class WhatIfFeature(QObject):
    """The what-if session and its widgets, menus and dialogs, installed into the main window.

    The window calls ``install`` once, ``analysis_done`` after each analysis and ``selected`` on
    each selection; everything else is wired here.
    """

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.session = WhatIfSession(self)
        self.undo_action = self.session.stack.createUndoAction(window, "Undo edit")
        self.undo_action.setShortcut(QKeySequence.StandardKey.Undo)
        self.redo_action = self.session.stack.createRedoAction(window, "Redo edit")
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        self.edit_panel = EditPanel()
        self.view = WhatIfView(self.undo_action, self.redo_action)
        self.lessons_page = LessonsPage()
        self.lessons_menu: QMenu | None = None
        self.page: QTabWidget | None = None  # the What-if page (made by install)
        self._weights_cleared: str | None = None  # the edited layer whose original weights the Weights tab hides
        self.export_folder: str | None = None  # the last export folder
        self._focus: tuple[str, str] | None = None  # (model, layer) a lesson selects once its model is open

        self.edit_panel.editRequested.connect(self.session.propose)
        self.session.resultReady.connect(self._result)
        self.session.lessonReady.connect(self._lesson_ready)
        self.session.failed.connect(self._failed)
        self.session.busyChanged.connect(lambda busy: self.view.set_status("working…" if busy else ""))
        self.session.lessonsListed.connect(self._lessons_listed)
        self.session.exported.connect(self._exported)
        self.session.exportProgress.connect(lambda text: self.window.statusBar().showMessage(text))
        self.view.layerSelected.connect(self._view_selected)
        self.view.openRequested.connect(self.open_edits)
        self.view.saveRequested.connect(self.save_edits)
        self.view.exportRequested.connect(self.export)
        self.view.clearRequested.connect(self.session.clear)
        self.lessons_page.lessonChosen.connect(self.open_lesson)

    @property
    def runners(self) -> tuple[TaskRunner, ...]:
        return self.session.runners

    def install(self, tabs: QTabWidget, layer_box: QSplitter, menus: QMenuBar) -> None:
        # One page: the edited model, and the lessons that open in it (View → Lessons, Ctrl+9).
        self.page = QTabWidget(documentMode=True)
        self.page.addTab(self.view, "Edited model")
        self.page.addTab(self.lessons_page, "Lessons")
        tabs.addTab(self.page, "What if")
        tabs.currentChanged.connect(self._tab_changed)
        self.page.currentChanged.connect(self._tab_changed)
        # Under the layer panel, the Edit section shares the weights' place (their histogram and
        # filters need ~400 px; side by side in the splitter the Edit section got none).
        weights = layer_box.widget(1)
        self.lower_tabs = QTabWidget(documentMode=True)
        layer_box.replaceWidget(1, self.lower_tabs)
        self.lower_tabs.addTab(self.edit_panel, "Edit")
        self.lower_tabs.addTab(weights, "Weights")
        self.lower_tabs.setCurrentWidget(weights)
        edit_menu = QMenu("&Edit", menus)
        menus.insertMenu(menus.actions()[1], edit_menu)  # after File
        edit_menu.addAction(self.undo_action)
        edit_menu.addAction(self.redo_action)
        edit_menu.addSeparator()
        for text, slot, shortcut in (
            ("Open edits…", self.open_edits, None), ("Save edits…", self.save_edits, None),
            ("Export edited model to ONNX…", self.export, "Ctrl+Alt+E"), ("Clear edits", self.session.clear, None),
        ):  # fmt: skip
            action = QAction(text, edit_menu)
            if shortcut:
                action.setShortcut(QKeySequence(shortcut))
            action.triggered.connect(slot)
            edit_menu.addAction(action)
        self.lessons_menu = QMenu("&Lessons", menus)
        menus.insertMenu(menus.actions()[-1], self.lessons_menu)  # before Help
        self.lessons_menu.addAction("Loading…").setEnabled(False)
        # (the list is loaded by the main window once its start-up job has loaded torch: gui/startup.py)

    def _tab_changed(self, _index: int) -> None:
        if self.window.current_view() == "whatif":
            self.lower_tabs.setCurrentWidget(self.edit_panel)
        self._show_table()
        self._show_panel()

    # --- hooks the main window calls ---

    def analysis_done(self, summary: ModelSummary) -> None:
        self.session.set_base(summary.model, tuple(summary.input_shape), summary.mode, summary.convention)
        self._mark_original()
        if not self.session.busy:  # (else the edits are being re-applied: their result shows the table)
            self._show_table()
        if self._focus is not None and self._focus[0] == summary.model:
            layer, self._focus = self._focus[1], None
            if layer in summary.graph or summary.block(layer)[0]:
                # After the window has finished with this analysis (it resets the selection last).
                QTimer.singleShot(0, lambda: self.window.select(layer) if self.window.summary is summary else None)

    def selected(self, name: str) -> None:
        self.view.select(name)
        self._show_panel(name)

    def _show_table(self) -> None:
        """The Layer table shows what the page beside it shows: on the What-if tab the edited model
        (its dock title says so), elsewhere the original."""
        window = self.window
        edited = self.session.current_summary()
        on_page = window.current_view() == "whatif" and edited is not None
        summary = edited if on_page else window.summary
        window.table_dock.setWindowTitle("Layer table — edited model" if on_page else "Layer table")
        if summary is None or window.table.summary is summary:
            return
        window.table.set_summary(summary)
        if window.selected:
            window.table.select(window.selected)

    def table_selected(self, name: str) -> None:
        """A row picked in the Layer table while it shows the edited model."""
        self._view_selected(name, source=self.window.table)

    def _show_panel(self, name: str | None = None) -> None:
        """The Edit panel edits the model as edited so far; on the What-if tab the layer panel shows
        the edited layer too (elsewhere: the original, as the graph and the table do)."""
        window = self.window
        name = name or window.selected
        if name is None or window.summary is None:
            return
        edited = self.session.current_summary()
        self.edit_panel.show_layer(edited or window.summary, name)
        rebuilt = self.session.result is not None and name in self.session.result.diff.names(*CHANGED_STATUSES)
        if window.current_view() == "whatif" and edited is not None and name in edited.graph:
            window.panel.show_layer(edited, name)
            if rebuilt:  # the original's weights are not this layer's: say so rather than show them
                window.weights_view.runner.cancel()
                window.weights_view.clear(f"{name} is edited: its weights are new (random), not the trained ones.")
                self._weights_cleared = name
                return
        elif name in window.summary.graph or window.summary.block(name)[0]:
            window.panel.show_layer(window.summary, name)
        if self._weights_cleared is not None and name in window.summary.graph:  # back to the original's weights
            self._weights_cleared = None
            window.weights_view.show_layer(window.summary, name)

    # --- session results ---

    def _result(self, result: WhatIf | None) -> None:
        lesson = self.session.lesson if self.session.lesson_is_current() else None
        self.view.set_result(result, lesson)
        self._show_table()
        self._show_panel()
        self._mark_original()
        if result is not None:
            before, after = result.original.totals.params, result.edited.totals.params
            change = f"{after - before:+,}".replace("-", "−") if after != before else "unchanged"
            edits = f"{len(result.edits)} edit{'s' if len(result.edits) != 1 else ''}"
            self.window.statusBar().showMessage(f"What if: {edits}; params {before:,} → {after:,} ({change})", 6000)

    def _mark_original(self) -> None:
        """The main graph (the original model) marks what the edits touch."""
        result = self.session.result
        if result is None or self.window.summary is None or result.original.model != self.window.summary.model:
            self.window.graph_view.mark_nodes((), ())
            return
        diff = result.diff
        self.window.graph_view.mark_nodes(diff.names(*CHANGED_STATUSES, "removed"), diff.names("affected"))

    def _failed(self, message: str) -> None:
        message = in_gui_words(message)
        self.edit_panel.show_error(message)
        self.view.set_status(message.splitlines()[0])
        self.window.statusBar().showMessage(f"Edit not applied: {message.splitlines()[0]}", 10_000)

    def _view_selected(self, name: str, source: object | None = None) -> None:
        """A layer picked in the What-if view (or the table showing the edited model): the original's
        views follow, the panels show the edited layer."""
        window, source = self.window, source or self.view
        if window.summary is not None and (name in window.summary.graph or window.summary.block(name)[0]):
            window.select(name, source=source)  # calls selected(), which shows the edited layer here
        else:  # a layer the edits added: only the edited model has it
            window.selected = name
            if source is not self.view:
                self.view.select(name)
            if source is not window.table:
                window.table.select(name)
            self._show_panel(name)

    # --- lessons ---

    def _lessons_listed(self, lessons: tuple[LessonInfo, ...]) -> None:
        self.lessons_page.set_lessons(lessons)
        if self.lessons_menu is None:
            return
        self.lessons_menu.clear()
        for lesson in lessons:
            action = self.lessons_menu.addAction(lesson.title)
            action.setToolTip(lesson.claim)
            action.triggered.connect(lambda checked=False, name=lesson.name: self.open_lesson(name))
        self.lessons_menu.addSeparator()
        self.lessons_menu.addAction("All lessons…").triggered.connect(lambda: self.window.show_view("lessons"))

    def open_lesson(self, name: str) -> None:
        self.lessons_page.select(name)
        self.window.show_view("whatif")
        self.view.set_status(f"running the lesson {name}…")
        self.session.open_lesson(name)

    def _lesson_ready(self, result: LessonResult) -> None:
        lesson = result.lesson
        window = self.window
        summary = window.summary
        shape = tuple(lesson.input_shape) if lesson.input_shape else None
        if summary is None or summary.model != lesson.model or (shape and tuple(summary.input_shape) != shape) or summary.mode != "eval":
            self._focus = (lesson.model, lesson.focus) if lesson.focus else None
            window.open_model(lesson.model, "x".join(map(str, shape)) if shape else None, "eval")
        elif lesson.focus:
            window.select(lesson.focus)

    # --- files ---

    def save_edits(self, path: str | None = None) -> None:
        session = self.session
        if session.model is None or not session.has_edits:
            self._failed("There are no edits to save.")
            return
        if path is None:
            path, _ = file_dialogs.save_file(self.window, "Save edits", "edits", f"{session.model}-edits.json", "Edit files (*.json)")
            if not path:
                return
        from explorer.core.edits import EditFile
        from explorer.core.errors import ExplorerError

        shape = tuple(session.result.original.input_shape) if session.result is not None else session.input_shape
        try:
            EditFile(session.model, session.base_edits + session.edits, session.mode, shape).save(path)
        except ExplorerError as error:
            self._failed(str(error))
            return
        self.window.statusBar().showMessage(f"Saved the edits to {path}", 6000)

    def open_edits(self, path: str | None = None) -> None:
        if path is None:
            path = file_dialogs.open_file(self.window, "Open edits", "edits", "Edit files (*.json);;All files (*)")
            if not path:
                return
        from explorer.core.edits import EditFile
        from explorer.core.errors import ExplorerError

        try:
            loaded = EditFile.load(path)
        except ExplorerError as error:
            self._failed(str(error))
            return
        window = self.window
        shape = tuple(loaded.input_shape) if loaded.input_shape else None
        self.session.replace_edits(loaded.model, loaded.edits, shape, loaded.mode, f"open {path}")
        summary = window.summary
        if summary is None or summary.model != loaded.model or (shape and tuple(summary.input_shape) != shape) or summary.mode != loaded.mode:
            window.open_model(loaded.model, "x".join(map(str, shape)) if shape else None, loaded.mode)
        window.show_view("whatif")

    def export(self, folder: str | None = None) -> None:
        if folder is None:
            folder = file_dialogs.choose_folder(self.window, "Export the edited model to ONNX", "exports", self.export_folder or "")
            if not folder:
                return
        self.export_folder = folder
        self.window.statusBar().showMessage("Exporting the edited model…")
        self.session.export(folder)

    def _exported(self, result: object) -> None:
        error = getattr(result, "error", None)
        if error:
            self._failed(error)
            return
        parity = getattr(result, "max_rel_diff", None)
        checked = "not verified" if parity is None else f"onnxruntime agrees to {parity:.1e}"
        message = f"Exported {getattr(result, 'path', '')} ({getattr(result, 'weights', '')}; {checked})"
        self.view.set_status(message)
        self.window.statusBar().showMessage(message, 10_000)
