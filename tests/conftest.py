"""Shared test setup. Qt runs offscreen: set before anything imports Qt."""

from __future__ import annotations

import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Nothing downloads in tests: torch hub points at an empty, per-session cache.
os.environ.setdefault("TORCH_HOME", os.path.join(os.path.dirname(__file__), ".torch-home-unused"))


def pytest_sessionfinish(session: object, exitstatus: int) -> None:
    """Delete what widgets are left while Python is whole, as the app does before it exits.

    Left to the interpreter's teardown, PySide's exit handler deletes them in no particular
    order, and a pyqtgraph item's destructor calling back into Python then crashed the process
    with SIGSEGV after every test had passed (``explorer.gui.app.delete_widgets`` says more).
    The GUI tests' own fixture does this after each test; this catches the rest.
    """
    if "PySide6.QtWidgets" in sys.modules:
        from PySide6.QtWidgets import QApplication

        if QApplication.instance() is not None:
            from explorer.gui.app import delete_widgets

            delete_widgets()
