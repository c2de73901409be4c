"""The libdnn emulator (tools/libdnn_emu) for tests: build it, write containers, drive its C API.

``HbDNN`` is a small client of our own written against the documented hbDNN C API with ctypes (the
structures of tools/libdnn_emu/include/dnn/hb_dnn.h): what a binding does, without any vendor code.
"""

from __future__ import annotations

import ctypes
import os
import platform
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
EMULATOR_DIR = REPO / "tools" / "libdnn_emu"
MODELS = REPO / "rdk_classifier" / "models"
FP32_ONNX = MODELS / "efficientnet_lite0_fp32.onnx"
if str(EMULATOR_DIR) not in sys.path:
    sys.path.insert(0, str(EMULATOR_DIR))

import container  # noqa: E402  (tools/libdnn_emu/container.py)

#: every hb* symbol the vendor's bindings import: pyeasy_dnn (15, from its source) and the X5
#: hbm_runtime (18, `readelf --dyn-syms` of HB_HBMRuntime.so), all with the version node CONFIG
PYEASY_DNN_IMPORTS = (
    "hbDNNGetInputCount", "hbDNNGetInputName", "hbDNNGetInputTensorProperties",
    "hbDNNGetModelHandle", "hbDNNGetModelNameList", "hbDNNGetOutputCount", "hbDNNGetOutputName",
    "hbDNNGetOutputTensorProperties", "hbDNNInfer", "hbDNNInitializeFromFiles",
    "hbDNNReleaseTask", "hbDNNWaitTaskDone", "hbSysAllocCachedMem", "hbSysFlushMem",
    "hbSysFreeMem")
HBM_RUNTIME_IMPORTS = (
    "hbDNNInfer", "hbDNNGetModelHandle", "hbDNNGetOutputName", "hbSysAllocCachedMem",
    "hbDNNGetInputName", "hbDNNGetOutputCount", "hbDNNWaitTaskDone", "hbDNNGetVersion",
    "hbSysFreeMem", "hbDNNGetInputTensorProperties", "hbDNNGetInputCount", "hbDNNReleaseTask",
    "hbSysFlushMem", "hbDNNRelease", "hbDNNGetOutputTensorProperties", "hbDNNGetErrorDesc",
    "hbDNNInitializeFromFiles", "hbDNNGetModelNameList")

# hb_dnn.h constants
NV12, NV12_SEPARATE, F32, S32 = 1, 2, 13, 14
LAYOUT_NHWC, LAYOUT_NCHW = 0, 2
QUANT_NONE, QUANT_SCALE = 0, 2
INVALIDATE, CLEAN = 1, 2
INVALID_ARGUMENT, INVALID_MODEL, CAN_NOT_OPEN_FILE, RUN_TASK_FAILED = (
    -6000001, -6000002, -6000006, -6000012)


def build_emulator(out_dir: Path) -> Path:
    """libdnn.so built from source into out_dir; skips (loudly) where no C compiler exists."""
    if shutil.which("gcc") is None:
        warnings.warn("no C compiler (gcc): the libdnn emulator tests are skipped", stacklevel=2)
        pytest.skip("no C compiler (gcc) to build the libdnn emulator (tools/libdnn_emu)")
    target = subprocess.run(["gcc", "-dumpmachine"], capture_output=True, text=True).stdout
    if not target.startswith(platform.machine()):  # e.g. an emulated aarch64 python, x86 gcc
        pytest.skip(f"gcc builds for {target.strip()}, this interpreter runs on "
                    f"{platform.machine()}: the emulator cannot be loaded here")
    try:
        return container.build(out_dir, werror=True)  # our own C: no warning either
    except subprocess.CalledProcessError as exc:  # a build failure is a failure, not a skip
        raise AssertionError(f"tools/libdnn_emu/build.sh failed: {exc}") from exc


# ----------------------------------------------------------------------------- ctypes client

class TensorShape(ctypes.Structure):
    _fields_ = [("dimensionSize", ctypes.c_int32 * 8), ("numDimensions", ctypes.c_int32)]

    def dims(self) -> tuple[int, ...]:
        return tuple(self.dimensionSize[i] for i in range(self.numDimensions))


class QuantiShift(ctypes.Structure):
    _fields_ = [("shiftLen", ctypes.c_int32), ("shiftData", ctypes.POINTER(ctypes.c_uint8))]


class QuantiScale(ctypes.Structure):
    _fields_ = [("scaleLen", ctypes.c_int32), ("scaleData", ctypes.POINTER(ctypes.c_float)),
                ("zeroPointLen", ctypes.c_int32), ("zeroPointData", ctypes.POINTER(ctypes.c_int8))]


class TensorProperties(ctypes.Structure):
    _fields_ = [("validShape", TensorShape), ("alignedShape", TensorShape),
                ("tensorLayout", ctypes.c_int32), ("tensorType", ctypes.c_int32),
                ("shift", QuantiShift), ("scale", QuantiScale), ("quantiType", ctypes.c_int32),
                ("quantizeAxis", ctypes.c_int32), ("alignedByteSize", ctypes.c_int32),
                ("stride", ctypes.c_int32 * 8)]


class SysMem(ctypes.Structure):
    _fields_ = [("phyAddr", ctypes.c_uint64), ("virAddr", ctypes.c_void_p),
                ("memSize", ctypes.c_uint32)]


class Tensor(ctypes.Structure):
    _fields_ = [("sysMem", SysMem * 4), ("properties", TensorProperties)]


class InferCtrlParam(ctypes.Structure):
    _fields_ = [("bpuCoreId", ctypes.c_int32), ("dspCoreId", ctypes.c_int32),
                ("priority", ctypes.c_int32), ("more", ctypes.c_int32),
                ("customId", ctypes.c_int64), ("reserved1", ctypes.c_int32),
                ("reserved2", ctypes.c_int32)]


class HbDNNError(RuntimeError):
    def __init__(self, call: str, code: int) -> None:
        super().__init__(f"{call} returned {code}")
        self.code = code


class HbDNN:
    """One model of a container through the emulator's C API (load, properties, infer)."""

    def __init__(self, lib_path: Path, model_path: Path) -> None:
        self.lib = lib = ctypes.CDLL(str(lib_path))
        lib.hbDNNGetErrorDesc.restype = ctypes.c_char_p
        lib.hbDNNGetVersion.restype = ctypes.c_char_p
        self.packed = ctypes.c_void_p()
        files = (ctypes.c_char_p * 1)(str(model_path).encode())
        self._check("hbDNNInitializeFromFiles",
                    lib.hbDNNInitializeFromFiles(ctypes.byref(self.packed), files, 1))
        names = ctypes.POINTER(ctypes.c_char_p)()
        count = ctypes.c_int32()
        self._check("hbDNNGetModelNameList", lib.hbDNNGetModelNameList(
            ctypes.byref(names), ctypes.byref(count), self.packed))
        self.names = [names[i].decode() for i in range(count.value)]
        self.handle = ctypes.c_void_p()
        self._check("hbDNNGetModelHandle", lib.hbDNNGetModelHandle(
            ctypes.byref(self.handle), self.packed, self.names[0].encode()))
        self.input = Tensor()
        self.output = Tensor()
        self._check("hbDNNGetInputTensorProperties", lib.hbDNNGetInputTensorProperties(
            ctypes.byref(self.input.properties), self.handle, 0))
        self._check("hbDNNGetOutputTensorProperties", lib.hbDNNGetOutputTensorProperties(
            ctypes.byref(self.output.properties), self.handle, 0))
        for tensor in (self.input, self.output):
            self._check("hbSysAllocCachedMem", lib.hbSysAllocCachedMem(
                ctypes.byref(tensor.sysMem[0]), tensor.properties.alignedByteSize))

    @staticmethod
    def _check(call: str, code: int) -> None:
        if code != 0:
            raise HbDNNError(call, code)

    def name(self, output: bool) -> str:
        fn = self.lib.hbDNNGetOutputName if output else self.lib.hbDNNGetInputName
        out = ctypes.c_char_p()
        self._check("name", fn(ctypes.byref(out), self.handle, 0))
        return (out.value or b"").decode()

    def infer(self, nv12: np.ndarray | None = None, core: int = 0, priority: int = 0,
              custom_id: int = 0) -> np.ndarray:
        """Copy packed NV12 into the input memory (if given), run, return the raw output bytes."""
        mem = self.input.sysMem[0]
        if nv12 is not None:
            data = np.ascontiguousarray(nv12, np.uint8).reshape(-1)
            ctypes.memmove(mem.virAddr, data.ctypes.data, data.size)
            self._check("hbSysFlushMem", self.lib.hbSysFlushMem(ctypes.byref(mem), CLEAN))
        ctrl = InferCtrlParam(bpuCoreId=core, dspCoreId=0, priority=priority, more=0,
                              customId=custom_id)
        task = ctypes.c_void_p()
        out_ptr = ctypes.pointer(self.output)
        self._check("hbDNNInfer", self.lib.hbDNNInfer(
            ctypes.byref(task), ctypes.byref(out_ptr), ctypes.byref(self.input), self.handle,
            ctypes.byref(ctrl)))
        self._check("hbDNNWaitTaskDone", self.lib.hbDNNWaitTaskDone(task, 0))
        out = self.output.sysMem[0]
        self._check("hbSysFlushMem", self.lib.hbSysFlushMem(ctypes.byref(out), INVALIDATE))
        self._check("hbDNNReleaseTask", self.lib.hbDNNReleaseTask(task))
        return np.ctypeslib.as_array(ctypes.cast(out.virAddr, ctypes.POINTER(ctypes.c_uint8)),
                                     shape=(out.memSize,)).copy()

    def release(self) -> None:
        for tensor in (self.input, self.output):
            if tensor.sysMem[0].virAddr:
                self.lib.hbSysFreeMem(ctypes.byref(tensor.sysMem[0]))
        if self.packed:
            self._check("hbDNNRelease", self.lib.hbDNNRelease(self.packed))
            self.packed = ctypes.c_void_p()


def valid_values(raw: np.ndarray, props: TensorProperties) -> np.ndarray:
    """The valid elements of an output buffer, in class order, read by alignedShape (C order)."""
    dtype = {F32: np.float32, S32: np.int32}[props.tensorType]
    valid, aligned = props.validShape.dims(), props.alignedShape.dims()
    arr = raw[: int(np.prod(aligned)) * np.dtype(dtype).itemsize].view(dtype).reshape(aligned)
    return arr[tuple(slice(0, v) for v in valid)].reshape(-1)


def dequantize(values: np.ndarray, props: TensorProperties) -> np.ndarray:
    if props.quantiType != QUANT_SCALE:
        return values.astype(np.float32)
    n = props.scale.scaleLen
    scale = np.ctypeslib.as_array(props.scale.scaleData, shape=(n,)).astype(np.float32)
    return values.astype(np.float32) * (scale if n > 1 else scale[0])


# ------------------------------------------------------------------ the vendor's real binding

#: a local D-Robotics x5-hobot-spdev checkout: the vendor's pyeasy_dnn is built from it (nothing
#: of the vendor's is in this repository); tests that need it skip without it
SPDEV = os.environ.get("RDK_X5_SPDEV")
NEEDS_SPDEV = ("RDK_X5_SPDEV is not set: the vendor's pyeasy_dnn is built only from a local "
               "x5-hobot-spdev checkout (bench/bench_bpu_emulator.py --spdev)")


def vendor_pyeasy_dnn(work: Path):
    """Build the vendor's pyeasy_dnn against the emulator in ``work``; yields the module
    (``hobot_dnn.pyeasy_dnn``, importable while the generator is open)."""
    if not SPDEV:
        pytest.skip(NEEDS_SPDEV)
    if shutil.which("gcc") is None or shutil.which("g++") is None:
        pytest.skip("no C/C++ compiler to build the emulator and pyeasy_dnn")
    from vendor_bindings import build_pyeasy_dnn  # tools/libdnn_emu

    site, _ = build_pyeasy_dnn(SPDEV, work)
    sys.path.insert(0, str(site))
    for name in ("hobot_dnn", "hobot_dnn.pyeasy_dnn"):
        sys.modules.pop(name, None)
    from hobot_dnn import pyeasy_dnn

    assert pyeasy_dnn.__file__.startswith(str(site))
    try:
        yield pyeasy_dnn
    finally:
        sys.path.remove(str(site))
        for name in ("hobot_dnn", "hobot_dnn.pyeasy_dnn"):
            sys.modules.pop(name, None)
