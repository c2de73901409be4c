"""Detection sets matched to their frames by header stamp, never by arrival order.

A detector publishes its boxes some time after the frame they were found in, with that frame's
stamp; on the classifier's side frames and detections arrive on two topics in either order, and
either may be lost (best-effort transport, a detector that skips frames). So both wait in small
bounded caches: a frame waits for detections with exactly its stamp, detections wait for their
frame; the oldest is evicted when a cache is full and counted as unmatched (diagnostics). A cache
is full at ``capacity`` items or, when the caller gives each item's size, at ``max_bytes`` (the
memory budget: a few 4K frames or detection sets with huge strings must not add up to gigabytes);
an item larger than the whole byte budget is never stored (counted as unmatched and as
``too_large``). No ROS import; stamps are integers (nanoseconds).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass
from typing import Any, Generic, NamedTuple, Optional, TypeVar

F = TypeVar("F")
D = TypeVar("D")

DEFAULT_FRAME_CACHE = 8
DEFAULT_DETECTION_CACHE = 8
MAX_CACHE = 1024


def message_nbytes(msg: Any, depth: int = 0) -> int:
    """About how much memory a message holds (byte arrays, strings, nested fields), for the byte
    budget of a cache: serialized bytes, numpy arrays, ``array.array`` (rclpy's uint8[]),
    dataclasses (rosbags messages) and ``__slots__`` objects (rclpy messages)."""
    if isinstance(msg, (str, bytes, bytearray)):
        return len(msg) + 48
    if isinstance(msg, memoryview):
        return msg.nbytes + 48
    nbytes = getattr(msg, "nbytes", None)
    if isinstance(nbytes, int):  # numpy arrays (image data)
        return nbytes + 96
    itemsize = getattr(msg, "itemsize", None)
    if isinstance(itemsize, int) and hasattr(msg, "typecode"):  # array.array
        return len(msg) * itemsize + 64
    if depth > 16:
        return 64
    if isinstance(msg, (list, tuple)):
        return 56 + sum(message_nbytes(x, depth + 1) for x in msg)
    names = getattr(msg, "__dataclass_fields__", None) or getattr(msg, "__slots__", None)
    if names and not isinstance(msg, type):
        return 56 + sum(message_nbytes(getattr(msg, n, None), depth + 1) for n in names)
    return 32


class Match(NamedTuple):
    """A frame and its detection set; they are the matcher's F and D (Any: a NamedTuple cannot
    be generic on Python 3.10)."""

    stamp: int
    frame: Any
    detections: Any


@dataclass(frozen=True)
class MatchStats:
    matched: int = 0
    frames_unmatched: int = 0       # evicted (or replaced by a frame of the same stamp) unmatched
    detections_unmatched: int = 0   # likewise for detection sets
    frames_waiting: int = 0
    detections_waiting: int = 0
    bytes_waiting: int = 0          # frames and detection sets together (sizes the caller gave)
    too_large: int = 0              # items larger than their cache's byte budget, never stored

    def to_dict(self) -> dict:
        return asdict(self)


class StampMatcher(Generic[F, D]):
    """Pairs frames and detection sets with equal stamps. Thread-safe.

    ``add_frame`` / ``add_detections`` return the ``Match`` they complete, or None (the item then
    waits). Each frame is matched at most once, to the first detection set of its stamp.
    """

    def __init__(self, frame_capacity: int = DEFAULT_FRAME_CACHE,
                 detection_capacity: int = DEFAULT_DETECTION_CACHE, *,
                 frame_max_bytes: int | None = None,
                 detection_max_bytes: int | None = None) -> None:
        for name, value in (("frame_capacity", frame_capacity),
                            ("detection_capacity", detection_capacity)):
            if not 1 <= value <= MAX_CACHE:
                raise ValueError(f"{name} {value} is outside 1..{MAX_CACHE}")
        for name, limit in (("frame_max_bytes", frame_max_bytes),
                            ("detection_max_bytes", detection_max_bytes)):
            if limit is not None and limit < 1:
                raise ValueError(f"{name} must be positive, got {limit}")
        self.frame_capacity = frame_capacity
        self.detection_capacity = detection_capacity
        self.frame_max_bytes = frame_max_bytes
        self.detection_max_bytes = detection_max_bytes
        self._frames: _Cache = _Cache(frame_capacity, frame_max_bytes)
        self._detections: _Cache = _Cache(detection_capacity, detection_max_bytes)
        self._lock = threading.Lock()
        self._matched = self._frames_unmatched = self._detections_unmatched = 0

    def add_frame(self, stamp: int, frame: F, nbytes: int = 0) -> Optional[Match]:
        """``nbytes``: the frame's size, counted against ``frame_max_bytes``."""
        with self._lock:
            if stamp in self._detections.items:
                self._matched += 1
                return Match(stamp, frame, self._detections.pop(stamp))
            self._frames_unmatched += self._frames.put(stamp, frame, nbytes)
            return None

    def add_detections(self, stamp: int, detections: D, nbytes: int = 0) -> Optional[Match]:
        """``nbytes``: the detection set's size, counted against ``detection_max_bytes``."""
        with self._lock:
            if stamp in self._frames.items:
                self._matched += 1
                return Match(stamp, self._frames.pop(stamp), detections)
            self._detections_unmatched += self._detections.put(stamp, detections, nbytes)
            return None

    def stats(self) -> MatchStats:
        with self._lock:
            return MatchStats(self._matched, self._frames_unmatched, self._detections_unmatched,
                              len(self._frames.items), len(self._detections.items),
                              self._frames.nbytes + self._detections.nbytes,
                              self._frames.too_large + self._detections.too_large)

    def clear(self) -> None:
        """Forget everything waiting (counted as unmatched)."""
        with self._lock:
            self._frames_unmatched += len(self._frames.items)
            self._detections_unmatched += len(self._detections.items)
            self._frames.clear()
            self._detections.clear()


class _Cache:
    """Stamp -> item, oldest first, bounded by count and (optionally) by the items' bytes."""

    def __init__(self, capacity: int, max_bytes: int | None) -> None:
        self.capacity, self.max_bytes = capacity, max_bytes
        self.items: OrderedDict[int, tuple[Any, int]] = OrderedDict()
        self.nbytes = 0
        self.too_large = 0

    def pop(self, stamp: int) -> Any:
        item, size = self.items.pop(stamp)
        self.nbytes -= size
        return item

    def put(self, stamp: int, item: Any, size: int) -> int:
        """Store ``item``; returns how many items were lost (replaced, evicted, or this one
        when it alone is over the byte budget)."""
        lost = 0
        if stamp in self.items:  # a second item with the same stamp replaces the first
            self.pop(stamp)
            lost += 1
        if self.max_bytes is not None and size > self.max_bytes:
            self.too_large += 1
            return lost + 1
        self.items[stamp] = (item, size)
        self.nbytes += size
        while len(self.items) > self.capacity or (self.max_bytes is not None
                                                  and self.nbytes > self.max_bytes):
            _, (_, old) = self.items.popitem(last=False)
            self.nbytes -= old
            lost += 1
        return lost

    def clear(self) -> None:
        self.items.clear()
        self.nbytes = 0


__all__ = ["Match", "MatchStats", "StampMatcher", "message_nbytes", "DEFAULT_FRAME_CACHE",
           "DEFAULT_DETECTION_CACHE", "MAX_CACHE"]
