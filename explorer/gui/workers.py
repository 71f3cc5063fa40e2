"""One worker pattern for every long job: superqt's thread workers, behind the app's ``TaskRunner``.

superqt (``superqt.utils.create_worker``, the pattern napari uses) runs each job as a
``QRunnable`` on the global ``QThreadPool``, keeps its signals on a separate ``QObject`` and checks
a generator job for an abort between yields. ``TaskRunner`` adds what every view here needs,
after Orange3's ``ConcurrentMixin``: one kind of job at a time, where a new request cancels the
one still running and results of superseded requests are dropped, so a view only ever sees the
answer to its latest question.

What ``TaskRunner`` adds to superqt's workers, and why:

- a job may be a plain function, a generator function, or a function that *returns* a generator
  (``jobs.py`` has all three); all run as one ``GeneratorWorker`` over ``_job_steps``;
- a cancelled generator is *closed* in its worker thread, so its ``finally`` blocks (an export's
  staging folder, a download's partial file) run at once, not whenever it is garbage-collected;
- a job that raises ``RuntimeError`` (torch's errors are) is still reported: superqt treats a
  returned ``RuntimeError`` as "the worker was deleted" and would neither report nor finish;
- cancelling also stops a user model's own code that never returns (``usercode.interrupt``);
- each worker's Python object stays referenced from the GUI thread until its ``finished`` has
  arrived, and then a while longer (``_RETIRED``), so the last reference is never dropped on the
  pool thread while it is still returning from ``run`` (superqt's ``_worker_set`` keeps it too).
"""

from __future__ import annotations

import inspect
import os
import threading
from collections import deque
from collections.abc import Callable, Generator
from functools import partial
from typing import Any

os.environ.setdefault("QT_API", "pyside6")  # superqt goes through qtpy: never let it pick another binding

from PySide6.QtCore import QObject, QThreadPool, Signal  # noqa: E402
from superqt.utils import GeneratorWorker  # noqa: E402

#: Finished workers kept referenced from the GUI thread (see the module docstring).
_RETIRED = 16


class JobFailed(Exception):
    """Carries a job's exception through superqt, which would swallow a RuntimeError."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


class Worker(GeneratorWorker):
    """superqt's GeneratorWorker, closing its generator when it is cancelled.

    ``thread_id`` is the pool thread running it (for ``usercode.interrupt``), once it has started.
    """

    def __init__(self, job: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        super().__init__(_job_steps, self, job, args, kwargs)
        self.thread_id: int | None = None  # set while the job runs

    @property
    def cancelled(self) -> bool:
        return self.abort_requested

    def cancel(self) -> None:
        self.quit()
        thread_id = self.thread_id
        if thread_id is not None:
            from explorer.core.usercode import interrupt

            interrupt(thread_id)

    def work(self) -> Any:
        try:
            return super().work()
        finally:
            if self.abort_requested:
                self._gen.close()  # runs the job's finally blocks now, in this thread
            self._gen = None  # the job's frames (and what they hold) go with the run, not with the wrapper


def _job_steps(
    worker: Worker, job: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Generator[Any, None, Any]:
    """Run ``job``; drain it if it is (or returns) a generator. Its exceptions travel as ``JobFailed``.

    Any ``BaseException`` but ``GeneratorExit`` is reported: one escaping superqt's ``run`` would
    leave the worker without its ``finished`` signal, and its runner busy for ever.
    """
    worker.thread_id = threading.get_ident()
    try:
        value = job(*args, **kwargs)
        if inspect.isgenerator(value):
            value = yield from value
        return value
    except GeneratorExit:
        raise
    except BaseException as error:
        if not isinstance(error, Exception):  # the time limit or a Cancel reaching past user code
            from explorer.core.usercode import UserCodeStopped

            error = UserCodeStopped(f"The job was stopped ({type(error).__name__.strip('_').lower()}).")
        raise JobFailed(error) from error
    finally:
        worker.thread_id = None


class TaskRunner(QObject):
    """Runs one kind of job at a time: a new request cancels the one still running.

    Stale results (from a request that was superseded) are dropped, so views only ever see
    the answer to the latest question. Signals arrive in the GUI thread: ``started`` when a job
    is submitted, ``progress`` with whatever it yields, then ``result`` (its return value) or
    ``error`` (its exception), and ``idle`` once no job of this runner is left running.
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
        self._running: dict[int, Worker] = {}
        self._retired: deque[Worker] = deque(maxlen=_RETIRED)
        self._next_token = 0

    @property
    def busy(self) -> bool:
        return bool(self._running)

    def submit(self, job: Callable[..., Any], *args: Any, **kwargs: Any) -> Worker:
        if self._current is not None:
            self._current.cancel()
        worker = Worker(job, *args, **kwargs)
        token = self._next_token = self._next_token + 1
        self._current = worker
        self._running[token] = worker
        # Bound methods and a token, not lambdas capturing the worker: the connections must not
        # keep the worker alive in a cycle through Qt that Python's collector cannot see.
        worker.yielded.connect(partial(self._forward, token, self.progress))
        worker.returned.connect(partial(self._forward, token, self.result))
        worker.errored.connect(partial(self._failed, token))
        worker.finished.connect(partial(self._finished, token))
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

    def _live(self, token: int) -> Worker | None:
        worker = self._running.get(token)
        if worker is None or worker is not self._current or worker.cancelled:
            return None
        return worker

    def _forward(self, token: int, signal: Any, value: object) -> None:
        if self._live(token) is not None:
            signal.emit(value)

    def _failed(self, token: int, error: BaseException) -> None:
        if self._live(token) is not None:
            self.error.emit(error.error if isinstance(error, JobFailed) else error)

    def _finished(self, token: int) -> None:
        worker = self._running.pop(token, None)
        if worker is not None:
            self._retired.append(worker)
        if worker is not None and worker is self._current:
            self._current = None
        if not self._running:
            self.idle.emit()
