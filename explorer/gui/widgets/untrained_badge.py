"""The red "untrained weights" badge: one look wherever a view shows what random weights compute
(the classifier's columns and bars; the feature and explain panes use the same colours)."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QLabel, QWidget

BADGE_TEXT = "untrained weights"
BADGE_COLOUR = "#c62828"
#: Put before a weights picker's entry whose weights could not be had (seen even when the entry is cut).
FELL_BACK = "untrained in use ← "
BADGE_STYLE = f"QLabel {{ background: {BADGE_COLOUR}; color: white; border-radius: 4px; padding: 1px 6px; font-weight: bold; }}"


def untrained_badge(parent: QWidget | None = None) -> QLabel:
    """A hidden badge; ``show_untrained`` shows it with its reason, or hides it."""
    badge = QLabel(BADGE_TEXT, parent)
    badge.setStyleSheet(BADGE_STYLE)
    badge.setVisible(False)
    return badge


def show_untrained(badge: QLabel, reason: str | None) -> None:
    """Visible with ``reason`` as its tooltip when the weights are random; hidden otherwise."""
    badge.setVisible(reason is not None)
    badge.setToolTip(f"Random initialisation: {reason}. The predictions mean nothing." if reason else "")


def mark_fell_back(picker: QComboBox, used_key: str | None) -> None:
    """Clear earlier marks; mark the chosen entry when the weights in use (``used_key``) are not it.

    The choice itself is kept, so the next run (online, say) gets the weights asked for.
    """
    for index in range(picker.count()):
        picker.setItemText(index, picker.itemText(index).split(FELL_BACK)[-1])
    index = picker.currentIndex()
    if index >= 0 and used_key is not None and picker.currentData() != used_key:
        picker.setItemText(index, FELL_BACK + picker.itemText(index))
