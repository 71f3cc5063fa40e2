"""One worker pattern for every long job: a QRunnable on the global QThreadPool.

After superqt's ``_qthreading`` (signals live on a separate QObject; a generator job is
checked for an abort between yields) and Orange3's ``ConcurrentMixin`` (a new request cancels
the one still running). Results arrive in the GUI thread through queued signals.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Generator
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal


class WorkerSignals(QObject):
    progress = Signal(object)  # whatever the job yields
    result = Signal(object)  # what the job returns
    error = Signal(object)  # the exception it raised
    finished = Signal()  # always last, cancelled or not


class Cancelled(Exception):
    """Raised inside a job (via ``Worker.check``) when it has been cancelled."""


class Worker(QRunnable):
    """Runs ``job(*args, **kwargs)``; a generator job reports progress and can be cancelled.

    Lifetimes are kept on the right threads (a pool thread must never delete a QObject or the
    runnable it is running): the pool deletes the runnable after ``run`` returns (auto-delete,
    so Qt owns it once started), and ``signals`` belongs to the caller's thread; the
    ``TaskRunner`` parents it and deletes it there once ``finished`` has arrived.
    """

    def __init__(self, job: Callable[..., Any], *args: Any, signals: WorkerSignals | None = None, **kwargs: Any) -> None:
        super().__init__()
        self.signals = signals if signals is not None else WorkerSignals()
        self._job, self._args, self._kwargs = job, args, kwargs
        self._abort = threading.Event()

    @property
    def cancelled(self) -> bool:
        return self._abort.is_set()

    def cancel(self) -> None:
        self._abort.set()

    def run(self) -> None:
        try:
            value = self._job(*self._args, **self._kwargs)
            if inspect.isgenerator(value):
                value = self._drain(value)
            if not self.cancelled:
                self._emit(self.signals.result, value)
        except Cancelled:
            pass
        except Exception as error:  # reported to the GUI, which shows it inline
            if not self.cancelled:
                self._emit(self.signals.error, error)
        finally:
            self._job = self._args = self._kwargs = None  # released here, not when Qt deletes the runnable
            self._emit(self.signals.finished)

    @staticmethod
    def _emit(signal: Any, *value: Any) -> None:
        try:
            signal.emit(*value)
        except RuntimeError:  # the receiver's side was deleted (the window closed): nobody to tell
            pass

    def _drain(self, generator: Generator[Any, None, Any]) -> Any:
        try:
            while True:
                if self.cancelled:
                    generator.close()
                    raise Cancelled
                self._emit(self.signals.progress, next(generator))
        except StopIteration as stop:
            return stop.value


class TaskRunner(QObject):
    """Runs one kind of job at a time: a new request cancels the one still running.

    Stale results (from a request that was superseded) are dropped, so views only ever see
    the answer to the latest question.
    """

    started = Signal()
    progress = Signal(object)
    result = Signal(object)
    error = Signal(object)
    idle = Signal()

    def __init__(self, parent: QObject | None = None, pool: QThreadPool | None = None) -> None:
        super().__init__(parent)
        self._pool = pool or QThreadPool.globalInstance()
        self._current: Worker | None = None
        self._running: set[Worker] = set()

    @property
    def busy(self) -> bool:
        return bool(self._running)

    def submit(self, job: Callable[..., Any], *args: Any, **kwargs: Any) -> Worker:
        if self._current is not None:
            self._current.cancel()
        worker = Worker(job, *args, signals=WorkerSignals(self), **kwargs)
        self._current = worker
        self._running.add(worker)
        worker.signals.progress.connect(lambda value, w=worker: self._forward(w, self.progress, value))
        worker.signals.result.connect(lambda value, w=worker: self._forward(w, self.result, value))
        worker.signals.error.connect(lambda error, w=worker: self._forward(w, self.error, error))
        worker.signals.finished.connect(lambda w=worker: self._finished(w))
        self.started.emit()
        self._pool.start(worker)
        return worker

    def cancel(self) -> None:
        if self._current is not None:
            self._current.cancel()
            self._current = None

    def wait(self, msecs: int = -1) -> bool:
        """Block until the pool is idle (tests, screenshot mode and shutdown only)."""
        return self._pool.waitForDone(msecs)

    def _forward(self, worker: Worker, signal: Signal, value: object) -> None:
        if worker is self._current and not worker.cancelled:
            signal.emit(value)

    def _finished(self, worker: Worker) -> None:
        self._running.discard(worker)
        worker.signals.deleteLater()  # in this thread, after the queued signals already delivered
        if worker is self._current:
            self._current = None
        if not self._running:
            self.idle.emit()
