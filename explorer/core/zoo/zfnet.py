"""ZFNet: AlexNet with the hyperparameters Zeiler & Fergus changed, in torchvision's AlexNet layout."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from explorer.core.zoo.registry import ModelSpec, Paper, register

ZFNET_PAPER = Paper(
    title="Visualizing and Understanding Convolutional Networks",
    authors="Matthew D. Zeiler, Rob Fergus",
    venue="ECCV",
    year=2014,
    url="https://arxiv.org/abs/1311.2901",
)



def _classifier(channels: int, *, num_classes: int, dropout: float) -> nn.Sequential:
    """AlexNet's head on 6×6 maps of ``channels`` (both ZFNets keep it)."""
    return nn.Sequential(
        nn.Dropout(p=dropout),
        nn.Linear(channels * 6 * 6, 4096),
        nn.ReLU(inplace=True),
        nn.Dropout(p=dropout),
        nn.Linear(4096, 4096),
        nn.ReLU(inplace=True),
        nn.Linear(4096, num_classes),
    )


def _forward(net: nn.Module, x: Tensor) -> Tensor:
    x = net.features(x)
    x = net.avgpool(x)
    return net.classifier(torch.flatten(x, 1))


class ZFNet(nn.Module):
    """torchvision's ``AlexNet`` with conv1 7×7 stride 2 and conv3/4/5 widened to 512, 1024, 512.

    Module paths (``features.0`` … ``features.12``, ``avgpool``, ``classifier.0`` …
    ``classifier.6``) are those of torchvision's AlexNet, so the two compare layer by layer.
    """

    def __init__(self, *, num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        self.features = nn.Sequential(
            # 7×7 stride 2 instead of 11×11 stride 4: the paper's visualisations showed AlexNet's
            # first-layer filters missing the mid frequencies and its stride of 4 aliasing layer 2.
            nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 512, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(512, 1024, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(1024, 512, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        # The smaller stride leaves 12×12 maps at 224×224 (AlexNet: 6×6); the pooling brings both to 6×6.
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = _classifier(512, num_classes=num_classes, dropout=dropout)

    def forward(self, x: Tensor) -> Tensor:
        return _forward(self, x)


def zfnet(*, num_classes: int = 1000, dropout: float = 0.5) -> nn.Module:
    return ZFNet(num_classes=num_classes, dropout=dropout)


register(
    ModelSpec(
        name="zfnet",
        family="ZFNet",
        title="ZFNet",
        builder=zfnet,
        paper=ZFNET_PAPER,
        input_shape=(3, 224, 224),
        notes="AlexNet (torchvision's layout) with the two changes of the lecture notes: conv1 is 7×7 "
        "stride 2 instead of 11×11 stride 4, and conv3, conv4, conv5 have 512, 1024 and 512 filters "
        "instead of 384, 384 and 256. The ZF paper's stride-2 conv2 is not applied, so the last "
        "feature maps are 12×12 and the adaptive average pooling brings them to 6×6.",
        paper_differences="The lecture's ZFNet, not the paper's Fig. 3: conv1 has 64 filters (the paper 96), conv2 "
        "stride 1 (the paper 2, so the maps stay twice as large), conv3-5 512-1024-512 filters (the paper "
        "384-384-256; the wider ones are from its Table 3 experiments), no contrast normalisation. "
        "zfnet_paper is Fig. 3's network.",
    )
)


class ZFNetPaper(nn.Module):
    """Fig. 3 of the paper, in torchvision's AlexNet layout (``features``, ``avgpool``, ``classifier``).

    224 → conv1 96 @ 7×7/2 → 110 → 3×3/2 max-pool → 55 → conv2 256 @ 5×5/2 → 26 → 3×3/2 max-pool
    → 13 → conv3 384, conv4 384, conv5 256 @ 3×3 → 13 → 3×3/2 max-pool → 6, then 4096, 4096, 1000.
    """

    def __init__(self, *, num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 96, kernel_size=7, stride=2, padding=1),  # 224 → 110
            nn.ReLU(inplace=True),
            # Caffe's pooling rounds up (ceil_mode), which is how Fig. 3 gets 55 from 110 and 13 from 26.
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
            # The paper's "contrast normalisation across feature maps"; AlexNet's LRN stands in for it.
            nn.LocalResponseNorm(size=5, alpha=1e-4, beta=0.75, k=2.0),
            nn.Conv2d(96, 256, kernel_size=5, stride=2),  # 55 → 26
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
            nn.LocalResponseNorm(size=5, alpha=1e-4, beta=0.75, k=2.0),
            nn.Conv2d(256, 384, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 384, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),  # 13 → 6
        )
        # The identity at 224×224 (6×6 → 6×6, no cost); other inputs are brought to 6×6 for the classifier.
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = _classifier(256, num_classes=num_classes, dropout=dropout)

    def forward(self, x: Tensor) -> Tensor:
        return _forward(self, x)


def zfnet_paper(*, num_classes: int = 1000, dropout: float = 0.5) -> nn.Module:
    return ZFNetPaper(num_classes=num_classes, dropout=dropout)


register(
    ModelSpec(
        name="zfnet_paper",
        family="ZFNet",
        title="ZFNet (the paper's Fig. 3)",
        builder=zfnet_paper,
        paper=ZFNET_PAPER,
        input_shape=(3, 224, 224),
        notes="The network of the paper's Fig. 3: conv1 96 filters 7×7 stride 2, conv2 256 filters 5×5 "
        "stride 2, conv3-5 384-384-256 filters 3×3, 3×3 stride-2 max-pooling (rounding up, as Caffe) after "
        "conv1, conv2 and conv5, LRN after the first two poolings (for the paper's contrast normalisation). "
        "Feature maps 110, 55, 26, 13, 13, 13, 6 as in the figure.",
    )
)
