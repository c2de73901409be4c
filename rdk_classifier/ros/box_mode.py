"""Box mode: the frame handler of a camera paired with a detector's topic (``detection_topics``).

The camera (``camera.Camera``) receives its frames as in whole-frame mode (raw or typed, QoS
overrides, lazy, hbmem). This handler adds a best-effort subscription to the detector's
``vision_msgs/Detection2DArray`` (or ``ai_msgs/PerceptionTargets`` with
``detection_type:=ai_msgs``) and matches each detection set to its frame by exact header stamp
(``StampMatcher``: small caches of recent frames and detections, in either order; what falls out
unmatched is counted). A match becomes one job, made on the executor thread: the ``Frame`` (views
of the buffer; a JPEG decoded once, at full size) and the boxes. The camera's runner classifies
the selected boxes (``regions.classify_boxes``); the sinks publish ``Detection2DArray`` on
``<resolved detection topic>/classification`` and, with ``publish_perception_targets``,
``PerceptionTargets`` on ``.../classification/targets``.
"""

from __future__ import annotations

import copy
import threading
import time
from dataclasses import dataclass
from typing import Any, Optional

from ..classifier import Classifier, Result, Timing
from ..errors import BoxError
from ..frames import Frame
from ..regions import Box, BoxFilter, FrameBoxes, classify_boxes
from .. import budget
from ..stamp_matching import StampMatcher, message_nbytes
from .camera import Camera, Outcome, Wiring
from .detections import boxes_from_message
from .messages import message_frame, stamp_to_ns
from .settings import NodeSettings
from .sinks import DetectionsSink, TargetsSink

#: appended to a detection topic (box mode) for its classified Detection2DArray
BOX_OUTPUT_SUFFIX = "/classification"
#: a detection message with more entries than this is refused as a whole (a bad message)
MAX_DETECTIONS_PER_MESSAGE = 10_000
#: detection subscriptions: best effort (matches reliable and best-effort detectors), a few deep
DETECTION_DEPTH = 10
LOG_PERIOD = 5.0


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
    """A matched frame and detection set, ready for the runner."""

    frame: Frame
    boxes: list[Box]
    header: Any
    detections: Any


def detection_entries(detections: Any) -> int:
    """How many boxes a Detection2DArray / PerceptionTargets message holds."""
    if hasattr(detections, "targets"):
        return sum(len(t.rois) for t in detections.targets)
    return len(detections.detections)


class Boxes:
    """The box-mode handler of one camera (see the module docstring)."""

    name = "boxes"

    def __init__(self, detection_topic: str, settings: NodeSettings) -> None:
        self.detection_topic = detection_topic
        self.detection_name = detection_topic
        self._filter: BoxFilter = settings.box_filter()
        self._ai_msgs = settings.detection_type == "ai_msgs"
        # bounded by count (the parameters) and by bytes (the memory budget: a few 4K frames or
        # detection sets with huge strings must not add up to gigabytes)
        share = budget.memory_budget()
        self.matcher: StampMatcher[Any, Any] = StampMatcher(
            settings.box_frame_cache, settings.box_detection_cache,
            frame_max_bytes=share // 2, detection_max_bytes=share // 4)
        self._counts = BoxCounts()
        self._lock = threading.Lock()
        self._subscription: Any = None
        self._log: Any = None

    # --- wiring ----------------------------------------------------------------------------------
    def wire(self, cam: Camera, wiring: Wiring) -> None:
        types = wiring.detection_types
        self._wiring = wiring
        self._log = wiring.node.get_logger()
        self.detection_name = wiring.node.resolve_topic_name(self.detection_topic)
        cam.output_name = self.detection_name.rstrip("/") + BOX_OUTPUT_SUFFIX
        cam.publisher = wiring.publisher(types.Detection2DArray, cam.output_name)
        cam.sinks.append(DetectionsSink(cam.publisher, types))
        if wiring.settings().publish_perception_targets:
            cam.sinks.append(TargetsSink.for_output(wiring, cam.output_name))

    def subscribe(self, cam: Camera) -> None:
        w = self._wiring
        qos = copy.copy(w.camera_qos())
        qos.depth = DETECTION_DEPTH
        det_type = (w.detection_types.PerceptionTargets if self._ai_msgs
                    else w.detection_types.Detection2DArray)
        self._subscription = w.node.create_subscription(
            det_type, self.detection_topic, lambda msg: self._on_detections(cam, msg), qos)

    def unsubscribe(self, cam: Camera) -> None:
        if self._subscription is not None:
            self._wiring.node.destroy_subscription(self._subscription)
            self._subscription = None

    # --- executor thread: frames and detections in, matched pairs out as jobs --------------------
    def on_frame(self, cam: Camera, msg: Any) -> Optional[BoxJob]:
        match = self.matcher.add_frame(stamp_to_ns(msg.header.stamp), msg, message_nbytes(msg))
        return None if match is None else self._job(cam, match.frame, match.detections)

    def _on_detections(self, cam: Camera, msg: Any) -> None:
        with self._lock:
            self._counts.detection_sets += 1
        match = self.matcher.add_detections(stamp_to_ns(msg.header.stamp), msg,
                                            message_nbytes(msg))
        if match is not None:
            cam.offer(lambda: self._job(cam, match.frame, match.detections))

    def _job(self, cam: Camera, frame_msg: Any, detections: Any) -> Optional[BoxJob]:
        """The job of a match; None for a detection set refused as a whole. A bad frame raises
        (``FrameError``: the camera counts it)."""
        try:
            entries = detection_entries(detections)
            if entries > MAX_DETECTIONS_PER_MESSAGE:
                raise BoxError(f"{entries} detections in one message (at most "
                               f"{MAX_DETECTIONS_PER_MESSAGE})")
            boxes = boxes_from_message(detections)
        except (BoxError, AttributeError, TypeError, ValueError) as exc:
            with self._lock:
                self._counts.bad_detection_sets += 1
            self._log.warning(f"{self.detection_name}: detection set skipped: {exc}",
                              throttle_duration_sec=LOG_PERIOD)
            return None
        frame = message_frame(frame_msg, cam.classifier.preprocessor, whole=False)
        return BoxJob(frame, boxes, frame_msg.header, detections)

    # --- runner ----------------------------------------------------------------------------------
    def run(self, clf: Classifier, job: BoxJob, settings: NodeSettings) -> Outcome:
        start_ns = time.time_ns()
        boxes = classify_boxes(clf, job.frame, job.boxes, self._filter, top=settings.top_k)
        self._count(boxes)
        stages = boxes.stage_ms()
        classified = boxes.classified_results()
        summary = Result(classified[0][1].top if classified else [], Timing(*stages))
        return Outcome(job.header, summary, clf.model_name,
                       worker_preprocess_ms=stages[0] - boxes.decode_ms, boxes=boxes,
                       detections=job.detections, frame_size=(job.frame.width, job.frame.height),
                       start_ns=start_ns)

    def _count(self, boxes: FrameBoxes) -> None:
        with self._lock:
            c = self._counts
            c.boxes_classified += len(boxes.classified)
            c.boxes_bad += len(boxes.failed)
            c.boxes_filtered += boxes.filtered.total
        if boxes.failed:
            self._log.warning(f"{self.detection_name}: {len(boxes.failed)} box(es) not "
                              f"classified: {boxes.failed[0].error}",
                              throttle_duration_sec=LOG_PERIOD)

    # --- reporting -------------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        """Box and matching counters."""
        m = self.matcher.stats()
        with self._lock:
            c = dict(vars(self._counts))
        c.update(matched=m.matched, frames_unmatched=m.frames_unmatched,
                 detections_unmatched=m.detections_unmatched,
                 frames_waiting=m.frames_waiting, detections_waiting=m.detections_waiting)
        return c

    def key_values(self) -> list[tuple[str, str]]:
        """Diagnostics lines."""
        c = self.counts()
        return [("detection topic", self.detection_name),
                ("detection sets received", str(c["detection_sets"])),
                ("frames matched to detections", str(c["matched"])),
                ("frames without detections (evicted)", str(c["frames_unmatched"])),
                ("detection sets without frame (evicted)", str(c["detections_unmatched"])),
                ("bad detection sets", str(c["bad_detection_sets"])),
                ("boxes classified", str(c["boxes_classified"])),
                ("boxes left out by filters", str(c["boxes_filtered"])),
                ("bad boxes", str(c["boxes_bad"]))]


__all__ = ["Boxes", "BoxCounts", "BoxJob", "BOX_OUTPUT_SUFFIX", "MAX_DETECTIONS_PER_MESSAGE",
           "detection_entries"]
