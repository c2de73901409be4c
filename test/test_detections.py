"""Detector messages in and out, with real message definitions and CDR bytes (rosbags):
vision_msgs/Detection2DArray and ai_msgs/PerceptionTargets (from D-Robotics hobot_msgs)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from box_messages import detection_array, perception_targets, roundtrip
from box_scenes import scene
from ros_frames import header
from rdk_classifier.frames import Frame
from rdk_classifier.regions import Box, classify_boxes
from rdk_classifier.ros import detections as det
from rdk_classifier.ros.rosbags_types import humble_typestore

STAMP = 1_700_000_123_456_789_012


@pytest.fixture(scope="module")
def ts():
    return humble_typestore()


@pytest.fixture(scope="module")
def types(ts):
    return det.detection_types_from_typestore(ts)


@pytest.fixture(scope="module")
def the_scene():
    return scene()


def test_detection2d_array_in(ts):
    msg = roundtrip(ts, detection_array(ts, STAMP, [(101, 57, 451, 300, "cat", 0.9, "7"),
                                                    (700.5, 80.25, 600, 400, "cup", 0.1, "")]),
                    det.DETECTION_2D_ARRAY)
    a, b = det.boxes_from_message(msg)
    assert (a.x_offset, a.y_offset, a.width, a.height) == (101, 57, 451, 300)
    assert (a.class_id, a.score, a.id) == ("cat", 0.9, "7")  # the best hypothesis
    assert (b.x_offset, b.y_offset, b.class_id, b.id) == (700.5, 80.25, "cup", "")


def test_a_rotated_box_becomes_its_axis_aligned_hull(ts):
    msg = detection_array(ts, STAMP, [(100, 100, 40, 20, "x", 0.5, "r")], theta=math.pi / 2)
    (box,) = det.boxes_from_message(msg)
    assert (box.width, box.height) == pytest.approx((20, 40))
    assert (box.x_offset + box.width / 2, box.y_offset + box.height / 2) == (120, 110)


def test_perception_targets_in(ts):
    msg = roundtrip(ts, perception_targets(ts, STAMP, [(10, 20, 30, 40, "person", 0.8, 12),
                                                       (1, 2, 3, 4, "", 0.5, 0)]),
                    det.PERCEPTION_TARGETS)
    msg.targets[1].type = "car"  # roi type empty: the target's type is the class
    a, b = det.boxes_from_message(msg)
    assert (a.x_offset, a.y_offset, a.width, a.height, a.class_id, a.id) == \
        (10, 20, 30, 40, "person", "12")
    assert a.score == pytest.approx(0.8) and b.class_id == "car"


def _classified(the_scene, classifier, boxes):
    canvas, places = the_scene
    frame = Frame.from_image(canvas)
    return classify_boxes(classifier, frame, boxes, top=3)


def test_detection2d_array_out_keeps_boxes_and_ids(ts, types, the_scene, classifier):
    canvas, places = the_scene
    rects = [rect for _, rect in places[:2]]
    detections = detection_array(ts, STAMP, [(*rects[0], "animal", 0.9, "cat-1"),
                                             (5000, 0, 10, 10, "bad", 0.9, "outside"),
                                             (*rects[1], "thing", 0.8, "cup-2")])
    fb = _classified(the_scene, classifier, det.boxes_from_message(detections))
    frame_header = header(ts, STAMP, "cam_optical")
    out = roundtrip(ts, det.detection2d_array_message(types, frame_header, detections, fb, "name",
                                                      0.0), det.DETECTION_2D_ARRAY)
    assert (out.header.stamp.sec, out.header.stamp.nanosec, out.header.frame_id) == \
        (STAMP // 10**9, STAMP % 10**9, "cam_optical")
    assert [d.id for d in out.detections] == ["cat-1", "cup-2"]  # the bad box is left out
    for d, src in zip(out.detections, (detections.detections[0], detections.detections[2])):
        assert d.bbox.center.position.x == src.bbox.center.position.x
        assert (d.bbox.size_x, d.bbox.size_y) == (src.bbox.size_x, src.bbox.size_y)
        assert d.header.frame_id == "cam_optical" and len(d.results) == 3
        scores = [r.hypothesis.score for r in d.results]
        assert scores == sorted(scores, reverse=True) and 0 < scores[0] <= 1
        assert d.results[0].pose.pose.orientation.w == 1.0
    assert out.detections[1].results[0].hypothesis.class_id == "espresso"
    # index ids and a threshold
    out = det.detection2d_array_message(types, frame_header, detections, fb, "index", 0.5)
    assert out.detections[1].results[0].hypothesis.class_id == "967"
    assert all(r.hypothesis.score >= 0.5 for d in out.detections for r in d.results)


def test_perception_targets_out_for_the_web_view(ts, types, the_scene, classifier):
    canvas, places = the_scene
    rect = places[1][1]
    detections = perception_targets(ts, STAMP, [(*rect, "cup", 0.75, 42)])
    fb = _classified(the_scene, classifier, det.boxes_from_message(detections))
    perfs = det.stage_perfs("EfficientNet_Lite0_int8", STAMP, STAMP + 10**6, fb.stage_ms(),
                            STAMP + 50 * 10**6)
    msg = det.perception_targets_message(types, header(ts, STAMP, "cam"), fb,
                                         (canvas.shape[1], canvas.shape[0]), perfs, 29.6)
    out = roundtrip(ts, msg, det.PERCEPTION_TARGETS)
    assert out.fps == 30 and out.header.stamp.nanosec == STAMP % 10**9
    (target,) = out.targets
    assert target.type == "espresso" and target.track_id == 42
    (roi,) = target.rois
    assert roi.type == "espresso" and roi.confidence == pytest.approx(0.75)
    assert (roi.rect.x_offset, roi.rect.y_offset, roi.rect.width, roi.rect.height) == rect
    assert [a.type for a in target.attributes][0] == "espresso" and len(target.attributes) == 3
    assert target.attributes[0].value == pytest.approx(fb.classified[0].result.top[0].score)
    names = [p.type for p in out.perfs]
    assert names == ["EfficientNet_Lite0_int8_" + s for s in
                     ("preprocess", "predict_infer", "postprocess", "pipeline")]
    assert out.perfs[3].time_ms_duration == pytest.approx(50.0)
    assert out.perfs[1].time_ms_duration == pytest.approx(fb.stage_ms()[1])
    # a frame stamp after the publish time (sim time, a replayed bag): no negative pipeline
    late = det.stage_perfs("m", STAMP + 10**9, STAMP, (1.0, 2.0, 3.0), STAMP + 10**6)
    assert late[3].ms == 0.0 and [p.ms for p in late[:3]] == [1.0, 2.0, 3.0]


def test_detection2d_from_perception_targets(ts, types, the_scene, classifier):
    rect = the_scene[1][0][1]
    detections = perception_targets(ts, STAMP, [(*rect, "cat", 0.6, 5)])
    fb = _classified(the_scene, classifier, det.boxes_from_message(detections))
    out = roundtrip(ts, det.detection2d_array_message(types, header(ts, STAMP, "c"), detections,
                                                      fb), det.DETECTION_2D_ARRAY)
    (d,) = out.detections
    x, y, w, h = rect
    assert d.id == "5" and (d.bbox.size_x, d.bbox.size_y) == (w, h)
    assert (d.bbox.center.position.x, d.bbox.center.position.y) == (x + w / 2, y + h / 2)


def test_whole_frame_targets(ts, types, classifier, the_scene):
    result = classifier.classify_image(the_scene[0][80:480, 700:1300])
    msg = roundtrip(ts, det.whole_frame_targets_message(types, header(ts, STAMP, "c"), result.top,
                                                        fps=None), det.PERCEPTION_TARGETS)
    (target,) = msg.targets
    assert msg.fps == -1 and target.type == "espresso" and len(target.attributes) == 5
    assert (target.rois[0].rect.width, target.rois[0].rect.height) == (0, 0)


def test_rect_is_clamped_to_the_frame(types):
    from rdk_classifier.ros.detections import _rect

    r = _rect(types, Box(-5.5, 3.2, 20, 2000), (100, 80))
    assert (r.x_offset, r.y_offset, r.width, r.height) == (0, 3, 15, 77)


def test_no_ai_msgs(types, classifier, the_scene):
    import dataclasses

    plain = dataclasses.replace(types, PerceptionTargets=None, Target=None, Roi=None,
                                Attribute=None, Perf=None)
    assert not plain.has_ai_msgs
    with pytest.raises(ValueError, match="ai_msgs is not installed"):
        det.whole_frame_targets_message(plain, None, [])


def test_definitions_match_the_humble_store(ts):
    """The registered definitions agree with what rosbags derives (field names and order)."""
    cls = ts.types["vision_msgs/msg/Detection2D"]
    def names(c):
        return [f for f in c.__dataclass_fields__ if not f.startswith("__")]

    assert names(cls) == ["header", "results", "bbox", "id"]
    cls = ts.types["ai_msgs/msg/Target"]
    assert names(cls) == ["type", "track_id", "rois", "attributes", "points", "captures"]


def test_cdr_bytes_of_a_small_detection_array(ts):
    """Byte layout by the CDR rules (little endian, alignment from the end of the 4-byte
    encapsulation header), written out by hand for one detection without results."""
    import struct

    t = ts.types
    v = "vision_msgs/msg/"
    msg = t[v + "Detection2DArray"](header=header(ts, 5 * 10**9 + 6, "ab"), detections=[
        t[v + "Detection2D"](header=header(ts, 7, ""), results=[], bbox=t[v + "BoundingBox2D"](
            center=t[v + "Pose2D"](position=t[v + "Point2D"](x=1.5, y=2.5), theta=0.0),
            size_x=3.0, size_y=4.0), id="q")])
    body = struct.pack("<iI", 5, 6) + struct.pack("<I", 3) + b"ab\0"   # header: stamp, frame_id
    body += b"\0" + struct.pack("<I", 1)                              # pad to 4, one detection
    body += struct.pack("<iI", 0, 7) + struct.pack("<I", 1) + b"\0"   # its header, empty id
    body += b"\0" * 3 + struct.pack("<I", 0)                          # pad to 4, no results
    body += struct.pack("<5d", 1.5, 2.5, 0.0, 3.0, 4.0)               # at 40: 8-aligned, bbox
    body += struct.pack("<I", 2) + b"q\0"                             # id
    assert bytes(ts.serialize_cdr(msg, v + "Detection2DArray")) == b"\x00\x01\x00\x00" + body


def test_cdr_matches_rclpy_where_ros_is_installed(ts, types):
    """Under a sourced ROS 2 Humble (with ai_msgs): the bytes rclpy writes equal rosbags'."""
    pytest.importorskip("rclpy")
    ser = pytest.importorskip("rclpy.serialization")
    ai = pytest.importorskip("ai_msgs.msg")
    vm = pytest.importorskip("vision_msgs.msg")
    ros = det.detection_types_from_ros_packages()
    from rdk_classifier.ros.messages import make_header

    hdr_r = make_header(ros, STAMP, "cam")
    hdr_b = make_header(types, STAMP, "cam")

    def targets(T, hdr):
        rect = T.RegionOfInterest(x_offset=10, y_offset=20, height=40, width=30, do_rectify=False)
        return T.PerceptionTargets(
            header=hdr, fps=3, perfs=[T.Perf(type="m_pipeline", stamp_start=hdr.stamp,
                                             stamp_end=hdr.stamp, time_ms_duration=1.25)],
            targets=[T.Target(type="cat", track_id=3,
                              rois=[T.Roi(type="cat", rect=rect, confidence=0.5)],
                              attributes=[T.Attribute(type="cat", value=0.5, confidence=0.5)],
                              points=[], captures=[])], disappeared_targets=[])

    def detections(T, hdr):
        hyp = T.ObjectHypothesisWithPose(
            hypothesis=T.ObjectHypothesis(class_id="281", score=0.75),
            pose=T.PoseWithCovariance(
                pose=T.Pose(position=T.Point(x=0.0, y=0.0, z=0.0),
                            orientation=T.Quaternion(x=0.0, y=0.0, z=0.0, w=1.0)),
                covariance=np.arange(36, dtype=np.float64)))
        bbox = T.BoundingBox2D(center=T.Pose2D(position=T.Point2D(x=1.5, y=2.5), theta=0.25),
                               size_x=3.0, size_y=4.0)
        return T.Detection2DArray(header=hdr, detections=[
            T.Detection2D(header=hdr, results=[hyp], bbox=bbox, id="d1")])

    assert bytes(ser.serialize_message(targets(ros, hdr_r))) == \
        bytes(ts.serialize_cdr(targets(types, hdr_b), det.PERCEPTION_TARGETS))
    assert bytes(ser.serialize_message(detections(ros, hdr_r))) == \
        bytes(ts.serialize_cdr(detections(types, hdr_b), det.DETECTION_2D_ARRAY))
    assert ai.PerceptionTargets is ros.PerceptionTargets
    assert vm.Detection2DArray is ros.Detection2DArray
