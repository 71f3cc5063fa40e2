"""Image loading: a corpus of awkward and bad files written by the tests, and the preprocessing."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.models import ResNet50_Weights

from explorer.core import images
from explorer.core.errors import ExplorerError
from explorer.core.images import (
    IMAGENET_PREPROCESSING,
    ImageError,
    Preprocessing,
    image_files,
    load_image,
)

ROOT = Path(__file__).resolve().parents[2]
PHOTOS = ROOT / "resources" / "images"
EXIF_ORIENTATION = 0x0112


def _pixel(image: Image.Image, xy: tuple[int, int] = (0, 0)) -> tuple[int, ...]:
    return tuple(image.getpixel(xy))  # type: ignore[arg-type]


# --- modes ------------------------------------------------------------------------------------


def test_sixteen_bit_png_is_rescaled_not_clipped(tmp_path: Path) -> None:
    ramp = np.linspace(0, 65535, 256).round().astype(np.uint16)
    path = tmp_path / "ramp16.png"
    Image.fromarray(np.tile(ramp, (4, 1))).save(path)
    assert Image.open(path).mode.startswith("I;16")  # really a 16-bit file
    image = load_image(path)
    assert image.mode == "RGB" and image.size == (256, 4)
    row = np.asarray(image)[0, :, 0]
    assert row.min() == 0 and row.max() == 255  # the full range, where clipping would saturate early
    assert np.all(np.diff(row.astype(int)) >= 0)
    assert 120 <= row[128] <= 135  # mid-grey stays mid-grey


def test_a_float_image_at_float32s_limits_is_rescaled_without_a_warning(tmp_path: Path) -> None:
    """−3e38 … 3e38: x − low overflowed float32 (numpy's warning on stderr, a flat grey picture)."""
    values = np.tile(np.linspace(-3e38, 3e38, 64, dtype=np.float32), (64, 1))
    path = tmp_path / "extreme.tif"
    Image.fromarray(values, mode="F").save(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        image = load_image(path)
    row = np.asarray(image)[0, :, 0]
    assert row[0] == 0 and row[-1] == 255 and np.all(np.diff(row.astype(int)) >= 0)


def test_palette_png_with_transparency_is_composited_on_white(tmp_path: Path) -> None:
    palette_image = Image.new("P", (4, 4), 0)
    palette_image.putpalette([0, 0, 255] + [255, 0, 0] + [0] * (256 * 3 - 6))  # 0: blue (transparent), 1: red
    palette_image.putpixel((1, 1), 1)
    path = tmp_path / "palette.png"
    palette_image.save(path, transparency=0)
    image = load_image(path)
    assert image.mode == "RGB"
    assert _pixel(image, (0, 0)) == (255, 255, 255)
    assert _pixel(image, (1, 1)) == (255, 0, 0)


def test_rgba_transparent_pixel_becomes_white(tmp_path: Path) -> None:
    rgba = Image.new("RGBA", (4, 4), (200, 10, 10, 255))
    rgba.putpixel((0, 0), (0, 0, 0, 0))
    rgba.putpixel((1, 0), (0, 0, 0, 128))
    path = tmp_path / "alpha.png"
    rgba.save(path)
    image = load_image(path)
    assert _pixel(image, (0, 0)) == (255, 255, 255)
    assert _pixel(image, (2, 2)) == (200, 10, 10)
    assert all(120 <= v <= 135 for v in _pixel(image, (1, 0)))  # half black over white


def test_la_image(tmp_path: Path) -> None:
    la = Image.new("LA", (4, 4), (100, 255))
    la.putpixel((0, 0), (0, 0))
    path = tmp_path / "gray-alpha.png"
    la.save(path)
    image = load_image(path)
    assert image.mode == "RGB"
    assert _pixel(image, (0, 0)) == (255, 255, 255)
    assert _pixel(image, (3, 3)) == (100, 100, 100)


def test_cmyk_jpeg_is_converted(tmp_path: Path) -> None:
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(path, quality=95)  # no cyan, full magenta+yellow: red
    assert Image.open(path).mode == "CMYK"
    red, green, blue = _pixel(load_image(path), (8, 8))
    assert red > 200 and green < 60 and blue < 60


def test_animated_gif_gives_its_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (8, 8), colour) for colour in ((255, 0, 0), (0, 0, 255), (0, 255, 0))]
    path = tmp_path / "animated.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert Image.open(path).n_frames == 3
    red, green, blue = _pixel(load_image(path), (4, 4))
    assert red > 200 and green < 50 and blue < 50


def test_multipage_tiff_gives_its_first_page(tmp_path: Path) -> None:
    pages = [Image.new("RGB", (8, 8), (0, 200, 0)), Image.new("RGB", (8, 8), (0, 0, 200))]
    path = tmp_path / "pages.tiff"
    pages[0].save(path, save_all=True, append_images=pages[1:])
    assert _pixel(load_image(path), (1, 1)) == (0, 200, 0)


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    source = Image.new("RGB", (40, 20), (0, 0, 0))
    source.paste((255, 255, 255), (0, 0, 10, 20))  # a white band on the left
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 6  # "rotate 90° clockwise to display"
    path = tmp_path / "rotated.jpg"
    source.save(path, exif=exif, quality=95)
    image = load_image(path)
    assert image.size == (20, 40)  # width and height swapped
    assert _pixel(image, (10, 2))[0] > 200  # the left band is now on top
    assert _pixel(image, (10, 37))[0] < 60


def test_grayscale_and_bytes_input() -> None:
    buffer = io.BytesIO()
    Image.new("L", (5, 3), 77).save(buffer, format="PNG")
    image = load_image(buffer.getvalue(), name="clipboard")
    assert image.mode == "RGB" and image.size == (5, 3) and _pixel(image) == (77, 77, 77)


# --- bad input: one clear ImageError each --------------------------------------------------------


def _noise_jpeg(path: Path, size: int = 64) -> bytes:
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path, quality=90)
    return path.read_bytes()


def test_truncated_jpeg(tmp_path: Path) -> None:
    path = tmp_path / "truncated.jpg"
    data = _noise_jpeg(path)
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="truncated or corrupt"):
        load_image(path)


def test_text_file_named_png(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("this is not a picture\n")
    with pytest.raises(ImageError, match="is not an image"):
        load_image(path)


def test_zero_byte_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.touch()
    with pytest.raises(ImageError, match=r"empty \(0 bytes\)"):
        load_image(path)
    with pytest.raises(ImageError, match="empty"):
        load_image(b"")


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="is a folder"):
        load_image(tmp_path)


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="no such file"):
        load_image(tmp_path / "missing.png")


def test_decompression_bomb_is_an_error_not_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(images, "MAX_PIXELS", 10_000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning would fail the test
        with pytest.raises(ImageError, match="decompression bomb") as caught:
            load_image(PHOTOS / "cat-chelsea.png")
    assert "451×300" in str(caught.value)
    assert isinstance(caught.value, ExplorerError)


def test_pillows_own_bomb_error_is_ours_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000)  # Pillow raises at twice its limit
    with pytest.raises(ImageError, match="decompression bomb"):
        load_image(PHOTOS / "cat-chelsea.png")


def test_image_files_expands_folders_and_keeps_files(tmp_path: Path) -> None:
    for name in ("b.png", "A.jpg", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "deep.png").write_bytes(b"x")
    given = tmp_path / "notes.txt"
    assert image_files([tmp_path, given]) == [tmp_path / "A.jpg", tmp_path / "b.png", given]


# --- preprocessing ----------------------------------------------------------------------------


def test_preprocessing_matches_torchvisions_preset() -> None:
    image = load_image(PHOTOS / "rocket-falcon9.jpg")
    weights = ResNet50_Weights.IMAGENET1K_V1  # resize 256, crop 224, bilinear, ImageNet mean/std
    expected = weights.transforms()(image)
    ours = IMAGENET_PREPROCESSING.to_tensor(image)
    assert ours.shape == (3, 224, 224) and ours.dtype == torch.float32
    torch.testing.assert_close(ours, expected, atol=1e-5, rtol=0)


def test_crop_is_what_the_network_sees() -> None:
    image = load_image(PHOTOS / "espresso-coffee.png")  # 600×400
    crop = IMAGENET_PREPROCESSING.crop_image(image)
    assert crop.size == (224, 224) and crop.mode == "RGB"
    torch.testing.assert_close(IMAGENET_PREPROCESSING.normalize(crop), IMAGENET_PREPROCESSING.to_tensor(image))


def test_grayscale_preprocessing_for_one_channel_networks() -> None:
    lenet = Preprocessing(resize=32, crop=32, channels=1)
    tensor = lenet.to_tensor(load_image(PHOTOS / "cat-chelsea.png"))
    assert tensor.shape == (1, 32, 32)
    assert "grayscale" in lenet.describe()


def test_describe() -> None:
    assert IMAGENET_PREPROCESSING.describe() == "resize 256 → centre crop 224 → ImageNet mean/std"
    bicubic = Preprocessing(resize=232, crop=224, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), interpolation="bicubic")
    assert bicubic.describe() == (
        "resize 232 (bicubic) → centre crop 224 → mean (0.5, 0.5, 0.5) / std (0.5, 0.5, 0.5)"
    )
