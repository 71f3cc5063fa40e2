"""Output folders: a missing or read-only folder is a clear user error (exit code 2)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from explorer.core.errors import ExplorerError


def check_output_folder(folder: str | os.PathLike[str]) -> Path:
    """The folder must exist and take a file: say so clearly otherwise (exit code 2)."""
    path = Path(folder).expanduser()
    if not path.exists():
        raise ExplorerError(f"Output folder {path} does not exist.", hint="Create it first, or choose another --out.")
    if not path.is_dir():
        raise ExplorerError(f"Output folder {path} is a file, not a folder.")
    try:
        # A real write, not os.access: root passes access checks on read-only folders.
        with tempfile.NamedTemporaryFile(dir=path, prefix=".cnn-explorer-probe-"):
            pass
    except OSError as error:
        raise ExplorerError(f"Output folder {path} is not writable: {error.strerror or error}.") from error
    return path
