"""Detection sets meet their frames by stamp: interleaved out of order, lost on either side,
duplicates, bounded caches; never paired by arrival order."""

from __future__ import annotations

import random

import pytest

from rdk_classifier.stamp_matching import StampMatcher


def run(events, matcher):
    """Feed ("frame"|"det", stamp) events; returns the matches as (stamp, frame, detections)."""
    out = []
    for kind, stamp in events:
        if kind == "frame":
            m = matcher.add_frame(stamp, f"frame@{stamp}")
        else:
            m = matcher.add_detections(stamp, f"dets@{stamp}")
        if m is not None:
            out.append(m)
    return out


@pytest.mark.parametrize("seed", range(20))
def test_interleaved_out_of_order(seed):
    """Frames at 30 Hz, detections for most of them arriving 0-3 frames late, some before
    their frame, some frames never detected, some detections whose frame was lost."""
    rng = random.Random(seed)
    stamps = [1_700_000_000_000_000_000 + i * 33_333_333 for i in range(200)]
    events = []
    lost_frames = set(rng.sample(stamps, 15))
    undetected = set(rng.sample(stamps, 20))
    for i, s in enumerate(stamps):
        if s not in lost_frames:
            events.append((i + rng.uniform(-0.5, 0.5), "frame", s))
        if s not in undetected:
            events.append((i + rng.uniform(-1.5, 3.0), "det", s))
    events.sort()
    matcher = StampMatcher(frame_capacity=8, detection_capacity=8)
    matches = run([(k, s) for _, k, s in events], matcher)
    for m in matches:
        assert m.frame == f"frame@{m.stamp}" and m.detections == f"dets@{m.stamp}"
    expected = {s for s in stamps if s not in lost_frames and s not in undetected}
    assert {m.stamp for m in matches} == expected
    st = matcher.stats()
    assert st.matched == len(expected)
    # everything else is either counted as unmatched or still waiting in a cache
    frames_in = len(stamps) - len(lost_frames)
    dets_in = len(stamps) - len(undetected)
    assert st.frames_unmatched + st.frames_waiting == frames_in - len(expected)
    assert st.detections_unmatched + st.detections_waiting == dets_in - len(expected)
    assert st.frames_waiting <= 8 and st.detections_waiting <= 8


def test_never_by_arrival_order():
    m = StampMatcher()
    assert m.add_frame(1, "f1") is None
    assert m.add_frame(2, "f2") is None
    assert m.add_detections(3, "d3") is None     # no frame 3: waits, not paired with f1
    got = m.add_detections(2, "d2")
    assert (got.stamp, got.frame, got.detections) == (2, "f2", "d2")
    got = m.add_frame(3, "f3")
    assert (got.frame, got.detections) == ("f3", "d3")
    st = m.stats()
    assert (st.matched, st.frames_waiting, st.detections_waiting) == (2, 1, 0)


def test_a_frame_is_matched_once():
    m = StampMatcher()
    m.add_frame(5, "f5")
    assert m.add_detections(5, "a").detections == "a"
    assert m.add_detections(5, "b") is None      # the frame is gone: b waits
    assert m.stats().detections_waiting == 1


def test_bounded_caches_evict_the_oldest_and_count_it():
    m = StampMatcher(frame_capacity=3, detection_capacity=2)
    for s in range(10):
        m.add_frame(s, s)
    st = m.stats()
    assert (st.frames_waiting, st.frames_unmatched) == (3, 7)
    assert m.add_detections(0, "late") is None   # frame 0 was evicted
    assert m.add_detections(9, "d9").frame == 9
    for s in range(100, 105):
        m.add_detections(s, s)
    st = m.stats()
    assert st.detections_waiting == 2 and st.detections_unmatched == 4  # "late" + 100..102
    # a second item with the same stamp replaces the first, which counts as unmatched
    m2 = StampMatcher()
    m2.add_frame(1, "old")
    m2.add_frame(1, "new")
    assert m2.add_detections(1, "d").frame == "new" and m2.stats().frames_unmatched == 1
    m2.add_frame(7, "x")
    m2.clear()
    assert m2.stats().frames_unmatched == 2 and m2.stats().frames_waiting == 0


def test_capacity_is_checked():
    with pytest.raises(ValueError, match="frame_capacity"):
        StampMatcher(frame_capacity=0)
    with pytest.raises(ValueError, match="detection_capacity"):
        StampMatcher(detection_capacity=10**6)


# ----------------------------------------------------------------------------- byte budget

def test_a_byte_budget_evicts_the_oldest_by_size_not_count():
    m = StampMatcher(64, 64, frame_max_bytes=100, detection_max_bytes=50)
    for stamp in range(10):  # 40 bytes each: at most two fit in 100
        assert m.add_frame(stamp, f"frame{stamp}", nbytes=40) is None
    st = m.stats()
    assert st.frames_waiting == 2 and st.frames_unmatched == 8 and st.bytes_waiting == 80
    assert m.add_detections(9, "dets", nbytes=10).frame == "frame9"  # the newest still matches
    assert m.add_detections(0, "late", nbytes=10) is None  # its frame was evicted
    assert m.stats().bytes_waiting == 40 + 10


def test_an_item_over_the_whole_budget_is_never_stored():
    m = StampMatcher(8, 8, frame_max_bytes=1000, detection_max_bytes=1000)
    m.add_frame(1, "small", nbytes=10)
    assert m.add_detections(2, "huge ids", nbytes=10**9) is None
    st = m.stats()
    assert st.too_large == 1 and st.detections_waiting == 0 and st.detections_unmatched == 1
    assert st.frames_waiting == 1  # the small frame stays


def test_replacing_a_stamp_keeps_the_byte_count_right():
    m = StampMatcher(8, 8, frame_max_bytes=100)
    m.add_frame(1, "a", nbytes=60)
    m.add_frame(1, "b", nbytes=30)
    assert m.stats().bytes_waiting == 30 and m.stats().frames_unmatched == 1
    m.clear()
    assert m.stats().bytes_waiting == 0


def test_without_sizes_the_count_bound_alone_applies():
    m = StampMatcher(3, 3, frame_max_bytes=1)
    for stamp in range(5):
        m.add_frame(stamp, stamp)  # nbytes 0
    assert m.stats().frames_waiting == 3


def test_message_nbytes_counts_what_a_message_holds():
    import array
    from dataclasses import dataclass

    import numpy as np

    from rdk_classifier.stamp_matching import message_nbytes

    @dataclass
    class Det:
        id: str
        data: object

    class Slotted:  # how rclpy's generated messages keep their fields
        __slots__ = ("_header", "_data")

        def __init__(self) -> None:
            self._header = "h"
            self._data = array.array("B", bytes(1000))

    assert message_nbytes(b"x" * 5000) >= 5000
    assert message_nbytes(np.zeros(6_220_800, np.uint8)) >= 6_220_800
    assert message_nbytes(Det("i" * 3_000_000, [Det("a", b"")] * 3)) >= 3_000_000
    assert message_nbytes(Slotted()) >= 1000
    assert message_nbytes(memoryview(bytes(777))) >= 777
    nested = []
    for _ in range(100):  # deep nesting: bounded recursion, no RecursionError
        nested = [nested]
    assert message_nbytes(nested) > 0
