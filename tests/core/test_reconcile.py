"""``reconcile``: the paper, torchvision's _ops and every convention side by side; the CLI's --convention."""

from __future__ import annotations

import json

import pytest
import torchvision

from explorer.cli import main
from explorer.core.analysis import analyze
from explorer.core.conventions import CONVENTION_NAMES, get_convention
from explorer.core.reconcile import PAPER_FIGURES, reconcile, render_reconciliation
from explorer.core.zoo import zoo_specs

#: The networks the seeds teach; each must have a reconcile table.
SEED_NETWORKS = ("lenet5", "alexnet", "zfnet", "vgg16", "googlenet", "resnet50", "efficientnet_b0")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("name", SEED_NETWORKS)
def test_every_seed_network_reconciles(name: str) -> None:
    summary = analyze(name)
    table = reconcile(summary)
    assert [line.source for line in table.lines] == ["paper", "torchvision", *CONVENTION_NAMES]
    for convention in CONVENTION_NAMES:
        line = table.line(convention)
        counted = analyze(name, convention=convention)
        assert line.total == get_convention(convention).native(counted.totals.macs, counted.totals.flops)
        assert line.macs == counted.totals.macs
        assert line.why
    text = render_reconciliation(table)
    assert "why do the numbers differ?" in text and f"{table.line('fvcore').total:,}" in text


def test_every_zoo_model_has_a_paper_entry_that_says_where_it_is_from() -> None:
    for spec in zoo_specs():
        figure = PAPER_FIGURES[spec.name]
        assert figure.source and figure.why, spec.name
        assert (figure.value is None) == (figure.shown == "—"), spec.name


def test_resnet50_paper_and_torchvision_figures() -> None:
    table = reconcile(analyze("resnet50"))
    paper, tv = table.line("paper"), table.line("torchvision")
    assert paper.total == 3.8e9 and "Table 1" in paper.label and "v1.5" in paper.why
    assert tv.total == torchvision.models.ResNet50_Weights.DEFAULT.meta["_ops"] * 1e9
    # torchvision's _ops is the conv + linear products: the torch counter's MACs, within its rounding to 3 decimals
    assert abs(table.line("torch").macs - tv.total) <= 0.0005e9
    assert "BatchNorm2d" in table.line("fvcore").why and "ReLU" in table.line("ptflops").why


def test_lenet_paper_connections_are_torchinfos_rule_on_the_convolutions() -> None:
    """The paper's C1, C3, C5 and F6 connections are torchinfo's (weights + bias) × positions exactly."""
    torchinfo = analyze("lenet5", convention="torchinfo")
    published = {"c1": 122_304, "c3": 151_600, "c5": 48_120, "f6": 10_164}
    assert {name: torchinfo.layer(name).macs for name in published} == published
    assert PAPER_FIGURES["lenet5"].value == sum(published.values()) + 5_880 + 2_000


def test_alexnet_has_no_paper_figure_and_says_so() -> None:
    table = reconcile(analyze("alexnet"))
    assert table.line("paper").total is None and "no operation count" in table.line("paper").why
    assert "224×224" in table.line("torchvision").why  # the zoo's AlexNet is analysed at 227


def test_a_model_torchvision_lacks(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "reconcile", "efficientnet_lite0", "--format", "json")
    assert code == 0
    data = json.loads(out)
    lines = {line["source"]: line for line in data["lines"]}
    assert lines["torchvision"]["total"] is None and lines["paper"]["total"] is None
    assert lines["thop"]["total"] < lines["lecture"]["total"]  # thop skips the Conv2d subclass
    assert "Conv2dSame not counted" in lines["thop"]["why"]


def test_cli_reconcile_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "reconcile", "googlenet")
    assert code == 0 and not err
    assert "Szegedy et al. 2015" in out and "1.5×10⁹" in out and "1 MAC = 2 FLOPs" in out


def test_cli_reconcile_markdown(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "reconcile", "vgg16", "--format", "markdown")
    assert code == 0
    rows = [line for line in out.splitlines() if line.startswith("| ")]
    assert len(rows) == 2 + 2 + len(CONVENTION_NAMES)  # header, alignment, paper, torchvision, conventions
    assert rows[2].startswith("| paper (He et al. 2016, §4.1) | 15.3×10⁹ |")


def test_cli_reconcile_unknown_model(capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run(capsys, "reconcile", "resnt50")
    assert code == 2 and "Unknown model" in err and "Traceback" not in err


def test_cli_summary_convention(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "summary", "resnet18", "--convention", "thop", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["convention"] == "thop" and "exact module types" in data["conventions"]["macs"]
    assert data["totals"]["macs"] == analyze("resnet18", convention="thop").totals.macs
    code, out, _ = run(capsys, "summary", "alexnet", "--convention", "torchinfo", "--formulas")
    assert code == 0
    assert "torchinfo convention" in out.splitlines()[0]
    assert "(64 × 3 × 11 × 11 + 64) × 56 × 56 = 73,056,256" in out


def test_cli_unknown_convention_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["summary", "alexnet", "--convention", "flops"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'flops'" in capsys.readouterr().err


def test_convention_names_import_without_torch() -> None:
    """The GUI's picker and the CLI's choices come from a module that does not pull torch in."""
    import subprocess
    import sys

    code = "import sys, explorer.core.convention_names as n; print(n.CONVENTION_NAMES); assert 'torch' not in sys.modules"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == str(CONVENTION_NAMES)
