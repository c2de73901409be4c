"""The ordered worker pool under classify/evaluate --workers: input order, bounded read-ahead,
errors at their item's place (threads, but no timing: events decide who runs when)."""

from __future__ import annotations

import threading

import pytest

from rdk_classifier.parallel import default_read_ahead, ordered_map


def test_answers_come_in_input_order_whatever_finishes_first():
    release = {i: threading.Event() for i in range(6)}

    def work(i: int) -> int:
        release[i].wait(10)
        return i * i

    for i in (5, 3, 4, 1, 2, 0):  # later items finish first
        release[i].set()
    assert list(ordered_map(work, range(6), workers=3, read_ahead=6)) == [0, 1, 4, 9, 16, 25]


def test_read_ahead_bounds_the_items_in_flight():
    started: list[int] = []
    lock = threading.Lock()

    def work(i: int) -> int:
        with lock:
            started.append(i)
        return i

    gen = ordered_map(work, range(100), workers=2, read_ahead=4)
    assert next(gen) == 0
    # item 0 was handed over once 4 were submitted; at most 4 more are submitted before the next
    assert max(started) <= 4
    assert list(gen) == list(range(1, 100))
    assert default_read_ahead(3) == 6


def test_an_error_reaches_the_caller_at_its_item_and_nothing_new_starts():
    started: list[int] = []

    def work(i: int) -> int:
        started.append(i)
        if i == 3:
            raise RuntimeError("bug in item 3")
        return i

    got = []
    with pytest.raises(RuntimeError, match="bug in item 3"):
        for v in ordered_map(work, range(1000), workers=2, read_ahead=4):
            got.append(v)
    assert got == [0, 1, 2]
    assert max(started) < 10


def test_one_worker_runs_in_the_calling_thread():
    caller = threading.get_ident()
    assert list(ordered_map(lambda i: threading.get_ident() == caller, range(3))) == [True] * 3
    with pytest.raises(ValueError, match="workers must be >= 1"):
        list(ordered_map(lambda i: i, range(3), workers=0))
