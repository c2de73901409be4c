"""Reduced-size JPEG decoding (frames.jpeg_size / Preprocessor.jpeg_reduction) and the letterbox
fast path: faster, and still the picture full decoding + resizing gives."""

from __future__ import annotations

import struct

import cv2
import numpy as np
import pytest
from conftest import imagenet_samples

from rdk_classifier.frames import (PAD_U, PAD_V, PAD_Y, Preprocessor, decode_image, jpeg_size,
                                   plan_resize)

H, W = 224, 224


def jpeg(image: np.ndarray, quality: int = 90, progressive: bool = False) -> bytes:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality,
                                            cv2.IMWRITE_JPEG_PROGRESSIVE, int(progressive)])
    assert ok
    return data.tobytes()


def with_exif_orientation(data: bytes, orientation: int) -> bytes:
    """Insert an EXIF APP1 segment holding only the Orientation tag after SOI."""
    tiff = (b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1)
            + struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack("<I", 0))
    payload = b"Exif\x00\x00" + tiff
    return data[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + data[2:]


@pytest.fixture(scope="module")
def photo1080(coffee) -> np.ndarray:
    """A real photo at camera size (the 600x400 coffee picture scaled up to 1920x1080)."""
    return cv2.resize(coffee, (1920, 1080), interpolation=cv2.INTER_CUBIC)


def full_path(prep: Preprocessor, data: bytes) -> np.ndarray:
    """Full-size decode, then the same preprocessing: what from_encoded did before."""
    return prep.from_bgr(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR))


# --- header parsing --------------------------------------------------------------------------------
def test_jpeg_size_reads_the_frame_header(coffee, photo1080):
    assert jpeg_size(jpeg(coffee)) == (600, 400)
    assert jpeg_size(jpeg(photo1080, progressive=True)) == (1920, 1080)
    gray = cv2.cvtColor(coffee, cv2.COLOR_BGR2GRAY)
    assert jpeg_size(jpeg(gray)) == (600, 400)
    # an EXIF segment before the frame header is skipped; the size is the stored (unrotated) one
    assert jpeg_size(with_exif_orientation(jpeg(coffee), 6)) == (600, 400)
    assert jpeg_size(np.frombuffer(jpeg(coffee), np.uint8)) == (600, 400)


@pytest.mark.parametrize("data", [b"", b"\xff\xd8", b"\x89PNG\r\n\x1a\n" + b"\0" * 40,
                                  b"\xff\xd8\xff\xe0\x00\x10JFIF", b"\xff\xd8\x00\x00\x00\x00",
                                  b"\xff\xd8\xff\xda\x00\x08" + b"\0" * 8])
def test_jpeg_size_is_none_for_other_or_broken_data(data):
    assert jpeg_size(data) is None


# --- choice of reduction -----------------------------------------------------------------------------
@pytest.mark.parametrize("mode,size,expected", [
    ("center_crop", (1920, 1080), 2),   # centre 945x945 -> 224: 4.2 source pixels per output pixel
    ("direct", (1920, 1080), 2),
    ("letterbox", (1920, 1080), 4),     # 1920 -> 224 wide: 8.6 per output pixel
    ("letterbox", (3840, 2160), 8),
    ("center_crop", (640, 480), 1),     # 420 -> 224: not twice the output, no reduction
    ("letterbox", (500, 375), 1),       # ImageNet-sized pictures decode in full
])
def test_reduction_keeps_at_least_twice_the_output_resolution(mode, size, expected):
    w, h = size
    data = jpeg(np.zeros((h, w, 3), np.uint8))
    prep = Preprocessor(H, W, mode)
    factor = prep.jpeg_reduction(data)
    assert factor == expected
    def enough(f: int) -> bool:  # in either orientation (EXIF may rotate)
        plans = [plan_resize(sh, sw, H, W, mode) for sw, sh in ((w, h), (h, w))]
        return all(p.src[2] / f >= 2 * p.dst[2] and p.src[3] / f >= 2 * p.dst[3] for p in plans)

    assert factor == 1 or enough(factor)
    assert factor == 8 or not enough(factor * 2)


def test_no_reduction_for_png_or_when_disabled(photo1080):
    ok, png = cv2.imencode(".png", photo1080)
    assert Preprocessor(H, W, "letterbox").jpeg_reduction(png.tobytes()) == 1
    data = jpeg(photo1080)
    plain = Preprocessor(H, W, "letterbox", reduced_decode=False)
    np.testing.assert_array_equal(plain.from_encoded(data), full_path(plain, data))


def test_the_committed_imagenet_set_is_decoded_in_full(classifier):
    """The default model's evaluation numbers on the test set are those of full decoding."""
    for path, _ in imagenet_samples():
        assert classifier.preprocessor.jpeg_reduction(path.read_bytes()) == 1


# --- the result stays the full-decode picture -----------------------------------------------------
@pytest.mark.parametrize("mode", ["center_crop", "letterbox", "direct"])
def test_reduced_decode_is_close_to_full_decode(photo1080, mode):
    data = jpeg(photo1080)
    prep = Preprocessor(H, W, mode)
    assert prep.jpeg_reduction(data) > 1
    fast, full = prep.from_encoded(data), full_path(prep, data)
    assert fast.shape == full.shape
    diff = np.abs(fast.astype(int) - full.astype(int))
    # about one grey level on average: the crop lands within a pixel, and the reduced decode
    # averages where INTER_LINEAR from full size samples (less aliasing, not more)
    assert diff.mean() < 1.5, diff.mean()
    assert np.percentile(diff, 99) <= 16


def test_reduced_decode_follows_exif_rotation(photo1080):
    data = with_exif_orientation(jpeg(photo1080), 6)  # rotate 90 degrees clockwise on decode
    prep = Preprocessor(H, W, "letterbox")
    assert prep.jpeg_reduction(data) == 4
    fast, full = prep.from_encoded(data), full_path(prep, data)
    y_fast = fast[: H * W].reshape(H, W)
    # portrait now: padded left and right
    assert (y_fast[:, :40] == PAD_Y).all() and (y_fast[:, -40:] == PAD_Y).all()
    assert np.abs(fast.astype(int) - full.astype(int)).mean() < 1.5


def test_reduced_decode_gives_the_same_classes(classifier, chelsea, coffee):
    for picture in (chelsea, coffee):
        big = cv2.resize(picture, (1920, 1080), interpolation=cv2.INTER_CUBIC)
        data = jpeg(big)
        assert classifier.preprocessor.jpeg_reduction(data) > 1
        fast = classifier.classify_encoded(data).top
        full = classifier.classify_nv12(full_path(classifier.preprocessor, data)).top
        assert fast[0].class_id == full[0].class_id
        assert {p.class_id for p in fast[:3]} & {p.class_id for p in full[:3]}


def test_decode_image_reduction_argument(photo1080):
    data = jpeg(photo1080)
    assert decode_image(data, 2).shape == (540, 960, 3)
    assert decode_image(data, 8).shape == (135, 240, 3)
    with pytest.raises(ValueError, match="reduction"):
        decode_image(data, 3)


# --- letterbox padding in one pass (cv2.copyMakeBorder) ----------------------------------------------
@pytest.mark.parametrize("encoding", ["bgr8", "nv12"])
def test_letterbox_equals_the_canvas_reference(photo1080, encoding):
    """The fast padding gives exactly what resizing + a filled canvas + I420 interleave gives."""
    prep = Preprocessor(H, W, "letterbox")
    x, y, w, h = plan_resize(1080, 1920, H, W, "letterbox").dst
    if encoding == "bgr8":
        canvas = np.full((H, W, 3), 127, np.uint8)
        canvas[y:y + h, x:x + w] = cv2.resize(photo1080, (w, h))
        i420 = cv2.cvtColor(canvas, cv2.COLOR_BGR2YUV_I420).reshape(-1)
        q = H * W // 4
        ref = np.concatenate([i420[: H * W],
                              np.stack([i420[H * W:H * W + q], i420[H * W + q:]], 1).reshape(-1)])
        got = prep.from_raw(photo1080, 1920, 1080, "bgr8")
    else:
        i420 = cv2.cvtColor(photo1080, cv2.COLOR_BGR2YUV_I420).reshape(-1)
        area, q = 1920 * 1080, 1920 * 1080 // 4
        nv12 = np.concatenate([i420[:area],
                               np.stack([i420[area:area + q], i420[area + q:]], 1).reshape(-1)])
        ys = np.full((H, W), PAD_Y, np.uint8)
        ys[y:y + h, x:x + w] = cv2.resize(nv12[:area].reshape(1080, 1920), (w, h))
        uvs = np.empty((H // 2, W // 2, 2), np.uint8)
        uvs[..., 0], uvs[..., 1] = PAD_U, PAD_V
        uvs[y // 2:(y + h) // 2, x // 2:(x + w) // 2] = cv2.resize(
            nv12[area:].reshape(540, 960, 2), (w // 2, h // 2))
        ref = np.concatenate([ys.reshape(-1), uvs.reshape(-1)])
        got = prep.from_raw(nv12, 1920, 1080, "nv12")
    np.testing.assert_array_equal(got, ref)
