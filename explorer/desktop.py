"""``cnn-explorer --install-desktop-entry``: the app in the desktop's menu, for this user only.

Follows the XDG specifications with user-level paths under ``$XDG_DATA_HOME`` (default
``~/.local/share``): the desktop entry in ``applications/``, the icon in the ``hicolor`` theme
(SVG and every PNG size) and the AppStream metadata in ``metainfo/``, all named by the app's
reverse-DNS id. The templates are bundled files (``resources/desktop``); the entry's ``Exec``
is rewritten to this installation's own ``cnn-explorer``, so it works from a virtual
environment that is not on the desktop session's PATH. No root, nothing outside the user's home.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from explorer.core.paths import atomic_write
from explorer.core.samples import resource_file, resources_folder

APP_ID = "io.github.cnnexplorer.CnnExplorer"
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
_PNG_NAME = re.compile(r"^cnn-explorer-(\d+)\.png$")


def data_home() -> Path:
    """``$XDG_DATA_HOME``, or ``~/.local/share`` when it is unset or not absolute (as the spec says)."""
    value = os.environ.get("XDG_DATA_HOME", "")
    return Path(value) if value and os.path.isabs(value) else Path.home() / ".local" / "share"


def launcher_command() -> list[str]:
    """How the desktop should start this installation: its own console script, else ``python -m explorer``."""
    script = Path(sys.executable).with_name("cnn-explorer")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script), "gui"]
    found = shutil.which("cnn-explorer")
    if found:
        return [found, "gui"]
    return [sys.executable, "-m", "explorer", "gui"]


def _exec_quote(argument: str) -> str:
    """One argument of a desktop entry's Exec key (Desktop Entry Specification, "The Exec key")."""
    if not re.search(r'[\s"\'\\><~|&;$*?#()`]', argument):
        return argument
    escaped = re.sub(r'(["`$\\])', r"\\\1", argument)
    return f'"{escaped}"'.replace("\\", "\\\\")  # the value itself is a string: backslashes doubled again


def desktop_entry_text() -> str:
    template = resource_file(f"desktop/{APP_ID}.desktop").read_text(encoding="utf-8")
    command = " ".join(_exec_quote(part) for part in launcher_command())
    return re.sub(r"^Exec=.*$", f"Exec={command}", template, count=1, flags=re.MULTILINE)


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as staged:
        staged.write_bytes(data)
    return path


def install_desktop_entry(target: Path | None = None) -> list[Path]:
    """Write the entry, the icons and the metadata under ``target`` (default ``data_home()``)."""
    root = target or data_home()
    written = [
        _write(root / "applications" / f"{APP_ID}.desktop", desktop_entry_text().encode("utf-8")),
        _write(root / "metainfo" / f"{APP_ID}.metainfo.xml", resource_file(f"desktop/{APP_ID}.metainfo.xml").read_bytes()),
        _write(root / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg", resource_file("icons/cnn-explorer.svg").read_bytes()),
    ]
    for png in sorted((resources_folder() / "icons").glob("cnn-explorer-*.png")):
        match = _PNG_NAME.match(png.name)
        if match:
            size = match.group(1)
            written.append(_write(root / "icons" / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png", png.read_bytes()))
    _refresh_caches(root)
    return written


def _refresh_caches(root: Path) -> None:
    """Best effort: desktops pick the entry up by themselves, these only make it immediate."""
    for command in (
        ["update-desktop-database", "-q", str(root / "applications")],
        ["gtk-update-icon-cache", "-q", "-t", "-f", str(root / "icons" / "hicolor")],
    ):
        if shutil.which(command[0]):
            subprocess.run(command, check=False, capture_output=True, timeout=30)
