"""One model, many cameras: which camera's latest frame runs next, on how many threads at once.

A node loads its model once; every camera hands its newest frame to the scheduler, which keeps one
slot per camera (a newer frame replaces one still waiting: latest wins, a slow model never queues
old frames) and gives the model to the cameras in turn:

* fair: the next job is the camera with the least service so far, service counted as jobs started
  divided by the camera's ``weight`` (stride scheduling: weight 2 gets twice the turns of weight 1
  when all are waiting); equal service goes to the older frame, then to the camera added first.
  A camera that was idle joins at the current service level, so sleeping earns no burst later.
* bounded: ``max_rate`` (answers per second, 0 = no limit) delays a camera's next start until
  ``1 / max_rate`` after its last one; its slot keeps only the newest frame meanwhile.
* one frame of a camera at a time, so a camera's answers leave in the order of its frames.
* concurrent: ``start(workers)`` runs that many threads taking jobs. The model limits how many are
  inside inference at once (``Classifier`` takes the backend's ``max_concurrent``: any for ONNX
  Runtime, one for a BPU model); ``default_workers`` gives one thread more than that, so the next
  frame's preprocessing runs while the model is busy.

Per camera the scheduler counts frames received, replaced unseen, answered and failed, and the age
of each answer: delivery time minus the frame's stamp (for ROS: header stamp to publish), reported
as p50/p99 over the last ``age_window`` answers, the figure compared with C++ nodes.

No ROS here and no clock of its own: the clock is a callable (the node passes its ROS clock, tests a
fake one), and ``step()`` runs one job in the calling thread, so every policy is tested without
threads or wall time.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CameraPolicy:
    """How a camera shares the model: ``weight`` (> 0) relative turns under overload, ``max_rate``
    answers per second at most (0: as fast as its frames come and the model allows)."""

    weight: float = 1.0
    max_rate: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.weight) and self.weight > 0):
            raise ValueError(f"weight must be a positive number, got {self.weight!r}")
        if not (math.isfinite(self.max_rate) and self.max_rate >= 0):
            raise ValueError(f"max_rate must be >= 0 (0 = no limit), got {self.max_rate!r}")


@dataclass
class Job:
    """One frame of one camera. ``run`` does the work (preprocessing if not done yet, inference,
    postprocessing) and returns what ``deliver`` publishes; ``stamp`` is the frame's capture time
    in the scheduler clock's time base (a ROS header stamp in seconds). ``run`` returning
    ``False`` says the frame was no longer valid (e.g. prepared for a model replaced since): it is
    counted as dropped, not answered, and not delivered."""

    camera: str
    stamp: float
    run: Callable[[], Any]
    deliver: Callable[[Any], None] | None = None


#: answers whose age is kept per camera for p50/p99
DEFAULT_AGE_WINDOW = 1000


@dataclass
class CameraStats:
    """Counters of one camera since it was added (``ages_ms``: the last answers' ages)."""

    received: int = 0
    replaced: int = 0    # frames replaced by a newer one before any worker took them
    answered: int = 0
    failed: int = 0
    ages_ms: deque = field(default_factory=lambda: deque(maxlen=DEFAULT_AGE_WINDOW))
    dropped: int = 0     # run() said the frame was no longer valid, or it was dropped at stop
    pending: bool = False
    busy: bool = False
    busy_seconds: float = 0.0     # total time in run() + deliver()
    last_ms: float = 0.0          # the last job's time in run() + deliver()

    def age_summary(self) -> dict[str, float | None]:
        """p50 / p99 / max of the kept answer ages in ms (None before the first answer)."""
        if not self.ages_ms:
            return {"p50": None, "p99": None, "max": None}
        a = np.fromiter(self.ages_ms, np.float64, len(self.ages_ms))
        return {"p50": float(np.percentile(a, 50)), "p99": float(np.percentile(a, 99)),
                "max": float(a.max())}

    def to_dict(self) -> dict:
        return {"received": self.received, "replaced": self.replaced, "answered": self.answered,
                "failed": self.failed, "dropped": self.dropped, "age_ms": self.age_summary()}


class _Camera:
    __slots__ = ("name", "policy", "order", "pending", "busy", "service", "next_start", "stats")

    def __init__(self, name: str, policy: CameraPolicy, order: int, age_window: int) -> None:
        self.name = name
        self.policy = policy
        self.order = order
        self.pending: Job | None = None
        self.busy = False
        self.service = 0.0        # jobs started / weight
        self.next_start = -math.inf
        self.stats = CameraStats(ages_ms=deque(maxlen=age_window))


def default_workers(max_concurrent: int | None, cameras: int, cores: int | None = None) -> int:
    """Threads for a scheduler: the model's concurrent inferences (``None`` = any: one per core),
    plus one that preprocesses the next frame meanwhile, never more than the cameras (a camera has
    one frame in flight at a time)."""
    cores = max(1, cores or os.cpu_count() or 1)
    limit = cores if max_concurrent is None else max(1, max_concurrent)
    return max(1, min(cameras, limit + 1))


class Scheduler:
    """Latest-frame slots of many cameras served by one model (see the module docstring).

    ``clock``: seconds, the time base of the jobs' stamps (default ``time.monotonic``; a node
    passes its ROS clock). ``on_error(job, exc)``: called for a job whose ``run`` or ``deliver``
    raised (the frame is counted as failed and the scheduler goes on).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 on_error: Callable[[Job, BaseException], None] | None = None,
                 age_window: int = DEFAULT_AGE_WINDOW) -> None:
        if age_window < 1:
            raise ValueError(f"age_window must be >= 1, got {age_window}")
        self._clock = clock
        self._on_error = on_error
        self._age_window = age_window
        self._cameras: dict[str, _Camera] = {}
        self._lock = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._stopping = False
        self._service_level = 0.0   # the highest service a job started at

    # --- cameras and frames -------------------------------------------------------------------
    def add_camera(self, name: str, policy: CameraPolicy | None = None) -> None:
        with self._lock:
            if name in self._cameras:
                raise ValueError(f"camera {name!r} is already scheduled")
            self._cameras[name] = _Camera(name, policy or CameraPolicy(), len(self._cameras),
                                          self._age_window)

    @property
    def cameras(self) -> tuple[str, ...]:
        return tuple(self._cameras)

    def submit(self, job: Job) -> bool:
        """Put ``job`` in its camera's slot; True when it replaced a frame no worker had taken."""
        with self._lock:
            cam = self._cameras.get(job.camera)
            if cam is None:
                raise KeyError(f"unknown camera {job.camera!r}; add_camera() it first")
            cam.stats.received += 1
            replaced = cam.pending is not None
            if replaced:
                cam.stats.replaced += 1
            elif not cam.busy:  # back from idle: no credit for the time it had nothing to send
                cam.service = max(cam.service, self._service_level)
            cam.pending = job
            # all: notify() wakes the longest waiter, which may be a wait_idle() caller, and the
            # idle workers would sleep until some other job ends
            self._lock.notify_all()
            return replaced

    def pending(self) -> int:
        with self._lock:
            return sum(c.pending is not None for c in self._cameras.values())

    # --- choosing -----------------------------------------------------------------------------
    def _take(self, now: float) -> tuple[Job | None, float | None]:
        """The next job (marked started), else None and the clock time at which a rate-limited
        camera becomes due (None: nothing waiting)."""
        best: _Camera | None = None
        due: float | None = None
        for cam in self._cameras.values():
            if cam.pending is None or cam.busy:
                continue
            # not yet due (next_start is finite only with a max_rate); a next start more than one
            # period ahead means the clock went back (ROS time: a bag played in a loop), which
            # is no reason to hold the frame
            if now < cam.next_start <= now + 1.0 / cam.policy.max_rate:
                due = cam.next_start if due is None else min(due, cam.next_start)
                continue
            if best is None or (cam.service, cam.pending.stamp, cam.order) < \
                    (best.service, best.pending.stamp, best.order):  # type: ignore[union-attr]
                best = cam
        if best is None:
            return None, due
        job, best.pending = best.pending, None
        best.busy = True
        # never lowered: a rate-limited camera that was waiting lags behind, and a camera back
        # from idle must not join at its level (it would take every turn until it caught up)
        self._service_level = max(self._service_level, best.service)
        best.service += 1.0 / best.policy.weight
        if best.policy.max_rate > 0:
            best.next_start = now + 1.0 / best.policy.max_rate
        return job, None

    def _finish(self, job: Job, outcome: str, seconds: float) -> None:
        now = self._clock()
        with self._lock:
            cam = self._cameras[job.camera]
            cam.busy = False
            st = cam.stats
            st.busy_seconds += seconds
            st.last_ms = seconds * 1e3
            if outcome == "answered":
                st.answered += 1
                st.ages_ms.append((now - job.stamp) * 1e3)
            elif outcome == "dropped":
                st.dropped += 1
            else:
                st.failed += 1
            self._lock.notify_all()  # a worker may take this camera's next frame; wait_idle

    def _execute(self, job: Job) -> None:
        t0 = time.perf_counter()
        try:
            output = job.run()
            if output is not False and job.deliver is not None:
                job.deliver(output)
        except Exception as exc:  # a bad frame never stops the other cameras
            self._finish(job, "failed", time.perf_counter() - t0)
            if self._on_error is not None:
                try:
                    self._on_error(job, exc)
                except Exception:  # the reporter must not end the worker thread either
                    log.exception("scheduler: error handler failed for camera %r", job.camera)
            return
        except BaseException:
            self._finish(job, "failed", time.perf_counter() - t0)
            raise
        self._finish(job, "dropped" if output is False else "answered", time.perf_counter() - t0)

    def step(self) -> str | None:
        """Run the next due job in the calling thread; its camera's name, None when none is due.
        (What tests and single-threaded callers use; ``start`` runs the same on threads.)"""
        with self._lock:
            job, _ = self._take(self._clock())
        if job is None:
            return None
        self._execute(job)
        return job.camera

    # --- threads ------------------------------------------------------------------------------
    def start(self, workers: int) -> None:
        """Run jobs on ``workers`` threads until ``stop()``."""
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        with self._lock:
            if self._threads:
                raise RuntimeError("scheduler already started")
            self._stopping = False
            self._threads = [threading.Thread(target=self._work, name=f"scheduler-{k}",
                                              daemon=True) for k in range(workers)]
        for t in self._threads:
            t.start()

    def _work(self) -> None:
        while True:
            with self._lock:
                while True:
                    if self._stopping:
                        return
                    job, due = self._take(self._clock())
                    if job is not None:
                        break
                    # a rate-limited camera is due later: wake then (the clock may be ROS time,
                    # so the wait is bounded and the clock read again)
                    timeout = None if due is None else min(max(due - self._clock(), 0.001), 0.5)
                    self._lock.wait(timeout)
            self._execute(job)

    def stop(self) -> None:
        """Stop the threads after their current job (waits for them); waiting frames are dropped."""
        with self._lock:
            self._stopping = True
            threads, self._threads = self._threads, []
            for cam in self._cameras.values():
                if cam.pending is not None:
                    cam.pending = None
                    cam.stats.dropped += 1
            self._lock.notify_all()
        for t in threads:
            if t is not threading.current_thread():
                t.join()

    def drop_pending(self, camera: str) -> bool:
        """Empty a camera's slot (its waiting frame counted as dropped); True if one was there."""
        with self._lock:
            cam = self._cameras[camera]
            had = cam.pending is not None
            if had:
                cam.pending = None
                cam.stats.dropped += 1
                self._lock.notify_all()
            return had

    def wait_idle(self, camera: str | None = None, timeout: float | None = None) -> bool:
        """Block until ``camera`` (None: every camera) has no frame waiting or running (True), or
        ``timeout`` seconds of real time pass (False). Without worker threads, nothing runs the
        waiting frames: it returns at once whether idle or not."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while True:
                cams = self._cameras.values() if camera is None else [self._cameras[camera]]
                if not any(c.pending is not None or c.busy for c in cams):
                    return True
                remaining = None if deadline is None else deadline - time.monotonic()
                if not self._threads or (remaining is not None and remaining <= 0):
                    return False
                self._lock.wait(remaining)

    # --- figures ------------------------------------------------------------------------------
    def stats(self) -> dict[str, CameraStats]:
        """A copy of every camera's counters, by camera name."""
        with self._lock:
            return {name: self._copy(c) for name, c in self._cameras.items()}

    def camera_stats(self, camera: str) -> CameraStats:
        with self._lock:
            return self._copy(self._cameras[camera])

    @staticmethod
    def _copy(c: _Camera) -> CameraStats:
        s = c.stats
        return CameraStats(s.received, s.replaced, s.answered, s.failed, deque(s.ages_ms),
                           s.dropped, c.pending is not None, c.busy, s.busy_seconds, s.last_ms)


__all__ = ["CameraPolicy", "CameraStats", "DEFAULT_AGE_WINDOW", "Job", "Scheduler",
           "default_workers"]
