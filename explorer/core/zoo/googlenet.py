"""GoogLeNet (Inception v1): torchvision's builder, wrapped, with its auxiliary heads built.

torchvision's "5×5" branch is a 3×3 (a known slip, kept because its weights were trained so:
pytorch/vision#906); ``googlenet_paper`` restores the paper's 5×5, which reproduces Table 1.
"""

from __future__ import annotations

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

GOOGLENET_PAPER = Paper(
    title="Going Deeper with Convolutions",
    authors="Christian Szegedy, Wei Liu, Yangqing Jia, Pierre Sermanet, Scott Reed, "
    "Dragomir Anguelov, Dumitru Erhan, Vincent Vanhoucke, Andrew Rabinovich",
    venue="CVPR",
    year=2015,
    url="https://arxiv.org/abs/1409.4842",
)

register(
    ModelSpec(
        name="googlenet",
        family="GoogLeNet",
        title="GoogLeNet (Inception v1)",
        # aux_logits=True builds the two auxiliary classifiers; they run in train mode only.
        builder=torchvision_builder("googlenet", aux_logits=True, init_weights=True),
        paper=GOOGLENET_PAPER,
        weight_sources=torchvision_weight_sources("googlenet"),
        notes="9 Inception modules: 1×1, 1×1 → 3×3, 1×1 → 3×3 (the paper's 5×5, see below) and 3×3 max-pool → "
        "1×1 branches joined by a cat. The two auxiliary classifiers exist in train mode only.",
        paper_differences="torchvision's: the paper's 5×5 branch is a 3×3 (a known slip its weights were trained "
        "with), every convolution is followed by BatchNorm, and there is no LRN. inception(3a) has 155,136 "
        "convolution weights and 121.6 M MACs here against Table 1's 159K and 128M (googlenet_paper has the 5×5).",
        torchvision_name="googlenet",
    )
)


def googlenet_paper(**kwargs: object) -> nn.Module:
    """torchvision's GoogLeNet with each Inception module's third branch a 5×5 convolution again."""
    import torch
    from torch import nn
    from torchvision.models.googlenet import Inception

    model = torchvision_builder("googlenet", aux_logits=True, init_weights=True)(**kwargs)
    for module in model.modules():
        if isinstance(module, Inception):
            basic = module.branch3[1]  # BasicConv2d: conv (3×3 in torchvision) → BatchNorm → ReLU
            old = basic.conv
            basic.conv = nn.Conv2d(old.in_channels, old.out_channels, kernel_size=5, padding=2, bias=False)
            torch.nn.init.trunc_normal_(basic.conv.weight, mean=0.0, std=0.01, a=-2, b=2)  # as torchvision's
    return model


register(
    ModelSpec(
        name="googlenet_paper",
        family="GoogLeNet",
        title="GoogLeNet (the paper's 5×5 branches)",
        builder=googlenet_paper,
        paper=GOOGLENET_PAPER,
        notes="torchvision's GoogLeNet with the paper's 5×5 convolution in each Inception module's third "
        "branch (torchvision has a 3×3 there), so Table 1's figures come out: inception(3a) 163,328 "
        "convolution weights (159.5K, K = 1024) and 128,049,152 MACs (128M), 3b 379K and 304M. "
        "torchvision's BatchNorm after each convolution stays (γ and β: 736 more parameters in 3a); Table 1 "
        "counts the convolutions only. Module paths are torchvision's; no pretrained weights.",
    )
)
