"""Stages and comparisons (explorer.core.compare), checked against arithmetic done by hand."""

from __future__ import annotations

import pytest

from explorer.core.analysis import analyze
from explorer.core.compare import QUANTITIES, Stage, comparison, cumulative, stages


def conv(cin: int, cout: int, k: int = 3) -> int:
    return cout * cin * k * k + cout


def fc(n_in: int, n_out: int) -> int:
    return n_out * n_in + n_out


def conv_macs(cin: int, cout: int, size: int, k: int = 3) -> int:
    return cout * size * size * cin * k * k


@pytest.fixture(scope="module")
def vgg16():
    return analyze("vgg16")


@pytest.fixture(scope="module")
def vgg16_c():
    return analyze("vgg16_c")


def test_vgg16_stages_by_resolution(vgg16) -> None:
    result = stages(vgg16)
    assert all(isinstance(s, Stage) for s in result)
    # Each max-pool halves the map and opens the next stage; the 7×7 stage holds the last pool
    # and the adaptive average pool (7×7 → 7×7); flatten and the classifier are the head.
    assert [s.resolution for s in result] == [(224, 224), (112, 112), (56, 56), (28, 28), (14, 14), (7, 7), None]
    assert [s.label for s in result] == ["224×224", "112×112", "56×56", "28×28", "14×14", "7×7", "head"]
    assert [s.index for s in result] == list(range(7))
    assert [s.channels for s in result] == [64, 128, 256, 512, 512, 512, 1000]
    assert [(s.first, s.last) for s in result] == [
        ("features.0", "features.3"),
        ("features.4", "features.8"),
        ("features.9", "features.15"),
        ("features.16", "features.22"),
        ("features.23", "features.29"),
        ("features.30", "avgpool"),
        ("flatten", "classifier.6"),
    ]
    assert [s.layer_count for s in result] == [4, 5, 7, 7, 7, 2, 8]
    assert result[-1].is_head and not result[0].is_head

    expected_params = [
        conv(3, 64) + conv(64, 64),
        conv(64, 128) + conv(128, 128),
        conv(128, 256) + 2 * conv(256, 256),
        conv(256, 512) + 2 * conv(512, 512),
        3 * conv(512, 512),
        0,
        fc(512 * 7 * 7, 4096) + fc(4096, 4096) + fc(4096, 1000),
    ]
    assert [s.params for s in result] == expected_params
    assert sum(expected_params) == 138_357_544  # the published VGG-16 count

    assert result[0].macs == conv_macs(3, 64, 224) + conv_macs(64, 64, 224)
    pool_112 = 64 * 112 * 112 * 2 * 2
    assert result[1].macs == pool_112 + conv_macs(64, 128, 112) + conv_macs(128, 128, 112)
    assert result[-1].macs == 25088 * 4096 + 4096 * 4096 + 4096 * 1000
    # 224×224 stage: four outputs of 64×224×224 fp32 values
    assert result[0].activation_bytes == 4 * 64 * 224 * 224 * 4


def test_stages_partition_the_layers_and_sum_to_the_totals(vgg16) -> None:
    for summary in (vgg16, analyze("resnet18"), analyze("googlenet"), analyze("efficientnet_b0")):
        result = stages(summary)
        names = [name for s in result for name in s.layer_names]
        assert names == [layer.name for layer in summary.layers]
        assert sum(s.params for s in result) == summary.totals.params
        assert sum(s.macs for s in result) == summary.totals.macs
        assert sum(s.flops for s in result) == summary.totals.flops
        assert sum(s.activation_bytes for s in result) == summary.totals.activation_bytes
        # every resolution once, larger first, the head last
        spatial = [s.resolution for s in result if s.resolution is not None]
        assert len(set(spatial)) == len(spatial)
        assert [r[0] * r[1] for r in spatial] == sorted((r[0] * r[1] for r in spatial), reverse=True)
        assert result[-1].resolution is None


def test_resnet18_stages() -> None:
    result = stages(analyze("resnet18"))
    # conv1 (stride 2) → 112, max-pool → 56, layer2–4 each halve, the global pool gives 1×1.
    assert [s.label for s in result] == ["112×112", "56×56", "28×28", "14×14", "7×7", "1×1", "head"]
    assert [s.channels for s in result] == [64, 64, 128, 256, 512, 512, 1000]
    assert result[0].layer_names == ("conv1", "bn1", "relu")
    # layer1: two basic blocks of 64 channels (two 3×3 convs without bias + two BNs each)
    block64 = 2 * (64 * 64 * 9 + 2 * 64)
    assert result[1].params == 2 * block64
    assert result[1].first == "maxpool" and result[1].last == "layer1.1.relu:2"
    assert result[-1].params == fc(512, 1000)


def test_squeeze_excitation_stays_in_its_stage() -> None:
    # EfficientNet's SE branches pool to 1×1 and multiply back: no 1×1 stage in the middle.
    result = stages(analyze("efficientnet_b0"))
    assert [s.label for s in result] == ["112×112", "56×56", "28×28", "14×14", "7×7", "1×1", "head"]
    assert result[-2].layer_names == ("avgpool",)


def test_cumulative() -> None:
    assert cumulative([1, 2, 3, 0]) == (1, 3, 6, 6)
    assert cumulative([]) == ()


def test_alexnet_vs_zfnet() -> None:
    alexnet, zfnet = analyze("alexnet"), analyze("zfnet")
    result = comparison(alexnet, zfnet)
    assert result.a is alexnet and result.b is zfnet
    assert result.totals_a == alexnet.totals and result.totals_b == zfnet.totals
    # AlexNet at 227: conv1 11×11/4 pad 2 → 56, pools → 27, 13, 6.
    # ZFNet at 224: conv1 7×7/2 pad 1 → 110, pools → 54, 26, 12, then adaptive pool → 6.
    assert [p.label for p in result.pairs] == [
        "110×110", "56×56", "54×54", "27×27", "26×26", "13×13", "12×12", "6×6", "head",
    ]  # fmt: skip
    present = [(p.a is not None, p.b is not None) for p in result.pairs]
    assert present == [
        (False, True), (True, False), (False, True), (True, False), (False, True),
        (True, False), (False, True), (True, True), (True, True),
    ]  # fmt: skip
    head = result.pairs[-1]
    assert head.a.params == fc(256 * 6 * 6, 4096) + fc(4096, 4096) + fc(4096, 1000)
    assert head.b.params == fc(512 * 6 * 6, 4096) + fc(4096, 4096) + fc(4096, 1000)
    # ZFNet's 26×26 stage: conv 192→512, 512→1024, 1024→512, all 3×3 with bias
    assert result.pairs[4].b.params == conv(192, 512) + conv(512, 1024) + conv(1024, 512)
    assert result.ratios["params"] == pytest.approx(zfnet.totals.params / alexnet.totals.params)
    assert result.ratios["macs"] == pytest.approx(zfnet.totals.macs / alexnet.totals.macs)
    assert set(result.ratios) == set(QUANTITIES)


def test_vgg16_vs_vgg16_c_differ_only_in_the_1x1_stages(vgg16, vgg16_c) -> None:
    result = comparison(vgg16, vgg16_c)
    assert all(p.a is not None and p.b is not None for p in result.pairs)
    changed = {}
    for pair in result.pairs:
        if (pair.a.params, pair.a.macs) != (pair.b.params, pair.b.macs):
            changed[pair.label] = (pair.a.params - pair.b.params, pair.a.macs - pair.b.macs)
        assert pair.a.activation_bytes == pair.b.activation_bytes  # same shapes everywhere
    # Configuration C's third conv in blocks 3–5 is 1×1: (9 − 1) · Cin · Cout fewer weights.
    assert changed == {
        "56×56": (8 * 256 * 256, 8 * 256 * 56 * 56 * 256),
        "28×28": (8 * 512 * 512, 8 * 512 * 28 * 28 * 512),
        "14×14": (8 * 512 * 512, 8 * 512 * 14 * 14 * 512),
    }
    assert result.ratios["activation_bytes"] == 1.0
    assert result.ratios["params"] == pytest.approx(vgg16_c.totals.params / vgg16.totals.params)


def test_comparison_of_a_model_with_itself() -> None:
    summary = analyze("lenet5")
    result = comparison(summary, summary)
    assert all(p.a == p.b for p in result.pairs)
    assert all(r == 1.0 for r in result.ratios.values())
    assert [p.label for p in result.pairs] == ["28×28", "14×14", "10×10", "5×5", "1×1", "head"]
