"""glibc malloc thresholds for a process that receives frame-sized messages.

Why: every large message lands in freshly allocated buffers, and glibc serves allocations above
its mmap threshold (128 KiB, rising dynamically only up to the largest freed chunk) with a new
``mmap``: each 6.2 MB 1080p buffer then costs ~1,500 minor page faults, received or not, which
is most of a Python subscriber's CPU per frame (REFERENCE.md section 6; bench/README.md has the
node's figures). Raising ``M_MMAP_THRESHOLD`` and ``M_TRIM_THRESHOLD`` before frames flow makes
glibc keep and reuse freed heap memory instead. The price: the process keeps its peak heap
(a few frames' worth).

Same effect as ``GLIBC_TUNABLES=glibc.malloc.mmap_threshold=...:glibc.malloc.trim_threshold=...``,
but set from inside the process, so ``ros2 run`` / ``ros2 launch`` need no environment. Off with
``RDK_CLASSIFIER_MALLOC_TUNING=0`` (or the node's ``malloc_tuning`` parameter); left alone when
``GLIBC_TUNABLES`` already sets either threshold, and on a C library without ``mallopt``.
"""

from __future__ import annotations

import ctypes
import os
from typing import Optional

#: <malloc.h>
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 256 * 1024 * 1024
TRIM_THRESHOLD = 1024 * 1024 * 1024
ENV_SWITCH = "RDK_CLASSIFIER_MALLOC_TUNING"


def tune_malloc(mmap_threshold: int = MMAP_THRESHOLD,
                trim_threshold: int = TRIM_THRESHOLD) -> Optional[str]:
    """Set the two thresholds; returns what was done (for the log), or None when skipped."""
    if os.environ.get(ENV_SWITCH, "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    if "malloc.mmap_threshold" in tunables or "malloc.trim_threshold" in tunables:
        return None  # the user chose already
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt), or no libc handle
        return None
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    ok = mallopt(M_MMAP_THRESHOLD, mmap_threshold) == 1
    ok = mallopt(M_TRIM_THRESHOLD, trim_threshold) == 1 and ok
    if not ok:
        return None
    return (f"glibc malloc: mmap threshold {mmap_threshold >> 20} MiB, trim threshold "
            f"{trim_threshold >> 20} MiB (frame buffers are reused; {ENV_SWITCH}=0 to disable)")


__all__ = ["tune_malloc", "ENV_SWITCH", "MMAP_THRESHOLD", "TRIM_THRESHOLD"]
