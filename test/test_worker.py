"""LatestFrameWorker: frames faster than processing -> only the newest is processed, drops counted.

Deterministic: the process function blocks on events the test controls; no sleep is an assert.
"""

from __future__ import annotations

import logging
import threading

import pytest

from rdk_classifier.ros.worker import LatestFrameWorker, WorkerStats

TIMEOUT = 10.0


class Gate:
    """A process function that reports each start and waits until the test lets it finish."""

    def __init__(self, fail_on=()) -> None:
        self.started: list = []
        self.done: list = []
        self.fail_on = set(fail_on)
        self._cond = threading.Condition()
        self._release = 0

    def __call__(self, item) -> None:
        with self._cond:
            self.started.append(item)
            self._cond.notify_all()
            assert self._cond.wait_for(lambda: self._release > 0, TIMEOUT), "never released"
            self._release -= 1
        if item in self.fail_on:
            raise RuntimeError(f"cannot process {item}")
        self.done.append(item)

    def wait_started(self, count: int) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.started) >= count, TIMEOUT)

    def release(self, n: int = 1) -> None:
        with self._cond:
            self._release += n
            self._cond.notify_all()


@pytest.fixture
def gate_worker():
    gate = Gate()
    worker = LatestFrameWorker(gate, name="test-worker").start()
    yield gate, worker
    gate.release(100)
    assert worker.stop(timeout=TIMEOUT)


def test_only_the_newest_frame_is_processed_and_drops_are_exact(gate_worker):
    gate, worker = gate_worker
    assert worker.submit(0) is False          # slot was empty
    gate.wait_started(1)                      # the worker is busy with frame 0
    replaced = [worker.submit(i) for i in range(1, 10)]  # nine frames while 0 is in progress
    assert replaced == [False] + [True] * 8   # each later frame replaced the waiting one
    s = worker.stats()
    assert (s.received, s.dropped, s.processed, s.pending, s.busy) == (10, 8, 0, True, True)
    gate.release()                            # 0 finishes; the worker takes 9, the newest
    gate.wait_started(2)
    assert gate.started == [0, 9]
    gate.release()
    assert worker.wait_idle(TIMEOUT)
    assert gate.done == [0, 9]
    s = worker.stats()
    assert (s.received, s.processed, s.dropped, s.errors, s.pending, s.busy) == \
        (10, 2, 8, 0, False, False)
    assert s.received == s.processed + s.dropped + s.errors


def test_a_frame_submitted_while_idle_is_never_dropped(gate_worker):
    gate, worker = gate_worker
    for i in range(5):
        gate.release()
        worker.submit(i)
        assert worker.wait_idle(TIMEOUT)
    assert gate.done == [0, 1, 2, 3, 4]
    assert worker.stats().dropped == 0


def test_bursts_drop_all_but_the_newest_each_time(gate_worker):
    gate, worker = gate_worker
    worker.submit("a0")
    gate.wait_started(1)
    for burst, expect in ((["b1", "b2", "b3"], "b3"), (["c1", "c2"], "c2")):
        for item in burst:
            worker.submit(item)
        gate.release()               # finish the frame in progress
        gate.wait_started(len(gate.started) + 1)
        assert gate.started[-1] == expect
    gate.release()
    assert worker.wait_idle(TIMEOUT)
    assert gate.done == ["a0", "b3", "c2"]
    assert worker.stats().dropped == 2 + 1


def test_an_exception_is_counted_reported_and_the_thread_goes_on():
    gate = Gate(fail_on={"bad"})
    reported = []
    worker = LatestFrameWorker(gate, name="errors",
                               on_error=lambda item, exc: reported.append((item, str(exc))))
    worker.start()
    try:
        for item in ("ok1", "bad", "ok2"):
            gate.release()
            worker.submit(item)
            assert worker.wait_idle(TIMEOUT)
        s = worker.stats()
        assert (s.processed, s.errors, s.dropped) == (2, 1, 0)
        assert gate.done == ["ok1", "ok2"]
        assert reported == [("bad", "cannot process bad")]
        assert worker.running
    finally:
        gate.release(10)
        assert worker.stop(TIMEOUT)


def test_errors_without_handler_are_logged_throttled(caplog):
    def always_fail(item):
        raise ValueError(f"boom {item}")

    worker = LatestFrameWorker(always_fail, name="throttled", error_log_period=3600.0).start()
    try:
        with caplog.at_level(logging.ERROR, logger="rdk_classifier.ros.worker"):
            for i in range(4):
                worker.submit(i)
                assert worker.wait_idle(TIMEOUT)
        assert worker.stats().errors == 4
        logged = [r for r in caplog.records if "throttled" in r.getMessage()]
        assert len(logged) == 1 and "boom 0" in logged[0].getMessage()
    finally:
        assert worker.stop(TIMEOUT)


def test_a_failing_error_handler_does_not_end_the_thread():
    def fail(item):
        raise RuntimeError("x")

    def bad_handler(item, exc):
        raise RuntimeError("handler broken")

    worker = LatestFrameWorker(fail, name="bad-handler", on_error=bad_handler).start()
    try:
        for i in range(3):
            worker.submit(i)
            assert worker.wait_idle(TIMEOUT)
        assert worker.stats().errors == 3
        assert worker.running
    finally:
        assert worker.stop(TIMEOUT)


def test_stop_drops_the_pending_frame_and_later_submits():
    gate = Gate()
    worker = LatestFrameWorker(gate, name="stopping").start()
    worker.submit(1)
    gate.wait_started(1)
    worker.submit(2)                      # pending while 1 is in progress
    stopper = threading.Thread(target=worker.stop, kwargs={"timeout": TIMEOUT})
    stopper.start()
    gate.release()                        # let 1 finish so the thread can end
    stopper.join(TIMEOUT)
    assert not stopper.is_alive()
    assert worker.submit(3) is False      # after stop: counted, dropped, never processed
    s = worker.stats()
    assert gate.done == [1]
    assert (s.received, s.processed, s.dropped) == (3, 1, 2)
    assert not worker.running


def test_start_twice_is_an_error_and_stats_are_a_dataclass():
    worker = LatestFrameWorker(lambda item: None)
    assert worker.stop() is True           # never started: nothing to wait for
    assert isinstance(worker.stats(), WorkerStats)
    assert worker.stats().to_dict()["received"] == 0
    w2 = LatestFrameWorker(lambda item: None).start()
    with pytest.raises(RuntimeError):
        w2.start()
    assert w2.stop(TIMEOUT)


def test_process_returning_false_counts_the_item_as_dropped():
    seen = []
    done = threading.Event()

    def process(item):
        seen.append(item)
        if item == 3:
            done.set()
        return item != 2          # item 2 "was no longer valid"

    w = LatestFrameWorker(process, name="t").start()
    try:
        for i in (1, 2, 3):
            w.submit(i)
            assert w.wait_idle(5.0)
        assert done.is_set()
        s = w.stats()
        assert seen == [1, 2, 3]
        assert (s.received, s.processed, s.dropped, s.errors) == (3, 2, 1, 0)
    finally:
        w.stop()
