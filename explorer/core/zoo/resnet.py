"""ResNet-18 … ResNet-152: torchvision's builders, wrapped."""

from __future__ import annotations

from explorer.core.zoo.registry import (
    ModelSpec,
    Paper,
    register,
    torchvision_builder,
    torchvision_weight_sources,
)

RESNET_PAPER = Paper(
    title="Deep Residual Learning for Image Recognition",
    authors="Kaiming He, Xiangyu Zhang, Shaoqing Ren, Jian Sun",
    venue="CVPR",
    year=2016,
    url="https://arxiv.org/abs/1512.03385",
)

for depth, block in ((18, "basic"), (34, "basic"), (50, "bottleneck"), (101, "bottleneck"), (152, "bottleneck")):
    name = f"resnet{depth}"
    register(
        ModelSpec(
            name=name,
            family="ResNet",
            title=f"ResNet-{depth}",
            builder=torchvision_builder(name),
            paper=RESNET_PAPER,
            weight_sources=torchvision_weight_sources(name),
            notes=f"{block.capitalize()} residual blocks; identity shortcuts, 1×1 projection where the shape changes.",
            torchvision_name=name,
        )
    )
