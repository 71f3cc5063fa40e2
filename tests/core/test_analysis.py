"""analyze(): the seed's AlexNet table, torchvision's published figures, and every zoo model."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

from explorer.core import ExplorerError, analyze
from explorer.core.analysis import build_on_meta, parse_input_shape
from explorer.core.zoo import get_spec, zoo_specs

ZOO = [spec.name for spec in zoo_specs()]
TORCHVISION_ZOO = [spec for spec in zoo_specs() if spec.torchvision_name]


# --- the seed's AlexNet table (seeds/001), at 3×227×227 -----------------------------------------

# (layer, module path, C_out, kernel, stride, padding) as the lecture's table lists them.
ALEXNET_TABLE = [
    ("conv1", "features.0", 64, 11, 4, 2),
    ("pool1", "features.2", None, 3, 2, 0),
    ("conv2", "features.3", 192, 5, 1, 2),
    ("pool2", "features.5", None, 3, 2, 0),
    ("conv3", "features.6", 384, 3, 1, 1),
    ("conv4", "features.8", 256, 3, 1, 1),
    ("conv5", "features.10", 256, 3, 1, 1),
    ("pool5", "features.12", None, 3, 2, 0),
]


def test_seed_conv1_row_is_exact() -> None:
    conv1 = analyze("alexnet").layer("features.0")
    assert conv1.output_shape == (64, 56, 56)
    assert conv1.activation_bytes / 1024 == 784
    assert conv1.params == 23_296
    assert conv1.macs == 72_855_552
    assert conv1.formula("MACs") == "64 × 56 × 56 × (3 × 11 × 11) = 72,855,552"
    assert "(227 − 11 + 2×2)/4 + 1 = 56" in conv1.formula("output size")
    assert conv1.formula("memory") == "64 × 56 × 56 × 4 B = 802,816 B = 784 KB"


def test_seed_pool1_and_flatten_rows() -> None:
    summary = analyze("alexnet")
    pool1 = summary.layer("features.2")
    assert pool1.output_shape == (64, 27, 27)
    assert pool1.params == 0
    assert pool1.macs == 419_904  # (64·27·27)·(3·3), the seed's 0.4 MFLOP
    assert summary.layer("flatten").output_shape == (9216,)  # 256·6·6


def test_whole_seed_table_follows_its_formulas() -> None:
    """Every row recomputed here with the seed's own formulas, independently of the core."""
    summary = analyze("alexnet")
    channels, size = 3, 227
    for _, path, c_out, k, s, p in ALEXNET_TABLE:
        row = summary.layer(path)
        size = (size - k + 2 * p) // s + 1
        if c_out is None:  # pooling keeps the channels; no parameters
            expected_params, expected_macs = 0, channels * size * size * k * k
        else:
            expected_params = c_out * channels * k * k + c_out
            expected_macs = (c_out * size * size) * (channels * k * k)
            channels = c_out
        assert row.output_shape == (channels, size, size), path
        assert row.params == expected_params, path
        assert row.macs == expected_macs, path
        assert row.activation_bytes == channels * size * size * 4, path
    for path, n_in, n_out in (("classifier.1", 9216, 4096), ("classifier.4", 4096, 4096), ("classifier.6", 4096, 1000)):
        row = summary.layer(path)
        assert (row.params, row.macs) == (n_in * n_out + n_out, n_in * n_out), path


# --- torchvision's published figures -------------------------------------------------------------


@pytest.mark.parametrize("spec", TORCHVISION_ZOO, ids=lambda s: s.name)
def test_torchvision_published_totals(spec) -> None:
    meta = torchvision.models.get_model_weights(spec.torchvision_name).DEFAULT.meta
    summary = analyze(spec.name, (3, 224, 224))
    assert summary.totals.params == meta["num_params"]
    published_macs = meta["_ops"] * 1e9  # torchvision counts conv and linear only
    conv_linear = sum(r.macs for r in summary.layers if r.kind in {"conv", "linear"})
    assert abs(conv_linear - published_macs) <= 0.001 * published_macs
    assert summary.totals.macs > conv_linear  # pooling counts too …
    assert abs(summary.totals.macs - published_macs) <= 0.01 * published_macs  # … within 1 %


def test_googlenet_params_follow_the_mode() -> None:
    eval_summary = analyze("googlenet", mode="eval")
    train_summary = analyze("googlenet", mode="train")
    assert eval_summary.totals.params == 6_624_904
    assert train_summary.totals.params == 13_004_888
    aux = lambda s: [r.name for r in s.layers if r.name.startswith(("aux1", "aux2"))]  # noqa: E731
    assert aux(eval_summary) == []
    assert {"aux1.fc2", "aux2.fc2"} <= set(aux(train_summary))


def test_published_receptive_fields() -> None:
    assert analyze("vgg16").layer("features.28").receptive_field == 196
    assert analyze("alexnet").layer("features.12").receptive_field == 195
    assert analyze("alexnet").layer("features.12").jump == 32


def test_googlenet_has_nine_inception_cats_of_four_branches() -> None:
    summary = analyze("googlenet")
    cats = [r for r in summary.layers if r.type == "cat"]
    assert len(cats) == 9
    for cat in cats:
        assert len(cat.inputs) == 4
        assert cat.output_shape[0] == sum(shape[0] for shape in cat.input_shapes)
        assert cat.name.startswith("inception") and cat.name.endswith(".cat")


def test_resnet18_has_eight_residual_adds_of_two_inputs() -> None:
    summary = analyze("resnet18")
    adds = [r for r in summary.layers if r.type == "add"]
    assert [a.name for a in adds] == [f"layer{i}.{j}.add" for i in range(1, 5) for j in range(2)]
    for add in adds:
        assert len(add.inputs) == 2
        assert add.input_shapes[0] == add.input_shapes[1] == add.output_shape
    # The downsampling blocks add their projection shortcut, the others their block input.
    assert "layer2.0.downsample.1" in summary.layer("layer2.0.add").inputs
    assert "layer1.0.relu:2" in summary.layer("layer1.1.add").inputs


# --- every zoo model -----------------------------------------------------------------------------


def _eager_parameter_count(name: str) -> tuple[int, int]:
    model = build_on_meta(get_spec(name))
    return (
        sum(p.numel() for p in model.parameters()),
        sum(p.numel() for p in model.parameters() if p.requires_grad),
    )


@pytest.mark.parametrize("name", ZOO)
def test_every_zoo_model_analyses_in_both_modes(name: str) -> None:
    spec = get_spec(name)
    for mode in ("eval", "train"):
        summary = analyze(name, mode=mode)
        names = [r.name for r in summary.layers]
        assert len(names) == len(set(names)), "node names are unique"
        seen = {"input"}
        for row in summary.layers:
            assert set(row.inputs) <= seen, f"{row.name} reads a later node"
            seen.add(row.name)
            assert row.macs >= 0 and row.flops >= row.macs or row.kind in {"pool", "norm"}
        assert summary.input_shape == spec.input_shape
        assert summary.totals.macs == sum(r.macs for r in summary.layers)
    # In train mode every parameter of the model is in the graph (GoogLeNet's aux heads too).
    total, trainable = _eager_parameter_count(name)
    train_totals = analyze(name, mode="train").totals
    assert (train_totals.params, train_totals.trainable_params) == (total, trainable)


def test_lenet5_parameters_as_the_readme_states() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    stated = re.search(r"\*\*([\d,]+) parameters, ([\d,]+) of them trainable\*\*", readme)
    assert stated, "the README states LeNet-5's parameter count"
    summary = analyze("lenet5")
    assert (summary.totals.params, summary.totals.trainable_params) == tuple(int(g.replace(",", "")) for g in stated.groups())
    assert (summary.totals.params, summary.totals.trainable_params) == (60_840, 60_000)
    assert summary.layer("c3").params == 1_516  # the paper's C3 with its partial connections
    assert summary.layer("c3").macs == 10 * 10 * 60 * 25


def test_vgg_table2_parameter_counts() -> None:
    millions = {name: round(analyze(name).totals.params / 1e6) for name in ("vgg11", "vgg11_lrn", "vgg13", "vgg16_c", "vgg16", "vgg19")}
    assert millions == {"vgg11": 133, "vgg11_lrn": 133, "vgg13": 133, "vgg16_c": 134, "vgg16": 138, "vgg19": 144}


def test_efficientnet_lite0_same_padding_shapes() -> None:
    summary = analyze("efficientnet_lite0", (3, 225, 225))
    stem = summary.layer("_conv_stem")
    assert stem.output_shape == (32, 113, 113)  # ⌈225/2⌉, TF SAME
    assert "SAME" in stem.formula("output size")
    assert summary.layers[-1].output_shape == (1000,)
    assert len([r for r in summary.layers if r.type == "add"]) == 9


def test_shapes_scale_with_the_input() -> None:
    small = analyze("resnet50", (3, 224, 224))
    large = analyze("resnet50", "3x512x512")
    assert small.totals.params == large.totals.params
    assert large.layer("layer4.2.conv3").output_shape == (2048, 16, 16)
    ratio = large.layer("conv1").macs / small.layer("conv1").macs
    assert ratio == pytest.approx((256 / 112) ** 2)


def test_receptive_field_takes_the_widest_branch() -> None:
    summary = analyze("googlenet")
    cat = summary.layer("inception3a.cat")
    branch_fields = [summary.layer(name).receptive_field for name in cat.inputs]
    assert cat.receptive_field == max(branch_fields)
    assert len(set(branch_fields)) > 1  # the branches really differ (1×1 vs 3×3 vs pool)


# --- models given as instances, and models fx cannot trace ---------------------------------------


class DataDependent(nn.Module):
    """fx cannot trace this and the meta device cannot decide the branch: it runs for real."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.head = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if x.sum() > float("inf"):  # never true, but only real data can tell
            x = x * 2
        return self.head(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


class ShapeDependent(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if x.shape[-1] > 8:  # fx cannot branch on a proxy; the meta device can
            x = self.pool(x)
        return x + 1


def test_untraceable_models_are_recorded() -> None:
    summary = analyze(ShapeDependent(), (3, 20, 20))
    assert summary.method == "recorded"
    assert [r.type for r in summary.layers] == ["Conv2d", "MaxPool2d", "add"]
    assert summary.layers[-1].output_shape == (4, 9, 9)
    assert summary.layer("add").kind == "elementwise"

    data = analyze(DataDependent(), (3, 16, 16))
    assert data.method == "recorded"
    assert [r.name for r in data.layers] == ["conv", "adaptive_avg_pool2d", "flatten", "head"]
    assert data.totals.params == 3 * 8 * 9 + 8 + 8 * 2 + 2


def test_instance_mode_is_restored() -> None:
    model = torchvision.models.resnet18()
    model.train()
    model.layer1.eval()  # a mixed state the caller chose
    analyze(model, (3, 64, 64), mode="eval")
    assert model.training and not model.layer1.training and model.layer2.training


# --- bad input ---------------------------------------------------------------------------------


def test_input_too_small_names_the_first_empty_layer() -> None:
    with pytest.raises(ExplorerError, match=r"features\.12 \(MaxPool2d\)"):
        analyze("alexnet", (3, 32, 32))
    with pytest.raises(ExplorerError, match="too small"):
        analyze("vgg16", (3, 16, 16))


def test_wrong_channel_count_is_a_clear_error() -> None:
    with pytest.raises(ExplorerError, match="features.0"):
        analyze("alexnet", (1, 227, 227))


def test_unknown_model_suggests_close_names() -> None:
    with pytest.raises(ExplorerError, match="resnet50") as info:
        analyze("resnt50")
    assert "Did you mean" in str(info.value)


@pytest.mark.parametrize("text", ["3x22a", "", "3x0x224", "x", "-3x224x224", "3x224x224x"])
def test_malformed_input_shapes(text: str) -> None:
    with pytest.raises(ExplorerError):
        parse_input_shape(text)


@pytest.mark.parametrize(("text", "expected"), [("3x227x227", (3, 227, 227)), ("3×32×32", (3, 32, 32)), ("3, 64, 64", (3, 64, 64))])
def test_input_shape_forms(text: str, expected: tuple[int, ...]) -> None:
    assert parse_input_shape(text) == expected
    assert parse_input_shape("128", channels=1) == (1, 128, 128)


def test_unknown_mode() -> None:
    with pytest.raises(ExplorerError, match="mode"):
        analyze("alexnet", mode="training")


def test_json_schema_is_stable() -> None:
    data = analyze("resnet18").to_dict()
    assert list(data) == ["model", "input_shape", "mode", "convention", "conventions", "layers", "totals"]
    assert data["convention"] == "lecture"
    assert list(data["layers"][0]) == [
        "name", "type", "inputs", "input_shapes", "output_shape", "params", "trainable_params",
        "macs", "flops", "activation_bytes", "receptive_field", "jump", "receptive_field_hw", "jump_hw", "gate",
    ]  # fmt: skip
    assert list(data["totals"]) == ["params", "trainable_params", "macs", "flops", "activation_bytes"]
    assert data["layers"][0]["inputs"] == ["input"]
    assert data["layers"][0]["input_shapes"] == [[3, 224, 224]]
    assert math.prod(data["layers"][-1]["output_shape"]) == 1000
