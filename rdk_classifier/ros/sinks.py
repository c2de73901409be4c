"""The outputs of a camera: each sink publishes what it can of a job's ``camera.Outcome``.

- ``ClassificationSink``: ``vision_msgs/Classification`` of a whole frame;
- ``DetectionsSink``: ``vision_msgs/Detection2DArray`` of a frame's classified boxes;
- ``TargetsSink``: ``ai_msgs/PerceptionTargets`` of either (the TROS web view), with TROS'
  per-stage ``perfs`` and the output rate as ``fps``;
- ``DebugImageSink``: the frame with its top-k drawn, only while enabled and subscribed.

Every sink says whether it has a subscriber (``wanted``): lazy mode receives a camera only while
one of its sinks is wanted. No rclpy import.
"""

from __future__ import annotations

import collections
import threading
import time
from typing import Any

from ..errors import FrameError
from .detections import (DetectionTypes, detection2d_array_message, perception_targets_message,
                         stage_perfs, whole_frame_targets_message)
from .messages import classification_message, overlay_message, stamp_to_ns
from .camera import Outcome, Wiring
from .settings import NodeSettings, debug_topic_for

#: appended to an output topic for the same results as ai_msgs/PerceptionTargets
TARGETS_SUFFIX = "/targets"
LOG_PERIOD = 5.0


def _subscribed(publisher: Any) -> bool:
    return publisher is not None and publisher.get_subscription_count() > 0


class _PublisherSink:
    """A sink with one result publisher: wanted while that has a subscriber."""

    needs_message = False

    def __init__(self, publisher: Any, types: Any) -> None:
        self.publisher = publisher
        self._types = types

    def wanted(self, settings: NodeSettings) -> bool:
        return _subscribed(self.publisher)


class ClassificationSink(_PublisherSink):
    """``vision_msgs/Classification`` with the frame's header (whole frames only)."""

    def publish(self, outcome: Outcome, settings: NodeSettings) -> None:
        if outcome.boxes is None:
            self.publisher.publish(classification_message(
                self._types, outcome.header, outcome.result.top, settings.class_id_format,
                settings.score_threshold))


class DetectionsSink(_PublisherSink):
    """``vision_msgs/Detection2DArray``: the detector's boxes that were classified, each with its
    top-k (box mode only)."""

    def publish(self, outcome: Outcome, settings: NodeSettings) -> None:
        if outcome.boxes is not None:
            self.publisher.publish(detection2d_array_message(
                self._types, outcome.header, outcome.detections, outcome.boxes,
                settings.class_id_format, settings.score_threshold))


class _Rate:
    """Results per second over the last few seconds (the ``fps`` of PerceptionTargets)."""

    def __init__(self, window_s: float = 2.0) -> None:
        self._times: collections.deque = collections.deque(maxlen=256)
        self._window = window_s
        self._lock = threading.Lock()

    def tick(self) -> float:
        now = time.monotonic()
        with self._lock:
            self._times.append(now)
            while self._times and self._times[0] < now - self._window:
                self._times.popleft()
            if len(self._times) < 2:
                return -1.0
            span = self._times[-1] - self._times[0]
            return (len(self._times) - 1) / span if span > 0 else -1.0


class TargetsSink(_PublisherSink):
    """``ai_msgs/PerceptionTargets``: a whole frame as one target (top-1 as its type, as TROS
    classifiers do), or one target per classified box."""

    def __init__(self, publisher: Any, types: DetectionTypes) -> None:
        super().__init__(publisher, types)
        self._rate = _Rate()

    @classmethod
    def for_output(cls, wiring: Wiring, output_topic: str) -> "TargetsSink":
        types = wiring.detection_types
        return cls(wiring.publisher(types.PerceptionTargets, output_topic + TARGETS_SUFFIX),
                   types)

    def wanted(self, settings: NodeSettings) -> bool:
        return _subscribed(self.publisher)

    def publish(self, outcome: Outcome, settings: NodeSettings) -> None:
        t = outcome.result.timing_ms
        end_ns = time.time_ns()
        start_ns = outcome.start_ns or end_ns - int(t.total * 1e6)
        perfs = stage_perfs(outcome.model, stamp_to_ns(outcome.header.stamp), start_ns,
                            (t.preprocess, t.inference, t.postprocess), end_ns)
        fps = self._rate.tick()
        if outcome.boxes is None:
            msg = whole_frame_targets_message(self._types, outcome.header, outcome.result.top,
                                              perfs, fps, settings.score_threshold)
        else:
            msg = perception_targets_message(self._types, outcome.header, outcome.boxes,
                                             outcome.frame_size, perfs, fps,
                                             settings.score_threshold)
        self.publisher.publish(msg)


class DebugImageSink:
    """``<input>/classification/debug_image``: the frame with the top-k drawn, computed only
    while ``publish_debug_image`` is on and someone subscribes (the publisher appears when the
    parameter is first turned on)."""

    needs_message = True

    def __init__(self, wiring: Wiring, input_name: str) -> None:
        self._wiring = wiring
        self._topic = debug_topic_for(input_name)
        self.publisher: Any = None
        self.settings_changed(wiring.settings())

    def settings_changed(self, settings: NodeSettings) -> None:
        if settings.publish_debug_image and self.publisher is None:
            self.publisher = self._wiring.publisher(self._wiring.types.Image, self._topic,
                                                    self._wiring.camera_qos())

    def wanted(self, settings: NodeSettings) -> bool:
        return settings.publish_debug_image and _subscribed(self.publisher)

    def publish(self, outcome: Outcome, settings: NodeSettings) -> None:
        if outcome.message is None or not self.wanted(settings):
            return
        try:
            self.publisher.publish(overlay_message(self._wiring.types, outcome.message,
                                                   outcome.result.top,
                                                   settings.debug_image_max_width))
        except FrameError as exc:  # the frame classified, so this is unexpected but harmless
            self._wiring.node.get_logger().warning(f"{self._topic}: no debug image: {exc}",
                                                   throttle_duration_sec=LOG_PERIOD)


__all__ = ["ClassificationSink", "DetectionsSink", "TargetsSink", "DebugImageSink",
           "TARGETS_SUFFIX"]
