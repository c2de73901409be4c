"""A latest-frame slot with one worker thread: the consumer never works on a stale frame.

A camera publishes at its own rate; inference takes as long as it takes. Queueing frames would make
every result later than the one before, so there is exactly one slot: ``submit`` puts a frame in it
(replacing, and counting as dropped, a frame that was waiting and never started), and the worker
thread always takes the newest frame there is. No ROS import: the node, the benchmark and the tests
use it alike.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict, dataclass
from typing import Callable, Generic, Optional, TypeVar, cast

T = TypeVar("T")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerStats:
    """Counters of one worker since it was created.

    ``received`` = ``processed`` + ``errors`` + ``dropped`` + (1 if an item is pending) +
    (1 if an item is being processed right now).
    """

    received: int = 0
    processed: int = 0   # process() returned normally
    dropped: int = 0     # replaced in the slot (or left there at stop) before processing started,
                         # or process() returned False (the item was no longer valid)
    errors: int = 0      # process() raised
    pending: bool = False
    busy: bool = False
    busy_seconds: float = 0.0      # total time spent inside process()
    last_process_ms: float = 0.0   # duration of the last process() call

    def to_dict(self) -> dict:
        return asdict(self)


class LatestFrameWorker(Generic[T]):
    """One slot, one thread. ``process(item)`` runs on the worker thread, one item at a time; it
    may return ``False`` to say the item was dropped instead (e.g. prepared for a model that has
    been replaced since), which counts it as dropped rather than processed.

    An exception from ``process`` is counted and reported (to ``on_error`` if given, else to the
    ``logging`` module at most once per ``error_log_period`` seconds) and the thread carries on.
    """

    def __init__(self, process: Callable[[T], Optional[bool]], name: str = "latest-frame-worker", *,
                 on_error: Optional[Callable[[T, BaseException], None]] = None,
                 error_log_period: float = 5.0) -> None:
        self._process = process
        self.name = name
        self._on_error = on_error
        self._error_log_period = error_log_period
        self._cond = threading.Condition()
        self._item: Optional[T] = None
        self._has_item = False
        self._busy = False
        self._stopping = False
        self._thread: Optional[threading.Thread] = None
        self._received = self._processed = self._dropped = self._errors = 0
        self._busy_seconds = 0.0
        self._last_ms = 0.0
        self._last_error_log = float("-inf")
        self._suppressed_errors = 0

    # --- life cycle -------------------------------------------------------------------------------
    def start(self) -> "LatestFrameWorker[T]":
        with self._cond:
            if self._thread is not None:
                raise RuntimeError(f"worker {self.name!r} was already started")
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: Optional[float] = 5.0) -> bool:
        """Stop the thread after the item in progress (a pending item is dropped).

        Returns True when the thread has ended within ``timeout`` seconds (or never ran).
        """
        with self._cond:
            self._stopping = True
            if self._has_item:
                self._has_item = False
                self._item = None
                self._dropped += 1
            self._cond.notify_all()
            thread = self._thread
        if thread is None or thread is threading.current_thread():
            return True
        thread.join(timeout)
        return not thread.is_alive()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stopping

    # --- producer side ----------------------------------------------------------------------------
    def submit(self, item: T) -> bool:
        """Put ``item`` in the slot. Returns True when it replaced an item that was still waiting
        (that one is counted as dropped). After ``stop`` the item itself is dropped."""
        with self._cond:
            self._received += 1
            if self._stopping:
                self._dropped += 1
                return False
            replaced = self._has_item
            if replaced:
                self._dropped += 1
            self._item = item
            self._has_item = True
            self._cond.notify()
        return replaced

    def stats(self) -> WorkerStats:
        with self._cond:
            return WorkerStats(self._received, self._processed, self._dropped, self._errors,
                               self._has_item, self._busy, self._busy_seconds, self._last_ms)

    def wait_idle(self, timeout: Optional[float] = None) -> bool:
        """Block until the slot is empty and nothing is being processed (True), or timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._has_item or self._busy:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                if self._thread is None or not self._thread.is_alive():
                    return not (self._has_item or self._busy)
                self._cond.wait(remaining)
            return True

    # --- worker side ------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._has_item and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                # _has_item: the slot holds a T (T itself may include None, so no assert)
                item = cast(T, self._item)
                self._item = None
                self._has_item = False
                self._busy = True
            t0 = time.perf_counter()
            failed: Optional[BaseException] = None
            outcome: Optional[bool] = None
            try:
                outcome = self._process(item)
            except Exception as exc:  # a bad item must never end the thread
                failed = exc
            elapsed = time.perf_counter() - t0
            with self._cond:
                self._busy = False
                self._busy_seconds += elapsed
                self._last_ms = elapsed * 1e3
                if failed is not None:
                    self._errors += 1
                elif outcome is False:
                    self._dropped += 1
                else:
                    self._processed += 1
                self._cond.notify_all()
            if failed is not None:
                self._report(item, failed)
            del item

    def _report(self, item: T, exc: BaseException) -> None:
        if self._on_error is not None:
            try:
                self._on_error(item, exc)
            except Exception:  # the reporter must not end the thread either
                log.exception("worker %s: error handler failed", self.name)
            return
        now = time.monotonic()
        if now - self._last_error_log < self._error_log_period:
            self._suppressed_errors += 1
            return
        more = (f" ({self._suppressed_errors} more since the last report)"
                if self._suppressed_errors else "")
        self._suppressed_errors = 0
        self._last_error_log = now
        log.error("worker %s: processing failed: %s: %s%s", self.name, type(exc).__name__, exc,
                  more, exc_info=exc)


__all__ = ["LatestFrameWorker", "WorkerStats"]
