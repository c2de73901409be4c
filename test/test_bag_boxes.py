"""``bag IN --topic IMAGES --detections DETECTIONS --out OUT`` on real rosbag2 files (rosbags):
frames of the photo scene and a detector's messages recorded out of order in, one classified
Detection2DArray per matched frame out on DETECTIONS/classification."""

from __future__ import annotations

import pytest

pytest.importorskip("rosbags")
from rosbags.rosbag2 import Reader, StoragePlugin, Writer  # noqa: E402

from box_messages import detection_array, perception_targets  # noqa: E402
from box_scenes import jpeg, scene  # noqa: E402
from ros_frames import compressed_msg, image_msg  # noqa: E402
from rdk_classifier.cli import main as cli_main  # noqa: E402
from rdk_classifier.frames import Frame  # noqa: E402
from rdk_classifier.regions import Box, classify_boxes  # noqa: E402
from rdk_classifier.ros.detections import DETECTION_2D_ARRAY, PERCEPTION_TARGETS  # noqa: E402
from rdk_classifier.ros.rosbags_types import humble_typestore  # noqa: E402

T0 = 1_700_000_000_000_000_000
PERIOD = 33_333_333
IMG, DET, JPG, TGT = "/cam/image_raw", "/cam/detections", "/usb/image", "/usb/targets"


@pytest.fixture(scope="module")
def the_scene():
    return scene()


def write_bag(path, records, storage="mcap"):
    ts = humble_typestore()
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    with Writer(path, version=8, storage_plugin=plugin) as w:
        conns = {}
        for topic, msgtype, t, msg in sorted(records, key=lambda r: r[2]):
            if topic not in conns:
                conns[topic] = w.add_connection(topic, msgtype, typestore=ts)
            w.write(conns[topic], t, bytes(ts.serialize_cdr(msg, msgtype)))


def read_bag(path):
    ts = humble_typestore()
    out = {}
    with Reader(path) as r:
        for conn, t, raw in r.messages():
            out.setdefault(conn.topic, []).append((t, ts.deserialize_cdr(raw, conn.msgtype)))
    return out


def test_bag_boxes_nv12_and_jpeg(tmp_path, the_scene, classifier, capsys):
    canvas, places = the_scene
    ts = humble_typestore()
    records, frames = [], {}
    for i in range(4):
        stamp = T0 + i * PERIOD
        frames[i] = image_msg(ts, canvas, "nv12", stamp, "cam")
        records.append((IMG, "sensor_msgs/msg/Image", stamp + 1_000_000, frames[i]))
        rows = [(*places[k][1], "obj", 0.5, f"p{k}") for k in range(len(places)) if k != i]
        # the detector is late by 1.5 frames, so detections land after the next frame
        if i != 2:  # frame 2 is never detected
            records.append((DET, DETECTION_2D_ARRAY, stamp + 50_000_000,
                            detection_array(ts, stamp, rows, "cam")))
        records.append((JPG, "sensor_msgs/msg/CompressedImage", stamp + 2_000_000,
                        compressed_msg(ts, jpeg(canvas), stamp, "usb")))
        if i == 1:  # one PerceptionTargets set, recorded before its frame
            records.append((TGT, PERCEPTION_TARGETS, stamp,
                            perception_targets(ts, stamp, [(*places[1][1], "cup", 0.9, 7)])))
    # a detection set for a frame that is not in the bag
    records.append((DET, DETECTION_2D_ARRAY, T0 + 99 * PERIOD,
                    detection_array(ts, T0 + 99 * PERIOD, [(0, 0, 10, 10, "x", 0.5, "")])))
    src, dst = tmp_path / "in", tmp_path / "out"
    write_bag(src, records)
    rc = cli_main(["bag", str(src), "--topic", IMG, "--detections", DET, "--topic", JPG,
                   "--detections", TGT, "--out", str(dst), "--backend", "cpu", "--no-progress",
                   "--class-id-format", "name"])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "unmatched: 4 frames, 1 detection sets" in text  # nv12 2, jpeg 0, 2, 3; the stray
    out = read_bag(dst)
    got = out[DET + "/classification"]
    assert [m.header.stamp.nanosec for _, m in got] == \
        [(T0 + i * PERIOD) % 10**9 for i in (0, 1, 3)]
    h, w = canvas.shape[:2]
    for (t, m), i in zip(got, (0, 1, 3)):
        assert t == T0 + i * PERIOD + 50_000_000  # the later of the two records
        ids = [d.id for d in m.detections]
        assert ids == [f"p{k}" for k in range(len(places)) if k != i]
        direct = classify_boxes(classifier, Frame.from_raw(frames[i].data, w, h, "nv12"),
                                [Box(*places[int(x[1:])][1]) for x in ids])
        assert [d.results[0].hypothesis.class_id for d in m.detections] == \
            [b.result.top[0].label for b in direct.classified]
    (t, m), = out[TGT + "/classification"]
    assert m.detections[0].id == "7" and m.detections[0].results[0].hypothesis.class_id == \
        "espresso"
    assert "/label_info" in out and "/vision_info" in out
    # the output is never replaced
    rc = cli_main(["bag", str(src), "--topic", IMG, "--detections", DET, "--out", str(dst),
                   "--backend", "cpu", "--no-progress"])
    assert rc != 0 and "exists already" in capsys.readouterr().err


def test_bag_boxes_errors(tmp_path, the_scene, capsys):
    canvas, places = the_scene
    ts = humble_typestore()
    src = tmp_path / "in"
    write_bag(src, [(IMG, "sensor_msgs/msg/Image", T0, image_msg(ts, canvas[:64, :64], "bgr8",
                                                                 T0)),
                    (DET, DETECTION_2D_ARRAY, T0 + 1,
                     detection_array(ts, T0, [(0, 0, 32, 32, "x", 0.5, "a"),
                                              (500, 500, 10, 10, "x", 0.5, "outside")]))],
              storage="sqlite3")
    rc = cli_main(["bag", str(src), "--detections", DET, "--out", str(tmp_path / "o1"),
                   "--backend", "cpu", "--no-progress"])
    assert rc != 0 and "one --topic per --detections" in capsys.readouterr().err
    rc = cli_main(["bag", str(src), "--topic", IMG, "--detections", IMG, "--out",
                   str(tmp_path / "o2"), "--backend", "cpu", "--no-progress"])
    assert rc != 0 and "not vision_msgs/msg/Detection2DArray" in capsys.readouterr().err
    rc = cli_main(["bag", str(src), "--topic", IMG, "--detections", DET, "--out",
                   str(tmp_path / "o3"), "--backend", "cpu", "--no-progress",
                   "--box-padding", "-1"])
    assert rc == 2 and "padding" in capsys.readouterr().err
    # a bad box is reported and skipped (exit 1), the good one is classified
    rc = cli_main(["bag", str(src), "--topic", IMG, "--detections", DET, "--out",
                   str(tmp_path / "o4"), "--backend", "cpu", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 1 and "box 1" in err and "outside" in err
    (_, m), = read_bag(tmp_path / "o4")[DET + "/classification"]
    assert [d.id for d in m.detections] == ["a"]


def test_bag_boxes_damaged_input_keeps_what_was_read(tmp_path, the_scene):
    """The box tool writes through the bag tool's one writer: a damaged input (zeroed bytes
    near the end of the MCAP file) keeps the pairs read before the damage and counts the rest
    as unreadable, as the whole-frame tool does."""
    import cv2

    from rdk_classifier.errors import BagError
    from rdk_classifier.ros.box_bag import classify_bag_boxes

    canvas, _ = the_scene
    small = cv2.resize(canvas, (320, 180))
    ts = humble_typestore()
    records = []
    for i in range(12):
        stamp = T0 + i * PERIOD
        records.append((IMG, "sensor_msgs/msg/Image", stamp, image_msg(ts, small, "bgr8", stamp)))
        records.append((DET, DETECTION_2D_ARRAY, stamp + 1,
                        detection_array(ts, stamp, [(10, 10, 200, 150, "obj", 0.9, "a")])))
    write_bag(tmp_path / "in", records)
    store = next((tmp_path / "in").glob("*.mcap"))
    data = bytearray(store.read_bytes())
    at = len(data) * 60 // 100   # 400 KB of zeros: over record headers, not only pixels
    data[at:at + 400_000] = bytes(400_000)
    store.write_bytes(bytes(data))
    try:
        report = classify_bag_boxes(tmp_path / "in", tmp_path / "out", [IMG], [DET],
                                    on_skip=lambda s: None)
    except BagError as exc:  # the reader refuses the file as a whole: one clear error
        assert "cannot read bag" in str(exc) and "\n" not in str(exc)
        return
    assert report.skipped_by_kind["unreadable input"] >= 1  # counted, not silently dropped
    assert 0 < report.total_classified < 12
    assert (tmp_path / "out").is_dir()
    assert len(read_bag(tmp_path / "out")[DET + "/classification"]) == report.total_classified
