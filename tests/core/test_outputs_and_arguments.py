"""Outputs written atomically, leftovers of killed runs removed, and bad arguments refused before any work.

The cases of the QA report: exports interrupted by SIGTERM and SIGKILL, the output folder
deleted mid-export, a full disk under ``features --out``, bad opsets, output folders that
cannot exist, input sizes whose activations cannot fit, a misspelt ``gui --model`` with
``--screenshot``, ``classify missingfile cat.png``.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import onnx
import pytest

from explorer.core import paths
from explorer.core.analysis import analyze
from explorer.core.errors import ExplorerError
from explorer.core.limits import TooLargeError, check_forward_fits, largest_layer
from explorer.core.onnx_export import ExportOptions, export_one, supported_opsets
from explorer.core.paths import OutputError, atomic_write, remove_stale_staging, staging_name

ROOT = Path(__file__).resolve().parents[2]
CAT = ROOT / "resources" / "images" / "cat-chelsea.png"


def _cli(*args: str, timeout: float = 300, **options: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "explorer", *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT, **options
    )


def _error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith("cnn-explorer: error: "), result.stderr
    return result.stderr.splitlines()[0]


# --- atomic writes and staging ------------------------------------------------------------------


def test_atomic_write_keeps_the_old_file_when_the_write_fails(tmp_path: Path) -> None:
    target = tmp_path / "grid.png"
    target.write_bytes(b"the old grid")
    with pytest.raises(RuntimeError), atomic_write(target) as staged:
        staged.write_bytes(b"half")
        raise RuntimeError("the disk is full")
    assert target.read_bytes() == b"the old grid"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.png"]


def test_atomic_write_replaces_in_one_rename_and_keeps_the_suffix(tmp_path: Path) -> None:
    target = tmp_path / "graph.svg"
    with atomic_write(target) as staged:
        assert staged.suffix == ".svg" and staged.parent == tmp_path  # writers that pick the format by suffix
        staged.write_text("<svg/>")
    assert target.read_text() == "<svg/>"
    assert oct(target.stat().st_mode & 0o777) != oct(0o600)  # the usual mode, not mkstemp's


def test_stale_staging_of_dead_processes_and_old_ones_is_removed_and_live_ones_kept(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    killed = tmp_path / f".vgg16.onnx.{paths.STAGING_MARK}-{dead_pid}-abc123"
    killed.mkdir()
    (killed / "vgg16.onnx").write_bytes(b"x" * 1000)  # the 553 MB un-renamed file, in small
    partial = tmp_path / f".grid.png.{paths.STAGING_MARK}-{dead_pid}-xyz.partial.png"
    partial.write_bytes(b"partial")
    mine = tmp_path / (staging_name("resnet18.onnx") + "live")
    mine.mkdir()
    old = tmp_path / (staging_name("old.onnx") + "aged")
    old.mkdir()
    stranger = tmp_path / ".vgg16.onnx.export-keepme"  # not our pattern: never touched
    stranger.mkdir()
    os.utime(old, (time.time() - paths.STALE_AFTER_S - 60,) * 2)  # ours, but older than any export takes
    removed = remove_stale_staging(tmp_path)
    assert set(removed) == {killed, partial, old}
    assert mine.exists() and stranger.exists()


def _default_signals() -> None:
    # Under nohup SIGHUP is ignored, and the CLI rightly keeps it so; these tests want the default.
    for number in (signal.SIGHUP, signal.SIGTERM):
        signal.signal(number, signal.SIG_DFL)


def _export_process(folder: Path, model: str = "resnet18") -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "explorer", "export", model, "--out", str(folder), "--no-verify"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, preexec_fn=_default_signals,
    )  # fmt: skip


def _wait_for_staging(folder: Path, process: subprocess.Popen[str]) -> Path:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        staged = [p for p in folder.iterdir() if paths.STAGING_MARK in p.name and p.is_dir()]
        if staged:
            return staged[0]
        time.sleep(0.01)
    pytest.fail("the export never created its staging folder")


def test_a_killed_exports_leftovers_are_removed_by_the_next_export(tmp_path: Path) -> None:
    process = _export_process(tmp_path)
    leftover = _wait_for_staging(tmp_path, process)
    process.kill()  # SIGKILL: nothing can clean up
    process.communicate(timeout=60)
    assert leftover.exists()
    result = _cli("export", "lenet5", "--out", str(tmp_path), "--no-verify")
    assert result.returncode == 0, result.stderr
    assert not leftover.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lenet5.onnx"]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_are_handled_like_ctrl_c(tmp_path: Path, signum: int) -> None:
    process = _export_process(tmp_path)
    _wait_for_staging(tmp_path, process)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signum, stderr
    assert "Traceback" not in stderr
    assert list(tmp_path.iterdir()) == []  # no staging folder, no partial file


def test_the_output_folder_removed_mid_export_is_one_error(tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / "out"
    folder.mkdir()
    events = export_one("lenet5", folder, ExportOptions(verify=False))
    with pytest.raises(OutputError, match="was removed during the export"):
        for event in events:
            if event.stage == "check":
                shutil.rmtree(folder)


def _limit_file_size() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG, as on a full disk
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))


def test_features_out_on_a_full_disk_keeps_the_existing_file(tmp_path: Path) -> None:
    existing = tmp_path / "resnet18-conv1-cat-chelsea.png"
    existing.write_bytes(b"an earlier grid")
    result = _cli(
        "features", "resnet18", str(CAT), "--layers", "conv1", "--out", str(tmp_path), "--weights", "untrained",
        preexec_fn=_limit_file_size,
    )  # fmt: skip
    assert result.returncode == 2
    assert "Cannot write" in _error_line(result) and "too large" in result.stderr.lower()
    assert existing.read_bytes() == b"an earlier grid"  # not replaced by a partial
    assert sorted(p.name for p in tmp_path.iterdir()) == [existing.name]  # no 0-byte file, no staging file


# --- arguments checked before any work ----------------------------------------------------------


@pytest.mark.parametrize("opset", ["0", "7", "999", "-1"])
def test_opsets_the_exporter_does_not_write_exit_2(tmp_path: Path, opset: str) -> None:
    result = _cli("export", "lenet5", "--out", str(tmp_path), "--opset", opset)
    assert result.returncode == 2
    supported = supported_opsets()
    assert f"writes opsets {supported.start} to {supported.stop - 1}" in _error_line(result)
    assert list(tmp_path.iterdir()) == []


def test_the_json_reports_the_opset_the_file_declares(tmp_path: Path) -> None:
    opset = supported_opsets().start + 2
    result = _cli("export", "lenet5", "--out", str(tmp_path), "--opset", str(opset), "--json")
    assert result.returncode == 0, result.stderr
    (entry,) = json.loads(result.stdout)
    written = onnx.load(str(tmp_path / "lenet5.onnx"), load_external_data=False)
    declared = next(o.version for o in written.opset_import if o.domain in ("", "ai.onnx"))
    assert entry["opset"] == declared == opset
    assert result.stderr == ""  # torch.onnx's logs and warnings do not reach the terminal


@pytest.mark.parametrize(
    "args",
    [
        ["features", "resnet18", str(CAT), "--layers", "conv1", "--out", "/proc/forbidden/maps"],
        ["features", "resnet18", str(CAT), "--layers", "conv1", "--out", str(CAT)],
        ["export", "lenet5", "--out", "/proc/forbidden"],
    ],
)
def test_output_folders_that_cannot_be_used_exit_2(args: list[str]) -> None:
    result = _cli(*args)
    assert result.returncode == 2
    assert "Output folder" in _error_line(result) or "Cannot create the output folder" in _error_line(result)


def test_an_input_whose_activations_cannot_fit_is_refused_up_front(tmp_path: Path) -> None:
    result = _cli("export", "vgg16", "--out", str(tmp_path), "--input", "3x16384x16384")
    assert result.returncode == 2
    line = _error_line(result)
    assert "needs at least" in line and "features.2" in line and "of memory is available" in line
    assert list(tmp_path.iterdir()) == []


def test_the_memory_check_uses_the_analysis_bytes() -> None:
    summary = analyze("resnet18", "3x1024x1024")
    largest = largest_layer(summary)
    # bn1: input and output 64×512×512 each, fp32 (conv1's 3×1024×1024 input is smaller)
    assert largest.layer == "bn1" and largest.bytes == 4 * (64 * 512 * 512 + 64 * 512 * 512)
    check_forward_fits(summary, what="x", available=largest.bytes)  # fits exactly
    with pytest.raises(TooLargeError, match=r"needs at least 0\.1 GB"):
        check_forward_fits(summary, what="x", available=largest.bytes - 1)


def test_a_misspelt_screenshot_model_is_refused_and_nothing_is_rendered(tmp_path: Path) -> None:
    target = tmp_path / "x.png"
    result = _cli("gui", "--model", "resnt18", "--screenshot", str(target))
    assert result.returncode == 2
    assert "Unknown model 'resnt18'" in _error_line(result) and "resnet18" in result.stderr
    assert not target.exists()


def test_classify_a_missing_file_then_a_photo(tmp_path: Path) -> None:
    result = _cli("classify", "missingfile", str(CAT), "--json", "--top", "1")
    assert result.returncode == 1  # one entry failed
    missing, cat = json.loads(result.stdout)
    assert missing["image"] == "missingfile" and "no such file" in missing["error"]
    assert cat["predictions"] and "error" not in cat


def test_a_misspelt_model_before_images_is_still_a_typo(tmp_path: Path) -> None:
    result = _cli("classify", "resnt18", str(CAT))
    assert result.returncode == 2
    assert "Did you mean" in result.stderr


def test_doctor_names_what_it_checks() -> None:
    result = _cli("doctor")
    assert result.returncode in (0, 1)
    for name in ("Qt xcb plugin", "torch", "device", "onnxruntime", "bundled files", "weights cache"):
        assert name in result.stdout
    assert ("MISSING" in result.stdout) == (result.returncode == 1)


def test_install_desktop_entry_writes_user_level_xdg_files(tmp_path: Path) -> None:
    import configparser
    import xml.etree.ElementTree as ElementTree

    from explorer.desktop import APP_ID

    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path)}
    result = _cli("--install-desktop-entry", env=env)
    assert result.returncode == 0, result.stderr
    entry = configparser.ConfigParser(interpolation=None)
    entry.read(tmp_path / "applications" / f"{APP_ID}.desktop")
    section = entry["Desktop Entry"]
    assert section["Type"] == "Application" and section["Icon"] == APP_ID
    executable = section["Exec"].split()[0].strip('"')
    assert Path(executable).is_file() and section["Exec"].endswith(" gui")
    metainfo = ElementTree.parse(tmp_path / "metainfo" / f"{APP_ID}.metainfo.xml").getroot()
    assert metainfo.findtext("id") == APP_ID
    assert metainfo.find("launchable").text == f"{APP_ID}.desktop"
    assert (tmp_path / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg").is_file()
    for size in (16, 32, 48, 64, 128, 256):
        assert (tmp_path / "icons" / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png").is_file()
    assert str(tmp_path) in result.stdout


def test_check_output_folder_errors_are_explorer_errors(tmp_path: Path) -> None:
    with pytest.raises(ExplorerError, match="does not exist"):
        paths.check_output_folder(tmp_path / "nope")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ExplorerError, match="is a file"):
        paths.check_output_folder(tmp_path / "file")
    with pytest.raises(ExplorerError, match="cannot be used: .*file is a file"):
        paths.check_output_folder(tmp_path / "file" / "below")
