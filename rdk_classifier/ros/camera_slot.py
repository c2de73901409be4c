"""A camera's latest-frame slot on the node's one scheduler, with the worker's interface.

``LatestFrameWorker`` gives each camera a thread of its own; with one model per node the cameras
share ``rdk_classifier.scheduler.Scheduler`` instead. ``SchedulerSlot`` is a camera's handle on it
with the same ``submit`` / ``stats`` / ``wait_idle`` / ``stop`` as the worker, so the node's
cameras, diagnostics and counters stay as they are. No ROS import.
"""

from __future__ import annotations

from typing import Callable, Generic, Optional, TypeVar

from ..scheduler import CameraPolicy, CameraStats, Job, Scheduler
from .worker import WorkerStats

T = TypeVar("T")


class SchedulerSlot(Generic[T]):
    """Camera ``name`` on ``scheduler``: ``process(item)`` runs on one of the scheduler's threads
    (returning False counts the item as dropped, as with the worker); ``stamp_of(item)`` is the
    item's capture time in the scheduler clock's seconds (for the result age)."""

    def __init__(self, scheduler: Scheduler, name: str, process: Callable[[T], Optional[bool]],
                 stamp_of: Callable[[T], float], policy: CameraPolicy | None = None) -> None:
        self._scheduler = scheduler
        self.name = name
        self._process = process
        self._stamp_of = stamp_of
        self._stopped = False
        scheduler.add_camera(name, policy)

    def start(self) -> "SchedulerSlot[T]":
        return self  # the scheduler's threads serve every camera; the node starts them

    def submit(self, item: T) -> bool:
        """Put ``item`` in the camera's slot; True when it replaced one still waiting."""
        if self._stopped:
            return False
        process = self._process
        return self._scheduler.submit(Job(self.name, self._stamp_of(item),
                                          lambda: process(item)))

    def scheduler_stats(self) -> CameraStats:
        return self._scheduler.camera_stats(self.name)

    def stats(self) -> WorkerStats:
        s = self.scheduler_stats()
        return WorkerStats(received=s.received, processed=s.answered,
                           dropped=s.replaced + s.dropped, errors=s.failed, pending=s.pending,
                           busy=s.busy, busy_seconds=s.busy_seconds, last_process_ms=s.last_ms)

    def wait_idle(self, timeout: Optional[float] = None) -> bool:
        return self._scheduler.wait_idle(self.name, timeout)

    def stop(self, timeout: Optional[float] = 5.0) -> bool:
        """No new frames; a waiting one is dropped (the frame in progress finishes)."""
        self._stopped = True
        self._scheduler.drop_pending(self.name)
        return self._scheduler.wait_idle(self.name, timeout)


__all__ = ["SchedulerSlot"]
