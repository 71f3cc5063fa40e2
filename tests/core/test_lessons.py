"""Each lesson's numbers against the arithmetic done by hand, and its experiment's real forward."""

from __future__ import annotations

import math

import pytest
import torch

from explorer.core.analysis import analyze
from explorer.core.edits import build_edited
from explorer.core.errors import ExplorerError
from explorer.core.lessons import EFFICIENTNET_SCALING, LESSONS, get_lesson, mbconv_blocks, run_lesson


def test_vgg_three_3x3_against_one_7x7() -> None:
    result = run_lesson("vgg-7x7")
    c = 512
    values = result.values
    assert values["weights_a"] == 3 * 3 * 3 * c * c == 27 * c * c  # 7,077,888
    assert values["weights_b"] == 7 * 7 * c * c == 49 * c * c  # 12,845,056
    assert round(100 * (49 / 27 - 1)) == 81 and "81 % more" in result.verdict
    assert values["rf_a"] == values["rf_b"]  # the same field: 1 + 3 × 2 = 7 px per step, as one 7×7
    assert values["relus_a"] - values["relus_b"] == 2
    assert values["macs_b"] == 14 * 14 * 49 * c * c


def test_vgg_two_3x3_against_one_5x5() -> None:
    values = run_lesson("vgg-5x5").values
    assert (values["weights_a"], values["weights_b"]) == (18 * 512 * 512, 25 * 512 * 512)
    assert values["rf_a"] == values["rf_b"]


def test_googlenet_reductions_match_table_1() -> None:
    values = run_lesson("googlenet-reductions").values
    # inception(3a) with reductions, conv weights: 1×1 64, 1×1 96 → 3×3 128, 1×1 16 → 5×5 32, pool → 1×1 32.
    with_reductions = 192 * 64 + 192 * 96 + 9 * 96 * 128 + 192 * 16 + 25 * 16 * 32 + 192 * 32
    assert values["weights_a"] == with_reductions == 163_328  # the paper's 159K with K = 1024
    assert values["macs_a"] == 28 * 28 * with_reductions == 128_049_152  # the paper's 128M
    naive = 192 * 64 + 9 * 192 * 128 + 25 * 192 * 32
    assert values["weights_b"] == naive == 387_072
    assert values["macs_b"] == 28 * 28 * naive
    assert (values["channels_a"], values["channels_b"]) == (64 + 128 + 32 + 32, 64 + 128 + 32 + 192)


def test_global_average_pooling_against_a_fully_connected_head() -> None:
    result = run_lesson("googlenet-gap")
    assert result.values["head_weights_a"] == 0
    assert result.values["head_weights_b"] == 7 * 7 * 1024 * 1024 == 51_380_224
    assert result.values["params_b"] - result.values["params_a"] == 51_380_224 + 1024  # and the new layer's biases
    assert "7 × 7 × 1024 × 1024 = 51,380,224" in result.verdict


def test_bottleneck_against_basic_block() -> None:
    values = run_lesson("resnet-bottleneck").values
    assert values["weights_a"] == 256 * 64 + 9 * 64 * 64 + 64 * 256 == 69_632
    assert values["weights_b"] == 2 * 9 * 256 * 256 == 1_179_648
    assert values["weights_basic64"] == 2 * 9 * 64 * 64 == 73_728


def test_shortcut_removed_keeps_params_and_loses_the_add() -> None:
    values = run_lesson("resnet-shortcut").values
    assert values["params_a"] == values["params_b"] == 11_689_512  # torchvision's ResNet-18
    assert values["macs_a"] == values["macs_b"]
    assert values["flops_a"] - values["flops_b"] == 64 * 56 * 56
    assert (values["adds_a"], values["adds_b"]) == (1, 0)


def test_alexnet_two_gpus_halve_conv2_4_5() -> None:
    values = run_lesson("alexnet-2gpu").values
    assert values["conv2_params_a"] == 256 * 96 * 25 + 256 and values["conv2_params_b"] == 256 * 48 * 25 + 256
    assert values["conv4_params_b"] == 384 * 192 * 9 + 384
    assert values["conv5_params_b"] == 256 * 192 * 9 + 256
    assert values["conv3_params_a"] == values["conv3_params_b"] == 384 * 256 * 9 + 384
    assert values["conv2_macs_b"] * 2 == values["conv2_macs_a"]
    assert values["params_b"] == values["towers_params"] == 60_965_224  # the two-tower zoo model, counted separately


def test_zfnet_from_alexnet_equals_the_zoo_zfnet() -> None:
    result = run_lesson("zfnet")
    values = result.values
    assert (values["conv1_side_a"], values["conv1_side_b"]) == ((224 - 11 + 4) // 4 + 1, (224 - 7 + 2) // 2 + 1)  # 55, 110
    assert (values["conv1_rf_b"], values["conv1_jump_b"]) == (7, 2)
    zoo = analyze("zfnet")
    assert values["params_b"] == zoo.totals.params and values["macs_b"] == zoo.totals.macs
    assert [p.describe() for p in result.whatif.propagated] == [
        "features.8 in_channels 384 → 512", "features.10 in_channels 256 → 1,024", "classifier.1 in_features 9,216 → 18,432",
    ]  # fmt: skip


def test_efficientnet_scaling_table_matches_torchvision() -> None:
    result = run_lesson("efficientnet-scaling")
    values = result.values
    assert values["b0_params"] == 5_288_548  # torchvision's published num_params
    assert values["b7_params"] == 66_347_960
    assert values["b0_macs"] == pytest.approx(0.386e9, rel=0.01)  # torchvision's _ops: 0.386 GFLOPS (MACs)
    for phi, (name, width, depth, _) in enumerate(EFFICIENTNET_SCALING):
        summary = analyze(name)
        # Width: the stem's channels are 32·w rounded to a multiple of 8; depth: each stage's repeats × d, rounded up.
        stem = summary.layer("features.0.0").output_shape[0]
        assert stem == max(8, int(32 * width + 4) // 8 * 8)
        assert values[f"b{phi}_blocks"] == mbconv_blocks(summary) == sum(math.ceil(n * depth) for n in (1, 2, 2, 3, 3, 4, 1))
    assert values["b7_macs"] / values["b0_macs"] > 64


def test_lenet_c3_connection_table() -> None:
    values = run_lesson("lenet-c3").values
    assert values["params_a"] == 60 * 25 + 16 == 1_516
    assert values["params_b"] == 16 * 6 * 25 + 16 == 2_416
    assert values["macs_a"] == 10 * 10 * 60 * 25 and values["macs_b"] == 10 * 10 * 96 * 25


def test_vgg_resolution_and_where_it_breaks() -> None:
    result = run_lesson("vgg-resolution")
    values = result.values
    assert values["fc_in_224"] == values["fc_in_448"] == values["fc_in_96"] == 512 * 7 * 7
    assert values["paper_fc_in_448"] == 512 * 14 * 14 and values["paper_fc_in_96"] == 512 * 3 * 3
    assert values["paper_fc_params_448"] == 512 * 14 * 14 * 4096 + 4096
    assert values["smallest_side"] == 32  # 2^5: five 2×2 max-pools
    assert "at 31×31 the output of features.30 (MaxPool2d) becomes empty" in result.verdict
    with pytest.raises(ExplorerError, match="features.30"):
        analyze("vgg16", (3, 31, 31))


def test_every_lesson_has_a_claim_a_table_and_a_verdict() -> None:
    assert len(LESSONS) >= 9 and len({lesson.name for lesson in LESSONS}) == len(LESSONS)
    for lesson in LESSONS:
        result = run_lesson(lesson)
        assert lesson.claim and result.verdict and result.measured.rows
        assert all(len(row) == len(result.measured.headers) for row in result.measured.rows)
        assert result.to_dict()["verdict"] == result.verdict
    with pytest.raises(ExplorerError, match="Did you mean vgg-7x7"):
        get_lesson("vgg7x7")


@pytest.mark.parametrize("name", ["googlenet-reductions", "resnet-bottleneck", "lenet-c3", "googlenet-gap"])
def test_lesson_experiments_run_for_real(name: str) -> None:
    lesson = get_lesson(name)
    result = run_lesson(lesson)
    shape = (3, 96, 96) if lesson.model != "lenet5" else None
    edited = build_edited(lesson.model, lesson.base_edits + lesson.edits, input_shape=shape or lesson.input_shape)
    x = torch.randn(1, *edited.input_shape)
    real = edited.layer_shapes(x)
    from explorer.core.edits import apply_edits

    analysed = apply_edits(lesson.model, lesson.base_edits + lesson.edits, input_shape=edited.input_shape)[0]
    assert {row.name: real[row.name] for row in analysed.layers} == {row.name: row.output_shape for row in analysed.layers}
    assert result.whatif is not None


def test_the_googlenet_lessons_first_side_is_the_zoos_paper_faithful_inception_3a() -> None:
    """The lesson restores the 5×5 with edits; the zoo's googlenet_paper does it in code: the same module."""
    whatif = run_lesson("googlenet-reductions").whatif
    assert whatif is not None

    def conv_rows(summary: object) -> list[tuple[str, tuple[int, ...], int, int]]:
        rows, _ = summary.block("inception3a")  # type: ignore[attr-defined]
        return [(r.name, r.output_shape, r.params, r.macs) for r in rows if r.kind == "conv"]

    lesson_side, zoo = conv_rows(whatif.original), conv_rows(analyze("googlenet_paper"))
    assert [row[1:] for row in lesson_side] == [row[1:] for row in zoo]
    assert sum(row[2] for row in zoo) == 163_328
