"""The app exits 0, leaves nothing behind, says what a model file does, and stops user code on request."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication, QFileDialog, QInputDialog

from explorer.gui import jobs

ROOT = Path(__file__).resolve().parents[2]
PHOTOS = ROOT / "resources" / "images"
pytestmark = pytest.mark.qt_log_ignore(r"This plugin does not support (propagateSizeHints|raise)\(\)")


def test_screenshot_runs_exit_0_and_leave_no_temporary_folder(tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch)}
    for view in ("graph", "features"):
        target = tmp_path / f"{view}.png"
        result = subprocess.run(
            [sys.executable, "-m", "explorer", "gui", "--model", "resnet18", "--view", view, "--screenshot", str(target),
             "--size", "1024x700"],
            capture_output=True, text=True, cwd=ROOT, timeout=300, env=env,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert target.stat().st_size > 10_000
    # No tmpXXXX/screenshot.ini, nothing of ours (torch keeps its compiler cache there, on purpose, once).
    assert [p.name for p in scratch.iterdir() if not p.name.startswith("torchinductor_")] == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["features.png", "graph.png", "tmp"]  # no staging files


def test_closing_the_window_exits_0(tmp_path: Path) -> None:
    """The interactive app, closed as a user would once it shows a model: the process ends with 0."""
    script = textwrap.dedent(
        """
        import sys
        from PySide6.QtCore import QTimer
        from PySide6.QtWidgets import QApplication
        from explorer.gui import app

        application = app._application()

        def close_when_ready():
            windows = [w for w in QApplication.topLevelWidgets() if w.objectName() == "" and hasattr(w, "wait_idle")]
            if windows and windows[0].summary is not None:
                windows[0].close()
            else:
                QTimer.singleShot(200, close_when_ready)

        QTimer.singleShot(200, close_when_ready)
        sys.exit(app.run(app.GuiOptions(model="googlenet")))
        """
    )
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path)}  # the window saves its layout there
    for _ in range(2):
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=300, env=env)
        assert result.returncode == 0, result.stderr[-2000:]


def test_the_app_has_its_icon(qapp: QApplication) -> None:
    from explorer.gui.app import _application, app_icon

    icon = app_icon()
    sizes = {size.width() for size in icon.availableSizes()}
    assert {16, 32, 48, 64, 128, 256} <= sizes
    _application()
    assert not QApplication.windowIcon().isNull()


def test_an_unknown_model_on_the_command_line_is_said_not_replaced_silently(qtbot: object, tmp_path: Path) -> None:
    from explorer.gui.main_window import MainWindow

    window = MainWindow(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)  # type: ignore[attr-defined]
    window.request_model("resnt18")
    window.show()
    assert window.wait_idle()
    assert window.summary is not None and window.summary.model == "resnet18"
    message = window.catalogue.message.text()
    assert "Unknown model 'resnt18'" in message and "Did you mean: resnet18" in message


def test_opening_a_model_file_says_that_its_code_runs(window: object, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    asked: dict[str, str] = {}

    def open_file(parent: object, caption: str, *args: object) -> tuple[str, str]:
        asked["caption"] = caption
        return str(tmp_path / "net.py"), ""

    def factory(parent: object, title: str, label: str, **kwargs: object) -> tuple[str, bool]:
        asked["label"] = label
        return "build", False

    monkeypatch.setattr(QFileDialog, "getOpenFileName", open_file)
    monkeypatch.setattr(QInputDialog, "getText", factory)
    window.open_model_file()  # type: ignore[attr-defined]
    assert "its Python code will run" in asked["caption"]
    assert "runs its Python code with your permissions" in asked["label"] and "only files you trust" in asked["label"]


def test_the_stop_button_stops_a_model_file_that_never_returns(window: object, qtbot: object, tmp_path: Path) -> None:
    path = tmp_path / "loop.py"
    path.write_text(
        "from torch import nn\n"
        "class Loop(nn.Module):\n"
        "    def forward(self, x):\n"
        "        while True:\n"
        "            pass\n"
        "def build():\n"
        "    return Loop()\n"
    )
    previous = window.summary.model  # type: ignore[attr-defined]
    window.open_user_model(f"{path}:build")  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: window.analysis.busy and window.stop_user_code.isVisible(), timeout=60_000)  # type: ignore[attr-defined]
    qtbot.wait(300)  # type: ignore[attr-defined]  (inside the endless trace by now)
    window.stop_user_code.click()  # type: ignore[attr-defined]
    assert window.wait_idle(60_000)  # type: ignore[attr-defined]  (the pool thread is free again)
    assert "Stopped the code of" in window.catalogue.message.text()  # type: ignore[attr-defined]
    assert window.summary.model == previous  # type: ignore[attr-defined]  (the last good analysis stays)
    assert not window.stop_user_code.isVisible()  # type: ignore[attr-defined]


def test_a_bomb_among_photos_is_its_own_row_in_the_classifier(tmp_path: Path) -> None:
    from PIL import Image

    strip = tmp_path / "strip.png"
    Image.new("L", (1, 100_000)).save(strip)
    events = list(jobs.classify([str(PHOTOS / "cat-chelsea.png"), str(strip)], [("efficientnet_lite0", None)]))
    column = next(event for event in events if isinstance(event, jobs.ClassifyColumn))
    cat, bomb = column.results
    assert cat is not None and cat.error is None and cat.predictions
    assert bomb is not None and "resizing its shorter side" in bomb.error
    assert column.crops[0] is not None and column.crops[1] is None


def test_sigterm_closes_the_interactive_window_in_order(tmp_path: Path) -> None:
    """Qt's event loop runs no Python signal handler while it waits; the app's heartbeat lets it."""
    script = textwrap.dedent(
        """
        import os, signal, sys, threading
        from PySide6.QtCore import QTimer
        from PySide6.QtWidgets import QApplication
        from explorer.gui import app

        application = app._application()

        def terminate_when_ready():
            windows = [w for w in QApplication.topLevelWidgets() if hasattr(w, "wait_idle")]
            if windows and windows[0].summary is not None:
                threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGTERM)).start()
            else:
                QTimer.singleShot(200, terminate_when_ready)

        QTimer.singleShot(200, terminate_when_ready)
        sys.exit(app.run(app.GuiOptions(model="lenet5")))
        """
    )
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=300, env=env)
    assert result.returncode == 128 + 15, result.stderr[-2000:]
