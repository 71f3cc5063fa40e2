"""Where the file dialogs open: the folder last used for that kind of file, remembered across starts.

Qt's static dialogs open in the process's working directory when given no folder, which for a
desktop app is wherever it was started from (often ``/`` or the home folder's clutter). Each kind
of file (photos, weights, exports…) remembers its own last folder in the window's settings; before
the first use a kind opens in the matching standard folder (Pictures, Documents), or the home folder.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, QStandardPaths
from PySide6.QtWidgets import QFileDialog, QWidget

#: kind → the standard folder it starts in before its first use
_STARTS = {
    "images": QStandardPaths.StandardLocation.PicturesLocation,
    "weights": QStandardPaths.StandardLocation.DownloadLocation,
    "models": QStandardPaths.StandardLocation.DocumentsLocation,
    "exports": QStandardPaths.StandardLocation.DocumentsLocation,
    "edits": QStandardPaths.StandardLocation.DocumentsLocation,
}
_KEY = "dialogs/folder/{}"
_settings: QSettings | None = None
_last: dict[str, str] = {}  # this run's folders, when no settings were given (tests, screenshot mode)


def use_settings(settings: QSettings | None) -> None:
    """Remember the folders in ``settings`` (the main window's), so they survive a restart."""
    global _settings
    _settings = settings


def folder(kind: str, first: str | Path | None = None) -> str:
    """The folder a ``kind`` dialog opens in: the last one used, if it still exists, else ``first``
    (the bundled photos for a first photo, say), else a standard one."""
    remembered = _settings.value(_KEY.format(kind)) if _settings is not None else _last.get(kind)
    if remembered and Path(str(remembered)).is_dir():
        return str(remembered)
    if first is not None and Path(first).is_dir():
        return str(first)
    location = _STARTS.get(kind)
    standard = QStandardPaths.writableLocation(location) if location is not None else ""
    return standard if standard and Path(standard).is_dir() else str(Path.home())


def remember(kind: str, path: str | Path) -> None:
    """``path``'s folder (or ``path``, a folder) becomes where the next ``kind`` dialog opens."""
    chosen = Path(path)
    where = str(chosen if chosen.is_dir() else chosen.parent)
    if _settings is not None:
        _settings.setValue(_KEY.format(kind), where)
    else:
        _last[kind] = where


def open_file(parent: QWidget | None, caption: str, kind: str, name_filter: str, *, first: str | Path | None = None) -> str:
    path, _ = QFileDialog.getOpenFileName(parent, caption, folder(kind, first), name_filter)
    if path:
        remember(kind, path)
    return path


def open_files(parent: QWidget | None, caption: str, kind: str, name_filter: str) -> list[str]:
    paths, _ = QFileDialog.getOpenFileNames(parent, caption, folder(kind), name_filter)
    if paths:
        remember(kind, paths[0])
    return list(paths)


def save_file(parent: QWidget | None, caption: str, kind: str, file_name: str, name_filter: str) -> tuple[str, str]:
    """(path, chosen filter); the dialog suggests ``file_name`` in the kind's folder."""
    path, chosen = QFileDialog.getSaveFileName(parent, caption, str(Path(folder(kind)) / file_name), name_filter)
    if path:
        remember(kind, path)
    return path, chosen


def choose_folder(parent: QWidget | None, caption: str, kind: str, start: str = "") -> str:
    chosen = QFileDialog.getExistingDirectory(parent, caption, start or folder(kind))
    if chosen:
        remember(kind, chosen)
    return chosen
