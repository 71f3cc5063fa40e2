"""The paper-faithful zoo entries reproduce their papers' figures; torchvision's differences are stated."""

from __future__ import annotations

import pytest
import torch

from explorer.core import analyze
from explorer.core.analysis import build_on_meta
from explorer.core.report import render_table
from explorer.core.zoo import get_spec

#: ResNet paper, Table 1, "FLOPs" (multiply-adds, 3×224×224), quoted to one decimal.
RESNET_PAPER_GMACS = {50: 3.8, 101: 7.6, 152: 11.3}


def _conv_linear_gmacs(name: str) -> float:
    summary = analyze(name, (3, 224, 224))
    return sum(r.macs for r in summary.layers if r.kind in {"conv", "linear"}) / 1e9


@pytest.mark.parametrize("depth", [50, 101, 152])
def test_resnet_v1_reproduces_the_papers_flops(depth: int) -> None:
    paper = RESNET_PAPER_GMACS[depth]
    v1, v15 = _conv_linear_gmacs(f"resnet{depth}_v1"), _conv_linear_gmacs(f"resnet{depth}")
    # The paper's one decimal holds ±0.05; 3.858 is the figure usually quoted for its ResNet-50.
    assert abs(v1 - paper) < 0.06, v1
    assert abs(v15 - paper) > 0.15, v15  # torchvision's v1.5: 4.09, 7.80, 11.51
    import torchvision

    published = torchvision.models.get_model_weights(f"resnet{depth}").DEFAULT.meta["_ops"]
    assert abs(v15 - published) < 0.005


@pytest.mark.parametrize("depth", [50, 101, 152])
def test_resnet_v1_is_torchvisions_with_the_stride_moved(depth: int) -> None:
    v1 = build_on_meta(get_spec(f"resnet{depth}_v1"))
    v15 = build_on_meta(get_spec(f"resnet{depth}"))
    assert {k: v.shape for k, v in v1.state_dict().items()} == {k: v.shape for k, v in v15.state_dict().items()}
    for stage in ("layer2", "layer3", "layer4"):
        block_v1, block_v15 = getattr(v1, stage)[0], getattr(v15, stage)[0]
        assert (block_v1.conv1.stride, block_v1.conv2.stride) == ((2, 2), (1, 1))
        assert (block_v15.conv1.stride, block_v15.conv2.stride) == ((1, 1), (2, 2))
    a, b = analyze(f"resnet{depth}_v1"), analyze(f"resnet{depth}")
    assert a.totals.params == b.totals.params
    assert [(r.name, r.output_shape) for r in a.layers if r.type == "add"] == [
        (r.name, r.output_shape) for r in b.layers if r.type == "add"
    ]  # every block's output is the same; inside a downsampling block the 1×1 already halves
    assert a.layer("layer2.0.conv1").output_shape == (128, 28, 28) != b.layer("layer2.0.conv1").output_shape


def test_resnet_v1_loads_torchvisions_state_dict() -> None:
    import torchvision

    torch.manual_seed(0)
    v15 = torchvision.models.resnet50()
    v1 = get_spec("resnet50_v1").build()
    v1.load_state_dict(v15.state_dict())  # strict: every key and shape matches
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert v1.eval()(x).shape == v15.eval()(x).shape == (1, 1000)


#: GoogLeNet paper, Table 1: (params in K, ops in M) of the first two Inception modules.
TABLE_1 = {"inception3a": (159, 128), "inception3b": (380, 304)}


@pytest.mark.parametrize("module", list(TABLE_1))
def test_googlenet_paper_reproduces_table_1(module: str) -> None:
    params_k, ops_m = TABLE_1[module]
    rows, _ = analyze("googlenet_paper").block(module)
    convs = [r for r in rows if r.kind == "conv"]
    weights = sum(r.params for r in convs)  # Table 1 counts the convolutions (no BatchNorm then)
    macs = sum(r.macs for r in convs)
    assert abs(weights / 1024 - params_k) <= 1, weights  # the paper's K is 1024 (163,328 = 159.5K)
    assert round(macs / 1e6) == ops_m
    if module == "inception3a":
        assert (weights, macs) == (163_328, 128_049_152)
    five = analyze("googlenet_paper").graph.module(f"{module}.branch3.1.conv")
    assert five.kernel_size == (5, 5) and five.padding == (2, 2)
    tv_rows, _ = analyze("googlenet").block(module)
    assert sum(r.params for r in tv_rows if r.kind == "conv") < weights  # torchvision's "5×5" is 3×3


def test_zfnet_paper_has_figure_3s_sizes() -> None:
    summary = analyze("zfnet_paper")
    sizes = [r.output_shape[1] for r in summary.layers if r.kind in {"conv", "pool"}]
    assert sizes[:4] == [110, 55, 26, 13]  # conv1, pool1, conv2, pool2 in Fig. 3
    assert summary.layer("features.0").output_shape == (96, 110, 110)
    conv2 = summary.graph.module("features.4")
    assert conv2.stride == (2, 2) and conv2.out_channels == 256
    assert summary.layer("features.14").output_shape == (256, 6, 6)
    assert summary.layer("avgpool").macs == 0  # 6×6 → 6×6


def test_identity_adaptive_pool_costs_nothing() -> None:
    summary = analyze("alexnet")
    avgpool = summary.layer("avgpool")
    assert (avgpool.macs, avgpool.flops) == (0, 0)
    assert avgpool.formula("MACs").startswith("0 (6×6 → 6×6")
    assert analyze("alexnet", (3, 97, 131)).layer("avgpool").macs == 256 * 2 * 3  # 2×3 → 6×6 reads its input


def test_googlenet_train_mode_has_no_phantom_output_row() -> None:
    summary = analyze("googlenet", mode="train")
    assert not [r for r in summary.layers if "Outputs" in r.type]
    assert summary.totals.activation_bytes == sum(r.activation_bytes for r in summary.layers)
    assert set(summary.graph.outputs) == {"fc", "aux1.fc2", "aux2.fc2"}


@pytest.mark.parametrize("name", ["alexnet", "zfnet", "googlenet", "resnet50", "resnet101", "resnet152"])
def test_where_torchvision_is_not_the_paper_the_summary_says_so(name: str) -> None:
    spec = get_spec(name)
    assert spec.paper_differences
    header = render_table(analyze(name)).splitlines()[:3]
    assert any(line.startswith("Not the paper's: ") and spec.paper_differences in line for line in header)


def test_the_notes_name_the_figures() -> None:
    assert "4.09 GMACs against the paper's 3.8" in get_spec("resnet50").paper_differences
    assert "11.51 GMACs against the paper's 11.3" in get_spec("resnet152").paper_differences
    assert "is a 3×3" in get_spec("googlenet").paper_differences
    assert "3×3 (the paper's 5×5" in get_spec("googlenet").notes  # no longer "1×1, 3×3, 5×5"
    assert "96-256-384-384-256" in get_spec("alexnet").paper_differences
    assert not get_spec("resnet18").paper_differences
