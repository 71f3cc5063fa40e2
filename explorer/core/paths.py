"""Output folders and files: checked before any work, written atomically, leftovers of killed runs removed.

Every file the project writes for the user (feature-map PNGs, screenshots, ONNX exports, tables,
graph images, downloads) goes through ``atomic_write``: the data lands in a hidden staging file
beside the target and is renamed over it only when complete, so an error, a cancel, a full disk
or a signal leaves either the old file or nothing, never a partial one. Staging names carry the
writer's process id, so ``remove_stale_staging`` can tell the leftovers of a killed run (its
process is gone, or the file is old) from the work of a run still going on in parallel.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from explorer.core.errors import ExplorerError

if TYPE_CHECKING:
    from PIL import Image

#: Staging entries (files and folders) of the project's own writers: ``.NAME.cnn-explorer-PID-RANDOM``.
STAGING_MARK = "cnn-explorer"
_STAGING_NAME = re.compile(rf"^\..+\.{STAGING_MARK}-(?P<pid>\d+)-[A-Za-z0-9_]*(?:\.partial(?:\.\w+)?)?$")
#: A staging entry older than this is stale even if a process with its id runs (ids get reused).
STALE_AFTER_S = 6 * 3600.0


class OutputError(ExplorerError):
    """An output path that cannot be written: missing, not a folder, read-only, disk full."""


def _reason(error: OSError) -> str:
    return error.strerror or str(error)


def check_output_folder(folder: str | os.PathLike[str], *, option: str = "--out") -> Path:
    """The folder must exist and take a file: say so clearly otherwise (exit code 2)."""
    path = Path(folder).expanduser()
    try:
        exists, is_dir = path.exists(), path.is_dir()
    except OSError as error:  # a path component that is a file, a name too long…
        raise OutputError(f"Output folder {path} cannot be used: {_reason(error)}.") from None
    if not exists:
        blocking = next((parent for parent in path.parents if parent.exists()), None)
        if blocking is not None and not blocking.is_dir():
            raise OutputError(f"Output folder {path} cannot be used: {blocking} is a file.")
        raise OutputError(f"Output folder {path} does not exist.", hint=f"Create it first, or choose another {option}.")
    if not is_dir:
        raise OutputError(f"Output folder {path} is a file, not a folder.")
    try:
        # A real write, not os.access: root passes access checks on read-only folders.
        with tempfile.NamedTemporaryFile(dir=path, prefix=f".probe.{STAGING_MARK}-{os.getpid()}-"):
            pass
    except OSError as error:
        raise OutputError(f"Output folder {path} is not writable: {_reason(error)}.") from None
    return path


def prepare_output_folder(folder: str | os.PathLike[str], *, option: str = "--out") -> Path:
    """``check_output_folder``, creating the folder first when only its last part is missing.

    One new folder is fine; a missing parent is more likely a typo, and is reported.
    """
    path = Path(folder).expanduser()
    try:
        if not path.exists() and path.parent.is_dir():
            path.mkdir()
    except FileExistsError:
        pass  # made by a parallel run in the meantime
    except OSError as error:
        raise OutputError(f"Cannot create the output folder {path}: {_reason(error)}.") from None
    return check_output_folder(path, option=option)


def check_output_file(path: str | os.PathLike[str]) -> Path:
    """A file to be written: its folder must exist and be writable, and it must not be a folder."""
    target = Path(path).expanduser()
    if target.is_dir():
        raise OutputError(f"{target} is a folder; give a file name.")
    check_output_folder(target.parent if str(target.parent) else Path("."), option="path")
    return target


def check_image_output(path: str | os.PathLike[str]) -> Path:
    """``--out FILE.png``: ``check_output_file``, and a name whose suffix Pillow can write (before any work)."""
    from PIL import Image

    target = check_output_file(path)
    if target.suffix.lower() not in Image.registered_extensions():
        raise OutputError(f"Cannot write {target}: unknown image format {target.suffix or '(no suffix)'!r}; use a .png name.")
    return target


def save_image(picture: Image.Image, path: str | os.PathLike[str]) -> Path:
    """Write a Pillow image through ``atomic_write`` (the format from the name's suffix)."""
    from PIL import Image

    target = Path(path).expanduser()
    with atomic_write(target) as staged:
        try:
            picture.save(staged, format=Image.registered_extensions()[target.suffix.lower()])
        except (KeyError, ValueError) as error:
            raise OutputError(f"Cannot write {target}: {error}.") from None
    return target


def staging_name(target_name: str, *, suffix: str = "") -> str:
    """``.NAME.cnn-explorer-PID-`` — the prefix of a staging entry for ``target_name``."""
    return f".{target_name}.{STAGING_MARK}-{os.getpid()}-{suffix}"


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a staging path beside ``path``; rename it over ``path`` only if the block succeeds.

    Writers that want a file name (Pillow, Qt, onnx) write to the yielded path. On any error
    (a full disk, a cancel, SIGINT/SIGTERM) the staging file is removed and an existing
    ``path`` is left as it was. OSErrors become one-line ``OutputError`` messages.
    """
    target = Path(path).expanduser()
    folder = target.parent if str(target.parent) else Path(".")
    try:
        # The target's suffix last, so writers that pick the format by it (Pillow, Qt) still do.
        handle, staged_name = tempfile.mkstemp(
            dir=folder, prefix=staging_name(target.name), suffix=f".partial{target.suffix}"
        )
    except OSError as error:
        raise OutputError(f"Cannot write {target}: {_reason(error)}.") from None
    os.close(handle)
    staged = Path(staged_name)
    with contextlib.suppress(OSError):
        os.chmod(staged, 0o666 & ~_umask())  # mkstemp makes it 0600; the result gets the usual mode
    try:
        yield staged
        if not staged.exists() or staged.stat().st_size == 0:
            raise OutputError(f"Cannot write {target}: nothing was written.")
        _fsync(staged)
        os.replace(staged, target)
    except OSError as error:
        raise OutputError(f"Cannot write {target}: {_reason(error)}.") from None
    finally:
        with contextlib.suppress(OSError):
            staged.unlink()


def _umask() -> int:
    try:  # reading it without setting it (os.umask would race with other threads)
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def _fsync(path: Path) -> None:
    # Renaming before the data reaches the disk could leave a complete name over empty blocks
    # after a power cut; the rename itself is atomic.
    with contextlib.suppress(OSError), open(path, "rb") as handle:
        os.fsync(handle.fileno())


@contextlib.contextmanager
def staging_folder(folder: Path, name: str) -> Iterator[Path]:
    """A hidden folder beside the targets (``.NAME.cnn-explorer-PID-…``), removed whatever happens."""
    remove_stale_staging(folder)
    try:
        staging = Path(tempfile.mkdtemp(dir=folder, prefix=staging_name(name)))
    except OSError as error:
        raise OutputError(f"Cannot write into {folder}: {_reason(error)}.") from None
    try:
        yield staging
    finally:
        # A writer interrupted by SIGTERM may still be closing a file in it when the first removal
        # runs (the folder then stays, non-empty): try again briefly until it is gone.
        for _ in range(10):
            shutil.rmtree(staging, ignore_errors=True)
            if not staging.exists():
                break
            time.sleep(0.05)


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    except OSError:
        return False
    return True


def remove_stale_staging(folder: str | os.PathLike[str], *, now: float | None = None) -> list[Path]:
    """Remove the project's own staging entries in ``folder`` left by runs that were killed.

    An entry is stale when its name is the project's staging pattern and either the process
    that made it is gone or it is older than ``STALE_AFTER_S``; entries of live runs (another
    export going on in parallel) are kept. Returns what was removed.
    """
    now = time.time() if now is None else now
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _STAGING_NAME.match(entry.name)
        if match is None:
            continue
        try:
            age = now - entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        if _process_alive(int(match["pid"])) and age < STALE_AFTER_S:
            continue
        path = Path(entry.path)
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(path)
            else:
                path.unlink()
        except OSError:
            continue
        removed.append(path)
    return removed
