"""Bags for Humble and for Jazzy: the bag tools write rosbag2 metadata version 8 (``humble``: Humble
and Jazzy read it) or 9 (``jazzy``: what Jazzy's rosbag2 writes), chosen by ``ros_distro`` /
``--ros-distro`` (``auto``: from ROS_DISTRO). Read back with rosbags, the way rosbag2 reads them:
``metadata.yaml``'s version and the shape of ``offered_qos_profiles`` (a YAML string up to version 8,
a YAML list in 9), and the same messages either way. Inputs recorded by Jazzy (version 9, MCAP) are
read too."""

from __future__ import annotations

import argparse

import pytest
import yaml

pytest.importorskip("rosbags")
from rosbags.rosbag2 import Reader, StoragePlugin, Writer  # noqa: E402

from rdk_classifier.cli import bag as bag_cli  # noqa: E402
from rdk_classifier.errors import BagError  # noqa: E402
from rdk_classifier.ros.bag import classify_bag  # noqa: E402
from rdk_classifier.ros.bag_format import BAG_VERSIONS, bag_version, resolve_distro  # noqa: E402
from rdk_classifier.ros.rosbags_types import humble_typestore  # noqa: E402

from ros_frames import CAT_CLASSES, ESPRESSO, PHOTOS, image_msg, load_bgr  # noqa: E402

TOPIC = "/cam/image_raw"
T0 = 1_700_000_000_000_000_000


def write_input(path, version: int, storage: str = "mcap") -> None:
    """Two real photos as bgr8 frames, in a bag of the given metadata version."""
    ts = humble_typestore()
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    with Writer(path, version=version, storage_plugin=plugin) as w:
        conn = w.add_connection(TOPIC, "sensor_msgs/msg/Image", typestore=ts)
        for i, name in enumerate(("chelsea.png", "coffee.png")):
            stamp = T0 + i * 33_000_000
            msg = image_msg(ts, load_bgr(PHOTOS / name), "bgr8", stamp, "cam")
            w.write(conn, stamp + 1_000_000, ts.serialize_cdr(msg, "sensor_msgs/msg/Image"))


def read_back(path):
    """(metadata.yaml as rosbag2 parses it, [(topic, record ts, message)])."""
    meta = yaml.safe_load((path / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    ts = humble_typestore()
    with Reader(path) as r:
        msgs = [(c.topic, t, ts.deserialize_cdr(raw, c.msgtype)) for c, t, raw in r.messages()]
    return meta, msgs


@pytest.fixture(scope="module")
def jazzy_input(tmp_path_factory):
    path = tmp_path_factory.mktemp("distro") / "in"
    write_input(path, version=9)   # as Jazzy's ros2 bag record writes: MCAP, version 9
    return path


@pytest.fixture(scope="module")
def outputs(jazzy_input):
    base = jazzy_input.parent
    reports = {d: classify_bag(jazzy_input, base / f"out_{d}", ros_distro=d)
               for d in ("humble", "jazzy")}
    return base, reports


@pytest.mark.parametrize("distro, version, qos_kind, durability", [
    ("humble", 8, str, 1),                   # rmw enum numbers inside a YAML string
    ("jazzy", 9, list, "transient_local")])  # policy names in a YAML list
def test_metadata_version_and_qos_shape(outputs, distro, version, qos_kind, durability):
    base, reports = outputs
    assert reports[distro].version == version
    meta, _ = read_back(base / f"out_{distro}")
    assert meta["version"] == version and meta["storage_identifier"] == "mcap"
    latched = [t["topic_metadata"] for t in meta["topics_with_message_count"]
               if t["topic_metadata"]["name"] == "/label_info"]
    qos = latched[0]["offered_qos_profiles"]
    assert isinstance(qos, qos_kind)
    profiles = yaml.safe_load(qos) if isinstance(qos, str) else qos
    assert [(p["durability"], p["depth"]) for p in profiles] == [(durability, 1)]


def test_both_versions_hold_the_same_results(outputs):
    base, _ = outputs
    (_, humble), (_, jazzy) = read_back(base / "out_humble"), read_back(base / "out_jazzy")
    assert len(humble) == len(jazzy) == 4   # label_info, vision_info, 2 classifications

    def key(records):
        return [(topic, t, [(h.class_id, round(h.score, 6)) for h in m.results])
                for topic, t, m in records if topic.endswith("/classification")]

    assert key(humble) == key(jazzy)
    tops = [m.results[0].class_id for topic, _, m in humble if topic.endswith("/classification")]
    assert tops[0] in {str(c) for c in CAT_CLASSES} and tops[1] == str(ESPRESSO)


def test_the_jazzy_input_was_read_whole(outputs):
    _, reports = outputs
    assert reports["humble"].classified == {TOPIC: 2} and not reports["humble"].skipped


@pytest.mark.parametrize("env, expected", [
    ({"ROS_DISTRO": "jazzy"}, "jazzy"), ({"ROS_DISTRO": "rolling"}, "jazzy"),
    ({"ROS_DISTRO": "humble"}, "humble"), ({"ROS_DISTRO": "foxy"}, "humble"), ({}, "humble")])
def test_auto_follows_the_sourced_distro(env, expected):
    assert resolve_distro("auto", env) == expected
    assert bag_version("auto", env) == BAG_VERSIONS[expected]
    assert resolve_distro("humble", {"ROS_DISTRO": "jazzy"}) == "humble"   # explicit wins


def test_unknown_distro_is_refused_before_any_work(jazzy_input, tmp_path):
    with pytest.raises(BagError, match="auto, humble, jazzy"):
        classify_bag(jazzy_input, tmp_path / "out", ros_distro="iron")
    assert not (tmp_path / "out").exists()


def test_cli_auto_under_a_sourced_jazzy(jazzy_input, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ROS_DISTRO", "jazzy")
    parser = argparse.ArgumentParser()
    bag_cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(["bag", str(jazzy_input), "--out", str(tmp_path / "cli"),
                              "--storage", "sqlite3", "--no-progress"])
    assert args.ros_distro == "auto"
    assert args.func(args) == 0
    assert "rosbag2 metadata version 9" in capsys.readouterr().out
    meta, msgs = read_back(tmp_path / "cli")
    assert (meta["version"], meta["storage_identifier"], len(msgs)) == (9, "sqlite3", 4)
