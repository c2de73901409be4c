"""Hostile encoded images of the kind issue 11 lists, made byte by byte (no external files).

- ``png_bomb``: a valid PNG of ``width x height`` whose pixels are all zero, so the file is small
  (zlib on zero rows) while a full decode costs ``width * height * 3`` bytes and more.
- ``png_header_only``: a 68-byte PNG whose IHDR claims a huge size, with a tiny IDAT.
- ``forged_jpeg``: a real small JPEG whose frame header (SOF) is rewritten to claim a huge size.
"""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return (struct.pack(">I", len(payload)) + kind + payload
            + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF))


def png(width: int, height: int, idat: bytes, bit_depth: int = 8, colour_type: int = 2) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat)
            + _chunk(b"IEND", b""))


def png_bomb(width: int, height: int, bit_depth: int = 8, colour_type: int = 2,
             level: int = 9) -> bytes:
    """A complete, valid all-black PNG, streamed through zlib one row at a time."""
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour_type]
    row = b"\x00" * (1 + (width * channels * bit_depth + 7) // 8)  # filter byte 0 + zero pixels
    z = zlib.compressobj(level)
    parts = []
    block = row * max(1, (1 << 22) // len(row))
    rows_per_block = len(block) // len(row)
    left = height
    while left > 0:
        n = min(left, rows_per_block)
        parts.append(z.compress(block if n == rows_per_block else row * n))
        left -= n
    parts.append(z.flush())
    return png(width, height, b"".join(parts), bit_depth, colour_type)


def png_header_only(width: int = 40000, height: int = 40000) -> bytes:
    """68 bytes: signature, IHDR claiming ``width x height`` RGB, a 3-byte IDAT, IEND."""
    return png(width, height, zlib.compress(b"")[:3])


def forged_jpeg(width: int = 65500, height: int = 65500) -> bytes:
    """A 64x64 baseline JPEG whose SOF0 claims ``width x height``."""
    img = np.full((64, 64, 3), 90, np.uint8)
    ok, enc = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 10])
    data = bytearray(enc.tobytes())
    sof = data.find(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)
