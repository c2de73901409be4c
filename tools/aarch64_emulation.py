"""pytest plugin for tools/aarch64_check.sh: runs under qemu-user, ~20-50x slower than native.

Only hypothesis' per-example deadline (200 ms by default) is lifted: a deadline measures the
emulator, not the package. Every example, every assertion and the example counts stay as they are.
"""

from __future__ import annotations


def pytest_configure(config) -> None:
    try:
        from hypothesis import settings
    except ImportError:  # pragma: no cover - hypothesis is a test dependency
        return
    settings.register_profile("aarch64_emulation", deadline=None)
    settings.load_profile("aarch64_emulation")
