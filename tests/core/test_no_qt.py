"""explorer.core never imports Qt or the GUI (as napari's settings test does for its model layer)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import sys
import explorer.core
from explorer.core import analysis, edits, graph, layers, lessons, report, stats
from explorer.core.zoo import zoo_specs
from explorer.core.analysis import analyze
analyze("resnet18")
zoo_specs()
leaked = sorted(m for m in sys.modules if m.split(".")[0] in {"PySide6", "pyqtgraph", "shiboken6"} or m.startswith("explorer.gui"))
print(",".join(leaked))
"""


def test_core_imports_no_qt_in_a_fresh_interpreter() -> None:
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.strip() == "", f"explorer.core pulled in: {result.stdout.strip()}"


def test_importing_explorer_pulls_in_neither_torch_nor_qt() -> None:
    probe = "import sys, explorer; print(any(m in sys.modules for m in ('torch', 'PySide6')))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.strip() == "False"


def test_import_linter_contract_holds() -> None:
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    assert lint, "import-linter is a test dependency"
    result = subprocess.run([lint], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "KEPT" in result.stdout
