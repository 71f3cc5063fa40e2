"""TaskRunner on superqt's workers: the API every view uses, cancellation, stale results, lifetimes."""

from __future__ import annotations

import threading
import time
from collections.abc import Generator

import pytest
from PySide6.QtWidgets import QApplication

from explorer.core.usercode import UserCodeStopped, running_user_code
from explorer.gui.workers import _RETIRED, TaskRunner, Worker


def _collect(runner: TaskRunner) -> dict[str, list[object]]:
    seen: dict[str, list[object]] = {"started": [], "progress": [], "result": [], "error": [], "idle": []}
    runner.started.connect(lambda: seen["started"].append(True))
    runner.progress.connect(seen["progress"].append)
    runner.result.connect(seen["result"].append)
    runner.error.connect(seen["error"].append)
    runner.idle.connect(lambda: seen["idle"].append(True))
    return seen


def _settle(runner: TaskRunner, qtbot: object, timeout_ms: int = 30_000) -> None:
    qtbot.waitUntil(lambda: not runner.busy, timeout=timeout_ms)  # type: ignore[attr-defined]
    QApplication.processEvents()


def steps(count: int) -> Generator[int, None, str]:
    for index in range(count):
        yield index
    return f"{count} steps"


def test_a_generator_job_reports_progress_then_its_result(qtbot: object) -> None:
    runner = TaskRunner()
    seen = _collect(runner)
    worker = runner.submit(steps, 3)
    assert isinstance(worker, Worker) and runner.busy
    _settle(runner, qtbot)
    assert seen["progress"] == [0, 1, 2] and seen["result"] == ["3 steps"]
    assert seen["started"] == [True] and seen["idle"] == [True] and seen["error"] == []


def test_plain_functions_and_functions_returning_generators(qtbot: object) -> None:
    runner = TaskRunner()
    seen = _collect(runner)
    runner.submit(lambda a, b: a + b, 2, 3)
    _settle(runner, qtbot)
    runner.submit(lambda: steps(2))
    _settle(runner, qtbot)
    assert seen["result"] == [5, "2 steps"] and seen["progress"] == [0, 1]


def test_errors_arrive_as_the_jobs_own_exception_runtime_errors_too(qtbot: object) -> None:
    """superqt would swallow a RuntimeError (it takes one for "the worker was deleted")."""

    def fails() -> None:
        raise RuntimeError("Expected 2D (unbatched) or 3D (batched) input to conv1d")

    runner = TaskRunner()
    seen = _collect(runner)
    runner.submit(fails)
    _settle(runner, qtbot)
    (error,) = seen["error"]
    assert isinstance(error, RuntimeError) and "conv1d" in str(error)
    assert seen["idle"] == [True] and not runner.busy


def test_a_new_request_cancels_the_old_one_and_its_finally_runs_at_once(qtbot: object) -> None:
    cleaned = threading.Event()
    release = threading.Event()

    def slow() -> Generator[str, None, str]:
        try:
            yield "started"
            while not release.wait(0.01):
                yield "working"
            return "stale"
        finally:
            cleaned.set()  # an export's staging folder is removed here

    runner = TaskRunner()
    seen = _collect(runner)
    runner.submit(slow)
    qtbot.waitUntil(lambda: "started" in seen["progress"], timeout=30_000)  # type: ignore[attr-defined]
    runner.submit(steps, 1)
    assert cleaned.wait(30), "the cancelled generator was closed in its worker"
    release.set()
    _settle(runner, qtbot)
    assert seen["result"] == ["1 steps"]  # never "stale"


def test_cancel_drops_the_result(qtbot: object) -> None:
    gate = threading.Event()
    runner = TaskRunner()
    seen = _collect(runner)
    runner.submit(lambda: gate.wait(30) and "late")
    runner.cancel()
    gate.set()
    _settle(runner, qtbot)
    assert seen["result"] == [] and seen["idle"] == [True]


def test_cancel_stops_user_code_that_never_returns(qtbot: object) -> None:
    entered = threading.Event()

    def user_model_forward() -> None:
        with running_user_code("the forward pass of loop.py:build"):
            entered.set()
            while True:
                pass

    runner = TaskRunner()
    seen = _collect(runner)
    runner.submit(user_model_forward)
    assert entered.wait(30)
    runner.cancel()
    _settle(runner, qtbot)  # the pool thread is free again: the loop was interrupted
    assert seen["result"] == [] and seen["error"] == []  # cancelled: nothing stale is shown


def test_an_interrupted_job_reports_when_it_is_still_current(qtbot: object) -> None:
    entered = threading.Event()

    def loop() -> None:
        with running_user_code("loop.py:build"):
            entered.set()
            while True:
                pass

    runner = TaskRunner()
    seen = _collect(runner)
    worker = runner.submit(loop)
    assert entered.wait(30)
    from explorer.core.usercode import interrupt

    assert interrupt(worker.thread_id)  # the time limit's way: the job is not cancelled, it fails
    _settle(runner, qtbot)
    (error,) = seen["error"]
    assert isinstance(error, UserCodeStopped)


def test_the_runner_keeps_only_its_last_workers(qtbot: object) -> None:
    """The runner's own references are bounded: running ones, then the last _RETIRED finished ones.

    (Qt's pool may keep a Python reference to some runnables it has run; PySide's ownership
    tracking of QThreadPool.start, outside the runner, is why this does not count live objects.)
    """
    runner = TaskRunner()
    jobs = 64
    for _ in range(jobs):
        runner.submit(steps, 2)
        _settle(runner, qtbot)
    assert runner._running == {} and runner._current is None
    assert len(runner._retired) == _RETIRED


@pytest.mark.parametrize("jobs", [25])
def test_a_storm_of_requests_ends_with_the_last_answer(qtbot: object, jobs: int) -> None:
    runner = TaskRunner()
    seen = _collect(runner)
    for index in range(jobs):
        runner.submit(lambda i=index: (time.sleep(0.002), i)[1])
    _settle(runner, qtbot, 60_000)
    assert seen["result"] == [jobs - 1]
