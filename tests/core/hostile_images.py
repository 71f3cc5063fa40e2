"""A corpus of hostile image files, written by the tests themselves (shared by the loader, CLI and fuzz tests).

Each is small on disk and claims, or would grow into, far more than it is: aspect-ratio strips
that the resize to 256 px blows up, headers mutated to claim 89 megapixels of 16-bit or float
data, float TIFFs holding NaN and infinity.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def png(width: int, height: int, mode: str = "L") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (width, height)).save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def with_png_size(data: bytes, width: int, height: int) -> bytes:
    """The PNG with its IHDR claiming ``width``×``height`` (CRC fixed, so the header stays valid)."""
    assert data[12:16] == b"IHDR"
    ihdr = bytearray(data[16:29])
    ihdr[0:8] = struct.pack(">II", width, height)
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + bytes(ihdr)) & 0xFFFFFFFF)
    return data[:16] + bytes(ihdr) + crc + data[33:]


def tiff(values: np.ndarray, mode: str = "F") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(values, mode).save(buffer, "TIFF")
    return buffer.getvalue()


def with_tiff_size(data: bytes, width: int, height: int) -> bytes:
    """A little-endian TIFF whose first IFD claims ``width``×``height`` (tags 256 and 257 as LONG)."""
    assert data[:4] == b"II*\x00"
    out = bytearray(data)
    (offset,) = struct.unpack_from("<I", out, 4)
    (count,) = struct.unpack_from("<H", out, offset)
    for index in range(count):
        entry = offset + 2 + 12 * index
        tag, _kind, _n = struct.unpack_from("<HHI", out, entry)
        if tag in (256, 257):
            struct.pack_into("<HHII", out, entry, tag, 4, 1, width if tag == 256 else height)
    return bytes(out)


def corpus() -> dict[str, bytes]:
    """name → bytes, each one a case from the QA report (all under 1 MB)."""
    nan = np.full((64, 64), 0.5, np.float32)
    nan[10, 20] = np.nan
    inf = np.full((64, 64), 0.5, np.float32)
    inf[3, 3] = np.inf
    return {
        "strip-1x100000.png": png(1, 100_000),
        "strip-20000x1.png": png(20_000, 1),
        "strip-65535x1.png": png(65_535, 1),
        "strip-100000x1.png": png(100_000, 1),
        "float-89mp.tif": with_tiff_size(tiff(np.zeros((16, 16), np.float32)), 9459, 9459),
        "gray16-89mp.png": with_png_size(png(16, 16, "I;16"), 9459, 9459),
        "rgb-claims-2gp.png": with_png_size(png(16, 16, "RGB"), 46_000, 46_000),
        "nan.tif": tiff(nan),
        "inf.tif": tiff(inf),
        "all-nan.tif": tiff(np.full((8, 8), np.nan, np.float32)),
    }


def write_corpus(folder: Path) -> dict[str, Path]:
    paths = {}
    for name, data in corpus().items():
        path = folder / name
        path.write_bytes(data)
        assert path.stat().st_size < 1_000_000
        paths[name] = path
    return paths
