"""GoogLeNet (Inception v1): torchvision's builder, wrapped, with its auxiliary heads built."""

from __future__ import annotations

from explorer.core.zoo.registry import (
    ModelSpec,
    Paper,
    register,
    torchvision_builder,
    torchvision_weight_sources,
)

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
        notes="9 Inception modules (1×1, 3×3, 5×5 and pool-proj branches joined by a cat). "
        "The two auxiliary classifiers exist in train mode only.",
        torchvision_name="googlenet",
    )
)
