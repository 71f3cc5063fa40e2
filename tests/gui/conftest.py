"""GUI test fixtures: an isolated settings file, and no thread left running after a test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, QThreadPool


@pytest.fixture(autouse=True)
def _no_dangling_threads(qapp: object) -> Iterator[None]:
    """Fail a test that leaves a worker running (as napari's _dangling_qthread_pool does); then delete its widgets.

    Deleted here, in the order the app itself uses on exit (``delete_widgets``), so none is left
    for the interpreter's teardown, where deleting them crashed.
    """
    yield
    pool = QThreadPool.globalInstance()
    if not pool.waitForDone(60_000):
        pytest.fail("a worker thread was still running 60 s after the test ended")
    from explorer.gui.app import delete_widgets

    delete_widgets()


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def window(qtbot: object, settings: QSettings) -> Iterator[object]:
    from explorer.gui.main_window import MainWindow

    win = MainWindow(settings)
    qtbot.addWidget(win)
    win.resize(1400, 900)
    win.show()
    assert win.wait_idle(), "the catalogue and the first analysis finish"
    yield win
    for runner in win.runners:
        runner.cancel()
    win.wait_idle()
