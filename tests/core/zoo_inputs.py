"""The input sizes the number tests use for every zoo model: 224 and an odd, non-square size."""

from __future__ import annotations

from explorer.core.zoo import get_spec, zoo_specs

ZOO = [spec.name for spec in zoo_specs()]

#: Odd sizes for the models that cannot take 97×131: LeNet-5's F6 fits only 32×32, and the
#: two-GPU AlexNet's fc6 needs 6×6 maps (no adaptive pooling), which inputs of 227–258 px give.
OWN_ODD_SIZE: dict[str, tuple[int, int, int]] = {"lenet5": (1, 32, 32), "alexnet_2gpu": (3, 229, 251)}


def sizes(name: str) -> list[tuple[int, int, int]]:
    """224 (LeNet: its 32) and an odd non-square size, without repeats."""
    channels = get_spec(name).input_shape[0]
    square = (channels, 32, 32) if name == "lenet5" else (channels, 224, 224)
    if name == "alexnet_2gpu":
        square = (channels, 227, 227)  # it cannot take 224 either (no adaptive pooling)
    odd = OWN_ODD_SIZE.get(name, (channels, 97, 131))
    return list(dict.fromkeys([square, odd]))
