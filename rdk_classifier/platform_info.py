"""What CPU this is, for reports (``doctor``, ``quantize``, ``bench``): /proc/cpuinfo and the
features the process really has. Under an emulator (qemu-user) /proc/cpuinfo shows the host,
so numpy's own CPUID/auxv probe is the truth for the flags it knows."""

from __future__ import annotations


def read_cpuinfo(path: str = "/proc/cpuinfo") -> tuple[str | None, set[str]]:
    """(model name, flags) from a cpuinfo file; (None, empty) where it cannot be read. ARM
    kernels name no model: the "CPU part" numbers stand in."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read(1 << 20)
    except OSError:
        return None, set()
    name, flags, parts = None, set(), set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip().lower(), value.strip()
        if key in ("model name", "hardware", "cpu model") and name is None and value:
            name = value
        elif key in ("flags", "features"):
            flags.update(value.split())
        elif key == "cpu part" and value:
            parts.add(value)
    if name is None and parts:
        name = f"ARM CPU part {', '.join(sorted(parts))}"
    return name, flags


def runtime_features() -> dict[str, bool]:
    """numpy's CPU feature probe (names like ``AVX2``, ``AVX512VNNI``, ``ASIMDDP``); empty where
    numpy does not expose it."""
    for module in ("numpy._core._multiarray_umath", "numpy.core._multiarray_umath"):
        try:
            features = __import__(module, fromlist=["__cpu_features__"]).__cpu_features__
        except (ImportError, AttributeError):
            continue
        return {str(k): bool(v) for k, v in features.items()}
    return {}


__all__ = ["read_cpuinfo", "runtime_features"]
