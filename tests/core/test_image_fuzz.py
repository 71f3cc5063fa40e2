"""1,000 mutated images through the loader and the preprocessing: each loads, or is one ``ImageError``.

Seeds in every format Pillow reads here (PNG in five modes, JPEG, animated GIF, float and 16-bit
TIFF, BMP, WebP), mutated deterministically: bytes flipped, the file cut short, bytes inserted,
and the size fields of PNG and TIFF headers set to extreme values. Any other exception, or a
MemoryError, is a failure.
"""

from __future__ import annotations

import io
import random
import time
import warnings

import numpy as np
import pytest
from PIL import Image

from explorer.core.images import IMAGENET_PREPROCESSING, ImageError, load_image

from hostile_images import with_png_size, with_tiff_size  # tests/core is on sys.path (pytest's prepend mode)

CASES = 1_000
SEED = 20261201
EXTREME_SIZES = (0, 1, 2, 255, 65_535, 65_536, 100_000, 2**31 - 1, 2**32 - 1)


def _encode(image: Image.Image, format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format, **options)
    return buffer.getvalue()


def _seeds() -> list[tuple[str, bytes]]:
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8), "RGB")
    frames = [Image.new("P", (16, 12), i * 40) for i in range(3)]
    return [
        ("png-rgb", _encode(rgb, "PNG")),
        ("png-rgba", _encode(rgb.convert("RGBA"), "PNG")),
        ("png-l", _encode(rgb.convert("L"), "PNG")),
        ("png-p", _encode(rgb.convert("P"), "PNG", transparency=0)),
        ("png-16", _encode(Image.fromarray(rng.integers(0, 65535, (12, 16), dtype=np.uint16)), "PNG")),
        ("jpeg", _encode(rgb, "JPEG", quality=80)),
        ("gif", _encode(frames[0], "GIF", save_all=True, append_images=frames[1:])),
        ("tiff-f", _encode(Image.fromarray(rng.random((12, 16), dtype=np.float32), "F"), "TIFF")),
        ("tiff-16", _encode(Image.fromarray(rng.integers(0, 65535, (12, 16), dtype=np.uint16)), "TIFF")),
        ("bmp", _encode(rgb, "BMP")),
        ("webp", _encode(rgb, "WEBP", quality=80)),
    ]


def _mutate(data: bytes, kind: str, rng: random.Random) -> bytes:
    choice = rng.randrange(5)
    if choice == 0 and kind.startswith("png"):
        return with_png_size(data, rng.choice(EXTREME_SIZES), rng.choice(EXTREME_SIZES))
    if choice == 0 and kind.startswith("tiff"):
        return with_tiff_size(data, rng.choice(EXTREME_SIZES), rng.choice(EXTREME_SIZES))
    out = bytearray(data)
    if choice in (0, 1):  # flip a few bytes, mostly in the header
        for _ in range(rng.randint(1, 12)):
            position = rng.randrange(min(len(out), 64)) if rng.random() < 0.6 else rng.randrange(len(out))
            out[position] = rng.randrange(256)
        return bytes(out)
    if choice == 2:  # cut short
        return bytes(out[: rng.randrange(1, len(out))])
    if choice == 3:  # insert junk
        position = rng.randrange(len(out))
        return bytes(out[:position] + bytes(rng.randrange(256) for _ in range(rng.randint(1, 64))) + out[position:])
    position = rng.randrange(8, len(out))  # duplicate a stretch
    stretch = out[position : position + rng.randint(1, 200)]
    return bytes(out[:position] + stretch * rng.randint(2, 20) + out[position:])


def test_a_thousand_mutated_images_load_or_fail_cleanly() -> None:
    rng = random.Random(SEED)
    seeds = _seeds()
    uncaught: list[str] = []
    outcomes = {"loaded": 0, "refused": 0}
    IMAGENET_PREPROCESSING.to_tensor(load_image(seeds[0][1]))  # imports (torchvision's transforms) before the clock
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow's warnings about odd tags are not failures
        for case in range(CASES):
            kind, seed = seeds[case % len(seeds)]
            data = _mutate(seed, kind, rng)
            try:
                IMAGENET_PREPROCESSING.to_tensor(load_image(data, name=f"case {case} ({kind})"))
                outcomes["loaded"] += 1
            except ImageError:
                outcomes["refused"] += 1
            except BaseException as error:  # noqa: BLE001 (this is what the test looks for)
                uncaught.append(f"case {case} ({kind}): {type(error).__name__}: {error}")
    elapsed = time.perf_counter() - started
    print(f"\n{CASES} mutated images in {elapsed:.1f} s: {outcomes}")
    assert not uncaught, "\n".join(uncaught[:20])
    assert outcomes["loaded"] > 50 and outcomes["refused"] > 50  # the mutations exercise both paths


@pytest.mark.parametrize("kind", ["png-rgb", "tiff-f"])
def test_header_sizes_at_the_extremes(kind: str) -> None:
    seed = dict(_seeds())[kind]
    mutate = with_png_size if kind.startswith("png") else with_tiff_size
    for width in EXTREME_SIZES:
        for height in EXTREME_SIZES:
            try:
                IMAGENET_PREPROCESSING.to_tensor(load_image(mutate(seed, width, height)))
            except ImageError:
                pass
