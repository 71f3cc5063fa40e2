"""Weight sources: user files (round trips, wrappers, misfits, hostile pickles) and torchvision's cache.

The torchvision download path is exercised without a network: the enum member's URL is pointed
at a local ``file://`` checkpoint and torch hub at a temporary ``TORCH_HOME``.
"""

from __future__ import annotations

import builtins
import hashlib
import pickle
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torchvision.models import SqueezeNet1_1_Weights, get_model

from explorer.core import weights as weights_module
from explorer.core.errors import ExplorerError
from explorer.core.zoo import get_spec
from explorer.core.weights import (
    DownloadProgress,
    WeightsMismatchError,
    WeightsUnavailableError,
    apply_state_dict,
    cached_weights_path,
    default_weights,
    load_state_dict_file,
    load_weights,
    preprocessing_for,
    weight_options,
)

SQUEEZENET = SqueezeNet1_1_Weights.IMAGENET1K_V1


def run(generator: Iterator[DownloadProgress]) -> tuple[list[DownloadProgress], object]:
    progress = []
    while True:
        try:
            progress.append(next(generator))
        except StopIteration as stop:
            return progress, stop.value


@pytest.fixture
def torch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "torch-home"
    monkeypatch.setenv("TORCH_HOME", str(home))
    return home


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the network was used")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


def _hub_checkpoint(tmp_path: Path, model: torch.nn.Module, stem: str) -> Path:
    """A checkpoint named as torch hub names them: ``stem-<first 8 hex digits of its sha256>.pth``."""
    source = tmp_path / "server"
    source.mkdir(exist_ok=True)
    scratch = source / "scratch.pth"
    torch.save(model.state_dict(), scratch)
    digest = hashlib.sha256(scratch.read_bytes()).hexdigest()[:8]
    return scratch.rename(source / f"{stem}-{digest}.pth")


@pytest.fixture
def squeezenet_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, torch_home: Path) -> Path:
    """SqueezeNet 1.1 (random weights) served from a file:// URL, in 64 KiB download chunks."""
    torch.manual_seed(0)
    path = _hub_checkpoint(tmp_path, get_model("squeezenet1_1", weights=None), "squeezenet1_1")
    monkeypatch.setattr(SQUEEZENET.value, "url", path.as_uri())
    monkeypatch.setattr(weights_module, "DOWNLOAD_CHUNK_BYTES", 64 * 1024)
    return path


# --- user files -------------------------------------------------------------------------------


def test_pth_round_trip_unwraps_state_dict_and_module_prefix(tmp_path: Path) -> None:
    model = get_spec("lenet5").build()
    state = model.state_dict()
    path = tmp_path / "lenet.pth"
    torch.save({"epoch": 7, "state_dict": {f"module.{k}": v for k, v in state.items()}}, path)
    loaded = load_state_dict_file(path)
    assert list(loaded) == list(state)
    fresh = get_spec("lenet5").build()
    apply_state_dict(fresh, loaded)
    for key, value in fresh.state_dict().items():
        torch.testing.assert_close(value, state[key])


def test_model_wrapper_key_is_unwrapped(tmp_path: Path) -> None:
    state = get_spec("lenet5").build().state_dict()
    path = tmp_path / "checkpoint.pt"
    torch.save({"model": dict(state), "optimizer": {"lr": 0.1}}, path)
    assert set(load_state_dict_file(path)) == set(state)


def test_safetensors_round_trip(tmp_path: Path) -> None:
    state = {k: v.contiguous() for k, v in get_spec("lenet5").build().state_dict().items()}
    path = tmp_path / "lenet.safetensors"
    save_file(state, path)
    loaded = load_state_dict_file(path)
    assert set(loaded) == set(state)
    for key, value in state.items():
        torch.testing.assert_close(loaded[key], value)


def test_load_weights_from_a_user_file(tmp_path: Path) -> None:
    source = get_spec("lenet5").build()
    path = tmp_path / "digits.safetensors"
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, path)
    model, loaded = run(load_weights("lenet5", str(path)))[1]  # type: ignore[misc]
    assert loaded.label == "file: digits.safetensors" and loaded.pretrained
    assert loaded.categories is None  # ten outputs: not ImageNet's classes
    assert not model.training
    torch.testing.assert_close(model.state_dict(), source.state_dict())


def test_imagenet_shaped_user_file_gets_imagenet_names(tmp_path: Path) -> None:
    path = tmp_path / "resnet18.pth"
    torch.save(get_model("resnet18", weights=None).state_dict(), path)
    _, loaded = run(load_weights("resnet18", str(path)))[1]  # type: ignore[misc]
    assert loaded.categories is not None and loaded.categories[281] == "tabby"


def test_wrong_architecture_lists_missing_keys_and_shape_mismatches(tmp_path: Path) -> None:
    path = tmp_path / "resnet18-10-classes.pth"
    torch.save(get_model("resnet18", weights=None, num_classes=10).state_dict(), path)
    with pytest.raises(WeightsMismatchError) as caught:
        run(load_weights("resnet34", str(path)))
    error = caught.value
    assert isinstance(error, ExplorerError)
    assert "layer1.2.conv1.weight" in error.missing  # resnet34 has three blocks in layer1, resnet18 two
    assert ("fc.weight", (10, 512), (1000, 512)) in error.mismatched
    message = str(error)
    assert "do not fit resnet34" in message
    assert "missing keys: layer1.2.conv1.weight" in message
    assert "shape mismatches: fc.weight (file 10×512, model 1000×512)" in message
    assert "… and" in message  # long lists are abbreviated
    assert len(message) < 2000


def test_unexpected_keys_are_listed() -> None:
    model = get_spec("lenet5").build()
    state = dict(model.state_dict(), **{"extra.weight": torch.zeros(1)})
    with pytest.raises(WeightsMismatchError, match="1 unexpected key: extra.weight"):
        apply_state_dict(model, state, model_name="lenet5")


class _Payload:
    """Pickles as a call to print: harmless, but any callable in a pickle must be refused."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (builtins.print, ("code from a pickle ran",))


def test_pickle_carrying_code_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "evil.pth"
    torch.save({"conv.weight": torch.zeros(1), "payload": _Payload()}, path)
    capsys.readouterr()
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)
    with pytest.raises(ExplorerError, match="Refusing to load") as caught:
        load_state_dict_file(path)
    assert "'builtins.print'" in str(caught.value)
    assert "code from a pickle ran" not in capsys.readouterr().out


def test_whole_pickled_model_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "whole-model.pth"
    torch.save(get_spec("lenet5").build(), path)
    with pytest.raises(ExplorerError, match="not a plain state dict"):
        load_state_dict_file(path)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("notes.pth", b"not a checkpoint at all", "not a PyTorch weights file"),
        ("empty.pt", b"", "empty"),
        ("broken.safetensors", b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}", "not a valid safetensors file"),
    ],
)
def test_bad_weights_files(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ExplorerError, match=message):
        load_state_dict_file(path)


def test_missing_weights_file(tmp_path: Path) -> None:
    with pytest.raises(ExplorerError, match="not found"):
        run(load_weights("lenet5", str(tmp_path / "nope.pth")))


# --- options and keys -------------------------------------------------------------------------


def test_lite0_defaults_to_its_embedded_weights() -> None:
    options = weight_options("efficientnet_lite0")
    assert [(o.key, o.status) for o in options] == [("embedded", "embedded"), ("untrained", "untrained")]
    assert options[0].label == "ImageNet-1k (embedded)"
    assert default_weights("efficientnet_lite0") == "embedded"
    model, loaded = run(load_weights("efficientnet_lite0", "embedded"))[1]  # type: ignore[misc]
    assert loaded.label == "pretrained (embedded)" and loaded.pretrained
    assert loaded.categories is not None and len(loaded.categories) == 1000
    assert loaded.preprocessing.describe() == "resize 256 → centre crop 224 → ImageNet mean/std"
    assert not model.training


def test_torchvision_options_put_default_first(torch_home: Path) -> None:
    options = weight_options("resnet50")
    assert [o.key for o in options] == ["IMAGENET1K_V2", "IMAGENET1K_V1", "untrained"]
    assert options[0].status == "downloadable" and options[0].size_bytes and options[0].size_bytes > 90e6
    assert options[0].label.startswith("IMAGENET1K_V2 · acc@1 80.9 (download")
    assert options[-1].label == "untrained (random init)"
    assert default_weights("resnet50") == "untrained"  # nothing cached, nothing that works offline


def test_unknown_weights_key() -> None:
    with pytest.raises(ExplorerError, match="Unknown weights 'IMAGENET9K'") as caught:
        run(load_weights("resnet18", "IMAGENET9K"))
    assert "IMAGENET1K_V1" in str(caught.value)
    with pytest.raises(ExplorerError, match="has no embedded weights"):
        run(load_weights("resnet18", "embedded"))


def test_untrained_is_labelled_so() -> None:
    model, loaded = run(load_weights("resnet18", "untrained"))[1]  # type: ignore[misc]
    assert loaded.label == "untrained" and not loaded.pretrained and loaded.categories is None
    assert isinstance(model, torch.nn.Module)


def test_preprocessing_comes_from_the_weights() -> None:
    assert preprocessing_for("resnet50", "IMAGENET1K_V2").resize == 232  # torchvision's V2 recipe
    assert preprocessing_for("resnet50", "IMAGENET1K_V1").resize == 256
    assert preprocessing_for("alexnet", "untrained").crop == 227  # the zoo's input size
    assert preprocessing_for("lenet5").channels == 1


# --- torchvision: download, cancel, cache, offline --------------------------------------------


def test_not_cached_without_download_is_a_clear_error(squeezenet_server: Path, no_network: None) -> None:
    with pytest.raises(WeightsUnavailableError, match="is not downloaded and there is no network"):
        run(load_weights("squeezenet1_1", "IMAGENET1K_V1"))


def test_download_reports_progress_and_lands_where_torchvision_looks(
    squeezenet_server: Path, torch_home: Path
) -> None:
    progress, result = run(load_weights("squeezenet1_1", "IMAGENET1K_V1", allow_download=True))
    size = squeezenet_server.stat().st_size
    assert len(progress) > 3
    assert progress[0].done == 0 and all(p.total == size for p in progress)
    assert [p.done for p in progress] == sorted(p.done for p in progress)
    assert progress[-1].done == size and "MB" in progress[-1].message
    model, loaded = result  # type: ignore[misc]
    assert loaded.key == "IMAGENET1K_V1" and loaded.label == "pretrained (torchvision IMAGENET1K_V1)"
    assert loaded.categories is not None and loaded.categories[0] == "tench"
    for key, value in torch.load(squeezenet_server, weights_only=True).items():
        torch.testing.assert_close(model.state_dict()[key], value)

    cached = cached_weights_path(SQUEEZENET)
    assert cached == torch_home / "hub" / "checkpoints" / squeezenet_server.name
    assert cached.read_bytes() == squeezenet_server.read_bytes()
    assert [p.name for p in cached.parent.iterdir()] == [cached.name]  # no partial file left
    # torchvision's own loader finds the file: with the source gone, only the cache can answer.
    squeezenet_server.unlink()
    assert set(SQUEEZENET.get_state_dict(progress=False)) == set(model.state_dict())


def test_cancelling_midway_leaves_no_partial_file(squeezenet_server: Path, torch_home: Path) -> None:
    loading = load_weights("squeezenet1_1", "IMAGENET1K_V1", allow_download=True)
    first, second = next(loading), next(loading)
    assert first.done == 0 and 0 < second.done < squeezenet_server.stat().st_size
    checkpoints = torch_home / "hub" / "checkpoints"
    assert any(checkpoints.iterdir())  # the partial file exists while downloading
    loading.close()
    assert list(checkpoints.iterdir()) == []
    assert not cached_weights_path(SQUEEZENET).exists()


def test_cached_weights_load_with_no_network(
    squeezenet_server: Path, torch_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(load_weights("squeezenet1_1", "IMAGENET1K_V1", allow_download=True))
    squeezenet_server.unlink()
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: pytest.fail("the network was used"))
    options = weight_options("squeezenet1_1")
    assert options[0].status == "cached" and options[0].label.endswith("(cached)")
    assert default_weights("squeezenet1_1") == "IMAGENET1K_V1"
    progress, (model, loaded) = run(load_weights("squeezenet1_1", "DEFAULT"))  # type: ignore[misc]
    assert progress == [] and loaded.pretrained and loaded.key == "IMAGENET1K_V1"


def test_offline_download_is_a_clear_error(squeezenet_server: Path, torch_home: Path, monkeypatch) -> None:
    def offline(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(WeightsUnavailableError, match="is not downloaded and there is no network") as caught:
        run(load_weights("squeezenet1_1", "IMAGENET1K_V1", allow_download=True))
    assert "name resolution" in str(caught.value)
    assert not (torch_home / "hub" / "checkpoints").exists() or not any((torch_home / "hub" / "checkpoints").iterdir())


def test_corrupt_download_is_rejected(tmp_path: Path, torch_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "squeezenet1_1-deadbeef.pth"  # the name promises a hash the content lacks
    torch.save(get_model("squeezenet1_1", weights=None).state_dict(), source)
    monkeypatch.setattr(SQUEEZENET.value, "url", source.as_uri())
    with pytest.raises(ExplorerError, match="corrupt"):
        run(load_weights("squeezenet1_1", "IMAGENET1K_V1", allow_download=True))
    assert list((torch_home / "hub" / "checkpoints").iterdir()) == []


def test_googlenet_checkpoints_build_as_torchvision_does(
    tmp_path: Path, torch_home: Path, monkeypatch: pytest.MonkeyPatch, no_network: None
) -> None:
    from torchvision.models import GoogLeNet_Weights

    member = GoogLeNet_Weights.IMAGENET1K_V1
    # torchvision's checkpoint keeps the auxiliary heads and expects transform_input.
    reference = get_model("googlenet", weights=None, aux_logits=True, transform_input=True, init_weights=False)
    cached = cached_weights_path(member)
    cached.parent.mkdir(parents=True)
    torch.save(reference.state_dict(), cached)
    model, loaded = run(load_weights("googlenet", "IMAGENET1K_V1"))[1]  # type: ignore[misc]
    assert model.transform_input and loaded.pretrained
