"""``bag IN --topic IMAGES --detections DETECTIONS --out OUT``: the node's box mode, offline.

Reads a rosbag2 with camera frames and a detector's messages (``vision_msgs/msg/Detection2DArray``
or ``ai_msgs/msg/PerceptionTargets``), matches each detection set to its frame by header stamp
(``StampMatcher``, caches of ``BAG_CACHE`` messages each way and at most half / a quarter of the
memory budget in bytes: a bag is read in record order, so a detector's latency of up to that many
frames is covered) and writes one classified
``vision_msgs/msg/Detection2DArray`` per matched pair on ``DETECTIONS + "/classification"`` (the
node's output name), with the record timestamp of the later message of the pair, plus
``/label_info`` and ``/vision_info``. Every box goes through ``regions.classify_boxes``, the
node's path. The bag is written by the one writer of the bag tool (``bag.write_bag``, with
``BoxHandler``), so the same rules hold: the output never replaces anything, a corrupt message is
reported and skipped, a truncated input keeps what was written, a failed run leaves nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from .. import budget
from ..classifier import Classifier, ClassifierConfig
from ..errors import FrameError
from ..regions import BoxFilter, classify_boxes
from ..stamp_matching import StampMatcher, message_nbytes
from . import detections as det
from . import messages as msgs
from . import rosbags_types as rt
from .bag import BagError, BagReport, Skipped, _rosbags, _select, check_paths, open_reader, write_bag

#: frames / detection sets kept waiting for their partner while reading a bag
BAG_CACHE = 64
DETECTION_TYPES = (det.DETECTION_2D_ARRAY, det.PERCEPTION_TARGETS)


@dataclass
class BoxBagReport(BagReport):
    """A ``BagReport`` (``topics``: detection topic -> output topic) with the matching counts."""

    pairs: dict[str, str] = field(default_factory=dict)   # detection topic -> image topic
    boxes: dict[str, int] = field(default_factory=dict)   # classified boxes per detection topic
    unmatched_frames: int = 0
    unmatched_detections: int = 0
    too_large: int = 0  # messages larger than their cache's share of the memory budget


def _detection_connections(connections: Sequence, topics: Sequence[str]) -> list:
    out = []
    for topic in topics:
        found = [c for c in connections if c.topic == topic]
        if not found:
            names = sorted({c.topic for c in connections if c.msgtype in DETECTION_TYPES})
            raise BagError(f"detection topic {topic!r} is not in the bag; detection topics: "
                           f"{', '.join(names) or 'none'}")
        bad = [c.msgtype for c in found if c.msgtype not in DETECTION_TYPES]
        if bad:
            raise BagError(f"topic {topic!r} is {bad[0]}, not {' or '.join(DETECTION_TYPES)}")
        out += found
    return out


def classify_bag_boxes(input_path: str | Path, output_path: str | Path,
                       topics: Sequence[str], detections: Sequence[str],
                       config: ClassifierConfig = ClassifierConfig(), *, storage: str = "mcap",
                       class_id_format: str = "index", score_threshold: float = 0.0,
                       top_k: Optional[int] = None, box_filter: BoxFilter = BoxFilter(),
                       progress: Optional[bool] = None,
                       on_skip: Optional[Callable[[Skipped], None]] = None,
                       classifier: Optional[Classifier] = None) -> BoxBagReport:
    """``detections[i]`` holds the boxes of the frames on ``topics[i]``."""
    Reader, _, _ = _rosbags()
    from rosbags.rosbag2 import ReaderError

    src, dst = Path(input_path), Path(output_path)
    if not topics or len(topics) != len(detections):
        raise BagError(f"give one --topic per --detections (got {len(topics or ())} image "
                       f"topic(s) for {len(detections)} detection topic(s))")
    problems = box_filter.problems()
    if problems:
        raise BagError("; ".join(problems))
    check_paths(src, dst, storage, class_id_format)
    typestore = rt.humble_typestore()
    types = rt.message_types(typestore)
    dtypes = det.detection_types_from_typestore(typestore)
    reader = open_reader(Reader, ReaderError, src)
    try:
        images, _ = _select(reader.connections, topics)
        dets = _detection_connections(reader.connections, detections)
        pairs = dict(zip(detections, topics))
        mapping = {d: d.rstrip("/") + "/classification" for d in detections}
        clf = classifier or Classifier.from_config(config)
        report = BoxBagReport(dst, mapping, clf.model_name, {t: 0 for t in mapping},
                              resize_mode=clf.preprocessor.mode,
                              pairs=pairs, boxes={t: 0 for t in mapping})
        handler = BoxHandler(clf, typestore, types, dtypes, report, class_id_format,
                             score_threshold, top_k, box_filter)
        write_bag(reader, list(images) + list(dets), src, dst, storage, handler, progress,
                  on_skip, close_classifier=classifier is None)
    finally:
        reader.close()
    return report


class BoxHandler:
    """Frames and detection sets in, matched by stamp; one classified Detection2DArray per
    match (record timestamp: the later message of the pair)."""

    desc = "classifying boxes of"

    def __init__(self, clf: Classifier, typestore: Any, types: msgs.MessageTypes, dtypes: Any,
                 report: BoxBagReport, class_id_format: str, score_threshold: float,
                 top_k: Optional[int], box_filter: BoxFilter) -> None:
        self.clf, self.typestore, self.types, self.dtypes = clf, typestore, types, dtypes
        self.report = report
        self.class_id_format, self.score_threshold, self.top_k = (class_id_format,
                                                                   score_threshold, top_k)
        self.box_filter = box_filter
        self.outputs = {d: (out, det.DETECTION_2D_ARRAY) for d, out in report.topics.items()}
        self._by_image = {img: d for d, img in report.pairs.items()}
        # detection topic -> its matcher of (message, bag timestamp) pairs, bounded by count and
        # by bytes: half the memory budget for waiting frames, a quarter for detection sets
        share = budget.memory_budget() // max(1, len(report.pairs))
        self._matchers: dict[str, StampMatcher[tuple[Any, int], tuple[Any, int]]] = {
            d: StampMatcher(BAG_CACHE, BAG_CACHE, frame_max_bytes=max(1, share // 2),
                            detection_max_bytes=max(1, share // 4)) for d in report.pairs}

    def handle(self, conn: Any, timestamp: int, msg: Any,
               skip: Callable[[Skipped], None]) -> list[tuple[str, int, bytes]]:
        stamp = msgs.stamp_to_ns(msg.header.stamp)
        if conn.msgtype in DETECTION_TYPES:
            d_topic = conn.topic
            match = self._matchers[d_topic].add_detections(stamp, (msg, timestamp),
                                                           message_nbytes(msg))
        else:
            d_topic = self._by_image[conn.topic]
            match = self._matchers[d_topic].add_frame(stamp, (msg, timestamp),
                                                      message_nbytes(msg))
        if match is None:
            return []
        (frame, _), (detections, det_ts) = match.frame, match.detections
        try:
            region = msgs.message_frame(frame, self.clf.preprocessor, whole=False)
            boxes = det.boxes_from_message(detections)
        except FrameError as exc:
            skip(Skipped(self.report.pairs[d_topic], timestamp, str(exc), "bad frame"))
            return []
        got = classify_boxes(self.clf, region, boxes, self.box_filter, top=self.top_k)
        for b in got.failed:
            skip(Skipped(d_topic, det_ts, f"box {b.index}: {b.error}", "bad box"))
        out = det.detection2d_array_message(self.dtypes, frame.header, detections, got,
                                            self.class_id_format, self.score_threshold)
        self.report.boxes[d_topic] += len(got.classified)
        return [(d_topic, timestamp, self.typestore.serialize_cdr(out, det.DETECTION_2D_ARRAY))]

    def finish(self) -> None:
        for m in self._matchers.values():
            m.clear()
            st = m.stats()
            self.report.unmatched_frames += st.frames_unmatched
            self.report.unmatched_detections += st.detections_unmatched
            self.report.too_large += st.too_large


__all__ = ["BoxBagReport", "BoxHandler", "classify_bag_boxes", "BAG_CACHE"]
