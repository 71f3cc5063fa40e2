"""ONNX export: parity with onnxruntime, dynamic batch, atomic writes, bad folders, the CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
import torch

from explorer.cli import main
from explorer.core import ExplorerError, onnx_export
from explorer.core.onnx_export import ExportOptions, export_many, export_one, run_to_end
from explorer.core.zoo import get_spec


def _calibrated(name: str) -> torch.nn.Module:
    """Untrained GoogLeNet's activations vanish through its BNs' initial statistics (every input
    gives the same logits), which would make parity trivial; a few train-mode passes fix that."""
    model = get_spec(name).build()
    model.train()
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # a plain average of the batches below
    with torch.no_grad():
        for seed in range(3):
            model(torch.randn(4, *get_spec(name).input_shape, generator=torch.Generator().manual_seed(seed)))
    return model.eval()


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("lenet5", ExportOptions(weights="untrained")),
        ("alexnet", ExportOptions(weights="untrained", input_shape=(3, 96, 96))),
        ("resnet18", ExportOptions(weights="untrained", input_shape=(3, 128, 128))),
    ],
)
def test_export_matches_pytorch(name: str, options: ExportOptions, tmp_path: Path) -> None:
    result = run_to_end(export_one(name, tmp_path, options))
    assert result.error is None and result.path == tmp_path / f"{name}.onnx"
    assert result.path.stat().st_size == result.bytes > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{name}.onnx"]  # one file, nothing left over
    onnx.checker.check_model(str(result.path), full_check=True)
    model = onnx.load(str(result.path))
    assert len(model.graph.node) == result.nodes == sum(result.op_types.values())
    assert result.op_types.get("Conv", 0) >= 2
    assert {p.input for p in result.parity} == {"random, batch 1", "photo"}
    assert result.max_rel_diff < 1e-4, result.parity
    assert result.weights == "untrained"
    assert [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim][1:] == list(result.input_shape)


def test_googlenet_exports_without_aux_heads(tmp_path: Path) -> None:
    model = _calibrated("googlenet")
    result = run_to_end(export_one("googlenet", tmp_path, ExportOptions(), model=model, weights_label="calibrated"))
    graph = onnx.load(str(result.path)).graph
    assert len(graph.output) == 1 and [d.dim_value for d in graph.output[0].type.tensor_type.shape.dim] == [1, 1000]
    assert not any("aux" in init.name for init in graph.initializer)
    assert result.op_types["Concat"] == 9  # the nine Inception modules
    assert result.max_rel_diff < 1e-4, result.parity
    with torch.no_grad():
        logits = model(torch.randn(2, 3, 224, 224))
    assert (logits[0] - logits[1]).abs().max() > 1e-4  # the calibrated model does depend on its input


def test_dynamic_batch_runs_at_batch_1_and_3(tmp_path: Path) -> None:
    result = run_to_end(export_one("lenet5", tmp_path, ExportOptions(weights="untrained", dynamic_batch=True)))
    assert {p.input for p in result.parity} >= {"random, batch 1", "random, batch 3"}
    session = onnxruntime.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    for batch in (1, 3, 7):
        out = session.run(None, {"input": np.random.default_rng(batch).standard_normal((batch, 1, 32, 32), dtype=np.float32)})
        assert out[0].shape == (batch, 10)


def test_lrn_models_agree_with_onnx(tmp_path: Path) -> None:
    """PyTorch's LocalResponseNorm (α/n inside, as Caffe) is decomposed by the exporter; it agrees."""
    result = run_to_end(export_one("vgg11_lrn", tmp_path, ExportOptions(weights="untrained", input_shape=(3, 64, 64))))
    assert result.max_rel_diff < 1e-4, result.parity


def test_a_failure_midway_leaves_the_folder_unchanged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "keep.txt").write_text("mine")

    def broken(*args: object, **kwargs: object) -> None:
        raise ValueError("injected failure")

    monkeypatch.setattr(onnx.checker, "check_model", broken)
    with pytest.raises(ExplorerError, match="injected failure"):
        run_to_end(export_one("lenet5", tmp_path, ExportOptions(weights="untrained")))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_cancel_leaves_nothing_behind(tmp_path: Path) -> None:
    generator = export_one("lenet5", tmp_path, ExportOptions(weights="untrained"))
    stages = []
    for progress in generator:
        stages.append(progress.stage)
        if progress.stage == "check":  # the file exists in the staging folder by now
            generator.close()
            break
    assert stages == ["weights", "export", "check"]
    assert list(tmp_path.iterdir()) == []


def test_missing_and_read_only_folders(tmp_path: Path) -> None:
    with pytest.raises(ExplorerError, match="does not exist"):
        onnx_export.check_output_folder(tmp_path / "nope")
    read_only = tmp_path / "read-only"
    read_only.mkdir()
    read_only.chmod(0o555)
    if os.access(read_only, os.W_OK):  # root ignores permission bits: use a folder no one can write
        read_only = Path("/proc/self/fdinfo")
    with pytest.raises(ExplorerError, match="not writable"):
        onnx_export.check_output_folder(read_only)


def test_one_failing_model_does_not_stop_the_others(tmp_path: Path) -> None:
    results = run_to_end(export_many(["lenet5", "alexnet"], tmp_path, ExportOptions(weights="untrained", input_shape=(1, 32, 32))))
    by_model = {r.model: r for r in results}
    assert by_model["lenet5"].error is None
    assert "alexnet" in by_model and by_model["alexnet"].error  # 1×32×32 does not fit AlexNet
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lenet5.onnx"]


def test_cli_export_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["export", "lenet5", "nonexistent_model", "--out", str(tmp_path), "--weights", "untrained", "--json", "--dynamic-batch"])
    out, err = capsys.readouterr()
    assert code == 1  # one model failed
    entries = json.loads(out)
    assert [e["model"] for e in entries] == ["lenet5", "nonexistent_model"]
    assert list(entries[0]) == ["model", "path", "bytes", "opset", "nodes", "max_abs_diff", "max_rel_diff", "seconds", "error"]
    assert entries[0]["error"] is None and entries[0]["max_rel_diff"] < 1e-4 and entries[0]["opset"] == 18
    assert "Unknown model" in entries[1]["error"]
    assert "Traceback" not in err


def test_cli_export_bad_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["export", "lenet5", "--out", str(tmp_path / "missing")])
    _, err = capsys.readouterr()
    assert code == 2 and "does not exist" in err and "Traceback" not in err
