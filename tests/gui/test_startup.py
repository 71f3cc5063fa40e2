"""Issue 13, the start: the window before PyTorch, the catalogue filled in as it arrives, a prompt exit.

The speed is bench/startup.py's; these tests check the order of things and that they happen at all.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from explorer.gui import jobs
from explorer.gui.startup import TRACE_ENV, TRACE_PREFIX

ROOT = Path(__file__).resolve().parents[2]
#: What no GUI module may import at module level (torch's imports, and two libraries' plotting extras).
HEAVY = ("torch", "torchvision", "matplotlib", "igraph", "captum", "onnx", "onnxruntime")
pytestmark = pytest.mark.qt_log_ignore(r"This plugin does not support (propagateSizeHints|raise)\(\)")


def test_no_gui_module_imports_torch_or_its_neighbours() -> None:
    """Every module of explorer.gui, the app and the main window included, and the CLI's parser."""
    probe = textwrap.dedent(
        f"""
        import pkgutil, sys
        import explorer.gui, explorer.gui.app, explorer.gui.main_window
        modules = [m.name for m in pkgutil.walk_packages(explorer.gui.__path__, "explorer.gui.")]
        for name in modules:
            __import__(name)
        from explorer.cli import _build_parser
        _build_parser()
        print(len(modules), "modules")
        print(sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY!r}))
        """
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    count, leaked = result.stdout.splitlines()
    assert int(count.split()[0]) > 25  # the walk found the modules (a walk of nothing would pass)
    assert leaked == "[]"


def test_the_window_shows_its_loading_state_then_fills_in(qtbot: object, settings: QSettings) -> None:
    from explorer.gui.main_window import MainWindow

    window = MainWindow(settings)
    qtbot.addWidget(window)  # type: ignore[attr-defined]
    messages: list[str] = []
    window.statusBar().messageChanged.connect(messages.append)
    # Built, not yet painted: it says what is loading, waits with what needs a model, and has not
    # started loading (the first frame comes first).
    tree = window.catalogue.tree
    assert tree.model().rowCount() == 1 and tree.model().index(0, 0).data() == jobs.LOADING_TORCH
    assert window.statusBar().currentMessage() == jobs.LOADING_TORCH
    assert not any(action.isEnabled() for action in window.needs_catalogue)
    assert not window.catalogue.search.isEnabled() and not window.catalogue.input_shape.isEnabled()
    assert not window.catalogue_runner.busy and window.summary is None
    window.resize(1280, 800)
    window.show()
    qtbot.waitUntil(lambda: window.catalogue_runner.busy or window._ready, timeout=10_000)  # type: ignore[attr-defined]
    assert window.wait_idle(120_000)
    # Filled in: the families of the zoo, the first analysis, every action back.
    families = [tree.model().index(row, 0).data() for row in range(tree.model().rowCount())]
    assert len(families) >= 5 and not any(jobs.LOADING_TORCH in family for family in families)
    assert window.summary is not None and window.summary.model == "resnet18"
    assert all(action.isEnabled() for action in window.needs_catalogue)
    assert window.catalogue.search.isEnabled() and window.catalogue.input_shape.isEnabled()
    assert window.graph_view.scene().items()  # the graph is drawn
    said = [m for m in messages if m in (jobs.LOADING_TORCH, jobs.LOADING_MODELS) or m.startswith("resnet18: analysed")]
    assert said[-1].startswith("resnet18: analysed") and jobs.LOADING_MODELS in said
    assert said.index(jobs.LOADING_MODELS) < len(said) - 1


def test_a_hidden_window_loads_too(qtbot: object, settings: QSettings) -> None:
    """Never shown, never painted: the start-up job starts all the same (tests, scripts)."""
    from explorer.gui.main_window import MainWindow

    window = MainWindow(settings)
    qtbot.addWidget(window)  # type: ignore[attr-defined]
    assert window.wait_idle(120_000)
    assert window.summary is not None and window.catalogue.search.isEnabled()
    QApplication.processEvents()


def test_closing_the_window_ends_the_gui_process(tmp_path: Path) -> None:
    """``cnn-explorer gui``, offscreen: torch loads off the GUI thread, after the window is shown;
    the window closes itself after its first graph (CNN_EXPLORER_STARTUP_TRACE=close, as a user
    would close it) and the process ends, with 0, its settings saved. Not a timed test: 30 s is a
    bound for "it ends at all" (bench/startup.py measures how soon)."""
    script = textwrap.dedent(
        """
        import sys, threading, importlib.abc

        class Watch(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == "torch":
                    print("torch imported on", threading.current_thread().name, file=sys.stderr, flush=True)
                    sys.meta_path.remove(self)
                return None

        sys.meta_path.insert(0, Watch())
        from explorer.cli import main
        sys.exit(main(["gui"]))
        """
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(tmp_path), TRACE_ENV: "close"}
    process = subprocess.Popen(
        [sys.executable, "-c", script], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, cwd=ROOT, env=env
    )
    events: list[str] = []
    try:
        assert process.stderr is not None
        for line in process.stderr:
            if line.startswith(TRACE_PREFIX):
                events.append(line.split()[2])
            elif line.startswith("torch imported on"):
                events.append(line.strip())
            if events and events[-1] == "window-closed":
                break
        assert process.wait(timeout=30) == 0
    finally:
        process.kill()
        process.wait()
    assert events[0] == "window-shown", events  # painted before torch was imported, and torch not by the GUI thread
    assert events[1].startswith("torch imported on") and "MainThread" not in events[1], events
    assert events[2:] == ["catalogue", "first-graph", "window-closed"], events
    saved = QSettings(str(tmp_path / "cnn-explorer" / "cnn-explorer.conf"), QSettings.Format.IniFormat)
    assert saved.value("model/name") == "resnet18" and saved.value("window/state") is not None


def test_nothing_before_the_catalogue_imports_torch_on_the_gui_thread(tmp_path: Path) -> None:
    """With every job held back (the start-up job too: the catalogue never arrives), every tab
    shown, every enabled action triggered and the convention switched: nothing imports torch, so
    nothing the GUI thread does before the catalogue needs it. (The jobs asked for are listed: they
    would run on workers.)"""
    script = textwrap.dedent(
        """
        import sys
        from PySide6.QtCore import QSettings
        from PySide6.QtGui import QAction
        from PySide6.QtWidgets import QFileDialog, QMessageBox
        from explorer.gui import workers
        from explorer.gui.app import _application
        from explorer.gui.main_window import MainWindow

        asked = []
        workers.TaskRunner.submit = lambda self, job, *args, **kwargs: asked.append(job.__name__)
        for name in ("getOpenFileName", "getOpenFileNames", "getSaveFileName"):
            setattr(QFileDialog, name, staticmethod(lambda *a, **k: ("", "")))
        QFileDialog.getExistingDirectory = staticmethod(lambda *a, **k: "")
        QMessageBox.about = staticmethod(lambda *a, **k: None)
        app = _application()
        window = MainWindow(QSettings(sys.argv[1], QSettings.Format.IniFormat))
        window.show()
        for _ in range(10):
            app.processEvents()
        culprits = []

        def check(what):
            if "torch" in sys.modules and not culprits:
                culprits.append(what)

        for index in range(window.tabs.count()):
            window.tabs.setCurrentIndex(index)
            app.processEvents()
            check(f"tab {window.tabs.tabText(index)}")
        triggered = 0
        for action in window.findChildren(QAction):
            if action.isEnabled() and action.text() and action.text() != "Quit" and action.menu() is None:
                action.trigger()
                triggered += 1
                app.processEvents()
                check(f"action {action.text()}")
        window.set_convention("fvcore")
        app.processEvents()
        check("convention")
        print("first to load torch:", culprits)
        print("jobs asked for:", sorted(set(asked)))
        print("actions triggered:", triggered)
        print("torch loaded:", [m for m in ("torch", "torchvision") if m in sys.modules])
        sys.stdout.flush()
        import os
        os._exit(0)
        """
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "s.ini")], capture_output=True, text=True, cwd=ROOT, timeout=300, env=env
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = dict(line.split(": ", 1) for line in result.stdout.splitlines() if ": " in line)
    assert "load_catalogue" in lines["jobs asked for"]  # the start-up job was asked for, and held back
    assert int(lines["actions triggered"]) >= 15
    assert lines["torch loaded"] == "[]", result.stdout + result.stderr[-3000:]
