"""The start-up order (issue 13) and its instrumentation.

The window is painted before PyTorch is imported: every GUI module imports the core (and so
torch) only inside functions and jobs (tests/gui/test_startup.py), and the main window starts its
start-up job (``jobs.load_catalogue``: torch, torchvision's models, the catalogue) only once its
first frame has been painted (``after_first_paint``), so that job's imports do not compete with
that first frame for the interpreter. Until the job's answer arrives, the catalogue and the status
bar say what is loading, and the actions that need a model are disabled.

``CNN_EXPLORER_STARTUP_TRACE`` (read by ``app.run``) makes the app print when each step happened,
for ``bench/startup.py``: one line per event on stderr,
``cnn-explorer startup: EVENT SECONDS``, where SECONDS is ``time.monotonic()`` (on Linux the
system-wide CLOCK_MONOTONIC, so another process can subtract its own start time from it). The
events are ``window-shown`` (the first frame painted), ``catalogue`` (the model list filled),
``first-graph`` (the graph view painted with the first analysis), and ``window-closed``. With the
value ``close``, the window also closes itself right after ``first-graph``, as a user closing it
would, so the benchmark can time the exit too.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QEvent, QObject, QTimer

TRACE_ENV = "CNN_EXPLORER_STARTUP_TRACE"
TRACE_PREFIX = "cnn-explorer startup:"


class _FirstPaint(QObject):
    """Calls ``callback`` once, from the event loop, after ``widget`` has received its first paint event."""

    def __init__(self, widget: QObject, callback: Callable[[], None]) -> None:
        super().__init__(widget)
        self._widget = widget
        self._callback = callback
        widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self._widget and event.type() == QEvent.Type.Paint:
            self._widget.removeEventFilter(self)
            # A zero timer: it runs once this paint (and the children's, and the flush) is done.
            QTimer.singleShot(0, self, self._callback)
        return False


def after_first_paint(widget: QObject, callback: Callable[[], None]) -> None:
    """Run ``callback`` once ``widget`` has painted its first frame (the filter is parented to ``widget``)."""
    _FirstPaint(widget, callback)


def trace_mode() -> str | None:
    """``None`` (no trace), ``"print"`` or ``"close"`` (print, then close the window after the first graph)."""
    value = os.environ.get(TRACE_ENV, "").strip().lower()
    if not value or value == "0":
        return None
    return "close" if value == "close" else "print"


def trace(event: str) -> None:
    print(f"{TRACE_PREFIX} {event} {time.monotonic():.6f}", file=sys.stderr, flush=True)


class StartupTrace(QObject):
    """Prints the start-up events of ``window`` (a MainWindow) as they happen; see the module docstring."""

    def __init__(self, window: Any, *, close_after_first_graph: bool) -> None:
        super().__init__(window)
        self._window = window
        self._close = close_after_first_graph
        after_first_paint(window, lambda: trace("window-shown"))
        window.catalogue_runner.result.connect(self._catalogue_arrived)
        window.analysis.result.connect(self._analysis_arrived)
        self._graph_seen = False

    def _catalogue_arrived(self, _catalogue: object) -> None:
        QTimer.singleShot(0, self, lambda: trace("catalogue"))  # once the list has been filled

    def _analysis_arrived(self, _summary: object) -> None:
        if not self._graph_seen:
            self._graph_seen = True
            after_first_paint(self._window.graph_view.viewport(), self._first_graph)

    def _first_graph(self) -> None:
        trace("first-graph")
        if self._close:
            self._window.close()
            trace("window-closed")
