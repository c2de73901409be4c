"""Detector messages as real ROS 2 Humble messages (rosbags classes): vision_msgs/Detection2DArray
and ai_msgs/PerceptionTargets, as a detector would publish them for the boxes of a frame."""

from __future__ import annotations

import numpy as np

from ros_frames import header


def detection_array(ts, stamp_ns: int, boxes, frame_id: str = "camera", theta: float = 0.0):
    """``boxes``: (x, y, w, h, class_id, score, id) tuples -> Detection2DArray (centre + size)."""
    t = ts.types
    v = "vision_msgs/msg/"
    g = "geometry_msgs/msg/"
    dets = []
    for x, y, w, h, cls, score, det_id in boxes:
        pose = t[g + "PoseWithCovariance"](
            pose=t[g + "Pose"](position=t[g + "Point"](x=0.0, y=0.0, z=0.0),
                               orientation=t[g + "Quaternion"](x=0.0, y=0.0, z=0.0, w=1.0)),
            covariance=np.zeros(36))
        results = [t[v + "ObjectHypothesisWithPose"](
            hypothesis=t[v + "ObjectHypothesis"](class_id=cls, score=score), pose=pose)]
        if score > 0.2:  # a weaker second guess, as detectors often send
            results.append(t[v + "ObjectHypothesisWithPose"](
                hypothesis=t[v + "ObjectHypothesis"](class_id="other", score=score / 2),
                pose=pose))
        bbox = t[v + "BoundingBox2D"](
            center=t[v + "Pose2D"](position=t[v + "Point2D"](x=x + w / 2, y=y + h / 2),
                                   theta=theta),
            size_x=float(w), size_y=float(h))
        dets.append(t[v + "Detection2D"](header=header(ts, stamp_ns, frame_id), results=results,
                                         bbox=bbox, id=det_id))
    return t[v + "Detection2DArray"](header=header(ts, stamp_ns, frame_id), detections=dets)


def perception_targets(ts, stamp_ns: int, boxes, frame_id: str = "camera"):
    """``boxes``: (x, y, w, h, type, confidence, track_id) -> PerceptionTargets, one roi each."""
    t = ts.types
    targets = []
    for x, y, w, h, kind, conf, track in boxes:
        rect = t["sensor_msgs/msg/RegionOfInterest"](x_offset=x, y_offset=y, height=h, width=w,
                                                     do_rectify=False)
        targets.append(t["ai_msgs/msg/Target"](
            type=kind, track_id=track,
            rois=[t["ai_msgs/msg/Roi"](type=kind, rect=rect, confidence=conf)],
            attributes=[], points=[], captures=[]))
    return t["ai_msgs/msg/PerceptionTargets"](header=header(ts, stamp_ns, frame_id), fps=30,
                                              perfs=[], targets=targets, disappeared_targets=[])


def roundtrip(ts, msg, typename):
    return ts.deserialize_cdr(bytes(ts.serialize_cdr(msg, typename)), typename)
