"""Frames -> NV12: colour conversion, every encoding, every resize mode, every bad input."""

from __future__ import annotations

import platform

import cv2
import numpy as np
import pytest

from rdk_classifier.errors import DecodeError, FrameSizeError, UnsupportedEncodingError
from rdk_classifier.frames import (PAD_U, PAD_V, PAD_Y, SUPPORTED_ENCODINGS, Preprocessor,
                                   decode_image, load_image, nv12_to_bgr, plan_resize)

H, W = 224, 224


def split_nv12(nv12: np.ndarray, h: int = H, w: int = W):
    y = nv12[: h * w].reshape(h, w)
    uv = nv12[h * w:].reshape(h // 2, w // 2, 2)
    return y, uv[..., 0], uv[..., 1]


def bt601_reference(bgr: np.ndarray):
    """Independent per-pixel BT.601 (studio range) formulas; chroma from the top-left pixel of
    each 2x2 block, as OpenCV's BGR->I420 does."""
    b, g, r = (bgr[..., i].astype(np.float64) for i in range(3))
    y = 16 + 0.257 * r + 0.504 * g + 0.098 * b
    u = 128 - 0.148 * r - 0.291 * g + 0.439 * b
    v = 128 + 0.439 * r - 0.368 * g - 0.071 * b
    return y, u[::2, ::2], v[::2, ::2]


def nv12_from_bgr_reference(bgr: np.ndarray) -> np.ndarray:
    h, w = bgr.shape[:2]
    i420 = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420).reshape(-1)
    q = h * w // 4
    uv = np.stack([i420[h * w:h * w + q], i420[h * w + q:]], axis=1).reshape(-1)
    return np.concatenate([i420[: h * w], uv])


def to_yuyv(nv12: np.ndarray, h: int, w: int, uyvy: bool = False) -> np.ndarray:
    """Packed 4:2:2 built from NV12 planes (each pixel pair shares its block's U, V)."""
    y, u, v = split_nv12(nv12, h, w)
    u_full = np.repeat(u, 2, axis=0)
    v_full = np.repeat(v, 2, axis=0)
    out = np.empty((h, w * 2), np.uint8)
    if uyvy:
        out[:, 1::2] = y
        out[:, 0::4] = u_full
        out[:, 2::4] = v_full
    else:
        out[:, 0::2] = y
        out[:, 1::4] = u_full
        out[:, 3::4] = v_full
    return out


@pytest.fixture(scope="module")
def photo224(chelsea) -> np.ndarray:
    return cv2.resize(chelsea, (W, H), interpolation=cv2.INTER_AREA)


# --- colour conversion ---------------------------------------------------------------------------
def test_bgr_to_nv12_matches_bt601_formula(photo224):
    nv12 = Preprocessor(H, W, "direct").from_bgr(photo224)
    assert nv12.dtype == np.uint8 and nv12.shape == (H * W * 3 // 2,)
    y, u, v = split_nv12(nv12)
    ry, ru, rv = bt601_reference(photo224)
    assert np.abs(y - ry).max() <= 1.0
    assert np.abs(u - ru).max() <= 1.0
    assert np.abs(v - rv).max() <= 1.0


def test_same_size_direct_is_exactly_opencv_i420_interleaved(photo224):
    nv12 = Preprocessor(H, W, "direct").from_bgr(photo224)
    np.testing.assert_array_equal(nv12, nv12_from_bgr_reference(photo224))


def test_nv12_round_trip_back_to_bgr_is_close(photo224):
    nv12 = Preprocessor(H, W, "direct").from_bgr(photo224)
    back = nv12_to_bgr(nv12, H, W).astype(int)
    # chroma is subsampled, so edges differ; the picture as a whole must survive
    assert np.abs(back - photo224.astype(int)).mean() < 6


# --- encodings ------------------------------------------------------------------------------------
def assert_same_nv12_across_channel_counts(got, expected, encoding):
    """Identical where the resize kernel is the same for 3 and 4 channels (x86 OpenCV); the
    aarch64 OpenCV wheel resizes 4-channel images through other ARM kernels (KleidiCV, carotene)
    that round differently: there at most 1 grey level apart, and only on some bytes."""
    if encoding in ("bgra8", "rgba8") and platform.machine() not in ("x86_64", "AMD64"):
        diff = np.abs(got.astype(np.int16) - expected)
        assert diff.max() <= 1 and np.count_nonzero(diff) <= got.size // 2
    else:
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("encoding,make", [
    ("bgr8", lambda im: im),
    ("rgb8", lambda im: im[..., ::-1]),
    ("bgra8", lambda im: cv2.cvtColor(im, cv2.COLOR_BGR2BGRA)),
    ("rgba8", lambda im: cv2.cvtColor(im, cv2.COLOR_BGR2RGBA)),
])
def test_packed_colour_encodings_give_identical_nv12(chelsea, encoding, make):
    prep = Preprocessor(H, W, "letterbox")
    expected = prep.from_bgr(chelsea)
    frame = np.ascontiguousarray(make(chelsea))
    h, w = chelsea.shape[:2]
    got = prep.from_raw(frame.tobytes(), w, h, encoding)
    assert_same_nv12_across_channel_counts(got, expected, encoding)


def test_mono8_gives_gray_nv12(chelsea):
    gray = cv2.cvtColor(chelsea, cv2.COLOR_BGR2GRAY)
    h, w = gray.shape
    nv12 = Preprocessor(H, W, "direct").from_raw(gray.tobytes(), w, h, "mono8")
    y, u, v = split_nv12(nv12)
    small = cv2.resize(gray, (W, H))
    assert np.abs(y.astype(float) - (16 + 0.859 * small)).max() <= 1.0
    assert set(np.unique(u)) <= {127, 128, 129} and set(np.unique(v)) <= {127, 128, 129}


@pytest.mark.parametrize("encoding", ["yuv422_yuy2", "yuyv", "yuv422", "uyvy"])
def test_yuv422_encodings_match_nv12_of_the_same_picture(photo224, encoding):
    ref = Preprocessor(H, W, "direct").from_bgr(photo224)
    packed = to_yuyv(ref, H, W, uyvy=encoding in ("yuv422", "uyvy"))
    got = Preprocessor(H, W, "direct").from_raw(packed.tobytes(), W, H, encoding)
    # YUV -> BGR -> YUV loses at most a little to rounding and clipping
    assert np.abs(got.astype(int) - ref.astype(int)).mean() < 1.5
    gy, _, _ = split_nv12(got)
    ry, _, _ = split_nv12(ref)
    assert np.abs(gy.astype(int) - ry.astype(int)).max() <= 3


def test_nv12_input_same_size_is_passed_through(photo224):
    ref = nv12_from_bgr_reference(photo224)
    got = Preprocessor(H, W, "direct").from_raw(ref.tobytes(), W, H, "nv12")
    np.testing.assert_array_equal(got, ref)


def test_nv21_is_nv12_with_chroma_swapped(chelsea):
    big = cv2.resize(chelsea, (640, 480))
    nv12 = nv12_from_bgr_reference(big)
    nv21 = nv12.copy()
    nv21[640 * 480:] = nv12[640 * 480:].reshape(-1, 2)[:, ::-1].reshape(-1)
    prep = Preprocessor(H, W, "letterbox")
    np.testing.assert_array_equal(prep.from_raw(nv21, 640, 480, "nv21"),
                                  prep.from_raw(nv12, 640, 480, "nv12"))


@pytest.mark.parametrize("mode", ["direct", "letterbox", "center_crop"])
def test_nv12_plane_resize_agrees_with_bgr_path(coffee, mode):
    big = cv2.resize(coffee, (1280, 720))
    prep = Preprocessor(H, W, mode)
    via_bgr = prep.from_bgr(big)
    via_planes = prep.from_raw(nv12_from_bgr_reference(big), 1280, 720, "nv12")
    diff = np.abs(via_bgr.astype(int) - via_planes.astype(int))
    assert diff.mean() < 2.0, diff.mean()


@pytest.mark.parametrize("encoding,channels", [("bgr8", 3), ("rgba8", 4), ("mono8", 1)])
def test_row_padding_step_is_honoured(chelsea, encoding, channels):
    img = {3: chelsea, 4: cv2.cvtColor(chelsea, cv2.COLOR_BGR2RGBA),
           1: cv2.cvtColor(chelsea, cv2.COLOR_BGR2GRAY)[..., None]}[channels]
    h, w = img.shape[:2]
    step = w * channels + 40
    padded = np.full((h, step), 255, np.uint8)
    padded[:, : w * channels] = img.reshape(h, w * channels)
    prep = Preprocessor(H, W, "letterbox")
    np.testing.assert_array_equal(prep.from_raw(padded.tobytes(), w, h, encoding, step),
                                  prep.from_raw(np.ascontiguousarray(img).tobytes(), w, h, encoding))


def test_nv12_row_padding_step_is_honoured(coffee):
    big = cv2.resize(coffee, (640, 480))
    nv12 = nv12_from_bgr_reference(big)
    step = 704
    padded = np.full((480 * 3 // 2, step), 7, np.uint8)
    padded[:, :640] = nv12.reshape(480 * 3 // 2, 640)
    prep = Preprocessor(H, W, "center_crop")
    np.testing.assert_array_equal(prep.from_raw(padded.tobytes(), 640, 480, "nv12", step),
                                  prep.from_raw(nv12, 640, 480, "nv12"))


def test_encoded_jpeg_and_png_decode_like_opencv(chelsea):
    prep = Preprocessor(H, W, "letterbox")
    ok, png = cv2.imencode(".png", chelsea)
    assert ok
    np.testing.assert_array_equal(prep.from_encoded(png.tobytes()), prep.from_bgr(chelsea))
    ok, jpg = cv2.imencode(".jpg", chelsea, [cv2.IMWRITE_JPEG_QUALITY, 95])
    decoded = cv2.imdecode(jpg, cv2.IMREAD_COLOR)
    np.testing.assert_array_equal(prep.from_encoded(jpg.tobytes()), prep.from_bgr(decoded))


def test_gray_and_bgra_images_accepted_by_from_bgr(chelsea):
    prep = Preprocessor(H, W, "direct")
    gray = cv2.cvtColor(chelsea, cv2.COLOR_BGR2GRAY)
    np.testing.assert_array_equal(prep.from_bgr(gray), prep.from_bgr(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)))
    assert_same_nv12_across_channel_counts(prep.from_bgr(cv2.cvtColor(chelsea, cv2.COLOR_BGR2BGRA)),
                                           prep.from_bgr(chelsea), "bgra8")


# --- resize modes --------------------------------------------------------------------------------
def test_letterbox_pads_wide_frame_top_and_bottom_with_gray(coffee):
    wide = cv2.resize(coffee, (1920, 1080))
    nv12 = Preprocessor(H, W, "letterbox").from_bgr(wide)
    y, u, v = split_nv12(nv12)
    plan = plan_resize(1080, 1920, H, W, "letterbox")
    x0, y0, w, h = plan.dst
    assert (x0, w) == (0, 224) and h == 126 and y0 == 48
    assert (y[:y0] == PAD_Y).all() and (y[y0 + h:] == PAD_Y).all()
    assert (u[: y0 // 2] == PAD_U).all() and (v[(y0 + h) // 2:] == PAD_V).all()
    assert (PAD_Y, PAD_U, PAD_V) == (125, 128, 128)  # BT.601 of gray 127
    # the picture itself is there: not gray
    assert y[y0:y0 + h].std() > 20


def test_letterbox_pads_tall_frame_left_and_right(chelsea):
    tall = cv2.resize(chelsea, (300, 600))
    y, _, _ = split_nv12(Preprocessor(H, W, "letterbox").from_bgr(tall))
    x0, _, w, _ = plan_resize(600, 300, H, W, "letterbox").dst
    assert w == 112 and x0 == 56
    assert (y[:, :x0] == PAD_Y).all() and (y[:, x0 + w:] == PAD_Y).all()


def test_center_crop_matches_seed_transform(coffee):
    """The seed's calibration transform: short side 256, then the centre 224x224."""
    h, w = coffee.shape[:2]
    s = 256 / min(h, w)
    resized = cv2.resize(coffee, (round(w * s), round(h * s)))
    rh, rw = resized.shape[:2]
    top, left = (rh - 224) // 2, (rw - 224) // 2
    seed = resized[top:top + 224, left:left + 224]
    ours = nv12_to_bgr(Preprocessor(H, W, "center_crop").from_bgr(coffee), H, W)
    ref = nv12_to_bgr(nv12_from_bgr_reference(np.ascontiguousarray(seed)), H, W)
    assert np.abs(ours.astype(int) - ref.astype(int)).mean() < 4


def test_direct_stretches_whole_frame(coffee):
    ours = nv12_to_bgr(Preprocessor(H, W, "direct").from_bgr(coffee), H, W)
    ref = cv2.resize(coffee, (W, H))
    assert np.abs(ours.astype(int) - ref.astype(int)).mean() < 4


def test_non_square_model_input(coffee):
    nv12 = Preprocessor(160, 320, "letterbox").from_bgr(coffee)
    assert nv12.size == 160 * 320 * 3 // 2


# --- bad input -----------------------------------------------------------------------------------
def test_unknown_encoding_lists_supported():
    with pytest.raises(UnsupportedEncodingError) as err:
        Preprocessor(H, W).from_raw(b"\0" * 12, 2, 2, "bayer_rggb8")
    msg = str(err.value)
    assert "bayer_rggb8" in msg and all(e in msg for e in SUPPORTED_ENCODINGS)


@pytest.mark.parametrize("w,h,enc,n,step,match", [
    (0, 10, "bgr8", 0, None, "empty"),
    (10, 0, "bgr8", 0, None, "empty"),
    (-4, 4, "bgr8", 48, None, "empty"),
    (4, 4, "bgr8", 47, None, "expected step"),
    (4, 4, "bgr8", 48, 8, "step 8 is smaller"),
    (5, 4, "nv12", 30, None, "even"),
    (4, 5, "nv12", 30, None, "even"),
    (4, 4, "nv12", 23, None, "step\\*height\\*3/2"),
    (4, 4, "nv12", 24, 3, "smaller than width"),
    (5, 4, "yuyv", 40, None, "even width"),
    (4, 4, "yuv422", 31, None, "expected step"),
    (4, 4, "mono8", 15, None, "expected step"),
])
def test_bad_sizes_raise_frame_size_error(w, h, enc, n, step, match):
    with pytest.raises(FrameSizeError, match=match):
        Preprocessor(H, W).from_raw(b"\x80" * n, w, h, enc, step)


def test_odd_model_size_is_rejected():
    with pytest.raises(FrameSizeError, match="even"):
        Preprocessor(223, 224)


def test_unknown_resize_mode_is_rejected():
    with pytest.raises(ValueError, match="letterbox"):
        Preprocessor(H, W, "stretch")


@pytest.mark.parametrize("data", [b"", b"\xff\xd8\xff\xe0 this is not a jpeg", bytes(range(256)) * 4])
def test_corrupt_or_empty_compressed_image(data):
    with pytest.raises(DecodeError):
        decode_image(data)


def test_truncated_jpeg_is_rejected_or_decoded_without_crash(chelsea):
    ok, jpg = cv2.imencode(".jpg", chelsea)
    half = jpg.tobytes()[: 200]
    with pytest.raises(DecodeError):
        decode_image(half)


def test_load_image_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_image(tmp_path / "missing.jpg")
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    with pytest.raises(DecodeError, match="bad.jpg"):
        load_image(bad)


def test_wrong_dtype_and_shape_rejected():
    prep = Preprocessor(H, W)
    with pytest.raises(FrameSizeError, match="uint8"):
        prep.from_bgr(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(FrameSizeError, match="shape"):
        prep.from_bgr(np.zeros((10, 10, 2), np.uint8))
