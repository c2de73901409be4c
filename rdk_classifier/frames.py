"""Frames to NV12 at the model's input size: the first stage of the one path.

Every input (a camera buffer with an encoding, a JPEG/PNG, an image file, a shared-memory frame)
first becomes one ``Frame`` (validated, under the pixel budget, decoded at most once), then a
rectangle of it (the whole frame is the full rectangle, a detector box a smaller one) goes through
the one ``Preprocessor.convert``, and ends here as a packed NV12 array of the model's height x
width: the full Y plane, then one interleaved UV plane (U first). The colour conversion is
OpenCV's ``COLOR_BGR2YUV_I420`` followed by U/V interleaving, which is what the RDK toolchain and
the zoo's demos use, so the CPU path sees the bytes the BPU models were calibrated on.

Resizing happens before colour conversion, on the region of the source that ends up in the output,
so a 1080p frame costs one small resize and one small colour conversion. NV12/NV21 input is
resized plane by plane and never goes through BGR.

Length: every input encoding, the three resize geometries and the image-header parsers of the pixel
budget belong to the one conversion step; split, they would be one concept in several files.
"""

from __future__ import annotations

import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import cv2
import numpy as np

from .errors import DecodeError, FrameSizeError, UnsupportedEncodingError

RESIZE_MODES = ("direct", "letterbox", "center_crop")
LETTERBOX_GRAY = 127
#: The seed's calibration transform: short side to 256, centre crop 224.
CENTER_CROP_RATIO = 224 / 256

BufferLike = Union[bytes, bytearray, memoryview, np.ndarray]

#: Pixel budget of one image or frame (width x height). 50 MP lets every camera and phone photo
#: through (48-50 MP sensors, 8K video is 33 MP) while one decode stays ~150 MB of BGR plus the
#: decoder's buffers (~0.5 GB at worst for a progressive JPEG), which an RDK X5 (4-8 GB, shared
#: with the BPU) survives. It is checked from the header, before OpenCV allocates anything; a
#: 30000x30000 PNG would otherwise cost 5 GB. 0 disables the check.
DEFAULT_MAX_PIXELS = 50_000_000
#: Most start-of-scan markers accepted in a JPEG (libjpeg decodes the image once per scan).
MAX_JPEG_SCANS = 100
#: Largest image file read from disk: an uncompressed 16-bit RGBA image of the pixel budget.
DEFAULT_MAX_FILE_BYTES = 8 * DEFAULT_MAX_PIXELS + (1 << 20)

# encoding -> (channels of the packed array, OpenCV conversion of the resized image to I420)
_PACKED = {
    "bgr8": (3, cv2.COLOR_BGR2YUV_I420),
    "rgb8": (3, cv2.COLOR_RGB2YUV_I420),
    "bgra8": (4, cv2.COLOR_BGRA2YUV_I420),
    "rgba8": (4, cv2.COLOR_RGBA2YUV_I420),
    "mono8": (1, None),
}
# packed 4:2:2 formats: converted to BGR at full size (chroma is shared by pixel pairs)
_YUV422 = {
    "yuv422_yuy2": cv2.COLOR_YUV2BGR_YUY2,
    "yuyv": cv2.COLOR_YUV2BGR_YUY2,
    "yuy2": cv2.COLOR_YUV2BGR_YUY2,
    "yuv422": cv2.COLOR_YUV2BGR_UYVY,
    "uyvy": cv2.COLOR_YUV2BGR_UYVY,
}
_SEMIPLANAR = ("nv12", "nv21")
_ALIASES = {"8uc3": "bgr8", "8uc1": "mono8", "8uc4": "bgra8"}

SUPPORTED_ENCODINGS = tuple(sorted(set(_PACKED) | set(_YUV422) | set(_SEMIPLANAR)))
#: image file suffixes the tools pick up from folders (files OpenCV's imdecode reads)
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff",
                            ".ppm", ".pgm", ".pnm"})


def _gray_yuv() -> tuple[int, int, int]:
    """Y, U, V of BGR gray 127 under the same conversion (the letterbox padding)."""
    i420 = cv2.cvtColor(np.full((2, 2, 3), LETTERBOX_GRAY, np.uint8), cv2.COLOR_BGR2YUV_I420)
    return int(i420[0, 0]), int(i420[2, 0]), int(i420[2, 1])


PAD_Y, PAD_U, PAD_V = _gray_yuv()


def normalize_encoding(encoding: str) -> str:
    """Lower-case an encoding name and map aliases; raise if unsupported."""
    enc = _ALIASES.get(encoding.strip().lower(), encoding.strip().lower())
    if enc not in SUPPORTED_ENCODINGS:
        raise UnsupportedEncodingError(
            f"unsupported encoding {encoding!r}; supported: {', '.join(SUPPORTED_ENCODINGS)}"
        )
    return enc


@dataclass(frozen=True)
class ResizePlan:
    """Which source rectangle goes to which output rectangle (x, y, width, height)."""

    src: tuple[int, int, int, int]
    dst: tuple[int, int, int, int]


def _halved(rect: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """A rectangle of the full-resolution plane on the half-resolution (UV) plane."""
    x, y, w, h = rect
    return x // 2, y // 2, w // 2, h // 2


def _round_to(v: float, multiple: int) -> int:
    return max(multiple, int(round(v / multiple)) * multiple)


def _even(v: float) -> int:
    return _round_to(v, 2)


def plan_resize(src_h: int, src_w: int, dst_h: int, dst_w: int, mode: str,
                src_align: int = 1) -> ResizePlan:
    """Geometry of a resize mode. Output offsets and sizes are even (NV12 chroma blocks line up);
    source crops are multiples of ``src_align`` (2 for an NV12 source, whose planes are cropped).

    - ``direct``: the whole source stretched to the output.
    - ``letterbox``: aspect kept, centred, the rest padded with gray 127.
    - ``center_crop``: scaled so the short side is ``1/CENTER_CROP_RATIO`` of the output's, then the
      centre cut out (done as one crop of the source followed by one resize).
    """
    if mode == "direct":
        return ResizePlan((0, 0, src_w, src_h), (0, 0, dst_w, dst_h))
    if mode == "letterbox":
        scale = min(dst_w / src_w, dst_h / src_h)
        w = min(dst_w, _even(src_w * scale))
        h = min(dst_h, _even(src_h * scale))
        x = ((dst_w - w) // 2) & ~1
        y = ((dst_h - h) // 2) & ~1
        return ResizePlan((0, 0, src_w, src_h), (x, y, w, h))
    if mode == "center_crop":
        scale = max(dst_w / src_w, dst_h / src_h) / CENTER_CROP_RATIO
        w = min(src_w, _round_to(dst_w / scale, src_align))
        h = min(src_h, _round_to(dst_h / scale, src_align))
        x = (src_w - w) // 2 // src_align * src_align
        y = (src_h - h) // 2 // src_align * src_align
        return ResizePlan((x, y, w, h), (0, 0, dst_w, dst_h))
    raise ValueError(f"unknown resize mode {mode!r}; choose one of {', '.join(RESIZE_MODES)}")


def _check_size(width: int, height: int) -> None:
    if width <= 0 or height <= 0:
        raise FrameSizeError(f"frame size {width}x{height} is empty; width and height must be > 0")


def _as_bytes_array(data: BufferLike) -> np.ndarray:
    if isinstance(data, np.ndarray):
        return data.reshape(-1).view(np.uint8)
    return np.frombuffer(data, dtype=np.uint8)


def _packed_view(buf: np.ndarray, width: int, height: int, step: int, channels: int) -> np.ndarray:
    """A (height, width, channels) view of a row-padded buffer; no copy."""
    row = width * channels
    if step < row:
        raise FrameSizeError(f"step {step} is smaller than width*channels = {row}")
    need = step * height
    if buf.size < need:
        raise FrameSizeError(
            f"buffer has {buf.size} bytes, expected step*height = {step}*{height} = {need}"
        )
    return np.ndarray((height, width, channels), np.uint8, buf, 0, (step, channels, 1))


Rect = tuple[int, int, int, int]


class Frame:
    """One picture in its own pixel domain, made once from any source, that the ``Preprocessor``
    cuts rectangles from (the whole frame is the full rectangle; a detector box is a smaller one).

    NV12/NV21 stay two plane views (``y`` (h, w) and ``uv`` (h/2, w/2, 2)), packed encodings
    (bgr8, rgb8, bgra8, rgba8, mono8) one (h, w, channels) view of the buffer, a JPEG/PNG is
    decoded once (``from_encoded``, optionally at a reduced size), packed 4:2:2 is converted to
    BGR once (its chroma is shared by pixel pairs). Validation and the pixel budget happen here,
    for every source alike; nothing is copied otherwise.
    """

    def __init__(self, width: int, height: int, encoding: str, planes: tuple[np.ndarray, ...],
                 decode_ms: float = 0.0) -> None:
        self.width = width
        self.height = height
        self.encoding = encoding   # nv12, nv21 (planes y, uv) or a packed encoding (one image)
        self.planes = planes
        #: time spent making the frame (decoding, 4:2:2 conversion): part of preprocessing
        self.decode_ms = decode_ms

    @property
    def semiplanar(self) -> bool:
        return self.encoding in _SEMIPLANAR

    @property
    def align(self) -> int:
        """Crops are rounded to multiples of this (2 on NV12: its chroma blocks)."""
        return 2 if self.semiplanar else 1

    @property
    def rect(self) -> Rect:
        """The full rectangle (x, y, width, height)."""
        return 0, 0, self.width, self.height

    @classmethod
    def from_raw(cls, data: BufferLike, width: int, height: int, encoding: str,
                 step: int | None = None, max_pixels: int = DEFAULT_MAX_PIXELS) -> "Frame":
        """A raw camera buffer (as in ``sensor_msgs/Image``). ``step`` is the row length in bytes
        (for nv12/nv21: of the Y plane, the UV rows have the same stride); ``None`` means
        unpadded rows. Over ``max_pixels`` (0: no budget): ``FrameSizeError``."""
        t0 = time.perf_counter()
        enc = normalize_encoding(encoding)
        _check_size(width, height)
        check_pixel_budget(width, height, max_pixels, f"{enc} frame")
        buf = _as_bytes_array(data)
        if enc in _SEMIPLANAR:
            step = step or width
            if width % 2 or height % 2:
                raise FrameSizeError(f"NV12/NV21 frames need even width and height, got "
                                     f"{width}x{height}")
            if step < width:
                raise FrameSizeError(f"step {step} is smaller than width {width}")
            need = step * height * 3 // 2
            if buf.size < need:
                raise FrameSizeError(
                    f"NV12 buffer has {buf.size} bytes, expected step*height*3/2 = {need}")
            y = np.ndarray((height, width), np.uint8, buf, 0, (step, 1))
            uv = np.ndarray((height // 2, width // 2, 2), np.uint8, buf, step * height,
                            (step, 2, 1))
            return cls(width, height, enc, (y, uv), (time.perf_counter() - t0) * 1e3)
        if enc in _YUV422:
            if width % 2:
                raise FrameSizeError(f"{enc} needs an even width, got {width}")
            packed = _packed_view(buf, width, height, step or width * 2, 2)
            bgr = cv2.cvtColor(np.ascontiguousarray(packed), _YUV422[enc])
            return cls(width, height, "bgr8", (bgr,), (time.perf_counter() - t0) * 1e3)
        channels = _PACKED[enc][0]
        image = _packed_view(buf, width, height, step or width * channels, channels)
        return cls(width, height, enc, (image,), (time.perf_counter() - t0) * 1e3)

    @classmethod
    def from_encoded(cls, data: BufferLike, reduction: int = 1,
                     max_pixels: int | None = None) -> "Frame":
        """JPEG/PNG/... bytes, decoded once (``decode_image``: header read first, the pixel
        budget checked before OpenCV allocates); ``reduction`` 2, 4, 8 decodes a JPEG at that
        fraction of its size (whole-frame classification only: boxes need full-size pixels)."""
        t0 = time.perf_counter()
        frame = cls.from_image(decode_image(data, reduction, max_pixels=max_pixels))
        frame.decode_ms = (time.perf_counter() - t0) * 1e3
        return frame

    @classmethod
    def from_image(cls, image: np.ndarray) -> "Frame":
        """A decoded uint8 image: BGR (h, w, 3), BGRA (h, w, 4) or gray (h, w) / (h, w, 1)."""
        if image.dtype != np.uint8:
            raise FrameSizeError(f"image dtype {image.dtype} is not uint8")
        if image.ndim == 2:
            image = image[:, :, None]
        if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
            raise FrameSizeError(f"image shape {image.shape} is not HxW, HxWx3 or HxWx4")
        h, w = image.shape[:2]
        _check_size(w, h)
        return cls(w, h, {1: "mono8", 3: "bgr8", 4: "bgra8"}[image.shape[2]], (image,))

    def crop(self, rect: Rect | None = None) -> tuple[np.ndarray, ...]:
        """Views of the planes inside ``rect`` (None: the whole frame); no pixel is copied.
        On NV12 ``rect`` must be even (``regions.crop_rect`` with ``align``)."""
        if rect is None:
            return self.planes
        x, y, w, h = rect
        if self.semiplanar:
            y_plane, uv = self.planes
            return (y_plane[y:y + h, x:x + w], uv[y // 2:(y + h) // 2, x // 2:(x + w) // 2])
        return (self.planes[0][y:y + h, x:x + w],)


class Preprocessor:
    """Turns any supported frame into packed NV12 of the model's size: a ``Frame`` (or any
    source through the ``from_*`` shortcuts), a rectangle of it, then the one resize and colour
    conversion.

    One instance per model input (size, resize mode); cheap to build, no per-frame state,
    so one instance may be shared by threads.
    """

    def __init__(self, height: int, width: int, mode: str = "letterbox",
                 interpolation: int = cv2.INTER_LINEAR, reduced_decode: bool = True,
                 max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
        if height <= 0 or width <= 0 or height % 2 or width % 2:
            raise FrameSizeError(f"model input {width}x{height} must be positive and even for NV12")
        if mode not in RESIZE_MODES:
            raise ValueError(f"unknown resize mode {mode!r}; choose one of {', '.join(RESIZE_MODES)}")
        self.height = height
        self.width = width
        self.mode = mode
        self.interpolation = interpolation
        #: decode large JPEGs at 1/2, 1/4 or 1/8 size when that still leaves enough pixels
        self.reduced_decode = reduced_decode
        #: pixel budget of an input image or frame (see DEFAULT_MAX_PIXELS); 0 = none
        self.max_pixels = max_pixels

    @property
    def nv12_size(self) -> int:
        return self.height * self.width * 3 // 2

    # --- geometry ----------------------------------------------------------------------------
    def _resize_into(self, image: np.ndarray, pad: tuple[int, ...] | int,
                     out_h: int, out_w: int, plan: ResizePlan,
                     dst: np.ndarray | None = None) -> np.ndarray:
        """Resize the plan's source rectangle into an ``out_h x out_w`` image padded with ``pad``;
        written into ``dst`` (a contiguous array of exactly that shape) when given."""
        sx, sy, sw, sh = plan.src
        dx, dy, dw, dh = plan.dst
        roi = image[sy:sy + sh, sx:sx + sw]
        if (dw, dh) == (out_w, out_h):
            return cv2.resize(roi, (dw, dh), dst=dst, interpolation=self.interpolation)
        resized = cv2.resize(roi, (dw, dh), interpolation=self.interpolation)
        value = pad if isinstance(pad, tuple) else (pad,)
        # one pass that copies the picture and fills the border (a numpy canvas filled from a
        # tuple costs ~0.25 ms for 224x224x3)
        return cv2.copyMakeBorder(resized, dy, out_h - dy - dh, dx, out_w - dx - dw,
                                  cv2.BORDER_CONSTANT, dst=dst, value=value)

    def resize_bgr(self, image: np.ndarray) -> np.ndarray:
        """Resize an 8-bit image (any channel count) to the model size with the resize mode."""
        h, w = image.shape[:2]
        _check_size(w, h)
        plan = plan_resize(h, w, self.height, self.width, self.mode)
        channels = image.shape[2] if image.ndim == 3 else 1
        return self._resize_into(image, (LETTERBOX_GRAY,) * channels if channels > 1 else LETTERBOX_GRAY,
                                 self.height, self.width, plan)

    # --- the one conversion --------------------------------------------------------------------
    def convert(self, frame: Frame, rect: Rect | None = None) -> np.ndarray:
        """The rectangle ``rect`` of ``frame`` (None: all of it) -> NV12 at the model's size."""
        views = frame.crop(rect)
        if frame.semiplanar:
            return self._planes_to_nv12(views[0], views[1], swap_uv=frame.encoding == "nv21")
        return self._packed_to_nv12(views[0], frame.encoding)

    # --- shortcuts: a source -> Frame -> convert -------------------------------------------------
    def from_bgr(self, image: np.ndarray) -> np.ndarray:
        """BGR (or BGRA, or gray) uint8 image -> NV12."""
        return self.convert(Frame.from_image(image))

    def from_encoded(self, data: BufferLike) -> np.ndarray:
        """JPEG / PNG (anything OpenCV decodes) bytes -> NV12 (``decode_frame``)."""
        return self.convert(self.decode_frame(data))

    def decode_frame(self, data: BufferLike) -> Frame:
        """Encoded bytes as a ``Frame`` for whole-frame classification, under this
        preprocessor's pixel budget. A JPEG much larger than the model input is decoded at a
        reduced size (libjpeg's DCT scaling, see ``jpeg_reduction``): a 1080p JPEG decodes about
        2x faster, and the NV12 stays within about one grey level (mean absolute difference) of
        full decode + resize."""
        return Frame.from_encoded(data, self.jpeg_reduction(data) if self.reduced_decode else 1,
                                  max_pixels=self.max_pixels)

    def jpeg_reduction(self, data: BufferLike) -> int:
        """The decode reduction (1, 2, 4 or 8) for this JPEG and this model input: the largest
        that still leaves at least ``REDUCED_DECODE_MARGIN`` source pixels per output pixel in
        the region the resize mode uses, for either orientation (EXIF may rotate by 90 degrees).
        1 for anything that is not a JPEG with a readable frame header."""
        size = jpeg_size(data)
        if size is None:
            return 1
        w, h = size
        if w <= 0 or h <= 0:
            return 1
        ratio = float("inf")
        for sw, sh in ((w, h), (h, w)):
            plan = plan_resize(sh, sw, self.height, self.width, self.mode)
            ratio = min(ratio, plan.src[2] / plan.dst[2], plan.src[3] / plan.dst[3])
        factor = 1
        for f in _JPEG_REDUCTIONS:
            if ratio >= REDUCED_DECODE_MARGIN * f:
                factor = f
        return factor

    def from_raw(self, data: BufferLike, width: int, height: int, encoding: str,
                 step: int | None = None) -> np.ndarray:
        """A raw camera buffer (as in ``sensor_msgs/Image``) -> NV12 (``Frame.from_raw`` under
        this preprocessor's pixel budget)."""
        return self.convert(Frame.from_raw(data, width, height, encoding, step, self.max_pixels))

    # --- conversions ---------------------------------------------------------------------------
    def _packed_to_nv12(self, image: np.ndarray, enc: str) -> np.ndarray:
        h, w = image.shape[:2]
        _check_size(w, h)
        channels, code = _PACKED[enc]
        plan = plan_resize(h, w, self.height, self.width, self.mode)
        small = self._resize_into(image if channels > 1 else image[:, :, 0],
                                  (LETTERBOX_GRAY,) * channels if channels > 1 else LETTERBOX_GRAY,
                                  self.height, self.width, plan)
        if code is None:  # mono: gray -> BGR is exact, then the common conversion
            small = cv2.cvtColor(small, cv2.COLOR_GRAY2BGR)
            code = cv2.COLOR_BGR2YUV_I420
        return i420_to_nv12(cv2.cvtColor(np.ascontiguousarray(small), code), self.height, self.width)

    def _planes_to_nv12(self, y: np.ndarray, uv: np.ndarray, swap_uv: bool = False) -> np.ndarray:
        """NV12 (or NV21 with ``swap_uv``) plane views -> NV12: a ``(h, w)`` Y view and an
        ``(h/2, w/2, 2)`` UV view, any strides; resized plane by plane, never through BGR."""
        height, width = y.shape
        if width % 2 or height % 2 or uv.shape != (height // 2, width // 2, 2):
            raise FrameSizeError(f"NV12 planes {y.shape} / {uv.shape} do not fit together "
                                 f"(even width and height needed)")
        plan = plan_resize(height, width, self.height, self.width, self.mode, src_align=2)
        half = ResizePlan(_halved(plan.src), _halved(plan.dst))
        area = self.height * self.width
        out = np.empty(self.nv12_size, np.uint8)
        # both planes are resized straight into the output buffer (no intermediate copies)
        out_y = out[:area].reshape(self.height, self.width)
        out_uv = out[area:].reshape(self.height // 2, self.width // 2, 2)
        got = self._resize_into(y, PAD_Y, self.height, self.width, plan, dst=out_y)
        if got is not out_y:  # pragma: no cover - OpenCV reallocated: copy instead
            out_y[...] = got
        got = self._resize_into(uv, (PAD_U, PAD_V), self.height // 2, self.width // 2, half,
                                dst=out_uv)
        if got is not out_uv:  # pragma: no cover
            out_uv[...] = got
        if swap_uv:  # NV21: V first; swapped on the small output (numpy buffers the overlap)
            out_uv[...] = out_uv[:, :, ::-1]
        return out


def i420_to_nv12(i420: np.ndarray, height: int, width: int) -> np.ndarray:
    """Planar I420 (Y, U plane, V plane) -> packed NV12 (Y, interleaved UV)."""
    flat = i420.reshape(-1)
    area = height * width
    quarter = area // 4
    out = np.empty(area * 3 // 2, np.uint8)
    out[:area] = flat[:area]
    uv = out[area:].reshape(quarter, 2)
    uv[:, 0] = flat[area:area + quarter]
    uv[:, 1] = flat[area + quarter:area + 2 * quarter]
    return out


def bgr_to_nv12(bgr: np.ndarray) -> np.ndarray:
    """Full-size NV12 of a BGR picture, no resize (what an NV12 camera would deliver)."""
    h, w = bgr.shape[:2]
    return i420_to_nv12(cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420), h, w)


def nv12_to_bgr(nv12: np.ndarray, height: int, width: int) -> np.ndarray:
    """Packed NV12 -> BGR (OpenCV's inverse of the conversion above)."""
    return cv2.cvtColor(nv12.reshape(height * 3 // 2, width), cv2.COLOR_YUV2BGR_NV12)


def nv12_to_rgb(nv12: np.ndarray, height: int, width: int) -> np.ndarray:
    """Packed NV12 -> RGB, the colour conversion the CPU backend applies before normalizing."""
    return cv2.cvtColor(nv12.reshape(height * 3 // 2, width), cv2.COLOR_YUV2RGB_NV12)


#: reduced JPEG decoding keeps at least this many source pixels per output pixel (per axis)
REDUCED_DECODE_MARGIN = 2.0
_JPEG_REDUCTIONS = (2, 4, 8)
_IMREAD_REDUCED = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2,
                   4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}
# start-of-frame markers: C0..CF except DHT (C4), JPG (C8), DAC (CC)
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def jpeg_size(data: BufferLike) -> tuple[int, int] | None:
    """(width, height) from a JPEG's frame header (before any EXIF rotation), without decoding;
    None when the data is not a JPEG or the header cannot be found."""
    buf = _as_bytes_array(data).data  # = memoryview(array), typed as one on Python < 3.12
    n = len(buf)
    if n < 4 or buf[0] != 0xFF or buf[1] != 0xD8:
        return None
    i = 2
    while i + 4 <= n:
        if buf[i] != 0xFF:
            return None
        marker = buf[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            i += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image / start of scan before any frame header
            return None
        length = (buf[i + 2] << 8) | buf[i + 3]
        if marker in _JPEG_SOF:
            if i + 9 > n:
                return None
            return (buf[i + 7] << 8) | buf[i + 8], (buf[i + 5] << 8) | buf[i + 6]
        i += 2 + length
    return None


def _u16be(b, i: int) -> int:
    return (b[i] << 8) | b[i + 1]


def _u32(b, i: int, little: bool) -> int:
    v = bytes(b[i:i + 4])
    return int.from_bytes(v, "little" if little else "big")


def _png_size(buf) -> tuple[int, int] | None:
    # 8-byte signature, then the IHDR chunk: length (13), b"IHDR", width, height (big endian)
    if len(buf) < 24 or bytes(buf[12:16]) != b"IHDR":
        return None
    return _u32(buf, 16, False), _u32(buf, 20, False)


def _bmp_size(buf) -> tuple[int, int] | None:
    if len(buf) < 26:
        return None
    dib = _u32(buf, 14, True)
    if dib == 12:  # OS/2 BITMAPCOREHEADER: 16-bit width, height
        return buf[18] | (buf[19] << 8), buf[20] | (buf[21] << 8)
    w = int.from_bytes(bytes(buf[18:22]), "little", signed=True)
    h = int.from_bytes(bytes(buf[22:26]), "little", signed=True)
    return abs(w), abs(h)  # a negative height means top-down rows


def _pnm_size(buf) -> tuple[int, int] | None:
    # "P1".."P6", then width and height as ASCII decimals between white space and # comments
    head = bytes(buf[2:4096])
    fields: list[int] = []
    i = 0
    while len(fields) < 2 and i < len(head):
        c = head[i:i + 1]
        if c == b"#":
            nl = head.find(b"\n", i)
            if nl < 0:
                return None
            i = nl + 1
        elif c in b" \t\r\n\v\f":
            i += 1
        elif c.isdigit():
            j = i
            while j < len(head) and head[j:j + 1].isdigit():
                j += 1
            if j - i > 9:
                return (1 << 31), (1 << 31)  # absurd: over any budget
            fields.append(int(head[i:j]))
            i = j
        else:
            return None
    return (fields[0], fields[1]) if len(fields) == 2 else None


def _webp_size(buf) -> tuple[int, int] | None:
    if len(buf) < 30:
        return None
    chunk = bytes(buf[12:16])
    if chunk == b"VP8 ":  # lossy: 3-byte frame tag, start code 9d 01 2a, 14-bit sizes
        if bytes(buf[23:26]) != b"\x9d\x01\x2a":
            return None
        return (buf[26] | (buf[27] << 8)) & 0x3FFF, (buf[28] | (buf[29] << 8)) & 0x3FFF
    if chunk == b"VP8L":  # lossless: signature 0x2f, then 14 bits width-1, 14 bits height-1
        if buf[20] != 0x2F:
            return None
        bits = int.from_bytes(bytes(buf[21:25]), "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":  # extended: 24-bit canvas width-1 and height-1
        return (int.from_bytes(bytes(buf[24:27]), "little") + 1,
                int.from_bytes(bytes(buf[27:30]), "little") + 1)
    return None


def _tiff_size(buf) -> tuple[int, int] | None:
    """ImageWidth (256) and ImageLength (257) of the first IFD (the page imdecode reads)."""
    little = bytes(buf[:2]) == b"II"
    n = len(buf)
    if n < 8:
        return None
    ifd = _u32(buf, 4, little)
    if ifd + 2 > n:
        return None
    count = buf[ifd] | (buf[ifd + 1] << 8) if little else _u16be(buf, ifd)
    found: dict[int, int] = {}
    for k in range(min(count, 4096)):
        e = ifd + 2 + 12 * k
        if e + 12 > n:
            break
        tag = buf[e] | (buf[e + 1] << 8) if little else _u16be(buf, e)
        kind = buf[e + 2] | (buf[e + 3] << 8) if little else _u16be(buf, e + 2)
        if tag in (256, 257):
            if kind == 3:  # SHORT, left-justified in the 4-byte value field
                found[tag] = buf[e + 8] | (buf[e + 9] << 8) if little else _u16be(buf, e + 8)
            elif kind == 4:  # LONG
                found[tag] = _u32(buf, e + 8, little)
            else:
                return None
    if 256 in found and 257 in found:
        return found[256], found[257]
    return None


def _jpeg_header_size(buf) -> tuple[int, int] | None:
    return jpeg_size(buf)


# magic bytes -> (format name, header parser); anything else is refused before OpenCV sees it
_FORMATS = (
    (b"\xff\xd8", "JPEG", _jpeg_header_size),
    (b"\x89PNG\r\n\x1a\n", "PNG", _png_size),
    (b"BM", "BMP", _bmp_size),
    (b"II*\x00", "TIFF", _tiff_size),
    (b"MM\x00*", "TIFF", _tiff_size),
    (b"P1", "PBM", _pnm_size), (b"P2", "PGM", _pnm_size), (b"P3", "PPM", _pnm_size),
    (b"P4", "PBM", _pnm_size), (b"P5", "PGM", _pnm_size), (b"P6", "PPM", _pnm_size),
)
ACCEPTED_FORMATS = ("JPEG", "PNG", "BMP", "WebP", "TIFF", "PBM/PGM/PPM")


def image_header(data: BufferLike) -> tuple[str, int, int]:
    """(format, width, height) read from an encoded image's header, without decoding.

    Only formats whose header this module can read are accepted (``ACCEPTED_FORMATS``), so the
    pixel budget is known before OpenCV allocates anything. DecodeError otherwise.
    """
    buf = _as_bytes_array(data).data  # = memoryview(array), typed as one on Python < 3.12
    head = bytes(buf[:16])
    for magic, name, parse in _FORMATS:  # noqa: B007 (name, parse used after the break)
        if head.startswith(magic):
            break
    else:
        if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
            name, parse = "WebP", _webp_size
        else:
            raise DecodeError(f"not an accepted image format (first bytes {head[:8].hex()}); "
                              f"accepted: {', '.join(ACCEPTED_FORMATS)}")
    size = parse(buf)
    if size is None:
        raise DecodeError(f"{name} header is truncated or malformed ({len(buf)} bytes)")
    w, h = size
    if w <= 0 or h <= 0:
        raise DecodeError(f"{name} header says {w}x{h} pixels; width and height must be > 0")
    return name, w, h


def check_pixel_budget(width: int, height: int, max_pixels: int, what: str = "image") -> None:
    """FrameSizeError when ``width * height`` exceeds the budget (checked before allocating)."""
    if max_pixels and width * height > max_pixels:
        raise FrameSizeError(
            f"{what} of {width}x{height} = {width * height / 1e6:.1f} MP is over the pixel budget "
            f"of {max_pixels / 1e6:.1f} MP (max_pixels); downscale it, or raise the budget")


def decode_image(data: BufferLike, reduction: int = 1,
                 max_pixels: int | None = None) -> np.ndarray:
    """Decode JPEG/PNG/... bytes to a BGR uint8 image; typed error on empty or corrupt data.

    The header is read first (``image_header``): an unknown format is refused, and an image over
    ``max_pixels`` (default ``DEFAULT_MAX_PIXELS``; 0 = no budget) raises DecodeError before
    OpenCV allocates its buffer. Any OpenCV exception becomes DecodeError.

    ``reduction`` 2, 4 or 8 decodes a JPEG at that fraction of its size (libjpeg DCT scaling,
    much faster than a full decode; other formats are decoded fully and then shrunk by OpenCV).
    """
    buf = _as_bytes_array(data)
    if buf.size == 0:
        raise DecodeError("compressed image is empty (0 bytes)")
    if reduction not in _IMREAD_REDUCED:
        raise ValueError(f"reduction must be one of {sorted(_IMREAD_REDUCED)}, got {reduction!r}")
    name, w, h = image_header(buf)
    try:
        check_pixel_budget(w, h, DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels,
                           f"{name} image")
    except FrameSizeError as exc:
        raise DecodeError(str(exc)) from None
    if name == "JPEG":
        # a progressive JPEG re-walks the whole image per scan: thousands of tiny scans make a
        # small file cost seconds of CPU. Entropy-coded data stuffs every 0xFF as FF 00, so this
        # counts start-of-scan markers (or more), never fewer. Counted in place: the bytes after
        # each 0xFF (no copy of the file; 0.25x the time of bytes.count on a copy, measured)
        after_ff = np.flatnonzero(buf[:-1] == 0xFF) + 1
        scans = int(np.count_nonzero(buf[after_ff] == 0xDA))
        if scans > MAX_JPEG_SCANS:
            raise DecodeError(f"JPEG has {scans} scans, over the limit of {MAX_JPEG_SCANS} "
                              f"(a normal progressive JPEG has about 10)")
    try:
        image = cv2.imdecode(buf, _IMREAD_REDUCED[reduction])
    except cv2.error as exc:  # e.g. a header OpenCV refuses (its own size limits)
        first = str(exc).strip().splitlines()[-1] if str(exc).strip() else "OpenCV error"
        raise DecodeError(f"could not decode a {buf.size}-byte {name} image: {first}") from None
    if image is None:
        raise DecodeError(f"could not decode a {buf.size}-byte {name} image (corrupt or truncated)")
    return image


def read_image_file(path: Union[str, Path], max_bytes: int | None = None) -> bytes:
    """The bytes of an image file: only a regular file (a FIFO or device would block or never
    end), at most ``max_bytes`` (default ``DEFAULT_MAX_FILE_BYTES``). FileNotFoundError if missing,
    DecodeError if not a regular file or too large."""
    p = Path(path)
    limit = DEFAULT_MAX_FILE_BYTES if max_bytes is None else max_bytes
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise FileNotFoundError(f"no such image file: {p}") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise DecodeError(f"{p} is not a regular file")
    with os.fdopen(fd, "rb") as f:
        if st.st_size > limit:
            raise DecodeError(f"{p} is {st.st_size} bytes, over the image file limit of "
                              f"{limit} bytes")
        data = f.read(limit + 1)
    if len(data) > limit:
        raise DecodeError(f"{p} grew over the image file limit of {limit} bytes while read")
    return data


def load_image(path: Union[str, Path], max_pixels: int | None = None) -> np.ndarray:
    """Read an image file as BGR uint8. FileNotFoundError if missing, DecodeError if unreadable."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"no such image file: {p}")
    try:
        return decode_image(read_image_file(p), max_pixels=max_pixels)
    except DecodeError as exc:
        raise DecodeError(f"{p}: {exc}") from None


def resize_bgr(bgr: np.ndarray, size: tuple[int, int], mode: str) -> np.ndarray:
    """Resize a BGR image to ``size`` = (height, width) with a resize mode (the path's geometry)."""
    return Preprocessor(size[0], size[1], mode).resize_bgr(bgr)
