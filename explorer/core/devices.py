"""Which device computations run on: CUDA, then MPS, then the CPU, unless the user says otherwise."""

from __future__ import annotations

import torch

from explorer.core.errors import ExplorerError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def pick_device(preference: str = "auto") -> torch.device:
    if preference not in DEVICE_CHOICES:
        raise ExplorerError(f"Unknown device {preference!r}: use one of {', '.join(DEVICE_CHOICES)}.")
    if preference == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if preference == "cuda" and not torch.cuda.is_available():
        raise ExplorerError("CUDA was requested but no CUDA GPU is available.", hint="Use --device cpu or auto.")
    if preference == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ExplorerError("MPS was requested but is not available on this machine.")
    return torch.device(preference)


def describe_device(device: torch.device) -> str:
    """A short label for the status bar: ``CUDA: NVIDIA H100 80GB HBM3`` or ``CPU (8 threads)``."""
    if device.type == "cuda":
        return f"CUDA: {torch.cuda.get_device_name(device)}"
    if device.type == "mps":
        return "Apple GPU (MPS)"
    return f"CPU ({torch.get_num_threads()} threads)"
