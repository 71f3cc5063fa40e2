"""EfficientNet-Lite0: strict load of the embedded weights, structure, tracing, real photos."""

from __future__ import annotations

import pytest
import skimage.data
import torch
from PIL import Image
from torch import Tensor, nn
from torchvision.models._meta import _IMAGENET_CATEGORIES
from torchvision.ops import StochasticDepth
from torchvision.transforms import v2

from explorer.core.zoo import get_spec
from explorer.core.zoo.efficientnet_lite import (
    Conv2dSame,
    MBConvBlock,
    efficientnet_lite0,
    load_pretrained_state_dict,
    pretrained_efficientnet_lite0,
)

CATS = {281, 282, 285}  # tabby, tiger cat, Egyptian cat
ESPRESSO, CUP, COFFEE_MUG = 967, 968, 504
ROCKETS = {657, 744, 812}  # missile, projectile, space shuttle

PREPROCESS = v2.Compose(
    [
        v2.ToImage(),
        v2.Resize(256, interpolation=v2.InterpolationMode.BILINEAR, antialias=True),
        v2.CenterCrop(224),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)),
    ]
)


@pytest.fixture(scope="module")
def pretrained() -> nn.Module:
    return pretrained_efficientnet_lite0()


def _top5(model: nn.Module, image: Image.Image) -> list[tuple[int, str, float]]:
    with torch.no_grad():
        probabilities = model(PREPROCESS(image).unsqueeze(0)).softmax(dim=1)[0]
    values, indices = probabilities.topk(5)
    return [
        (int(i), _IMAGENET_CATEGORIES[int(i)], float(p))
        for p, i in zip(values, indices, strict=True)
    ]


def test_package_weights_load_strictly() -> None:
    state = load_pretrained_state_dict()
    model = efficientnet_lite0()
    expected = model.state_dict()
    assert len(state) == 296
    assert set(state) == set(expected)
    mismatched = {k for k in state if state[k].shape != expected[k].shape}
    assert not mismatched
    result = model.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys


def test_spec_is_registered() -> None:
    spec = get_spec("efficientnet_lite0")
    assert spec.family == "EfficientNet"
    assert spec.input_shape == (3, 224, 224)
    assert [s.kind for s in spec.weight_sources] == ["embedded"]
    assert isinstance(spec.build(), nn.Module)


def test_structure_is_lite() -> None:
    model = efficientnet_lite0()
    modules = dict(model.named_modules())
    blocks = [m for m in modules.values() if isinstance(m, MBConvBlock)]
    assert len(blocks) == 16
    assert not any("_se_" in name for name in modules)
    activations = [m for m in modules.values() if isinstance(m, (nn.ReLU, nn.SiLU, nn.ReLU6))]
    assert activations and all(type(m) is nn.ReLU6 for m in activations)
    norms = [m for m in modules.values() if isinstance(m, nn.BatchNorm2d)]
    assert norms and all(m.eps == 1e-3 and m.momentum == 0.01 for m in norms)
    assert model._conv_stem.out_channels == 32
    assert model._conv_head.out_channels == 1280
    assert model._dropout.p == 0.2
    # Every k>1 conv must pad the TF way, or the pretrained weights see shifted inputs.
    wide = [m for m in modules.values() if isinstance(m, nn.Conv2d) and m.kernel_size != (1, 1)]
    assert wide and all(isinstance(m, Conv2dSame) and m.padding == (0, 0) for m in wide)
    assert all(not list(m.children()) for m in wide)


def test_drop_connect_on_identity_skips() -> None:
    blocks = [m for m in efficientnet_lite0().modules() if isinstance(m, MBConvBlock)]
    skips = [b for b in blocks if b.has_skip]
    # Stride-1, same-width repeats: 1 + 1 + 2 + 2 + 3 across the stages.
    assert len(skips) == 9
    rates = [b._drop_connect.p for b in skips]
    assert all(isinstance(b._drop_connect, StochasticDepth) for b in skips)
    assert all(b._drop_connect.mode == "row" for b in skips)
    assert rates == sorted(rates) and 0 < rates[0] and rates[-1] < 0.2


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "expected"),
    [
        # ceil(224/2)=112: (111*2 + 3 - 224) = 1 pixel, TF puts it after.
        ((224, 224), 3, 2, (0, 1, 0, 1)),
        # ceil(112/2)=56: (55*2 + 5 - 112) = 3 pixels, split 1 before, 2 after.
        ((112, 112), 5, 2, (1, 2, 1, 2)),
        # Odd size: ceil(225/2)=113: (112*2 + 3 - 225) = 2, symmetric.
        ((225, 225), 3, 2, (1, 1, 1, 1)),
        # Stride 1 keeps the size: k-1 pixels.
        ((14, 14), 5, 1, (2, 2, 2, 2)),
        # Height and width differ: (left, right) follows the width, (top, bottom) the height.
        ((224, 225), 3, 2, (1, 1, 0, 1)),
    ],
)
def test_same_padding_matches_tf(
    size: tuple[int, int], kernel: int, stride: int, expected: tuple[int, int, int, int]
) -> None:
    conv = Conv2dSame(4, 4, kernel, stride=stride)
    assert conv.explorer_padding_mode == "same"
    assert conv.same_padding(*size) == expected
    out = conv(torch.zeros(1, 4, *size))
    assert out.shape[-2:] == tuple(-(-s // stride) for s in size)


def test_symbolic_trace_matches_eager() -> None:
    torch.manual_seed(0)
    model = efficientnet_lite0().eval()
    traced = torch.fx.symbolic_trace(model)
    for shape in [(2, 3, 224, 224), (1, 3, 199, 257)]:
        x = torch.randn(*shape)
        with torch.no_grad():
            expected: Tensor = model(x)
            actual: Tensor = traced(x)
        torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)


def test_meta_build_does_not_touch_the_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("a meta build must not load weights")

    monkeypatch.setattr(torch, "load", forbidden)
    with torch.device("meta"):
        model = get_spec("efficientnet_lite0").build()
    tensors = [*model.parameters(), *model.buffers()]
    assert tensors and all(t.is_meta for t in tensors)


def test_cat_is_a_cat(pretrained: nn.Module) -> None:
    top5 = _top5(pretrained, Image.fromarray(skimage.data.chelsea()))
    assert top5[0][0] in CATS, top5


def test_coffee_is_espresso(pretrained: nn.Module) -> None:
    top5 = _top5(pretrained, Image.fromarray(skimage.data.coffee()))
    assert top5[0][0] in {ESPRESSO, CUP, COFFEE_MUG}, top5
    assert ESPRESSO in {index for index, _, _ in top5}, top5


@pytest.mark.skipif(not hasattr(skimage.data, "rocket"), reason="scikit-image has no rocket()")
def test_rocket_is_a_rocket(pretrained: nn.Module) -> None:
    top5 = _top5(pretrained, Image.fromarray(skimage.data.rocket()))
    assert top5[0][0] in ROCKETS, top5
