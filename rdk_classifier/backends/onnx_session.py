"""The one place that builds ONNX Runtime sessions, so int8 answers do not depend on the CPU.

ONNX Runtime's x86 int8 (U8S8) kernels on CPUs without VNNI (AVX2 only: most laptops, many CI
runners) add pairs of u8*s8 products in 16-bit registers (``vpmaddubsw``), which saturate: the
shipped int8 model then gives a mean output cosine to fp32 of ~0.89 instead of ~0.99, and other
top-1s. The session option ``session.x64quantprecision = 1`` makes those kernels widen before
adding, which gives the VNNI result at about the same speed there. The AVX-512 VNNI / AVX-VNNI
kernels and the ARM kernels (NEON, dot product, i8mm) do not saturate, and on a VNNI CPU the option
costs 2.7x the int8 latency (measured: 13.7 vs 5.0 ms, Intel Xeon with AVX-512 VNNI) for the same
answers, so it is set exactly where the kernels would saturate (``cpu_int8_info``, from the
process's own CPU probe, so also right under an emulator).

Every session of the package (the CPU backend, ``quantize``'s comparisons, hence ``classify``,
``evaluate``, ``bench``, the node and the bag tool) comes from ``create_session``.
"""

from __future__ import annotations

import functools
import platform
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import BackendUnavailableError
from ..platform_info import read_cpuinfo, runtime_features

#: session config entry that keeps x86 U8S8 int8 kernels from saturating on AVX2 (no VNNI)
X64_QUANT_PRECISION = "session.x64quantprecision"
#: session config entry: may idle intra-op pool threads spin (busy-wait) for work? "0" / "1"
INTRA_OP_SPINNING = "session.intra_op.allow_spinning"
#: the package's choice (see ``session_options``): pool threads sleep instead of spinning
DEFAULT_SPINNING = False


def load_onnxruntime():
    try:
        import onnxruntime
    except ImportError as exc:  # pragma: no cover - onnxruntime is a hard dependency
        raise BackendUnavailableError(
            f"the CPU backend needs onnxruntime ({exc}); install it with: pip install onnxruntime"
        ) from None
    return onnxruntime


def session_options(threads: int = 1, optimize: bool = True, widen_int8: bool | None = None,
                    spinning: bool | None = None):
    """SessionOptions with the package's settings (see the module docstring). ``widen_int8``:
    set ``session.x64quantprecision``; None = where this CPU's int8 kernels would saturate.

    ``spinning``: let idle intra-op pool threads busy-wait for the next parallel section (ONNX
    Runtime's default) instead of sleeping; None = ``DEFAULT_SPINNING`` (off). Measured on a shared
    2-core machine (bench/README.md, "Session options"): with 2 threads, spinning costs CPU time
    for no speed, and on a loaded machine or beside a second session (the node's other cameras,
    ``evaluate``/``classify`` workers) the spinning threads steal the cores the work needs. With
    one thread there is no pool and the setting changes nothing."""
    ort = load_onnxruntime()
    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, int(threads))
    options.inter_op_num_threads = 1
    spin = DEFAULT_SPINNING if spinning is None else spinning
    options.add_session_config_entry(INTRA_OP_SPINNING, "1" if spin else "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "1" if spin else "0")
    options.log_severity_level = 3
    options.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimize
                                         else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    if widen_int8 is None:
        widen_int8 = _this_cpu().saturating_without_setting
    if widen_int8:
        options.add_session_config_entry(X64_QUANT_PRECISION, "1")
    return options


@functools.lru_cache(maxsize=1)
def _this_cpu() -> "CpuInt8Info":
    return cpu_int8_info()


def create_session(model: str | Path | bytes, threads: int = 1, optimize: bool = True,
                   spinning: bool | None = None):
    """An ``InferenceSession`` on the CPU provider for a model file or serialized model bytes.
    Load errors propagate as ONNX Runtime raises them; callers wrap them in their own message."""
    ort = load_onnxruntime()
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, session_options(threads, optimize, spinning=spinning),
                                providers=["CPUExecutionProvider"])


@dataclass(frozen=True)
class CpuInt8Info:
    """Which int8 kernel family ONNX Runtime picks on this CPU, and whether it is one whose
    results differ from the others without the package's session setting."""

    machine: str
    cpu: str
    features: tuple[str, ...]
    int8_kernels: str
    saturating_without_setting: bool

    def to_dict(self) -> dict:
        return asdict(self)

    def line(self) -> str:
        note = (f"; these saturate unless {X64_QUANT_PRECISION}=1, which this package sets here"
                if self.saturating_without_setting else "")
        return f"{self.cpu} ({self.machine}), int8 kernels: {self.int8_kernels}{note}"


_X86_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512vnni", "avx_vnni", "amx_int8")
_ARM_FLAGS = ("asimd", "asimddp", "i8mm", "sve")


def cpu_int8_info(cpuinfo_path: str = "/proc/cpuinfo", runtime: dict[str, bool] | None = None,
                  machine: str | None = None) -> CpuInt8Info:
    """The CPU and its int8-relevant features. Features come from numpy's runtime probe
    (``platform_info.runtime_features``, true under emulation) where available, the name and the
    flags numpy does not probe (avx_vnni) from /proc/cpuinfo when the two agree."""
    machine = (machine or platform.machine()).lower() or "unknown"
    name, flags = read_cpuinfo(cpuinfo_path)
    name = name or platform.processor() or machine
    runtime = runtime_features() if runtime is None else runtime
    runtime = {k.lower(): v for k, v in runtime.items()}
    if runtime:
        probed = {"avx2": runtime.get("avx2", False), "avx512f": runtime.get("avx512f", False),
                  "avx512_vnni": runtime.get("avx512vnni", False),
                  "asimd": runtime.get("asimd", False), "asimddp": runtime.get("asimddp", False)}
        agrees = all((flag in flags) == value for flag, value in probed.items()
                     if flag in ("avx2", "avx512f"))
        flags = {f for f, v in probed.items() if v} | (
            {f for f in flags if f in ("avx_vnni", "i8mm", "amx_int8")} if agrees else set())
    if machine in ("x86_64", "amd64", "i686", "x86"):
        present = tuple(f for f in _X86_FLAGS if f in flags)
        if {"avx512_vnni", "avx512vnni"} & flags:
            kernels, saturating = "AVX-512 VNNI", False
        elif "avx_vnni" in flags:
            kernels, saturating = "AVX-VNNI", False
        elif "avx2" in flags:
            kernels, saturating = "AVX2 without VNNI (u8*s8 pairs summed in 16 bits)", True
        elif flags:
            kernels, saturating = "SSE (no AVX2)", True
        else:
            kernels, saturating = "unknown x86", True
    elif machine in ("aarch64", "arm64", "armv8l", "armv7l"):
        present = tuple(f for f in _ARM_FLAGS if f in flags)
        kernels = ("ARM i8mm" if "i8mm" in flags else "ARM dot product" if "asimddp" in flags
                   else "ARM NEON")
        saturating = False
    else:
        present, kernels, saturating = (), f"unknown ({machine})", False
    return CpuInt8Info(machine, name, present, kernels, saturating)


def onnxruntime_version() -> str:
    return getattr(load_onnxruntime(), "__version__", "unknown")


__all__ = ["DEFAULT_SPINNING", "INTRA_OP_SPINNING", "X64_QUANT_PRECISION", "CpuInt8Info",
           "cpu_int8_info", "create_session", "load_onnxruntime", "onnxruntime_version", "session_options"]
