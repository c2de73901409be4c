"""One function over many items on N threads, answers in input order, bounded read-ahead.

What ``classify --workers`` and ``evaluate --workers`` run on: the threads decode and preprocess in
parallel (OpenCV and numpy release the GIL), and share ONE classifier; inference runs as many at
once as the backend takes (``Classifier`` limits the callers to the backend's ``max_concurrent``),
so a BPU model is still called by one thread at a time while the next images are being decoded.

At most ``read_ahead`` items are in flight (submitted, not yet handed to the caller): memory stays
bounded whatever the number of items, and the caller gets item k's answer before item
k + read_ahead is started. An exception raised by ``fn`` reaches the caller at that item's place,
after which nothing new starts; Ctrl-C in the caller stops the pool the same way, and the call
returns only when every running item has finished (none is left inside a native runtime while
the interpreter exits).
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def default_read_ahead(workers: int) -> int:
    """Items in flight for ``workers`` threads: two each, so a thread finding its next item
    ready never waits for the caller to collect the previous one."""
    return 2 * max(1, workers)


def ordered_map(fn: Callable[[T], R], items: Iterable[T], workers: int = 1,
                read_ahead: int | None = None, name: str = "worker") -> Iterator[R]:
    """``fn(item)`` of every item, yielded in the order of ``items``. ``workers`` <= 1 runs in
    the calling thread (no pool, no thread switch per item)."""
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if workers == 1:
        for item in items:
            yield fn(item)
        return
    window = max(1, read_ahead if read_ahead is not None else default_read_ahead(workers))
    pending: deque[Future] = deque()
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
    try:
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True)


__all__ = ["default_read_ahead", "ordered_map"]
