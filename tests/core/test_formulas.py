"""Every printed formula is true arithmetic and ends in the number the row shows.

``formula_arithmetic`` reads the formulas as exact fractions; this file runs it over every
formula of every zoo model (both modes, 224 and an odd non-square input) and of user models
built to hit the edge cases: dilation, 3×5 kernels, ceil-mode pooling, transposed and grouped
convolutions, asymmetric padding, adaptive pooling that does not divide, a gate, both RF axes.
"""

from __future__ import annotations

import pytest
import torch
from formula_arithmetic import Clause, FormulaSyntaxError, clauses
from torch import nn
from zoo_inputs import ZOO, sizes

from explorer.core import analyze
from explorer.core.analysis import parse_input_shape
from explorer.core.convention_names import CONVENTION_NAMES, DEFAULT_CONVENTION
from explorer.core.edits import SetInput, parse_remove, parse_replace, parse_set, what_if
from explorer.core.lessons import LESSONS, run_lesson
from explorer.core.report import COLUMNS
from explorer.core.stats import LayerStats, ModelSummary

_AXES = {2: {"H": 0, "W": 1}, 1: {"W": 0}, 3: {"D": 0, "H": 1, "W": 2}}
_SIZE_LABELS = {2: {"H'": 1, "W'": 2}, 1: {"W'": 1}, 3: {"D'": 1, "H'": 2, "W'": 3}}


def _axes_of(clause: Clause, rank: int) -> list[int]:
    return [_AXES[rank][clause.axis]] if clause.axis else list(range(rank))


def check_row(row: LayerStats, rank: int) -> int:
    """Evaluate each formula of ``row``; its results must be the row's numbers. Returns how many."""
    checked = 0
    for formula in row.formulas:
        parsed = clauses(formula.expression)
        if not parsed:
            assert "not counted" in formula.expression, f"{row.name}: no value in {formula.expression!r}"
            continue
        checked += 1
        where = f"{row.name} {formula.quantity}: {formula.expression}"
        if formula.quantity in {"params", "MACs", "FLOPs", "memory"}:
            assert len(parsed) == 1, where
            shown = {"params": row.params, "MACs": row.macs, "FLOPs": row.flops, "memory": row.activation_bytes}
            assert parsed[0].result == shown[formula.quantity], where
        elif formula.quantity == "output size":
            for clause in parsed:
                assert clause.labels, where
                for label in clause.labels:
                    index = 0 if label == "C" else _SIZE_LABELS[rank][label]
                    assert clause.result == row.output_shape[index], where
        elif formula.quantity == "receptive field":
            kinds = {clause.labels[-1] for clause in parsed}
            assert kinds == {"RF", "jump"}, where
            for clause in parsed:
                values = row.receptive_field_hw if clause.labels[-1] == "RF" else row.jump_hw
                for axis in _axes_of(clause, rank):
                    assert clause.result == values[axis], where
        else:
            pytest.fail(f"unknown quantity in {where}")
    return checked


def check_summary(summary: ModelSummary) -> int:
    rank = len(summary.input_shape) - 1
    rf_column = dict(COLUMNS)["RF"]
    total = 0
    for row in summary.layers:
        total += check_row(row, rank)
        # The table shows both axes where they differ (H×W), as the formula does, and marks a gate.
        cell = rf_column(row)
        assert ("×" in cell) == (len(set(row.receptive_field_hw)) > 1), (row.name, cell)
        assert cell.endswith("*") == (row.gate is not None), (row.name, cell)
    return total


@pytest.mark.parametrize("name", ZOO)
def test_every_zoo_formula_is_true_arithmetic(name: str) -> None:
    checked = 0
    for mode in ("eval", "train"):
        for shape in sizes(name):
            checked += check_summary(analyze(name, shape, mode))
    assert checked > 0


# --- user models that hit the edge cases ----------------------------------------------------------


class Gated(nn.Module):
    """A squeeze-excitation gate on a spatial path."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, stride=2)
        self.squeeze = nn.AdaptiveAvgPool2d(1)
        self.excite = nn.Conv2d(8, 8, 1)
        self.after = nn.Conv2d(8, 8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        x = x * torch.sigmoid(self.excite(self.squeeze(x)))
        return self.after(x)


EDGE_MODELS = {
    "dilated": (nn.Sequential(nn.Conv2d(3, 4, 3, dilation=2, padding=2), nn.Conv2d(4, 4, (3, 5), dilation=(1, 3), stride=2)), (3, 32, 32)),
    "kernels 3×5, non-square": (nn.Sequential(nn.Conv2d(3, 4, (3, 5), stride=(1, 2), padding=(1, 0)), nn.MaxPool2d((2, 3))), (3, 37, 53)),
    "ceil mode, last window dropped": (nn.Sequential(nn.MaxPool2d(2, 3, ceil_mode=True)), (3, 6, 6)),
    "ceil mode with padding": (nn.Sequential(nn.MaxPool2d(3, 2, padding=1, ceil_mode=True), nn.AvgPool2d(3, 2, ceil_mode=True)), (3, 9, 10)),
    "transposed and grouped": (nn.Sequential(nn.Conv2d(4, 8, 3, groups=4), nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1)), (4, 11, 12)),
    "padding same, even kernel": (nn.Sequential(nn.Conv2d(3, 4, 4, padding="same"), nn.Conv2d(4, 4, 3, padding="valid")), (3, 10, 13)),
    "adaptive, not dividing": (nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d((4, 5)), nn.Conv2d(4, 4, 3, padding=1), nn.AdaptiveMaxPool2d(1)), (3, 16, 19)),
    "adaptive, larger than its input": (nn.Sequential(nn.Conv2d(3, 4, 3, stride=2), nn.AdaptiveAvgPool2d(7), nn.Flatten(), nn.Linear(4 * 49, 2)), (3, 7, 9)),
    "gate": (Gated(), (3, 21, 25)),
}


@pytest.mark.parametrize("case", list(EDGE_MODELS))
def test_edge_case_formulas_are_true_arithmetic(case: str) -> None:
    model, shape = EDGE_MODELS[case]
    summary = analyze(model, shape)
    assert check_summary(summary) >= len(summary.layers)


def test_ceil_mode_formula_states_pytorchs_rule() -> None:
    pool = analyze(nn.Sequential(nn.MaxPool2d(2, 3, ceil_mode=True)), (3, 6, 6)).layers[0]
    text = pool.formula("output size")
    assert text.startswith("⌈(W − K + 2P)/S⌉ + 1, the last window starting inside the input:")
    assert "⌈(6 − 2)/3⌉ + 1 − 1 = 2" in text and pool.output_shape == (3, 2, 2)


def test_dilated_formula_is_the_general_form() -> None:
    conv = analyze(nn.Sequential(nn.Conv2d(3, 4, 3, dilation=2, padding=2)), (3, 32, 32)).layers[0]
    assert conv.formula("output size") == "⌊(W + 2P − D×(K − 1) − 1)/S⌋ + 1: H' = W' = 32 + 2×2 − 2×(3 − 1) − 1 + 1 = 32"


def test_the_evaluator_rejects_the_false_formulas_of_issue_9() -> None:
    with pytest.raises(AssertionError):
        clauses("32 − 2×(3 − 1) − 1 + 2×2 + 1 + 1 = 32")  # the old dilated formula: 33
    with pytest.raises(AssertionError):
        clauses("⌈(6 − 2)/3⌉ + 1 = 2")  # ceil mode without PyTorch's rule: 3
    with pytest.raises(AssertionError):
        clauses("1,000 × 4 B = 4,000 B = 3.91 KB")  # rounded, so it must say ≈
    assert clauses("1,000 × 4 B = 4,000 B ≈ 3.91 KB")[0].result == 4000
    with pytest.raises(FormulaSyntaxError):
        clauses("RF = 3 + x = 5")


# --- every convention, and edited models ---------------------------------------------------------


@pytest.mark.parametrize("convention", [name for name in CONVENTION_NAMES if name != DEFAULT_CONVENTION])
def test_every_conventions_formulas_are_true_arithmetic(convention: str) -> None:
    """Each peer's rules print their own formulas (bias, BN, ReLU, adds, 2×MACs): they must add up too."""
    checked = 0
    for name in ZOO:
        checked += check_summary(analyze(name, sizes(name)[-1], "eval", convention=convention))
    assert checked > len(ZOO)


@pytest.mark.parametrize("lesson", [lesson.name for lesson in LESSONS if lesson.compares])
def test_every_lessons_edited_formulas_are_true_arithmetic(lesson: str) -> None:
    whatif = run_lesson(lesson).whatif
    assert whatif is not None
    assert check_summary(whatif.original) > 0
    assert check_summary(whatif.edited) > 0


EDITS_OF_EVERY_KIND = (
    "--set features.0.kernel_size=5",
    "--set features.3.out_channels=100",  # propagates into features.6's in_channels
    "--replace features.8=conv:out=256,k=3,p=1+relu+conv:out=256,k=3,p=1",
    "--remove features.12",  # the last max-pool, bypassed: the classifier sees 13×13
    "--set-input 3x131x97",
)


@pytest.mark.parametrize("convention", CONVENTION_NAMES)
def test_edited_models_formulas_are_true_arithmetic_in_every_convention(convention: str) -> None:
    edits = []
    for text in EDITS_OF_EVERY_KIND:
        option, value = text.split(" ", 1)
        parse = {"--set": parse_set, "--replace": parse_replace, "--remove": parse_remove,
                 "--set-input": lambda v: SetInput(parse_input_shape(v))}[option]  # fmt: skip
        edits.append(parse(value))
    whatif = what_if("alexnet", edits, convention=convention)
    assert whatif.edited.convention == convention == whatif.original.convention
    assert {"edited", "added"} <= {layer.status for layer in whatif.diff.layers}
    assert check_summary(whatif.edited) >= len(whatif.edited.layers)
