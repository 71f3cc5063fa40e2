"""What-if edits: each kind of edit, channel propagation, the diff, bad edits, and real forwards."""

from __future__ import annotations

import json

import pytest
import torch

from explorer.core.analysis import analyze
from explorer.core.edits import (
    EditFile,
    LayerSpec,
    RemoveLayer,
    ReplaceLayer,
    SetInput,
    SetLayer,
    apply_edits,
    build_edited,
    check_set,
    edit_from_dict,
    parse_replace,
    parse_set,
    what_if,
)
from explorer.core.errors import ExplorerError


def test_set_a_kernel_recounts_the_layer_and_what_follows() -> None:
    result = what_if("alexnet", [SetLayer("features.0", kernel_size=7, stride=2, padding=1)])
    conv1 = result.edited.layer("features.0")
    # 64 × 3 × 7 × 7 + 64 and ⌊(227 − 7 + 2)/2⌋ + 1 = 112, both by hand.
    assert conv1.params == 64 * 3 * 7 * 7 + 64
    assert conv1.output_shape == (64, 112, 112)
    assert conv1.macs == 64 * 112 * 112 * 3 * 7 * 7
    assert conv1.receptive_field == 7 and conv1.jump == 2
    assert "64 × 3 × 7 × 7 + 64 = 9,472" in conv1.formula("params")
    rows = {row.name: row for row in result.diff.layers}
    assert rows["features.0"].status == "edited"
    assert rows["features.3"].status == "affected"  # same weights, bigger input: more MACs
    assert rows["features.3"].after.macs > rows["features.3"].before.macs
    assert result.diff.ratios["params"] == pytest.approx(result.edited.totals.params / result.original.totals.params)


def test_channel_change_propagates_to_bn_and_the_next_conv() -> None:
    result = what_if("resnet18", [SetLayer("layer2.0.conv1", out_channels=96)])
    assert [p.describe() for p in result.propagated] == [
        "layer2.0.bn1 num_features 128 → 96",
        "layer2.0.conv2 in_channels 128 → 96",
    ]
    conv2 = result.edited.layer("layer2.0.conv2")
    assert conv2.params == 128 * 96 * 3 * 3  # no bias in torchvision's ResNet
    assert result.edited.layer("layer2.0.bn1").params == 2 * 96
    statuses = {row.name: row.status for row in result.diff.layers}
    assert statuses["layer2.0.conv1"] == "edited"
    assert statuses["layer2.0.bn1"] == statuses["layer2.0.conv2"] == "propagated"


def test_linear_after_a_flatten_follows_the_channels() -> None:
    result = what_if("alexnet", [SetLayer("features.10", out_channels=128)])
    assert [p.describe() for p in result.propagated] == ["classifier.1 in_features 9,216 → 4,608"]  # 128 × 6 × 6
    assert result.edited.layer("classifier.1").params == 4608 * 4096 + 4096


def test_depthwise_conv_follows_its_input() -> None:
    # Lite0 has no squeeze-excitation gate; a gate's channels would have to change with it (B0: an error).
    result = what_if("efficientnet_lite0", [SetLayer("_blocks.1._expand_conv", out_channels=64)])
    fields = {(p.layer, p.field): (p.before, p.after) for p in result.propagated}
    assert fields[("_blocks.1._depthwise_conv", "groups")] == (96, 64)
    assert fields[("_blocks.1._depthwise_conv", "out_channels")] == (96, 64)
    assert fields[("_blocks.1._project_conv", "in_channels")] == (96, 64)
    assert result.edited.layer("_blocks.1._depthwise_conv").params == 64 * 1 * 3 * 3  # SAME-padded, no bias
    with pytest.raises(ExplorerError, match="breaks at the mul in features.2.0.block.2"):
        what_if("efficientnet_b0", [SetLayer("features.2.0.block.0.0", out_channels=64)])


def test_replace_a_conv_by_a_chain_adds_nodes_with_their_own_names() -> None:
    chain = (LayerSpec("conv", out_channels=64, kernel_size=3, padding=1), LayerSpec("relu"), LayerSpec("conv", out_channels=64, kernel_size=3, padding=1))
    result = what_if("vgg16", [ReplaceLayer("features.2", chain)])
    assert [row.name for row in result.diff.layers if row.status == "added"] == ["features.2.0", "features.2.1", "features.2.2"]
    assert [row.name for row in result.diff.layers if row.status == "removed"] == ["features.2"]
    assert result.edited.layer("features.2.2").params == 64 * 64 * 9 + 64
    assert result.edited.layer("features.2.2").receptive_field == result.original.layer("features.2").receptive_field + 2


def test_remove_a_shortcut_keeps_the_residual_branch() -> None:
    result = what_if("resnet18", [RemoveLayer("layer1.0.add")])
    assert "layer1.0.add" not in result.edited.graph
    assert result.edited.layer("layer1.0.relu:2").inputs == ("layer1.0.bn2",)
    assert result.edited.totals.params == result.original.totals.params
    assert result.original.totals.flops - result.edited.totals.flops == 64 * 56 * 56  # the add's one FLOP per element


def test_remove_a_branch_drops_it_from_the_cat() -> None:
    result = what_if("googlenet", [RemoveLayer("inception3a.branch4")])
    cat = result.edited.layer("inception3a.cat")
    assert cat.output_shape[0] == 64 + 128 + 32  # the pool branch's 32 channels are gone
    assert "cat loses the branch" in result.notes[0]
    assert [p.describe() for p in result.propagated][0] == "inception3b.branch1.conv in_channels 256 → 224"


def test_remove_a_gate_keeps_the_spatial_path() -> None:
    result = what_if("efficientnet_b0", [RemoveLayer("features.1.0.block.1.mul")])
    projection = result.edited.layer("features.1.0.block.2.0")
    assert projection.inputs == ("features.1.0.block.0.2",)  # the depthwise conv's activation, not the gate


def test_train_mode_and_user_models(tmp_path) -> None:
    result = what_if("googlenet", [SetLayer("aux1.conv.conv", out_channels=64)], mode="train")
    assert [p.describe() for p in result.propagated] == ["aux1.conv.bn num_features 128 → 64", "aux1.fc1 in_features 2,048 → 1,024"]
    path = tmp_path / "net.py"
    path.write_text(
        "from torch import nn\nINPUT_SHAPE = (1, 28, 28)\n"
        "def build():\n    return nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 26 * 26, 10))\n"
    )
    result = what_if(f"{path}:build", [SetLayer("0", out_channels=4, padding=1)])
    assert [p.describe() for p in result.propagated] == [f"3 in_features 5,408 → {4 * 28 * 28:,}"]


def test_set_input_reanalyses_every_layer() -> None:
    result = what_if("vgg16", [SetInput((3, 448, 448))])
    assert result.edited.layer("features.30").output_shape == (512, 14, 14)
    assert result.edited.totals.params == result.original.totals.params  # the adaptive pool keeps FC6 at 25,088


@pytest.mark.parametrize(
    ("model", "edits", "message"),
    [
        ("resnet18", [SetLayer("layer1.0.conv2", out_channels=128)], "breaks at the add in layer1.0: it cannot combine 128×56×56 and 64×56×56"),
        ("resnet18", [SetLayer("layer1.0.conv2", padding=0)], "breaks at the add in layer1.0: it cannot combine 64×54×54 and 64×56×56"),
        ("googlenet", [SetLayer("inception3a.branch2.1.conv", padding=0)], "breaks at the cat in inception3a: it cannot join 64×28×28, 128×26×26"),
        ("vgg16", [SetInput((3, 31, 31))], "breaks at features.30 (MaxPool2d): its output becomes empty (its input is 512×1×1)"),
        ("vgg16", [SetLayer("features.0", kernel_size=300)], "breaks at features.0 (Conv2d): its output becomes empty"),
        ("vgg16", [SetLayer("features.0", groups=5)], "features.0 (Conv2d) cannot take groups = 5"),
        ("vgg16", [SetLayer("features.99", kernel_size=3)], "vgg16 has no layer 'features.99'"),
        ("vgg16", [SetLayer("features.0", kernal_size=3)], "has no editable setting 'kernal_size'"),
        ("vgg16", [SetLayer("features.0", kernel_size=0)], "kernel_size must be at least 1"),
        ("vgg16", [SetLayer("features.1", kernel_size=3)], "features.1 (ReLU) has no settings to edit"),
        ("vgg16", [ReplaceLayer("features.0", (LayerSpec("convv"),))], "Unknown layer type 'convv'"),
        ("vgg16", [ReplaceLayer("features.0", (LayerSpec("linear"),))], "needs out_features"),
        ("googlenet", [RemoveLayer("inception3a.cat")], "remove one of the branches instead"),
        ("lenet5", [SetLayer("c1", out_channels=8)], "breaks at s2 (Subsampling2d): it takes 6 channels and now gets 8"),
        ("resnet18", [RemoveLayer("layer2.0.downsample")], "breaks at the add in layer2.0"),
        ("googlenet", [SetLayer("aux1.conv.conv", out_channels=64)], "does not run in eval mode"),
    ],
)
def test_bad_edits_name_the_first_layer_that_breaks_and_change_nothing(model: str, edits: list, message: str) -> None:
    before = analyze(model).to_json()
    with pytest.raises(ExplorerError) as caught:
        what_if(model, edits)
    assert message in str(caught.value)
    assert analyze(model).to_json() == before  # the cached original is untouched


def test_edits_never_touch_the_cached_model() -> None:
    before = analyze("resnet50").to_json()
    what_if("resnet50", [SetLayer("conv1", kernel_size=3, padding=1), ReplaceLayer("layer1.1", (LayerSpec("basic_block", planes=256),)), RemoveLayer("layer2.0.add")])
    assert analyze("resnet50").to_json() == before


def test_text_forms_and_json_round_trip(tmp_path) -> None:
    assert parse_set("features.0.k=7x7") == SetLayer("features.0", kernel_size=(7, 7))
    assert parse_set("classifier.6.bias=false") == SetLayer("classifier.6", bias=False)
    replace = parse_replace("avgpool=flatten + linear:out_features=1024")
    assert replace == ReplaceLayer("avgpool", (LayerSpec("flatten"), LayerSpec("linear", out_features=1024)))
    edits = (SetLayer("features.0", kernel_size=(7, 7), padding=3), replace, RemoveLayer("features.1"), SetInput((3, 96, 96)))
    assert tuple(edit_from_dict(json.loads(json.dumps(e.to_dict()))) for e in edits) == edits
    path = tmp_path / "edits.json"
    EditFile("vgg16", edits, "eval", (3, 224, 224)).save(path)
    assert EditFile.load(path) == EditFile("vgg16", edits, "eval", (3, 224, 224))
    path.write_text('{"format": "something else"}')
    with pytest.raises(ExplorerError, match="is not a cnn-explorer edit file"):
        EditFile.load(path)
    for bad in ("features.0.kernel_size", "kernel_size=7", "features.0.k=seven"):
        with pytest.raises(ExplorerError):
            parse_set(bad)


def test_check_set_explains_red_fields() -> None:
    alexnet = analyze("alexnet", (3, 224, 224))
    conv1 = alexnet.layer("features.0")
    problems = check_set(conv1, {})
    # (224 − 11 + 2×2)/4 = 54.25: the lecture's 227 exists because 224 does not divide.
    assert [p.field for p in problems] == ["stride"]
    assert "(224 − 11 + 2×2)/4 = 54.25 is not whole" in problems[0].message and not problems[0].blocking
    assert not check_set(analyze("alexnet").layer("features.0"), {})  # at 227: (227 − 11 + 4)/4 + 1 = 56
    padding = check_set(conv1, {"padding": 11})
    assert any(p.field == "padding" and "K − 1 = 10" in p.message for p in padding)
    empty = check_set(conv1, {"kernel_size": 300})
    assert any(p.blocking and p.field == "kernel_size" for p in empty)
    groups = check_set(alexnet.layer("features.3"), {"groups": 5})
    assert groups[0].field == "groups" and groups[0].blocking


@pytest.mark.parametrize(
    ("model", "edits", "shape"),
    [
        ("lenet5", [ReplaceLayer("c3", (LayerSpec("conv", out_channels=16, kernel_size=5),))], None),
        ("resnet18", [RemoveLayer("layer1.0.add"), SetLayer("layer2.0.conv1", out_channels=96)], (3, 64, 64)),
        ("resnet50", [ReplaceLayer("layer1.1", (LayerSpec("basic_block", planes=256),))], (3, 64, 64)),
        (
            "googlenet",
            [SetLayer("inception3a.branch3.1.conv", kernel_size=5, padding=2), RemoveLayer("inception3a.branch2.0"),
             RemoveLayer("inception3a.branch3.0"), RemoveLayer("inception3a.branch4.1"), RemoveLayer("inception4a.branch4")],
            (3, 96, 96),
        ),  # fmt: skip
        ("alexnet", [SetLayer("features.0", kernel_size=7, stride=2, padding=1), SetLayer("features.6", out_channels=512), SetInput((3, 128, 128))], None),
    ],
)
def test_the_real_forward_has_the_shapes_the_analysis_claims(model: str, edits: list, shape: tuple | None) -> None:
    analysed, _, _, _ = apply_edits(model, edits, input_shape=shape)
    built = build_edited(model, edits, input_shape=shape)
    real = built.layer_shapes(torch.randn(2, *analysed.input_shape))
    claimed = {row.name: row.output_shape for row in analysed.layers}
    assert set(claimed) <= set(real)
    assert {name: real[name] for name in claimed} == claimed
    assert sum(p.numel() for p in built.module.parameters()) == analysed.totals.params


def test_pretrained_weights_survive_where_the_shape_stays() -> None:
    from explorer.core.onnx_export import run_to_end
    from explorer.core.weights import EMBEDDED, load_weights

    model, _ = run_to_end(load_weights("efficientnet_lite0", EMBEDDED))
    edited = build_edited(
        "efficientnet_lite0", [SetLayer("_conv_stem", stride=1), SetLayer("_blocks.0._project_conv", out_channels=24)], weights=EMBEDDED
    )
    assert torch.equal(edited.module.get_submodule("_conv_stem").weight, model.get_submodule("_conv_stem").weight)
    assert not torch.equal(edited.module.get_submodule("_blocks.0._project_conv").weight[:16], model.get_submodule("_blocks.0._project_conv").weight)
    assert "new layers initialised" in edited.weights
