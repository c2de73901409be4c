"""The node's box mode: a camera paired with a detector's topic has every detector box classified.

``classifier_node`` makes one ``BoxMode`` and hands it each camera: a camera with an entry in
``detection_topics`` is served here instead of by whole-frame classification. Per such camera:
- the image subscription (sensor-data QoS, as in whole-frame mode) and a best-effort detection
  subscription (``vision_msgs/Detection2DArray``, or ``ai_msgs/PerceptionTargets`` with
  ``detection_type:=ai_msgs``) feed one ``StampMatcher``: a detection set meets its frame by exact
  header stamp, within small caches of recent frames and detections, arriving in either order;
  whatever falls out of a cache unmatched is counted (diagnostics);
- on a match, the executor thread makes the ``Frame`` (views of the buffer; a JPEG decoded
  once) and the boxes, and puts them in the camera's latest-frame worker (the same slot,
  counters, model swap and diagnostics as a whole-frame camera); the worker classifies the
  selected boxes (``regions.classify_boxes``) and publishes ``vision_msgs/Detection2DArray`` on
  ``<resolved detection topic>/classification``, and with ``publish_perception_targets`` also
  ``ai_msgs/PerceptionTargets`` on ``.../classification/targets`` (for the TROS web view).
With ``publish_perception_targets``, whole-frame cameras also publish PerceptionTargets, on
``<input topic>/classification/targets``.

Parameters (``BOX_PARAMETERS``) are read-only at run time. No rclpy import: the node passes
itself and its QoS profiles in.

Length: the box mode's parameters, stamp matching, worker and publishers for both message families,
kept out of node.py.
"""

from __future__ import annotations

import collections
import copy
import threading
import time
from dataclasses import dataclass, fields
from functools import partial
from typing import Any, Callable, Optional

from ..classifier import Result, Timing
from ..errors import BoxError, FrameError
from ..regions import (BOX_ORDERS, DEFAULT_MAX_BOXES, MAX_BOXES_LIMIT, MAX_PADDING, Box,
                       BoxFilter, FrameBoxes, classify_boxes)
from ..frames import Frame
from ..stamp_matching import DEFAULT_DETECTION_CACHE, DEFAULT_FRAME_CACHE, StampMatcher
from .detections import (DETECTION_TYPE_NAMES, DetectionTypes, boxes_from_message,
                         detection2d_array_message, detection_types_from_ros_packages,
                         perception_targets_message, stage_perfs, whole_frame_targets_message)
from .messages import check_compressed_format, frame_buffer, is_compressed, stamp_to_ns
from .settings import ParamSpec

#: appended to a detection topic (box mode) for its classified Detection2DArray
BOX_OUTPUT_SUFFIX = "/classification"
#: appended to an output topic for the same results as ai_msgs/PerceptionTargets
TARGETS_SUFFIX = "/targets"
#: a detection message with more entries than this is refused as a whole (a bad message)
MAX_DETECTIONS_PER_MESSAGE = 10_000
#: detection subscriptions: best effort (matches reliable and best-effort detectors), a few deep
DETECTION_DEPTH = 10
LOG_PERIOD = 5.0

BOX_PARAMETERS: tuple[ParamSpec, ...] = (
    ParamSpec("detection_topics", None, "string_array", "restart",
              "box mode: one detector topic per camera, in the order image_topics then "
              "compressed_topics; an empty entry (or none) keeps that camera in whole-frame "
              "mode. Results: <detection topic>/classification (vision_msgs/Detection2DArray)"),
    ParamSpec("detection_type", "vision_msgs", "string", "restart",
              "message type on detection_topics: vision_msgs (vision_msgs/Detection2DArray) or "
              "ai_msgs (ai_msgs/PerceptionTargets, TROS detectors)",
              "one of " + ", ".join(DETECTION_TYPE_NAMES)),
    ParamSpec("publish_perception_targets", False, "bool", "restart",
              "also publish the results as ai_msgs/PerceptionTargets on <output topic>/targets "
              "(box mode and whole-frame mode), for the TROS web view; needs ai_msgs"),
    ParamSpec("box_classes", None, "string_array", "restart",
              "box mode: classify only boxes whose detector class (Detection2D: the best "
              "hypothesis' class_id; PerceptionTargets: roi type, else target type) is listed; "
              "empty: all"),
    ParamSpec("box_min_size", 0, "integer", "restart",
              "box mode: boxes narrower or lower than this many pixels are not classified",
              "0..100000", int_range=(0, 100000)),
    ParamSpec("box_min_score", 0.0, "double", "restart",
              "box mode: boxes the detector scored lower are not classified", "0.0..1.0",
              float_range=(0.0, 1.0)),
    ParamSpec("box_max_count", DEFAULT_MAX_BOXES, "integer", "restart",
              "box mode: at most this many boxes per frame (chosen by box_order)",
              f"1..{MAX_BOXES_LIMIT}", int_range=(1, MAX_BOXES_LIMIT)),
    ParamSpec("box_order", "score", "string", "restart",
              "box mode: which boxes win above box_max_count: score (most confident first) or "
              "area (largest first)", "one of " + ", ".join(BOX_ORDERS)),
    ParamSpec("box_padding", 0.0, "double", "restart",
              "box mode: grow each side of a box by this fraction of its size (context), "
              "clamped to the frame", f"0.0..{MAX_PADDING}", float_range=(0.0, MAX_PADDING)),
    ParamSpec("box_frame_cache", DEFAULT_FRAME_CACHE, "integer", "restart",
              "box mode: recent frames kept waiting for their detections", "1..64",
              int_range=(1, 64)),
    ParamSpec("box_detection_cache", DEFAULT_DETECTION_CACHE, "integer", "restart",
              "box mode: detection sets kept waiting for their frame", "1..64",
              int_range=(1, 64)),
)
BOX_SPECS = {p.name: p for p in BOX_PARAMETERS}


@dataclass(frozen=True)
class BoxSettings:
    detection_topics: tuple[str, ...] = ()
    detection_type: str = "vision_msgs"
    publish_perception_targets: bool = False
    box_classes: tuple[str, ...] = ()
    box_min_size: int = 0
    box_min_score: float = 0.0
    box_max_count: int = DEFAULT_MAX_BOXES
    box_order: str = "score"
    box_padding: float = 0.0
    box_frame_cache: int = DEFAULT_FRAME_CACHE
    box_detection_cache: int = DEFAULT_DETECTION_CACHE

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> "BoxSettings":
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            v = values.get(f.name)
            if v is None:
                continue
            kind = BOX_SPECS[f.name].kind
            if kind == "string_array":
                v = tuple(str(x).strip() for x in v)
            elif kind == "double" and isinstance(v, int) and not isinstance(v, bool):
                v = float(v)
            kwargs[f.name] = v
        return cls(**kwargs)

    def box_filter(self) -> BoxFilter:
        return BoxFilter(classes=tuple(c for c in self.box_classes if c),
                         min_size=self.box_min_size, min_score=self.box_min_score,
                         max_boxes=self.box_max_count, order=self.box_order,
                         padding=self.box_padding)

    def problems(self, cameras: list[str]) -> list[str]:
        out = []
        if self.detection_type not in DETECTION_TYPE_NAMES:
            out.append(f"detection_type {self.detection_type!r} is not one of "
                       f"{', '.join(DETECTION_TYPE_NAMES)}")
        out += self.box_filter().problems()
        if len(self.detection_topics) > len(cameras):
            out.append(f"detection_topics has {len(self.detection_topics)} entries for "
                       f"{len(cameras)} camera topics ({', '.join(cameras)})")
        for name in self.detection_topics:
            if any(c.isspace() for c in name):
                out.append(f"detection topic {name!r} contains white space")
        return out

    def pairs(self, cameras: list[str]) -> dict[str, str]:
        """camera topic -> detection topic, for the cameras in box mode."""
        return {cam: det for cam, det in zip(cameras, self.detection_topics) if det}


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


@dataclass
class BoxCounts:
    """Per box-mode camera: what the boxes did (beyond the camera's frame counters)."""

    detection_sets: int = 0      # detection messages received
    bad_detection_sets: int = 0  # refused as a whole (too many entries, unreadable)
    boxes_classified: int = 0
    boxes_filtered: int = 0      # left out by box_classes / min size / min score / max count
    boxes_bad: int = 0           # empty, not finite, outside the frame


@dataclass(frozen=True)
class BoxJob:
    """A matched frame and detection set, ready for the worker."""

    frame: Frame
    boxes: list[Box]
    header: Any
    detections: Any


class _Stream:
    def __init__(self, cam: Any, detection_topic: str, matcher: StampMatcher) -> None:
        self.cam = cam
        self.detection_topic = detection_topic
        self.detection_name = detection_topic
        self.matcher = matcher
        self.detection_subscription: Any = None
        self.targets_publisher: Any = None
        self.counts = BoxCounts()
        self.lock = threading.Lock()
        self.rate = _Rate()


def region_frame_from_message(msg: Any) -> Frame:
    """A ``sensor_msgs/Image`` or ``CompressedImage`` as a ``Frame`` (a JPEG is decoded
    here, once for all its boxes). ``FrameError`` subclasses for frames that cannot be used."""
    if is_compressed(msg):
        check_compressed_format(msg.format)
        return Frame.from_encoded(frame_buffer(msg.data))
    return Frame.from_raw(frame_buffer(msg.data), int(msg.width), int(msg.height),
                                str(msg.encoding), int(msg.step) or None)


class BoxMode:
    """See the module docstring. ``problems()`` lists what keeps the node from starting."""

    def __init__(self, node: Any, values: dict[str, Any], cameras: list[str], image_qos: Any,
                 result_qos: Any, live_settings: Callable[[], Any]) -> None:
        self._node = node
        self.settings = BoxSettings.from_values(values)
        self._cameras = cameras
        self._image_qos = image_qos
        self._result_qos = result_qos
        self._live = live_settings
        self._problems = self.settings.problems(cameras)
        self._pairs = self.settings.pairs(cameras) if not self._problems else {}
        self._filter = self.settings.box_filter() if not self._problems else BoxFilter()
        self._streams: dict[int, _Stream] = {}
        self._targets_publishers: dict[int, Any] = {}
        self._rates: dict[int, _Rate] = {}
        self.types: Optional[DetectionTypes] = None
        if self._pairs or self.settings.publish_perception_targets:
            try:
                self.types = detection_types_from_ros_packages()
            except ImportError as exc:
                self._problems.append(f"box mode needs vision_msgs' detection messages and "
                                      f"geometry_msgs: {exc}")
                return
            wants_ai = (self.settings.publish_perception_targets
                        or (self._pairs and self.settings.detection_type == "ai_msgs"))
            if wants_ai and not self.types.has_ai_msgs:
                self._problems.append(
                    "ai_msgs (D-Robotics hobot_msgs) is not installed, needed by "
                    + ("detection_type:=ai_msgs" if self.settings.detection_type == "ai_msgs"
                       and self._pairs else "publish_perception_targets:=true")
                    + "; install TROS' ai_msgs or leave it off")

    def problems(self) -> list[str]:
        return list(self._problems)

    def _detection_types(self) -> DetectionTypes:
        """The message classes, there whenever a camera is paired or PerceptionTargets are
        wanted (else ``problems()`` is not empty and the node does not start)."""
        assert self.types is not None, "BoxMode used although problems() reported some"
        return self.types

    # --- wiring (called by the node while it builds its cameras) ----------------------------------
    def attach(self, cam: Any) -> bool:
        """Serve ``cam`` in box mode if a detection topic is paired with it (True): its worker,
        subscriptions and publishers are made here. False: a whole-frame camera."""
        detection_topic = self._pairs.get(cam.topic)
        if not detection_topic:
            return False
        from sensor_msgs.msg import CompressedImage, Image

        from .worker import LatestFrameWorker

        node, types = self._node, self._detection_types()
        stream = _Stream(cam, detection_topic,
                         StampMatcher(self.settings.box_frame_cache,
                                      self.settings.box_detection_cache))
        self._streams[id(cam)] = stream
        cam.worker = LatestFrameWorker(partial(self._process, stream), name=f"boxes {cam.topic}",
                                       on_error=partial(self._on_worker_error, stream))
        cam.worker.start()
        cam.subscription = node.create_subscription(
            CompressedImage if cam.compressed else Image, cam.topic,
            partial(self._on_frame, stream), self._image_qos)
        cam.input_name = cam.subscription.topic_name
        det_type = (types.PerceptionTargets if self.settings.detection_type == "ai_msgs"
                    else types.Detection2DArray)
        qos = copy.copy(self._image_qos)
        qos.depth = DETECTION_DEPTH
        stream.detection_subscription = node.create_subscription(
            det_type, detection_topic, partial(self._on_detections, stream), qos)
        stream.detection_name = stream.detection_subscription.topic_name
        cam.output_name = stream.detection_name.rstrip("/") + BOX_OUTPUT_SUFFIX
        cam.publisher = node.create_publisher(types.Detection2DArray, cam.output_name,
                                              self._result_qos)
        if self.settings.publish_perception_targets:
            stream.targets_publisher = node.create_publisher(
                types.PerceptionTargets, cam.output_name + TARGETS_SUFFIX, self._result_qos)
        return True

    def attach_whole_frame(self, cam: Any) -> None:
        """A whole-frame camera: its PerceptionTargets publisher, when wanted."""
        if self.settings.publish_perception_targets and self.types is not None:
            self._targets_publishers[id(cam)] = self._node.create_publisher(
                self.types.PerceptionTargets, cam.output_name + TARGETS_SUFFIX,
                self._result_qos)
            self._rates[id(cam)] = _Rate()

    def publish_whole_frame(self, cam: Any, header: Any, result: Result, settings: Any) -> None:
        """PerceptionTargets of a whole-frame result (no-op unless wanted)."""
        pub = self._targets_publishers.get(id(cam))
        if pub is None:
            return
        t = result.timing_ms
        start_ns = time.time_ns() - int(t.total * 1e6)
        perfs = stage_perfs(cam.classifier.model_name, stamp_to_ns(header.stamp), start_ns,
                            (t.preprocess, t.inference, t.postprocess), time.time_ns())
        pub.publish(whole_frame_targets_message(self._detection_types(), header, result.top,
                                                perfs, self._rates[id(cam)].tick(),
                                                settings.score_threshold))

    # --- executor thread: frames and detections in, matched pairs to the worker ----------------
    def _on_frame(self, stream: _Stream, msg: Any) -> None:
        match = stream.matcher.add_frame(stamp_to_ns(msg.header.stamp), msg)
        if match is not None:
            self._submit(stream, match.frame, match.detections)

    def _on_detections(self, stream: _Stream, msg: Any) -> None:
        with stream.lock:
            stream.counts.detection_sets += 1
        match = stream.matcher.add_detections(stamp_to_ns(msg.header.stamp), msg)
        if match is not None:
            self._submit(stream, match.frame, match.detections)

    def _submit(self, stream: _Stream, frame_msg: Any, detections: Any) -> None:
        cam, log = stream.cam, self._node.get_logger()
        try:
            entries = (sum(len(t.rois) for t in detections.targets)
                       if hasattr(detections, "targets") else len(detections.detections))
            if entries > MAX_DETECTIONS_PER_MESSAGE:
                raise BoxError(f"{entries} detections in one message (at most "
                               f"{MAX_DETECTIONS_PER_MESSAGE})")
            boxes = boxes_from_message(detections)
        except (BoxError, AttributeError, TypeError, ValueError) as exc:
            with stream.lock:
                stream.counts.bad_detection_sets += 1
            log.warning(f"{stream.detection_name}: detection set skipped: {exc}",
                        throttle_duration_sec=LOG_PERIOD)
            return
        try:
            frame = region_frame_from_message(frame_msg)
        except FrameError as exc:
            cam.stats.add_bad_frame()
            log.warning(f"{cam.input_name}: frame skipped ({cam.stats.bad_frames} so far): "
                        f"{exc}", throttle_duration_sec=LOG_PERIOD)
            return
        except Exception as exc:  # a bug must not end the executor's spin
            cam.add_prepare_error()
            log.error(f"{cam.input_name}: preparing a frame failed: {type(exc).__name__}: "
                      f"{exc}", throttle_duration_sec=LOG_PERIOD)
            return
        cam.worker.submit(BoxJob(frame, boxes, frame_msg.header, detections))

    # --- worker thread ---------------------------------------------------------------------------
    def _process(self, stream: _Stream, job: BoxJob) -> bool:
        t0 = time.perf_counter()
        start_ns = time.time_ns()
        settings = self._live()
        cam = stream.cam
        with cam.lock:
            clf = cam.classifier
            boxes = classify_boxes(clf, job.frame, job.boxes, self._filter, top=settings.top_k)
        types = self._detection_types()
        cam.publisher.publish(detection2d_array_message(types, job.header, job.detections,
                                                        boxes, settings.class_id_format,
                                                        settings.score_threshold))
        stages = boxes.stage_ms()
        if stream.targets_publisher is not None:
            perfs = stage_perfs(clf.model_name, stamp_to_ns(job.header.stamp), start_ns,
                                stages, time.time_ns())
            stream.targets_publisher.publish(perception_targets_message(
                types, job.header, boxes, (job.frame.width, job.frame.height), perfs,
                stream.rate.tick(), settings.score_threshold))
        self._count(stream, boxes)
        classified = boxes.classified_results()
        summary = Result(classified[0][1].top if classified else [], Timing(*stages))
        node_ms = max(0.0, (time.perf_counter() - t0) * 1e3 - stages[1] - stages[2]
                      - (stages[0] - boxes.decode_ms))
        cam.stats.add_result(summary, node_ms)
        return True

    def _count(self, stream: _Stream, boxes: FrameBoxes) -> None:
        with stream.lock:
            c = stream.counts
            c.boxes_classified += len(boxes.classified)
            c.boxes_bad += len(boxes.failed)
            c.boxes_filtered += boxes.filtered.total
        if boxes.failed:
            self._node.get_logger().warning(
                f"{stream.detection_name}: {len(boxes.failed)} box(es) not classified: "
                f"{boxes.failed[0].error}", throttle_duration_sec=LOG_PERIOD)

    def _on_worker_error(self, stream: _Stream, job: Any, exc: BaseException) -> None:
        self._node.get_logger().error(f"{stream.cam.input_name}: classifying boxes failed: "
                                      f"{type(exc).__name__}: {exc}",
                                      throttle_duration_sec=LOG_PERIOD)

    # --- reporting -------------------------------------------------------------------------------
    def counts(self, cam: Any) -> Optional[dict[str, int]]:
        """Box and matching counters of a box-mode camera (None for a whole-frame camera)."""
        stream = self._streams.get(id(cam))
        if stream is None:
            return None
        m = stream.matcher.stats()
        with stream.lock:
            c = dict(vars(stream.counts))
        c.update(matched=m.matched, frames_unmatched=m.frames_unmatched,
                 detections_unmatched=m.detections_unmatched,
                 frames_waiting=m.frames_waiting, detections_waiting=m.detections_waiting)
        return c

    def key_values(self, cam: Any) -> list[tuple[str, str]]:
        """Diagnostics lines of a box-mode camera (none for a whole-frame camera)."""
        c = self.counts(cam)
        if c is None:
            return []
        stream = self._streams[id(cam)]
        return [("detection topic", stream.detection_name),
                ("detection sets received", str(c["detection_sets"])),
                ("frames matched to detections", str(c["matched"])),
                ("frames without detections (evicted)", str(c["frames_unmatched"])),
                ("detection sets without frame (evicted)", str(c["detections_unmatched"])),
                ("bad detection sets", str(c["bad_detection_sets"])),
                ("boxes classified", str(c["boxes_classified"])),
                ("boxes left out by filters", str(c["boxes_filtered"])),
                ("bad boxes", str(c["boxes_bad"]))]


__all__ = ["BoxMode", "BoxSettings", "BoxCounts", "BoxJob", "BOX_PARAMETERS", "BOX_SPECS",
           "BOX_OUTPUT_SUFFIX", "TARGETS_SUFFIX", "region_frame_from_message"]
