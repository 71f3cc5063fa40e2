"""Feature capture: equal to a direct hook, branches that add up, receptive fields, the cache, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from explorer.cli import main
from explorer.core.analysis import analyze
from explorer.core.errors import ExplorerError
from explorer.core.features import (
    FeatureExtractor,
    LayerActivation,
    UnknownLayerError,
    branch_layers,
    channel_grid,
    filter_tiles,
    receptive_box,
    weight_histogram,
)
from explorer.core.runner import ModelRunner

CAT = Path(__file__).resolve().parents[2] / "resources" / "images" / "cat-chelsea.png"


@pytest.fixture(scope="module")
def runner() -> ModelRunner:
    torch.manual_seed(0)
    return ModelRunner("cpu")


@pytest.fixture(scope="module")
def extractor(runner: ModelRunner) -> FeatureExtractor:
    return FeatureExtractor(runner)


def _hooked(runner: ModelRunner, model: str, module_path: str, call: int = 1) -> torch.Tensor:
    """The module's output by a plain forward hook on the same loaded model and preprocessed image."""
    net = runner.on_device(model, "untrained")
    _crop, tensor = runner.preprocess(model, str(CAT), "untrained")
    seen: list[torch.Tensor] = []
    handle = net.get_submodule(module_path).register_forward_hook(lambda _m, _i, out: seen.append(out.clone()))
    try:
        with torch.inference_mode():
            net(tensor.unsqueeze(0))
    finally:
        handle.remove()
    return seen[call - 1][0]


@pytest.mark.parametrize(
    ("model", "layer", "module_path", "call"),
    [
        ("resnet18", "layer1.0.bn1", "layer1.0.bn1", 1),  # before an in-place ReLU
        ("resnet18", "layer1.0.relu:2", "layer1.0.relu", 2),  # a shared module's second call
        ("vgg16", "features.0", "features.0", 1),
        ("googlenet", "inception4a.branch2.1.conv", "inception4a.branch2.1.conv", 1),
    ],
)
def test_capture_equals_a_direct_hook(
    runner: ModelRunner, extractor: FeatureExtractor, model: str, layer: str, module_path: str, call: int
) -> None:
    captured = extractor.capture_all(model, CAT, [layer], weights="untrained")[layer]
    expected = _hooked(runner, model, module_path, call).numpy()
    assert captured.shape == expected.shape
    np.testing.assert_allclose(captured.values, expected, rtol=0, atol=1e-6)


def test_functional_nodes_are_captured_and_inplace_ops_do_not_leak(extractor: FeatureExtractor) -> None:
    # torchvision's BasicBlock does `out += identity` and an in-place ReLU: bn2's own output must survive.
    layers = ["maxpool", "layer1.0.bn2", "layer1.0.add", "layer1.0.relu:2"]
    acts = extractor.capture_all("resnet18", CAT, layers, weights="untrained")
    view = branch_layers(analyze("resnet18"), "layer1.0")
    assert view is not None and view.kind == "residual"
    titles = dict((title, node) for title, node in view.items)
    assert titles["block input"] == "maxpool" and titles["shortcut (identity)"] == "maxpool"
    assert titles["residual branch"] == "layer1.0.bn2" and titles["sum"] == "layer1.0.add"
    total = acts["layer1.0.bn2"].values + acts["maxpool"].values
    np.testing.assert_allclose(acts["layer1.0.add"].values, total, atol=1e-6)
    assert not np.allclose(acts["layer1.0.bn2"].values, acts["layer1.0.add"].values)
    np.testing.assert_allclose(acts["layer1.0.relu:2"].values, np.maximum(total, 0), atol=1e-6)


def test_projection_shortcut_plus_branch_is_the_sum(extractor: FeatureExtractor) -> None:
    view = branch_layers(analyze("resnet50"), "layer2.0")
    assert view is not None
    items = dict(view.items)
    assert items["shortcut (projection)"] == "layer2.0.downsample.1"
    acts = extractor.capture_all("resnet50", CAT, [node for _t, node in view.items], weights="untrained")
    shortcut, branch = acts["layer2.0.downsample.1"].values, acts[items["residual branch"]].values
    assert shortcut.shape == branch.shape == (512, 28, 28)
    np.testing.assert_allclose(acts["layer2.0.add"].values, shortcut + branch, rtol=1e-5, atol=1e-5)
    assert acts[items["block input"]].shape == (256, 56, 56)


@pytest.mark.parametrize("block", ["inception3a", "inception4e", "inception5b"])
def test_inception_branches_add_up_to_the_cat(extractor: FeatureExtractor, block: str) -> None:
    view = branch_layers(analyze("googlenet"), block)
    assert view is not None and view.kind == "inception"
    *branches, (_title, cat) = view.items
    assert len(branches) == 4 and cat == f"{block}.cat"
    acts = extractor.capture_all("googlenet", CAT, [node for _t, node in view.items], weights="untrained")
    channels = [acts[node].shape[0] for _t, node in branches]
    assert sum(channels) == acts[cat].shape[0]
    np.testing.assert_array_equal(np.concatenate([acts[node].values for _t, node in branches]), acts[cat].values)
    assert branches[3][0].startswith("branch 4: 3×3 pool")


def test_branch_layers_is_none_for_a_plain_layer() -> None:
    assert branch_layers(analyze("vgg16"), "features") is None
    assert branch_layers(analyze("vgg16"), "no.such.block") is None
    view = branch_layers(analyze("googlenet"), "inception3a.cat")  # the merge node names its block
    assert view is not None and view.block == "inception3a"


def test_the_cache_skips_the_forward_for_captured_layers(runner: ModelRunner) -> None:
    extractor = FeatureExtractor(runner)
    first = extractor.capture_all("lenet5", CAT, ["c1", "s2"], weights="untrained")
    assert extractor.forward_passes == 1
    again = extractor.capture_all("lenet5", CAT, ["s2"], weights="untrained")
    assert extractor.forward_passes == 1 and again["s2"] is first["s2"]
    extractor.capture_all("lenet5", CAT, ["c1", "f6"], weights="untrained")
    assert extractor.forward_passes == 2  # only f6 was missing


def test_cache_is_bounded(runner: ModelRunner) -> None:
    extractor = FeatureExtractor(runner, cache_bytes=1)
    extractor.capture_all("lenet5", CAT, ["c1"], weights="untrained")
    other = Path(__file__).resolve().parents[2] / "resources" / "images" / "espresso-coffee.png"
    extractor.capture_all("lenet5", other, ["c1"], weights="untrained")
    assert extractor.cached_bytes == 6 * 28 * 28 * 4  # the newest image's entry only


def test_unknown_layer_suggests_close_matches(extractor: FeatureExtractor) -> None:
    with pytest.raises(UnknownLayerError) as caught:
        extractor.capture_all("resnet18", CAT, ["layer1.0.relux"], weights="untrained")
    assert "layer1.0.relu" in str(caught.value)


def test_channel_statistics_and_normalisation() -> None:
    tensor = torch.tensor([[[0.0, 1.0], [2.0, -2.0]], [[5.0, 5.0], [5.0, 5.0]]])
    act = LayerActivation.from_tensor("x", tensor)
    first, second = act.channels
    assert (first.min, first.max, first.mean, first.zero_fraction) == (-2.0, 2.0, 0.25, 0.5)
    assert (second.min, second.max, second.zero_fraction) == (5.0, 5.0, 0.0)
    per_channel = act.normalised("channel")
    np.testing.assert_allclose(per_channel[0], [[0.5, 0.75], [1.0, 0.0]])
    np.testing.assert_array_equal(per_channel[1], np.zeros((2, 2)))  # constant: no range to show
    per_layer = act.normalised("layer")
    np.testing.assert_allclose(per_layer[1], np.ones((2, 2)))
    assert act.order_by_strength() == [1, 0]
    with pytest.raises(ExplorerError):
        act.normalised("global")


def _unit_field(net: torch.nn.Module, layer: str, shape: tuple[int, ...], row: int, col: int) -> tuple[int, int, int, int]:
    """The input pixels with a non-zero gradient for one output position: its true receptive field.

    Every kernel weight is positive and every bias zero, so on a positive input nothing cancels
    and no ReLU cuts the gradient; max-pools become average pools of the same geometry (a max
    sends the gradient to one pixel per window only).
    """
    for name, module in list(net.named_modules()):
        if isinstance(module, torch.nn.MaxPool2d):
            parent, _, attribute = name.rpartition(".")
            pool = torch.nn.AvgPool2d(module.kernel_size, module.stride, module.padding, ceil_mode=module.ceil_mode)
            setattr(net.get_submodule(parent) if parent else net, attribute, pool)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.Conv2d):
                module.weight.fill_(0.01)
                if module.bias is not None:
                    module.bias.zero_()
    out: list[torch.Tensor] = []
    handle = net.get_submodule(layer).register_forward_hook(lambda _m, _i, o: out.append(o))
    x = torch.ones(1, *shape, requires_grad=True)
    try:
        net(x)
    finally:
        handle.remove()
    out[0][0, :, row, col].sum().backward()
    rows, cols = np.nonzero(x.grad[0].abs().sum(0).numpy())
    return int(rows.min()), int(cols.min()), int(rows.max()), int(cols.max())


@pytest.mark.parametrize(
    ("model", "layer", "row", "col"),
    [("alexnet", "features.0", 10, 20), ("vgg16", "features.4", 7, 3), ("vgg16", "features.9", 20, 11)],
)
def test_receptive_box_matches_the_gradient(model: str, layer: str, row: int, col: int) -> None:
    from explorer.core.zoo import get_spec

    summary = analyze(model)
    net = get_spec(model).builder().eval()
    box = receptive_box(summary.layer(layer), row, col, summary.input_shape[1:])
    assert box == _unit_field(net, layer, tuple(summary.input_shape), row, col)


def test_receptive_box_known_case_and_clipping() -> None:
    stats = analyze("alexnet").layer("features.0")  # 11×11, stride 4, padding 2
    assert receptive_box(stats, 10, 20) == (38, 78, 48, 88)
    assert receptive_box(stats, 0, 0) == (-2, -2, 8, 8)
    assert receptive_box(stats, 0, 0, (227, 227)) == (0, 0, 8, 8)


def test_channel_grid_tiles_every_channel() -> None:
    act = LayerActivation.from_tensor("x", torch.arange(5 * 4 * 6, dtype=torch.float32).reshape(5, 4, 6))
    image = channel_grid(act, padding=1, scale=1)
    assert image.size == (3 * 7 + 1, 2 * 5 + 1)  # 5 tiles in 3 columns, 2 rows (padding scaled too)
    pixels = np.asarray(image)
    assert tuple(pixels[0, 0]) == (24, 24, 24)  # the padding
    assert tuple(pixels[1, 1]) == (68, 1, 84) and tuple(pixels[4, 6]) == (253, 231, 37)  # viridis ends


def test_features_cli_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code = main(["features", "lenet5", str(CAT), "--layers", "c1,f6", "--weights", "untrained", "--json", "--out", str(tmp_path / "grids")])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert [entry["layer"] for entry in data] == ["c1", "f6"]
    assert data[0]["shape"] == [6, 28, 28] and len(data[0]["channels"]) == 6
    channel = data[0]["channels"][2]
    assert set(channel) == {"index", "min", "max", "mean", "zero_fraction"} and channel["index"] == 2
    assert channel["min"] <= channel["mean"] <= channel["max"] and 0 <= channel["zero_fraction"] <= 1
    assert data[1]["shape"] == [84]
    written = sorted(p.name for p in (tmp_path / "grids").iterdir())
    assert written == ["lenet5-c1-cat-chelsea.png", "lenet5-f6-cat-chelsea.png"]
    assert Image.open(tmp_path / "grids" / written[0]).size[0] > 28


def test_features_cli_expands_a_block(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["features", "resnet18", str(CAT), "--layers", "layer1.0", "--weights", "untrained", "--json"])
    assert code == 0
    layers = [entry["layer"] for entry in json.loads(capsys.readouterr().out)]
    assert layers == ["maxpool", "layer1.0.bn2", "layer1.0.add", "layer1.0.relu:2"]


def test_features_cli_unknown_layer_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code = main(["features", "resnet18", str(CAT), "--layers", "conv1,layer1.0.relux", "--out", str(tmp_path / "new")])
    assert code == 2
    err = capsys.readouterr().err
    assert "no layer named 'layer1.0.relux'" in err and "layer1.0.relu" in err and "Traceback" not in err
    assert not (tmp_path / "new").exists()  # nothing written before the names were checked


def test_features_cli_bad_image_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "not-an-image.png"
    bad.write_text("hello")
    assert main(["features", "lenet5", str(bad), "--layers", "c1"]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_filter_tiles_and_histogram() -> None:
    weight = np.zeros((5, 3, 2, 2), dtype=np.float32)
    weight[1, 0, 0, 1] = 2.0  # filter 1: one strong red weight
    weight[1, 2, 1, 1] = -1.0  # and a weaker negative blue one
    mosaic = filter_tiles(weight, padding=1)
    assert mosaic is not None and mosaic.shape == (2 * 3 + 1, 3 * 3 + 1, 3)
    tile = mosaic[1:3, 4:6]  # filter 1 sits in row 0, column 1
    np.testing.assert_allclose(tile[0, 1], [1.0, 0.5, 0.5])
    np.testing.assert_allclose(tile[1, 1], [0.5, 0.5, 0.25])
    np.testing.assert_allclose(mosaic[1:3, 1:3], 0.5)  # an all-zero filter is mid-grey
    assert filter_tiles(np.zeros((4, 64, 3, 3))) is None
    counts, edges = weight_histogram(weight, bins=4, value_range=(-2, 2))
    assert counts.sum() == weight.size and counts.tolist() == [0, 1, 58, 1] and edges[0] == -2


# --- any module path (issue 9, section 5) ---------------------------------------------------------


def test_any_module_path_selects_its_output_or_its_branches() -> None:
    from explorer.core.features import select_layer

    lite0 = analyze("efficientnet_lite0")
    plain = select_layer(lite0, "_blocks.3")  # no shortcut: the block's output
    assert plain.branch is None and plain.nodes == ("_blocks.3._bn2",) and plain.shown == "_blocks.3._bn2"
    residual = select_layer(lite0, "_blocks.4")
    assert residual.branch is not None and residual.branch.kind == "residual"
    resnet = analyze("resnet18")
    assert select_layer(resnet, "layer1").nodes == ("layer1.1.relu:2",)  # a stage of blocks: its output
    assert select_layer(resnet, "layer1.0").branch is not None
    assert select_layer(resnet, "conv1").nodes == ("conv1",)
    googlenet = analyze("googlenet")
    assert select_layer(googlenet, "inception3a").branch.kind == "inception"
    assert select_layer(googlenet, "inception3a.branch2").nodes == ("inception3a.branch2.1.relu",)
    with pytest.raises(UnknownLayerError, match="_blocks.30"):
        select_layer(lite0, "_blocks.30")


def test_features_cli_takes_a_module_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["features", "efficientnet_lite0", str(CAT), "--layers", "_blocks.3", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    assert [entry["layer"] for entry in data] == ["_blocks.3._bn2"]
    assert data[0]["shape"] == [40, 28, 28]
