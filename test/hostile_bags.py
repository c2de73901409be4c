"""Hostile rosbag2 inputs, small on disk and large in memory, for test_bag_hostile.py and the
scale cases of bench/bench_hostile_scale.py (made with rosbags; the zstd bomb is written into a
real bag's sqlite3 table in place of its compressed message)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np

T0 = 1_700_000_000_000_000_000
PERIOD = 33_333_333
IMG, DET = "/cam/image_raw", "/cam/detections"
IMAGE = "sensor_msgs/msg/Image"


def image(ts, width: int, height: int, stamp: int):
    """A bgr8 sensor_msgs/Image of zeros (compresses to almost nothing)."""
    T = ts.types
    return T["sensor_msgs/msg/Image"](
        header=T["std_msgs/msg/Header"](
            stamp=T["builtin_interfaces/msg/Time"](sec=stamp // 10**9, nanosec=stamp % 10**9),
            frame_id="cam"),
        height=height, width=width, encoding="bgr8", is_bigendian=0, step=width * 3,
        data=np.zeros(width * height * 3, np.uint8))


def write_bag(path: Path, records, storage: str = "mcap", compression=None) -> None:
    """``records``: (topic, msgtype, timestamp, message) in record order."""
    from rosbags.rosbag2 import CompressionFormat, StoragePlugin, Writer

    from rdk_classifier.ros.rosbags_types import humble_typestore

    ts = humble_typestore()
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    w = Writer(path, version=8, storage_plugin=plugin)
    if compression is not None:
        w.set_compression(compression, CompressionFormat.ZSTD)
    with w:
        conns = {}
        for topic, msgtype, t, msg in records:
            if topic not in conns:
                conns[topic] = w.add_connection(topic, msgtype, typestore=ts)
            w.write(conns[topic], t, bytes(ts.serialize_cdr(msg, msgtype)))


def never_matching_4k(path: Path, frames: int = 64) -> None:
    """4K frames and detection sets whose stamps never match (the issue's 78 KB bag: 1.7 GB)."""
    from box_messages import detection_array
    from rosbags.rosbag2 import CompressionMode

    from rdk_classifier.ros.detections import DETECTION_2D_ARRAY
    from rdk_classifier.ros.rosbags_types import humble_typestore

    ts = humble_typestore()

    def records():
        for i in range(frames):
            stamp = T0 + i * PERIOD
            yield IMG, IMAGE, stamp, image(ts, 3840, 2160, stamp)
            yield DET, DETECTION_2D_ARRAY, stamp + 1, detection_array(
                ts, stamp + 7, [(10, 10, 100, 100, "obj", 0.9, "a")])

    write_bag(path, records(), compression=CompressionMode.STORAGE)


def huge_ids(path: Path, sets: int = 64, id_bytes: int = 40 << 20) -> None:
    """Detection sets with one huge ``id`` string each, never matched (the issue: 2.8 GB)."""
    from box_messages import detection_array
    from rosbags.rosbag2 import CompressionMode

    from rdk_classifier.ros.detections import DETECTION_2D_ARRAY
    from rdk_classifier.ros.rosbags_types import humble_typestore

    ts = humble_typestore()
    huge = "x" * id_bytes

    def records():
        for i in range(sets):
            stamp = T0 + i * PERIOD
            yield DET, DETECTION_2D_ARRAY, stamp, detection_array(
                ts, stamp + 5, [(0, 0, 10, 10, "obj", 0.5, huge)])
            yield IMG, IMAGE, stamp + 1, image(ts, 64, 48, stamp)

    write_bag(path, records(), compression=CompressionMode.STORAGE)


def zstd_bomb(path: Path, inflated: int = 1900 << 20) -> None:
    """A sqlite3 bag with message compression whose one Image message is replaced by a zstd frame
    of ``inflated`` zero bytes (about a megabyte on disk), streamed so making it costs no memory."""
    import importlib

    from rosbags.rosbag2 import CompressionMode

    from rdk_classifier.ros.rosbags_types import humble_typestore

    try:
        zstd = importlib.import_module("compression.zstd")
    except ImportError:
        zstd = importlib.import_module("backports.zstd")
    from box_messages import detection_array

    from rdk_classifier.ros.detections import DETECTION_2D_ARRAY

    ts = humble_typestore()
    write_bag(path, [(IMG, IMAGE, T0, image(ts, 64, 48, T0)),
                     (DET, DETECTION_2D_ARRAY, T0 + 1,
                      detection_array(ts, T0, [(0, 0, 10, 10, "obj", 0.5, "a")]))],
              storage="sqlite3", compression=CompressionMode.MESSAGE)
    comp = zstd.ZstdCompressor()
    block = bytes(16 << 20)
    parts = [comp.compress(block) for _ in range(inflated // len(block))]
    parts.append(comp.flush())
    db = next(path.glob("*.db3"))
    with sqlite3.connect(db) as con:
        con.execute("UPDATE messages SET data = ? WHERE timestamp = ?", (b"".join(parts), T0))


def scale_cases(work: Path, Case) -> list:
    """The bag cases of bench/bench_hostile_scale.py."""
    common = ["--backend", "cpu", "--no-progress", "--out"]
    never_matching_4k(work / "bag_4k")
    huge_ids(work / "bag_ids")
    zstd_bomb(work / "bag_bomb")
    return [
        Case("bag --detections: 64 4K frames never match",
             ["bag", str(work / "bag_4k"), "--topic", IMG, "--detections", DET,
              *common, str(work / "o1")], expect_rc=(1,),
             expect_err="no detection set matched"),
        Case("bag --detections: 64 sets with 40 MB ids",
             ["bag", str(work / "bag_ids"), "--topic", IMG, "--detections", DET,
              *common, str(work / "o2")], expect_rc=(1,), expect_err="no detection set matched"),
        Case("bag: zstd message inflating to 1.9 GB",
             ["bag", str(work / "bag_bomb"), "--topic", IMG, *common, str(work / "o3")],
             expect_err="memory budget", untouched=[work / "o3"]),
        Case("bag --detections: zstd message inflating to 1.9 GB",
             ["bag", str(work / "bag_bomb"), "--topic", IMG, "--detections", DET,
              *common, str(work / "o4")], expect_err="memory budget", untouched=[work / "o4"]),
    ]
