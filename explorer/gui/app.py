"""QApplication bootstrap, the exception hook, the app icon, ``--screenshot`` mode, and an orderly exit.

The start-up order (the window painted before torch is imported) is in ``startup.py``; the exit
ends the process with ``os._exit`` once the window has closed and the settings are on disk
(``_leave_now`` says why and what is kept).

An orderly exit: every widget is deleted by ``delete_widgets``, while Python is still whole,
before ``run`` returns. Left to the interpreter's teardown, PySide's exit handler
(``PySide::destroyQCoreApplication``) deletes the remaining wrapped objects in no particular
order; a pyqtgraph item's destructor then called back into a Python override whose object was
half destroyed, and shiboken's error path crashed with SIGSEGV (``PepException_GetArgs`` in
``storePythonOverrideErrorOrPrint``, in a core dump of the test run). With nothing left for that
handler to delete, the process exits 0. (The other cause of that crash, PySide6 6.12.0's lost
references to ``True``, is excluded in pyproject.toml; tests/gui/test_qt_binding.py.)
"""

from __future__ import annotations

import os
import sys
import tempfile
import traceback
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType

ORGANISATION, APPLICATION = "cnn-explorer", "cnn-explorer"


@dataclass(frozen=True)
class GuiOptions:
    model: str | None = None
    input_shape: str | None = None
    mode: str = "eval"
    view: str = "graph"
    compare: str | None = None
    select: str | None = None
    expand: str | None = None  # "all" or comma-separated module paths
    images: tuple[str, ...] = ()  # for --view classify
    lesson: str | None = None  # --view whatif: open this lesson's experiment
    edits: tuple[str, ...] = ()  # --view whatif: LAYER.FIELD=VALUE, typed into the Edit panel and applied
    edit_file: Path | None = None  # --view whatif: an edit file to open
    convention: str | None = None  # the counting convention (default: the saved one, else the lecture's)
    method: str | None = None  # --view explain: "gradcam" or "gradcam,guided" (one pane each)
    at: tuple[int, int] | None = None  # --view features: click this position of the strongest channel
    screenshot: Path | None = None
    size: tuple[int, int] = (1600, 1000)
    graph_layout: str | None = None  # "top-down" or "left-right" (else the remembered one)


def _install_excepthook() -> None:
    """An unexpected error in a slot is logged and shown; the window keeps running."""

    def hook(kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
        traceback.print_exception(kind, error, tb, file=sys.stderr)
        from PySide6.QtWidgets import QApplication

        for widget in QApplication.topLevelWidgets():
            if hasattr(widget, "statusBar"):
                widget.statusBar().showMessage(f"Unexpected error: {error} (details on the console)", 10_000)

    sys.excepthook = hook


#: What Qt's offscreen platform says about window-manager requests it has no window manager for.
_OFFSCREEN_CHATTER = ("This plugin does not support propagateSizeHints", "This plugin does not support raise")


def _quiet_offscreen_platform() -> None:
    """Screenshots run offscreen: keep stderr to the project's own lines (and Qt's real warnings)."""
    from PySide6.QtCore import qInstallMessageHandler

    def handler(_kind: object, _context: object, message: str) -> None:
        if not message.startswith(_OFFSCREEN_CHATTER):
            print(message, file=sys.stderr)

    qInstallMessageHandler(handler)


def app_icon() -> object:
    """The app's icon: the SVG (Qt scales it) and every bundled PNG size."""
    from PySide6.QtGui import QIcon

    from explorer.core.samples import resources_folder

    folder = resources_folder() / "icons"
    icon = QIcon()
    for png in sorted(folder.glob("cnn-explorer-*.png")):
        icon.addFile(str(png))
    icon.addFile(str(folder / "cnn-explorer.svg"))
    return icon


def _application() -> object:
    from PySide6.QtCore import QCoreApplication
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    from explorer.desktop import APP_ID

    QCoreApplication.setOrganizationName(ORGANISATION)
    QCoreApplication.setApplicationName(APPLICATION)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setStyle("Fusion")  # the same look everywhere; follows the system's light/dark palette
    QGuiApplication.setDesktopFileName(APP_ID)  # Wayland and the task bar match the desktop entry's icon
    app.setWindowIcon(app_icon())
    return app


def delete_widgets() -> None:
    """Delete every parentless widget now, while Python can still run their overrides (see the module docstring).

    In an order that holds: the visible windows are closed first (their closeEvent still sees
    every child); then each graphics view is deleted on its own, while the rest of its window
    is intact (a pyqtgraph scene torn down together with its window's other children crashed in
    a QGraphicsWidget destructor); then the windows; then the top-level menus, last because a
    pyqtgraph ViewBox deleted after the context menu it holds crashes too. Windows that have a
    parent (a combo box's popup, a tooltip) go with their parent.
    """
    from PySide6.QtCore import QCoreApplication, QEvent, QThreadPool
    from PySide6.QtWidgets import QApplication, QGraphicsView, QMenu
    from shiboken6 import isValid

    def flush() -> None:
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)

    def roots(*, menus: bool) -> list[object]:
        return [
            w for w in QApplication.topLevelWidgets() if isValid(w) and w.parent() is None and isinstance(w, QMenu) == menus
        ]

    QThreadPool.globalInstance().waitForDone(30_000)  # a worker's queued results must not outlive their receivers
    QCoreApplication.processEvents()
    # Closed first, while every child is intact: a window's closeEvent (saving its layout,
    # cancelling its jobs, clearing its overlays) must not meet a view already deleted below.
    for root in roots(menus=False):
        if isValid(root) and root.isVisible():
            root.close()
    QCoreApplication.processEvents()
    for root in roots(menus=False):
        for view in root.findChildren(QGraphicsView) if isValid(root) else []:
            if isValid(view):  # (deleting one view can take another's helpers with it)
                view.deleteLater()
                flush()
    for menus in (False, True):
        for widget in roots(menus=menus):
            if isValid(widget):
                widget.close()
                widget.deleteLater()
        flush()
    QCoreApplication.processEvents()


def run(options: GuiOptions) -> int:
    from explorer.core.console import quiet_libraries

    quiet_libraries()
    if options.screenshot is not None and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if options.screenshot is not None and os.environ.get("QT_QPA_PLATFORM") == "offscreen":
        _quiet_offscreen_platform()
    app = _application()
    _install_excepthook()
    from PySide6.QtCore import QSettings

    from explorer.gui.main_window import MainWindow

    try:
        if options.screenshot is not None:
            # A screenshot neither reads nor writes the user's saved layout, and leaves no folder behind.
            with tempfile.TemporaryDirectory(prefix="cnn-explorer-screenshot-") as folder:
                settings = QSettings(str(Path(folder) / "screenshot.ini"), QSettings.Format.IniFormat)
                try:
                    code = _screenshot(MainWindow(settings), options)
                finally:
                    delete_widgets()
                    # Destroyed (and so synced) now, inside the folder: left to the garbage
                    # collector, QSettings would write the file again, recreating the folder.
                    import shiboken6

                    shiboken6.delete(settings)
            _end_process(code)  # the PNG is written, the folder removed: nothing is left for the teardown to do
            return code  # (not reached)
        window = MainWindow()
        _apply_graph_layout(window, options)
        if options.convention:
            window.set_convention(options.convention)
        if options.model:
            window.request_model(options.model, options.input_shape, options.mode)
        from explorer.gui.startup import StartupTrace, trace_mode

        mode = trace_mode()
        if mode is not None:
            StartupTrace(window, close_after_first_graph=mode == "close")
        window.show()  # painted before torch is imported: its first frame starts the start-up job
        _quit_on_termination_signals(app)
        code = app.exec()
    except BaseException:
        delete_widgets()
        raise
    _leave_now(window, code)
    return code  # (not reached: _leave_now ends the process)


#: How long a closed window's cancelled jobs get to run their ``finally`` blocks before the process ends.
_CANCELLED_JOBS_GRACE_MS = 300


def _leave_now(window: object, code: int) -> None:
    """End the process at once, once the window has closed and its settings are on disk.

    Left to itself the process stayed 2–9.5 s after its window had gone (issue 13): the exit
    sequence waited for every worker (``delete_widgets`` waits up to 30 s: an analysis, a
    comparison, or the start-up job in the middle of importing torch, which nothing can
    interrupt), then the interpreter's teardown with torch and the zoo loaded took another
    1–2.6 s here (measured: ``import torch, torchvision.models`` alone, then exit). So, once the
    window is closed (its ``closeEvent`` saved the layout and cancelled every job) and the event
    loop has returned: the settings are synced, cancelled jobs get a moment to run their
    ``finally`` blocks (a staging folder is removed), the standard streams are flushed, and
    ``os._exit`` ends the process without running Python's teardown. Nothing is lost: no file is
    written at exit but the settings, and no widget is left half-deleted for PySide's exit
    handler (see the module docstring) because no destructor runs at all.
    """
    from PySide6.QtCore import QThreadPool

    window.settings.sync()  # type: ignore[attr-defined]
    QThreadPool.globalInstance().waitForDone(_CANCELLED_JOBS_GRACE_MS)
    from explorer.gui.startup import trace, trace_mode

    if trace_mode() is not None:
        trace("exiting")
    _end_process(code)


def _end_process(code: int) -> None:
    """``os._exit`` after flushing the standard streams: Python's teardown with torch loaded takes 1–2.6 s."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _quit_on_termination_signals(app: object) -> None:
    """Ctrl+C, SIGTERM and SIGHUP close the window in order (exit code 128 + the signal).

    Python runs signal handlers only between bytecodes, and Qt's event loop runs none while it
    waits; a timer gives the handler its chance within a quarter of a second.
    """
    import signal

    from PySide6.QtCore import QTimer

    def leave(signum: int, _frame: object) -> None:
        app.exit(128 + signum)  # type: ignore[attr-defined]

    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        number = getattr(signal, name, None)
        if number is not None:
            signal.signal(number, leave)
    heartbeat = QTimer(app)  # type: ignore[arg-type]
    heartbeat.timeout.connect(lambda: None)
    heartbeat.start(250)


def _apply_graph_layout(window: object, options: GuiOptions) -> None:
    if options.graph_layout is not None:
        window.left_right_action.setChecked(options.graph_layout == "left-right")  # type: ignore[attr-defined]


def _sample_images() -> list[Path]:
    from explorer.core.samples import sample_images

    return sample_images()


def _features_screenshot(window: object, options: GuiOptions) -> str | None:
    """--view features: pane 1 shows --model at --select, pane 2 --compare (at --select too if it has it)."""
    from explorer.core.features import UnknownLayerError, select_layer

    summary = window.summary  # type: ignore[attr-defined]
    if options.select:
        try:
            select_layer(summary, options.select)
        except UnknownLayerError as error:
            return str(error).splitlines()[0]
    if options.images:
        window.features.set_image(options.images[0])  # type: ignore[attr-defined]
    if options.select and (options.select in summary.graph or summary.block(options.select)[0]):
        window.select(options.select)  # type: ignore[attr-defined]
    window.send_to_features(0, options.select)  # type: ignore[attr-defined]
    if not options.compare:
        for pane in window.features.panes[1:]:  # type: ignore[attr-defined]
            window.features.remove_pane(pane)  # type: ignore[attr-defined]
    else:
        from explorer.core.analysis import analyze

        other = analyze(options.compare)
        select = options.select
        if select:
            try:
                select_layer(other, select)
            except UnknownLayerError:  # the other model has no such layer: its default one
                select = None
        features = window.features  # type: ignore[attr-defined]
        second = features.panes[1] if len(features.panes) > 1 else features.add_pane()  # one pane by default
        second.set_model(options.compare, select)
    return None


def _whatif_screenshot(window: object, options: GuiOptions) -> str | None:
    """--view whatif: a lesson, an edit file, then each --edit typed into the Edit panel and applied."""
    from explorer.core.edits import parse_set
    from explorer.core.errors import ExplorerError

    feature = window.whatif  # type: ignore[attr-defined]
    if options.lesson:
        feature.open_lesson(options.lesson)
        if not window.wait_idle(300_000) or not window.wait_idle():  # type: ignore[attr-defined]
            return "the lesson did not finish in time"
        if feature.session.lesson is None:
            return feature.view.status.text() or f"the lesson {options.lesson} could not run"
    if options.edit_file:
        feature.open_edits(str(options.edit_file))
        window.wait_idle()  # type: ignore[attr-defined]
        window.wait_idle()  # type: ignore[attr-defined]
    grouped: list[tuple[str, dict[str, object], str]] = []  # consecutive --edit of one layer: one Apply
    for text in options.edits:
        try:
            edit = parse_set(text)
        except ExplorerError as error:
            return str(error)
        if grouped and grouped[-1][0] == edit.layer:
            grouped[-1][1].update(edit.values)
        else:
            grouped.append((edit.layer, dict(edit.values), text))
    for layer, values, text in grouped:
        window.select(layer)  # type: ignore[attr-defined]
        panel = feature.edit_panel
        for name, value in values.items():
            if name not in panel.fields:
                return f"{layer} has no field {name!r} in the Edit panel"
            panel.fields[name].set_value(value)
        if panel.apply() is None:
            return f"the Edit panel would not apply {text}: {panel.message.text()}"
        window.wait_idle()  # type: ignore[attr-defined]
        if feature.session.result is None or layer not in {d.name for d in feature.session.result.diff.changed}:
            return f"{text} was not applied: {feature.view.status.text()}"
    window.show_view("whatif")  # type: ignore[attr-defined]
    if options.select:
        feature._view_selected(options.select)
        feature.view.select(options.select)
    return None


def _explain_screenshot(window: object, options: GuiOptions) -> str | None:
    """Issue 14, --view explain: --model on --image (default the cat), one pane per --method, a pane
    for --compare; --select is the layer."""
    methods = [m.strip() for m in (options.method or "gradcam").split(",") if m.strip()]
    from explorer.gui.widgets.explain_view import METHOD_TITLES

    unknown = [m for m in methods if m not in dict(METHOD_TITLES)]
    if unknown:
        return f"unknown method {unknown[0]!r}: use {', '.join(dict(METHOD_TITLES))}"
    view = window.explain_view  # type: ignore[attr-defined]
    image = options.images[0] if options.images else str(_sample_images()[0].parent / "cat-chelsea.png")
    model = window.summary.model  # type: ignore[attr-defined]
    first = view.panes[0]
    first.method_box.blockSignals(True)
    first.set_method(methods[0])
    first.method_box.blockSignals(False)
    window.explain_photo(image, model)  # type: ignore[attr-defined]
    if not window.wait_idle(300_000):  # type: ignore[attr-defined]
        return "the explanation did not finish in time"
    if options.select:
        first.set_layer(options.select)
    for method in methods[1:]:
        view.add_pane(model, method)
    if options.compare:
        view.add_pane(options.compare, methods[0])
    return None


def _screenshot(window: object, options: GuiOptions) -> int:
    from explorer.gui.main_window import MainWindow

    assert isinstance(window, MainWindow)
    window._request = (options.model or "resnet18", options.input_shape, options.mode)
    _apply_graph_layout(window, options)
    if options.convention:
        window.set_convention(options.convention)
    window.resize(*options.size)
    window.show()
    if not window.wait_idle():
        print("cnn-explorer: error: the analysis did not finish in time", file=sys.stderr)
        return 1
    if window.summary is None:
        message = window.catalogue.message.text() or "the model could not be analysed"
        print(f"cnn-explorer: error: {message}", file=sys.stderr)
        return 2
    if options.expand == "all":
        window.graph_view.expand_all()
    elif options.expand:
        for path in (p.strip() for p in options.expand.split(",")):
            if path:
                window.graph_view.expand(window.graph_view.group_path(path) or path)
    if options.view == "classify":
        window.show_view("classify")
        window.classifier.add_images(list(options.images) or [str(p) for p in _sample_images()])
        if not window.wait_idle(300_000):
            print("cnn-explorer: error: classification did not finish in time", file=sys.stderr)
            return 1
    elif options.view == "explain":
        problem = _explain_screenshot(window, options)
        if problem:
            print(f"cnn-explorer: error: {problem}", file=sys.stderr)
            return 2
        if not window.wait_idle(300_000):
            print("cnn-explorer: error: the explanations did not finish in time", file=sys.stderr)
            return 1
        errors = [pane.error for pane in window.explain_view.panes if pane.error]
        if errors:
            print(f"cnn-explorer: error: {errors[0]}", file=sys.stderr)
            return 2
        options = replace(options, select=None, compare=None)
    elif options.view == "features":
        problem = _features_screenshot(window, options)
        if problem:
            print(f"cnn-explorer: error: {problem}", file=sys.stderr)
            return 2
        if not window.wait_idle(300_000):
            print("cnn-explorer: error: the feature maps did not finish in time", file=sys.stderr)
            return 1
        errors = [pane.error for pane in window.features.panes if pane.error]
        if errors:
            print(f"cnn-explorer: error: {errors[0]}", file=sys.stderr)
            return 2
        if options.at is not None:  # issue 14: the strongest channel, a position, its effective field
            pane = window.features.panes[0]
            if pane.activation is None or pane.activation.values.ndim != 3:
                print("cnn-explorer: error: --at needs a layer with a spatial map", file=sys.stderr)
                return 2
            pane.open_channel(pane.activation.order_by_strength()[0])
            if pane.select_position(*options.at) is None:
                print(f"cnn-explorer: error: --at {options.at} is outside the layer's map", file=sys.stderr)
                return 2
            if not window.wait_idle(300_000) or pane.error:
                print(f"cnn-explorer: error: {pane.error or 'the effective field did not finish in time'}", file=sys.stderr)
                return 2
        options = replace(options, select=None)  # the panes show it; the graph keeps its view
    elif options.view == "whatif":
        problem = _whatif_screenshot(window, options)
        if problem:
            print(f"cnn-explorer: error: {problem}", file=sys.stderr)
            return 2
        options = replace(options, select=None)  # selected in the What-if view already
    elif options.compare or options.view == "compare":
        window.show_view("compare")
        window.compare_models(window.summary.model, options.compare or "resnet18")
        window.wait_idle()
    elif options.view == "table":
        window.show_table(tall=True)  # the table over half the window, as Ctrl+2 twice shows it
    else:
        window.show_view(options.view)
    if options.select:
        select = window.graph_view.group_path(options.select) or options.select
        if select not in window.summary.graph and not window.summary.block(select)[0]:
            print(f"cnn-explorer: error: no layer or block named {options.select!r}", file=sys.stderr)
            return 2
        window.select(select)
    window.wait_idle()
    from PySide6.QtWidgets import QApplication

    for _ in range(3):
        QApplication.processEvents()  # the docks settle: the graph's viewport has its final size
    if options.select is None and options.view == "graph":
        if options.expand in (None, "all"):
            window.graph_view.fit()
        else:  # the last block expanded, whole in view
            last = [p.strip() for p in options.expand.split(",") if p.strip()][-1]
            window.graph_view.show_group(window.graph_view.group_path(last) or last)
        QApplication.processEvents()
    image = window.grab()
    from explorer.core.errors import ExplorerError
    from explorer.core.paths import atomic_write

    try:
        with atomic_write(options.screenshot) as staged:  # a failure leaves no partial PNG
            if not image.save(str(staged), "PNG"):
                raise ExplorerError(f"Qt could not write {options.screenshot}.")
    except ExplorerError as error:
        print(f"cnn-explorer: error: {error}", file=sys.stderr)
        return 2
    print(options.screenshot)
    return 0
