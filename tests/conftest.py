"""Shared test setup. Qt runs offscreen: set before anything imports Qt."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Nothing downloads in tests: torch hub points at an empty, per-session cache.
os.environ.setdefault("TORCH_HOME", os.path.join(os.path.dirname(__file__), ".torch-home-unused"))


_exit_status = 0


def pytest_sessionfinish(session: object, exitstatus: int) -> None:
    global _exit_status
    _exit_status = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: object) -> None:
    """End the test process once pytest has reported, without the interpreter's teardown.

    With Qt (PySide6), PyTorch's CUDA build and pyqtgraph all loaded, CPython's finalisation
    occasionally crashed with SIGSEGV after every test had passed and the summary was printed
    (about 1 run in 3 here; no Python frame on any thread, so in the extensions' native teardown).
    That turned a green run red. The results are final by now: flush and leave with pytest's
    exit status. (This runs last: pytest-qt's own unconfigure and the reports come first.)
    """
    if os.environ.get("CNN_EXPLORER_TEST_FINALIZE"):  # set it to see the teardown, crash or not
        return
    import sys

    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(_exit_status)
