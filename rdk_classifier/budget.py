"""One memory budget for everything that buffers untrusted data: frames and detection sets that
wait for their partner (``stamp_matching``), decompressed bag messages, calibration tensors and
manifests, read before they are parsed. Whatever a file or a bag says about its own size is
checked against the budget before the bytes are read or inflated, so a small hostile input cannot
make a large allocation; a refusal is one line naming the limit and how to change it.

The budget is per kind of buffer, not a process-wide accountant: each buffer is bounded by it on
its own (caches split it between frames and detections). With the model (~50-150 MB) and the
interpreter, the default keeps a command well under 1 GB.

Set it with ``--memory-budget MB`` (the commands that buffer: bag, quantize, toolchain-config) or
``$RDK_CLASSIFIER_MEMORY_BUDGET_MB``.
"""

from __future__ import annotations

import os

from .errors import BudgetError

#: the default budget in bytes
DEFAULT_MEMORY_BUDGET = 256 << 20
#: environment variable that sets the budget in MB (the option wins)
MEMORY_BUDGET_ENV = "RDK_CLASSIFIER_MEMORY_BUDGET_MB"
#: how a refusal says the budget can be changed
HOW_TO_CHANGE = f"raise it with --memory-budget MB or ${MEMORY_BUDGET_ENV}"
#: the hint of a bounded read whose limit is the budget
LIMIT_HINT = f"the memory budget; {HOW_TO_CHANGE}"

_override: int | None = None


def parse_megabytes(text: str) -> int:
    """``--memory-budget`` / the environment value: a positive number of MB, as bytes."""
    try:
        value = float(text)
    except ValueError:
        raise BudgetError(f"memory budget {text[:40]!r} is not a number of MB") from None
    if not 1 <= value <= 1 << 20:
        raise BudgetError(f"memory budget {value:g} MB is outside 1..{1 << 20} MB")
    return int(value * (1 << 20))


def set_memory_budget(nbytes: int | None) -> None:
    """The budget of this process (None: back to the environment / the default)."""
    global _override
    _override = nbytes


def memory_budget() -> int:
    """The budget in bytes: ``set_memory_budget``, else the environment, else the default."""
    if _override is not None:
        return _override
    env = os.environ.get(MEMORY_BUDGET_ENV, "").strip()
    return parse_megabytes(env) if env else DEFAULT_MEMORY_BUDGET


def describe(nbytes: int) -> str:
    return f"{nbytes / (1 << 20):.1f} MB" if nbytes >= 1 << 20 else f"{nbytes} bytes"


def check(nbytes: int, what: str, budget: int | None = None) -> None:
    """BudgetError (one line, the limit and how to change it) when ``nbytes`` of ``what``
    would exceed the budget; call it before reading or inflating."""
    limit = memory_budget() if budget is None else budget
    if nbytes > limit:
        raise BudgetError(f"{what} needs {describe(nbytes)}, over the memory budget of "
                          f"{describe(limit)} ({HOW_TO_CHANGE})")


__all__ = ["DEFAULT_MEMORY_BUDGET", "HOW_TO_CHANGE", "LIMIT_HINT", "MEMORY_BUDGET_ENV", "check", "describe",
           "memory_budget", "parse_megabytes", "set_memory_budget"]
