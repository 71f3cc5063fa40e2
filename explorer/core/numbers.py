"""Number texts shared by the CLI and the GUI (no torch: the GUI's widgets import this before it loads)."""

from __future__ import annotations


def ratio_text(value: float | None, digits: int = 3) -> str:
    """``0.943×`` at ``digits`` significant digits, more where a ratio that is not 1 would read as
    ``1×`` (``0.9998×``: an edit that saved 13,824 of 61 M parameters); ``—`` when undefined."""
    if value is None:
        return "—"
    if value >= 100:
        return f"{value:,.0f}×"
    text = f"{value:.{digits}g}"
    while value != 1 and float(text) == 1 and digits < 9:
        digits += 1
        text = f"{value:.{digits}g}"
    return f"{text}×"
