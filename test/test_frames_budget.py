"""Pixel budget: hostile image headers are refused before OpenCV allocates (issue 11)."""

from __future__ import annotations


import cv2
import pytest

from hostile_images import forged_jpeg, png, png_bomb, png_header_only
from rdk_classifier.errors import DecodeError, FrameSizeError
from rdk_classifier.frames import (DEFAULT_MAX_PIXELS, Preprocessor, decode_image, image_header,
                                   load_image, read_image_file)


def test_forged_jpeg_header_is_refused_not_classified():
    data = forged_jpeg(65500, 65500)
    assert len(data) < 1000
    with pytest.raises(DecodeError, match="65500x65500.*pixel budget"):
        decode_image(data)
    with pytest.raises(DecodeError, match="pixel budget"):
        Preprocessor(224, 224).from_encoded(data)


def test_png_whose_header_claims_40000x40000_is_a_decode_error_not_cv2_error():
    data = png_header_only(40000, 40000)
    assert len(data) < 70
    with pytest.raises(DecodeError, match="40000x40000"):
        decode_image(data)
    # with the budget off, OpenCV's own limit raises cv2.error inside: still a DecodeError
    with pytest.raises(DecodeError):
        decode_image(data, max_pixels=0)


def test_png_bomb_is_refused_from_its_header():
    # a real, complete PNG (all black): 1-bit gray keeps the test fast, decoding it would cost
    # 8000*8000*3 = 192 MB; the budget here is 10 MP
    data = png_bomb(8000, 8000, bit_depth=1, colour_type=0)
    with pytest.raises(DecodeError, match="8000x8000"):
        decode_image(data, max_pixels=10_000_000)
    assert decode_image(data, max_pixels=0).shape == (8000, 8000, 3)  # valid: only the budget


def test_images_within_the_budget_decode(chelsea):
    for ext in (".png", ".jpg", ".bmp", ".webp", ".tiff", ".ppm"):
        ok, enc = cv2.imencode(ext, chelsea)
        assert ok
        name, w, h = image_header(enc)
        assert (w, h) == (chelsea.shape[1], chelsea.shape[0]), ext
        assert decode_image(enc).shape == chelsea.shape
        with pytest.raises(DecodeError, match="pixel budget"):
            decode_image(enc, max_pixels=w * h - 1)


def test_lossless_webp_and_gray_pgm_headers(chelsea):
    ok, enc = cv2.imencode(".webp", chelsea, [cv2.IMWRITE_WEBP_QUALITY, 101])  # VP8L
    assert bytes(enc[12:16]) == b"VP8L"
    assert image_header(enc)[1:] == (chelsea.shape[1], chelsea.shape[0])
    ok, enc = cv2.imencode(".pgm", cv2.cvtColor(chelsea, cv2.COLOR_BGR2GRAY))
    assert image_header(enc)[1:] == (chelsea.shape[1], chelsea.shape[0])


@pytest.mark.parametrize("data", [
    b"GIF89a" + b"\x00" * 40,                       # a format OpenCV may open, refused here
    b"\x00\x00\x00\x0cjP  \r\n\x87\n" + b"\x00" * 40,  # JPEG 2000
    b"#?RADIANCE\n" + b"\x00" * 40,
    b"hello world, not an image",
])
def test_unknown_formats_are_refused(data):
    with pytest.raises(DecodeError, match="accepted"):
        decode_image(data)


def test_zero_size_header_is_refused():
    with pytest.raises(DecodeError, match="0x5"):
        decode_image(png(0, 5, b""))


def test_raw_frame_over_the_budget_is_refused_before_any_allocation():
    prep = Preprocessor(224, 224)
    # 40000 x 40000 bgr8 claimed with a 12-byte buffer: refused on the budget, not on the buffer
    with pytest.raises(FrameSizeError, match="pixel budget"):
        prep.from_raw(b"\x00" * 12, 40000, 40000, "bgr8")
    with pytest.raises(FrameSizeError, match="pixel budget"):
        Preprocessor(224, 224, max_pixels=1000).from_raw(b"\x00" * 6000, 40, 100, "nv12")
    assert DEFAULT_MAX_PIXELS >= 1920 * 1080 * 4


def test_read_image_file_refuses_fifos_and_oversized_files(tmp_path):
    import os

    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    with pytest.raises(DecodeError, match="not a regular file"):
        read_image_file(fifo)  # would block forever with open().read()
    big = tmp_path / "big.png"
    big.write_bytes(b"\x00" * 2048)
    with pytest.raises(DecodeError, match="over the image file limit"):
        read_image_file(big, max_bytes=1024)
    with pytest.raises(DecodeError, match="not a regular file"):
        load_image(tmp_path)


def test_classify_file_survives_a_hostile_image_between_good_ones(tmp_path, classifier):
    from conftest import IMAGENET_DIR

    bad = tmp_path / "bomb.png"
    bad.write_bytes(png_header_only())
    with pytest.raises(DecodeError):
        classifier.classify_file(bad)
    good = classifier.classify_file(IMAGENET_DIR / "imagenet_00_243.jpg")
    assert good.top[0].class_id >= 0


def test_classify_cli_reports_hostile_images_and_classifies_the_rest(tmp_path, capsys):
    from conftest import IMAGENET_DIR
    from rdk_classifier.cli import main

    (tmp_path / "a_header.png").write_bytes(png_header_only())
    (tmp_path / "b_forged.jpg").write_bytes(forged_jpeg())
    good = IMAGENET_DIR / "imagenet_00_243.jpg"
    code = main(["classify", str(tmp_path / "a_header.png"), str(tmp_path / "b_forged.jpg"),
                 str(good), "--json"])
    captured = capsys.readouterr()
    assert code == 1 and "Traceback" not in captured.err
    assert captured.err.count("pixel budget") == 2
    assert captured.out.count("\n") == 1 and str(good) in captured.out  # the good one is done


def test_calib_skips_hostile_images_and_keeps_going(tmp_path):
    import shutil

    from conftest import PHOTOS_DIR
    from rdk_classifier.ptq.calibration import build_calibration_set

    images = tmp_path / "images"
    shutil.copytree(PHOTOS_DIR, images)
    (images / "0_bomb.png").write_bytes(png_header_only())
    calib = build_calibration_set(images, tmp_path / "cal", count=None, size=(32, 32))
    assert [s for s, _ in calib.skipped] == ["0_bomb.png"]
    assert "pixel budget" in calib.skipped[0][1]
    assert len(calib.entries) == len(list(PHOTOS_DIR.glob("*.png"))) + \
        len(list(PHOTOS_DIR.glob("*.jpg")))


def test_a_jpeg_with_thousands_of_scans_is_refused(chelsea):
    ok, enc = cv2.imencode(".jpg", chelsea, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    data = enc.tobytes()
    assert decode_image(data).shape == chelsea.shape  # a normal progressive JPEG decodes
    sos = data.find(b"\xff\xda")
    eoi = data.rfind(b"\xff\xd9")
    # the same (valid) first scan header repeated: a small file that libjpeg would walk 5000x
    scan = data[sos:data.find(b"\xff", sos + 2 + ((data[sos + 2] << 8) | data[sos + 3]))]
    bomb = data[:eoi] + scan * 5000 + data[eoi:]
    with pytest.raises(DecodeError, match="scans"):
        decode_image(bomb)
