"""The installed Qt binding does not corrupt Python's reference counts (the crash the test run used to hide).

PySide6 6.12.0 drops one reference to ``True`` for every signal delivered to a Python slot. On
Python 3.11, where ``True`` is an ordinary object (immortal only from 3.12), a session of signals
brings its count to zero and the interpreter aborts ("Fatal Python error: bool_dealloc"), in the
middle of a run or at its end. pyproject.toml excludes that release; this test fails on any
binding that does it.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal

EMITS = 2_000


class _Emitter(QObject):
    flag = Signal(bool)
    nothing = Signal()


class _Receiver(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def on_signal(self, *_args: object) -> None:
        self.calls += 1


def test_signals_delivered_to_python_slots_keep_the_bool_reference_counts(qapp: object) -> None:
    emitter, receiver = _Emitter(), _Receiver()
    emitter.flag.connect(receiver.on_signal)
    emitter.nothing.connect(lambda: receiver.on_signal())
    before = sys.getrefcount(True), sys.getrefcount(False)
    for _ in range(EMITS):
        emitter.flag.emit(True)
        emitter.flag.emit(False)
        emitter.nothing.emit()
    after = sys.getrefcount(True), sys.getrefcount(False)
    assert receiver.calls == 3 * EMITS
    # A handful of references may come and go elsewhere; a leak loses one per signal (thousands).
    assert abs(after[0] - before[0]) < 50 and abs(after[1] - before[1]) < 50, (before, after)
