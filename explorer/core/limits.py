"""Will a real forward pass fit in memory? Answered from the analysis, before anything runs.

The analysis (meta device, no memory) already knows every layer's output size. During a
forward pass without autograd, a layer's inputs and its output are alive together, so the
largest such sum is a lower bound of the pass's peak: when even that exceeds the memory this
machine has available, the pass cannot succeed, and the user hears so in one line up front
instead of after minutes of swapping and an out-of-memory traceback.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from explorer.core.errors import ExplorerError

if TYPE_CHECKING:
    from explorer.core.stats import ModelSummary

BYTES_PER_ELEMENT = 4  # fp32, the analysis' own convention for memory


class TooLargeError(ExplorerError):
    """An input size whose activations cannot fit in the memory available."""


def available_memory_bytes() -> int | None:
    """MemAvailable from /proc/meminfo (what can be allocated without swapping), else None."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _elements(shape: tuple[int, ...]) -> int:
    return math.prod(shape) if shape else 1


@dataclass(frozen=True)
class ForwardMemory:
    """The largest inputs-plus-output of one layer, at batch 1, and which layer it is."""

    layer: str
    bytes: int


#: Elementwise functional ops, which may write into an input (``out += identity`` traces as add):
#: only their inputs are sure to be alive, so a lower bound counts only those.
_MAYBE_IN_PLACE_OPS = frozenset({"add", "iadd", "add_", "mul", "imul", "mul_", "sub", "isub", "sub_", "relu", "relu_"})


def _in_place(summary: ModelSummary, row: object) -> bool:
    node = row.node  # type: ignore[attr-defined]
    if node.op in _MAYBE_IN_PLACE_OPS:
        return True
    try:
        module = summary.graph.module(node)
    except (AttributeError, KeyError):
        return False
    return bool(getattr(module, "inplace", False))


def largest_layer(summary: ModelSummary) -> ForwardMemory:
    """The layer whose inputs and output together are largest (batch 1, fp32).

    A layer that may work in place (``ReLU(inplace=True)``, ``+=``) counts its inputs only, so
    the figure stays a lower bound of the forward pass's peak.
    """
    best = ForwardMemory("input", BYTES_PER_ELEMENT * _elements(tuple(summary.input_shape)))
    for row in summary.layers:
        inputs = BYTES_PER_ELEMENT * sum(_elements(tuple(shape)) for shape in row.input_shapes)
        needed = inputs if _in_place(summary, row) else inputs + row.activation_bytes
        if needed > best.bytes:
            best = ForwardMemory(row.name, needed)
    return best


def _gb(count: float) -> str:
    return f"{count / 2**30:,.1f} GB"


def check_forward_fits(
    summary: ModelSummary,
    *,
    what: str,
    batch: int = 1,
    passes: int = 1,
    extra_bytes: int = 0,
    option: str = "--input",
    available: int | None = None,
) -> None:
    """Raise ``TooLargeError`` (exit 2) when ``passes`` forward passes at ``batch`` cannot fit.

    ``passes`` counts runtimes that keep their activations at once (PyTorch and onnxruntime,
    whose arena keeps its memory after a run); ``extra_bytes`` is what else stays loaded (the
    weights). ``available`` defaults to this machine's MemAvailable.
    """
    available = available_memory_bytes() if available is None else available
    if available is None:
        return
    largest = largest_layer(summary)
    needed = largest.bytes * batch * passes + extra_bytes
    if needed > available:
        shape = "×".join(map(str, summary.input_shape))
        raise TooLargeError(
            f"{what} at input {shape} needs at least {_gb(needed)} "
            f"({largest.layer}'s input and output alone take {_gb(largest.bytes)} at batch 1), "
            f"but only {_gb(available)} of memory is available.",
            hint=f"Use a smaller {option}.",
        )
