"""AlexNet: torchvision's single-tower network, and the paper's original two-tower one."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from explorer.core.zoo.registry import (
    ModelSpec,
    Paper,
    register,
    torchvision_builder,
    torchvision_weight_sources,
)

ALEXNET_PAPER = Paper(
    title="ImageNet Classification with Deep Convolutional Neural Networks",
    authors="Alex Krizhevsky, Ilya Sutskever, Geoffrey E. Hinton",
    venue="NeurIPS",
    year=2012,
    url="https://papers.nips.cc/paper/4824-imagenet-classification-with-deep-convolutional-neural-networks",
)

register(
    ModelSpec(
        name="alexnet",
        family="AlexNet",
        title="AlexNet (torchvision, single tower)",
        builder=torchvision_builder("alexnet"),
        paper=ALEXNET_PAPER,
        input_shape=(3, 227, 227),
        weight_sources=torchvision_weight_sources("alexnet"),
        notes="torchvision's one-tower variant (64-192-384-256-256 filters, no LRN). "
        "Default input 3×227×227, as in the lecture table.",
        paper_differences="torchvision's single-tower AlexNet, the variant of Krizhevsky's \"One weird trick\" "
        "(2014): 64-192-384-256-256 filters and no LRN, where the 2012 paper has 96-256-384-384-256 split over "
        "two GPUs with LRN (alexnet_2gpu is the paper's): 61.1 M parameters against 61.0 M.",
        torchvision_name="alexnet",
    )
)


def _response_norm() -> nn.LocalResponseNorm:
    # The paper's k=2, n=5, α=1e-4, β=0.75. PyTorch, like Caffe, divides α by n in the sum;
    # the paper's formula does not, so this is Caffe's (and bvlc_alexnet's) normalisation.
    return nn.LocalResponseNorm(size=5, alpha=1e-4, beta=0.75, k=2.0)


class AlexNetTower(nn.Module):
    """The half of the 2012 network that ran on one GPU: 48-128-192-192-128 filters.

    The two halves exchange feature maps only at conv3 (and again at the FC layers), so the
    tower is split into the layers before that exchange (``lower``) and after it (``upper``).
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 48, kernel_size=11, stride=4)
        self.relu1 = nn.ReLU(inplace=True)
        self.norm1 = _response_norm()
        self.pool1 = nn.MaxPool2d(kernel_size=3, stride=2)
        self.conv2 = nn.Conv2d(48, 128, kernel_size=5, padding=2)
        self.relu2 = nn.ReLU(inplace=True)
        self.norm2 = _response_norm()
        self.pool2 = nn.MaxPool2d(kernel_size=3, stride=2)
        # Fed the maps of both towers: the cross-GPU link.
        self.conv3 = nn.Conv2d(2 * 128, 192, kernel_size=3, padding=1)
        self.relu3 = nn.ReLU(inplace=True)
        self.conv4 = nn.Conv2d(192, 192, kernel_size=3, padding=1)
        self.relu4 = nn.ReLU(inplace=True)
        self.conv5 = nn.Conv2d(192, 128, kernel_size=3, padding=1)
        self.relu5 = nn.ReLU(inplace=True)
        self.pool5 = nn.MaxPool2d(kernel_size=3, stride=2)

    def lower(self, image: Tensor) -> Tensor:
        """conv1 and conv2: the whole image in, this tower's 128 maps out."""
        x = self.pool1(self.norm1(self.relu1(self.conv1(image))))
        return self.pool2(self.norm2(self.relu2(self.conv2(x))))

    def upper(self, both_towers: Tensor) -> Tensor:
        """conv3 (reading both towers' maps) to conv5 and the last pooling."""
        x = self.relu3(self.conv3(both_towers))
        x = self.relu4(self.conv4(x))
        return self.pool5(self.relu5(self.conv5(x)))


class AlexNet2GPU(nn.Module):
    """The original AlexNet with its two GPUs as two parallel towers, ``tower0`` and ``tower1``."""

    def __init__(self, *, num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        self.tower0 = AlexNetTower()
        self.tower1 = AlexNetTower()
        self.flatten = nn.Flatten()
        self.drop6 = nn.Dropout(p=dropout)
        self.fc6 = nn.Linear(2 * 128 * 6 * 6, 4096)
        self.relu6 = nn.ReLU(inplace=True)
        self.drop7 = nn.Dropout(p=dropout)
        self.fc7 = nn.Linear(4096, 4096)
        self.relu7 = nn.ReLU(inplace=True)
        self.fc8 = nn.Linear(4096, num_classes)

    def forward(self, image: Tensor) -> Tensor:
        exchanged = torch.cat([self.tower0.lower(image), self.tower1.lower(image)], dim=1)
        x = torch.cat([self.tower0.upper(exchanged), self.tower1.upper(exchanged)], dim=1)
        x = self.relu6(self.fc6(self.drop6(self.flatten(x))))
        x = self.relu7(self.fc7(self.drop7(x)))
        return self.fc8(x)


def alexnet_2gpu(*, num_classes: int = 1000, dropout: float = 0.5) -> nn.Module:
    return AlexNet2GPU(num_classes=num_classes, dropout=dropout)


register(
    ModelSpec(
        name="alexnet_2gpu",
        family="AlexNet",
        title="AlexNet (original, two GPUs)",
        builder=alexnet_2gpu,
        paper=ALEXNET_PAPER,
        input_shape=(3, 227, 227),
        notes="The paper's network split over two GPUs, drawn as two towers (tower0, tower1) of "
        "48-128-192-192-128 filters. conv1 of each tower sees the whole image; conv2, conv4 and conv5 "
        "see only their own tower's maps (the same as groups=2 in one stream); conv3 and the FC layers "
        "see the maps of both towers. ReLU after every layer but fc8, local response normalisation "
        "(k=2, n=5, α=1e-4, β=0.75) after conv1 and conv2 within each tower, overlapping 3×3 stride-2 "
        "max-pooling after both normalisations and after conv5. 60,965,224 parameters, as Caffe's "
        "bvlc_alexnet.",
    )
)
