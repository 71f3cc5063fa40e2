"""User models that do not fit a command, or misbehave: one line saying what is needed, never a hang or an exit.

Conv1d and Conv3d models, a malformed ``INPUT_SHAPE``, ``sys.exit`` in the factory and at import,
and forwards that never return (a Python loop, a sleep), in the CLI (``--timeout``) and in a
worker thread (the GUI's case: the time limit and ``usercode.interrupt``).
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from explorer.core import usercode
from explorer.core.analysis import analyze
from explorer.core.errors import ExplorerError
from explorer.core.usercode import UserCodeStopped, UserCodeTimeout, running_user_code

ROOT = Path(__file__).resolve().parents[2]
CAT = ROOT / "resources" / "images" / "cat-chelsea.png"

MODELS = {
    "conv1d.py": """
        from torch import nn
        def build():
            return nn.Sequential(nn.Conv1d(3, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(8, 10))
    """,
    "conv3d.py": """
        from torch import nn
        INPUT_SHAPE = (3, 8, 32, 32)
        def build():
            return nn.Sequential(nn.Conv3d(3, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(8, 10))
    """,
    "words.py": """
        from torch import nn
        INPUT_SHAPE = "three by 32"
        def build():
            return nn.Conv2d(3, 8, 3)
    """,
    "exits.py": """
        import sys
        def build():
            sys.exit(7)
    """,
    "exits_on_import.py": """
        import sys
        sys.exit(3)
    """,
    "loops.py": """
        from torch import nn
        class Loop(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 4, 3)
            def forward(self, x):
                while True:
                    try:
                        pass
                    except Exception:  # cannot catch the time limit
                        pass
        def build():
            return Loop()
    """,
    "sleeps.py": """
        import time
        from torch import nn
        class Sleep(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 4, 3)
            def forward(self, x):
                time.sleep(10**6)
                return x
        def build():
            return Sleep()
    """,
    "nan_scores.py": """
        import torch
        from torch import nn
        class Nan(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(3, 10)
            def forward(self, x):
                return self.fc(x.mean(dim=(2, 3))) * float("nan")
        INPUT_SHAPE = (3, 32, 32)
        def build():
            return Nan()
    """,
    "lazy.py": """
        from torch import nn
        INPUT_SHAPE = (3, 64, 64)
        def build():
            return nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.LazyLinear(1000))
    """,
    "lazy_conv1d.py": """
        from torch import nn
        def build():
            return nn.Sequential(nn.Conv1d(3, 8, 3), nn.Flatten(), nn.LazyLinear(10))
    """,
}


@pytest.fixture
def models(tmp_path: Path) -> dict[str, str]:
    import textwrap

    references = {}
    for name, source in MODELS.items():
        path = tmp_path / name
        path.write_text(textwrap.dedent(source))
        references[name] = f"{path}:build"
    return references


def _cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "explorer", *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines and lines[0].startswith("cnn-explorer: error: "), result.stderr
    return lines[0]


def test_a_conv1d_model_in_classify_says_what_classify_needs(models: dict[str, str]) -> None:
    result = _cli("classify", models["conv1d.py"], str(CAT))
    assert result.returncode == 2
    line = _one_line_error(result)
    assert "classify needs an image model taking N×3×H×W" in line and "conv1d" in line.lower()


def test_a_conv3d_model_in_features_says_what_features_needs(models: dict[str, str]) -> None:
    result = _cli("features", models["conv3d.py"], str(CAT), "--layers", "0")
    assert result.returncode == 2
    line = _one_line_error(result)
    assert "features needs an image model taking N×3×H×W" in line and "takes 3×8×32×32" in line


def test_a_malformed_input_shape_is_one_line(models: dict[str, str]) -> None:
    result = _cli("summary", models["words.py"])
    assert result.returncode == 2
    assert "INPUT_SHAPE in words.py must be the input's (C, H, W)" in _one_line_error(result)


@pytest.mark.parametrize(("name", "code"), [("exits.py", "7"), ("exits_on_import.py", "3")])
def test_sys_exit_in_a_model_file_does_not_end_the_cli(models: dict[str, str], name: str, code: str) -> None:
    result = _cli("summary", models[name])
    assert result.returncode == 2  # not the file's own exit code
    assert f"called sys.exit({code})" in _one_line_error(result)


@pytest.mark.parametrize("name", ["loops.py", "sleeps.py"])
def test_a_forward_that_never_returns_is_stopped_by_timeout(models: dict[str, str], name: str) -> None:
    result = _cli("classify", models[name], str(CAT), "--timeout", "3", timeout=300)
    assert result.returncode == 2
    line = _one_line_error(result)
    assert "did not finish within 3 s" in line and "stopped" in line


@pytest.mark.parametrize(
    "command",
    [["whatif", "{model}", "--set", "conv.kernel_size=5"], ["explain", "{model}", str(CAT)], ["erf", "{model}", str(CAT), "--layer", "conv"]],
    ids=lambda command: command[0],
)
def test_every_command_that_runs_a_user_model_takes_timeout(
    models: dict[str, str], command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from explorer.cli import main

    try:
        code = main([part.format(model=models["loops.py"]) for part in command] + ["--timeout", "1"])
    finally:
        usercode.set_time_limit(usercode.DEFAULT_TIME_LIMIT_S)  # main() sets the process-wide limit
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "did not finish within 1 s" in err.splitlines()[0]


def test_nan_scores_are_an_error_entry_and_the_json_stays_json(models: dict[str, str]) -> None:
    import json

    result = _cli("classify", models["nan_scores.py"], str(CAT), "--json")
    assert result.returncode == 1
    (entry,) = json.loads(result.stdout, parse_constant=lambda name: pytest.fail(f"bare {name} in the JSON"))
    assert "NaN or infinite" in entry["error"] and entry["predictions"] == []


def test_the_time_limit_in_a_worker_thread(models: dict[str, str]) -> None:
    """The GUI's case: no signals in a worker thread; the watchdog raises there."""
    outcome: list[BaseException | None] = []

    def work() -> None:
        try:
            with running_user_code("a loop"):
                while True:
                    pass
        except BaseException as error:  # noqa: BLE001 (recorded for the assertion)
            outcome.append(error)

    usercode.set_time_limit(1.0)
    try:
        thread = threading.Thread(target=work)
        thread.start()
        thread.join(30)
    finally:
        usercode.set_time_limit(usercode.DEFAULT_TIME_LIMIT_S)
    assert not thread.is_alive()
    assert isinstance(outcome[0], UserCodeTimeout)


def test_interrupt_stops_user_code_in_another_thread() -> None:
    started = threading.Event()
    outcome: list[BaseException] = []

    def work() -> None:
        try:
            with running_user_code("a loop"):
                started.set()
                while True:
                    pass
        except BaseException as error:  # noqa: BLE001
            outcome.append(error)

    thread = threading.Thread(target=work)
    thread.start()
    assert started.wait(30)
    assert usercode.interrupt(thread.ident)
    thread.join(30)
    assert not thread.is_alive() and isinstance(outcome[0], UserCodeStopped)
    assert not usercode.interrupt(thread.ident)  # nothing runs there any more


def test_code_that_returns_in_time_is_not_disturbed() -> None:
    usercode.set_time_limit(0.5)
    try:
        with running_user_code("quick"):
            time.sleep(0.01)
        time.sleep(1.0)  # a late watchdog would raise here
    finally:
        usercode.set_time_limit(usercode.DEFAULT_TIME_LIMIT_S)


def test_analysis_of_a_user_model_runs_under_the_limit(models: dict[str, str]) -> None:
    with pytest.raises(ExplorerError, match="called sys.exit"):
        analyze(models["exits.py"])


def test_lazy_modules_are_initialised_by_a_dry_run(models: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    """nn.LazyLinear & co.: their shapes come from one forward of a zero batch, so every command works."""
    import json

    from torch.nn.parameter import is_lazy

    from explorer.cli import main
    from explorer.core.zoo import get_spec

    model = get_spec(models["lazy.py"]).build()
    assert model[4].in_features == 8 * 4 * 4 and not is_lazy(model[4].weight) and model.training  # mode kept
    summary = analyze(models["lazy.py"])
    assert summary.totals.params == (3 * 3 * 3 * 8 + 8) + (128 * 1000 + 1000)
    assert main(["classify", models["lazy.py"], str(CAT), "--json"]) == 0  # (it raised ValueError from model_bytes)
    result = json.loads(capsys.readouterr().out)
    assert len(result[0]["predictions"]) == 5
    assert main(["features", models["lazy.py"], str(CAT), "--layers", "4"]) == 0
    assert "1000" in capsys.readouterr().out


def test_lazy_modules_whose_dry_run_fails_say_so_in_one_line(models: dict[str, str]) -> None:
    result = _cli("classify", models["lazy_conv1d.py"], str(CAT))
    assert result.returncode == 2
    line = _one_line_error(result)
    assert "has lazy modules (2: LazyLinear)" in line and "1×3×224×224 zero batch" in line and "conv1d" in line


def test_a_model_file_without_its_factory_says_how_to_name_it(capsys: pytest.CaptureFixture[str]) -> None:
    from explorer.cli import main

    assert main(["summary", "net.py"]) == 2
    assert "net.py:FACTORY (e.g. net.py:build)" in capsys.readouterr().err


@pytest.mark.parametrize("text", ["nan", "1e300", "-1", "10000001"])
def test_a_time_limit_no_timer_can_keep_is_one_line(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    """NaN ran every user model into "did not finish within nan s"; 1e300 overflowed the timer's time_t."""
    from explorer.cli import main

    assert main(["summary", "lenet5", "--timeout", text]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cnn-explorer: error: The time limit must be positive and at most 10,000,000 s") and err.count("\n") == 1
    assert "Traceback" not in err


def test_an_infinite_time_limit_is_no_limit() -> None:
    try:
        usercode.set_time_limit(float("inf"))
        assert usercode.time_limit() is None
    finally:
        usercode.set_time_limit(usercode.DEFAULT_TIME_LIMIT_S)
