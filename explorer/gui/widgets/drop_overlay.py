"""The window's one drop target: a drag of files or an image anywhere over the window shows what a
drop will do ("Drop to classify"), and the drop goes where the current view says.

Qt hands a drag to the deepest widget that accepts drops, and many do on their own (every
QGraphicsView's viewport, the graph's and pyqtgraph's, and line edits): a drop there never
reached the window. So the filter sits on the window's ``QWindow``, where the platform's drag
events arrive before Qt picks a widget, and answers them itself; no widget below ever sees them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QEvent, QMimeData, QObject, QRect, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPalette, QPen
from PySide6.QtWidgets import QWidget

_DRAG_EVENTS = (QEvent.Type.DragEnter, QEvent.Type.DragMove, QEvent.Type.DragLeave, QEvent.Type.Drop)


def carries_images(mime: QMimeData | None) -> bool:
    """What a drop may hold: local files or folders, or raw image data (a browser's picture)."""
    if mime is None:
        return False
    return mime.hasImage() or any(url.isLocalFile() for url in mime.urls())


class DropOverlay(QWidget):
    """A translucent sheet over the whole window with one line saying what a drop does.

    ``describe()`` gives that line for the view on screen; ``deliver(mime)`` handles the drop.
    The overlay never takes mouse events: it only paints while a drag is over the window.
    """

    def __init__(self, window: QWidget, describe: Callable[[], str], deliver: Callable[[QMimeData], None]) -> None:
        super().__init__(window)
        self._describe, self._deliver = describe, deliver
        self.text = ""
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setAttribute(Qt.WidgetAttribute.WA_NoSystemBackground)
        self.hide()
        window.installEventFilter(self)  # follows the window's size
        self._watched: QObject | None = None

    def watch(self, handle: QObject | None) -> None:
        """Filter the drag events of the window's ``QWindow`` (it exists once the window is shown)."""
        if handle is None or handle is self._watched:
            return
        if self._watched is not None:
            self._watched.removeEventFilter(self)
        self._watched = handle
        handle.installEventFilter(self)

    # --- the drag ---

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if watched is self.parent():
            if kind == QEvent.Type.Resize:
                self.setGeometry(self.parent().rect())  # type: ignore[attr-defined]
            return False
        if kind not in _DRAG_EVENTS:
            return False
        return self.handle(event)

    def handle(self, event: Any) -> bool:
        """Answer one drag event (DragEnter/Move/Leave/Drop); True when it was ours."""
        kind = event.type()
        if kind == QEvent.Type.DragLeave:
            self.hide()
            return True
        if not carries_images(event.mimeData()):
            return False  # text dragged inside the window, say: Qt's own handling
        if kind == QEvent.Type.Drop:
            self.hide()
            event.acceptProposedAction()
            self._deliver(event.mimeData())
            return True
        if kind == QEvent.Type.DragEnter or not self.isVisible():
            self.show_text(self._describe())
        event.acceptProposedAction()
        return True

    def show_text(self, text: str) -> None:
        self.text = text
        self.setGeometry(self.parent().rect())  # type: ignore[attr-defined]
        self.raise_()
        self.show()
        self.update()

    def paintEvent(self, _event: Any) -> None:
        painter = QPainter(self)
        palette = self.palette()
        highlight = palette.color(QPalette.ColorRole.Highlight)
        veil = QColor(palette.color(QPalette.ColorRole.Window))
        veil.setAlpha(200)
        painter.fillRect(self.rect(), veil)
        painter.setPen(QPen(highlight, 4, Qt.PenStyle.DashLine))
        painter.drawRoundedRect(self.rect().adjusted(12, 12, -12, -12), 16, 16)
        font = QFont(self.font())
        font.setPointSizeF(font.pointSizeF() * 2.2)
        font.setBold(True)
        painter.setFont(font)
        painter.setPen(palette.color(QPalette.ColorRole.WindowText))
        painter.drawText(QRect(self.rect()), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.text)
        painter.end()
