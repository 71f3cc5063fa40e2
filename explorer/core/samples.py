"""The files shipped with the package: the sample photos, the app icon, the desktop entry.

They live in the repository's ``resources/`` folder (the one the README shows) and install as the
package ``explorer.resources`` (``pyproject.toml`` maps the folder into the wheel). Every code
path that needs one asks here, through ``importlib.resources``, never through a path relative to
the source tree: an installed wheel and a source checkout find the same files.
"""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

from explorer.core.errors import ExplorerError

RESOURCES_PACKAGE = "explorer.resources"
SAMPLE_FOLDER = "images"
DEFAULT_SAMPLE = "cat-chelsea.png"
_IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg"})


@functools.cache
def resources_folder() -> Path:
    """The installed ``resources`` folder as a real path (wheels are installed unpacked)."""
    root = resources.files(RESOURCES_PACKAGE)
    path = Path(str(root))
    if not path.is_dir():  # a zipped install: importlib.resources could extract, but nothing here needs that
        raise ExplorerError(f"The bundled resources are not a folder on disk ({root}).")
    return path


def resource_file(relative: str) -> Path:
    """A bundled file, e.g. ``icons/cnn-explorer.svg``; a clear error if the install lacks it."""
    path = resources_folder() / relative
    if not path.is_file():
        raise ExplorerError(f"The bundled file {relative} is missing from {resources_folder()}: reinstall cnn-explorer.")
    return path


def sample_folder() -> Path:
    """The folder of the sample photos (the GUI's file dialogs open there)."""
    return resources_folder() / SAMPLE_FOLDER


def sample_images() -> list[Path]:
    """The bundled sample photos, sorted by name."""
    return sorted(p for p in sample_folder().iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)


def sample_image(name: str = DEFAULT_SAMPLE) -> Path:
    """One sample photo by file name (default: the cat, which the parity checks and the feature maps use)."""
    return resource_file(f"{SAMPLE_FOLDER}/{name}")
