"""The counting conventions reproduce the real peer tools, layer by layer, on every zoo model.

Each test builds the model on the CPU (seeded), runs torchinfo, fvcore, ptflops, thop and
torch's FlopCounterMode on it (tests/core/peer_counts.py) and requires ``analyze(...,
convention=peer)`` to give the same number for every module the tool reports and the same
total — exactly, not within a tolerance.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterator
from fractions import Fraction

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from explorer.core.analysis import analyze
from explorer.core.conventions import CONVENTION_NAMES, Convention, get_convention
from explorer.core.errors import ExplorerError
from explorer.core.stats import ModelSummary
from explorer.core.zoo import get_spec, zoo_specs

from peer_counts import PEERS  # noqa: E402  (tests/core is on sys.path: pytest's rootdir-relative import)

ZOO = zoo_specs()
ODD_SIZE = (3, 97, 131)


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """The peers run real forward passes; on a shared 2-core machine one thread is the faster."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _native(convention: Convention, macs: int, flops: int) -> int:
    return convention.native(macs, flops)


def _ours(summary: ModelSummary, peer: str) -> dict[str, int]:
    """What cnn-explorer counts per module path, the way ``peer`` reports it (see peer_counts)."""
    convention = get_convention(peer)
    counts: dict[str, int] = defaultdict(int)
    for row in summary.layers:
        value = _native(convention, row.macs, row.flops)
        node = row.node
        if peer == "torchinfo" or (peer == "ptflops" and node.is_module):
            if node.is_module:
                counts[node.module_path] += value
        elif peer == "ptflops":  # a container: the patched functionals in its own forward
            counts[node.scope] += value
        else:  # the node and every module around it
            parts = node.path.split(".")
            for depth in range(len(parts) + 1):
                counts[".".join(parts[:depth])] += value
    return counts


def _assert_reproduces(peer: str, model: nn.Module, summary: ModelSummary, shape: tuple[int, ...], mode: str = "eval") -> None:
    per_module, total = PEERS[peer](model, shape, mode)
    convention = get_convention(peer)
    ours = _ours(summary, peer)
    mismatches = [(path, value, ours.get(path, 0)) for path, value in per_module.items() if ours.get(path, 0) != value]
    assert not mismatches, f"{peer}: {len(mismatches)} of {len(per_module)} modules differ (path, {peer}, ours): {mismatches[:5]}"
    assert _native(convention, summary.totals.macs, summary.totals.flops) == total, peer
    assert summary.convention == peer


def _cpu_model(name: str) -> nn.Module:
    torch.manual_seed(0)
    return get_spec(name).build().eval()


@pytest.mark.slow
@pytest.mark.parametrize("spec", ZOO, ids=lambda s: s.name)
def test_every_peer_layer_by_layer_on_the_zoo(spec) -> None:
    model = _cpu_model(spec.name)
    for peer in PEERS:
        _assert_reproduces(peer, model, analyze(spec.name, convention=peer), spec.input_shape)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["alexnet", "vgg16", "googlenet", "resnet50", "efficientnet_b0", "efficientnet_lite0"])
def test_every_peer_at_an_odd_non_square_input(name: str) -> None:
    """97×131: VGG's adaptive pool upsamples 3×4 to 7×7 (thop's float window), GoogLeNet's ceil-mode pools."""
    model = _cpu_model(name)
    for peer in PEERS:
        _assert_reproduces(peer, model, analyze(name, ODD_SIZE, convention=peer), ODD_SIZE)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["googlenet", "resnet18", "efficientnet_b0"])
def test_train_mode_for_the_peers_that_follow_it(name: str) -> None:
    """fvcore's BatchNorm costs 5 per element in training; GoogLeNet's auxiliary heads run.

    thop and ptflops put every model in eval mode themselves, so they have no train mode to compare.
    """
    model = _cpu_model(name)
    shape = get_spec(name).input_shape
    for peer in ("torchinfo", "fvcore", "torch"):
        _assert_reproduces(peer, model, analyze(name, mode="train", convention=peer), shape, "train")
    model.eval()


class OddLayers(nn.Module):
    """Layers the zoo lacks, each of which some peer counts its own way."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.gn = nn.GroupNorm(2, 8)
        self.gelu = nn.GELU()
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.deconv = nn.ConvTranspose2d(8, 4, 2, stride=2)
        self.inorm = nn.InstanceNorm2d(4, affine=True)
        self.lrelu = nn.LeakyReLU()
        self.avg = nn.AvgPool2d(2)
        self.silu = nn.SiLU()
        self.prelu = nn.PReLU()
        self.hswish = nn.Hardswish()
        self.elu = nn.ELU()
        self.ln = nn.LayerNorm(24)
        self.dilated = nn.Conv2d(4, 6, 3, dilation=2, groups=2, padding=2)
        self.pool = nn.AdaptiveAvgPool2d((4, 7))  # from 6×10: windows that do not divide
        self.fc = nn.Linear(6 * 4 * 7, 10)
        self.proj = nn.Parameter(torch.randn(10, 10))
        self.softmax = nn.Softmax(dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.gelu(self.gn(self.conv(x)))
        x = self.up(x)
        x = F.relu(self.deconv(x))
        x = self.lrelu(self.inorm(x))
        x = self.avg(x)
        x = self.elu(self.hswish(self.prelu(self.silu(x))))
        x = self.ln(F.max_pool2d(x, 2))
        x = self.dilated(x)
        x = F.adaptive_avg_pool2d(x, (6, 10)) + x[:, :, :6, :10]
        x = torch.flatten(self.pool(x), 1)
        y = torch.matmul(self.fc(x), self.proj)
        return self.softmax(y)


ODD_SHAPE = (3, 20, 24)


def test_every_peer_on_layers_the_zoo_lacks() -> None:
    torch.manual_seed(0)
    model = OddLayers().eval()
    for peer in PEERS:
        _assert_reproduces(peer, model, analyze(model, ODD_SHAPE, convention=peer), ODD_SHAPE)


def test_known_difference_ptflops_counts_tensor_add_calls_but_the_graph_cannot_tell_them_from_plus() -> None:
    """ptflops patches ``torch.add``/``Tensor.add`` but not ``+``; the fx graph records both as ``add``.

    cnn-explorer counts neither (``+`` is what the zoo's residual blocks use), so on a model that
    calls ``x.add(y)`` ptflops is higher by exactly the add's output elements (README, "Remaining differences").
    """

    class AddByMethod(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv(x).add(self.conv(x))

    model = AddByMethod().eval()
    _per_module, total = PEERS["ptflops"](model, (3, 8, 8))
    ours = analyze(model, (3, 8, 8), convention="ptflops")
    assert total - ours.totals.macs == 4 * 8 * 8


# --- formulas: true arithmetic for every convention ---------------------------------------------

_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")
_FORMULA = re.compile(r"^(?P<expression>.+?) = (?P<result>\d[\d,]*)(?: \((?P<note>.*)\))?$")


def evaluate(expression: str) -> Fraction:
    """Exact value of a formula's arithmetic: × − / + ( ) ⌊ ⌋ ⌈ ⌉ and numbers with thousands commas."""
    python = expression.replace("×", "*").replace("−", "-").replace("⌊", "floor(").replace("⌋", ")")
    python = python.replace("⌈", "ceil(").replace("⌉", ")")
    python = _NUMBER.sub(lambda m: f"Fraction('{m.group().replace(',', '')}')", python)
    if re.search(r"[A-Za-z_]", re.sub(r"Fraction|floor|ceil", "", python)):
        raise ValueError(f"not arithmetic: {expression!r}")
    return eval(python, {"__builtins__": {}}, {"Fraction": Fraction, "floor": math.floor, "ceil": math.ceil})


def _check_formula(text: str, expected: int, where: str) -> None:
    match = _FORMULA.match(text)
    if match is None:
        number = text.split(" ", 1)[0]  # "0 (thop counts modules only)"
        assert number == f"{expected:,}", f"{where}: {text!r}"
        return
    result = int(match["result"].replace(",", ""))
    assert result == expected, f"{where}: {text!r} shows {result:,}, the layer has {expected:,}"
    assert evaluate(match["expression"]) == result, f"{where}: {text!r} does not evaluate to {result:,}"


PEER_CONVENTIONS = [name for name in CONVENTION_NAMES if name != "lecture"]


@pytest.mark.parametrize("convention", PEER_CONVENTIONS)
def test_every_formula_of_every_peer_convention_is_true_arithmetic(convention: str) -> None:
    torch.manual_seed(0)
    summaries = [analyze(spec.name, convention=convention) for spec in ZOO]
    summaries += [analyze(ZOO[0].name, mode="train", convention=convention), analyze("vgg16", ODD_SIZE, convention=convention)]
    summaries.append(analyze(OddLayers(), ODD_SHAPE, convention=convention))
    checked = 0
    for summary in summaries:
        for row in summary.layers:
            macs, flops = row.formula("MACs"), row.formula("FLOPs")
            assert macs is not None, f"{summary.model} {row.name}: no MACs formula"
            _check_formula(macs, row.macs, f"{summary.model} {row.name} MACs")
            if row.flops:
                assert flops is not None, f"{summary.model} {row.name}: no FLOPs formula"
                _check_formula(flops, row.flops, f"{summary.model} {row.name} FLOPs")
            checked += 1
    assert checked > 2000


def test_thop_adaptive_pool_formula_says_when_floating_point_truncates() -> None:
    """13×13 → 6×6: exactly 13·13·C + 6·6·C, but thop's float product can land just below it."""

    class Pool(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.pool = nn.AdaptiveAvgPool2d((6, 6))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.pool(x)

    for channels in (1, 3, 64, 256, 1000):
        shape = (channels, 13, 13)
        _per_module, total = PEERS["thop"](Pool(), shape)
        row = analyze(Pool(), shape, convention="thop").layer("pool")
        assert row.macs == total
        _check_formula(row.formula("MACs"), total, f"{channels}×13×13")
        assert total in {channels * (169 + 36), channels * (169 + 36) - 1}


# --- the API ---------------------------------------------------------------------------------------


def test_a_summary_says_its_convention_and_switching_reuses_the_graph() -> None:
    lecture = analyze("resnet18")
    assert lecture.convention == "lecture"
    fvcore = lecture.with_convention("fvcore")
    assert fvcore.graph is lecture.graph  # nothing traced or propagated again
    assert fvcore.convention == "fvcore" and fvcore.to_dict()["convention"] == "fvcore"
    assert "one fused multiply-add" in fvcore.to_dict()["conventions"]["macs"]
    assert lecture.to_dict()["conventions"] == dict(lecture.conventions)
    assert fvcore.with_convention("lecture").totals == lecture.totals
    assert [r.receptive_field_hw for r in fvcore.layers] == [r.receptive_field_hw for r in lecture.layers]
    assert fvcore.layer("conv1").macs == lecture.layer("conv1").macs  # no bias: the same products
    assert fvcore.layer("bn1").macs == 2 * 64 * 112 * 112 and lecture.layer("bn1").macs == 0


def test_unknown_convention_is_a_clear_error() -> None:
    with pytest.raises(ExplorerError, match="Unknown convention 'flops'.*lecture, torchinfo, fvcore, ptflops, thop, torch"):
        analyze("alexnet", convention="flops")
    with pytest.raises(ExplorerError):
        analyze("alexnet").with_convention("macs")


def test_torch_convention_reports_flops_and_the_others_macs() -> None:
    summary = analyze("alexnet", convention="torch")
    convention = get_convention("torch")
    assert convention.reports == "FLOPs"
    assert summary.totals.flops == 2 * summary.totals.macs
    assert convention.native(summary.totals.macs, summary.totals.flops) == summary.totals.flops
    assert all(get_convention(name).reports == "MACs" for name in CONVENTION_NAMES if name != "torch")
