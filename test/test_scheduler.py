"""The scheduler of one model for many cameras: fairness, weights, max_rate, latest-frame slots and
result ages, driven by a fake clock and ``step()`` (no threads, no wall time); then the same
frames through a real classifier on 1 and on 3 threads give the same answers."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from rdk_classifier.classifier import Classifier
from rdk_classifier.frames import load_image
from rdk_classifier.scheduler import CameraPolicy, Job, Scheduler, default_workers

PHOTOS = Path(__file__).parent / "data" / "photos"


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def camera_job(name: str, stamp: float, log: list, clock: FakeClock | None = None,
               cost: float = 0.0) -> Job:
    def run():
        if clock is not None:
            clock.now += cost  # the job takes ``cost`` seconds of the fake clock
        return (name, stamp)

    return Job(name, stamp, run, log.append)


def overload(sched: Scheduler, clock: FakeClock, names, ticks: int, log: list,
             period: float = 0.01) -> None:
    """Every camera sends a frame every tick; the model answers one frame per tick."""
    for _ in range(ticks):
        for n in names:
            sched.submit(camera_job(n, clock.now, log))
        sched.step()
        clock.now += period


def test_equal_cameras_share_the_model_equally_under_overload():
    clock, log = FakeClock(), []
    sched = Scheduler(clock)
    names = ["cam0", "cam1", "cam2", "cam3"]
    for n in names:
        sched.add_camera(n)
    overload(sched, clock, names, 400, log)
    answered = Counter(name for name, _ in log)
    assert sorted(answered.values()) == [100, 100, 100, 100]
    # strict turns: every run of four answers holds each camera once
    order = [name for name, _ in log]
    assert all(sorted(order[i:i + 4]) == names for i in range(0, 400, 4))
    stats = sched.stats()
    for n in names:
        s = stats[n]
        assert (s.received, s.answered, s.failed) == (400, 100, 0)
    # every frame was answered, replaced by a newer one, or is still waiting (three cameras'
    # last frames: the model answered only one of the last four)
    assert sched.pending() == 3
    assert sum(s.replaced for s in stats.values()) == 4 * 400 - 4 * 100 - 3


def test_weights_give_turns_in_proportion():
    clock, log = FakeClock(), []
    sched = Scheduler(clock)
    sched.add_camera("front", CameraPolicy(weight=2.0))
    sched.add_camera("left")
    sched.add_camera("right")
    overload(sched, clock, ["front", "left", "right"], 400, log)
    answered = Counter(name for name, _ in log)
    assert answered["front"] == 200 and answered["left"] == answered["right"] == 100


def test_max_rate_caps_a_camera_and_its_share_goes_to_the_others():
    clock, log = FakeClock(), []
    sched = Scheduler(clock)
    sched.add_camera("slow", CameraPolicy(max_rate=10.0))  # at most 10 answers per second
    sched.add_camera("fast")
    overload(sched, clock, ["slow", "fast"], 1000, log, period=0.01)  # 10 s at 100 answers/s
    answered = Counter(name for name, _ in log)
    assert answered["slow"] == 100  # one per 0.1 s, for 10 s
    assert answered["fast"] == 900
    starts = [stamp for name, stamp in log if name == "slow"]
    assert np.allclose(np.diff(starts), 0.1)


def test_latest_frame_wins_and_age_is_delivery_minus_stamp():
    clock, log = FakeClock(), []
    sched = Scheduler(clock)
    sched.add_camera("cam")
    assert sched.submit(camera_job("cam", 100.0, log, clock, cost=0.030)) is False
    assert sched.submit(camera_job("cam", 100.2, log, clock, cost=0.030)) is True
    clock.now = 100.25
    assert sched.step() == "cam"
    assert sched.step() is None
    assert log == [("cam", 100.2)]  # the older frame was never run
    stats = sched.stats()["cam"]
    assert (stats.received, stats.replaced, stats.answered) == (2, 1, 1)
    # delivered at 100.28 (started 100.25, took 30 ms) for a frame stamped 100.2: 80 ms old
    assert stats.age_summary()["p50"] == pytest.approx(80.0)


def test_age_percentiles_per_camera():
    clock, log = FakeClock(), []
    sched = Scheduler(clock)
    sched.add_camera("a")
    sched.add_camera("b")
    for k in range(100):
        sched.submit(camera_job("a", clock.now - 0.001 * (k + 1), log))  # 1..100 ms old
        sched.submit(camera_job("b", clock.now - 0.050, log))
        sched.step()
        sched.step()
    a, b = sched.stats()["a"].age_summary(), sched.stats()["b"].age_summary()
    assert a["p50"] == pytest.approx(50.5) and a["p99"] == pytest.approx(99.01)
    assert b["p50"] == pytest.approx(50.0) and b["p99"] == pytest.approx(50.0)


def test_an_idle_camera_earns_no_burst():
    clock, log = FakeClock(), []
    sched = Scheduler(clock)
    sched.add_camera("busy")
    sched.add_camera("late")
    overload(sched, clock, ["busy"], 50, log)        # "late" sends nothing for 50 turns
    overload(sched, clock, ["busy", "late"], 20, log)
    tail = [name for name, _ in log[50:]]
    assert Counter(tail) == {"busy": 10, "late": 10}  # alternating, not 20 x "late" first


def test_one_frame_of_a_camera_at_a_time_and_errors_are_counted():
    clock, log, errors = FakeClock(), [], []
    sched = Scheduler(clock, on_error=lambda job, exc: errors.append((job.camera, str(exc))))
    sched.add_camera("cam")

    def bad():
        raise ValueError("corrupt frame")

    sched.submit(Job("cam", clock.now, bad, log.append))
    assert sched.step() == "cam"
    sched.submit(camera_job("cam", clock.now, log))
    assert sched.step() == "cam"
    stats = sched.stats()["cam"]
    assert (stats.answered, stats.failed) == (1, 1)
    assert errors == [("cam", "corrupt frame")]
    with pytest.raises(KeyError, match="unknown camera 'nope'"):
        sched.submit(camera_job("nope", 0.0, log))
    with pytest.raises(ValueError, match="already scheduled"):
        sched.add_camera("cam")
    with pytest.raises(ValueError, match="weight must be a positive number"):
        CameraPolicy(weight=0)
    with pytest.raises(ValueError, match="max_rate must be >= 0"):
        CameraPolicy(max_rate=-1)


def test_default_workers_follow_the_backend():
    assert default_workers(1, cameras=4) == 2           # BPU: one inference + one preprocessing
    assert default_workers(None, cameras=4, cores=2) == 3
    assert default_workers(None, cameras=1, cores=8) == 1
    assert default_workers(2, cameras=8) == 3


@pytest.fixture(scope="module")
def classifier():
    clf = Classifier.from_model("EfficientNet_Lite0_fp32", backend="cpu")
    yield clf
    clf.close()


def _photo_frames():
    photos = sorted(p for p in PHOTOS.iterdir() if p.suffix == ".png")
    images = [load_image(p) for p in photos]
    return [img if k % 2 == 0 else img[:, ::-1].copy() for k in range(3) for img in images]


def _run_cameras(clf: Classifier, workers: int, frames) -> dict[str, list]:
    """Every camera classifies every frame once (one frame in its slot at a time, so none is
    replaced); the answers per camera in delivery order."""
    sched = Scheduler()
    answers: dict[str, list] = {f"cam{k}": [] for k in range(3)}
    done = threading.Semaphore(0)
    for name in answers:
        sched.add_camera(name)
    if workers > 1:
        sched.start(workers)
    try:
        for i, frame in enumerate(frames):
            for name, out in answers.items():
                def deliver(result, out=out):
                    out.append(result)
                    done.release()
                sched.submit(Job(name, float(i), lambda f=frame: clf.classify_image(f), deliver))
            if workers == 1:
                while sched.step():
                    pass
            for _ in answers:
                done.acquire()
    finally:
        sched.stop()
    return {name: [[(p.class_id, round(p.score, 6)) for p in r.top] for r in out]
            for name, out in answers.items()}


def test_same_answers_with_one_and_several_threads_from_one_model(classifier):
    frames = _photo_frames()
    one = _run_cameras(classifier, 1, frames)
    three = _run_cameras(classifier, 3, frames)
    assert one == three
    assert all(len(v) == len(frames) for v in three.values())
    # the cameras saw the same frames, so the same answers; and the photos are told apart
    assert one["cam0"] == one["cam1"] == one["cam2"]
    assert len({tuple(a[0]) for a in one["cam0"]}) > 1


def test_a_camera_slot_has_the_workers_interface_and_counters():
    from rdk_classifier.ros.camera_slot import SchedulerSlot

    clock, seen = FakeClock(), []
    sched = Scheduler(clock)

    def process(item):
        seen.append(item)
        return item != "stale"  # False: prepared for a replaced model, counted as dropped

    a = SchedulerSlot(sched, "a", process, stamp_of=lambda item: clock.now - 0.02)
    b = SchedulerSlot(sched, "b", process, stamp_of=lambda item: clock.now)
    assert a.start() is a and sched.cameras == ("a", "b")
    a.submit("a1")
    assert a.submit("a2") is True   # replaced a1 unseen
    b.submit("stale")
    while sched.step():
        pass
    assert seen == ["a2", "stale"]
    sa, sb = a.stats(), b.stats()
    assert (sa.received, sa.processed, sa.dropped, sa.errors) == (2, 1, 1, 0)
    assert (sb.received, sb.processed, sb.dropped, sb.errors) == (1, 0, 1, 0)
    assert a.scheduler_stats().age_summary()["p50"] == pytest.approx(20.0)
    assert a.wait_idle(0) and b.wait_idle(0)
    b.submit("b1")
    assert not b.wait_idle(0)  # waiting, and no thread to run it
    assert b.stop(timeout=0) and b.submit("b2") is False
    assert b.stats().dropped == 2 and sched.step() is None


def test_camera_policies_parameter():
    from rdk_classifier.ros.settings import NodeSettings, parse_camera_policy, validate

    assert parse_camera_policy("front weight=2 max_rate=15") == (
        "front", {"weight": 2.0, "max_rate": 15.0})
    s = NodeSettings(image_topics=("front", "rear"), max_rate=10.0,
                     camera_policies=("front weight=2",))
    assert validate(s) == []
    assert s.camera_policy("front") == CameraPolicy(weight=2.0, max_rate=10.0)
    assert s.camera_policy("rear") == CameraPolicy(weight=1.0, max_rate=10.0)
    bad = NodeSettings(image_topics=("front",), camera_policies=(
        "front weight=0", "side weight=1", "front speed=3", "weight=2"))
    problems = validate(bad)
    assert len(problems) == 4
    assert "weight must be a positive number" in problems[0]
    assert "'side weight=1' names no camera topic (the topics: front)" in problems[1]
    assert "'speed=3' is not weight=W or max_rate=R" in problems[2]
    assert "does not start with a topic" in problems[3]


def test_a_camera_back_from_idle_earns_no_burst_after_a_rate_limited_turn():
    # a rate-limited camera lags in service (it waits for its next start, it is not owed turns);
    # a camera back from idle joins at the current level, not at the laggard's, whoever ran last
    clock, log = FakeClock(), []
    sched = Scheduler(clock)
    sched.add_camera("slow", CameraPolicy(max_rate=10.0))
    sched.add_camera("fast")
    sched.add_camera("late")
    overload(sched, clock, ["slow", "fast"], 991, log)  # slow answers at ticks 0, 10, ..., 990
    assert log[-1][0] == "slow"
    before = len(log)
    overload(sched, clock, ["slow", "fast", "late"], 100, log)
    answered = Counter(name for name, _ in log[before:])
    assert answered["slow"] == 10
    assert abs(answered["fast"] - answered["late"]) <= 1, answered  # not 90 x "late", 0 x "fast"


def test_a_clock_that_goes_back_does_not_stall_a_rate_limited_camera():
    # ROS time jumps back when a bag is played in a loop with use_sim_time: the camera's next
    # start, computed before the jump, must not hold its frames back for the length of the bag
    clock, log = FakeClock(), []
    sched = Scheduler(clock)
    sched.add_camera("cam", CameraPolicy(max_rate=10.0))
    sched.submit(camera_job("cam", clock.now, log))
    assert sched.step() == "cam"
    clock.now = 40.0                       # the bag starts over, 60 s earlier
    sched.submit(camera_job("cam", clock.now, log))
    assert sched.step() == "cam"
    sched.submit(camera_job("cam", clock.now, log))
    assert sched.step() is None            # max_rate still holds after the jump
    clock.now += 0.1
    assert sched.step() == "cam"
    assert [stamp for _, stamp in log] == [100.0, 40.0, 40.0]


def test_an_error_handler_that_raises_does_not_end_a_worker_thread():
    errors = []

    def on_error(job, exc):
        errors.append(str(exc))
        raise RuntimeError("the error handler itself failed")

    def bad():
        raise ValueError("corrupt frame")

    log: list = []
    sched = Scheduler(on_error=on_error)
    sched.add_camera("cam")
    sched.start(1)  # one thread: if it ended, nothing would serve the camera any more
    try:
        sched.submit(Job("cam", 0.0, bad, log.append))
        assert sched.wait_idle(timeout=10)
        sched.submit(Job("cam", 1.0, lambda: "answer", log.append))
        assert sched.wait_idle(timeout=10)
    finally:
        sched.stop()
    assert errors == ["corrupt frame"] and log == ["answer"]
    stats = sched.stats()["cam"]
    assert (stats.failed, stats.answered) == (1, 1)


class TracedCondition(threading.Condition):
    """The scheduler's condition, telling which threads wait on it (by thread name)."""

    def __init__(self) -> None:
        super().__init__()
        self.entries: Counter = Counter()
        self.waiting: set[str] = set()
        self.changed = threading.Condition()

    def wait(self, timeout=None):
        name = threading.current_thread().name
        with self.changed:
            self.entries[name] += 1
            self.waiting.add(name)
            self.changed.notify_all()
        try:
            return super().wait(timeout)
        finally:
            with self.changed:
                self.waiting.discard(name)

    def until(self, predicate) -> None:
        with self.changed:
            assert self.changed.wait_for(predicate, 30)


def test_a_frame_is_not_left_waiting_because_someone_waits_for_another_camera():
    # the wake-up a new frame sends must reach an idle worker even when a wait_idle() caller
    # waits on the same condition ahead of it (Condition.notify wakes the longest waiter only)
    sched = Scheduler()
    cond = sched._lock = TracedCondition()
    sched.add_camera("a")
    sched.add_camera("b")
    a_inside, a_release, b_done = threading.Event(), threading.Event(), threading.Event()

    def slow_a():
        a_inside.set()
        assert a_release.wait(30)

    sched.start(2)
    try:
        cond.until(lambda: len(cond.waiting) == 2)          # both workers idle
        sched.submit(Job("a", 0.0, slow_a))
        assert a_inside.wait(30)
        idle = next(iter(cond.waiting))                     # the worker not running a's frame
        waiter = threading.Thread(target=sched.wait_idle, args=("a", 30), name="wait-idle")
        waiter.start()
        cond.until(lambda: "wait-idle" in cond.waiting)     # queue: idle worker, wait_idle
        seen = cond.entries[idle]
        with cond:
            cond.notify()                                   # the idle worker wakes, finds
        cond.until(lambda: cond.entries[idle] > seen)       # nothing, queues behind wait_idle
        sched.submit(Job("b", 0.0, lambda: "b", lambda _: b_done.set()))
        assert b_done.wait(10), "b's frame waited for a's to finish"
    finally:
        a_release.set()
        sched.stop()
        waiter.join(30)
