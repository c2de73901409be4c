"""Camera messages straight from their serialized CDR bytes (what ``create_subscription(...,
raw=True)`` delivers), the pixel data a zero-copy numpy view into those bytes.

Why: a typed rclpy subscription copies a frame three times before the callback (DDS buffer -> C
struct -> Python bytes -> array.array; a fixed ``uint8[6220800]`` HbmMsg1080P is a fresh 6.2 MB
numpy array whatever its ``data_size``). The raw path copies once (into the ``bytes``) and the
four camera messages are simple enough to read with a few ``struct.unpack_from`` calls.

The wire format (OMG XCDR1, as ROS 2 rmw implementations write it): a 4-byte encapsulation header
(``00 01`` little endian, ``00 00`` big endian, then two option bytes), then the fields in order,
each primitive aligned to its own size relative to the end of that header; ``string`` = uint32
length including the NUL, the bytes, the NUL; ``T[]`` = uint32 count, then the elements;
``T[N]`` = the N elements only.

Every length is checked against the buffer before it is used: a truncated or lying message raises
``rdk_classifier.errors.SerializedMessageError`` (a ``FrameError``: the frame is skipped), never
reads out of range. Bytes after the last field (rmw padding) are allowed.

Nothing here imports ROS. The returned objects carry the field names of the typed messages
(``header.stamp.sec``, ``width``, ``encoding``, ``data`` ...), so ``messages.prepare_message``
takes them like rclpy or rosbags messages.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Union

import numpy as np

from ..errors import SerializedMessageError

SerializedBuffer = Union[bytes, bytearray, memoryview]

#: CDR encapsulation identifiers (first two bytes) this module reads -> struct byte order
_ENCAPSULATIONS = {b"\x00\x01": "<", b"\x00\x00": ">"}
_ORIGIN = 4  # alignment is relative to the end of the encapsulation header

#: hbm_img_msgs image types -> length of their fixed ``uint8[N] data`` (hobot_msgs develop
#: c2a9fcc, ``MAX_SIZE`` of each .msg)
HBM_DATA_SIZES = {
    "HbmMsg1080P": 6220800,
    "HbmMsg540P": 1555200,
    "HbmMsg480P": 921600,
}
#: HbmMsg*: int32 index, Time time_stamp (int32 sec, uint32 nanosec), uint32 height, width,
#: data_size, step, uint8[12] encoding: 40 bytes, then data (no padding anywhere)
_HBM_FIXED = 40
_HBM_ENCODING_LEN = 12


@dataclass(frozen=True)
class Stamp:
    sec: int
    nanosec: int


@dataclass(frozen=True)
class Header:
    stamp: Stamp
    frame_id: str


@dataclass(frozen=True)
class Image:
    """``sensor_msgs/Image`` fields; ``data`` is a read-only view into the serialized bytes."""

    header: Header
    height: int
    width: int
    encoding: str
    is_bigendian: int
    step: int
    data: np.ndarray


@dataclass(frozen=True)
class CompressedImage:
    """``sensor_msgs/CompressedImage`` fields; ``data`` is a view into the serialized bytes."""

    header: Header
    format: str
    data: np.ndarray


@dataclass(frozen=True)
class HbmImage:
    """``hbm_img_msgs/HbmMsg*`` fields. ``encoding`` is the 12-byte field with the trailing NULs
    cut (a str); ``data`` is the whole fixed array (``data_size`` says how much is used)."""

    index: int
    time_stamp: Stamp
    height: int
    width: int
    data_size: int
    step: int
    encoding: str
    data: np.ndarray


class _Reader:
    """A cursor over one serialized message; every read is bounds-checked."""

    __slots__ = ("buf", "pos", "end", "order", "what")

    def __init__(self, buf: SerializedBuffer, what: str) -> None:
        self.what = what
        try:
            self.buf = memoryview(buf).cast("B")
        except TypeError as exc:  # not a contiguous byte buffer
            raise SerializedMessageError(f"{what}: not a byte buffer ({type(buf).__name__})") \
                from exc
        self.end = len(self.buf)
        if self.end < _ORIGIN:
            raise SerializedMessageError(f"{what}: {self.end} bytes, shorter than the 4-byte "
                                         f"CDR encapsulation header")
        order = _ENCAPSULATIONS.get(bytes(self.buf[:2]))
        if order is None:
            raise SerializedMessageError(
                f"{what}: CDR encapsulation {bytes(self.buf[:2]).hex()} is not plain CDR "
                f"(0000 big endian or 0001 little endian)")
        self.order = order
        self.pos = _ORIGIN

    def _need(self, n: int, field: str) -> None:
        if n < 0 or self.pos + n > self.end:
            raise SerializedMessageError(
                f"{self.what}: truncated at {field} (needs {n} bytes at offset {self.pos}, "
                f"message has {self.end})")

    def align(self, n: int) -> None:
        self.pos += -(self.pos - _ORIGIN) % n

    def unpack(self, fmt: str, size: int, field: str) -> tuple:
        """Fields of one primitive size (``fmt`` of ``size``-byte items), aligned once."""
        self.align(size)
        nbytes = struct.calcsize(fmt)
        self._need(nbytes, field)
        out = struct.unpack_from(self.order + fmt, self.buf, self.pos)
        self.pos += nbytes
        return out

    def uint8(self, field: str) -> int:
        self._need(1, field)
        value = self.buf[self.pos]
        self.pos += 1
        return value

    def string(self, field: str) -> str:
        (length,) = self.unpack("I", 4, field)
        if length == 0:  # not what ROS writes (an empty string is length 1, one NUL); harmless
            return ""
        self._need(length, field)
        raw = self.buf[self.pos:self.pos + length]
        self.pos += length
        if raw[-1] != 0:
            raise SerializedMessageError(f"{self.what}: {field} is not NUL-terminated "
                                         f"(length {length})")
        try:
            return bytes(raw[:-1]).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SerializedMessageError(f"{self.what}: {field} is not UTF-8: {exc}") from exc

    def bytes_view(self, count: int, field: str) -> np.ndarray:
        """``count`` uint8 elements at the cursor as a numpy view (no copy)."""
        self._need(count, field)
        view = np.frombuffer(self.buf, np.uint8, count, self.pos)
        self.pos += count
        return view

    def byte_sequence(self, field: str) -> np.ndarray:
        (count,) = self.unpack("I", 4, field + " length")
        return self.bytes_view(count, field)

    def header(self) -> Header:
        sec, nanosec = self.unpack("iI", 4, "header.stamp")
        return Header(Stamp(sec, nanosec), self.string("header.frame_id"))


def parse_image(buf: SerializedBuffer) -> Image:
    """A serialized ``sensor_msgs/msg/Image``."""
    r = _Reader(buf, "sensor_msgs/Image")
    header = r.header()
    height, width = r.unpack("II", 4, "height/width")
    encoding = r.string("encoding")
    is_bigendian = r.uint8("is_bigendian")
    (step,) = r.unpack("I", 4, "step")
    data = r.byte_sequence("data")
    return Image(header, height, width, encoding, is_bigendian, step, data)


def parse_compressed_image(buf: SerializedBuffer) -> CompressedImage:
    """A serialized ``sensor_msgs/msg/CompressedImage``."""
    r = _Reader(buf, "sensor_msgs/CompressedImage")
    header = r.header()
    fmt = r.string("format")
    return CompressedImage(header, fmt, r.byte_sequence("data"))


def parse_hbm_image(buf: SerializedBuffer, data_length: int = HBM_DATA_SIZES["HbmMsg1080P"],
                    what: str = "hbm_img_msgs/HbmMsg1080P") -> HbmImage:
    """A serialized ``hbm_img_msgs/msg/HbmMsg*`` whose ``data`` is ``uint8[data_length]``
    (``HBM_DATA_SIZES``). ``data_size`` is not checked here (``messages`` does, like for a
    typed message)."""
    r = _Reader(buf, what)
    index, sec, nanosec, height, width, data_size, step = r.unpack("iiIIIII", 4, "header fields")
    encoding = bytes(r.bytes_view(_HBM_ENCODING_LEN, "encoding")).split(b"\0", 1)[0]
    try:
        enc = encoding.decode("ascii")
    except UnicodeDecodeError as exc:
        raise SerializedMessageError(f"{what}: encoding {encoding!r} is not ASCII") from exc
    data = r.bytes_view(data_length, "data")
    return HbmImage(index, Stamp(sec, nanosec), height, width, data_size, step, enc, data)


def hbm_parser(type_name: str):
    """``parse_hbm_image`` for one HbmMsg type name (``HbmMsg1080P``, ``hbm_img_msgs/msg/...``)."""
    short = type_name.rsplit("/", 1)[-1]
    if short not in HBM_DATA_SIZES:
        raise ValueError(f"{type_name!r} is not one of {', '.join(HBM_DATA_SIZES)}")
    length, what = HBM_DATA_SIZES[short], f"hbm_img_msgs/{short}"
    return lambda buf: parse_hbm_image(buf, length, what)


__all__ = ["HBM_DATA_SIZES", "Stamp", "Header", "Image", "CompressedImage", "HbmImage",
           "parse_image", "parse_compressed_image", "parse_hbm_image", "hbm_parser"]
