"""``cnn-explorer whatif`` and ``cnn-explorer lesson``: output, JSON, edit files, export, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from explorer.cli import main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_whatif_prints_the_changed_layers_and_the_totals(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "whatif", "alexnet", "--set", "features.0.kernel_size=7", "--set", "features.0.stride=2")
    assert code == 0
    assert "set features.0: kernel_size = 7, stride = 2" in out  # consecutive --set of one layer: one edit
    line = next(line for line in out.splitlines() if line.startswith("features.0 "))
    side = (227 - 7 + 2 * 2) // 2 + 1  # torchvision's conv1 keeps its padding of 2: 113
    assert "edited" in line and f"64×56×56 → 64×{side}×{side}" in line and "23,296 → 9,472" in line
    assert f"{64 * side * side * 3 * 7 * 7:,}" in line
    assert f"61,100,840 → {61_100_840 - 23_296 + 9_472:,}" in out
    params = next(line for line in out.splitlines() if line.startswith("params "))
    assert params.endswith(f"{(61_100_840 - 23_296 + 9_472) / 61_100_840:.4f}×")  # 0.9998×, not 1×


def test_a_ratio_that_is_not_one_never_reads_as_one() -> None:
    from explorer.core.numbers import ratio_text

    assert ratio_text(61_087_016 / 61_100_840) == "0.9998×" and ratio_text(1.0) == "1×"
    assert ratio_text(1 + 3e-6) == "1.000003×" and ratio_text(0.943) == "0.943×"
    assert ratio_text(None) == "—" and ratio_text(1234.5) == "1,234×"


def test_whatif_json_lists_propagation_and_diff(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "whatif", "resnet18", "--set", "layer2.0.conv1.out=96", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["propagated"][0] == {"layer": "layer2.0.bn1", "field": "num_features", "before": 128, "after": 96}
    statuses = {layer["name"]: layer["status"] for layer in data["layers"]}
    assert statuses["layer2.0.conv1"] == "edited" and statuses["layer2.0.conv2"] == "propagated"
    assert data["totals"]["params"]["after"] < data["totals"]["params"]["before"]


def test_whatif_keeps_the_order_of_mixed_edits(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    edits_file = tmp_path / "edits.json"
    code, out, _ = run(
        capsys, "whatif", "vgg16", "--set", "features.24.k=7", "--set", "features.24.p=3", "--remove", "features.25",
        "--remove", "features.26", "--set-input", "3x96x96", "--save", str(edits_file),
    )  # fmt: skip
    assert code == 0 and "edits saved" in out
    saved = json.loads(edits_file.read_text())
    assert [e["op"] for e in saved["edits"]] == ["set", "remove", "remove", "input"]
    code, again, _ = run(capsys, "whatif", "--edits", str(edits_file))
    assert code == 0 and again.splitlines()[5:] == out.splitlines()[5:-1]


def test_whatif_replace_and_export(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "whatif", "lenet5", "--replace", "c3=conv:out=16,k=5", "--export", str(tmp_path), "--weights", "untrained")
    assert code == 0
    assert "1,516 → 2,416" in out
    assert (tmp_path / "lenet5-edited.onnx").is_file() and "max rel diff" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["whatif", "resnet18", "--set", "layer1.0.conv2.out_channels=128"], "breaks at the add in layer1.0"),
        (["whatif", "vgg16", "--set", "features.0.kernal=3"], "has no editable setting 'kernal'"),
        (["whatif", "vgg16", "--set", "features.0"], "expected LAYER.FIELD=VALUE"),
        (["whatif", "vgg16", "--replace", "features.0=convv"], "Unknown layer type 'convv'"),
        (["whatif", "vgg16", "--remove", "features.99"], "vgg16 has no layer 'features.99'"),
        (["whatif", "vgg16"], "No edits"),
        (["whatif", "--edits", "/nonexistent/edits.json"], "Cannot read"),
        (["lesson", "vgg7x7"], "Unknown lesson 'vgg7x7'"),
    ],
)
def test_whatif_user_errors_exit_2(capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    code, out, err = run(capsys, *args)
    assert code == 2
    assert message in err and "Traceback" not in err


def test_lesson_list_and_run(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "lesson")
    assert code == 0 and "vgg-7x7" in out and "lenet-c3" in out
    code, out, _ = run(capsys, "lesson", "lenet-c3")
    assert code == 0
    assert "Claim:" in out and "1,516" in out and "2,416" in out and "Verdict:" in out
    code, out, _ = run(capsys, "lesson", "googlenet-gap", "--json")
    data = json.loads(out)
    assert data["values"]["head_weights_b"] == 51_380_224 and data["edits"][0]["op"] == "replace"


@pytest.mark.parametrize("convention", ["thop", "fvcore"])
def test_whatif_counts_both_sides_in_the_convention_asked(capsys: pytest.CaptureFixture[str], convention: str) -> None:
    from explorer.core import analyze

    code, out, _ = run(capsys, "whatif", "resnet18", "--set", "conv1.kernel_size=5", "--convention", convention, "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["convention"] == convention
    peer = analyze("resnet18", convention=convention).totals
    assert data["totals"]["macs"]["before"] == peer.macs != analyze("resnet18").totals.macs
    code, table, _ = run(capsys, "whatif", "resnet18", "--set", "conv1.kernel_size=5", "--convention", convention)
    assert code == 0 and table.splitlines()[0].endswith(f"eval mode, {convention} convention")


def test_whatif_checks_its_output_paths_before_any_work(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(capsys, "whatif", "vgg16", "--set", "features.0.kernel_size=5", "--save", str(tmp_path))
    assert code == 2 and out == "" and "is a folder" in err
    code, out, err = run(capsys, "whatif", "vgg16", "--set", "features.0.kernel_size=5", "--export", str(tmp_path / "no" / "such"))
    assert code == 2 and out == "" and "--export" in err


def test_lessons_say_their_numbers_are_the_lectures(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "lesson", "vgg-5x5")
    assert code == 0 and "lecture's convention" in out.splitlines()[-1]
    code, out, _ = run(capsys, "lesson", "vgg-5x5", "--json")
    assert json.loads(out)["convention"] == "lecture"
