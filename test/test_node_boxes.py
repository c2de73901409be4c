"""The node's box mode through the rclpy stand-in (test/rclpy_standin.py) with real ROS 2 Humble
messages (rosbags classes): frames and detector messages interleaved out of order in, classified
Detection2DArray (and PerceptionTargets) out with the frames' stamps; filters, bad input,
diagnostics, whole-frame PerceptionTargets, and a missing ai_msgs."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import rclpy_standin
from box_messages import detection_array, perception_targets, roundtrip
from box_scenes import jpeg, scene
from ros_frames import compressed_msg, image_msg, nv12_bytes
from rdk_classifier.frames import Frame
from rdk_classifier.regions import Box, classify_boxes
from rdk_classifier.ros.detections import DETECTION_2D_ARRAY, PERCEPTION_TARGETS

TIMEOUT = 30.0
T0 = 1_700_000_000_000_000_000
PERIOD = 33_333_333


@pytest.fixture
def ros(monkeypatch):
    with rclpy_standin.node_harness(monkeypatch) as graph:
        yield graph


@pytest.fixture(scope="module")
def the_scene():
    return scene()


def boxes_for(places, i):
    """Detector output for frame i: a varying subset of the scene's photos."""
    chosen = [k for k in range(len(places)) if (k + i) % 3 != 0]
    return [(*places[k][1], "person" if k % 2 else "object", 0.5 + 0.05 * k, f"obj{k}")
            for k in chosen]


def test_box_mode_matches_by_stamp_out_of_order(ros, the_scene, classifier):
    canvas, places = the_scene
    node = ros.make(image_topics=["cam/image_raw"], detection_topics=["cam/detections"])
    ts = ros.typestore
    out_topic = "/cam/detections/classification"
    (pub,) = ros.publishers(out_topic)
    (det_sub,) = [s for s in ros.subscriptions("/cam/detections")]
    assert det_sub.qos_profile.reliability == rclpy_standin.ReliabilityPolicy.BEST_EFFORT
    assert ros.publishers("/cam/image_raw/classification") == []  # not in whole-frame mode
    frames = {i: image_msg(ts, canvas, "nv12", T0 + i * PERIOD, "cam_optical")
              for i in range(6)}
    dets = {i: detection_array(ts, T0 + i * PERIOD, boxes_for(places, i), "cam_optical")
            for i in range(6)}
    # a detector 0-2 frames late, one detection set before its frame, frame 4 never detected,
    # detections for a frame that never arrived
    order = [("f", 0), ("f", 1), ("d", 0), ("f", 2), ("d", 2), ("d", 1), ("d", 3), ("f", 3),
             ("f", 4), ("f", 5), ("d", 5)]
    for kind, i in order:
        if kind == "f":
            assert ros.publish("/cam/image_raw", frames[i]) == 1
        else:
            assert ros.publish("/cam/detections", dets[i]) == 1
        assert node.wait_idle(TIMEOUT)  # one job at a time: none replaced in the slot
    ros.publish("/cam/detections", detection_array(ts, T0 + 99 * PERIOD, boxes_for(places, 0)))
    got = [roundtrip(ts, m, DETECTION_2D_ARRAY) for m in ros.published(out_topic)]
    sent = [0, 2, 1, 3, 5]  # the order the matches completed in
    assert [m.header.stamp.nanosec for m in got] == [(T0 + i * PERIOD) % 10**9 for i in sent]
    h, w = canvas.shape[:2]
    for m, i in zip(got, sent):
        assert m.header.frame_id == "cam_optical"
        expected_ids = [d.id for d in dets[i].detections]
        assert [d.id for d in m.detections] == expected_ids
        # the node's answer is the core path's answer on the same frame and boxes
        boxes = [Box(*places[int(d_id[3:])][1]) for d_id in expected_ids]
        direct = classify_boxes(classifier, Frame.from_raw(frames[i].data, w, h, "nv12"),
                                boxes)
        for d, b in zip(m.detections, direct.classified):
            assert [int(r.hypothesis.class_id) for r in d.results] == \
                [p.class_id for p in b.result.top]
            assert [r.hypothesis.score for r in d.results] == \
                pytest.approx([p.score for p in b.result.top], abs=1e-6)
    c = node.counters()["/cam/image_raw"]
    assert c["published"] == 5 and c["received"] == 5 and c["bad_frames"] == 0
    box = c["boxes"]
    assert box["matched"] == 5 and box["detection_sets"] == 6
    assert box["frames_waiting"] == 1 and box["detections_waiting"] == 1  # frame 4, stamp 99
    assert box["boxes_classified"] == sum(len(dets[i].detections) for i in sent)
    # diagnostics name the counters
    ros.fire_timers()
    (diag,) = ros.published("/diagnostics")[-1:]
    kv = {v.key: v.value for v in diag.status[0].values}
    assert kv["frames matched to detections"] == "5" and kv["detection topic"] == "/cam/detections"
    assert kv["output topic"] == out_topic


def test_filters_and_perception_targets(ros, the_scene):
    canvas, places = the_scene
    node = ros.make(image_topics=["cam/image_raw"], detection_topics=["detector/targets"],
                    detection_type="ai_msgs", publish_perception_targets=True,
                    box_classes=["person"], box_max_count=1, box_order="area", box_padding=0.05)
    ts = ros.typestore
    rows = [(*rect, "person" if k % 2 else "object", 0.9, 100 + k)
            for k, (_, rect) in enumerate(places)]
    ros.publish("/detector/targets", perception_targets(ts, T0, rows, "cam"))
    ros.publish("/cam/image_raw", image_msg(ts, canvas, "bgr8", T0, "cam"))
    assert node.wait_idle(TIMEOUT)
    (d2d,) = ros.published("/detector/targets/classification")
    (targets,) = ros.published("/detector/targets/classification/targets")
    # persons are k = 1, 3, 5; the largest of them wins
    persons = [k for k in range(len(places)) if k % 2]
    best = max(persons, key=lambda k: places[k][1][2] * places[k][1][3])
    (d,) = d2d.detections
    assert d.id == str(100 + best)
    out = roundtrip(ts, targets, PERCEPTION_TARGETS)
    (t,) = out.targets
    assert t.track_id == 100 + best and t.type == t.rois[0].type == t.attributes[0].type
    assert (t.rois[0].rect.x_offset, t.rois[0].rect.width) == (places[best][1][0],
                                                               places[best][1][2])
    assert [p.type.rsplit("_", 1)[-1] for p in out.perfs] == ["preprocess", "infer",
                                                              "postprocess", "pipeline"]
    box = node.counters()["/cam/image_raw"]["boxes"]
    assert box["boxes_filtered"] == len(places) - 1 and box["boxes_classified"] == 1


def test_compressed_camera_bad_boxes_and_bad_frames(ros, the_scene):
    canvas, places = the_scene
    node = ros.make(image_topics=[""], compressed_topics=["usb/image"],
                    detection_topics=["usb/detections"])
    ts = ros.typestore
    rows = [(*places[1][1], "cup", 0.9, "good"), (5000, 5000, 10, 10, "x", 0.9, "outside"),
            (10, 10, 0, 0, "x", 0.9, "empty")]
    ros.publish("/usb/image", compressed_msg(ts, jpeg(canvas), T0, "usb"))
    ros.publish("/usb/detections", detection_array(ts, T0, rows, "usb"))
    assert node.wait_idle(TIMEOUT)
    (m,) = ros.published("/usb/detections/classification")
    assert [d.id for d in m.detections] == ["good"]
    assert m.detections[0].results[0].hypothesis.class_id == "967"
    # a corrupt JPEG: counted as a bad frame, the node goes on
    ros.publish("/usb/image", compressed_msg(ts, b"\xff\xd8garbage", T0 + 1, "usb"))
    ros.publish("/usb/detections", detection_array(ts, T0 + 1, rows[:1], "usb"))
    ros.publish("/usb/image", compressed_msg(ts, jpeg(canvas), T0 + 2, "usb"))
    ros.publish("/usb/detections", detection_array(ts, T0 + 2, rows[:1], "usb"))
    assert node.wait_idle(TIMEOUT)
    c = node.counters()["/usb/image"]
    assert c["bad_frames"] == 1 and c["published"] == 2
    assert c["boxes"]["boxes_bad"] == 2 and c["boxes"]["boxes_classified"] == 2
    warnings = " ".join(node.get_logger().messages("WARN"))
    assert "not classified" in warnings and "frame skipped" in warnings


def test_whole_frame_perception_targets(ros, the_scene):
    canvas, _ = the_scene
    node = ros.make(image_topics=["a/image_raw", "b/image_raw"], detection_topics=["", "b/dets"],
                    publish_perception_targets=True)
    ts = ros.typestore
    cup = np.ascontiguousarray(canvas[80:480, 700:1300])
    ros.publish("/a/image_raw", image_msg(ts, cup, "bgr8", T0, "a"))
    assert node.wait_idle(TIMEOUT)
    (cls,) = ros.published("/a/image_raw/classification")
    (tgt,) = ros.published("/a/image_raw/classification/targets")
    out = roundtrip(ts, tgt, PERCEPTION_TARGETS)
    assert out.header.stamp.sec == T0 // 10**9 and out.targets[0].type == "espresso"
    assert out.targets[0].attributes[0].value == pytest.approx(cls.results[0].score)
    assert ros.publishers("/b/dets/classification/targets")  # box mode camera too


def test_startup_errors(ros, monkeypatch):
    with pytest.raises(ros.module.StartupError, match="detection_topics has 2 entries"):
        ros.make(image_topics=["cam"], detection_topics=["a", "b"])
    with pytest.raises(ros.module.StartupError, match="detection_type"):
        ros.make(image_topics=["cam"], detection_topics=["a"], detection_type="yolo")
    with pytest.raises(Exception, match="box_max_count|out of range"):
        ros.make(image_topics=["cam"], detection_topics=["a"], box_max_count=0)
    monkeypatch.setitem(sys.modules, "ai_msgs.msg", None)  # ai_msgs not installed
    with pytest.raises(ros.module.StartupError, match="ai_msgs .* is not installed"):
        ros.make(image_topics=["cam"], detection_topics=["a"], detection_type="ai_msgs")
    # vision_msgs input works without ai_msgs
    node = ros.make(image_topics=["cam"], detection_topics=["a"])
    assert ros.publishers("/a/classification") and node.counters()["/cam"]["boxes"]


def test_model_switch_reaches_box_mode(ros, the_scene):
    canvas, places = the_scene
    node = ros.make(image_topics=["cam"], detection_topics=["dets"])
    ts = ros.typestore
    result = node.set_parameters([rclpy_standin.Parameter("model",
                                                          value="EfficientNet_Lite0_fp32")])[0]
    assert result.successful, result.reason
    ros.publish("/cam", image_msg(ts, canvas, "bgr8", T0, "c"))
    ros.publish("/dets", detection_array(ts, T0, [(*places[1][1], "x", 0.5, "cup")]))
    assert node.wait_idle(TIMEOUT)
    (m,) = ros.published("/dets/classification")
    assert m.detections[0].results[0].hypothesis.class_id == "967"
    assert node._cameras[0].classifier.model_name == "EfficientNet_Lite0_fp32"


def test_config_file_documents_the_box_parameters():
    """Box parameters are rows of the one parameter table: in the config file as values (the
    empty string arrays commented, as every other), under the box-mode heading."""
    from pathlib import Path

    import yaml

    from rdk_classifier.ros.settings import BOX_PARAMETERS, PARAMETERS

    assert all(spec in PARAMETERS for spec in BOX_PARAMETERS)
    assert BOX_PARAMETERS[0].name == "detection_topics"
    text = (Path(__file__).parent.parent / "config" / "classifier.yaml").read_text()
    params = yaml.safe_load(text)["/**"]["ros__parameters"]
    box_section = text[text.index("# --- box mode"):]
    for spec in BOX_PARAMETERS:
        if spec.default is None:
            assert f"# {spec.name}:" in box_section, spec.name
        else:
            assert params[spec.name] == spec.default and f"{spec.name}:" in box_section


def test_a_huge_detection_set_is_refused_as_a_whole(ros, the_scene, monkeypatch):
    from rdk_classifier.ros import box_mode

    monkeypatch.setattr(box_mode, "MAX_DETECTIONS_PER_MESSAGE", 50)
    canvas, places = the_scene
    node = ros.make(image_topics=["cam"], detection_topics=["dets"])
    ts = ros.typestore
    rows = [(*places[1][1], "x", 0.5, str(i)) for i in range(51)]
    ros.publish("/cam", image_msg(ts, canvas, "bgr8", T0, "c"))
    ros.publish("/dets", detection_array(ts, T0, rows))
    ros.publish("/cam", image_msg(ts, canvas, "bgr8", T0 + 1, "c"))
    ros.publish("/dets", detection_array(ts, T0 + 1, rows[:2]))
    assert node.wait_idle(TIMEOUT)
    (m,) = ros.published("/dets/classification")
    assert m.header.stamp.nanosec == (T0 + 1) % 10**9 and len(m.detections) == 2
    assert node.counters()["/cam"]["boxes"]["bad_detection_sets"] == 1
    assert any("51 detections" in w for w in node.get_logger().messages("WARN"))


# --- box mode is a camera like any other: raw and typed, QoS overrides, lazy, hbmem ------------
def _one_box_result(ros, node, cam_topic, det_topic, frame_msg, rows, stamp=T0):
    ros.publish(cam_topic, frame_msg)
    ros.publish(det_topic, detection_array(ros.typestore, stamp, rows, "cam"))
    assert node.wait_idle(TIMEOUT)
    return ros.published(det_topic + "/classification")[-1]


@pytest.mark.parametrize("encoding", ["nv12", "bgr8"])
def test_box_camera_raw_and_typed_subscriptions_give_identical_results(monkeypatch, the_scene,
                                                                      encoding):
    canvas, places = the_scene
    rows = [(*places[1][1], "x", 0.9, "cup"), (*places[0][1], "x", 0.8, "other")]
    got = {}
    for raw in (True, False):
        with rclpy_standin.node_harness(monkeypatch) as ros:
            node = ros.make(image_topics=["cam"], detection_topics=["dets"],
                            raw_subscriptions=raw)
            (sub,) = ros.subscriptions("/cam")
            assert sub.raw is raw                      # the camera's own subscription kind
            (det_sub,) = ros.subscriptions("/dets")
            assert det_sub.raw is False                # detector messages stay typed
            m = _one_box_result(ros, node, "/cam", "/dets",
                                image_msg(ros.typestore, canvas, encoding, T0, "cam"), rows)
            got[raw] = bytes(ros.typestore.serialize_cdr(m, DETECTION_2D_ARRAY))
            assert node.counters()["/cam"]["boxes"]["boxes_classified"] == 2
    assert got[True] == got[False]


def test_box_camera_is_lazy(ros, the_scene):
    canvas, places = the_scene
    node = ros.make(lazy=True, image_topics=["cam"], detection_topics=["dets"],
                    publish_perception_targets=True)
    (lazy_timer,) = [t for t in ros.timers() if t.timer_period_ns == 50_000_000]
    lazy_timer.fire()
    assert ros.subscriptions("/cam") == [] and ros.subscriptions("/dets") == []
    frame = image_msg(ros.typestore, canvas, "nv12", T0, "cam")
    assert ros.publish("/cam", frame) == 0             # nobody listens: not even received
    ros.subscribe("/dets/classification")
    lazy_timer.fire()
    assert len(ros.subscriptions("/cam")) == 1 and len(ros.subscriptions("/dets")) == 1
    m = _one_box_result(ros, node, "/cam", "/dets", frame, [(*places[1][1], "x", 0.9, "cup")])
    assert m.detections[0].results[0].hypothesis.class_id == "967"
    ros.unsubscribe("/dets/classification")
    lazy_timer.fire()
    assert ros.subscriptions("/cam") == [] and ros.subscriptions("/dets") == []
    ros.subscribe("/dets/classification/targets")      # the web view alone is a listener too
    lazy_timer.fire()
    assert len(ros.subscriptions("/cam")) == 1
    assert node.counters()["/cam"]["published"] == 1


def test_box_mode_on_an_hbmem_camera(monkeypatch, the_scene):
    """An HbmMsg1080P camera paired with a detector: the detector's stamps meet the message's
    time_stamp; results carry hbmem_frame_id; raw and typed alike."""
    canvas, places = the_scene
    h, w = canvas.shape[:2]
    rows = [(*places[1][1], "x", 0.9, "cup")]
    for raw in (True, False):
        with rclpy_standin.node_harness(monkeypatch, hbm=True) as ros:
            ts = ros.typestore
            node = ros.make(image_topics=[""], hbmem_topics=["hbmem_img"],
                            detection_topics=["dets"], raw_subscriptions=raw)
            data = np.zeros(6220800, np.uint8)
            pixels = nv12_bytes(canvas)
            data[:pixels.size] = pixels
            enc = np.zeros(12, np.uint8)
            enc[:4] = np.frombuffer(b"nv12", np.uint8)
            sec, nanosec = divmod(T0, 1_000_000_000)
            hbm = ts.types["hbm_img_msgs/msg/HbmMsg1080P"](
                index=1, time_stamp=ts.types["builtin_interfaces/msg/Time"](
                    sec=sec, nanosec=nanosec), height=h, width=w, data_size=pixels.size,
                step=w, encoding=enc, data=data)
            m = _one_box_result(ros, node, "/hbmem_img", "/dets", hbm, rows)
            assert m.header.frame_id == "hbmem_img"
            assert (m.header.stamp.sec, m.header.stamp.nanosec) == (sec, nanosec)
            assert [d.id for d in m.detections] == ["cup"]
            assert m.detections[0].results[0].hypothesis.class_id == "967"
            assert node.counters()["/hbmem_img"]["boxes"]["matched"] == 1
