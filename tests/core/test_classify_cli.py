"""``cnn-explorer classify``: JSON schema, table, the optional MODEL, bad files (exit 1, no traceback)."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import torch

from explorer.cli import main
from explorer.core.zoo import get_spec

ROOT = Path(__file__).resolve().parents[2]
PHOTOS = ROOT / "resources" / "images"
CAT, ESPRESSO, ROCKET = PHOTOS / "cat-chelsea.png", PHOTOS / "espresso-coffee.png", PHOTOS / "rocket-falcon9.jpg"
ENTRY_KEYS = {"image", "predictions", "model", "weights", "device", "ms"}


def run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_for_the_photos_and_a_bad_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_text("definitely not a jpeg")
    code, out, err = run(capsys, "classify", CAT, bad, ESPRESSO, ROCKET, "--json")
    assert code == 1  # one file failed
    entries = json.loads(out)
    names = [Path(e["image"]).name for e in entries]
    assert names == ["cat-chelsea.png", "bad.jpg", "espresso-coffee.png", "rocket-falcon9.jpg"]
    cat, broken, espresso, rocket = entries
    for entry in (cat, espresso, rocket):
        assert set(entry) == ENTRY_KEYS
        assert entry["model"] == "efficientnet_lite0" and entry["weights"] == "pretrained (embedded)"
        assert entry["device"] == "cpu" and entry["ms"] > 0
        assert len(entry["predictions"]) == 5
        assert set(entry["predictions"][0]) == {"label", "index", "probability"}
    assert set(broken) == ENTRY_KEYS | {"error"} and broken["predictions"] == []
    assert "is not an image" in broken["error"]
    assert cat["predictions"][0]["label"] in {"tabby", "tiger cat", "Egyptian cat"}
    assert 967 in [p["index"] for p in espresso["predictions"]]
    assert rocket["predictions"][0]["label"] in {"missile", "projectile", "space shuttle"}
    assert "Traceback" not in err


def test_explicit_model_and_top(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "classify", "efficientnet_lite0", ESPRESSO, "--top", "3", "--json")
    assert code == 0
    (entry,) = json.loads(out)
    assert len(entry["predictions"]) == 3 and entry["predictions"][0]["label"] in {"espresso", "cup", "coffee mug"}


def test_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "classify", CAT, ESPRESSO, "--top", "4")
    assert code == 0
    blocks = out.strip().split("\n\n")
    assert len(blocks) == 2
    header, *rows = blocks[1].splitlines()
    assert "espresso-coffee.png" in header and "pretrained (embedded)" in header and "ms" in header
    assert len(rows) == 4 and rows[0].lstrip().startswith("1. espresso")
    assert all(row.endswith(")") and "%" in row for row in rows)
    assert len({row.index("%") for row in rows}) == 1  # the percentages line up


def test_folder_is_expanded(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "classify", PHOTOS, "--json", "--top", "1")
    assert code == 0
    assert [Path(e["image"]).name for e in json.loads(out)] == sorted(p.name for p in PHOTOS.iterdir())


def test_weights_file_for_another_model(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "lenet.pth"
    torch.save({"state_dict": get_spec("lenet5").build().state_dict()}, path)
    code, out, _ = run(capsys, "classify", "lenet5", CAT, "--weights", path, "--json", "--top", "3")
    assert code == 0
    (entry,) = json.loads(out)
    assert entry["model"] == "lenet5" and entry["weights"] == "file: lenet.pth"
    assert [p["label"] for p in entry["predictions"]] == [f"class {p['index']}" for p in entry["predictions"]]


def test_wrong_weights_file_exits_2_with_the_mismatch(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "lenet.pth"
    torch.save(get_spec("lenet5").build().state_dict(), path)
    code, out, err = run(capsys, "classify", CAT, "--weights", path)
    assert code == 2 and out == ""
    assert "do not fit efficientnet_lite0" in err and "missing keys" in err and "Traceback" not in err


def test_unknown_model(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "classify", "resnet5O", CAT)
    assert code == 2 and "Unknown model 'resnet5O'" in err and "resnet50" in err


def test_offline_torchvision_model_runs_untrained(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))

    def offline(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    code, out, err = run(capsys, "classify", "squeezenet1_1", CAT, "--json", "--top", "2")
    assert code == 0
    (entry,) = json.loads(out)
    assert entry["weights"] == "untrained" and entry["predictions"][0]["label"].startswith("class ")
    assert "is not downloaded and there is no network" in err and "untrained" in err


def test_exit_code_1_and_no_traceback_in_a_real_process(tmp_path: Path) -> None:
    missing = tmp_path / "missing.png"
    result = subprocess.run(
        [sys.executable, "-m", "explorer", "classify", str(CAT), str(missing), "--top", "2"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "no such file" in result.stdout and "%" in result.stdout
