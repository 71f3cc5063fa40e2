"""Hostile weight files: checked from their own index before any tensor is loaded, each with one clear line.

The cases of the QA report: a small deflated archive that claims a 2 GiB tensor, pickles whose
reduce calls ``os.system``, int64 and bool safetensors, all-NaN weights.
"""

from __future__ import annotations

import collections
import io
import json
import os
import pickle
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from explorer.core.errors import ExplorerError
from explorer.core.weights import WeightsMismatchError, load_state_dict_file, load_weights
from explorer.core.runner import drain
from explorer.core.zoo import get_spec

ROOT = Path(__file__).resolve().parents[2]
GIB = 2**30
CLAIMED = 2**29  # float32 elements: 2 GiB


class _Storage:
    """Stands for a storage in a hand-made checkpoint pickle (persistent id below)."""


def _checkpoint_pickle(key: str, numel: int) -> bytes:
    """``data.pkl`` as torch.save writes it, for one float tensor of ``numel`` elements at ``key``."""
    storage = _Storage()

    class Tensor:
        def __reduce__(self) -> tuple[object, tuple[object, ...]]:
            return (torch._utils._rebuild_tensor_v2, (storage, 0, (numel,), (1,), False, collections.OrderedDict()))

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj: object) -> object:
            return ("storage", torch.FloatStorage, "0", "cpu", numel) if obj is storage else None

    buffer = io.BytesIO()
    Pickler(buffer, protocol=2).dump(collections.OrderedDict([(key, Tensor())]))
    return buffer.getvalue()


def _archive(path: Path, key: str, numel: int, data: bytes, *, compression: int) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", _checkpoint_pickle(key, numel), compress_type=zipfile.ZIP_STORED)
        archive.writestr("archive/byteorder", "little")
        archive.writestr("archive/data/0", data, compress_type=compression)
        archive.writestr("archive/version", "3\n")
    return path


def test_a_deflated_archive_is_refused_as_a_zip_bomb_before_loading(tmp_path: Path) -> None:
    path = _archive(tmp_path / "bomb.pth", "conv1.weight", CLAIMED, bytes(4 << 20), compression=zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < 2_000_000
    with pytest.raises(ExplorerError, match="compressed records .* possible zip bomb") as caught:
        load_state_dict_file(path)
    assert "\n" not in str(caught.value).split("\n")[0]


def test_shapes_come_from_the_index_before_any_tensor_is_read(tmp_path: Path) -> None:
    """A stored archive claiming 2 GiB for a LeNet key: the mismatch is found with no memory spent."""
    key = next(iter(get_spec("lenet5").build().state_dict()))
    path = _archive(tmp_path / "claims.pth", key, CLAIMED, bytes(64), compression=zipfile.ZIP_STORED)
    script = textwrap.dedent(
        """
        import json, sys
        from pathlib import Path
        from explorer.core.errors import ExplorerError
        from explorer.core.runner import drain
        from explorer.core.weights import load_weights
        try:
            drain(load_weights("lenet5", sys.argv[1]))
            message = None
        except ExplorerError as error:
            message = str(error)
        # VmHWM, not ru_maxrss: Linux carries the forking parent's peak into a child's ru_maxrss.
        peak = next(int(l.split()[1]) * 1024 for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("VmHWM:"))
        print(json.dumps({"message": message, "peak": peak}))
        """
    )
    result = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["message"] and "do not fit lenet5" in report["message"]
    assert f"file {CLAIMED}" in report["message"]
    assert report["peak"] < GIB  # 2.8 GB before


class _System:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (self.command,))


@pytest.mark.parametrize("container", ["raw pickle", "torch.save"])
def test_a_pickle_calling_os_system_is_said_to_run_code_and_does_not(tmp_path: Path, container: str) -> None:
    marker = tmp_path / "it-ran"
    path = tmp_path / "evil.pth"
    payload = {"conv1.weight": torch.zeros(1), "x": _System(f"touch {marker}")}
    if container == "raw pickle":
        path.write_bytes(pickle.dumps(payload))
    else:
        torch.save(payload, path)
    with pytest.raises(ExplorerError, match="could run code") as caught:
        load_state_dict_file(path)
    assert "system" in str(caught.value)
    assert not marker.exists()


@pytest.mark.parametrize("dtype", [torch.int64, torch.bool])
def test_integer_or_bool_weights_are_refused_not_cast(tmp_path: Path, dtype: torch.dtype) -> None:
    model = get_spec("lenet5").build()
    state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in model.state_dict().items()}
    path = tmp_path / "wrong-dtype.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, path)
    with pytest.raises(ExplorerError, match=r"needs floating values there: refusing it rather than converting"):
        drain(load_weights("lenet5", str(path)))


def test_half_precision_weights_still_load(tmp_path: Path) -> None:
    model = get_spec("lenet5").build()
    path = tmp_path / "half.pth"
    torch.save({k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}, path)
    net, loaded = drain(load_weights("lenet5", str(path)))
    assert loaded.pretrained and next(net.parameters()).dtype == torch.float32


def test_nan_weights_are_refused(tmp_path: Path) -> None:
    model = get_spec("lenet5").build()
    state = model.state_dict()
    first = next(k for k, v in state.items() if v.is_floating_point())
    state[first] = torch.full_like(state[first], float("nan"))
    path = tmp_path / "nan.pth"
    torch.save(state, path)
    with pytest.raises(ExplorerError, match=rf"{first} holds [\d,]+ NaN or infinite values"):
        drain(load_weights("lenet5", str(path)))


def test_a_wrong_state_dict_is_reported_before_loading_even_for_safetensors(tmp_path: Path) -> None:
    path = tmp_path / "other.safetensors"
    save_file({"conv1.weight": torch.zeros(2, 2)}, path)
    with pytest.raises(WeightsMismatchError, match="unexpected key"):
        drain(load_weights("lenet5", str(path)))


def test_cli_with_the_hostile_files_prints_one_line_each(tmp_path: Path) -> None:
    bomb = _archive(tmp_path / "bomb.pth", "conv1.weight", CLAIMED, bytes(1 << 20), compression=zipfile.ZIP_DEFLATED)
    evil = tmp_path / "evil.pth"
    evil.write_bytes(pickle.dumps({"x": _System(f"touch {tmp_path / 'it-ran'}")}))
    photo = ROOT / "resources" / "images" / "cat-chelsea.png"
    for weights in (bomb, evil):
        result = subprocess.run(
            [sys.executable, "-m", "explorer", "classify", "lenet5", str(photo), "--weights", str(weights)],
            capture_output=True, text=True, timeout=120, cwd=ROOT,
        )  # fmt: skip
        assert result.returncode == 2
        assert "Traceback" not in result.stderr and "Warning" not in result.stderr, result.stderr
        assert result.stderr.startswith("cnn-explorer: error: ")
    assert not (tmp_path / "it-ran").exists()
