"""LeNet-5, as in LeCun et al. (1998), with the paper's own layers.

The paper's layers that PyTorch has no module for are written out here: the scaled tanh,
the trainable sum-pooling of S2/S4, the partially connected C3 (Table I) and the Euclidean
RBF output. They are leaf modules that carry the explorer's statistics protocol
(``explorer_kind``, ``kernel_size``/``stride``/``padding`` when spatial, ``explorer_macs``).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from explorer.core.zoo.registry import ModelSpec, Paper, register

LENET_PAPER = Paper(
    title="Gradient-Based Learning Applied to Document Recognition",
    authors="Yann LeCun, Léon Bottou, Yoshua Bengio, Patrick Haffner",
    venue="Proceedings of the IEEE 86(11)",
    year=1998,
    url="https://doi.org/10.1109/5.726791",
)

#: Table I of the paper: the S2 feature maps combined by each C3 feature map. Maps 0–5 take
#: three contiguous maps, 6–11 four contiguous, 12–14 four discontinuous, 15 all six
#: (contiguity wraps around from map 5 to map 0).
C3_TABLE: tuple[tuple[int, ...], ...] = (
    (0, 1, 2),
    (1, 2, 3),
    (2, 3, 4),
    (3, 4, 5),
    (4, 5, 0),
    (5, 0, 1),
    (0, 1, 2, 3),
    (1, 2, 3, 4),
    (2, 3, 4, 5),
    (3, 4, 5, 0),
    (4, 5, 0, 1),
    (5, 0, 1, 2),
    (0, 1, 3, 4),
    (1, 2, 4, 5),
    (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)


def _uniform_fan_in_(tensor: Tensor, bound: float | Tensor) -> None:
    """The paper's initialisation: uniform in ±2.4/Fᵢ, Fᵢ the fan-in of the unit (``bound``)."""
    with torch.no_grad():
        tensor.uniform_(-1.0, 1.0).mul_(bound)


class ScaledTanh(nn.Module):
    """The paper's squashing function f(a) = A·tanh(S·a), A = 1.7159, S = 2/3.

    The constants make f(±1) = ±1, so targets of ±1 sit where the curve is still steep.
    """

    explorer_kind = "activation"
    amplitude = 1.7159
    slope = 2.0 / 3.0

    def forward(self, x: Tensor) -> Tensor:
        return self.amplitude * torch.tanh(self.slope * x)

    def explorer_macs(self, input_shape: tuple[int, ...], output_shape: tuple[int, ...]) -> tuple[int, str]:
        values = " × ".join(str(v) for v in output_shape)
        return 0, f"0 (element-wise 1.7159·tanh(2x/3) on {values} values)"

    def extra_repr(self) -> str:
        return "1.7159 * tanh(2x/3)"


class Subsampling2d(nn.Module):
    """S2/S4: each map's 2×2 blocks are summed, times one trainable coefficient, plus one trainable bias.

    Two parameters per map (the paper's 12 for S2, 32 for S4); the squashing follows as its own module.
    """

    explorer_kind = "pool"

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.kernel_size = (2, 2)
        self.stride = (2, 2)
        self.padding = (0, 0)
        self.weight = nn.Parameter(torch.empty(channels))
        self.bias = nn.Parameter(torch.empty(channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        fan_in = self.kernel_size[0] * self.kernel_size[1]
        _uniform_fan_in_(self.weight, 2.4 / fan_in)
        _uniform_fan_in_(self.bias, 2.4 / fan_in)

    def forward(self, x: Tensor) -> Tensor:
        # The paper's sum of each 2×2 block, as average × window size: avg_pool2d's divisor_override=1
        # would say the same, but ONNX's AveragePool has no such attribute and the exporter drops it.
        summed = F.avg_pool2d(x, self.kernel_size, self.stride) * (self.kernel_size[0] * self.kernel_size[1])
        return summed * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)

    def explorer_macs(self, input_shape: tuple[int, ...], output_shape: tuple[int, ...]) -> tuple[int, str]:
        c, h, w = output_shape
        kh, kw = self.kernel_size
        macs = c * h * w * kh * kw
        return macs, f"({c} × {h} × {w}) × ({kh} × {kw}) = {macs:,}"

    def extra_repr(self) -> str:
        return f"{self.channels}, kernel_size={self.kernel_size}, stride={self.stride}"


class PartialConv2d(nn.Module):
    """A convolution in which output map o sees only the input maps ``connections[o]`` (C3, Table I).

    ``weight`` holds only the connected kernels, ordered by output map and then by input map
    (C3: 60 kernels of 5×5, plus 16 biases = 1,516 parameters). The forward pass scatters them
    into a dense (out, in, kh, kw) kernel whose unconnected entries are zero; the boolean
    ``connections`` buffer (out × in) says where they go.
    """

    explorer_kind = "conv"

    def __init__(self, in_channels: int, connections: Sequence[Sequence[int]], kernel_size: int) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = len(connections)
        self.kernel_size = (kernel_size, kernel_size)
        self.stride = (1, 1)
        self.padding = (0, 0)
        mask = torch.zeros(self.out_channels, in_channels, dtype=torch.bool)
        for out_map, in_maps in enumerate(connections):
            mask[out_map, list(in_maps)] = True
        self.register_buffer("connections", mask)
        # Kept as Python numbers: the buffer has no values when built on the meta device.
        self._inputs_per_map = [len(in_maps) for in_maps in connections]
        self.weight = nn.Parameter(torch.empty(sum(self._inputs_per_map), kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.empty(self.out_channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        area = self.kernel_size[0] * self.kernel_size[1]
        bounds = [2.4 / (count * area) for count in self._inputs_per_map]
        per_kernel = [
            bound for bound, count in zip(bounds, self._inputs_per_map, strict=True) for _ in range(count)
        ]
        _uniform_fan_in_(self.weight, torch.tensor(per_kernel).view(-1, 1, 1))
        _uniform_fan_in_(self.bias, torch.tensor(bounds))

    def dense_weight(self) -> Tensor:
        """The equivalent (out, in, kh, kw) convolution kernel, zero where maps are not connected."""
        shape = (self.out_channels, self.in_channels, *self.kernel_size)
        where = self.connections[:, :, None, None].expand(shape)
        return self.weight.new_zeros(shape).masked_scatter(where, self.weight)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.dense_weight(), self.bias, self.stride, self.padding)

    def explorer_macs(self, input_shape: tuple[int, ...], output_shape: tuple[int, ...]) -> tuple[int, str]:
        c, h, w = output_shape
        kh, kw = self.kernel_size
        kernels = self.weight.shape[0]
        macs = h * w * kernels * kh * kw
        formula = f"{c} × {h} × {w} × ({kernels}/{c} × {kh} × {kw}) = {macs:,}"
        return macs, f"{formula} ({kernels} of the {self.out_channels} × {self.in_channels} map pairs connected)"

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"connected_kernels={self.weight.shape[0]}"
        )


class EuclideanRBF(nn.Module):
    """The output layer: one radial basis unit per class, yᵢ = Σⱼ (xⱼ − wᵢⱼ)².

    Returned negated, −‖x − wᵢ‖², so that the largest output is the prediction. The parameter
    vectors are fixed (not trained). The paper drew them as stylised 7×12 bitmaps of the
    characters and notes that ±1 at random would also do; random ±1 from a fixed seed is used here.
    """

    explorer_kind = "linear"

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = nn.Parameter(torch.empty(out_features, in_features), requires_grad=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # A CPU generator, so the prototypes are the same whatever device the model is built on.
        generator = torch.Generator().manual_seed(0)
        signs = torch.randint(0, 2, self.weight.shape, generator=generator, device="cpu") * 2 - 1
        with torch.no_grad():
            self.weight.copy_(signs)

    def forward(self, x: Tensor) -> Tensor:
        return -(x.unsqueeze(1) - self.weight).pow(2).sum(dim=-1)

    def explorer_macs(self, input_shape: tuple[int, ...], output_shape: tuple[int, ...]) -> tuple[int, str]:
        macs = self.in_features * self.out_features
        return macs, f"{self.in_features} × {self.out_features} = {macs:,}"

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, fixed prototypes"


class LeNet5(nn.Sequential):
    """C1 – S2 – C3 – S4 – C5 – F6 – RBF output, for 1×32×32 inputs.

    Every layer up to F6 is followed by the squashing function (the paper, section II-B).
    """

    def __init__(self, *, num_classes: int = 10) -> None:
        c1 = nn.Conv2d(1, 6, 5)
        c5 = nn.Conv2d(16, 120, 5)
        f6 = nn.Linear(120, 84)
        for layer, fan_in in ((c1, 1 * 5 * 5), (c5, 16 * 5 * 5), (f6, 120)):
            _uniform_fan_in_(layer.weight, 2.4 / fan_in)
            _uniform_fan_in_(layer.bias, 2.4 / fan_in)
        super().__init__(
            OrderedDict(
                [
                    ("c1", c1),
                    ("c1_act", ScaledTanh()),
                    ("s2", Subsampling2d(6)),
                    ("s2_act", ScaledTanh()),
                    ("c3", PartialConv2d(6, C3_TABLE, 5)),
                    ("c3_act", ScaledTanh()),
                    ("s4", Subsampling2d(16)),
                    ("s4_act", ScaledTanh()),
                    ("c5", c5),
                    ("c5_act", ScaledTanh()),
                    ("flatten", nn.Flatten()),
                    ("f6", f6),
                    ("f6_act", ScaledTanh()),
                    ("output", EuclideanRBF(84, num_classes)),
                ]
            )
        )


def lenet5(*, num_classes: int = 10) -> nn.Module:
    return LeNet5(num_classes=num_classes)


register(
    ModelSpec(
        name="lenet5",
        family="LeNet",
        title="LeNet-5",
        builder=lenet5,
        paper=LENET_PAPER,
        input_shape=(1, 32, 32),
        notes="The 1998 network layer by layer: C1 6@5×5; S2 2×2 sum-pooling with a trainable "
        "coefficient and bias per map; C3 16@5×5 partially connected as in Table I (60 kernels, "
        "1,516 parameters); S4 like S2; C5 120@5×5; F6 84 units; Euclidean RBF output with fixed "
        "±1 prototypes (−distance², so argmax is the prediction). Squashing 1.7159·tanh(2x/3) after "
        "every layer up to F6. 60,000 trainable parameters plus 840 fixed.",
    )
)
