"""The bag tool on real rosbag2 files (sqlite3 and MCAP, written and read with rosbags): real
photos as bgr8, nv12 and jpeg frames in, Classification messages out, decoded with the standard
vision_msgs definitions."""

from __future__ import annotations

import argparse
import os

import numpy as np
import pytest

rosbags = pytest.importorskip("rosbags")
from rosbags.rosbag2 import Reader, StoragePlugin, Writer  # noqa: E402
from rosbags.typesys import Stores, get_types_from_msg, get_typestore  # noqa: E402

from rdk_classifier.ros.bag import BagError, classify_bag  # noqa: E402
from rdk_classifier.cli import bag as bag_cli  # noqa: E402
from rdk_classifier.class_names import load_class_names  # noqa: E402
from rdk_classifier.ros.rosbags_types import CLASSIFICATION, VISION_MSGS, humble_typestore  # noqa: E402

from ros_frames import (CAT_CLASSES, ESPRESSO, IMAGENET, PHOTOS, compressed_msg,  # noqa: E402
                        corrupt_jpeg, image_msg, imagenet_labels, load_bgr)

RAW, NV12, JPEG, OTHER = "/cam/image_raw", "/cam/nv12", "/usb/image", "/chatter"
JPEG_NAMES = ["imagenet_00_243.jpg", "imagenet_04_949.jpg", "imagenet_12_741.jpg",
              "imagenet_16_251.jpg"]
T0 = 1_700_000_000_000_000_000


def build_input(path, storage: str):
    """A bag of real photos. Header stamps and record timestamps differ on purpose (the record
    timestamp is when it was recorded, the header when it was captured)."""
    ts = humble_typestore()
    chelsea, coffee = load_bgr(PHOTOS / "chelsea.png"), load_bgr(PHOTOS / "coffee.png")
    labels = imagenet_labels()
    records = []  # (topic, msgtype, record ts, message or raw bytes, expected classes)
    t = T0
    for i, (bgr, expect) in enumerate([(chelsea, CAT_CLASSES), (coffee, [ESPRESSO])] * 2):
        t += 33_000_000
        records.append((RAW, "sensor_msgs/msg/Image", t + 2_000_000,
                        image_msg(ts, bgr, "bgr8", t, "cam_optical", pad=8 * i), expect))
        records.append((NV12, "sensor_msgs/msg/Image", t + 3_000_000,
                        image_msg(ts, bgr, "nv12", t, "cam_nv12", pad=32 * i), expect))
    for name in JPEG_NAMES:
        t += 33_000_000
        records.append((JPEG, "sensor_msgs/msg/CompressedImage", t + 1_000_000,
                        compressed_msg(ts, load_bgr(IMAGENET / name), t, "usb"), [labels[name]]))
    # two broken records on the jpeg topic: truncated CDR, and a JPEG that does not decode
    t += 33_000_000
    good = bytes(ts.serialize_cdr(compressed_msg(ts, chelsea, t, "usb"),
                                  "sensor_msgs/msg/CompressedImage"))
    records.append((JPEG, "sensor_msgs/msg/CompressedImage", t + 1_000_000, good[:40], None))
    t += 33_000_000
    records.append((JPEG, "sensor_msgs/msg/CompressedImage", t + 1_000_000,
                    compressed_msg(ts, corrupt_jpeg(chelsea), t, "usb"), None))
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    with Writer(path, version=8, storage_plugin=plugin) as w:
        conns = {topic: w.add_connection(topic, msgtype, typestore=ts)
                 for topic, msgtype in ((RAW, "sensor_msgs/msg/Image"),
                                        (NV12, "sensor_msgs/msg/Image"),
                                        (JPEG, "sensor_msgs/msg/CompressedImage"),
                                        (OTHER, "std_msgs/msg/String"))}
        w.write(conns[OTHER], T0, ts.serialize_cdr(ts.types["std_msgs/msg/String"](data="hi"),
                                                   "std_msgs/msg/String"))
        for topic, msgtype, stamp, msg, _ in records:
            raw = msg if isinstance(msg, bytes) else ts.serialize_cdr(msg, msgtype)
            w.write(conns[topic], stamp, raw)
    return records


def read_output(path):
    ts = humble_typestore()
    out: dict[str, list] = {}
    with Reader(path) as r:
        conns = {c.topic: c for c in r.connections}
        for conn, stamp, raw in r.messages():
            out.setdefault(conn.topic, []).append((stamp, ts.deserialize_cdr(raw, conn.msgtype)))
    return conns, out


@pytest.fixture(scope="module", params=["sqlite3", "mcap"])
def classified(request, tmp_path_factory):
    """Input bag in one storage, classified once into an MCAP bag."""
    base = tmp_path_factory.mktemp(f"bag_{request.param}")
    records = build_input(base / "in", request.param)
    skipped = []
    report = classify_bag(base / "in", base / "out", on_skip=skipped.append)
    return base, records, report, skipped


def test_headers_match_one_to_one_and_record_timestamps_are_kept(classified):
    base, records, report, _ = classified
    assert report.topics == {RAW: RAW + "/classification", NV12: NV12 + "/classification",
                             JPEG: JPEG + "/classification"}        # /chatter left alone
    conns, out = read_output(base / "out")
    assert set(out) == {RAW + "/classification", NV12 + "/classification",
                        JPEG + "/classification", "/label_info", "/vision_info"}
    assert (base / "out" / "out.mcap").is_file()
    for topic in (RAW, NV12, JPEG):
        assert conns[topic + "/classification"].msgtype == CLASSIFICATION
        inputs = [(stamp, msg) for t, _, stamp, msg, expect in records
                  if t == topic and expect is not None]
        outputs = out[topic + "/classification"]
        assert len(outputs) == len(inputs) == report.classified[topic]
        for (in_stamp, in_msg), (out_stamp, cls) in zip(inputs, outputs):
            assert out_stamp == in_stamp
            assert (cls.header.stamp.sec, cls.header.stamp.nanosec, cls.header.frame_id) == \
                (in_msg.header.stamp.sec, in_msg.header.stamp.nanosec, in_msg.header.frame_id)


def test_top5_is_right_for_every_frame(classified):
    base, records, _, _ = classified
    _, out = read_output(base / "out")
    for topic in (RAW, NV12, JPEG):
        expected = [expect for t, _, _, _, expect in records if t == topic and expect is not None]
        for expect, (_, cls) in zip(expected, out[topic + "/classification"]):
            ids = [int(h.class_id) for h in cls.results]
            scores = [h.score for h in cls.results]
            assert len(ids) == 5 and scores == sorted(scores, reverse=True)
            assert 0.0 < scores[0] <= 1.0 and sum(scores) <= 1.0 + 1e-6
            assert set(ids) & set(expect), (topic, ids, expect)
    chelsea_raw = out[RAW + "/classification"][0][1]
    assert int(chelsea_raw.results[0].class_id) in CAT_CLASSES


def test_label_info_and_vision_info_once(classified):
    base, records, report, _ = classified
    _, out = read_output(base / "out")
    ((stamp, label_info),) = out["/label_info"]
    ((_, vision_info),) = out["/vision_info"]
    assert stamp == T0                                  # at the start of the input
    assert [(c.class_id, c.class_name) for c in label_info.class_map] == \
        list(enumerate(load_class_names()))
    assert (vision_info.method, vision_info.database_location, vision_info.database_version) \
        == (report.model, "imagenet1k", 1)


def test_corrupt_messages_are_reported_and_skipped(classified):
    _, records, report, skipped = classified
    assert skipped == report.skipped and len(skipped) == 2
    broken = [stamp for t, _, stamp, _, expect in records if expect is None]
    assert [s.timestamp for s in skipped] == broken and {s.topic for s in skipped} == {JPEG}
    assert "corrupt message" in skipped[0].reason
    assert "decode" in skipped[1].reason


def test_output_is_decodable_with_the_definitions_stored_in_the_bag(classified):
    """A reader who has never seen vision_msgs can decode the output from the bag alone."""
    base = classified[0]
    ts = get_typestore(Stores.ROS2_HUMBLE)
    with Reader(base / "out") as r:
        for conn in r.connections:
            ts.register(get_types_from_msg(conn.msgdef.data, conn.msgtype))
        conn = next(c for c in r.connections if c.topic == RAW + "/classification")
        _, _, raw = next(r.messages(connections=[conn]))
        msg = ts.deserialize_cdr(raw, CLASSIFICATION)
    assert len(msg.results) == 5 and isinstance(msg.results[0].score, float)
    fields = {n: [f[0] for f in ts.fielddefs[n][1]] for n in VISION_MSGS}
    assert fields["vision_msgs/msg/Classification"] == ["header", "results"]
    assert fields["vision_msgs/msg/ObjectHypothesis"] == ["class_id", "score"]
    assert fields["vision_msgs/msg/LabelInfo"] == ["header", "class_map", "threshold"]


def test_existing_output_is_never_overwritten(classified, tmp_path):
    base = classified[0]
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "keep.txt").write_text("mine")
    with pytest.raises(BagError, match="exists already"):
        classify_bag(base / "in", existing)
    assert (existing / "keep.txt").read_text() == "mine"
    with pytest.raises(BagError, match="exists already"):
        classify_bag(base / "in", base / "out")


def test_topic_selection_and_errors(classified, tmp_path):
    base = classified[0]
    report = classify_bag(base / "in", tmp_path / "nv12only", [NV12], storage="sqlite3",
                          class_id_format="name", top_k=3)
    assert report.topics == {NV12: NV12 + "/classification"} and not report.skipped
    conns, out = read_output(tmp_path / "nv12only")
    assert set(out) == {NV12 + "/classification", "/label_info", "/vision_info"}
    assert (tmp_path / "nv12only" / "nv12only.db3").is_file()
    names = load_class_names()
    for _, cls in out[NV12 + "/classification"]:
        assert len(cls.results) == 3 and all(h.class_id in names for h in cls.results)
    with pytest.raises(BagError, match="not in the bag.*/cam/image_raw"):
        classify_bag(base / "in", tmp_path / "x", ["/nope"])
    with pytest.raises(BagError, match="std_msgs/msg/String"):
        classify_bag(base / "in", tmp_path / "y", [OTHER])
    with pytest.raises(BagError, match="does not exist"):
        classify_bag(tmp_path / "missing", tmp_path / "z")
    assert not any((tmp_path / n).exists() for n in ("x", "y", "z"))


class FailingOn:
    """The real classifier, except that call number ``when`` raises ``exc`` (or returns a NaN
    output when ``exc`` is "nan")."""

    def __init__(self, when: int, exc) -> None:
        from rdk_classifier.classifier import Classifier

        self.real = Classifier.from_model(backend="cpu")
        self.calls = 0
        self.when, self.exc = when, exc

    def __getattr__(self, name):
        return getattr(self.real, name)

    def classify_nv12(self, *a, **k):
        self.calls += 1
        if self.calls in self.when:
            if self.exc == "nan":
                return self.real.postprocess(np.full((1, 1000), np.nan, np.float32))
            raise self.exc
        return self.real.classify_nv12(*a, **k)


def test_one_failing_frame_costs_only_itself(classified, tmp_path):
    for k, exc in enumerate(("nan", RuntimeError("backend hiccup"))):
        out = tmp_path / f"run{k}" / "out"
        clf = FailingOn({3}, exc)
        report = classify_bag(classified[0] / "in", out, classifier=clf, on_skip=lambda s: None)
        assert report.total_classified == 11 and report.total_skipped == 3
        assert report.skipped_by_kind == {"inference error": 1, "corrupt message": 1,
                                          "bad frame": 1}
        _, msgs_out = read_output(out)
        assert sum(len(v) for k, v in msgs_out.items() if k.endswith("/classification")) == 11


def test_an_interrupt_midway_leaves_nothing_and_a_rerun_works(classified, tmp_path):
    with pytest.raises(KeyboardInterrupt):
        classify_bag(classified[0] / "in", tmp_path / "out",
                     classifier=FailingOn({4}, KeyboardInterrupt()))
    assert list(tmp_path.iterdir()) == []  # no partial bag, no stage, no lock file
    report = classify_bag(classified[0] / "in", tmp_path / "out", on_skip=lambda s: None)
    assert report.total_classified == 12


def test_a_second_run_on_the_same_output_is_refused_while_the_first_runs(classified, tmp_path):
    from rdk_classifier import safe_io

    with safe_io.exclusive_claim(tmp_path / "out"):
        with pytest.raises(BagError, match="another process"):
            classify_bag(classified[0] / "in", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_messages_of_a_selected_topic_with_another_type_are_counted(tmp_path):
    ts = humble_typestore()
    bgr = load_bgr(PHOTOS / "coffee.png")
    with Writer(tmp_path / "in", version=8, storage_plugin=StoragePlugin.MCAP) as w:
        img = w.add_connection(RAW, "sensor_msgs/msg/Image", typestore=ts)
        txt = w.add_connection(RAW, "std_msgs/msg/String", typestore=ts)
        for i in range(4):
            w.write(img, T0 + 2 * i, ts.serialize_cdr(image_msg(ts, bgr, "bgr8", T0, "c"),
                                                      "sensor_msgs/msg/Image"))
            w.write(txt, T0 + 2 * i + 1, ts.serialize_cdr(
                ts.types["std_msgs/msg/String"](data="x"), "std_msgs/msg/String"))
    for topics in (None, [RAW]):
        out = tmp_path / f"out{len(topics or [])}"
        report = classify_bag(tmp_path / "in", out, topics)
        assert report.total_classified == 4
        assert report.skipped_by_kind == {"not an image type": 4}


def test_a_damaged_input_keeps_what_was_read(classified, tmp_path):
    """Zeroed bytes in the middle of the storage file (a bad sector, a cut copy that kept the
    footer): the messages before the damage are classified and kept, the rest is counted."""
    import shutil

    src = tmp_path / "in"
    shutil.copytree(classified[0] / "in", src)
    store = next(p for p in src.iterdir() if p.suffix in (".mcap", ".db3"))
    data = bytearray(store.read_bytes())
    if store.suffix == ".db3":
        pytest.skip("sqlite3 damage is refused at open")
    at = len(data) * 97 // 100  # among the last records: some of them can no longer be read
    data[at:at + 20000] = bytes(20000)
    store.write_bytes(bytes(data))
    try:
        report = classify_bag(src, tmp_path / "out", on_skip=lambda s: None)
    except BagError as exc:  # the reader refuses the file as a whole: one clear error
        assert "cannot read bag" in str(exc) and "\n" not in str(exc)
        return
    assert report.total_classified + report.total_skipped == 14
    assert report.skipped_by_kind["unreadable input"] >= 1  # counted, not silently dropped
    assert (tmp_path / "out").is_dir()


@pytest.mark.parametrize("case", ["readonly", "dangling", "invalid", "parent_is_file"])
def test_outputs_that_cannot_be_created_are_one_line_errors(classified, tmp_path, case):
    if case == "readonly":
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        out = ro / "out"
        if os.access(ro, os.W_OK):
            pytest.skip("running as root: a read-only folder is still writable")
    elif case == "dangling":
        out = tmp_path / "out"
        out.symlink_to(tmp_path / "nowhere")
    elif case == "invalid":
        out = tmp_path / ("x" * 300)
    else:
        (tmp_path / "f").write_text("")
        out = tmp_path / "f" / "out"
    with pytest.raises(BagError) as err:
        classify_bag(classified[0] / "in", out)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "nowhere").exists()


def test_cli(classified, tmp_path, capsys):
    base = classified[0]
    parser = argparse.ArgumentParser()
    bag_cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(["bag", str(base / "in"), "--topic", RAW, "--topic", JPEG,
                              "--out", str(tmp_path / "cli"), "--storage", "sqlite3",
                              "--no-progress"])
    assert args.func(args) == 1                      # two messages were skipped
    captured = capsys.readouterr()
    assert captured.err.count("skipped:") == 2 and JPEG in captured.err
    assert f"{RAW} -> {RAW}/classification: 4 Classification messages" in captured.out
    assert "8 classified, 2 skipped" in captured.out
    assert "resize center_crop, " in captured.out  # the default model's own resize mode
    _, out = read_output(tmp_path / "cli")
    assert len(out[RAW + "/classification"]) == 4 and len(out[JPEG + "/classification"]) == 4
    args = parser.parse_args(["bag", str(base / "in"), "--out", str(tmp_path / "cli")])
    with pytest.raises(BagError):
        args.func(args)


def test_a_hostile_image_in_the_bag_is_one_bad_frame(tmp_path):
    from hostile_images import forged_jpeg, png_header_only

    ts = humble_typestore()
    good = load_bgr(IMAGENET / JPEG_NAMES[0])
    with Writer(tmp_path / "in", version=8, storage_plugin=StoragePlugin.MCAP) as w:
        conn = w.add_connection(JPEG, "sensor_msgs/msg/CompressedImage", typestore=ts)
        for i, payload in enumerate([png_header_only(), forged_jpeg(), good]):
            msg = compressed_msg(ts, payload, T0 + i, "usb", "png" if i == 0 else "jpeg")
            w.write(conn, T0 + i, ts.serialize_cdr(msg, "sensor_msgs/msg/CompressedImage"))
    skipped = []
    report = classify_bag(tmp_path / "in", tmp_path / "out", on_skip=skipped.append)
    assert report.total_classified == 1
    assert report.skipped_by_kind == {"bad frame": 2}
    assert all("pixel budget" in s.reason for s in skipped)
