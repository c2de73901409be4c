"""Detector messages in, classified boxes out: ``vision_msgs/Detection2DArray`` and, where the
D-Robotics ``ai_msgs`` package is there, ``ai_msgs/PerceptionTargets`` (what TROS detectors
publish and the TROS web view draws).

Written against message fields only, so rclpy messages and rosbags messages both work; nothing
here imports rclpy or rosbags. The classes outputs are built with come in a ``DetectionTypes``,
from the installed ROS packages (``detection_types_from_ros_packages``; ai_msgs optional) or from
a rosbags typestore (``detection_types_from_typestore``; ``rosbags_types.humble_typestore``
registers the .msg texts).

In: every detection (every ``targets[].rois[]`` entry) becomes a ``regions.Box`` with the
detector's class, score and id. Out: one ``Detection2D`` per classified box, with the input's
``bbox`` and ``id`` kept, the frame's header, and ``results`` = the classifier's top-k as
``ObjectHypothesisWithPose``; or one ``Target`` per classified box whose ``type`` is the top-1
class name, whose single ``Roi`` is the box, and whose ``attributes`` are the top-k (type = class
name, value and confidence = probability), with TROS-style per-stage ``perfs``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Optional, Sequence

import numpy as np

from ..classifier import Prediction
from ..regions import Box, FrameBoxes
from .messages import CLASS_ID_FORMATS, copy_header

DETECTION_2D_ARRAY = "vision_msgs/msg/Detection2DArray"
PERCEPTION_TARGETS = "ai_msgs/msg/PerceptionTargets"
DETECTION_TYPE_NAMES = {"vision_msgs": DETECTION_2D_ARRAY, "ai_msgs": PERCEPTION_TARGETS}

_UINT32_MAX = 2**32 - 1
_UINT64_MAX = 2**64 - 1


@dataclass(frozen=True)
class DetectionTypes:
    """The message classes detection outputs are built with (keyword construction, all fields)."""

    Time: type
    Header: type
    RegionOfInterest: type
    Detection2DArray: type
    Detection2D: type
    ObjectHypothesisWithPose: type
    ObjectHypothesis: type
    BoundingBox2D: type
    Pose2D: type
    Point2D: type
    PoseWithCovariance: type
    Pose: type
    Point: type
    Quaternion: type
    PerceptionTargets: Optional[type] = None
    Target: Optional[type] = None
    Roi: Optional[type] = None
    Attribute: Optional[type] = None
    Perf: Optional[type] = None

    @property
    def has_ai_msgs(self) -> bool:
        return self.PerceptionTargets is not None


@dataclass(frozen=True)
class _AiTypes:
    """The ai_msgs classes of a ``DetectionTypes`` that has them (``_require_ai``)."""

    PerceptionTargets: type
    Target: type
    Roi: type
    Attribute: type
    Perf: type


def detection_types_from_ros_packages() -> DetectionTypes:
    """From the installed ROS 2 packages; the ai_msgs fields stay None where ai_msgs is missing."""
    from builtin_interfaces.msg import Time
    from geometry_msgs.msg import Point, Pose, PoseWithCovariance, Quaternion
    from sensor_msgs.msg import RegionOfInterest
    from std_msgs.msg import Header
    from vision_msgs.msg import (BoundingBox2D, Detection2D, Detection2DArray, ObjectHypothesis,
                                 ObjectHypothesisWithPose, Point2D, Pose2D)

    ai: dict = {}
    try:
        from ai_msgs.msg import Attribute, PerceptionTargets, Perf, Roi, Target
        ai = dict(PerceptionTargets=PerceptionTargets, Target=Target, Roi=Roi,
                  Attribute=Attribute, Perf=Perf)
    except ImportError:
        pass
    return DetectionTypes(Time=Time, Header=Header, RegionOfInterest=RegionOfInterest,
                          Detection2DArray=Detection2DArray, Detection2D=Detection2D,
                          ObjectHypothesisWithPose=ObjectHypothesisWithPose,
                          ObjectHypothesis=ObjectHypothesis, BoundingBox2D=BoundingBox2D,
                          Pose2D=Pose2D, Point2D=Point2D, PoseWithCovariance=PoseWithCovariance,
                          Pose=Pose, Point=Point, Quaternion=Quaternion, **ai)


def detection_types_from_typestore(typestore: Any) -> DetectionTypes:
    """From a rosbags typestore with the detection messages registered
    (``rosbags_types.register_detection_msgs``)."""
    t = typestore.types
    ai: dict = {}
    if PERCEPTION_TARGETS in t:
        ai = dict(PerceptionTargets=t[PERCEPTION_TARGETS], Target=t["ai_msgs/msg/Target"],
                  Roi=t["ai_msgs/msg/Roi"], Attribute=t["ai_msgs/msg/Attribute"],
                  Perf=t["ai_msgs/msg/Perf"])
    v = "vision_msgs/msg/"
    g = "geometry_msgs/msg/"
    return DetectionTypes(Time=t["builtin_interfaces/msg/Time"], Header=t["std_msgs/msg/Header"],
                          RegionOfInterest=t["sensor_msgs/msg/RegionOfInterest"],
                          Detection2DArray=t[v + "Detection2DArray"],
                          Detection2D=t[v + "Detection2D"],
                          ObjectHypothesisWithPose=t[v + "ObjectHypothesisWithPose"],
                          ObjectHypothesis=t[v + "ObjectHypothesis"],
                          BoundingBox2D=t[v + "BoundingBox2D"], Pose2D=t[v + "Pose2D"],
                          Point2D=t[v + "Point2D"], PoseWithCovariance=t[g + "PoseWithCovariance"],
                          Pose=t[g + "Pose"], Point=t[g + "Point"], Quaternion=t[g + "Quaternion"],
                          **ai)


# --- detections in --------------------------------------------------------------------------------
def is_perception_targets(msg: Any) -> bool:
    return hasattr(msg, "targets") and not hasattr(msg, "detections")


def box_of_detection(det: Any) -> Box:
    """A ``vision_msgs/Detection2D`` as a Box: the axis-aligned hull of its (possibly rotated)
    bbox, the class and score of its best hypothesis, its id."""
    bb = det.bbox
    cx, cy = float(bb.center.position.x), float(bb.center.position.y)
    w, h, theta = float(bb.size_x), float(bb.size_y), float(bb.center.theta)
    if theta and math.isfinite(theta):
        c, s = abs(math.cos(theta)), abs(math.sin(theta))
        w, h = w * c + h * s, w * s + h * c
    class_id, score = "", None
    best = None
    for r in det.results:
        hyp = r.hypothesis
        if best is None or float(hyp.score) > float(best.score):
            best = hyp
    if best is not None:
        class_id, score = str(best.class_id), float(best.score)
    return Box.from_center(cx, cy, w, h, class_id=class_id, score=score, id=str(det.id))


def boxes_from_detection2d_array(msg: Any) -> list[Box]:
    return [box_of_detection(d) for d in msg.detections]


def boxes_from_perception_targets(msg: Any) -> list[Box]:
    """Every ``targets[].rois[]`` in order: class = the roi's type, else the target's type;
    score = the roi's confidence; id = the target's track_id."""
    out = []
    for target in msg.targets:
        for roi in target.rois:
            r = roi.rect
            out.append(Box(float(r.x_offset), float(r.y_offset), float(r.width),
                           float(r.height), class_id=str(roi.type or target.type),
                           score=float(roi.confidence), id=str(target.track_id)))
    return out


def boxes_from_message(msg: Any) -> list[Box]:
    """Boxes of a Detection2DArray or a PerceptionTargets."""
    if is_perception_targets(msg):
        return boxes_from_perception_targets(msg)
    return boxes_from_detection2d_array(msg)


def _source_items(msg: Any) -> list[tuple[Any, Any]]:
    """(detection or target, roi or None) in the order ``boxes_from_message`` lists boxes."""
    if is_perception_targets(msg):
        return [(t, roi) for t in msg.targets for roi in t.rois]
    return [(d, None) for d in msg.detections]


# --- results out ----------------------------------------------------------------------------------
def _class_id(p: Prediction, class_id_format: str) -> str:
    if class_id_format not in CLASS_ID_FORMATS:
        raise ValueError(f"class_id_format must be one of {', '.join(CLASS_ID_FORMATS)}, "
                         f"got {class_id_format!r}")
    return p.label if class_id_format == "name" else str(p.class_id)


def _identity_pose(types: DetectionTypes) -> Any:
    return types.PoseWithCovariance(
        pose=types.Pose(position=types.Point(x=0.0, y=0.0, z=0.0),
                        orientation=types.Quaternion(x=0.0, y=0.0, z=0.0, w=1.0)),
        covariance=np.zeros(36, np.float64))


def hypotheses_with_pose(types: DetectionTypes, predictions: Iterable[Prediction],
                         class_id_format: str = "index", score_threshold: float = 0.0) -> list:
    return [types.ObjectHypothesisWithPose(
                hypothesis=types.ObjectHypothesis(class_id=_class_id(p, class_id_format),
                                                  score=float(p.score)),
                pose=_identity_pose(types))
            for p in predictions if p.score >= score_threshold]


def _bbox_of_box(types: DetectionTypes, box: Box) -> Any:
    return types.BoundingBox2D(
        center=types.Pose2D(position=types.Point2D(x=box.x_offset + box.width / 2,
                                                   y=box.y_offset + box.height / 2),
                            theta=0.0),
        size_x=float(box.width), size_y=float(box.height))


def detection2d_array_message(types: DetectionTypes, header: Any, detections_msg: Any,
                              frame_boxes: FrameBoxes, class_id_format: str = "index",
                              score_threshold: float = 0.0) -> Any:
    """One ``Detection2D`` per classified box, in the detector's order: the input's bbox and id
    (for PerceptionTargets input: the roi as a bbox, the track_id as id), the frame's header,
    the top-k as results."""
    sources = _source_items(detections_msg)
    dets = []
    for b, result in frame_boxes.classified_results():
        src, roi = sources[b.index]
        if roi is None:
            bbox, det_id = src.bbox, str(src.id)
        else:
            bbox, det_id = _bbox_of_box(types, b.box), str(src.track_id)
        dets.append(types.Detection2D(
            header=copy_header(types, header),
            results=hypotheses_with_pose(types, result.top, class_id_format, score_threshold),
            bbox=bbox, id=det_id))
    return types.Detection2DArray(header=copy_header(types, header), detections=dets)


def _rect(types: DetectionTypes, box: Box, frame_size: Optional[tuple[int, int]]) -> Any:
    """The box as a RegionOfInterest (whole pixels, clamped to the frame / to uint32)."""
    w_max, h_max = frame_size if frame_size else (_UINT32_MAX, _UINT32_MAX)
    x0 = min(max(0, math.floor(box.x_offset)), w_max)
    y0 = min(max(0, math.floor(box.y_offset)), h_max)
    x1 = min(max(x0, math.ceil(box.x_offset + box.width)), w_max)
    y1 = min(max(y0, math.ceil(box.y_offset + box.height)), h_max)
    return types.RegionOfInterest(x_offset=x0, y_offset=y0, height=y1 - y0, width=x1 - x0,
                                  do_rectify=False)


def _track_id(box_id: str) -> int:
    return int(box_id) if box_id.isdigit() and int(box_id) <= _UINT64_MAX else 0


def _attributes(ai: _AiTypes, predictions: Sequence[Prediction],
                score_threshold: float) -> list:
    return [ai.Attribute(type=p.label, value=float(p.score), confidence=float(p.score))
            for p in predictions if p.score >= score_threshold]


def _target(ai: _AiTypes, predictions: Sequence[Prediction], rect: Any,
            confidence: float, track_id: int, score_threshold: float) -> Any:
    label = predictions[0].label if predictions else ""
    return ai.Target(type=label, track_id=track_id,
                     rois=[ai.Roi(type=label, rect=rect, confidence=float(confidence))],
                     attributes=_attributes(ai, predictions, score_threshold),
                     points=[], captures=[])


@dataclass(frozen=True)
class StagePerf:
    """One TROS ``Perf`` entry: a stage name, wall-clock start and end (ns) and its duration."""

    name: str
    start_ns: int
    end_ns: int
    ms: float


def stage_perfs(model_name: str, header_stamp_ns: int, start_ns: int, stages_ms: Sequence[float],
                end_ns: int) -> list[StagePerf]:
    """TROS' perf entries (``<model>_preprocess``, ``_predict_infer``, ``_postprocess``,
    ``_pipeline``): the three stage sums laid end to end from ``start_ns``, and the pipeline from
    the frame's stamp to ``end_ns`` (publish), as dnn_node reports them."""
    out, t = [], int(start_ns)
    for suffix, ms in zip(("_preprocess", "_predict_infer", "_postprocess"), stages_ms):
        out.append(StagePerf(model_name + suffix, t, t + int(ms * 1e6), float(ms)))
        t += int(ms * 1e6)
    # a stamp that is not wall-clock time (simulation, a replayed bag) would give nonsense: 0
    out.append(StagePerf(model_name + "_pipeline", int(header_stamp_ns), int(end_ns),
                         max(0.0, (int(end_ns) - int(header_stamp_ns)) / 1e6)))
    return out


def _time(types: DetectionTypes, ns: int) -> Any:
    sec, nanosec = divmod(max(0, int(ns)), 1_000_000_000)
    return types.Time(sec=sec, nanosec=nanosec)


def _perfs(types: DetectionTypes, ai: _AiTypes, perfs: Sequence[StagePerf]) -> list:
    return [ai.Perf(type=p.name, stamp_start=_time(types, p.start_ns),
                    stamp_end=_time(types, p.end_ns), time_ms_duration=float(p.ms))
            for p in perfs]


def _require_ai(types: DetectionTypes) -> _AiTypes:
    if (types.PerceptionTargets is None or types.Target is None or types.Roi is None
            or types.Attribute is None or types.Perf is None):
        raise ValueError("ai_msgs is not installed: PerceptionTargets cannot be built "
                         "(build D-Robotics hobot_msgs' ai_msgs, or leave the option off)")
    return _AiTypes(types.PerceptionTargets, types.Target, types.Roi, types.Attribute, types.Perf)


def _fps(fps: Optional[float]) -> int:
    return -1 if fps is None or not math.isfinite(fps) else max(-1, min(32767, int(round(fps))))


def perception_targets_message(types: DetectionTypes, header: Any, frame_boxes: FrameBoxes,
                               frame_size: Optional[tuple[int, int]] = None,
                               perfs: Sequence[StagePerf] = (), fps: Optional[float] = None,
                               score_threshold: float = 0.0) -> Any:
    """One ``Target`` per classified box (see the module docstring); ``fps`` -1 when unknown."""
    ai = _require_ai(types)
    targets = [_target(ai, result.top, _rect(types, b.box, frame_size),
                       b.box.score if b.box.score is not None else 0.0, _track_id(b.box.id),
                       score_threshold)
               for b, result in frame_boxes.classified_results()]
    return ai.PerceptionTargets(header=copy_header(types, header), fps=_fps(fps),
                                perfs=_perfs(types, ai, perfs), targets=targets,
                                disappeared_targets=[])


def whole_frame_targets_message(types: DetectionTypes, header: Any,
                                predictions: Sequence[Prediction],
                                perfs: Sequence[StagePerf] = (), fps: Optional[float] = None,
                                score_threshold: float = 0.0) -> Any:
    """A whole-frame classification as TROS' own classifiers publish it: one ``Target`` whose
    type is the top-1 class name, with a zero-size roi (no box) and the top-k as attributes."""
    ai = _require_ai(types)
    rect = types.RegionOfInterest(x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)
    target = _target(ai, predictions, rect, predictions[0].score if predictions else 0.0, 0,
                     score_threshold)
    return ai.PerceptionTargets(header=copy_header(types, header), fps=_fps(fps),
                                perfs=_perfs(types, ai, perfs), targets=[target],
                                disappeared_targets=[])


__all__ = ["DETECTION_2D_ARRAY", "PERCEPTION_TARGETS", "DETECTION_TYPE_NAMES",
           "DetectionTypes",
           "detection_types_from_ros_packages", "detection_types_from_typestore",
           "is_perception_targets", "box_of_detection", "boxes_from_detection2d_array",
           "boxes_from_perception_targets", "boxes_from_message", "hypotheses_with_pose",
           "detection2d_array_message", "StagePerf", "stage_perfs", "perception_targets_message",
           "whole_frame_targets_message"]
