"""VGG configurations A, A-LRN, B, C, D and E.

A, B, D and E are torchvision's builders, wrapped. A-LRN and C, which torchvision lacks, are
built with torchvision's own ``VGG`` class from the paper's Table 1 columns, so their module
paths are named as torchvision's VGG names them.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn
from torchvision.models.vgg import VGG

from explorer.core.zoo.registry import (
    ModelSpec,
    Paper,
    register,
    torchvision_builder,
    torchvision_weight_sources,
)

VGG_PAPER = Paper(
    title="Very Deep Convolutional Networks for Large-Scale Image Recognition",
    authors="Karen Simonyan, Andrew Zisserman",
    venue="ICLR",
    year=2015,
    url="https://arxiv.org/abs/1409.1556",
)

#: Table 1, column A-LRN: configuration A with local response normalisation after the first conv.
CONFIG_A_LRN: tuple[str, ...] = (
    "conv3-64", "LRN", "maxpool",
    "conv3-128", "maxpool",
    "conv3-256", "conv3-256", "maxpool",
    "conv3-512", "conv3-512", "maxpool",
    "conv3-512", "conv3-512", "maxpool",
)  # fmt: skip

#: Table 1, column C: configuration D with the third conv of blocks 3–5 a 1×1.
CONFIG_C: tuple[str, ...] = (
    "conv3-64", "conv3-64", "maxpool",
    "conv3-128", "conv3-128", "maxpool",
    "conv3-256", "conv3-256", "conv1-256", "maxpool",
    "conv3-512", "conv3-512", "conv1-512", "maxpool",
    "conv3-512", "conv3-512", "conv1-512", "maxpool",
)  # fmt: skip


def make_features(config: Sequence[str]) -> nn.Sequential:
    """Layers from Table 1's notation: ``conv<k>-<channels>`` (followed by its ReLU), ``LRN``, ``maxpool``."""
    layers: list[nn.Module] = []
    in_channels = 3
    for entry in config:
        if entry == "maxpool":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        elif entry == "LRN":
            # The paper takes the LRN parameters of Krizhevsky et al. (2012).
            layers.append(nn.LocalResponseNorm(size=5, alpha=1e-4, beta=0.75, k=2.0))
        else:
            kernel, channels = (int(v) for v in entry.removeprefix("conv").split("-"))
            # Padding k // 2 keeps the resolution: 1 for the 3×3 convs, 0 for the 1×1.
            layers += [
                nn.Conv2d(in_channels, channels, kernel_size=kernel, padding=kernel // 2),
                nn.ReLU(inplace=True),
            ]
            in_channels = channels
    return nn.Sequential(*layers)


def vgg11_lrn(*, num_classes: int = 1000, dropout: float = 0.5) -> nn.Module:
    return VGG(make_features(CONFIG_A_LRN), num_classes=num_classes, dropout=dropout)


def vgg16_c(*, num_classes: int = 1000, dropout: float = 0.5) -> nn.Module:
    return VGG(make_features(CONFIG_C), num_classes=num_classes, dropout=dropout)


def _torchvision_vgg(name: str, config: str, depth: int) -> ModelSpec:
    return ModelSpec(
        name=name,
        family="VGG",
        title=f"VGG-{depth} (configuration {config})",
        builder=torchvision_builder(name),
        paper=VGG_PAPER,
        weight_sources=torchvision_weight_sources(name),
        notes=f"Configuration {config} of the paper's Table 1: 3×3 convolutions, stride 1, padding 1.",
        torchvision_name=name,
    )


# Registered in the order of the paper's Table 1 columns: A, A-LRN, B, C, D, E.
register(_torchvision_vgg("vgg11", "A", 11))
register(
    ModelSpec(
        name="vgg11_lrn",
        family="VGG",
        title="VGG-11 LRN (configuration A-LRN)",
        builder=vgg11_lrn,
        paper=VGG_PAPER,
        notes="Configuration A-LRN of the paper's Table 1: configuration A with local response "
        "normalisation (n=5, α=1e-4, β=0.75, k=2) after the first conv's ReLU. The paper found it "
        "does not improve on A; the deeper configurations leave it out. Built with torchvision's "
        "VGG class, so features.3 onwards are vgg11's features.2 onwards, one index later.",
    )
)
register(_torchvision_vgg("vgg13", "B", 13))
register(
    ModelSpec(
        name="vgg16_c",
        family="VGG",
        title="VGG-16 (configuration C, with 1×1 convs)",
        builder=vgg16_c,
        paper=VGG_PAPER,
        notes="Configuration C of the paper's Table 1: configuration D with the third conv of blocks "
        "3, 4 and 5 a 1×1 (padding 0), which adds non-linearity without widening the receptive "
        "field. The paper found D (all 3×3) better: spatial context matters. Built with "
        "torchvision's VGG class, so module paths match vgg16's.",
    )
)
register(_torchvision_vgg("vgg16", "D", 16))
register(_torchvision_vgg("vgg19", "E", 19))
