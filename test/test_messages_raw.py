"""Frames from serialized bytes (raw subscriptions) and from hbm_img_msgs images give what the
typed sensor_msgs path gives: the same model-size NV12, the same Classification bytes. Real
photos, real message definitions (rosbags), both CDR byte orders."""

from __future__ import annotations

import array

import cv2
import numpy as np
import pytest

from rdk_classifier.errors import FrameSizeError, SerializedMessageError, UnsupportedEncodingError
from rdk_classifier.ros import cdr
from rdk_classifier.ros import messages as m
from rdk_classifier.ros.rosbags_types import (CLASSIFICATION, COMPRESSED_IMAGE, IMAGE,
                                              humble_typestore, message_types,
                                              register_hbm_img_msgs)

from ros_frames import (CAT_CLASSES, ESPRESSO, PHOTOS, compressed_msg, image_msg, load_bgr,
                        nv12_bytes)

STAMP = 1_712_345_678_123_456_789
HBM = "hbm_img_msgs/msg/HbmMsg480P"
HBM_1080P = "hbm_img_msgs/msg/HbmMsg1080P"

TS = register_hbm_img_msgs(humble_typestore())
TYPES = message_types(TS)


@pytest.fixture(scope="module")
def chelsea():
    return load_bgr(PHOTOS / "chelsea.png")


@pytest.fixture(scope="module")
def coffee_vga():
    return cv2.resize(load_bgr(PHOTOS / "coffee.png"), (640, 480), interpolation=cv2.INTER_AREA)


def result_bytes(clf, frame) -> bytes:
    """The Classification message the node would publish for a frame, serialized."""
    prepared = m.prepare_message(clf, frame, frame_id="hbm_cam")
    result = m.classify_prepared(clf, prepared)
    msg = m.classification_message(TYPES, prepared.header, result.top)
    return bytes(TS.serialize_cdr(msg, CLASSIFICATION))


@pytest.mark.parametrize("little", [True, False])
@pytest.mark.parametrize("encoding,pad", [("bgr8", 0), ("bgr8", 13), ("nv12", 0), ("nv12", 6),
                                          ("mono8", 3)])
def test_serialized_image_gives_the_typed_result(classifier, chelsea, encoding, pad, little):
    msg = image_msg(TS, chelsea, encoding, STAMP, "camera_optical_frame", pad=pad)
    raw = bytes(TS.serialize_cdr(msg, IMAGE, little_endian=little))
    frame = m.parse_serialized("image", raw)
    typed = TS.deserialize_cdr(raw, IMAGE)
    a = m.prepare_message(classifier, typed)
    b = m.prepare_message(classifier, frame)
    assert np.array_equal(a.nv12, b.nv12)
    assert result_bytes(classifier, typed) == result_bytes(classifier, frame)


@pytest.mark.parametrize("little", [True, False])
def test_serialized_jpeg_gives_the_typed_result(classifier, chelsea, little):
    msg = compressed_msg(TS, chelsea, STAMP, "usb_cam")
    raw = bytes(TS.serialize_cdr(msg, COMPRESSED_IMAGE, little_endian=little))
    frame = m.parse_serialized("compressed", raw)
    assert m.is_compressed(frame)
    ref = result_bytes(classifier, msg)
    assert result_bytes(classifier, frame) == ref
    top = m.classify_message(classifier, frame).top
    assert {p.class_id for p in top} & set(CAT_CLASSES)


def hbm_msg(typename, bgr, encoding, stamp_ns, step_pad=0, garbage=True, index=1):
    """An HbmMsg* of ``bgr`` in nv12 or bgr8, the unused rest of ``data`` filled with noise."""
    h, w = bgr.shape[:2]
    if encoding == "nv12":
        step = w + step_pad
        pixels = nv12_bytes(bgr, step)
    else:
        step = w * 3 + step_pad
        buf = np.zeros((h, step), np.uint8)
        buf[:, :w * 3] = bgr.reshape(h, w * 3)
        pixels = buf.reshape(-1)
    n = cdr.HBM_DATA_SIZES[typename.rsplit("/", 1)[-1]]
    data = (np.random.default_rng(index).integers(0, 256, n, np.uint8) if garbage
            else np.zeros(n, np.uint8))
    data[:pixels.size] = pixels
    enc = np.zeros(12, np.uint8)
    enc[:len(encoding)] = np.frombuffer(encoding.encode(), np.uint8)
    sec, nanosec = divmod(stamp_ns, 1_000_000_000)
    return TS.types[typename](index=index, time_stamp=TS.types["builtin_interfaces/msg/Time"](
        sec=sec, nanosec=nanosec), height=h, width=w, data_size=pixels.size, step=step,
        encoding=enc, data=data)


@pytest.mark.parametrize("encoding,pad", [("nv12", 0), ("nv12", 64), ("bgr8", 0), ("bgr8", 6)])
def test_hbm_image_is_classified_like_the_same_sensor_image(classifier, coffee_vga, encoding,
                                                            pad):
    """HbmMsg -> stamp from time_stamp, frame_id given, data_size/step honoured: the result
    equals the one of a sensor_msgs/Image with the same pixels (typed rosbags message, parsed
    bytes in both byte orders, and an rclpy-like message with array.array fields)."""
    bgr = np.ascontiguousarray(coffee_vga[:, :600]) if encoding == "bgr8" and pad else coffee_vga
    hbm = hbm_msg(HBM, bgr, encoding, STAMP, pad)   # 921600 = 640x480x3: padded bgr8 narrower
    ref_img = image_msg(TS, bgr, encoding, STAMP, "hbm_cam", pad=pad)
    ref = result_bytes(classifier, ref_img)
    assert result_bytes(classifier, hbm) == ref
    for little in (True, False):
        raw = bytes(TS.serialize_cdr(hbm, HBM, little_endian=little))
        frame = m.parse_serialized("HbmMsg480P", raw, frame_id="hbm_cam")
        assert frame.header.frame_id == "hbm_cam"
        assert (frame.header.stamp.sec, frame.header.stamp.nanosec) == divmod(STAMP, 10**9)
        assert result_bytes(classifier, frame) == ref

    class RclpyLike:  # rclpy's HbmMsg: numpy data and encoding; array.array also taken
        pass

    like = RclpyLike()
    for name in ("index", "time_stamp", "height", "width", "data_size", "step"):
        setattr(like, name, getattr(hbm, name))
    like.encoding = array.array("B", hbm.encoding.tobytes())
    like.data = array.array("B", hbm.data.tobytes())
    assert result_bytes(classifier, like) == ref
    top = m.classify_message(classifier, hbm).top
    assert top[0].class_id == ESPRESSO


def test_hbm_1080p_nv12_top5(classifier):
    bgr = cv2.resize(load_bgr(PHOTOS / "chelsea.png"), (1920, 1080))
    hbm = hbm_msg(HBM_1080P, bgr, "nv12", STAMP)
    raw = bytes(TS.serialize_cdr(hbm, HBM_1080P))
    frame = m.parse_serialized("HbmMsg1080P", raw, frame_id="hbm_cam")
    assert frame.data.size == 1920 * 1080 * 3 // 2   # only data_size of the 6220800 bytes
    assert result_bytes(classifier, frame) == result_bytes(classifier, hbm)
    assert {p.class_id for p in m.classify_message(classifier, frame).top} & set(CAT_CLASSES)


def test_hbm_bad_sizes_and_encodings_are_frame_errors(classifier, coffee_vga):
    good = hbm_msg(HBM, coffee_vga, "nv12", STAMP)
    for data_size in (0, 921601, 2**32 - 1):
        bad = TS.types[HBM](**{**good.__dict__, "data_size": data_size})
        with pytest.raises(FrameSizeError, match="data_size"):
            m.prepare_message(classifier, bad)
    short = TS.types[HBM](**{**good.__dict__, "data_size": 640 * 480})   # Y plane only
    with pytest.raises(FrameSizeError, match="NV12 buffer"):
        m.prepare_message(classifier, short)
    enc = np.zeros(12, np.uint8)
    enc[:4] = np.frombuffer(b"h264", np.uint8)
    with pytest.raises(UnsupportedEncodingError):
        m.prepare_message(classifier, TS.types[HBM](**{**good.__dict__, "encoding": enc}))
    enc[:2] = (0xc3, 0xa9)
    with pytest.raises(UnsupportedEncodingError, match="ASCII"):
        m.prepare_message(classifier, TS.types[HBM](**{**good.__dict__, "encoding": enc}))
    raw = bytes(TS.serialize_cdr(good, HBM))
    with pytest.raises(SerializedMessageError):
        m.parse_serialized("HbmMsg480P", raw[:-1])
    with pytest.raises(SerializedMessageError):   # a 1080P parser on a 480P message
        m.parse_serialized("HbmMsg1080P", raw)


def test_overlay_of_parsed_frames(classifier, chelsea):
    """The debug image is made from a parsed frame as from a typed message."""
    msg = image_msg(TS, chelsea, "nv12", STAMP, "cam")
    frame = m.parse_serialized("image", bytes(TS.serialize_cdr(msg, IMAGE)))
    top = m.classify_message(classifier, frame).top
    a = m.overlay_message(TYPES, frame, top, 320)
    b = m.overlay_message(TYPES, msg, top, 320)
    assert bytes(TS.serialize_cdr(a, IMAGE)) == bytes(TS.serialize_cdr(b, IMAGE))
