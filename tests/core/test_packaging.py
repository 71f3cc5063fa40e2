"""The wheel carries what the app needs, and the code finds it through one accessor.

CI goes further (``.ci/run``): it installs the wheel without ``-e`` into a fresh virtual
environment and runs ``classify`` and ``gui --screenshot`` from there.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from explorer.core import samples

ROOT = Path(__file__).resolve().parents[2]


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_every_package_of_the_source_tree_is_listed() -> None:
    listed = set(_pyproject()["tool"]["setuptools"]["packages"])
    found = {
        ".".join(init.parent.relative_to(ROOT).parts) for init in (ROOT / "explorer").rglob("__init__.py")
    }
    assert found <= listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"
    assert {"explorer.resources", "explorer.resources.images", "explorer.resources.icons"} <= listed
    assert _pyproject()["tool"]["setuptools"]["package-dir"]["explorer.resources"] == "resources"


def test_the_accessor_reads_the_folder_the_readme_shows() -> None:
    assert samples.resources_folder() == ROOT / "resources"
    assert [p.name for p in samples.sample_images()] == [
        "astronaut-collins.png", "cat-chelsea.png", "espresso-coffee.png", "rocket-falcon9.jpg",
    ]  # fmt: skip
    assert samples.sample_image() == ROOT / "resources" / "images" / "cat-chelsea.png"
    assert samples.resource_file("icons/cnn-explorer.svg").is_file()


def test_no_code_path_reaches_the_resources_around_the_accessor() -> None:
    pattern = re.compile(r"""parents\[\d\]\s*/\s*["']resources["']|["']resources["']\s*/\s*["']images["']""")
    offenders = [
        str(path.relative_to(ROOT))
        for folder in ("explorer", "bench")
        for path in (ROOT / folder).rglob("*.py")
        if pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_the_wheel_holds_the_samples_icons_and_desktop_entry_but_not_the_screenshots(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", "-w", str(tmp_path), str(ROOT)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (wheel,) = tmp_path.glob("cnn_explorer-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for sample in samples.sample_images():
        assert f"explorer/resources/images/{sample.name}" in names
    assert "explorer/resources/icons/cnn-explorer.svg" in names
    assert "explorer/resources/icons/cnn-explorer-256.png" in names
    assert "explorer/resources/desktop/io.github.cnnexplorer.CnnExplorer.desktop" in names
    assert "explorer/resources/ATTRIBUTION.md" in names
    assert not any("screenshots" in name for name in names)
    assert "explorer/py.typed" in names
