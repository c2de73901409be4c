"""Bag bytes bounded before they are inflated (the memory budget, ``rdk_classifier.budget``).

rosbags inflates a compressed MCAP chunk whole (and keeps its messages until they are read) and a
message of a bag written with ``compression_mode: message`` whole, before it checks anything. A
1 MB bag can so ask for gigabytes. Two guards, both against the budget:

- the sizes a bag declares (every MCAP chunk's ``uncompressed_size`` from its index) are checked
  when it is opened: ``check_declared_sizes``;
- while a bag is read, ``bounded_inflation`` makes rosbags' zstd / lz4 inflation stop at the
  declared size (a chunk) or at the budget (a message), so data that lies about its size cannot
  inflate past it either. rosbags looks its decompressors up at call time (the ``DECOMPRESSORS``
  table of ``storage_mcap``, the ``zstd`` module of ``rosbag2.reader``); they are replaced for the
  duration of the block and put back after it.

Not covered: an unchunked MCAP or sqlite3 bag stores messages uncompressed (a large message is as
large on disk: the file size bounds it), and ``compression_mode: file`` bags are inflated by
rosbags to a temporary file on disk, not into memory.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import Any, Callable, Iterator

from .. import budget, safe_io
from ..errors import BagError, BudgetError

_lock = threading.Lock()
#: a bag folder's metadata.yaml (a few lines per topic and file: kilobytes); rosbags reads and
#: parses it whole
MAX_METADATA_BYTES = 16 << 20


def check_metadata_file(src: Path) -> None:
    """BagError unless a bag folder's ``metadata.yaml`` is a regular file of at most
    ``MAX_METADATA_BYTES``: rosbags reads it whole (a FIFO would hang, /dev/zero or a sparse
    file exhaust memory)."""
    meta = Path(src) / "metadata.yaml"
    if Path(src).is_dir() and os.path.lexists(meta):
        with safe_io.open_bounded(meta, MAX_METADATA_BYTES, "bag metadata", BagError):
            pass


def check_declared_sizes(reader: Any, limit: int | None = None) -> None:
    """BudgetError when a chunk of an MCAP storage of ``reader`` declares more bytes than the
    budget (read from the chunk index: nothing is inflated)."""
    limit = budget.memory_budget() if limit is None else limit
    storages = getattr(reader, "storages", None) or [getattr(reader, "storage", None)]
    for storage in storages:
        for chunk in getattr(storage, "chunks", None) or ():
            size = int(getattr(chunk, "uncompressed_size", 0))
            if size > limit:
                raise BudgetError(f"bag chunk at byte {getattr(chunk, 'chunk_start_offset', '?')} "
                                  f"inflates to {budget.describe(size)}, over the memory budget "
                                  f"of {budget.describe(limit)} ({budget.HOW_TO_CHANGE})")


#: output produced per decompressor call: the overshoot past a limit is at most this
_STEP = 8 << 20


def _inflate(make: Callable[[], Any], data: bytes, limit: int, what: str) -> bytes:
    """Inflate every frame of ``data`` with decompressors from ``make``, never more than
    ``limit`` bytes in all: the output is produced ``_STEP`` bytes at a time and checked after
    each step, so a bomb costs at most the limit and a step before it is refused."""
    out = bytearray()
    rest = bytes(data)
    while rest:
        d = make()
        pending: bytes = rest
        while not d.eof:
            if pending == b"" and d.needs_input:
                raise ValueError(f"{what} is truncated compressed data")
            out += d.decompress(pending, max_length=min(_STEP, limit + 1 - len(out)))
            pending = b""
            if len(out) > limit:
                raise BudgetError(f"{what} inflates past {budget.describe(limit)} (its declared "
                                  f"size or the memory budget; {budget.HOW_TO_CHANGE})")
        rest = d.unused_data
    return bytes(out)


def _zstd_decompressor():
    import importlib

    try:
        zstd = importlib.import_module("compression.zstd")  # Python >= 3.14
    except ImportError:
        zstd = importlib.import_module("backports.zstd")  # what rosbags uses before 3.14
    return zstd.ZstdDecompressor()


def _lz4_decompressor():
    from lz4.frame import LZ4FrameDecompressor  # type: ignore[import-untyped]

    return LZ4FrameDecompressor()


class _BoundedZstd:
    """What rosbags' reader uses of the zstd module: ``decompress`` bounded, the rest as is."""

    def __init__(self, real: Any, limit: int) -> None:
        self._real, self._limit = real, limit

    def decompress(self, data: bytes, *args: Any, **kwargs: Any) -> bytes:
        return _inflate(_zstd_decompressor, data, self._limit, "a compressed bag message")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


@contextlib.contextmanager
def bounded_inflation(limit: int | None = None) -> Iterator[None]:
    """While the block runs, rosbags inflates an MCAP chunk to at most its declared size (which
    ``check_declared_sizes`` bounds) and a message to at most ``limit`` (the budget)."""
    limit = budget.memory_budget() if limit is None else limit
    from rosbags.rosbag2 import reader as reader_module
    from rosbags.rosbag2 import storage_mcap

    table = getattr(storage_mcap, "DECOMPRESSORS", None)
    with _lock:
        saved_table = dict(table) if isinstance(table, dict) else None
        saved_zstd = getattr(reader_module, "zstd", None)
        if saved_table is not None:
            table["zstd"] = lambda data, size: _inflate(  # type: ignore[index]
                _zstd_decompressor, data, min(size, limit), "a compressed MCAP chunk")
            table["lz4"] = lambda data, size: _inflate(  # type: ignore[index]
                _lz4_decompressor, data, min(size, limit), "a compressed MCAP chunk")
        if saved_zstd is not None:
            reader_module.zstd = _BoundedZstd(saved_zstd, limit)  # type: ignore[assignment]
    try:
        yield
    finally:
        with _lock:
            if saved_table is not None:
                table.clear()  # type: ignore[union-attr]
                table.update(saved_table)  # type: ignore[union-attr]
            if saved_zstd is not None:
                reader_module.zstd = saved_zstd


__all__ = ["MAX_METADATA_BYTES", "bounded_inflation", "check_declared_sizes",
           "check_metadata_file"]
