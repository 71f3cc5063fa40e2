"""ModelRunner: known classes on the shipped photos, bad files in a batch, the cache, OOM fallback."""

from __future__ import annotations

import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image
from torch import nn
from torchvision.models import SqueezeNet1_1_Weights

from explorer.core import runner as runner_module
from explorer.core.errors import ExplorerError
from explorer.core.runner import (
    OOM_NOTICE,
    Classification,
    ModelRunner,
    Prediction,
    RunnerProgress,
    drain,
    model_bytes,
)
from explorer.core.weights import WeightsUnavailableError

ROOT = Path(__file__).resolve().parents[2]
PHOTOS = ROOT / "resources" / "images"
CAT, ESPRESSO, ROCKET = PHOTOS / "cat-chelsea.png", PHOTOS / "espresso-coffee.png", PHOTOS / "rocket-falcon9.jpg"


@pytest.fixture(scope="module")
def runner() -> ModelRunner:
    return ModelRunner("cpu")


@pytest.fixture(scope="module")
def photos(runner: ModelRunner) -> dict[str, Classification]:
    results = runner.classify_all("efficientnet_lite0", [CAT, ESPRESSO, ROCKET], top_k=5)
    return {Path(r.image).stem: r for r in results}


def _run(generator: Generator[RunnerProgress, None, Any]) -> tuple[list[RunnerProgress], Any]:
    progress = []
    while True:
        try:
            progress.append(next(generator))
        except StopIteration as stop:
            return progress, stop.value


def _labels(result: Classification) -> list[str]:
    return [p.label for p in result.predictions]


def test_cat(photos: dict[str, Classification]) -> None:
    cat = photos["cat-chelsea"]
    assert cat.predictions[0].index in {281, 282, 285}
    assert cat.predictions[0].label in {"tabby", "tiger cat", "Egyptian cat"}


def test_espresso(photos: dict[str, Classification]) -> None:
    espresso = photos["espresso-coffee"]
    assert 967 in [p.index for p in espresso.predictions]
    assert "espresso" in _labels(espresso)
    assert espresso.predictions[0].label in {"espresso", "cup", "coffee mug"}


def test_rocket(photos: dict[str, Classification]) -> None:
    assert photos["rocket-falcon9"].predictions[0].label in {"missile", "projectile", "space shuttle"}


def test_results_carry_model_weights_device_and_time(photos: dict[str, Classification]) -> None:
    for result in photos.values():
        assert result.model == "efficientnet_lite0" and result.weights == "pretrained (embedded)"
        assert result.device == "cpu" and result.ms > 0 and result.error is None
        probabilities = [p.probability for p in result.predictions]
        assert len(probabilities) == 5 and probabilities == sorted(probabilities, reverse=True)
        assert 0 < sum(probabilities) <= 1.0 + 1e-6


def test_bad_files_get_their_own_entries_and_do_not_stop_the_batch(runner: ModelRunner, tmp_path: Path) -> None:
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    empty = tmp_path / "empty.jpg"
    empty.touch()
    inputs = [CAT, text, tmp_path / "missing.png", ESPRESSO, empty, tmp_path]
    progress, results = _run(runner.classify("efficientnet_lite0", inputs, top_k=3, batch_size=2))
    assert [r.image for r in results] == [str(p) for p in inputs]
    assert [r.error is None for r in results] == [True, False, False, True, False, False]
    assert "is not an image" in results[1].error
    assert "no such file" in results[2].error
    assert "empty" in results[4].error and "folder" in results[5].error
    assert all(len(r.predictions) == 3 for r in results if r.error is None)
    assert all(r.predictions == () for r in results if r.error)
    assert [(p.stage, p.done, p.total) for p in progress if p.stage == "classify"] == [
        ("classify", 2, 6),
        ("classify", 4, 6),
        ("classify", 6, 6),
    ]
    timings = runner.last_timings
    assert timings is not None and timings.images == 6 and timings.forward_ms > 0


def test_pil_images_and_bytes_are_accepted(runner: ModelRunner) -> None:
    image = Image.open(CAT).convert("RGB")
    results = runner.classify_all("efficientnet_lite0", [image, ESPRESSO.read_bytes()], top_k=1)
    assert [r.image for r in results] == ["image 1", "pasted image 2"]
    assert results[1].predictions[0].label in {"espresso", "cup", "coffee mug"}


def test_to_dict_is_the_cli_schema() -> None:
    ok = Classification("a.png", (Prediction("tabby", 281, 0.5),), "m", "untrained", "cpu", 12.3456)
    assert ok.to_dict() == {
        "image": "a.png",
        "predictions": [{"label": "tabby", "index": 281, "probability": 0.5}],
        "model": "m",
        "weights": "untrained",
        "device": "cpu",
        "ms": 12.346,
    }
    assert Classification("b.png", (), "m", "w", "cpu", 0.0, error="bad").to_dict()["error"] == "bad"


def test_preprocess_gives_the_crop_and_the_tensor(runner: ModelRunner) -> None:
    crop, tensor = runner.preprocess("efficientnet_lite0", ESPRESSO)
    assert crop.size == (224, 224) and crop.mode == "RGB"
    assert tensor.shape == (3, 224, 224) and tensor.dtype == torch.float32


def test_untrained_models_say_so_and_name_classes_by_number() -> None:
    runner = ModelRunner("cpu")
    results = runner.classify_all("lenet5", [CAT], weights="untrained", top_k=20)
    (result,) = results
    assert result.weights == "untrained"
    assert len(result.predictions) == 10  # LeNet has ten outputs: top-k stops there
    assert all(p.label == f"class {p.index}" for p in result.predictions)


def test_cache_hits_and_lru_eviction_by_bytes() -> None:
    runner = ModelRunner("cpu")
    lenet, _ = runner.loaded("lenet5")
    assert runner.loaded("lenet5")[0] is lenet  # from the cache
    lite0, _ = runner.loaded("efficientnet_lite0")
    assert runner.cached_bytes == model_bytes(lenet) + model_bytes(lite0)

    small = ModelRunner("cpu", cache_bytes=model_bytes(lite0) + 1)
    small.loaded("lenet5")
    small.loaded("efficientnet_lite0")  # pushes LeNet out
    assert [name for name, _ in small.cached_models()] == ["efficientnet_lite0"]
    small.clear()
    assert small.cached_models() == [] and small.cached_bytes == 0


def test_cancelling_classify_between_batches(runner: ModelRunner) -> None:
    classify = runner.classify("efficientnet_lite0", [CAT, ESPRESSO, ROCKET], batch_size=1)
    progress = next(classify)
    while progress.stage != "classify":
        progress = next(classify)
    assert (progress.done, progress.total) == (1, 3)
    classify.close()  # what a GUI worker does when the user presses Stop
    with pytest.raises(StopIteration):
        next(classify)


def test_bad_arguments(runner: ModelRunner) -> None:
    with pytest.raises(ExplorerError, match="top-k"):
        runner.classify_all("efficientnet_lite0", [CAT], top_k=0)
    with pytest.raises(ExplorerError, match="Unknown model"):
        runner.classify_all("resnet5O", [CAT])


def test_out_of_memory_on_cuda_retries_on_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    # A stand-in GPU: the runner believes it is on CUDA, tensors stay where they are, and the
    # model raises CUDA's out-of-memory error for as long as the runner is on "cuda".
    monkeypatch.setattr(runner_module, "pick_device", lambda preference: torch.device("cuda"))
    monkeypatch.setattr(ModelRunner, "_place", staticmethod(lambda value, device: value))
    runner = ModelRunner("auto")
    assert runner.device.type == "cuda"
    model, _ = runner.loaded("efficientnet_lite0")
    devices_seen: list[str] = []

    def out_of_memory_on_cuda(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        devices_seen.append(runner.device.type)
        if runner.device.type == "cuda":
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    model.register_forward_pre_hook(out_of_memory_on_cuda)
    (result,) = runner.classify_all("efficientnet_lite0", [CAT], top_k=3)
    assert devices_seen == ["cuda", "cpu"]
    assert runner.device.type == "cpu" and result.device == "cpu"
    assert result.error is None and result.predictions[0].index in {281, 282, 285}
    assert runner.notices == [OOM_NOTICE]


def test_offline_torchvision_weights_fall_back_to_untrained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))

    def offline(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    runner = ModelRunner("cpu")
    # No silent fallback where none was asked for: the GUI catches this and says so.
    with pytest.raises(WeightsUnavailableError):
        runner.loaded("squeezenet1_1", "IMAGENET1K_V1")
    with pytest.raises(WeightsUnavailableError, match="no network"):
        drain(runner.load("squeezenet1_1", "IMAGENET1K_V1", allow_download=True))
    assert runner.notices == [] and runner.cached_models() == []
    progress, loaded = _run(
        runner.load("squeezenet1_1", "IMAGENET1K_V1", allow_download=True, fallback_untrained=True)
    )
    assert loaded.label == "untrained" and loaded.categories is None
    assert any("no network" in p.message for p in progress)
    assert len(runner.notices) == 1 and "uses random weights instead (untrained)" in runner.notices[0]
    (result,) = runner.classify_all("squeezenet1_1", [CAT], weights=loaded.key, top_k=2)
    assert result.weights == "untrained" and result.predictions[0].label.startswith("class ")
    assert SqueezeNet1_1_Weights.IMAGENET1K_V1.url.startswith("https://")  # nothing was patched there


def test_runner_weights_and_images_import_no_qt() -> None:
    probe = (
        "import sys, explorer.core.runner, explorer.core.weights, explorer.core.images; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'PySide6', 'pyqtgraph', 'shiboken6'} "
        "or m.startswith('explorer.gui')))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.strip() == "[]"
