"""rdk_classifier.ros.cdr against rosbags' CDR serialization of real message definitions
(sensor_msgs from rosbags' Humble typestore, hbm_img_msgs registered from their .msg text):
randomized messages in both byte orders, every field and the data offset checked, and the parsed
fields serialized again give the same bytes. Random, truncated and corrupted bytes only ever raise
SerializedMessageError."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rdk_classifier.errors import FrameError, SerializedMessageError
from rdk_classifier.ros import cdr
from rdk_classifier.ros.rosbags_types import (COMPRESSED_IMAGE, IMAGE, humble_typestore,
                                              register_hbm_img_msgs)

HBM_480P = "hbm_img_msgs/msg/HbmMsg480P"
FAST = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

TS = register_hbm_img_msgs(humble_typestore())
T = TS.types

int32 = st.integers(-2**31, 2**31 - 1)
uint32 = st.integers(0, 2**32 - 1)
# any text, including lengths that leave the next field unaligned and multi-byte UTF-8
text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"),
               max_size=13)
payload = st.binary(max_size=300)
endian = st.booleans()


def header(sec, nanosec, frame_id):
    return T["std_msgs/msg/Header"](stamp=T["builtin_interfaces/msg/Time"](sec=sec,
                                                                           nanosec=nanosec),
                                    frame_id=frame_id)


def data_offset(view: np.ndarray, buf: bytes) -> int:
    """Where a numpy view starts inside ``buf`` (it must share its memory)."""
    base = np.frombuffer(buf, np.uint8)
    assert view.size == 0 or np.shares_memory(view, base)
    return view.__array_interface__["data"][0] - base.__array_interface__["data"][0]


def image_msg(sec, nanosec, frame_id, height, width, encoding, is_bigendian, step, data):
    return T[IMAGE](header=header(sec, nanosec, frame_id), height=height, width=width,
                    encoding=encoding, is_bigendian=is_bigendian, step=step,
                    data=np.frombuffer(data, np.uint8).copy())


@FAST
@given(int32, uint32, text, uint32, uint32, text, st.integers(0, 255), uint32, payload, endian)
def test_image_matches_rosbags(sec, nanosec, frame_id, height, width, encoding, is_bigendian,
                               step, data, little):
    msg = image_msg(sec, nanosec, frame_id, height, width, encoding, is_bigendian, step, data)
    buf = bytes(TS.serialize_cdr(msg, IMAGE, little_endian=little))
    got = cdr.parse_image(buf)
    assert (got.header.stamp.sec, got.header.stamp.nanosec, got.header.frame_id) == \
        (sec, nanosec, frame_id)
    assert (got.height, got.width, got.encoding, got.is_bigendian, got.step) == \
        (height, width, encoding, is_bigendian, step)
    assert got.data.tobytes() == data
    # zero copy: the data is a view at the end of the message, after its uint32 length
    assert data_offset(got.data, buf) == len(buf) - len(data)
    assert int.from_bytes(buf[len(buf) - len(data) - 4:len(buf) - len(data)],
                          "little" if little else "big") == len(data)
    # byte-exact: the parsed fields serialize to the same bytes
    again = image_msg(got.header.stamp.sec, got.header.stamp.nanosec, got.header.frame_id,
                      got.height, got.width, got.encoding, got.is_bigendian, got.step,
                      got.data.tobytes())
    assert bytes(TS.serialize_cdr(again, IMAGE, little_endian=little)) == buf


@FAST
@given(int32, uint32, text, text, payload, endian)
def test_compressed_image_matches_rosbags(sec, nanosec, frame_id, fmt, data, little):
    msg = T[COMPRESSED_IMAGE](header=header(sec, nanosec, frame_id), format=fmt,
                              data=np.frombuffer(data, np.uint8).copy())
    buf = bytes(TS.serialize_cdr(msg, COMPRESSED_IMAGE, little_endian=little))
    got = cdr.parse_compressed_image(buf)
    assert (got.header.stamp.sec, got.header.stamp.nanosec, got.header.frame_id, got.format) \
        == (sec, nanosec, frame_id, fmt)
    assert got.data.tobytes() == data
    assert data_offset(got.data, buf) == len(buf) - len(data)


def hbm_msg(typename, index, sec, nanosec, height, width, data_size, step, encoding, data):
    n = cdr.HBM_DATA_SIZES[typename.rsplit("/", 1)[-1]]
    enc = np.zeros(12, np.uint8)
    enc[:len(encoding)] = np.frombuffer(encoding, np.uint8)
    full = np.zeros(n, np.uint8)
    full[:len(data)] = np.frombuffer(data, np.uint8)
    return T[typename](index=index, time_stamp=T["builtin_interfaces/msg/Time"](
        sec=sec, nanosec=nanosec), height=height, width=width, data_size=data_size, step=step,
        encoding=enc, data=full)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(int32, int32, uint32, uint32, uint32, uint32, uint32,
       st.text(st.characters(min_codepoint=1, max_codepoint=127), max_size=12).map(str.encode),
       payload, endian)
def test_hbm_matches_rosbags(index, sec, nanosec, height, width, data_size, step, encoding, data,
                             little):
    msg = hbm_msg(HBM_480P, index, sec, nanosec, height, width, data_size, step, encoding, data)
    buf = bytes(TS.serialize_cdr(msg, HBM_480P, little_endian=little))
    assert len(buf) == 4 + 40 + 921600
    got = cdr.hbm_parser(HBM_480P)(buf)
    assert (got.index, got.time_stamp.sec, got.time_stamp.nanosec, got.height, got.width,
            got.data_size, got.step) == (index, sec, nanosec, height, width, data_size, step)
    assert got.encoding == encoding.decode("ascii")
    assert got.data.size == 921600 and data_offset(got.data, buf) == 44
    assert got.data[:len(data)].tobytes() == data


def test_hbm_1080p_nv12_frame_at_offset_44():
    """The real size (6220844 bytes, as rclpy's serialize_message gives) and a half-used array."""
    nv12 = np.random.default_rng(0).integers(0, 256, 1920 * 1080 * 3 // 2, np.uint8)
    msg = hbm_msg("hbm_img_msgs/msg/HbmMsg1080P", 7, 1_700_000_000, 5, 1080, 1920, nv12.size,
                  1920, b"nv12", nv12.tobytes())
    buf = bytes(TS.serialize_cdr(msg, "hbm_img_msgs/msg/HbmMsg1080P"))
    assert len(buf) == 6220844
    got = cdr.parse_hbm_image(buf)
    assert got.encoding == "nv12" and got.data_size == nv12.size
    assert np.array_equal(got.data[:nv12.size], nv12) and data_offset(got.data, buf) == 44
    assert got.data.flags.writeable is False  # a view of the immutable bytes


def test_hbm_non_ascii_encoding_is_refused():
    msg = hbm_msg(HBM_480P, 1, 2, 3, 480, 640, 460800, 640, b"nv\xc3\xa9", b"")
    with pytest.raises(SerializedMessageError, match="not ASCII"):
        cdr.hbm_parser(HBM_480P)(bytes(TS.serialize_cdr(msg, HBM_480P)))


def test_unknown_hbm_type_is_rejected():
    with pytest.raises(ValueError, match="HbmMsg1080P"):
        cdr.hbm_parser("hbm_img_msgs/msg/HbmH26XFrame")


# --- untrusted bytes ------------------------------------------------------------------------------
PARSERS = [cdr.parse_image, cdr.parse_compressed_image, cdr.hbm_parser(HBM_480P)]


def valid_samples():
    img = image_msg(1, 2, "cam", 2, 3, "bgr8", 0, 9, bytes(range(18)))
    jpg = T[COMPRESSED_IMAGE](header=header(3, 4, "usb_cam"), format="jpeg",
                              data=np.arange(40, dtype=np.uint8))
    hbm = hbm_msg(HBM_480P, 1, 2, 3, 480, 640, 460800, 640, b"nv12", b"\1" * 100)
    return [(cdr.parse_image, bytes(TS.serialize_cdr(img, IMAGE, little_endian=le)))
            for le in (True, False)] + \
        [(cdr.parse_compressed_image, bytes(TS.serialize_cdr(jpg, COMPRESSED_IMAGE,
                                                             little_endian=le)))
         for le in (True, False)] + \
        [(PARSERS[2], bytes(TS.serialize_cdr(hbm, HBM_480P)))]


SAMPLES = valid_samples()


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(PARSERS), st.binary(max_size=200))
def test_random_bytes_raise_only_the_typed_error(parse, raw):
    try:
        parse(raw)
    except SerializedMessageError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(range(len(SAMPLES))), st.data())
def test_truncated_messages_raise(i, data):
    parse, buf = SAMPLES[i]
    cut = data.draw(st.integers(0, len(buf) - 1))
    with pytest.raises(SerializedMessageError):
        parse(buf[:cut])


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(range(len(SAMPLES))), st.data())
def test_lying_lengths_never_read_out_of_range(i, data):
    """Overwrite 4 bytes anywhere (a length field becomes a lie): a clean parse within the
    buffer, or the typed error."""
    parse, buf = SAMPLES[i]
    at = data.draw(st.integers(0, len(buf) - 4))
    word = data.draw(st.binary(min_size=4, max_size=4))
    bad = buf[:at] + word + buf[at + 4:]
    try:
        got = parse(bad)
    except SerializedMessageError as exc:
        assert isinstance(exc, FrameError) and "\n" not in str(exc)
        return
    assert data_offset(got.data, bad) + got.data.size <= len(bad)


def test_lying_data_length_is_a_clear_error():
    _, buf = SAMPLES[0]
    bad = buf[:-22] + (10**6).to_bytes(4, "little") + buf[-18:]   # data count 18 -> 1000000
    with pytest.raises(SerializedMessageError, match="truncated at data"):
        cdr.parse_image(bad)


def test_other_encapsulations_are_refused():
    _, buf = SAMPLES[0]
    for head in (b"\x00\x02", b"\x00\x03", b"\x00\x07", b"\x01\x01"):
        with pytest.raises(SerializedMessageError, match="not plain CDR"):
            cdr.parse_image(head + buf[2:])


def test_unterminated_or_non_utf8_strings_are_refused():
    _, buf = SAMPLES[0]
    # frame_id "cam" is at offset 12: length 4, b"cam\0"
    assert buf[12:20] == b"\x04\x00\x00\x00cam\x00"
    with pytest.raises(SerializedMessageError, match="NUL-terminated"):
        cdr.parse_image(buf[:19] + b"x" + buf[20:])
    with pytest.raises(SerializedMessageError, match="UTF-8"):
        cdr.parse_image(buf[:16] + b"\xff\xfe\xfd" + buf[19:])


def test_accepts_bytearray_and_memoryview():
    parse, buf = SAMPLES[0]
    for b in (bytearray(buf), memoryview(buf)):
        assert parse(b).data.tobytes() == bytes(range(18))
    with pytest.raises(SerializedMessageError, match="not a byte buffer"):
        parse("not bytes")
