"""The one exception type for errors a user can cause."""

from __future__ import annotations


class ExplorerError(Exception):
    """A problem the user can fix: a bad name, file, shape or weights file.

    The CLI prints ``str(error)`` without a traceback and exits with ``exit_code``;
    the GUI shows it inline and keeps running.
    """

    exit_code: int = 2

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint

    def __str__(self) -> str:
        message = super().__str__()
        return f"{message}\n{self.hint}" if self.hint else message
