"""The counting conventions' names, importable without torch: the CLI's ``--convention`` choices and
the GUI's picker (which must appear before torch has loaded). The rules are in ``conventions.py``,
which builds its registry in this order and checks it has exactly these names.
"""

from __future__ import annotations

CONVENTION_NAMES: tuple[str, ...] = ("lecture", "torchinfo", "fvcore", "ptflops", "thop", "torch")
DEFAULT_CONVENTION = "lecture"
