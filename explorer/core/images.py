"""Robust image loading (any mode, any orientation, hostile files) and the preprocessing networks see.

``load_image`` turns whatever a user drops or pastes into one upright RGB picture, or raises
``ImageError`` with a sentence that says what is wrong with the file. ``Preprocessing`` is the
resize → centre crop → normalise recipe; it comes from the chosen weights (``weights.py``) and
does the same arithmetic as torchvision's ``ImageClassification`` preset, so a torchvision
checkpoint sees exactly the pixels it was evaluated on.

Memory is bounded in bytes, not pixels, and before the work is done: Pillow reads only the
header on ``open``, so the bytes that decoding and the conversion to RGB will take
(``decode_bytes``: bytes per pixel of the file's mode, with the copies the conversion makes)
are checked against ``MAX_DECODE_BYTES`` before any pixel is decoded, and the size that the
resize would produce (``Preprocessing.resized_size``) against ``MAX_RESIZE_BYTES`` before
resizing, so a 476-byte 1×100000 PNG is refused in microseconds instead of growing to 13 GB.
"""

from __future__ import annotations

import functools
import io
import math
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from explorer.core.errors import ExplorerError

#: Pillow's default limit on pixels; above it we raise ``ImageError`` where Pillow would only warn.
MAX_PIXELS: int = 89_478_485
#: What decoding one image and converting it to RGB may take (see ``decode_bytes``). The process
#: itself holds ~0.85 GB once torch 2.14 (CUDA build) and torchvision are loaded, so the two limits
#: together keep any file's peak under 1 GB: 24 MP for an upright RGB PNG (JPEGs larger than that
#: are decoded at 1/2, 1/4 or 1/8 scale by the JPEG decoder itself, which the resize hides).
MAX_DECODE_BYTES: int = 96 * 2**20
#: What resizing one image for a network may take (the intermediate and the result), on top of the
#: decoded image it is made from.
MAX_RESIZE_BYTES: int = 64 * 2**20

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

_WHITE = (255, 255, 255)
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
_HIGH_DEPTH_MODES = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N", "F"})
_INTERPOLATIONS = ("nearest", "bilinear", "bicubic")
#: Pillow keeps every multi-band mode in 4 bytes per pixel; these are the exceptions.
_STORED_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2, "I": 4, "F": 4}
_EXIF_ORIENTATION = 0x0112


class ImageError(ExplorerError):
    """An image the user gave cannot be used: missing, not an image, truncated, too large."""


def _gb(count: float) -> str:
    return f"{count / 2**30:,.1f} GB" if count >= 2**30 else f"{count / 2**20:,.0f} MB"


def decode_bytes(mode: str, width: int, height: int, *, transposed: bool = False) -> int:
    """The memory that decoding a ``mode`` image and converting it to RGB takes at its peak.

    Pillow's storage for the mode, plus what ``to_rgb`` makes on the way: the 4-byte RGB result,
    the float32 working copy of a high-bit-depth image (with the array it is read from), the
    RGBA copy and the white background of a transparent one, and an upright copy when the EXIF
    orientation asks for a rotation.
    """
    pixels = width * height
    stored = _STORED_BYTES.get(mode, 4)
    per_pixel = stored
    if mode in _HIGH_DEPTH_MODES:
        per_pixel += stored + 4 + 1 + 1 + 4  # array, float32 work copy, uint8, L, RGB
    elif mode in _ALPHA_MODES or mode == "P":
        per_pixel += 4 + 4 + 4 + 4  # RGBA, background, composite, RGB
    elif mode != "RGB":
        per_pixel += 4  # the RGB conversion
    if transposed:
        per_pixel += stored
    return pixels * per_pixel


def load_image(source: str | os.PathLike[str] | bytes, *, name: str | None = None) -> Image.Image:
    """An upright RGB image: EXIF orientation applied, first frame, any mode converted.

    ``source`` is a path or the bytes of an image (pasted data); ``name`` labels the errors.
    Every failure is an ``ImageError``, running out of memory included.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        label = name or "the pasted image"
        data = bytes(source)
        if not data:
            raise ImageError(f"{label} is empty (0 bytes).")
        return _decode_guarded(io.BytesIO(data), label)
    path = Path(source)
    label = name or str(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ImageError(f"{label}: no such file.") from None
    except OSError as error:
        raise ImageError(f"{label} cannot be read: {error.strerror or error}.") from None
    if stat.S_ISDIR(info.st_mode):
        raise ImageError(f"{label} is a folder, not an image{_folder_note(path)}.")
    if not stat.S_ISREG(info.st_mode):
        # A FIFO would block the reader forever, /dev/zero never ends.
        raise ImageError(f"{label} is not a regular file (a device, pipe or socket), so it is not read.")
    if info.st_size == 0:
        raise ImageError(f"{label} is empty (0 bytes).")
    try:
        handle = path.open("rb")
    except OSError as error:
        raise ImageError(f"{label} cannot be read: {error.strerror or error}.") from None
    with handle:
        return _decode_guarded(handle, label)


def _folder_note(path: Path) -> str:
    try:
        has_images = any(p.is_file() and p.suffix.lower() in _image_suffixes() for p in path.iterdir())
    except OSError:
        return ""
    return "" if has_images else " (and it holds no image files)"


def _decode_guarded(stream: io.BufferedIOBase | io.BytesIO, label: str) -> Image.Image:
    try:
        return _decode(stream, label)
    except MemoryError:
        raise ImageError(f"{label}: there is not enough memory to decode it.") from None


def _decode(stream: io.BufferedIOBase | io.BytesIO, label: str) -> Image.Image:
    try:
        # Pillow's DecompressionBombWarning (above its limit) is silenced by the entry points'
        # warning filters (console.quiet_libraries); its DecompressionBombError is caught here.
        image = Image.open(stream)
    except UnidentifiedImageError:
        raise ImageError(f"{label} is not an image (or not a format Pillow can read).") from None
    except Image.DecompressionBombError as error:
        raise ImageError(_too_large(label, error)) from None
    except MemoryError:
        raise
    except Exception as error:  # Pillow's format parsers raise many types on malformed headers
        raise ImageError(f"{label} is not a readable image: {_first_line(error)}.") from None
    with image:
        # Opening reads only the header, so the size is known before any pixel is decoded.
        width, height = image.size
        pixels = width * height
        if pixels > MAX_PIXELS:
            raise ImageError(
                f"{label} is {width}×{height} = {pixels:,} pixels, over the limit of "
                f"{MAX_PIXELS:,}: refusing it as a possible decompression bomb."
            )
        if pixels == 0:
            raise ImageError(f"{label} has no pixels ({width}×{height}).")
        needed = decode_bytes(image.mode, width, height)
        if needed > MAX_DECODE_BYTES and image.format == "JPEG":
            width, height = _jpeg_draft(image)
            needed = decode_bytes(image.mode, width, height)
        if needed > MAX_DECODE_BYTES:
            raise ImageError(_over_decode_limit(label, image.mode, *image.size, needed))
        try:
            image.seek(0)  # animated or multi-page: the first frame
            image.load()
        except MemoryError:
            raise
        except Exception as error:  # truncated data surfaces as OSError, SyntaxError, ValueError…
            raise ImageError(f"{label} is truncated or corrupt ({_first_line(error)}).") from None
        # Only now: a PNG's EXIF may follow its pixels, and Pillow decodes them to find it.
        orientation = _orientation(image)
        if orientation not in (None, 1):
            needed = decode_bytes(image.mode, width, height, transposed=True)
            if needed > MAX_DECODE_BYTES:
                raise ImageError(_over_decode_limit(label, image.mode, width, height, needed))
        upright = _exif_upright(image, orientation)
        try:
            return to_rgb(upright)
        except ImageError as error:
            raise ImageError(f"{label}: {error}") from None


def _jpeg_draft(image: Image.Image) -> tuple[int, int]:
    """Ask the JPEG decoder for the largest of 1/2, 1/4, 1/8 scale that fits ``MAX_DECODE_BYTES``."""
    width, height = image.size
    for scale in (2, 4, 8):
        size = (-(-width // scale), -(-height // scale))
        if decode_bytes(image.mode, *size) <= MAX_DECODE_BYTES or scale == 8:
            image.draft(image.mode, size)
            break
    return image.size


def _over_decode_limit(label: str, mode: str, width: int, height: int, needed: int) -> str:
    return (
        f"{label} is {width}×{height} in mode {mode}: decoding it would take about {_gb(needed)}, "
        f"over the limit of {_gb(MAX_DECODE_BYTES)}. Scale it down first: the networks see a few hundred pixels."
    )


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _too_large(label: str, error: Exception) -> str:
    return f"{label} is too large: refusing it as a possible decompression bomb ({error})."


def _orientation(image: Image.Image) -> int | None:
    try:
        value = image.getexif().get(_EXIF_ORIENTATION)
    except Exception:  # a malformed EXIF block: no orientation
        return None
    return value if isinstance(value, int) else None


def _exif_upright(image: Image.Image, orientation: int | None) -> Image.Image:
    if orientation in (None, 1):
        return image  # upright already: no copy
    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # a malformed EXIF block should not cost the user the picture itself
        return image


def to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode as 8-bit RGB: high bit depths rescaled, transparency composited on white."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in _HIGH_DEPTH_MODES:
        return Image.fromarray(_rescale_to_uint8(np.asarray(image)), "L").convert("RGB")
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
        mode = "RGBA"
    if mode in _ALPHA_MODES:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*_WHITE, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    try:
        return image.convert("RGB")
    except (ValueError, OSError) as error:
        raise ImageError(f"Images in Pillow mode {mode!r} cannot be converted to RGB ({error}).") from error


def _rescale_to_uint8(values: np.ndarray) -> np.ndarray:
    """Map a high-bit-depth range onto 0..255 instead of clipping it (Pillow's ``convert`` clips).

    A float image holding NaN or infinity is refused: there is no honest grey for those pixels,
    and letting them through turned the whole picture black.
    """
    if values.size == 0:
        return values.astype(np.uint8)
    is_float = np.issubdtype(values.dtype, np.floating)
    if is_float:
        finite = np.isfinite(values)
        bad = int(values.size - np.count_nonzero(finite))
        del finite
        if bad:
            share = "all" if bad == values.size else f"{bad:,} of its {values.size:,}"
            verb = "is" if bad == 1 else "are"
            raise ImageError(
                f"{share} pixel values {verb} NaN or infinite; only finite numbers can be shown as an image."
            )
    low, high = float(values.min()), float(values.max())
    if is_float and low >= 0 and high <= 1.0:
        scale_low, scale_high = 0.0, 1.0  # float images in 0..1
    elif low >= 0 and high <= 65535:
        scale_low, scale_high = 0.0, 65535.0  # 16-bit data keeps its absolute brightness
    else:
        scale_low, scale_high = low, high if high > low else low + 1.0
    # float32, in place: a second full-size float64 copy would double the peak for nothing.
    # Scaled before shifted: x·f − low·f stays finite where x − low would overflow float32
    # (an image holding −3e38 and 3e38 printed numpy's overflow warning and came out flat grey).
    factor = 255.0 / (scale_high - scale_low)
    work = values.astype(np.float32)
    work *= np.float32(factor)
    work -= np.float32(scale_low * factor)
    np.rint(work, out=work)
    np.clip(work, 0, 255, out=work)
    return work.astype(np.uint8)


@functools.cache
def _image_suffixes() -> frozenset[str]:
    # Only the formats Pillow can open, not those it can merely save.
    return frozenset(ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN)


def image_files(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Folders expanded to their images (sorted, one level); files kept as given, even bad ones.

    Bad files stay in the list on purpose: the runner reports each one in its own result. A
    folder with no images stays too (``load_image`` says it holds none).
    """
    suffixes = _image_suffixes()
    files: list[Path] = []
    for entry in paths:
        path = Path(entry)
        if path.is_dir():
            try:
                found = sorted(
                    (p for p in path.iterdir() if p.is_file() and p.suffix.lower() in suffixes),
                    key=lambda p: p.name.lower(),
                )
            except OSError:
                found = []
            # A folder with no images keeps its own entry, so it gets an error instead of vanishing.
            files.extend(found or [path])
        else:
            files.append(path)
    return files


@dataclass(frozen=True)
class Preprocessing:
    """Resize the shorter side, centre-crop, scale to 0..1, normalise; torchvision's recipe."""

    resize: int
    crop: int
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    interpolation: str = "bilinear"
    #: 1 for grayscale networks (LeNet): the crop is converted to L and normalised with mean[0]/std[0].
    channels: int = 3

    def __post_init__(self) -> None:
        if self.interpolation not in _INTERPOLATIONS:
            raise ValueError(f"interpolation must be one of {_INTERPOLATIONS}, not {self.interpolation!r}")
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, not {self.channels}")

    def resized_size(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) after the resize: the shorter side becomes ``resize`` (torchvision's rule)."""
        short, long = min(width, height), max(width, height)
        new_long = int(self.resize * long / short)
        return (self.resize, new_long) if width <= height else (new_long, self.resize)

    def check_size(self, width: int, height: int) -> None:
        """Refuse, before resizing, an image whose resize would not fit ``MAX_RESIZE_BYTES``.

        Pillow resizes in two passes; the intermediate is at most the larger of new width × old
        height and old width × new height; both it and the result take 4 bytes per pixel.
        """
        new_width, new_height = self.resized_size(width, height)
        needed = 4 * (new_width * new_height + max(new_width * height, width * new_height))
        if needed > MAX_RESIZE_BYTES:
            ratio = max(width, height) / min(width, height)
            raise ImageError(
                f"The image is {width}×{height} ({ratio:,.0f}:1): resizing its shorter side to {self.resize} px, "
                f"as this preprocessing does, would make it {new_width:,}×{new_height:,} (about {_gb(needed)}), "
                f"over the limit of {_gb(MAX_RESIZE_BYTES)}; crop it to a less elongated picture first."
            )

    def crop_image(self, image: Image.Image) -> Image.Image:
        """What the network sees, before normalisation: RGB (L for 1-channel networks)."""
        # torchvision's v1 functional: on PIL images the same Pillow calls as v2, without importing
        # tv_tensors, whose @torch.compiler.disable imports torch._dynamo (1.6 s and 190 MB here).
        from torchvision.transforms import InterpolationMode
        from torchvision.transforms import functional as F

        self.check_size(*image.size)
        image = to_rgb(image)
        resized = F.resize(
            image, [self.resize], interpolation=InterpolationMode(self.interpolation), antialias=True
        )
        cropped = F.center_crop(resized, [self.crop])
        return cropped.convert("L") if self.channels == 1 else cropped

    def to_tensor(self, image: Image.Image) -> torch.Tensor:
        """A normalised float32 tensor of shape (channels, crop, crop)."""
        return self.normalize(self.crop_image(image))

    def normalize(self, crop: Image.Image) -> torch.Tensor:
        """The tensor for an image ``crop_image`` already produced (the GUI shows the crop, then runs it)."""
        pixels = np.asarray(crop, dtype=np.uint8)
        if pixels.ndim == 2:
            pixels = pixels[:, :, None]
        tensor = torch.from_numpy(pixels.copy()).permute(2, 0, 1).to(torch.float32).div_(255.0)
        mean = torch.tensor(self.mean[: self.channels], dtype=torch.float32).view(-1, 1, 1)
        std = torch.tensor(self.std[: self.channels], dtype=torch.float32).view(-1, 1, 1)
        return tensor.sub_(mean).div_(std).contiguous()

    def geometry(self, image_size: tuple[int, int]) -> CropGeometry:
        """Where the crop of a ``(width, height)`` picture lies in it: torchvision's own size arithmetic."""
        from torchvision.transforms.functional import _compute_resized_output_size

        width, height = image_size
        resized_h, resized_w = _compute_resized_output_size((height, width), [self.resize])
        crop = self.crop
        # centre_crop pads first when the crop is larger, then takes the anchor on the padded image.
        pad_top = (crop - resized_h) // 2 if crop > resized_h else 0
        pad_left = (crop - resized_w) // 2 if crop > resized_w else 0
        # torchvision's anchor (transforms.functional.center_crop): round((padded - crop) / 2).
        top = int(round((resized_h + 2 * pad_top - crop) / 2.0))
        left = int(round((resized_w + 2 * pad_left - crop) / 2.0))
        return CropGeometry((width, height), (resized_w, resized_h), (crop, crop), (left - pad_left, top - pad_top))

    def describe(self) -> str:
        """``resize 256 → centre crop 224 → ImageNet mean/std``."""
        resize = f"resize {self.resize}"
        if self.interpolation != "bilinear":
            resize += f" ({self.interpolation})"
        if self.mean == IMAGENET_MEAN and self.std == IMAGENET_STD:
            normalise = "ImageNet mean/std"
        else:
            normalise = f"mean {_floats(self.mean)} / std {_floats(self.std)}"
        steps = [resize, f"centre crop {self.crop}", normalise]
        if self.channels == 1:
            steps.insert(2, "grayscale")
        return " → ".join(steps)


@dataclass(frozen=True)
class CropGeometry:
    """The network's crop inside the picture it came from: a resize (a scale per axis), then an offset.

    Coordinates are continuous with pixel p spanning [p, p + 1), the convention of PIL's and
    torchvision's resampling, so crop position u maps to ``(u + offset) × image / resized`` on
    each axis. Sizes are (width, height); the picture is the upright one ``load_image`` returns.
    """

    image_size: tuple[int, int]
    resized_size: tuple[int, int]
    crop_size: tuple[int, int]
    #: (left, top) of the crop in the resized picture; negative where centre-cropping padded it.
    offset: tuple[int, int]

    @property
    def scale(self) -> tuple[float, float]:
        """Image pixels per resized pixel, (x, y)."""
        return self.image_size[0] / self.resized_size[0], self.image_size[1] / self.resized_size[1]

    def to_image(self, x: float, y: float) -> tuple[float, float]:
        """A continuous crop position → the same point in the picture."""
        scale_x, scale_y = self.scale
        return (x + self.offset[0]) * scale_x, (y + self.offset[1]) * scale_y

    def pixel_in_image(self, col: int, row: int) -> tuple[int, int]:
        """The picture pixel (x, y) under the centre of crop pixel (col, row), clipped to the picture."""
        x, y = self.to_image(col + 0.5, row + 0.5)
        width, height = self.image_size
        return min(max(int(math.floor(x)), 0), width - 1), min(max(int(math.floor(y)), 0), height - 1)

    def crop_in_image(self) -> tuple[float, float, float, float]:
        """(left, top, right, bottom) of the crop in picture coordinates (may reach past its edges)."""
        left, top = self.to_image(0.0, 0.0)
        right, bottom = self.to_image(float(self.crop_size[0]), float(self.crop_size[1]))
        return left, top, right, bottom


def _floats(values: tuple[float, ...]) -> str:
    return "(" + ", ".join(f"{v:g}" for v in values) + ")"


#: EfficientNet-Lite0's and most classic ImageNet checkpoints' recipe.
IMAGENET_PREPROCESSING = Preprocessing(resize=256, crop=224)


def preprocessing_for_input(channels: int, size: int) -> Preprocessing:
    """A recipe for a network with no pretrained weights: crop to its input size, keep ImageNet's ratio."""
    # 256/224 is the classic resize-to-crop ratio; tiny inputs (LeNet's 32) are resized whole.
    resize = size if size < 64 else round(size * 256 / 224)
    return Preprocessing(resize=resize, crop=size, channels=1 if channels == 1 else 3)
