"""Second-stage classification: the boxes of a detector, each cut out of its frame and classified.

The frame is the one ``frames.Frame`` of every source (made once: NV12 planes and packed
buffers as views, a JPEG decoded once at full size). Every box of it is a rectangle: padded,
clamped to the frame, rounded outwards to even coordinates on NV12 (chroma blocks), and given to
the same ``Preprocessor.convert`` (resize mode, interpolation, colour conversion) and the same
backend as whole frames, whose rectangle is the full frame. So a box gives the answer its crop,
cut out by hand, would give.

Which boxes: ``BoxFilter`` (detector classes, minimum size and score, at most ``max_boxes`` per
frame, largest or most confident first). A bad box (empty, not finite, outside the frame) raises
``BoxError`` for that box only. No ROS import: messages are turned into ``Box`` lists in
``rdk_classifier.ros.detections``.

Length: the box type, crops in every frame domain, filters, and the bounded boxes-file parser are
one concept (regions of a frame).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Optional, Sequence

from .classifier import Classifier, Result
from .errors import BoxError, BoxesFileError
from .frames import Frame, Rect

#: how boxes are ranked when a frame has more than ``max_boxes``
BOX_ORDERS = ("score", "area")
DEFAULT_MAX_BOXES = 32
#: the most boxes of one frame ever classified (each costs one inference)
MAX_BOXES_LIMIT = 1000
MAX_PADDING = 2.0
_EPS = 1e-6


@dataclass(frozen=True)
class Box:
    """A detector box in source pixels, as ``sensor_msgs/RegionOfInterest`` has it (top-left
    corner, width, height; floats because ``vision_msgs`` boxes are), plus what the detector said
    about it: its class, its score (None: none given) and its id."""

    x_offset: float
    y_offset: float
    width: float
    height: float
    class_id: str = ""
    score: Optional[float] = None
    id: str = ""

    @classmethod
    def from_center(cls, cx: float, cy: float, width: float, height: float, class_id: str = "",
                    score: Optional[float] = None, id: str = "") -> "Box":
        return cls(cx - width / 2, cy - height / 2, width, height, class_id, score, id)

    @property
    def area(self) -> float:
        return max(0.0, self.width) * max(0.0, self.height)

    def to_dict(self) -> dict:
        out: dict[str, float | str] = {"x_offset": self.x_offset, "y_offset": self.y_offset,
                                       "width": self.width, "height": self.height}
        if self.class_id:
            out["class_id"] = self.class_id
        if self.score is not None:
            out["score"] = self.score
        if self.id:
            out["id"] = self.id
        return out


def crop_rect(box: Box, frame_width: int, frame_height: int, padding: float = 0.0,
              align: int = 1) -> Rect:
    """The pixels (x, y, width, height) a box is classified from: grown by ``padding`` times its
    size on each side, rounded outwards to whole pixels (to multiples of ``align``: 2 on NV12),
    clamped to the frame. ``BoxError`` when nothing of it is left."""
    values = (box.x_offset, box.y_offset, box.width, box.height)
    if not all(math.isfinite(v) for v in values):
        raise BoxError(f"box {values} has a coordinate that is not a finite number")
    if box.width <= 0 or box.height <= 0:
        raise BoxError(f"box {values} is empty (width and height must be > 0)")
    pad_x, pad_y = box.width * padding, box.height * padding
    edges = (box.x_offset - pad_x, box.y_offset - pad_y, box.x_offset + box.width + pad_x,
             box.y_offset + box.height + pad_y)
    # clamped while still floats: a huge box (1e308 wide) must not overflow the conversion
    left, top, right, bottom = (min(max(v, -1.0), limit + 1.0) if math.isfinite(v) else
                                (-1.0 if v < 0 else limit + 1.0)
                                for v, limit in zip(edges, (frame_width, frame_height) * 2))
    x0 = max(0, math.floor(left + _EPS))
    y0 = max(0, math.floor(top + _EPS))
    x1 = min(frame_width, math.ceil(right - _EPS))
    y1 = min(frame_height, math.ceil(bottom - _EPS))
    if align > 1:
        x0, y0 = x0 // align * align, y0 // align * align
        x1 = min(frame_width // align * align, -(-x1 // align) * align)
        y1 = min(frame_height // align * align, -(-y1 // align) * align)
    if x1 - x0 < align or y1 - y0 < align:
        raise BoxError(f"box {values} lies outside the {frame_width}x{frame_height} frame")
    return x0, y0, x1 - x0, y1 - y0


def box_rect(frame: Frame, box: Box, padding: float = 0.0) -> Rect:
    """``crop_rect`` of a box in a frame (rounded to the frame's ``align``)."""
    return crop_rect(box, frame.width, frame.height, padding, frame.align)


@dataclass(frozen=True)
class BoxFilter:
    """Which boxes of a frame are classified, and how much context around each."""

    classes: tuple[str, ...] = ()   # detector classes to classify; empty: all
    min_size: float = 0.0           # boxes narrower or lower than this (pixels) are left out
    min_score: float = 0.0          # boxes the detector scored lower are left out
    max_boxes: int = DEFAULT_MAX_BOXES
    order: str = "score"            # which boxes win when there are more than max_boxes
    padding: float = 0.0            # grow each side by this fraction of the box's size

    def problems(self) -> list[str]:
        out = []
        if self.order not in BOX_ORDERS:
            out.append(f"box order {self.order!r} is not one of {', '.join(BOX_ORDERS)}")
        if not 1 <= self.max_boxes <= MAX_BOXES_LIMIT:
            out.append(f"max boxes {self.max_boxes} is outside 1..{MAX_BOXES_LIMIT}")
        if not (math.isfinite(self.padding) and 0.0 <= self.padding <= MAX_PADDING):
            out.append(f"box padding {self.padding} is outside 0.0..{MAX_PADDING}")
        if not (math.isfinite(self.min_size) and self.min_size >= 0):
            out.append(f"minimum box size {self.min_size} is not >= 0")
        if not (math.isfinite(self.min_score) and 0.0 <= self.min_score <= 1.0):
            out.append(f"minimum box score {self.min_score} is outside 0.0..1.0")
        return out

    def check(self) -> "BoxFilter":
        problems = self.problems()
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def select(self, boxes: Sequence[Box]) -> tuple[list[int], "FilterCounts"]:
        """Indices of the boxes to classify (input order) and how many each rule left out."""
        wanted = set(self.classes)
        counts = FilterCounts()
        keep = []
        for i, b in enumerate(boxes):
            if wanted and b.class_id not in wanted:
                counts.by_class += 1
            elif self.min_score > 0 and (b.score is None or not b.score >= self.min_score):
                counts.by_score += 1
            elif self.min_size > 0 and not (b.width >= self.min_size
                                            and b.height >= self.min_size):
                counts.by_size += 1
            else:
                keep.append(i)
        if len(keep) > self.max_boxes:
            if self.order == "area":
                def rank(i: int) -> float:
                    return boxes[i].area if math.isfinite(boxes[i].area) else -1.0
            else:
                def rank(i: int) -> float:
                    s = boxes[i].score
                    return s if s is not None and math.isfinite(s) else -math.inf
            # stable: among equals the earlier box wins
            best = sorted(keep, key=lambda i: -rank(i))[:self.max_boxes]
            counts.by_limit += len(keep) - len(best)
            keep = sorted(best)
        return keep, counts


@dataclass
class FilterCounts:
    by_class: int = 0
    by_score: int = 0
    by_size: int = 0
    by_limit: int = 0

    @property
    def total(self) -> int:
        return self.by_class + self.by_score + self.by_size + self.by_limit


@dataclass
class BoxResult:
    """One selected box: the pixels it was classified from and its top-k, or why it was not."""

    index: int                                   # position in the detector's list
    box: Box
    rect: Optional[Rect]                         # x, y, width, height actually used
    result: Optional[Result] = None
    error: Optional[str] = None

    @property
    def ok(self) -> bool:
        return self.result is not None

    def to_dict(self) -> dict:
        out: dict = {"box": self.box.to_dict()}
        if self.rect is not None:
            out["crop"] = dict(zip(("x_offset", "y_offset", "width", "height"), self.rect))
        if self.result is not None:
            out.update({k: v for k, v in self.result.to_dict().items() if k != "source"})
        else:
            out["error"] = self.error
        return out


@dataclass
class FrameBoxes:
    """What one frame's boxes gave: the selected boxes in input order, filter counts, times."""

    boxes: list[BoxResult] = field(default_factory=list)
    filtered: FilterCounts = field(default_factory=FilterCounts)
    decode_ms: float = 0.0

    @property
    def classified(self) -> list[BoxResult]:
        return [b for b in self.boxes if b.ok]

    @property
    def failed(self) -> list[BoxResult]:
        return [b for b in self.boxes if not b.ok]

    def classified_results(self) -> list[tuple[BoxResult, Result]]:
        """``classified`` with each box's result (typed: never None)."""
        return [(b, b.result) for b in self.boxes if b.result is not None]

    def stage_ms(self) -> tuple[float, float, float]:
        """Preprocess (the frame's decode + every crop), inference, postprocess: summed."""
        pre, inf, post = self.decode_ms, 0.0, 0.0
        for _, result in self.classified_results():
            pre += result.timing_ms.preprocess
            inf += result.timing_ms.inference
            post += result.timing_ms.postprocess
        return pre, inf, post


def classify_boxes(clf: Classifier, frame: Frame, boxes: Sequence[Box],
                   box_filter: BoxFilter = BoxFilter(), top: Optional[int] = None,
                   source: Optional[str] = None) -> FrameBoxes:
    """Classify the boxes of one frame that ``box_filter`` selects, each through the one path
    (crop -> ``clf.preprocessor`` -> backend -> top-k). A bad box gets an ``error`` and the
    others carry on."""
    keep, counts = box_filter.select(boxes)
    out = FrameBoxes(filtered=counts, decode_ms=frame.decode_ms)
    for i in keep:
        box = boxes[i]
        t0 = time.perf_counter()
        try:
            rect = box_rect(frame, box, box_filter.padding)
        except BoxError as exc:
            out.boxes.append(BoxResult(i, box, None, error=str(exc)))
            continue
        nv12 = clf.preprocessor.convert(frame, rect)
        crop_ms = (time.perf_counter() - t0) * 1e3
        result = clf.classify_nv12(nv12, source=source, top=top, preprocess_ms=crop_ms)
        out.boxes.append(BoxResult(i, box, rect, result))
    return out


#: a boxes file is read only up to this size
MAX_BOXES_FILE_BYTES = 1 << 20
_BOX_KEYS = ("x_offset", "y_offset", "width", "height")
#: the largest coordinate a boxes file may give (RegionOfInterest fields are uint32)
MAX_COORDINATE = 1 << 20


def parse_boxes_json(text: str, what: str = "boxes") -> list[Box]:
    """``[{"x_offset": .., "y_offset": .., "width": .., "height": ..}, ...]`` (integer pixels, as
    in ``sensor_msgs/RegionOfInterest``; optional ``"id"`` string) -> boxes. Anything else, more
    than ``MAX_BOXES_LIMIT`` boxes or numbers out of range: ``BoxesFileError``, one line."""
    import json

    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise BoxesFileError(f"{what}: not JSON: {str(exc).splitlines()[0][:200]}") from None
    if not isinstance(data, list):
        raise BoxesFileError(f"{what}: expected a JSON list of boxes, got {type(data).__name__}")
    if len(data) > MAX_BOXES_LIMIT:
        raise BoxesFileError(f"{what}: {len(data)} boxes, at most {MAX_BOXES_LIMIT} allowed")
    out = []
    for n, item in enumerate(data):
        if not isinstance(item, dict):
            raise BoxesFileError(f"{what}: box {n} is {type(item).__name__}, not an object with "
                                 f"{', '.join(_BOX_KEYS)}")
        unknown = sorted(str(k)[:40] for k in item if k not in _BOX_KEYS + ("id",))
        missing = [k for k in _BOX_KEYS if k not in item]
        if missing or unknown:
            raise BoxesFileError(f"{what}: box {n}: " + "; ".join(
                ([f"missing {', '.join(missing)}"] if missing else [])
                + ([f"unknown key(s) {', '.join(unknown[:3])}"
                    + (f" and {len(unknown) - 3} more" if len(unknown) > 3 else "")]
                   if unknown else [])))
        values = []
        for k in _BOX_KEYS:
            v = item[k]
            if isinstance(v, bool) or not isinstance(v, int):
                raise BoxesFileError(f"{what}: box {n}: {k} must be an integer number of pixels, "
                                     f"got {str(v)[:40]!r}")
            if not 0 <= v <= MAX_COORDINATE:
                raise BoxesFileError(f"{what}: box {n}: {k} = {v} is outside 0..{MAX_COORDINATE}")
            values.append(v)
        if values[2] == 0 or values[3] == 0:
            raise BoxesFileError(f"{what}: box {n} is empty (width and height must be > 0)")
        box_id = item.get("id", "")
        if not isinstance(box_id, str) or len(box_id) > 256:
            raise BoxesFileError(f"{what}: box {n}: id must be a string of at most 256 characters")
        x_offset, y_offset, width, height = values
        out.append(Box(x_offset, y_offset, width, height, id=box_id))
    return out


def load_boxes_file(path) -> list[Box]:
    """Read a boxes file (``parse_boxes_json``): a regular UTF-8 file of at most
    ``MAX_BOXES_FILE_BYTES`` (a FIFO or device is refused, never read)."""
    from pathlib import Path

    from .safe_io import read_bounded_text

    p = Path(path)
    text = read_bounded_text(p, MAX_BOXES_FILE_BYTES, "boxes file", BoxesFileError)
    return parse_boxes_json(text, str(p))


__all__ = ["Box", "BoxFilter", "BoxResult", "FilterCounts", "FrameBoxes",
           "BOX_ORDERS", "DEFAULT_MAX_BOXES", "MAX_BOXES_LIMIT", "MAX_PADDING", "classify_boxes",
           "box_rect", "crop_rect", "parse_boxes_json", "load_boxes_file",
           "MAX_BOXES_FILE_BYTES"]
