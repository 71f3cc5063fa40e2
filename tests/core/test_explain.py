"""Explanations: captum's maps on real photos and on a model whose answer is known, the crop
mapping, the effective receptive field against the theoretical one, the cache, the CLI."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from explorer.cli import main
from explorer.core.analysis import analyze
from explorer.core.errors import ExplorerError
from explorer.core.explain import (
    UNTRAINED_NOTICE,
    EffectiveField,
    Explainer,
    MassShare,
    default_layer,
    mass_shares,
    resolve_class,
)
from explorer.core.images import Preprocessing
from explorer.core.runner import ModelRunner, drain

IMAGES = Path(__file__).resolve().parents[2] / "resources" / "images"
CAT = IMAGES / "cat-chelsea.png"
ESPRESSO = IMAGES / "espresso-coffee.png"


@pytest.fixture(scope="module")
def runner() -> ModelRunner:
    torch.manual_seed(0)
    return ModelRunner("cpu")


@pytest.fixture(scope="module")
def explainer(runner: ModelRunner) -> Explainer:
    return Explainer(runner)


# --- a model whose answer is known -----------------------------------------------------------------

KNOWN_MODEL = '''
import torch
from torch import nn

INPUT_SHAPE = (3, 64, 64)


class Brightness(nn.Module):
    """Class 1 scores bright blobs, class 0 their absence: box filters, ReLUs, a mean, a fixed linear layer."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 5, padding=2)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(4, 2)
        with torch.no_grad():
            self.conv1.weight.fill_(1 / 75)  # the mean over a 5×5×3 window: negative on black after normalisation
            self.conv1.bias.zero_()
            self.conv2.weight.fill_(1 / 36)
            self.conv2.bias.zero_()
            self.fc.weight.copy_(torch.tensor([[-1.0] * 4, [1.0] * 4]))
            self.fc.bias.zero_()

    def forward(self, x):
        x = self.relu2(self.conv2(self.relu1(self.conv1(x))))
        return self.fc(self.flatten(self.pool(x)))


def build():
    return Brightness()


class Branchy(Brightness):
    """The same, with control flow on the data: torch.fx cannot trace it."""

    def forward(self, x):
        x = self.relu1(self.conv1(x))
        if x.min() >= 0:  # always true after a ReLU, but it needs the data
            x = self.relu2(self.conv2(x))
        return self.fc(self.flatten(self.pool(x)))


def build_branchy():
    return Branchy()
'''

# The square in the picture's pixels: 146×146 black, resized to 73 (× 0.5), centre crop 64 at offset 4.
SQUARE = (40, 50, 60, 70)  # left, top, right, bottom (exclusive)


@pytest.fixture(scope="module")
def known(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, str]:
    folder = tmp_path_factory.mktemp("known")
    (folder / "known.py").write_text(KNOWN_MODEL)
    picture = np.zeros((146, 146, 3), dtype=np.uint8)
    left, top, right, bottom = SQUARE
    picture[top:bottom, left:right] = 255
    Image.fromarray(picture).save(folder / "square.png")
    return f"{folder / 'known.py'}:build", f"{folder / 'known.py'}:build_branchy", str(folder / "square.png")


def _inside_square(x: int, y: int) -> bool:
    left, top, right, bottom = SQUARE
    return left <= x < right and top <= y < bottom


@pytest.mark.parametrize("method", ["gradcam", "guided", "saliency", "occlusion"])
def test_every_method_peaks_on_the_bright_square(explainer: Explainer, known: tuple[str, str, str], method: str) -> None:
    model, _branchy, square = known
    explanation = explainer.explain_all(model, square, method=method)
    assert explanation.target.index == 1  # "bright" wins on a bright square
    assert explanation.geometry.offset == (4, 4) and explanation.geometry.resized_size == (73, 73)
    peak = explanation.peak_in_image
    assert peak is not None and _inside_square(*peak), (method, peak)
    assert UNTRAINED_NOTICE in explanation.notes  # a user model without a weights file


def test_gradcam_of_the_known_model_is_its_mean_activation(runner: ModelRunner, explainer: Explainer, known: tuple[str, str, str]) -> None:
    """At relu2, class 1's gradient is 1/(H·W) for every channel, so Grad-CAM = Σ_c A_c / (H·W)."""
    model, _branchy, square = known
    explanation = explainer.explain_all(model, square, target=1, method="gradcam", layer="relu2")
    net = runner.on_device(model, "untrained")
    _crop, tensor = runner.preprocess(model, square, "untrained")
    with torch.no_grad():
        activation = net.relu2(net.conv2(net.relu1(net.conv1(tensor.unsqueeze(0)))))[0]
    expected = (activation.sum(0) / (64 * 64)).numpy()
    assert explanation.layer_values is not None
    np.testing.assert_allclose(explanation.layer_values, expected, rtol=1e-5, atol=1e-8)


def test_occluding_an_unimportant_patch_changes_nothing(explainer: Explainer, known: tuple[str, str, str]) -> None:
    model, _branchy, square = known
    explanation = explainer.explain_all(model, square, method="occlusion", target=1, patch=8, stride=4)
    values = explanation.values
    # The square on the crop (offset 4, scale 0.5): rows 21–30, columns 16–25. The network reaches
    # 3 pixels (5×5 then 3×3); a window closer than that to the square may change the score.
    reach, patch = 3, 8
    far = np.ones_like(values, dtype=bool)
    far[max(21 - reach - patch + 1, 0) : 31 + reach + patch - 1, max(16 - reach - patch + 1, 0) : 26 + reach + patch - 1] = False
    assert far.sum() > 1000
    assert np.all(values[far] == 0.0)  # exactly: covering black with the mean colour changes nothing there
    assert values[21:31, 16:26].min() > 0  # covering the square lowers the score


def test_an_untraceable_model_is_explained_through_its_modules(
    explainer: Explainer, known: tuple[str, str, str]
) -> None:
    _model, branchy, square = known
    explanation = explainer.explain_all(branchy, square, method="gradcam", layer="relu2")
    assert explanation.peak_in_image is not None and _inside_square(*explanation.peak_in_image)
    field_ = explainer.effective_field_all(branchy, square, "conv2", at=(25, 20))
    assert field_.support is not None


# --- real photos, the embedded EfficientNet-Lite0 --------------------------------------------------

# Boxes in the photos' own pixels: the cat's face (eyes to chin) and the cup with its crema.
CAT_FACE = (110, 60, 345, 282)  # left, top, right, bottom
CUP = (175, 20, 410, 290)


@pytest.mark.parametrize(("image", "label", "box"), [(CAT, "Egyptian cat", CAT_FACE), (ESPRESSO, "espresso", CUP)])
def test_gradcam_peaks_on_the_object(explainer: Explainer, image: Path, label: str, box: tuple[int, int, int, int]) -> None:
    explanation = explainer.explain_all("efficientnet_lite0", image, target=label)
    assert explanation.target.label == label and explanation.pretrained and not explanation.notes
    assert explanation.layer == default_layer(analyze("efficientnet_lite0")) == "_relu1"
    assert explanation.layer_values is not None and explanation.layer_values.shape == (7, 7)
    x, y = explanation.peak_in_image
    left, top, right, bottom = box
    assert left <= x <= right and top <= y <= bottom, (x, y)
    assert explanation.top[0].label == explanation.target.label  # the top-1 here


@pytest.mark.parametrize(
    ("model", "weights", "layer", "module_path"),
    [
        ("efficientnet_lite0", "embedded", "_relu1", "_relu1"),
        ("efficientnet_lite0", "embedded", "_blocks.12._project_conv", "_blocks.12._project_conv"),
        ("resnet18", "untrained", "layer4.1.relu:2", "layer4.1"),  # a shared ReLU's second call is the block's output
    ],
)
def test_gradcam_equals_captum_on_the_model_itself(
    runner: ModelRunner, explainer: Explainer, model: str, weights: str, layer: str, module_path: str
) -> None:
    from captum.attr import LayerAttribution, LayerGradCam

    explanation = explainer.explain_all(model, CAT, target="top2", layer=layer, weights=weights)
    net = runner.on_device(model, weights)
    _crop, tensor = runner.preprocess(model, CAT, weights)
    batch = tensor.unsqueeze(0)
    direct = LayerGradCam(net, net.get_submodule(module_path)).attribute(
        batch, target=explanation.target.index, relu_attributions=True
    )
    upsampled = LayerAttribution.interpolate(direct, tuple(batch.shape[-2:]), interpolate_mode="bilinear")
    assert explanation.layer_values is not None
    np.testing.assert_allclose(explanation.layer_values, direct[0, 0].detach().numpy(), rtol=0, atol=1e-5)
    np.testing.assert_allclose(explanation.values, upsampled[0, 0].detach().numpy(), rtol=0, atol=1e-5)
    with torch.no_grad():
        second = net(batch)[0].argsort(descending=True)[1].item()
    assert explanation.target.index == second


def test_a_functional_node_is_explained(runner: ModelRunner, explainer: Explainer) -> None:
    """The residual ``add`` is no module: captum reaches it through the explain graph's tap. The
    oracle is Grad-CAM by hand on the sum, taken where the block's shared ReLU receives it."""
    explanation = explainer.explain_all("resnet18", CAT, layer="layer1.0.add", weights="untrained")
    assert explanation.layer == "layer1.0.add" and explanation.layer_values is not None
    net = runner.on_device("resnet18", "untrained")
    _crop, tensor = runner.preprocess("resnet18", CAT, "untrained")
    seen: list[torch.Tensor] = []

    def before_relu(_module: torch.nn.Module, inputs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...] | None:
        seen.append(inputs[0])
        return (inputs[0] * 1.0,) if len(seen) == 2 else None  # the in-place ReLU must not overwrite the sum

    handle = net.layer1[0].relu.register_forward_pre_hook(before_relu)
    try:
        score = net(tensor.unsqueeze(0))[0, explanation.target.index]
    finally:
        handle.remove()
    total = seen[1]  # the block's second ReLU call receives bn2 + identity
    (gradient,) = torch.autograd.grad(score, total)
    weights = gradient[0].mean(dim=(1, 2), keepdim=True)
    expected = torch.relu((weights * total[0]).sum(0)).detach().numpy()
    np.testing.assert_allclose(explanation.layer_values, expected, rtol=0, atol=1e-5)


def test_the_cache_and_its_bound(runner: ModelRunner) -> None:
    explainer = Explainer(runner)
    first = explainer.explain_all("efficientnet_lite0", CAT)
    again = explainer.explain_all("efficientnet_lite0", CAT, target=first.target.index)
    assert again is first and explainer.computations == 1  # "top1" and its index are one key
    explainer.explain_all("efficientnet_lite0", CAT, target="tabby")
    explainer.explain_all("efficientnet_lite0", CAT, method="saliency")
    assert explainer.computations == 3
    small = Explainer(runner, cache_bytes=first.nbytes + 1)
    small.explain_all("efficientnet_lite0", CAT)
    small.explain_all("efficientnet_lite0", CAT, method="saliency")
    assert small.cached_bytes <= first.nbytes + 1
    small.explain_all("efficientnet_lite0", CAT)  # evicted: computed again
    assert small.computations == 3


def test_untrained_weights_say_so(explainer: Explainer) -> None:
    explanation = explainer.explain_all("resnet18", CAT, weights="untrained", method="saliency")
    assert explanation.untrained and UNTRAINED_NOTICE in explanation.notes
    entry = explanation.to_dict()
    assert entry["untrained"] is True and UNTRAINED_NOTICE in entry["notes"]


def test_occlusion_reports_progress_and_stops_when_closed(explainer: Explainer) -> None:
    generator = explainer.explain("efficientnet_lite0", ESPRESSO, method="occlusion", patch=16, stride=8)
    messages = []
    for progress in generator:
        messages.append(progress.message)
        if progress.message.startswith("Occlusion:") and progress.done >= 2:
            break
    generator.close()
    assert any(m.startswith("Occlusion: 32 of 729 patches") for m in messages)  # 27 × 27 windows, 16 a pass
    assert not [t for t in threading.enumerate() if t.name == "cnn-explorer-occlusion"]


def test_classes_by_rank_index_and_label() -> None:
    logits = torch.tensor([0.1, 3.0, 2.0, -1.0])
    names = ("cat", "dog", "tabby", "cup")
    assert resolve_class("top1", logits, names) == 1 and resolve_class("TOP2", logits, names) == 2
    assert resolve_class(3, logits, names) == 3 and resolve_class("Tabby", logits, names) == 2
    with pytest.raises(ExplorerError, match="Did you mean tabby"):
        resolve_class("tabbby", logits, names)
    with pytest.raises(ExplorerError, match="classes 0 to 3"):
        resolve_class(4, logits, names)
    with pytest.raises(ExplorerError, match="have no names"):
        resolve_class("cat", logits, None)


def test_the_layer_must_have_a_map(explainer: Explainer) -> None:
    with pytest.raises(ExplorerError, match="spatial map"):
        explainer.explain_all("efficientnet_lite0", CAT, layer="_fc")
    with pytest.raises(ExplorerError, match="Did you mean"):
        explainer.explain_all("efficientnet_lite0", CAT, layer="_relu11")


def test_default_layers_are_the_last_conv_stage() -> None:
    expected = {"resnet18": "layer4.1.relu:2", "vgg16": "features.29", "googlenet": "inception5b.cat", "alexnet": "features.11"}
    assert {name: default_layer(analyze(name)) for name in expected} == expected


# --- the crop, mapped back -------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(451, 300), (300, 451), (301, 301), (200, 120)])
def test_crop_geometry_is_the_crop_torchvision_made(size: tuple[int, int]) -> None:
    """Nearest-neighbour resizing of a picture that spells each pixel's own coordinates."""
    width, height = size
    ys, xs = np.mgrid[0:height, 0:width]
    coded = np.stack([xs % 256, ys % 256, (xs // 256) * 16 + ys // 256], axis=-1).astype(np.uint8)
    preprocessing = Preprocessing(resize=128, crop=112, interpolation="nearest")
    crop = np.asarray(preprocessing.crop_image(Image.fromarray(coded)))
    geometry = preprocessing.geometry(size)
    for row, col in [(0, 0), (0, 111), (111, 0), (56, 57), (111, 111), (13, 99)]:
        pixel = crop[row, col].astype(int)
        source = (pixel[0] + 256 * (pixel[2] // 16), pixel[1] + 256 * (pixel[2] % 16))
        assert geometry.pixel_in_image(col, row) == source, (row, col)


# --- the effective receptive field -----------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("model", ["alexnet", "vgg16", "resnet18"])
def test_the_effective_field_lies_inside_the_theoretical_box_for_every_conv(explainer: Explainer, model: str) -> None:
    torch.manual_seed(0)
    convs = None
    first: list[EffectiveField] = []
    for layer_stats in analyze(model, (3, 227, 227) if model == "alexnet" else (3, 224, 224)).layers:
        if layer_stats.kind != "conv":
            continue
        _channels, height, width = layer_stats.output_shape
        positions = [(0, 0), (height // 2, width // 3), (height - 1, width - 1)]
        fields = drain(explainer.effective_fields(model, CAT, layer_stats.name, positions, weights="untrained"))
        for field_ in fields:
            assert field_.support is not None, (layer_stats.name, field_.position)
            top, left, bottom, right = field_.theoretical_box
            s_top, s_left, s_bottom, s_right = field_.support
            assert top <= s_top and left <= s_left and s_bottom <= bottom and s_right <= right, (
                layer_stats.name, field_.position, field_.theoretical_box, field_.support,
            )  # fmt: skip
            assert field_.mass[0].pixels <= field_.mass[1].pixels <= field_.mass[1].box_pixels
        if convs is None:
            convs, first = layer_stats.name, fields
    # The first convolution sees its whole box: every weight of a random kernel is non-zero.
    assert first and all(f.support == f.theoretical_box for f in first), convs


def test_the_effective_field_is_smaller_than_the_theoretical_one(explainer: Explainer) -> None:
    """Luo et al.: with trained weights, half the gradient's mass sits in a small part of the box."""
    field_ = explainer.effective_field_all("efficientnet_lite0", CAT, "_blocks.5._project_conv", at=(7, 7))
    half, most = field_.share(0.5), field_.share(0.9)
    assert half is not None and most is not None
    assert half.fraction < 0.1 and half.fraction < most.fraction < 0.5
    assert field_.support is not None and field_.position == (7, 7) and field_.layer_shape == (80, 14, 14)


def test_mass_shares_count_the_strongest_pixels() -> None:
    gradient = np.zeros((4, 4), dtype=np.float32)
    gradient[1:3, 1:3] = [[4, 3], [2, 1]]
    half, most = mass_shares(gradient, (0, 0, 3, 3))
    assert half == MassShare(0.5, 2, 16, 3.0)  # 4 + 3 = 7 ≥ 5
    assert most == MassShare(0.9, 3, 16, 2.0)  # 4 + 3 + 2 = 9 ≥ 9
    assert half.formula == "50% of the mass in the 2 strongest pixels: 2 / 16 = 12.50% of the box"
    assert mass_shares(np.zeros((3, 3)), (0, 0, 2, 2)) == ()


def test_effective_field_positions_are_checked(explainer: Explainer) -> None:
    with pytest.raises(ExplorerError, match=r"outside _blocks.5._project_conv's 14×14 map"):
        explainer.effective_field_all("efficientnet_lite0", CAT, "_blocks.5._project_conv", at=(14, 0))
    with pytest.raises(ExplorerError, match="channels 0 to 79"):
        explainer.effective_field_all("efficientnet_lite0", CAT, "_blocks.5._project_conv", channel=80)


def test_a_module_path_stands_for_its_output_node(explainer: Explainer) -> None:
    """As in ``features --layers``: a block with no node of its own name (Lite0's MBConv) is its output."""
    field = explainer.effective_field_all("efficientnet_lite0", CAT, "_blocks.3", at=(3, 4))
    assert field.layer == "_blocks.3._bn2" and field.layer_shape == (40, 28, 28)
    explanation = explainer.explain_all("efficientnet_lite0", CAT, layer="_blocks.15")
    assert explanation.layer == "_blocks.15._bn2"


# --- the command line ------------------------------------------------------------------------------


def test_explain_cli_json_and_png(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "cat-gradcam.png"
    assert main(["explain", str(CAT), "--class", "Egyptian cat", "--json", "--out", str(out)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["model"] == "efficientnet_lite0" and data["method"] == "gradcam" and data["layer"] == "_relu1"
    assert data["class"]["label"] == "Egyptian cat" and data["class"]["index"] == 285
    assert data["shape"] == [224, 224] and data["layer_shape"] == [7, 7] and data["min"] <= data["max"]
    assert data["image_size"] == [451, 300] and not data["untrained"]
    left, top, right, bottom = CAT_FACE
    assert left <= data["peak"]["x"] <= right and top <= data["peak"]["y"] <= bottom
    # The peak in the image's pixels is the crop's, moved and scaled by the preprocessing (resize 256, crop 224).
    scale = 300 / 256
    assert data["peak"]["x"] == int((data["peak_in_crop"]["x"] + 0.5 + 80) * scale)
    assert data["peak"]["y"] == int((data["peak_in_crop"]["y"] + 0.5 + 16) * scale)
    assert Image.open(out).size == (451, 300)


def test_explain_cli_text_for_an_untrained_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "resnet18", str(CAT), "--method", "saliency", "--class", "7"]) == 0
    out = capsys.readouterr().out
    assert "saliency" in out and "class 7" in out and f"note: {UNTRAINED_NOTICE}" in out


def test_erf_cli_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "erf.png"
    assert main(["erf", "efficientnet_lite0", str(CAT), "--layer", "_blocks.5._project_conv", "--at", "7,7", "--json", "--out", str(out)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["at"] == {"y": 7, "x": 7} and data["layer_shape"] == [80, 14, 14] and data["channel"] is None
    box = data["theoretical_box"]
    assert data["box_pixels"] == box["height"] * box["width"]
    assert data["mass_fractions"]["50%"] == pytest.approx(data["mass_pixels"]["50%"] / data["box_pixels"])
    assert 0 < data["mass_fractions"]["50%"] < data["mass_fractions"]["90%"] <= 1
    support = data["support"]
    assert box["top"] <= support["top"] and support["bottom"] <= box["bottom"]
    assert Image.open(out).size == (448, 448)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["explain", str(CAT), "--layer", "_relu11"], "Did you mean"),
        (["explain", str(CAT), "--class", "tabbby"], "Did you mean tabby"),
        (["explain", str(CAT), str(ESPRESSO)], "one image"),
        (["explain", str(CAT), "--out", "/no/such/folder/x.png"], "does not exist"),
        (["explain", str(CAT), "--out", str(IMAGES)], "is a folder"),
        (["explain", str(CAT), "--out", str(IMAGES / "map.unknown")], "unknown image format"),
        (["explain", "no_such_model.py:build", str(CAT)], "Model file not found"),  # a model, not a second image
        (["explain", str(CAT), "--timeout", "-1"], "time limit must be positive"),
        (["erf", "efficientnet_lite0", str(CAT), "--layer", "_blocks.3", "--out", "/proc/no/x.png"], "does not exist"),
        (["erf", "efficientnet_lite0", str(CAT), "--layer", "_conv_head", "--at", "7;7"], "Malformed --at"),
        (["erf", "efficientnet_lite0", str(CAT), "--layer", "_conv_head", "--at", "7,70"], "outside _conv_head's 7×7 map"),
        (["erf", "efficientnet_lite0", str(CAT), "--layer", "flatten"], "spatial map"),
    ],
)
def test_explain_and_erf_errors_exit_2(capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_explain_and_captum_import_no_qt() -> None:
    """captum pulls in matplotlib; neither may bring Qt into the core."""
    import subprocess
    import sys

    probe = (
        "import sys, explorer.core.explain, captum.attr, matplotlib.pyplot\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'PySide6', 'pyqtgraph', 'shiboken6'} or m.startswith('explorer.gui')))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=IMAGES.parents[1], timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
