"""Detection sets matched to their frames by header stamp, never by arrival order.

A detector publishes its boxes some time after the frame they were found in, with that frame's
stamp; on the classifier's side frames and detections arrive on two topics in either order, and
either may be lost (best-effort transport, a detector that skips frames). So both wait in small
bounded caches: a frame waits for detections with exactly its stamp, detections wait for their
frame; the oldest is evicted when a cache is full and counted as unmatched (diagnostics). No ROS
import; stamps are integers (nanoseconds).
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

    def to_dict(self) -> dict:
        return asdict(self)


class StampMatcher(Generic[F, D]):
    """Pairs frames and detection sets with equal stamps. Thread-safe.

    ``add_frame`` / ``add_detections`` return the ``Match`` they complete, or None (the item then
    waits). Each frame is matched at most once, to the first detection set of its stamp.
    """

    def __init__(self, frame_capacity: int = DEFAULT_FRAME_CACHE,
                 detection_capacity: int = DEFAULT_DETECTION_CACHE) -> None:
        for name, value in (("frame_capacity", frame_capacity),
                            ("detection_capacity", detection_capacity)):
            if not 1 <= value <= MAX_CACHE:
                raise ValueError(f"{name} {value} is outside 1..{MAX_CACHE}")
        self.frame_capacity = frame_capacity
        self.detection_capacity = detection_capacity
        self._frames: OrderedDict[int, F] = OrderedDict()
        self._detections: OrderedDict[int, D] = OrderedDict()
        self._lock = threading.Lock()
        self._matched = self._frames_unmatched = self._detections_unmatched = 0

    def add_frame(self, stamp: int, frame: F) -> Optional[Match]:
        with self._lock:
            if stamp in self._detections:
                self._matched += 1
                return Match(stamp, frame, self._detections.pop(stamp))
            self._frames_unmatched += self._put(self._frames, stamp, frame, self.frame_capacity)
            return None

    def add_detections(self, stamp: int, detections: D) -> Optional[Match]:
        with self._lock:
            if stamp in self._frames:
                self._matched += 1
                return Match(stamp, self._frames.pop(stamp), detections)
            self._detections_unmatched += self._put(self._detections, stamp, detections,
                                                    self.detection_capacity)
            return None

    @staticmethod
    def _put(cache: OrderedDict, stamp: int, item, capacity: int) -> int:
        """Store ``item``; returns how many items it pushed out (replaced or evicted)."""
        lost = 0
        if stamp in cache:  # a second item with the same stamp replaces the first
            del cache[stamp]
            lost += 1
        cache[stamp] = item
        while len(cache) > capacity:
            cache.popitem(last=False)
            lost += 1
        return lost

    def stats(self) -> MatchStats:
        with self._lock:
            return MatchStats(self._matched, self._frames_unmatched, self._detections_unmatched,
                              len(self._frames), len(self._detections))

    def clear(self) -> None:
        """Forget everything waiting (counted as unmatched)."""
        with self._lock:
            self._frames_unmatched += len(self._frames)
            self._detections_unmatched += len(self._detections)
            self._frames.clear()
            self._detections.clear()


__all__ = ["Match", "MatchStats", "StampMatcher", "DEFAULT_FRAME_CACHE",
           "DEFAULT_DETECTION_CACHE", "MAX_CACHE"]
