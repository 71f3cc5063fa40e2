"""The main window: docks and views wired together. No computation here — jobs go to workers."""

from __future__ import annotations

import html

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QByteArray, QSettings, QSize, Qt, QThread, QThreadPool, QTimer
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDockWidget,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMainWindow,
    QFrame,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QTextEdit,
    QToolBar,
    QWidget,
)

from explorer.core.convention_names import CONVENTION_NAMES, DEFAULT_CONVENTION
from explorer.gui.imports import import_without

# Before the views import it: pyqtgraph without the CUDA bindings its GPU video widget would try
# (torch's CUDA build installs them; 0.15–0.2 s of the window's start). See explorer.gui.imports.
import_without("pyqtgraph", "cuda.bindings")

from explorer.gui import file_dialogs, jobs  # noqa: E402
from explorer.gui.messages import in_gui_words  # noqa: E402
from explorer.gui.widgets.catalogue import Catalogue  # noqa: E402
from explorer.gui.widgets.charts import ChartsView  # noqa: E402
from explorer.gui.widgets.classifier import ClassifierView  # noqa: E402
from explorer.gui.widgets.compare import CompareView  # noqa: E402
from explorer.gui.widgets.drop_overlay import DropOverlay  # noqa: E402
from explorer.gui.widgets.explain_view import ExplainView  # noqa: E402
from explorer.gui.widgets.feature_maps import FeatureMapsView  # noqa: E402
from explorer.gui.widgets.graph_view import GraphView  # noqa: E402
from explorer.gui.widgets.layer_panel import LayerPanel  # noqa: E402
from explorer.gui.widgets.layer_table import LayerTable  # noqa: E402
from explorer.gui.widgets.reconcile_view import ReconcileView  # noqa: E402
from explorer.gui.widgets.weights_view import WeightsView  # noqa: E402
from explorer.gui.whatif import WhatIfFeature  # noqa: E402
from explorer.gui.workers import TaskRunner  # noqa: E402

if TYPE_CHECKING:
    from explorer.core.stats import ModelSummary
    from explorer.gui.dialogs.export_dialog import ExportDialog
    from explorer.core.zoo.registry import ModelSpec

DEFAULT_MODEL = "resnet18"
#: Every view: its ``show_view``/``--view`` name, its View-menu entry (Ctrl+1…9 in this order) and
#: its button on the Views toolbar (None: a part of another page, or the table's dock).
VIEW_ENTRIES: tuple[tuple[str, str, str | None], ...] = (
    ("graph", "Graph", "Graph"), ("table", "Layer table", None), ("charts", "Charts", "Charts"),
    ("compare", "Compare", "Compare"), ("classify", "Classify", "Classify"), ("features", "Feature maps", "Feature maps"),
    ("explain", "Explain", "Explain"), ("whatif", "What if", "What if"), ("lessons", "Lessons", None),
    ("reconcile", "Why do the numbers differ?", None),
)  # fmt: skip
VIEWS = tuple(name for name, _label, _button in VIEW_ENTRIES)
CONVENTION_KEY = "counting/convention"
#: Said wherever a model file is opened: a ``.py`` model is code, and it runs.
RUNS_CODE_WARNING = (
    "Opening a .py model runs its Python code with your permissions (the file itself, its factory "
    "and every forward pass): open only files you trust."
)


#: Compare's B when the open model, its A, would repeat it
_COMPARE_PARTNERS = ("resnet18", "vgg16")


class MainWindow(QMainWindow):
    def __init__(self, settings: QSettings | None = None) -> None:
        super().__init__()
        self.setWindowTitle("cnn-explorer")
        self.settings = settings or QSettings()
        file_dialogs.use_settings(self.settings)  # issue 13 (window2): dialogs open in the folder used last
        self.summary: ModelSummary | None = None
        self.selected: str | None = None
        self._specs: dict[str, ModelSpec] = {}
        self._request: tuple[str, str | None, str] | None = None  # what the user asked for last
        self._requested_explicitly = False  # --model on the command line: an unknown name is said, not replaced
        self._pending_notice: str | None = None  # shown once the next analysis is on screen
        self._compare_pair: tuple[str, str] = ("vgg16", "resnet18")
        saved = str(self.settings.value(CONVENTION_KEY, DEFAULT_CONVENTION))
        self.convention = saved if saved in CONVENTION_NAMES else DEFAULT_CONVENTION
        self._reconciled: tuple[object, ...] | None = None  # what the "Why do the numbers differ?" view shows

        self.analysis = TaskRunner(self)
        self.analysis.result.connect(self._analysis_done)
        self.analysis.error.connect(self._analysis_failed)
        self.compare_runner = TaskRunner(self)
        self.compare_runner.result.connect(self._compare_done)
        self.compare_runner.error.connect(lambda error: self.statusBar().showMessage(f"Compare: {in_gui_words(error)}", 8000))
        self.catalogue_runner = TaskRunner(self)
        self.catalogue_runner.result.connect(self._catalogue_loaded)
        self.catalogue_runner.error.connect(self._catalogue_failed)
        self.catalogue_runner.progress.connect(self._show_loading)
        self.user_model_runner = TaskRunner(self)
        self.user_model_runner.result.connect(self._user_spec_ready)
        self.user_model_runner.error.connect(lambda error: self.catalogue.show_message(in_gui_words(error)))
        self.reconcile_runner = TaskRunner(self)
        self.reconcile_runner.result.connect(self._reconciled_done)
        self.reconcile_runner.error.connect(self._reconcile_failed)
        self.runners = (self.analysis, self.compare_runner, self.catalogue_runner, self.user_model_runner, self.reconcile_runner)
        for runner in (self.analysis, self.user_model_runner):
            runner.idle.connect(self._user_code_finished)
        # (the classifier's own runner is added once the view exists, in _build_views)

        # What-if (issue 11): the edit session, its views and menus; hooks in _analysis_done and select.
        self.whatif = WhatIfFeature(self)
        self.view_buttons: dict[str, QAction] = {}  # the Views toolbar's (filled in _build_actions)
        self._build_views()
        self.runners += (self.classifier.runner,)
        self._build_docks()
        self.runners += (self.weights_view.runner,)
        self._build_actions()
        self.whatif.install(self.tabs, self.layer_box, self.menuBar())
        self.whatif.page.currentChanged.connect(lambda _index: self._tab_changed(self.tabs.currentIndex()))
        self.runners += self.whatif.runners
        # The Edit menu's file and model actions read edits with the core: they wait for it too
        # (undo and redo follow their stack, which is empty until then).
        undo_redo = (self.whatif.undo_action, self.whatif.redo_action)
        edit_menus = [a.menu() for a in self.menuBar().actions() if a.menu() is not None and a.text() == "&Edit"]
        self.needs_catalogue += tuple(
            a for menu in edit_menus for a in menu.actions() if not a.isSeparator() and a not in undo_redo
        )
        self._build_status_bar()
        self._restore()
        self._start_up()

    # --- start-up (issue 13; see gui/startup.py) ---------------------------------------------------

    def _start_up(self) -> None:
        """Say what is loading, and start loading it once the first frame is painted (or at once if
        the window is never shown; after 1 s if a shown window is never painted)."""
        from explorer.gui.startup import after_first_paint

        self._loading = False  # the start-up job has been submitted
        self._ready = False  # its catalogue has arrived
        self._frozen = False  # gc.freeze() done, after the first analysis
        self._show_loading(jobs.LOADING_TORCH)
        for action in self.needs_catalogue:
            action.setEnabled(False)
        after_first_paint(self, self._load_catalogue)
        QTimer.singleShot(0, self, self._load_unless_shown)

    def _load_unless_shown(self) -> None:
        if self.isVisible():
            QTimer.singleShot(1000, self, self._load_catalogue)  # (a window manager that never exposes it)
        else:
            self._load_catalogue()

    def _load_catalogue(self) -> None:
        if not self._loading:
            self._loading = True
            self.catalogue_runner.submit(jobs.load_catalogue)

    def _show_loading(self, text: object) -> None:
        self.catalogue.show_loading(str(text))
        self.statusBar().showMessage(str(text))

    # --- construction --------------------------------------------------------------------------

    def _build_views(self) -> None:
        self.graph_view = GraphView()
        self.charts = ChartsView()
        self.compare = CompareView()
        self.classifier = ClassifierView()
        self.features = FeatureMapsView(image=None)  # filled when first shown (nothing runs before)
        self._features_started = False
        # The pages; the Views toolbar, which spans the window, switches them (a tab bar in the
        # central area overflowed with scroll arrows below ~1300 px, beside the docks).
        self.tabs = QTabWidget(documentMode=True)
        self.tabs.tabBar().hide()
        self.tabs.addTab(self.graph_view, "Graph")
        self.tabs.addTab(self.charts, "Charts")
        # Compare holds "Why the numbers differ" (both are about what the counts are).
        self.reconcile_view = ReconcileView()
        self.reconcile_view.conventionChosen.connect(self.set_convention)
        self.compare_page = QTabWidget(documentMode=True)
        self.compare_page.addTab(self.compare, "Two models")
        self.compare_page.addTab(self.reconcile_view, "Why the numbers differ")
        self.compare_page.currentChanged.connect(lambda _index: self._tab_changed(self.tabs.currentIndex()))
        # Scrolled when the window is short: its tables and charts must not set the window's minimum height.
        self.compare_scroll = QScrollArea(widgetResizable=True, frameShape=QFrame.Shape.NoFrame)
        self.compare_scroll.setWidget(self.compare_page)
        self.tabs.addTab(self.compare_scroll, "Compare")
        self.tabs.addTab(self.classifier, "Classify")
        # In a scroll area: two panes side by side must not set the window's minimum width.
        self.features_page = QScrollArea(widgetResizable=True, frameShape=QFrame.Shape.NoFrame)
        self.features_page.setWidget(self.features)
        self.tabs.addTab(self.features_page, "Feature maps")
        # Issue 14: the explain view, opened from a classified photo's "Explain" button.
        self.explain_view = ExplainView()
        self.explain_page = QScrollArea(widgetResizable=True, frameShape=QFrame.Shape.NoFrame)
        self.explain_page.setWidget(self.explain_view)
        self.tabs.addTab(self.explain_page, "Explain")
        self.classifier.explainRequested.connect(self.explain_photo)
        # (What if, with its Lessons, is added by WhatIfFeature.install.)
        self.setAcceptDrops(True)  # (the drop overlay answers the drags, on the window's QWindow)
        self.drop_overlay = DropOverlay(self, self._drop_text, self._deliver_drop)
        self.tabs.currentChanged.connect(self._tab_changed)
        self.setCentralWidget(self.tabs)
        for view in (self.graph_view, self.charts):
            view.nodeSelected.connect(lambda name, source=view: self.select(name, source=source))
        self.compare.modelsChanged.connect(self.compare_models)
        self.graph_view.foldingChanged.connect(self._folding_changed)  # issue 13 (window2): the block hint follows

    def _dock(self, title: str, name: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)  # saveState/restoreState find docks by name
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _build_docks(self) -> None:
        self.catalogue = Catalogue()
        self.catalogue.modelChosen.connect(lambda name: self.open_model(name))
        self.catalogue.inputShapeEdited.connect(self._input_shape_edited)
        self.catalogue.modeChanged.connect(self._mode_changed)
        self.catalogue.openModelFileRequested.connect(self.open_model_file)
        self.panel = LayerPanel()
        self.weights_view = WeightsView()
        layer_box = self.layer_box = QSplitter(Qt.Orientation.Vertical)
        layer_box.addWidget(self.panel)
        layer_box.addWidget(self.weights_view)
        layer_box.setStretchFactor(0, 3)
        layer_box.setStretchFactor(1, 2)
        self.table = LayerTable()
        self.table.nodeSelected.connect(self._table_selected)
        self.catalogue_dock = self._dock("Models", "catalogue", self.catalogue, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.panel_dock = self._dock("Layer", "layer_panel", layer_box, Qt.DockWidgetArea.RightDockWidgetArea)
        self.table_dock = self._dock("Layer table", "layer_table", self.table, Qt.DockWidgetArea.BottomDockWidgetArea)
        # The Layer dock takes the window's whole height (its formulas, histogram and filters need
        # it; under it the table had left it too little at 700 px); the table spans the rest.
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)

    def _action(self, text: str, shortcut: QKeySequence | str | None, slot: Any, menu: Any) -> QAction:
        action = QAction(text, self)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _build_actions(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        #: Disabled until the start-up job's catalogue has arrived (they need its models, or torch).
        self.needs_catalogue: tuple[QAction, ...] = (
            self._action("Open images to classify…", QKeySequence.StandardKey.Open, self.open_images, file_menu),
            self._action("Paste image", QKeySequence.StandardKey.Paste, self.paste_image, file_menu),
            self._action("Open model file…", "Ctrl+Shift+O", self.open_model_file, file_menu),
            self._action("Save graph image…", "Ctrl+Shift+S", self.save_graph_image, file_menu),
            self._action("Export layer table…", "Ctrl+Shift+E", self.export_table, file_menu),
            self._action("Export to ONNX…", "Ctrl+E", self.open_export_dialog, file_menu),
        )
        file_menu.addSeparator()
        self._action("Quit", QKeySequence.StandardKey.Quit, self.close, file_menu)
        view_menu = bar.addMenu("&View")
        self.views_toolbar = QToolBar("Views", self)
        self.views_toolbar.setObjectName("views")  # (saveState finds toolbars by name)
        self.views_toolbar.setMovable(False)
        self.views_toolbar.setFloatable(False)
        self.views_toolbar.toggleViewAction().setVisible(False)  # the only way to some pages: never hidden
        self.views_toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, self.views_toolbar)
        group = QActionGroup(self)
        for i, (view, label, button) in enumerate(VIEW_ENTRIES):  # Ctrl+1…9 (the tenth has only its menu entry)
            shortcut = f"Ctrl+{i + 1}" if i < 9 else None
            self._action(label, shortcut, lambda checked=False, v=view: self.show_view(v), view_menu)
            if button is not None:
                action = QAction(button, self, checkable=True)
                action.setToolTip(f"{label} ({shortcut})" if shortcut else label)
                action.triggered.connect(lambda checked=False, v=view: self.show_view(v))
                group.addAction(action)
                self.views_toolbar.addAction(action)
                self.view_buttons[view] = action
        self.view_buttons["graph"].setChecked(True)
        self._action("Show selected layer's feature maps", "Ctrl+Shift+F", lambda: self.send_to_features(), view_menu)
        view_menu.addSeparator()
        self._action("Find layer…", QKeySequence.StandardKey.Find, self._find_layer, view_menu)
        self._action("Fit graph to view", "Ctrl+0", lambda: self.graph_view.fit(), view_menu)
        self._action("Expand all blocks", "Ctrl+Shift+=", lambda: self.graph_view.expand_all(), view_menu)
        self._action("Collapse blocks", "Ctrl+Shift+-", lambda: self.graph_view.collapse_to_default(), view_menu)
        self._build_graph_options(view_menu)
        view_menu.addSeparator()
        panels = view_menu.addMenu("Panels")  # (shown or hidden; "Layer table" above goes to it)
        for dock in (self.catalogue_dock, self.panel_dock, self.table_dock):
            panels.addAction(dock.toggleViewAction())
        self._action("Reset layout", None, self.reset_layout, view_menu)
        help_menu = bar.addMenu("&Help")
        self._action("About cnn-explorer", QKeySequence.StandardKey.HelpContents, self.show_about, help_menu)

    # --- graph view options (issue 12): checkable View-menu actions, remembered in the settings ---

    def _build_graph_options(self, menu: Any) -> None:
        from explorer.gui.widgets.graph_view.layout import LEFT_RIGHT, TOP_DOWN

        view = self.graph_view
        menu.addSeparator()
        self.left_right_action = self._graph_option(
            menu, "Left-to-right graph", "graph/left_right", False,
            lambda on: view.set_direction(LEFT_RIGHT if on else TOP_DOWN),
        )  # fmt: skip
        self.fold_repeats_action = self._graph_option(
            menu, "Fold repeated blocks (× N)", "graph/fold_repeats", True, view.set_fold_repeats
        )
        self.edge_shapes_action = self._graph_option(menu, "Shapes on edges", "graph/edge_shapes", True, view.set_edge_labels)

    def _graph_option(self, menu: Any, text: str, key: str, default: bool, apply: Any) -> QAction:
        action = QAction(text, self, checkable=True)
        action.setChecked(bool(self.settings.value(key, default, type=bool)))
        apply(action.isChecked())

        def toggled(on: bool) -> None:
            apply(on)
            self.settings.setValue(key, on)

        action.toggled.connect(toggled)
        menu.addAction(action)
        return action

    # --- end of graph view options ---

    def _build_status_bar(self) -> None:
        self.totals_label = QLabel()
        self.device_label = QLabel()
        self.convention_picker = QComboBox()
        self.convention_picker.addItems(list(CONVENTION_NAMES))
        self.convention_picker.setCurrentText(self.convention)
        self.convention_picker.setToolTip(
            "Whose rules count the MACs and FLOPs in every view: the lecture's, or those of torchinfo, fvcore, "
            "ptflops, thop or torch.utils.flop_counter (View → Why do the numbers differ?)"
        )
        self.convention_picker.currentTextChanged.connect(self.set_convention)
        count_as = QLabel("Count as")
        count_as.setBuddy(self.convention_picker)
        # Shown while a user's model code runs (it may never return): stops it, as the time limit would.
        self.stop_user_code = QPushButton("Stop the model's code")
        self.stop_user_code.setToolTip("Stop the code of the model file that is running (it is stopped after 60 s anyway)")
        self.stop_user_code.clicked.connect(self._stop_user_code)
        self.stop_user_code.hide()
        self.statusBar().addPermanentWidget(self.stop_user_code)
        self.statusBar().addPermanentWidget(self.totals_label)
        self.statusBar().addPermanentWidget(count_as)
        self.statusBar().addPermanentWidget(self.convention_picker)
        self.statusBar().addPermanentWidget(self.device_label)
        self._status_others = (self.stop_user_code, count_as, self.convention_picker, self.device_label)
        self.statusBar().messageChanged.connect(self._status_message_changed)

    def _status_message_changed(self, message: str) -> None:
        """A passing message that would be cut short beside the totals (a narrow window): the totals
        step aside until it has gone."""
        bar = self.statusBar()
        if not message:
            self.totals_label.show()
            return
        others = sum(w.sizeHint().width() + 12 for w in self._status_others if not w.isHidden())
        room = bar.width() - others - bar.fontMetrics().horizontalAdvance(message) - 24
        self.totals_label.setVisible(room >= self.totals_label.sizeHint().width())

    # --- settings ------------------------------------------------------------------------------

    #: Room left for the window manager's frame (title bar, borders), which the window's size does
    #: not include: a 1280×800 window on a 1280×800 screen under openbox lost its status bar below
    #: the screen's edge.
    _FRAME_ROOM = (8, 64)

    def _default_size(self) -> tuple[int, int]:
        """1500×950, or the screen's available area less room for the frame when it is smaller."""
        screen = self.screen().availableGeometry()
        room_w, room_h = self._FRAME_ROOM
        return min(1500, screen.width() - room_w), min(950, screen.height() - room_h)

    @staticmethod
    def _fits_screen(size: object) -> bool:
        """A window of ``size`` (a QSize) fits in one screen's available area."""
        return isinstance(size, QSize) and any(
            size.width() <= screen.availableGeometry().width() and size.height() <= screen.availableGeometry().height()
            for screen in QApplication.screens()
        )

    def _arrange_docks(self) -> None:
        """The first arrangement of the docks, in proportion to the window's width (View → Reset layout)."""
        width = max(self.width(), 800)
        self.resizeDocks(
            [self.catalogue_dock, self.panel_dock], [max(220, width * 17 // 100), max(300, width * 25 // 100)], Qt.Orientation.Horizontal
        )
        self.resizeDocks([self.table_dock], [max(160, self.height() * 23 // 100)], Qt.Orientation.Vertical)

    def reset_layout(self) -> None:
        """Every dock back in its place, shown, at its first size."""
        self.restoreState(self._default_state)
        for dock in (self.catalogue_dock, self.panel_dock, self.table_dock):
            dock.setFloating(False)
            dock.show()
        self._arrange_docks()

    def _restore(self) -> None:
        self._default_state = self.saveState()
        geometry = self.settings.value("window/geometry")
        state = self.settings.value("window/state")
        # Qt would squeeze a larger window's geometry onto this screen, and its docks with it.
        fits = self._fits_screen(self.settings.value("window/size"))
        restored = fits and isinstance(geometry, QByteArray) and self.restoreGeometry(geometry)
        if not restored:  # none saved, or saved on a larger screen: the default layout, sized to fit
            self.resize(*self._default_size())
            self._arrange_docks()
        elif isinstance(state, QByteArray):
            self.restoreState(state)
        self._request = (
            str(self.settings.value("model/name", DEFAULT_MODEL)),
            self.settings.value("model/input") or None,
            str(self.settings.value("model/mode", "eval")),
        )

    def closeEvent(self, event: Any) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/size", self.size())
        self.settings.setValue("window/state", self.saveState())
        for runner in self.runners:
            runner.cancel()
        self.features.cancel()
        self.explain_view.cancel()
        super().closeEvent(event)

    # --- the catalogue -------------------------------------------------------------------------

    def _catalogue_loaded(self, result: jobs.Catalogue) -> None:
        self._ready = True
        for action in self.needs_catalogue:
            action.setEnabled(True)
        self.whatif.session.load_lesson_list()  # (its job imports the core: not before torch has loaded)
        self._specs = {spec.name: spec for spec in result.specs}
        self.catalogue.set_specs(result.specs)
        self.device_label.setText(result.device)
        self.compare.set_model_names(list(self._specs), *self._compare_pair)
        self.classifier.set_model_names(list(self._specs))
        self.explain_view.set_model_names(list(self._specs))  # issue 14
        if self._features_started:
            self.features.set_model_names(list(self._specs))
        name, shape, mode = self._request or (DEFAULT_MODEL, None, "eval")
        if name not in self._specs and not jobs.is_user_reference(name):
            if self._requested_explicitly:
                self._pending_notice = _unknown_model_message(name, list(self._specs)) + f" Showing {DEFAULT_MODEL}."
            name, shape = DEFAULT_MODEL, None  # (silently for a saved name this version no longer has)
        self.open_model(name, shape, mode)

    def request_model(self, name: str, input_shape: str | None = None, mode: str = "eval") -> None:
        """The model to open once the catalogue is loaded (--model); an unknown name is reported, not replaced silently."""
        self._request = (name, input_shape, mode)
        self._requested_explicitly = True

    def _catalogue_failed(self, error: BaseException) -> None:
        self.catalogue.show_loading(f"The model catalogue could not be loaded: {error}")
        self.statusBar().showMessage("The model catalogue could not be loaded.")
        QMessageBox.critical(self, "cnn-explorer", f"The model catalogue could not be loaded:\n{error}")

    # --- analysis ------------------------------------------------------------------------------

    def open_model(self, name: str, input_shape: str | None = None, mode: str | None = None) -> None:
        """Analyse ``name`` off the GUI thread; a newer request cancels this one."""
        current_mode = mode or self.catalogue.mode.currentText()
        if self.summary is not None and self.summary.model != name and input_shape is None:
            input_shape = None  # a new model starts at its own default input
        self._request = (name, input_shape, current_mode)
        self.catalogue.select(name, emit=False)
        self.catalogue.set_mode(current_mode)
        self.statusBar().showMessage(f"Analysing {name}…")
        self.analysis.submit(jobs.analyse, name, input_shape, current_mode, self.convention)
        if jobs.is_user_reference(name):
            self._user_code_started(name)

    def _input_shape_edited(self, text: str) -> None:
        if self._request:
            self.open_model(self._request[0], text, self._request[2])

    def _mode_changed(self, mode: str) -> None:
        if self._request:
            name, shape, _ = self._request
            self.open_model(name, shape if shape else None, mode)

    def _analysis_done(self, summary: ModelSummary) -> None:
        previous = self.summary
        self.summary = summary
        self.catalogue.show_message(self._pending_notice or "")
        self._pending_notice = None
        self.catalogue.set_input_shape(summary.input_shape)
        self.graph_view.set_summary(summary)
        self.table.set_summary(summary)
        self.charts.set_summary(summary)
        self.whatif.analysis_done(summary)  # what-if hook: re-applies the edits to a new input, mode or convention
        self.totals_label.setText(self._totals_text(summary))
        recount = previous is not None and previous.graph is summary.graph
        done = f"counted as {summary.convention}" if recount else f"analysed ({summary.method})"
        self.statusBar().showMessage(f"{summary.model}: {done}", 4000)
        self.setWindowTitle(f"cnn-explorer — {summary.title}")
        keep = self.selected if previous is not None and previous.model == summary.model else None
        self.selected = None
        if keep and keep in summary.graph:
            self.select(keep)
        else:  # nothing of the previous model stays on screen
            self.panel.show_placeholder()
            self.weights_view.runner.cancel()  # (a fetch of the old model's weights must not land now)
            self.weights_view.clear()
            self.whatif.edit_panel.show_layer(None, None)
        if (previous is None or previous.model != summary.model) and self.current_view() == "compare":
            self._compare_follows(summary.model)
        self.settings.setValue("model/name", summary.model)
        self.settings.setValue("model/mode", summary.mode)
        self.settings.setValue("model/input", "x".join(map(str, summary.input_shape)))
        self.reconcile_view.set_convention(summary.convention)
        if self.current_view() == "reconcile":
            self._reconcile()
        if not self._frozen:
            # Start-up is over: what is loaded now (torch, the zoo, the first model) stays, and a full
            # collection that walked it all took ~400 ms and stalled the GUI. Frozen, the collector
            # leaves it alone (gc.freeze: those objects move to a permanent generation).
            self._frozen = True
            import gc

            gc.freeze()

    @staticmethod
    def _totals_text(summary: ModelSummary) -> str:
        """The status bar's totals, in the unit the convention's tool reports (torch's counter: FLOPs)."""
        from explorer.core.conventions import get_convention  # loaded with the summary
        from explorer.gui.widgets.charts import count_text  # issue 13 (window2): 416.5 k, not 0.000 G

        totals = summary.totals
        convention = get_convention(summary.convention)
        count = totals.flops if convention.reports == "FLOPs" else totals.macs
        return (
            f"{summary.title} · {len(summary.layers)} layers · params {totals.params:,} · "
            f"{convention.reports} {count_text(count)} · activations {totals.activation_bytes / 2**20:,.1f} MB"
        )

    # --- counting conventions ---------------------------------------------------------------------

    def set_convention(self, convention: str) -> None:
        """Count every view with ``convention``: the open analyses are recounted, nothing is traced again."""
        if convention not in CONVENTION_NAMES or convention == self.convention:
            return
        self.convention = convention
        self.settings.setValue(CONVENTION_KEY, convention)
        if self.convention_picker.currentText() != convention:
            self.convention_picker.setCurrentText(convention)  # re-enters here and returns at once
        self.reconcile_view.set_convention(convention)
        self.statusBar().showMessage(f"Counting as {convention}…")
        summary = self.summary
        current = summary is not None and self._request is not None and self._request[0] == summary.model
        if self.analysis.busy and self._request is not None:
            self.open_model(*self._request)  # an analysis is on its way: ask again, counted the new way
        elif summary is not None and current:
            self.analysis.submit(jobs.recount, summary, convention)
        # (nothing analysed yet: the first analysis counts the new way)
        pair = self.compare.summaries()
        if self.compare_runner.busy:
            self.compare_models(*self._compare_pair)
        elif pair is not None:
            self.compare_runner.submit(jobs.recount_pair, pair, convention)

    # --- why do the numbers differ? -------------------------------------------------------------

    def _reconcile(self) -> None:
        summary = self.summary
        if summary is None:
            return
        key = (summary.model, summary.input_shape, summary.mode)
        if key == self._reconciled:
            return
        self._reconciled = key
        self.reconcile_view.show_message(f"Counting {summary.model} every way…")
        self.reconcile_runner.submit(jobs.reconcile, summary)

    def _reconcile_failed(self, error: BaseException) -> None:
        self._reconciled = None  # try again next time the view is shown
        self.reconcile_view.show_message(in_gui_words(error))

    def _reconciled_done(self, reconciliation: object) -> None:
        self.reconcile_view.set_reconciliation(reconciliation, self.convention)  # type: ignore[arg-type]

    def _analysis_failed(self, error: BaseException) -> None:
        # The previous analysis stays on screen; the message says what to change.
        self.catalogue.show_message(in_gui_words(error))
        self.statusBar().showMessage("Analysis failed — see the message in the Models panel.", 8000)
        if self.summary is not None:
            self.catalogue.select(self.summary.model, emit=False)
            self.catalogue.set_input_shape(self.summary.input_shape)
            self.catalogue.set_mode(self.summary.mode)

    # --- selection (kept in sync across views) -----------------------------------------------

    def select(self, name: str, *, source: object | None = None) -> None:
        if self.summary is None or name == self.selected and source is not None:
            return
        self.selected = name
        self.panel.show_layer(self.summary, name, collapsed=name in self.graph_view.collapsed)  # issue 13 (window2)
        self.weights_view.show_layer(self.summary, name)
        for view in (self.graph_view, self.table, self.charts):
            if view is not source:
                view.select(name)
        self.whatif.selected(name)  # what-if hook: the Edit panel and the What-if view follow
        if self._features_started:
            self.features.follow_selection(self.summary.model, name)

    def _table_selected(self, name: str) -> None:
        if self.table.summary is not None and self.table.summary is not self.summary:
            self.whatif.table_selected(name)  # the What-if page's edited model is in the table
        else:
            self.select(name, source=self.table)

    def _folding_changed(self) -> None:  # issue 13 (window2)
        if self.summary is not None and self.selected and self.selected not in self.summary.graph:
            self.panel.show_layer(self.summary, self.selected, collapsed=self.selected in self.graph_view.collapsed)

    # --- compare -------------------------------------------------------------------------------

    def compare_models(self, first: str, second: str) -> None:
        self._compare_pair = (first, second)
        self.compare_runner.submit(jobs.analyse_pair, first, second, self.convention)

    def _compare_follows(self, model: str) -> None:
        """Compare's A side is the open model; B stays, unless it would repeat A (then a classic partner).

        Followed when Compare is on screen (at once) or opened (in ``_tab_changed``), not on every
        switch, so a B the user chose survives models opened while Compare was hidden."""
        first, second = self._compare_pair
        if first == model:
            return
        if second == model:
            second = next(name for name in _COMPARE_PARTNERS if name != model)
        self._compare_pair = (model, second)
        if self._specs:
            self.compare.set_model_names(list(self._specs), *self._compare_pair)
        if self.current_view() == "compare":
            self.compare_models(*self._compare_pair)

    def _compare_done(self, pair: tuple[ModelSummary, ModelSummary]) -> None:
        self.compare.set_summaries(*pair)

    def _tab_changed(self, _index: int) -> None:
        view = self.current_view()
        button = self.view_buttons.get({"lessons": "whatif", "reconcile": "compare"}.get(view, view))
        if button is not None:
            button.setChecked(True)
        if view == "compare" and self.summary is not None:
            self._compare_follows(self.summary.model)
        shown = self.compare.summaries()
        if view == "compare" and (shown is None or (shown[0].model, shown[1].model) != self._compare_pair):
            self.compare_models(*self._compare_pair)
        if view == "features" and not self._features_started:
            self._start_features()
        if view == "reconcile":
            self._reconcile()

    # --- feature maps --------------------------------------------------------------------------

    def _start_features(self, layer: str | None = None) -> None:
        """First showing: the first pane shows the open model at the selected layer."""
        self._features_started = True
        model = self.summary.model if self.summary is not None else None
        if model is not None:
            self.features.panes[0].set_model(model, layer or self._feature_layer())
        if self._specs:
            self.features.set_model_names(list(self._specs))
        if self.features.image_path is None:
            from explorer.gui.widgets.feature_maps import DEFAULT_IMAGE

            self.features.set_image(DEFAULT_IMAGE)

    def _feature_layer(self) -> str | None:
        selected = self.selected
        if self.summary is None or not selected or selected == "input":
            return None
        return selected

    def send_to_features(self, pane: int = 0, layer: str | None = None) -> None:
        """Show the open model's selected node (or block) in feature pane ``pane``."""
        if self.summary is None:
            return
        layer = layer or self._feature_layer()
        if not self._features_started:
            self._start_features(layer)
        while len(self.features.panes) <= pane:
            self.features.add_pane()
        self.features.panes[pane].set_model(self.summary.model, layer)
        self.show_view("features")

    # --- explain (issue 14) -----------------------------------------------------------------------

    def explain_photo(self, image: str, model: str, weights: str | None = None) -> None:
        """Explain ``image`` as ``model`` classified it, in the explain view."""
        self.explain_view.explain(image, model, weights)
        self.show_view("explain")

    # --- commands ------------------------------------------------------------------------------

    def _pages(self) -> dict[str, tuple[QWidget, QWidget | None]]:
        """Each view's page in ``tabs``, and its part of that page (a page with parts is a QTabWidget)."""
        whatif = self.whatif
        return {
            "graph": (self.graph_view, None), "charts": (self.charts, None),
            "compare": (self.compare_scroll, self.compare), "reconcile": (self.compare_scroll, self.reconcile_view),
            "classify": (self.classifier, None), "features": (self.features_page, None), "explain": (self.explain_page, None),
            "whatif": (whatif.page, whatif.view), "lessons": (whatif.page, whatif.lessons_page),
        }  # fmt: skip

    def show_table(self, *, tall: bool = False) -> None:
        """The table dock, shown and focused: at its first height, or (Ctrl+2 again) at over half the
        window's; once more, back to its first height."""
        dock = self.table_dock
        dock.show()
        dock.raise_()
        first = max(160, self.height() * 23 // 100)
        taller = dock.height() < self.height() // 2
        self.resizeDocks([dock], [self.height() * 55 // 100 if tall and taller else first], Qt.Orientation.Vertical)
        self.table.setFocus()

    def current_view(self) -> str:
        """The ``show_view`` name of the page (and part) on screen."""
        page = self.tabs.currentWidget()
        for view, (widget, part) in self._pages().items():
            if widget is page and (part is None or self._parts(page).currentWidget() is part):
                return view
        return "graph"

    def _parts(self, page: QWidget) -> QTabWidget:
        """The tab widget of a page with parts (Compare's is in a scroll area)."""
        return self.compare_page if page is self.compare_scroll else page  # type: ignore[return-value]

    def show_view(self, view: str) -> None:
        if view == "table":
            focus = QApplication.focusWidget()
            focused = focus is not None and (focus is self.table or self.table.isAncestorOf(focus))
            self.show_table(tall=self.table_dock.isVisible() and focused)  # Ctrl+2 again: taller, then back
            return
        page, part = self._pages()[view]
        if part is not None:
            self._parts(page).setCurrentWidget(part)
        self.tabs.setCurrentWidget(page)

    # --- images to classify (drop, paste, open) --------------------------------------------------

    def _drop_text(self) -> str:
        """What a drop does on the view on screen (the overlay says it during the drag)."""
        return {"features": "Drop to show feature maps", "explain": "Drop to explain"}.get(self.current_view(), "Drop to classify")

    def _deliver_drop(self, mime: Any) -> None:
        """A drop anywhere on the window: to the feature panes or the explain view on their pages,
        else to the classifier."""
        view = self.current_view()
        if view == "features":
            if not self.features.drop_mime_data(mime):
                self.statusBar().showMessage("Drop an image file to show its feature maps.", 6000)
            return
        if view == "explain":
            paths = [url.toLocalFile() for url in mime.urls() if url.isLocalFile() and Path(url.toLocalFile()).is_file()]
            if not paths:
                self.statusBar().showMessage("Drop an image file to explain it.", 6000)
            elif self.explain_view.image_path is None and self.summary is not None:
                self.explain_photo(paths[0], self.summary.model)  # nothing explained yet: the open model
            else:
                self.explain_view.set_image(paths[0])
            return
        self.show_view("classify")
        self.classifier.drop_mime_data(mime)

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        self.drop_overlay.watch(self.windowHandle())  # the QWindow exists once shown

    def dragEnterEvent(self, event: Any) -> None:  # (events sent to the window widget itself)
        self.drop_overlay.handle(event)

    def dragMoveEvent(self, event: Any) -> None:
        self.drop_overlay.handle(event)

    def dragLeaveEvent(self, event: Any) -> None:
        self.drop_overlay.handle(event)

    def dropEvent(self, event: Any) -> None:
        self.drop_overlay.handle(event)

    def open_images(self) -> None:
        self.show_view("classify")
        self.classifier.open_images()

    def paste_image(self) -> None:
        focus = QApplication.focusWidget()
        if isinstance(focus, QLineEdit | QTextEdit):
            focus.paste()  # Ctrl+V in a text field pastes text, as everywhere
            return
        mime = QApplication.clipboard().mimeData()
        if mime is not None and (mime.hasImage() or mime.hasUrls()):
            self.show_view("classify")
            self.classifier.drop_mime_data(mime)
        else:
            self.statusBar().showMessage("The clipboard holds no image.", 4000)

    def _find_layer(self) -> None:
        self.show_view("graph")
        self.graph_view.start_search()

    def open_model_file(self) -> None:
        path = file_dialogs.open_file(self, "Open model file (its Python code will run)", "models", "Python model files (*.py)")
        if not path:
            return
        factory, ok = QInputDialog.getText(
            self,
            "Factory",
            f"{RUNS_CODE_WARNING}\n\nName of the function in {Path(path).name} that returns the nn.Module:",
            text="build",
        )
        if ok and factory.strip():
            self.open_user_model(f"{path}:{factory.strip()}")

    def open_user_model(self, reference: str) -> None:
        self.user_model_runner.submit(jobs.user_spec, reference)
        self._user_code_started(reference)

    def _user_code_started(self, reference: str) -> None:
        self._running_user_code = reference
        self.stop_user_code.show()
        self.catalogue.show_message(f"Running the code of {Path(reference.rpartition(':')[0]).name}…", error=False)
        self.statusBar().showMessage(f"Running the code of {reference}…")

    def _user_code_finished(self) -> None:
        if not (self.analysis.busy or self.user_model_runner.busy):
            self.stop_user_code.hide()
            if self.statusBar().currentMessage().startswith("Running the code of"):
                self.statusBar().clearMessage()

    def _stop_user_code(self) -> None:
        """Cancel the jobs running a user's model code; a loop that never returns is interrupted."""
        reference = getattr(self, "_running_user_code", "the model file")
        self.user_model_runner.cancel()
        self.analysis.cancel()
        self.stop_user_code.hide()
        self.statusBar().showMessage(f"Stopped the code of {reference}.", 8000)
        self.catalogue.show_message(f"Stopped the code of {reference}.")
        if self.summary is not None:
            self.catalogue.select(self.summary.model, emit=False)

    def _user_spec_ready(self, spec: ModelSpec) -> None:
        self._specs[spec.name] = spec
        self.catalogue.add_spec(spec)
        self.open_model(spec.name)

    def save_graph_image(self) -> None:
        name = f"{self.summary.model}.svg" if self.summary is not None else "graph.svg"
        path, _ = file_dialogs.save_file(self, "Save graph", "exports", name, "SVG (*.svg);;PNG (*.png)")
        if path:
            from explorer.core.errors import ExplorerError
            from explorer.core.paths import atomic_write

            try:
                with atomic_write(path) as staged:  # a failure leaves the old file, or none
                    self.graph_view.save_image(staged)
            except (ExplorerError, OSError, ValueError) as error:
                self.statusBar().showMessage(f"Could not save the graph: {error}", 8000)
                return
            self.statusBar().showMessage(f"Saved {path}", 4000)

    def export_table(self) -> None:
        name = f"{self.summary.model}.csv" if self.summary is not None else "layers.csv"
        path, _ = file_dialogs.save_file(self, "Export layer table", "exports", name, "CSV (*.csv);;Markdown (*.md)")
        if path:
            from explorer.core.errors import ExplorerError

            try:
                self.table.export(path)
            except (ExplorerError, OSError, ValueError) as error:
                self.statusBar().showMessage(f"Could not export the table: {error}", 8000)
                return
            self.statusBar().showMessage(f"Saved {path}", 4000)

    def open_export_dialog(self) -> ExportDialog:
        from explorer.gui.dialogs.export_dialog import ExportDialog

        selected = [self.summary.model] if self.summary is not None else []
        names = [name for name, spec in self._specs.items() if not jobs.is_user_reference(name)]
        dialog = ExportDialog(names, selected, self.settings, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog

    def show_about(self) -> None:
        from explorer import __version__

        papers = sorted({spec.paper for spec in self._specs.values() if spec.paper}, key=lambda p: p.year)
        references = "".join(f"<li>{p.citation()}</li>" for p in papers)
        differences = "".join(
            f"<li><code>{spec.name}</code>: {html.escape(spec.paper_differences, quote=False)}</li>"
            for spec in self._specs.values()
            if spec.paper_differences
        )
        QMessageBox.about(
            self,
            "About cnn-explorer",
            f"<h3>cnn-explorer {__version__}</h3><p>See inside the classic convolutional networks: "
            f"shapes, parameters, MACs, memory and receptive fields, with the formula behind each number.</p>"
            f"<p><b>Papers</b></p><ul>{references}</ul>"
            + (f"<p><b>Where a network here is not its paper's</b></p><ul>{differences}</ul>" if differences else ""),
        )

    # --- for tests and screenshot mode --------------------------------------------------------

    def _busy(self) -> bool:
        if not self._loading:
            return True  # the start-up job is still to come (the first paint starts it)
        return any(runner.busy for runner in self.runners) or self.features.busy or self.explain_view.busy

    def wait_idle(self, timeout_ms: int = 60_000) -> bool:
        """Process events until no job is running, the dialogs' too (tests and --screenshot only)."""
        deadline = QTimer()
        deadline.setSingleShot(True)
        deadline.start(timeout_ms)
        app = QApplication.instance()
        pool = QThreadPool.globalInstance()
        while deadline.isActive():
            app.processEvents()
            if not self._busy() and pool.activeThreadCount() == 0:
                app.processEvents()  # the last queued results
                if not self._busy():
                    return True
            QThread.msleep(10)
        return False


def _unknown_model_message(name: str, names: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, names, n=4, cutoff=0.6)
    return f"Unknown model {name!r}." + (f" Did you mean: {', '.join(close)}?" if close else "")
