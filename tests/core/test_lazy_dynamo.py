"""torchvision imported and every zoo model analysed without importing torch._dynamo (lazy_dynamo.py),
and dynamo still whole for whoever asks for it afterwards."""

from __future__ import annotations

import itertools
import json
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import torch

from explorer.core.layers import _broadcast

ROOT = Path(__file__).resolve().parents[2]


def _run(code: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_torchvision_and_every_zoo_analysis_leave_dynamo_and_sympy_unimported() -> None:
    report = _run(
        """
        import json, sys
        import explorer.core
        import torchvision, torchvision.models
        after_import = sorted(m for m in sys.modules if m.startswith(("torch._dynamo", "sympy")))
        from explorer.core.analysis import analyze
        from explorer.core.zoo import list_specs
        # LeNet-5's ScaledTanh multiplies a meta tensor by a Python float: torch's Python meta kernel
        # for that imports dynamo on its first call (once, on the worker), so it is left out here.
        names = [spec.name for spec in list_specs(include_torchvision=False) if spec.name != "lenet5"]
        for name in names:
            analyze(name)
        after = sorted(m for m in sys.modules if m.startswith(("torch._dynamo", "sympy")))
        loader = type(torchvision.__spec__.loader).__name__
        print(json.dumps({"import": after_import, "analyses": after, "count": len(names), "loader": loader}))
        """
    )
    assert report["count"] >= 10
    assert report["import"] == []
    assert report["analyses"] == []
    assert report["loader"] == "SourceFileLoader"  # torchvision sees its own loader, not the wrapper


def test_dynamo_is_the_real_one_when_asked_for_afterwards() -> None:
    report = _run(
        """
        import json, sys
        import explorer.core
        import torch, torchvision.models
        roi_align = sys.modules["torchvision.ops.roi_align"]
        forwarded = roi_align.is_compile_supported("cpu")  # imports the real dynamo on its first call
        import torch._dynamo
        from torch._dynamo.utils import is_compile_supported
        real = is_compile_supported("cpu")
        disabled = torch.compiler.disable(lambda x: x + 1)(torch.ones(2)).tolist()
        print(json.dumps({
            "forwarded": forwarded, "real": real, "disabled": disabled,
            "same": torch._dynamo is sys.modules["torch._dynamo"] and hasattr(torch._dynamo, "optimize"),
            "placeholders": [type(m).__name__ for m in (sys.modules["torch._dynamo"], sys.modules["torch._dynamo.utils"])],
        }))
        """
    )
    assert report["forwarded"] == report["real"]
    assert report["disabled"] == [2.0, 2.0]
    assert report["same"] is True
    assert "_Placeholder" not in report["placeholders"]


def test_meta_builds_have_the_parameters_of_real_builds() -> None:
    """Skipping the initialisers' fills on meta tensors changes no shape, dtype or parameter name."""
    from explorer.core.analysis import build_on_meta
    from explorer.core.zoo.registry import get_spec

    for name in ("resnet18", "googlenet", "efficientnet_b0", "lenet5", "alexnet"):
        spec = get_spec(name)
        meta = {k: (tuple(v.shape), v.dtype, v.is_meta) for k, v in build_on_meta(spec).state_dict().items()}
        real = {k: (tuple(v.shape), v.dtype, True) for k, v in spec.build().state_dict().items()}
        assert meta == real, name


def test_broadcast_agrees_with_torch() -> None:
    rng = random.Random(13)
    sizes = (0, 1, 2, 3)
    cases = [[tuple(rng.choice(sizes) for _ in range(rng.randint(0, 4))) for _ in range(rng.randint(1, 3))] for _ in range(2000)]
    cases += [list(pair) for pair in itertools.product([(), (1,), (3,), (2, 1), (1, 3), (2, 3), (0,)], repeat=2)]
    for shapes in cases:
        try:
            expected = tuple(torch.broadcast_shapes(*shapes))
        except RuntimeError:
            expected = None
        assert _broadcast(shapes) == expected, shapes
