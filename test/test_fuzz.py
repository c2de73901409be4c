"""Fuzzing what parses untrusted bytes: encoded image headers, raw frame fields, ROS messages,
val.txt, topic names, downloads (issue 11). Bounded (a fixed example count per property, no
example database, derandomized) so the whole file runs in seconds in CI and the same cases run
everywhere; ``FUZZ_EXAMPLES=N`` multiplies the counts for a longer local run.

Each property says what may happen: a typed error of this package, or a result that keeps the
rules (pixel budget, exact sizes, unique names); anything else (cv2.error, a traceback, a hang,
a file outside the destination) is a failure.
"""

from __future__ import annotations

import hashlib
import http.server
import os
import struct
import threading
import zlib

import cv2
import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from hostile_images import png  # noqa: E402
from rdk_classifier.errors import DecodeError, DownloadError, FrameError  # noqa: E402
from rdk_classifier.evaluation import LabelFileError, image_key, parse_labels  # noqa: E402
from rdk_classifier.frames import (SUPPORTED_ENCODINGS, Preprocessor, decode_image,  # noqa: E402
                                   image_header, jpeg_size)
from rdk_classifier.ros.settings import topic_name_error  # noqa: E402

SCALE = max(1, int(os.environ.get("FUZZ_EXAMPLES", "1")))


def bounded(n: int):
    return settings(max_examples=n * SCALE, deadline=None, database=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])


BUDGET = 4_000_000  # small, so that oversize claims are common and cheap


def _seed_images() -> list[bytes]:
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (24, 32, 3), np.uint8)
    out = []
    for ext in (".jpg", ".png", ".bmp", ".webp", ".tiff", ".ppm", ".pgm"):
        src = img if ext != ".pgm" else img[:, :, 0]
        ok, enc = cv2.imencode(ext, src)
        assert ok
        out.append(enc.tobytes())
    ok, enc = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    out.append(enc.tobytes())
    return out


SEEDS = _seed_images()


def _decode_within_rules(data: bytes) -> None:
    try:
        image = decode_image(data, max_pixels=BUDGET)
    except DecodeError:
        return
    assert image.dtype == np.uint8 and image.ndim in (2, 3)
    assert image.shape[0] * image.shape[1] <= BUDGET
    name, w, h = image_header(data)
    assert w * h <= BUDGET


@bounded(300)
@given(st.binary(max_size=256))
def test_arbitrary_bytes_are_decoded_or_refused(data):
    _decode_within_rules(data)
    size = jpeg_size(data)
    assert size is None or (0 <= size[0] < 65536 and 0 <= size[1] < 65536)


@bounded(400)
@given(st.sampled_from(range(len(SEEDS))),
       st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), min_size=1, max_size=8),
       st.integers(0, 2000))
def test_mutated_real_images_are_decoded_or_refused(seed, flips, cut):
    """Bytes of real JPEG/PNG/BMP/WebP/TIFF/PNM files overwritten (headers first) and cut."""
    data = bytearray(SEEDS[seed])
    for pos, value in flips:
        if pos < len(data):
            data[pos] = value
    if cut:
        data = data[:max(1, len(data) - cut)]
    _decode_within_rules(bytes(data))


@bounded(200)
@given(st.integers(0, 1 << 32 - 1), st.integers(0, 1 << 32 - 1), st.sampled_from([1, 2, 4, 8, 16]),
       st.sampled_from([0, 2, 3, 4, 6]), st.binary(max_size=64))
def test_png_headers_with_any_size_never_reach_opencv_over_budget(w, h, depth, ctype, idat):
    _decode_within_rules(png(w, h, zlib.compress(idat), depth, ctype))


@bounded(200)
@given(st.integers(0, 65535), st.integers(0, 65535), st.sampled_from([0xC0, 0xC1, 0xC2]))
def test_forged_jpeg_frame_headers(w, h, sof):
    data = bytearray(SEEDS[0])
    at = data.find(b"\xff\xc0")
    data[at + 1] = sof
    data[at + 5:at + 9] = struct.pack(">HH", h, w)
    assert jpeg_size(bytes(data)) == (w, h)
    _decode_within_rules(bytes(data))


# --- raw frames and ROS messages ----------------------------------------------------------------
PREP = Preprocessor(32, 32, "letterbox", max_pixels=BUDGET)
RAW_ENCODINGS = list(SUPPORTED_ENCODINGS) + ["8UC3", "bayer_rggb8", "", "NV12", "16UC1"]


@bounded(400)
@given(st.sampled_from(RAW_ENCODINGS), st.integers(-2, 5000), st.integers(-2, 5000),
       st.one_of(st.none(), st.integers(0, 20000)), st.integers(0, 70000))
def test_raw_frame_fields_are_checked_before_use(encoding, width, height, step, length):
    buf = np.zeros(length, np.uint8)
    try:
        nv12 = PREP.from_raw(buf, width, height, encoding, step)
    except FrameError:
        return
    assert nv12.shape == (32 * 32 * 3 // 2,) and nv12.dtype == np.uint8
    assert width * height <= BUDGET


@pytest.fixture(scope="module")
def ros_types():
    pytest.importorskip("rosbags")
    from rdk_classifier.ros import rosbags_types as rt

    ts = rt.humble_typestore()
    return ts


@bounded(150)
@given(data=st.data())
def test_image_and_compressed_messages_from_cdr(ros_types, classifier, data):
    """Real CDR bytes of sensor_msgs/Image and CompressedImage with hostile fields go through
    the node's path: a Result or a FrameError (the node counts it), nothing else."""
    from rdk_classifier.ros import messages as msgs
    from ros_frames import header

    ts = ros_types
    if data.draw(st.booleans(), label="compressed"):
        payload = data.draw(st.one_of(st.binary(max_size=200),
                                      st.sampled_from(SEEDS)), label="payload")
        msg = ts.types["sensor_msgs/msg/CompressedImage"](
            header=header(ts, 0, "f"), format=data.draw(st.sampled_from(
                ["jpeg", "png", "rgb8; jpeg compressed bgr8", "h264", "", "JPEG"])),
            data=np.frombuffer(payload, np.uint8).copy())
        msgtype = "sensor_msgs/msg/CompressedImage"
    else:
        msg = ts.types["sensor_msgs/msg/Image"](
            header=header(ts, 0, "f"), height=data.draw(st.integers(0, 1 << 32 - 1)),
            width=data.draw(st.integers(0, 1 << 32 - 1)),
            encoding=data.draw(st.sampled_from(RAW_ENCODINGS)), is_bigendian=0,
            step=data.draw(st.integers(0, 1 << 32 - 1)),
            data=np.zeros(data.draw(st.integers(0, 5000)), np.uint8))
        msgtype = "sensor_msgs/msg/Image"
    raw = ts.serialize_cdr(msg, msgtype)
    back = ts.deserialize_cdr(raw, msgtype)
    try:
        result = msgs.classify_message(classifier, back, top=5)
    except FrameError:
        return
    assert len(result.top) == 5


# --- val.txt and topic names -----------------------------------------------------------------
LINE = st.one_of(
    st.text(max_size=40),
    st.builds(lambda n, i, sep, end: f"{n}{sep}{i}{end}",
              st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12),
              st.one_of(st.integers(-5, 2000).map(str), st.text("0123456789_٠١٢+-.e", max_size=5)),
              st.sampled_from([" ", "\t", "  "]), st.sampled_from(["", "\r", " "])),
)


@bounded(400)
@given(st.booleans(), st.lists(LINE, max_size=12))
def test_val_txt_lines_parse_or_name_their_line(bom, lines):
    text = ("\ufeff" if bom else "") + "\n".join(lines)
    try:
        samples = parse_labels(text, "val.txt")
    except LabelFileError as exc:
        assert str(exc).startswith("val.txt:")
        return
    keys = [image_key(s.name) for s in samples]
    assert len(keys) == len(set(keys))
    for s in samples:
        assert isinstance(s.label, int) and s.label >= 0
        assert not s.name.startswith("\ufeff")
        assert not os.path.isabs(image_key(s.name)) and not image_key(s.name).startswith("..")


@bounded(300)
@given(st.text(max_size=30))
def test_topic_names_are_judged_without_raising(name):
    reason = topic_name_error(name)
    if reason is None:
        assert name and set(name) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                          "0123456789_/~")
        assert "//" not in name and not name.endswith("/")


# --- downloads -------------------------------------------------------------------------------
class _Scripted(http.server.BaseHTTPRequestHandler):
    """Answers with whatever the current example scripted: status, headers, body."""

    protocol_version = "HTTP/1.1"
    script: dict = {}

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        s = _Scripted.script
        self.send_response(s["status"])
        for k, v in s["headers"]:
            self.send_header(k, v)
        self.send_header("Connection", "close")
        self.end_headers()
        try:
            self.wfile.write(s["body"])
        except OSError:
            pass


@pytest.fixture(scope="module")
def scripted_server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Scripted)
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/m.bin"
    srv.shutdown()
    srv.server_close()


HEADER_VALUES = st.one_of(st.integers(-1, 600).map(str), st.sampled_from(
    ["bytes 0-9/10", "bytes */10", "bytes 5-9/*", "text/html", "application/octet-stream",
     '"abc"', 'W/"abc"', "", "garbage", "bytes 0-99999999999/99999999999"]))


@bounded(120)
@given(status=st.sampled_from([200, 206, 301, 302, 404, 416, 500, 204]),
       headers=st.lists(st.tuples(st.sampled_from(["Content-Length", "Content-Range",
                                                   "Content-Type", "ETag", "Location"]),
                                  HEADER_VALUES), max_size=4, unique_by=lambda kv: kv[0]),
       body=st.one_of(st.binary(max_size=300), st.just(b"<html>login</html>")),
       part=st.one_of(st.none(), st.binary(max_size=50)),
       with_digest=st.booleans())
def test_any_server_answer_installs_a_whole_file_or_nothing(scripted_server, tmp_path_factory,
                                                            status, headers, body, part,
                                                            with_digest):
    from rdk_classifier.download import download

    dest = tmp_path_factory.mktemp("dl")
    outside = tmp_path_factory.mktemp("outside")
    final = dest / "m.bin"
    if part is not None:
        (dest / "m.bin.part").write_bytes(part)
    _Scripted.script = {"status": status, "headers": headers, "body": body}
    digest = hashlib.sha256(body).hexdigest() if with_digest else None
    try:
        download(scripted_server, final, progress=False, timeout=2, deadline=5,
                 max_bytes=10_000, sha256=digest)
    except DownloadError:
        assert not final.exists()
        return
    finally:
        assert list(outside.iterdir()) == []
        assert all(p.parent == dest for p in dest.iterdir())
    got = final.read_bytes()
    assert got and not got.lstrip().lower().startswith(b"<html")
    if digest is not None:
        assert hashlib.sha256(got).hexdigest() == digest
    declared = dict(headers).get("Content-Length")
    if status == 200 and declared is not None and declared.isdigit():
        assert len(got) == int(declared)
