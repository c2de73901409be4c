"""Per-camera counters and stage times, reported over windows (diagnostics, the periodic log).

The worker thread adds, the timers read; one lock each. Times are means over the frames of the
window, rates are counts over the window's duration. ROS-free.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Optional, Sequence

from ..classifier import Result
from .worker import WorkerStats


@dataclass(frozen=True)
class _Totals:
    at: float
    received: int = 0
    dropped: int = 0
    published: int = 0
    bad_frames: int = 0
    errors: int = 0
    preprocess_ms: float = 0.0
    inference_ms: float = 0.0
    postprocess_ms: float = 0.0
    node_ms: float = 0.0
    age_ms: float = 0.0
    aged: int = 0


@dataclass(frozen=True)
class StreamReport:
    """One camera over one window. Totals since start, rates and mean times over the window."""

    window_s: float
    received: int
    published: int
    dropped: int
    bad_frames: int
    errors: int
    window_received: int
    window_published: int
    window_dropped: int
    window_bad_frames: int
    window_errors: int
    input_hz: float
    output_hz: float
    preprocess_ms: float
    inference_ms: float
    postprocess_ms: float
    node_ms: float             # conversion + message building + publish, outside the classifier
    top1: Optional[tuple[int, str, float]]
    #: mean time from a frame's receipt to its result's publication (0.0: none in the window)
    result_age_ms: float = 0.0

    def line(self) -> str:
        top = f", top-1 {self.top1[1]!r} {self.top1[2]:.2f}" if self.top1 else ""
        return (f"in {self.input_hz:.1f} Hz, out {self.output_hz:.1f} Hz, dropped "
                f"{self.window_dropped}, bad {self.window_bad_frames}, errors "
                f"{self.window_errors}; pre {self.preprocess_ms:.1f} / infer "
                f"{self.inference_ms:.1f} / post {self.postprocess_ms:.2f} ms, node "
                f"{self.node_ms:.2f} ms{top}")


class StreamStats:
    """What one camera's worker did: results published, bad frames, time per stage."""

    def __init__(self, clock=time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._published = 0
        self._bad = 0
        self._sums = [0.0, 0.0, 0.0, 0.0]  # preprocess, inference, postprocess, node
        self._age_sum, self._aged = 0.0, 0  # result ages (ms) and how many were known
        self._top1: Optional[tuple[int, str, float]] = None
        self._windows: dict[str, _Totals] = {}
        self._started = clock()

    def add_result(self, result: Result, node_ms: float,
                   age_ms: Optional[float] = None) -> None:
        """``age_ms``: from the frame's receipt to the result's publication, when known."""
        t = result.timing_ms
        with self._lock:
            if age_ms is not None:
                self._age_sum += max(0.0, age_ms)
                self._aged += 1
            self._published += 1
            self._sums[0] += t.preprocess
            self._sums[1] += t.inference
            self._sums[2] += t.postprocess
            self._sums[3] += node_ms
            if result.top:
                p = result.top[0]
                self._top1 = (p.class_id, p.label, p.score)

    def add_bad_frame(self) -> None:
        with self._lock:
            self._bad += 1

    @property
    def published(self) -> int:
        with self._lock:
            return self._published

    @property
    def bad_frames(self) -> int:
        with self._lock:
            return self._bad

    def report(self, worker: WorkerStats, window: str = "default") -> StreamReport:
        """Totals now, and differences since the last ``report`` with the same ``window`` name
        (since creation for the first one)."""
        now = self._clock()
        with self._lock:
            cur = _Totals(now, worker.received, worker.dropped, self._published, self._bad,
                          worker.errors, preprocess_ms=self._sums[0],
                          inference_ms=self._sums[1], postprocess_ms=self._sums[2],
                          node_ms=self._sums[3], age_ms=self._age_sum, aged=self._aged)
            prev = self._windows.get(window) or _Totals(self._started)
            self._windows[window] = cur
            top1 = self._top1
        dt = max(cur.at - prev.at, 1e-9)
        n = cur.published - prev.published

        def mean(a: float, b: float) -> float:
            return (a - b) / n if n else 0.0

        return StreamReport(
            window_s=dt, received=cur.received, published=cur.published, dropped=cur.dropped,
            bad_frames=cur.bad_frames, errors=cur.errors,
            window_received=cur.received - prev.received, window_published=n,
            window_dropped=cur.dropped - prev.dropped,
            window_bad_frames=cur.bad_frames - prev.bad_frames,
            window_errors=cur.errors - prev.errors,
            input_hz=(cur.received - prev.received) / dt, output_hz=n / dt,
            preprocess_ms=mean(cur.preprocess_ms, prev.preprocess_ms),
            inference_ms=mean(cur.inference_ms, prev.inference_ms),
            postprocess_ms=mean(cur.postprocess_ms, prev.postprocess_ms),
            node_ms=mean(cur.node_ms, prev.node_ms), top1=top1,
            result_age_ms=((cur.age_ms - prev.age_ms) / (cur.aged - prev.aged)
                           if cur.aged > prev.aged else 0.0))


__all__ = ["StreamStats", "StreamReport", "camera_status"]


def camera_status(r: StreamReport, levels: Any, *, input_topic: str, output_topic: str,
                  model: str, backend: str, fallback_reason: str | None, subscribed: bool,
                  extra: Sequence[tuple[str, str]] = (), age_from: str = ""
                  ) -> tuple[Any, str, list[tuple[str, str]]]:
    """Diagnostic level, message and key/values of one camera from its report: a pure function,
    so the stand-in tests and diagnostic_updater see the same thing. ``levels``: a class with
    OK / WARN / ERROR (diagnostic_msgs' DiagnosticStatus)."""
    if fallback_reason:
        level, message = levels.WARN, f"CPU fallback: {model} runs"
    elif r.window_errors:
        level, message = levels.ERROR, f"{r.window_errors} frames failed"
    elif r.window_bad_frames:
        level, message = levels.WARN, f"{r.window_bad_frames} bad frames skipped"
    elif r.window_received == 0 and not subscribed:
        level, message = levels.OK, "idle: nobody subscribes to the results (lazy)"
    elif r.window_received == 0:
        level, message = levels.WARN, "no frames received"
    else:
        level, message = levels.OK, f"{r.output_hz:.1f} Hz"
    kv = [("input topic", input_topic), ("output topic", output_topic), ("model", model),
          ("backend", backend), ("input rate (Hz)", f"{r.input_hz:.2f}"),
          ("output rate (Hz)", f"{r.output_hz:.2f}"), ("frames received", str(r.received)),
          ("results published", str(r.published)), ("frames dropped (stale)", str(r.dropped)),
          ("bad frames", str(r.bad_frames)), ("errors", str(r.errors)),
          ("preprocess (ms)", f"{r.preprocess_ms:.2f}"),
          ("inference (ms)", f"{r.inference_ms:.2f}"),
          ("postprocess (ms)", f"{r.postprocess_ms:.3f}"),
          ("node overhead (ms)", f"{r.node_ms:.3f}"),
          ("receipt to result (ms)", f"{r.result_age_ms:.2f}")]
    if age_from:
        kv.append(("receipt time from", age_from))
    if r.top1:
        kv.append(("top-1", f"{r.top1[0]} {r.top1[1]} {r.top1[2]:.3f}"))
    if fallback_reason:
        kv.append(("fallback", fallback_reason))
    return level, message, kv + list(extra)

