"""Running a user's own model code (``path/to/file.py:factory``): a time limit, a way to stop it, no exits.

Opening a ``.py`` model runs its code, with the user's own rights: importing the file, calling
the factory, and every forward pass (tracing, classification, feature maps, export). That code
may loop forever or call ``sys.exit``; neither may hang or end the CLI or the GUI. Every such
call runs inside ``running_user_code``:

- a time limit (``set_time_limit``; the CLI's ``--timeout``, 60 s by default). In the main
  thread a ``SIGALRM`` timer raises inside the code, which also interrupts a ``sleep``; in a
  worker thread a watchdog raises in that thread with ``PyThreadState_SetAsyncExc`` (checked
  between bytecodes, so a pure-Python loop stops; a single long C call stops when it returns);
- ``interrupt(thread)``: the GUI's Cancel stops the code the same way;
- ``SystemExit`` (``sys.exit(7)`` in a factory) becomes an ``ExplorerError``.

The exception raised inside the code derives from ``BaseException``, so the user's ``except
Exception`` cannot swallow it; it is re-armed every second in case a bare ``except:`` does.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from explorer.core.errors import ExplorerError

DEFAULT_TIME_LIMIT_S = 60.0
#: How often a deadline that the code swallowed is raised again.
_REARM_S = 1.0

_time_limit_s: float | None = DEFAULT_TIME_LIMIT_S
#: The largest limit a timer takes (a week is 604,800 s; 1e300 overflowed the platform's time_t).
MAX_TIME_LIMIT_S = 10_000_000


class UserCodeTimeout(ExplorerError):
    """The user's model code did not finish within the time limit."""


class UserCodeStopped(ExplorerError):
    """The user's model code was stopped on request (the GUI's Cancel)."""


class _Deadline(BaseException):
    """Raised inside the user's code when its time is up (BaseException: ``except Exception`` cannot catch it)."""


class _Stop(BaseException):
    """Raised inside the user's code when it is interrupted."""


def set_time_limit(seconds: float | None) -> None:
    """The limit for each call into user code; ``None`` or 0: no limit."""
    global _time_limit_s
    if seconds is not None and math.isinf(seconds) and seconds > 0:
        seconds = None  # "inf": no limit, as 0 says
    if seconds is not None and not (0 <= seconds <= MAX_TIME_LIMIT_S):  # (NaN fails both)
        raise ExplorerError(
            f"The time limit must be positive and at most {MAX_TIME_LIMIT_S:,} s (or 0 for none), not {seconds:g}."
        )
    _time_limit_s = seconds or None


def time_limit() -> float | None:
    return _time_limit_s


@dataclass
class _Section:
    what: str
    thread_id: int
    main_thread: bool
    reason: type[BaseException] | None = None  # set when the watchdog or interrupt fires
    done: bool = False
    timers: list[threading.Timer] = field(default_factory=list)


_sections: dict[int, _Section] = {}
_lock = threading.Lock()


def _raise_in(thread_id: int, exception: type[BaseException] | None) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(exception) if exception else None)


def _fire(section: _Section, reason: type[BaseException]) -> None:
    """Raise ``reason`` in the section's thread, if it is still inside the user's code."""
    with _lock:
        if section.done:
            return
        section.reason = section.reason or reason
        if section.main_thread:
            signal.setitimer(signal.ITIMER_REAL, 1e-3)  # the handler raises; a sleep is interrupted too
        else:
            _raise_in(section.thread_id, section.reason)
        rearm = threading.Timer(_REARM_S, _fire, (section, section.reason))
        rearm.daemon = True
        section.timers.append(rearm)
        rearm.start()


def _alarm(_signum: int, _frame: object) -> None:
    section = _sections.get(threading.get_ident())
    if section is not None and not section.done:
        raise section.reason or _Deadline


def in_user_code(thread_id: int | None = None) -> bool:
    return (thread_id or threading.get_ident()) in _sections


def interrupt(thread_id: int) -> bool:
    """Stop the user code running in ``thread_id`` (the GUI's Cancel); False if none runs there."""
    section = _sections.get(thread_id)
    if section is None:
        return False
    _fire(section, _Stop)
    return True


@contextlib.contextmanager
def running_user_code(what: str) -> Iterator[None]:
    """Run the block as user code: time-limited, interruptible, ``sys.exit`` refused.

    ``what`` names it in messages ("the factory build() of net.py"). Nested sections run under
    the outermost one's limit.
    """
    thread_id = threading.get_ident()
    if thread_id in _sections:
        yield
        return
    main_thread = threading.current_thread() is threading.main_thread()
    limit = _time_limit_s
    section = _Section(what, thread_id, main_thread)
    previous_handler = None
    if main_thread:
        previous_handler = signal.signal(signal.SIGALRM, _alarm)
    with _lock:
        _sections[thread_id] = section
    if limit:
        watchdog = threading.Timer(limit, _fire, (section, _Deadline))
        watchdog.daemon = True
        section.timers.append(watchdog)
        watchdog.start()
    try:
        yield
    except _Deadline:
        raise UserCodeTimeout(
            f"{what} did not finish within {limit:g} s, so it was stopped.",
            hint="If it only needs longer, raise the limit with --timeout SECONDS (0: no limit).",
        ) from None
    except _Stop:
        raise UserCodeStopped(f"{what} was stopped.") from None
    except SystemExit as exit_:
        raise ExplorerError(
            f"{what} called sys.exit({exit_.code!r}); a model file must not end the program."
        ) from None
    finally:
        with _lock:
            section.done = True
            _sections.pop(thread_id, None)
            for timer in section.timers:
                timer.cancel()
            if main_thread:
                signal.setitimer(signal.ITIMER_REAL, 0)
            elif section.reason is not None:
                _raise_in(thread_id, None)  # a pending exception that has not been raised yet: drop it
        if main_thread and previous_handler is not None:
            signal.signal(signal.SIGALRM, previous_handler)


def is_user_reference(name: str) -> bool:
    """``path/to/file.py:factory``: a user's model file (checked without importing anything)."""
    path, sep, factory = name.rpartition(":")
    return bool(sep) and path.endswith(".py") and factory.isidentifier()


def guard(model: str, what: str) -> contextlib.AbstractContextManager[None]:
    """``running_user_code`` when ``model`` is a user's ``file.py:factory``, else nothing."""
    if is_user_reference(model):
        return running_user_code(f"{what} of {model}")
    return contextlib.nullcontext()
