"""ResNet-18 … ResNet-152: torchvision's builders, wrapped; and the paper's own ResNet-50/101/152.

torchvision's bottleneck ResNets are "v1.5": a downsampling block strides in its 3×3
convolution. The paper's (v1) strides in the block's first 1×1; ``resnet50_v1`` … are
torchvision's builders with that one stride moved back, so module paths and state dicts stay
torchvision's (its v1.5 weights load, but they were trained for the other network).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from explorer.core.zoo.registry import (
    ModelSpec,
    Paper,
    register,
    torchvision_builder,
    torchvision_weight_sources,
)

if TYPE_CHECKING:
    from torch import nn

RESNET_PAPER = Paper(
    title="Deep Residual Learning for Image Recognition",
    authors="Kaiming He, Xiangyu Zhang, Shaoqing Ren, Jian Sun",
    venue="CVPR",
    year=2016,
    url="https://arxiv.org/abs/1512.03385",
)

#: GMACs (conv + linear, 3×224×224): torchvision's v1.5 (its ``_ops``) and the paper's Table 1 "FLOPs".
V15_GMACS = {50: "4.09", 101: "7.80", 152: "11.51"}
PAPER_GMACS = {50: "3.8", 101: "7.6", 152: "11.3"}

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
            notes=f"{block.capitalize()} residual blocks; identity shortcuts, 1×1 projection where the shape changes."
            + (" torchvision's v1.5: the downsampling blocks stride in their 3×3." if depth >= 50 else ""),
            paper_differences=(
                f"torchvision's ResNet v1.5: a downsampling bottleneck strides in its 3×3 convolution, not in its "
                f"first 1×1 as in the paper, so the 3×3 works at the higher resolution: {V15_GMACS[depth]} GMACs "
                f"against the paper's {PAPER_GMACS[depth]} (resnet{depth}_v1 is the paper's)."
                if depth >= 50
                else ""
            ),
            torchvision_name=name,
        )
    )


def _v1_builder(depth: int) -> Callable[..., nn.Module]:
    """torchvision's ResNet-``depth`` with each downsampling block's stride moved to its first 1×1."""
    build_v15 = torchvision_builder(f"resnet{depth}")

    def build(**kwargs: object) -> nn.Module:
        from torchvision.models.resnet import Bottleneck

        model = build_v15(**kwargs)
        for module in model.modules():
            if isinstance(module, Bottleneck) and module.conv2.stride != (1, 1):
                module.conv1.stride, module.conv2.stride = module.conv2.stride, (1, 1)
        return model

    build.__name__ = f"build_resnet{depth}_v1"
    return build


for depth in (50, 101, 152):
    register(
        ModelSpec(
            name=f"resnet{depth}_v1",
            family="ResNet",
            title=f"ResNet-{depth} v1 (the paper's)",
            builder=_v1_builder(depth),
            paper=RESNET_PAPER,
            notes=f"The paper's ResNet-{depth}: torchvision's network with each downsampling bottleneck's stride "
            "on its first 1×1 convolution, where the paper has it (torchvision's resnet"
            f"{depth} strides in the 3×3). Same parameters and module paths; {PAPER_GMACS[depth]} GMACs as the "
            "paper's Table 1 says. No pretrained weights (torchvision's were trained for v1.5).",
        )
    )
