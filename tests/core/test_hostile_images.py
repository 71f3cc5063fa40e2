"""Hostile images: each gets one clear line, bounded memory, no traceback, and never costs the batch.

The corpus (``hostile_images.py``) holds the QA report's cases: aspect-ratio strips, headers
mutated to claim 89 MP of 16-bit or float data, NaN and infinite float TIFFs.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from explorer.core import images
from explorer.core.images import IMAGENET_PREPROCESSING, ImageError, image_files, load_image
from explorer.core.runner import ModelRunner

from hostile_images import corpus, write_corpus  # tests/core is on sys.path (pytest's prepend mode)

ROOT = Path(__file__).resolve().parents[2]
PHOTOS = ROOT / "resources" / "images"
GIB = 2**30

EXPECTED = {
    "strip-1x100000.png": "resizing its shorter side to 256 px",
    "strip-20000x1.png": "resizing its shorter side to 256 px",
    "strip-65535x1.png": "resizing its shorter side to 256 px",
    "strip-100000x1.png": "resizing its shorter side to 256 px",
    "float-89mp.tif": "decoding it would take about",
    "gray16-89mp.png": "decoding it would take about",
    "rgb-claims-2gp.png": "decompression bomb",
    "nan.tif": "1 of its 4,096 pixel values is NaN or infinite",
    "inf.tif": "1 of its 4,096 pixel values is NaN or infinite",
    "all-nan.tif": "all pixel values are NaN or infinite",
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_hostile_file_gets_its_own_clear_line_at_once(name: str, tmp_path: Path) -> None:
    path = write_corpus(tmp_path)[name]
    with pytest.raises(ImageError) as caught:
        IMAGENET_PREPROCESSING.to_tensor(load_image(path))
    message = str(caught.value)
    assert EXPECTED[name] in message
    assert "\n" not in message and "Traceback" not in message


def test_the_refusal_says_how_large_it_would_grow(tmp_path: Path) -> None:
    path = write_corpus(tmp_path)["strip-1x100000.png"]
    with pytest.raises(ImageError, match=r"256×25,600,000 \(about 24\.5 GB\)"):
        IMAGENET_PREPROCESSING.to_tensor(load_image(path))


def test_peak_memory_stays_under_1_gb_for_every_file(tmp_path: Path) -> None:
    """Peak RSS of a fresh process per file (VmHWM reset between files), decode and preprocessing included."""
    paths = list(write_corpus(tmp_path).values()) + [PHOTOS / "astronaut-collins.png"]
    # The largest images the limits allow still fit: an upright RGB photo at MAX_DECODE_BYTES.
    at_limit = tmp_path / "at-limit.png"
    side = int((images.MAX_DECODE_BYTES / 4) ** 0.5) - 8
    Image.new("RGB", (side, side), (90, 120, 200)).save(at_limit, compress_level=1)
    paths.append(at_limit)
    # And the largest resize they allow: a 200 px tall strip whose resize to 256 px just fits MAX_RESIZE_BYTES.
    at_resize_limit = tmp_path / "at-resize-limit.png"
    width = images.MAX_RESIZE_BYTES // (4 * (256 + 328)) - 64
    images.IMAGENET_PREPROCESSING.check_size(width, 200)  # allowed, so the peak below includes the resize
    Image.new("RGB", (width, 200), (200, 120, 90)).save(at_resize_limit, compress_level=1)
    paths.append(at_resize_limit)
    script = textwrap.dedent(
        """
        import json, sys
        from pathlib import Path
        from explorer.core.errors import ExplorerError
        from explorer.core.images import IMAGENET_PREPROCESSING, load_image

        def status(key):
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith(key):
                    return int(line.split()[1]) * 1024

        IMAGENET_PREPROCESSING.to_tensor(load_image(sys.argv[1]))  # imports and warm-up done before measuring
        report = {}
        for name in sys.argv[2:]:
            Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
            before = status("VmRSS:")
            try:
                IMAGENET_PREPROCESSING.to_tensor(load_image(name))
                outcome = "ok"
            except ExplorerError as error:
                outcome = "refused"
            report[name] = [before, status("VmHWM:"), outcome]
        print(json.dumps(report))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(PHOTOS / "cat-chelsea.png"), *map(str, paths)],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    # What a file may add is bounded by the two limits (a decode, then a resize); the whole process,
    # torch's CUDA build (about 0.7 GB resident) included, stays under 1 GB.
    budget = images.MAX_DECODE_BYTES + images.MAX_RESIZE_BYTES
    for name, (before, peak, outcome) in report.items():
        label = f"{Path(name).name}: peak RSS {peak / 2**20:.0f} MB, {before / 2**20:.0f} MB before it ({outcome})"
        assert peak < GIB, label
        assert peak - before < budget, label
    assert report[str(at_limit)][2] == "ok"  # the limit refuses bombs, not big photos
    assert report[str(PHOTOS / "astronaut-collins.png")][2] == "ok"


def test_one_bad_file_never_costs_the_batch(tmp_path: Path) -> None:
    paths = write_corpus(tmp_path)
    batch = [PHOTOS / "cat-chelsea.png", *paths.values(), PHOTOS / "espresso-coffee.png"]
    results = ModelRunner("cpu").classify_all("efficientnet_lite0", batch, top_k=3, batch_size=4)
    assert [r.image for r in results] == [str(p) for p in batch]
    assert results[0].error is None and "cat" in results[0].predictions[0].label
    assert results[-1].error is None and results[-1].predictions[0].label == "espresso"
    assert all(r.error and not r.predictions for r in results[1:-1])


def test_a_memory_error_is_that_files_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    real = images.Preprocessing.to_tensor

    def starved(self: images.Preprocessing, image: Image.Image) -> object:
        if image.width == 640:  # the rocket photo only
            raise MemoryError
        return real(self, image)

    monkeypatch.setattr(images.Preprocessing, "to_tensor", starved)
    batch = [PHOTOS / "rocket-falcon9.jpg", PHOTOS / "cat-chelsea.png"]
    first, second = ModelRunner("cpu").classify_all("efficientnet_lite0", batch, top_k=1)
    assert first.error == "not enough memory to preprocess it."
    assert second.error is None and second.predictions


def test_a_fifo_and_a_device_are_refused_without_reading(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    with pytest.raises(ImageError, match="not a regular file"):
        load_image(fifo)  # would block for ever if it were opened
    with pytest.raises(ImageError, match="not a regular file"):
        load_image("/dev/zero")


def test_an_empty_folder_among_the_inputs_keeps_its_entry(tmp_path: Path) -> None:
    empty = tmp_path / "nothing-here"
    empty.mkdir()
    files = image_files([PHOTOS / "cat-chelsea.png", empty])
    assert files == [PHOTOS / "cat-chelsea.png", empty]
    with pytest.raises(ImageError, match="holds no image files"):
        load_image(empty)


def test_huge_jpegs_are_decoded_at_a_reduced_scale(monkeypatch: pytest.MonkeyPatch) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (1000, 800), (200, 30, 30)).save(buffer, "JPEG")
    monkeypatch.setattr(images, "MAX_DECODE_BYTES", 1_000_000)  # full size would take 3.2 MB
    image = load_image(buffer.getvalue())
    assert image.size == (500, 400)  # the JPEG decoder's own 1/2 scale
    assert image.getpixel((250, 200))[0] > 180


def test_finite_float_images_are_still_rescaled() -> None:
    values = np.linspace(0, 1, 64 * 64, dtype=np.float32).reshape(64, 64)
    buffer = io.BytesIO()
    Image.fromarray(values, "F").save(buffer, "TIFF")
    image = load_image(buffer.getvalue())
    row = np.asarray(image)[:, :, 0].ravel()
    assert row.min() == 0 and row.max() == 255


def test_every_corpus_file_is_under_1_mb() -> None:
    assert all(len(data) < 1_000_000 for data in corpus().values())


def test_cli_classify_on_the_corpus_prints_only_its_own_lines(tmp_path: Path) -> None:
    paths = write_corpus(tmp_path)
    good = [PHOTOS / "cat-chelsea.png", PHOTOS / "espresso-coffee.png"]
    result = subprocess.run(
        [sys.executable, "-m", "explorer", "classify", str(good[0]), *map(str, paths.values()), str(good[1]), "--json", "--top", "1"],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 1  # some files had errors
    assert "Traceback" not in result.stderr and "Warning" not in result.stderr, result.stderr
    assert all(line.startswith("cnn-explorer: ") for line in result.stderr.splitlines()), result.stderr
    entries = json.loads(result.stdout, parse_constant=lambda name: pytest.fail(f"bare {name} in the JSON"))
    assert len(entries) == len(paths) + 2
    assert entries[0]["predictions"] and entries[-1]["predictions"]
    assert all("error" in entry and "\n" not in entry["error"] for entry in entries[1:-1])
