"""Message conversion against real ROS 2 Humble messages (rosbags typestore ROS2_HUMBLE with
vision_msgs registered from their .msg text), serialized to CDR and back, every field checked."""

from __future__ import annotations

import array
import struct

import numpy as np
import pytest

from rdk_classifier.classifier import Classifier, Prediction
from rdk_classifier.errors import DecodeError, FrameSizeError, UnsupportedEncodingError
from rdk_classifier.class_names import load_class_names
from rdk_classifier.ros import messages as m
from rdk_classifier.ros.rosbags_types import (CLASSIFICATION, IMAGE, LABEL_INFO, VISION_INFO,
                                              humble_typestore, message_types)

from ros_frames import (CAT_CLASSES, ESPRESSO, IMAGENET, PHOTOS, compressed_msg, corrupt_jpeg,
                        image_msg, imagenet_labels, load_bgr)

STAMP = 1_712_345_678_123_456_789


@pytest.fixture(scope="module")
def ts():
    return humble_typestore()


@pytest.fixture(scope="module")
def types(ts):
    return message_types(ts)


@pytest.fixture(scope="module")
def chelsea_bgr():
    return load_bgr(PHOTOS / "chelsea.png")


def roundtrip(ts, msg, typename):
    raw = ts.serialize_cdr(msg, typename)
    return ts.deserialize_cdr(bytes(raw), typename), bytes(raw)


def check_top5(msg, expect_in, labels=None, by_name=False):
    scores = [h.score for h in msg.results]
    assert len(msg.results) == 5
    assert all(isinstance(s, float) and 0.0 <= s <= 1.0 for s in scores)
    assert scores == sorted(scores, reverse=True)
    assert sum(scores) <= 1.0 + 1e-6
    if by_name:
        ids = [labels.index(h.class_id) for h in msg.results]
    else:
        assert all(h.class_id == str(int(h.class_id)) for h in msg.results)  # decimal strings
        ids = [int(h.class_id) for h in msg.results]
    assert set(ids) & set(expect_in), ids
    return ids


# --- frames in ------------------------------------------------------------------------------------
@pytest.mark.parametrize("encoding,pad", [("bgr8", 0), ("bgr8", 24), ("rgb8", 0), ("nv12", 0),
                                          ("nv12", 64)])
def test_raw_frames_of_a_cat_classify_as_a_cat(ts, classifier, chelsea_bgr, encoding, pad):
    msg = image_msg(ts, chelsea_bgr, encoding, STAMP, "cam0", pad=pad)
    msg, _ = roundtrip(ts, msg, IMAGE)        # exactly what a subscriber gets from the wire
    assert isinstance(msg.data, np.ndarray)
    result = m.classify_message(classifier, msg)
    assert result.top[0].class_id in CAT_CLASSES


def test_bgr8_message_goes_through_the_same_path_as_the_image(ts, classifier, chelsea_bgr):
    direct = classifier.classify_image(chelsea_bgr)
    via_msg = m.classify_message(classifier, image_msg(ts, chelsea_bgr, "bgr8", pad=8))
    assert [p.class_id for p in via_msg.top] == [p.class_id for p in direct.top]
    assert [p.score for p in via_msg.top] == pytest.approx([p.score for p in direct.top],
                                                           abs=1e-6)


@pytest.mark.parametrize("name", ["imagenet_00_243.jpg", "imagenet_10_541.jpg"])
def test_jpeg_compressed_image(ts, classifier, name):
    bgr = load_bgr(IMAGENET / name)
    msg, _ = roundtrip(ts, compressed_msg(ts, bgr, STAMP), "sensor_msgs/msg/CompressedImage")
    assert m.is_compressed(msg)
    result = m.classify_message(classifier, msg)
    assert imagenet_labels()[name] in [p.class_id for p in result.top]


def test_rclpy_style_data_gives_the_same_result_without_copies(ts, classifier, chelsea_bgr):
    """rclpy hands uint8[] over as array.array('B'); bytes and numpy must agree with it."""
    msg = image_msg(ts, chelsea_bgr, "nv12")
    ref = m.classify_message(classifier, msg)
    as_array = array.array("B", msg.data.tobytes())
    for data in (as_array, msg.data.tobytes(), memoryview(msg.data.tobytes())):
        msg.data = data
        got = m.classify_message(classifier, msg)
        assert [(p.class_id, round(p.score, 6)) for p in got.top] == \
            [(p.class_id, round(p.score, 6)) for p in ref.top]
    buf = m.frame_buffer(as_array)
    assert np.shares_memory(np.frombuffer(buf, np.uint8), np.frombuffer(as_array, np.uint8))
    arr = np.arange(10, dtype=np.uint8)
    assert m.frame_buffer(arr) is arr
    assert np.array_equal(m.frame_buffer([1, 2, 3]), [1, 2, 3])  # a plain list still works


@pytest.mark.parametrize("convert", [m.classify_message, m.prepare_message])
def test_bad_frames_raise_typed_errors(ts, classifier, chelsea_bgr, convert):
    """Both halves of the path stop a bad frame at the first: the conversion."""
    msg = image_msg(ts, chelsea_bgr, "bgr8")
    msg.encoding = "bayer_rggb8"
    with pytest.raises(UnsupportedEncodingError, match="bayer_rggb8"):
        convert(classifier, msg)
    short = image_msg(ts, chelsea_bgr, "bgr8")
    short.data = short.data[:-100]
    with pytest.raises(FrameSizeError):
        convert(classifier, short)
    with pytest.raises(DecodeError):
        convert(classifier, compressed_msg(ts, corrupt_jpeg(chelsea_bgr)))
    with pytest.raises(UnsupportedEncodingError, match="h264"):
        convert(classifier, compressed_msg(ts, b"\x00\x00\x00\x01", fmt="h264"))


@pytest.mark.parametrize("encoding,pad", [("bgr8", 24), ("rgb8", 0), ("nv12", 64), ("jpeg", 0)])
def test_prepared_frames_give_the_results_of_classify_message(ts, classifier, chelsea_bgr,
                                                              encoding, pad):
    if encoding == "jpeg":
        msg = compressed_msg(ts, chelsea_bgr, STAMP, "cam0")
        expect_nv12 = classifier.preprocessor.from_encoded(msg.data)
    else:
        msg = image_msg(ts, chelsea_bgr, encoding, STAMP, "cam0", pad=pad)
        expect_nv12 = classifier.preprocessor.from_raw(msg.data, msg.width, msg.height,
                                                       msg.encoding, msg.step)
    frame = m.prepare_message(classifier, msg, source="cam0")
    # the core's conversion, nothing else: same NV12 bytes, model-size, the message not kept
    assert frame.nv12.shape == expect_nv12.shape == (224 * 224 * 3 // 2,)
    assert np.array_equal(frame.nv12, expect_nv12)
    assert not np.shares_memory(frame.nv12, msg.data)
    assert frame.header is msg.header and frame.message is None
    assert frame.classifier is classifier and frame.preprocess_ms > 0

    got = m.classify_prepared(classifier, frame, top=5)
    ref = m.classify_message(classifier, msg, top=5, source="cam0")
    assert got.top == ref.top                       # identical predictions and scores
    assert got.source == ref.source == "cam0"
    assert got.top[0].class_id in CAT_CLASSES
    t = got.timing_ms                               # the callback's time is the preprocess stage
    assert t.preprocess == frame.preprocess_ms and t.inference > 0 and t.postprocess > 0
    assert t.total == pytest.approx(frame.preprocess_ms + t.inference + t.postprocess)

    kept = m.prepare_message(classifier, msg, keep_message=True)
    assert kept.message is msg and np.array_equal(kept.nv12, frame.nv12)


def test_a_prepared_frame_is_refused_by_another_classifier(ts, classifier, chelsea_bgr):
    """NV12 made for one model's input size and resize mode never feeds another model."""
    msg = image_msg(ts, chelsea_bgr, "bgr8")
    frame = m.prepare_message(classifier, msg)
    other = Classifier.from_model(backend="cpu", resize_mode="letterbox")
    try:
        mine = m.prepare_message(other, msg)
        assert not np.array_equal(mine.nv12, frame.nv12)   # center crop vs letterbox
        with pytest.raises(ValueError, match="prepared for"):
            m.classify_prepared(other, frame)
        assert m.classify_prepared(other, mine).top == m.classify_message(other, msg).top
    finally:
        other.close()


# --- results out ----------------------------------------------------------------------------------
def test_classification_message_every_field_through_cdr(ts, types, classifier, chelsea_bgr):
    frame = image_msg(ts, chelsea_bgr, "bgr8", STAMP, "front_camera_optical")
    result = m.classify_message(classifier, frame)
    out = m.classification_message(types, frame.header, result.top)
    back, raw = roundtrip(ts, out, CLASSIFICATION)
    assert back.header.stamp.sec == STAMP // 10**9
    assert back.header.stamp.nanosec == STAMP % 10**9
    assert back.header.frame_id == "front_camera_optical"
    assert out.header is not frame.header            # a copy, not the input's object
    ids = check_top5(back, CAT_CLASSES)
    assert ids == [p.class_id for p in result.top]
    assert [h.score for h in back.results] == [p.score for p in result.top]  # float64 exact
    assert raw[:4] == b"\x00\x01\x00\x00"            # CDR little endian encapsulation


def test_classification_wire_format_matches_the_vision_msgs_definition(ts, types):
    """Hand-encoded CDR of Classification{Header; ObjectHypothesis{string, float64}[]}."""
    header = m.make_header(types, 5 * 10**9 + 7, "cam")
    out = m.classification_message(types, header, [Prediction(281, "tabby", 0.75),
                                                   Prediction(9, "ostrich", 0.125)])
    raw = bytes(ts.serialize_cdr(out, CLASSIFICATION))

    def cdr_string(body: bytearray, s: str) -> None:
        while len(body) % 4:
            body.append(0)
        data = s.encode() + b"\x00"
        body += struct.pack("<I", len(data)) + data

    body = bytearray(struct.pack("<iI", 5, 7))
    cdr_string(body, "cam")
    while len(body) % 4:
        body.append(0)
    body += struct.pack("<I", 2)
    for cid, score in (("281", 0.75), ("9", 0.125)):
        cdr_string(body, cid)
        while len(body) % 8:
            body.append(0)
        body += struct.pack("<d", score)
    assert raw == b"\x00\x01\x00\x00" + bytes(body)


def test_class_names_and_threshold(ts, types, classifier, chelsea_bgr):
    frame = image_msg(ts, chelsea_bgr, "bgr8", STAMP)
    result = m.classify_message(classifier, frame)
    labels = list(classifier.class_names)
    by_name, _ = roundtrip(ts, m.classification_message(types, frame.header, result.top, "name"),
                           CLASSIFICATION)
    check_top5(by_name, CAT_CLASSES, labels, by_name=True)
    assert [h.class_id for h in by_name.results] == [p.label for p in result.top]

    threshold = (result.top[1].score + result.top[2].score) / 2  # keeps exactly two
    kept, _ = roundtrip(ts, m.classification_message(types, frame.header, result.top,
                                                     score_threshold=threshold), CLASSIFICATION)
    assert [h.class_id for h in kept.results] == [str(p.class_id) for p in result.top[:2]]
    none, _ = roundtrip(ts, m.classification_message(types, frame.header, result.top,
                                                     score_threshold=1.0), CLASSIFICATION)
    assert none.results == [] and none.header.frame_id == frame.header.frame_id
    with pytest.raises(ValueError, match="class_id_format"):
        m.classification_message(types, frame.header, result.top, "label")


def test_label_info_every_field_through_cdr(ts, types):
    labels = load_class_names()
    header = m.make_header(types, STAMP)
    back, _ = roundtrip(ts, m.label_info_message(types, labels, 0.25, header), LABEL_INFO)
    assert len(back.class_map) == 1000
    assert [c.class_id for c in back.class_map] == list(range(1000))
    assert [c.class_name for c in back.class_map] == list(labels)
    assert back.class_map[281].class_name == labels[281]
    assert back.threshold == pytest.approx(0.25)  # float32 on the wire
    assert (back.header.stamp.sec, back.header.stamp.nanosec, back.header.frame_id) == \
        (STAMP // 10**9, STAMP % 10**9, "")
    with pytest.raises(ValueError, match="uint16"):
        m.label_info_message(types, ["x"] * 70000, 0.0, header)


def test_vision_info_every_field_through_cdr(ts, types, tmp_path):
    header = m.make_header(types, STAMP)
    back, _ = roundtrip(ts, m.vision_info_message(types, "EfficientNet_Lite0_int8",
                                                  m.database_location(None), 3, header),
                        VISION_INFO)
    assert (back.method, back.database_location, back.database_version) == \
        ("EfficientNet_Lite0_int8", "imagenet1k", 3)
    assert back.header.stamp.sec == STAMP // 10**9
    assert m.database_location(str(tmp_path / "labels.txt")) == str(tmp_path / "labels.txt")


@pytest.mark.parametrize("encoding", ["bgr8", "nv12", "jpeg"])
def test_debug_overlay_image(ts, types, chelsea_bgr, encoding):
    frame = (compressed_msg(ts, chelsea_bgr, STAMP, "cam") if encoding == "jpeg"
             else image_msg(ts, chelsea_bgr, encoding, STAMP, "cam", pad=16))
    top = [Prediction(281, "tabby", 0.5), Prediction(282, "tiger cat", 0.25)]
    out = m.overlay_message(types, frame, top, max_width=200)
    back, _ = roundtrip(ts, out, IMAGE)
    assert (back.width, back.height) == (200, 132)    # 450x300 to 200 wide: 133.3 -> 132 (even)
    assert (back.encoding, back.step, back.is_bigendian) == ("bgr8", 600, 0)
    assert back.data.size == 200 * 132 * 3
    assert (back.header.frame_id, back.header.stamp.nanosec) == ("cam", STAMP % 10**9)
    plain = m.frame_to_bgr(frame, 200)
    drawn = back.data.reshape(132, 200, 3)
    assert not np.array_equal(plain, drawn)           # text was drawn ...
    assert np.array_equal(plain[-40:], drawn[-40:])   # ... in the top-left corner only
    assert np.abs(plain[-40:].astype(int).mean(axis=(0, 1)) -
                  chelsea_bgr[-60:].mean(axis=(0, 1))).max() < 12  # colours kept


def test_a_photo_of_coffee(ts, classifier):
    bgr = load_bgr(PHOTOS / "coffee.png")
    result = m.classify_message(classifier, image_msg(ts, bgr, "nv12"))
    assert ESPRESSO in [p.class_id for p in result.top]
