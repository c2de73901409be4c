"""TEST DOUBLES of the RDK BPU Python runtimes. Not the real thing: nothing here touches a BPU.

They follow D-Robotics' own sources attribute by attribute (read there, written here):

* ``hbm_runtime`` as x5-hobot-spdev ``python/hbm_runtime/HB_HBMRuntime.pyi`` and
  ``__init__.py`` and the rdk_doc "BPU Algorithm API Guide" page define it: ``HB_HBMRuntime(path)``
  (the X5 build opens a lower-case ``.bin`` only; the PyPI S-series build only ``.hbm``),
  ``version()``, ``model_names`` (the name stored INSIDE the .bin, not the file stem),
  ``model_count``, ``model_descs``, ``hbm_descs``, ``input_*`` / ``output_*`` ``counts``, ``names``,
  ``descs``, ``shapes`` (valid shapes), ``dtypes`` (``hbDNNDataType``), ``quants`` (``QuantParams``:
  ``quant_type`` ``hbDNNQuantiType.NONE/SCALE``, ``scale``, ``zero_point``, ``axis``), ``strides``
  (bytes; -1 where dynamic), ``sched_params`` (``SchedParam``; ``bpu_cores`` [-1] = automatic),
  ``set_scheduling_params(priority=, bpu_cores=)`` (cores 0..3) and ``run({m: {input: nv12}})``.
  Importing it where its vendor library is missing raises ``RuntimeError`` (its ``__init__``
  checks ``libdnn.so``; the PyPI build checks ``libhbucp.so``).
* ``pyeasy_dnn`` as x5-hobot-spdev ``src/python/dnn_python.cpp`` implements it: ``load(path)`` ->
  list of ``Model`` (``name`` = the name inside the .bin, ``inputs``, ``outputs``,
  ``estimate_latency``, ``forward(arg, core_id=0, priority=0)``; core_id is hbDNN's core mask:
  0 = any, 1 << k = core k).
  A failing ``load``/``forward`` sets a RuntimeError and returns None, which Python turns into
  ``SystemError`` with that RuntimeError as its cause. Tensor ``properties`` (a new object on each
  access): ``tensor_type`` / ``dtype`` strings ("NV12", "uint8", "float32", "int32"), ``layout``
  ("NCHW" / "NHWC"), ``shape`` (validShape dims), ``validShape`` / ``alignedShape`` (an int: the
  address of a newly malloc'ed ``hbDNNTensorShape {int32 dimensionSize[8]; int32 numDimensions}``),
  ``scale_data`` (float32 array, empty = not quantized; no zero point, no axis). ``.buffer`` copies
  prod(validShape dims 0..3) elements from the START of the (aligned) output buffer into a 4-D
  array of validShape's first four dimensions, whatever numDimensions is.

The "model" is a deterministic function of the NV12 bytes: ``raw_values(nv12, n)[j]`` is the byte
at position ``j * 7919 mod len(nv12)`` minus 128 (it samples both the Y and the UV plane). A float
model outputs ``raw_values * FLOAT_STEP``; a quantized one the integers ``raw_values + zero_point``
with the scales below, so the exact dequantized result is ``expected_scores``. Padding elements of
an aligned buffer hold ``PAD_VALUE``, so reading them in place of a score changes the answer.
"""

from __future__ import annotations

import ctypes
import enum
import importlib.abc
import importlib.util
import math
import sys
import types
from pathlib import Path

import numpy as np

FLOAT_STEP = 0.5
PER_TENSOR_SCALE = 0.25
PER_TENSOR_ZERO_POINT = 3
PAD_VALUE = 30000
QUANT_VARIANTS = ("none", "per_tensor", "per_channel")
BIN_MODEL_NAME = "classifier_net_in_bin"  # model_names / Model.name: NOT the file stem


def per_channel_scale(n: int) -> np.ndarray:
    """Distinct per-class scales (so applying them along the wrong axis changes the answer)."""
    return (0.125 * (1 + np.arange(n) % 7)).astype(np.float32)


def per_channel_zero_point(n: int) -> np.ndarray:
    return (np.arange(n) % 5 - 2).astype(np.int32)


def raw_values(nv12: np.ndarray, n: int) -> np.ndarray:
    flat = np.asarray(nv12, dtype=np.uint8).reshape(-1)
    idx = (np.arange(n, dtype=np.int64) * 7919) % flat.size
    return flat[idx].astype(np.int32) - 128


def expected_scores(nv12: np.ndarray, n: int, quant: str) -> np.ndarray:
    """What a correct backend must return for this input (float32, exact)."""
    v = raw_values(nv12, n).astype(np.float32)
    if quant in ("none", "dequantized_by_runtime"):
        return v * np.float32(FLOAT_STEP)
    if quant == "per_tensor":
        return v * np.float32(PER_TENSOR_SCALE)
    if quant == "per_channel":
        return v * per_channel_scale(n)
    raise ValueError(quant)


def _device_values(nv12: np.ndarray, n: int, quant: str, zero_point: bool) -> np.ndarray:
    """The valid output values as the BPU writes them (float32 or int32)."""
    values = raw_values(nv12, n)
    if quant in ("none", "dequantized_by_runtime"):
        return values.astype(np.float32) * np.float32(FLOAT_STEP)
    if not zero_point:
        return values.astype(np.int32)
    zp = PER_TENSOR_ZERO_POINT if quant == "per_tensor" else per_channel_zero_point(n)
    return (values + zp).astype(np.int32)


def _aligned_buffer(valid_values: np.ndarray, valid: tuple, aligned: tuple) -> np.ndarray:
    """The output buffer in aligned layout (C order over ``aligned``), padding = PAD_VALUE."""
    buf = np.full(aligned, PAD_VALUE, dtype=valid_values.dtype)
    buf[tuple(slice(0, v) for v in valid)] = valid_values.reshape(valid)
    return buf.reshape(-1)


def _check_model_file(path) -> None:
    if not Path(path).is_file():
        raise RuntimeError(f"double: model file {path} does not exist")


def _output_shape(kind, n: int, layout: str = "NCHW") -> tuple:
    """"NC" -> (1, n); "NCHW" -> (1, n, 1, 1) (NHWC: (1, 1, 1, n)); a tuple as it is."""
    if isinstance(kind, tuple):
        return kind
    if kind == "NC":
        return (1, n)
    return (1, n, 1, 1) if layout == "NCHW" else (1, 1, 1, n)


# ----------------------------------------------------------------------------- hbm_runtime

class hbDNNQuantiType(enum.IntEnum):  # noqa: N801 - the real name
    NONE = 0
    SCALE = 1


class hbDNNDataType(enum.IntEnum):  # noqa: N801 - the real name
    S8 = 0
    U8 = 1
    NV12 = 2
    F16 = 3
    S16 = 4
    F32 = 5
    S32 = 6


class QuantParams:
    def __init__(self, quant_type: hbDNNQuantiType, scale: np.ndarray, zero_point: np.ndarray,
                 axis: int) -> None:
        self.quant_type = quant_type
        self.scale = scale
        self.zero_point = zero_point
        self.axis = axis


class SchedParam:
    def __init__(self) -> None:
        self.priority = 0
        self.customId = 0  # noqa: N815 - the real name
        self.bpu_cores = [-1]
        self.deviceId = 0  # noqa: N815 - the real name


def make_hbm_runtime(height: int = 224, width: int = 224, num_classes: int = 1000,
                     quant: str = "none", output_shape: str = "NCHW",
                     output_aligned: tuple | None = None, return_mode: str = "valid_view",
                     input_layout: str = "NCHW", accepts: str = ".bin",
                     fail_run: bool = False) -> types.ModuleType:
    """A module object that stands in for ``hbm_runtime``.

    ``output_shape``: "NC" -> (1, n); "NCHW" -> (1, n, 1, 1). ``output_aligned``: the padded
    buffer shape (default: no padding); ``output_strides`` are its C-order byte strides.
    ``return_mode``: how ``run`` hands the output back: "valid_view" (valid shape, the aligned
    byte strides: what a numpy view on the buffer is), "valid_copy" (compact copy), "aligned"
    (the whole aligned buffer), "flat" (the aligned buffer as 1-D), "garbage" (a shape that fits
    nothing). ``quant``: one of QUANT_VARIANTS, or "dequantized_by_runtime" (SCALE declared,
    float32 values returned). ``accepts``: ".bin" (the X5 build) or ".hbm" (the PyPI build).
    """
    module = types.ModuleType("hbm_runtime")
    module.__doc__ = "TEST DOUBLE of hbm_runtime (test/bpu_doubles.py)"
    module.hbDNNQuantiType = hbDNNQuantiType
    module.hbDNNDataType = hbDNNDataType
    module.QuantParams = QuantParams
    module.SchedParam = SchedParam
    module.instances = []
    valid = _output_shape(output_shape, num_classes)
    num_classes = math.prod(valid)
    aligned = tuple(output_aligned) if output_aligned is not None else valid
    int_out = quant in ("per_tensor", "per_channel")
    itemsize = 4
    strides = [itemsize * math.prod(aligned[i + 1:]) for i in range(len(aligned))]

    class HB_HBMRuntime:  # noqa: N801 - the real class name
        def __init__(self, path: str) -> None:
            if not str(path).endswith(accepts):
                raise ValueError(f"Invalid model file extension: {path}. Only .hbm supported.")
            _check_model_file(path)
            name = BIN_MODEL_NAME
            self.model_names = [name]
            self.model_count = 1
            self.model_descs = {name: ""}
            self.hbm_descs = {str(path): ""}
            self.input_counts = {name: 1}
            self.input_names = {name: ["input"]}
            self.input_descs = {name: {"input": ""}}
            in_shape = [1, 3, height, width] if input_layout == "NCHW" else [1, height, width, 1]
            self.input_shapes = {name: {"input": in_shape}}
            self.input_dtypes = {name: {"input": hbDNNDataType.NV12}}
            self.input_quants = {name: {"input": QuantParams(
                hbDNNQuantiType.NONE, np.array([], np.float32), np.array([], np.int32), 0)}}
            self.input_strides = {name: {"input": [-1, -1, 1, 1]}}
            self.output_counts = {name: 1}
            self.output_names = {name: ["output"]}
            self.output_descs = {name: {"output": ""}}
            self.output_shapes = {name: {"output": list(valid)}}
            self.output_dtypes = {name: {"output": hbDNNDataType.S32 if int_out
                                         else hbDNNDataType.F32}}
            self.output_strides = {name: {"output": list(strides)}}
            if quant == "none":
                q = QuantParams(hbDNNQuantiType.NONE, np.array([], np.float32),
                                np.array([], np.int32), 0)
            elif quant in ("per_tensor", "dequantized_by_runtime"):
                q = QuantParams(hbDNNQuantiType.SCALE, np.array([PER_TENSOR_SCALE], np.float32),
                                np.array([PER_TENSOR_ZERO_POINT], np.int32), 0)
            elif quant == "per_channel":
                q = QuantParams(hbDNNQuantiType.SCALE, per_channel_scale(num_classes),
                                per_channel_zero_point(num_classes), 1)
            else:
                raise ValueError(quant)
            self.output_quants = {name: {"output": q}}
            self.sched_params = {name: SchedParam()}
            self.scheduling_calls: list[dict] = []
            self.inputs_seen: list[np.ndarray] = []
            module.instances.append(self)

        @staticmethod
        def version() -> str:
            return "double-3.5.0"

        def set_scheduling_params(self, priority=None, bpu_cores=None, custom_id=None,
                                  device_id=None) -> None:
            for model, p in (priority or {}).items():
                if model not in self.model_names:
                    raise ValueError(f'Invalid model name in priority setting: "{model}"')
                if not 0 <= p <= 255:
                    raise ValueError(f'Priority value for model "{model}" is out of valid range '
                                     f'[0, 255]: {p}')
                self.sched_params[model].priority = p
            for model, cores in (bpu_cores or {}).items():
                if model not in self.model_names:
                    raise ValueError(f'Invalid model name in bpu_cores: "{model}"')
                if not isinstance(cores, list) or any(not 0 <= c <= 3 for c in cores):
                    raise ValueError(f'Invalid BPU core ID for model "{model}" (valid range: '
                                     f'[0, 3])')
                self.sched_params[model].bpu_cores = list(cores)
            call = {}
            if priority is not None:
                call["priority"] = priority
            if bpu_cores is not None:
                call["bpu_cores"] = bpu_cores
            self.scheduling_calls.append(call)

        def run(self, inputs, **kwargs) -> dict:
            if fail_run:
                raise RuntimeError("hbDNNInfer failed")
            name = self.model_names[0]
            feed = inputs[name] if isinstance(inputs, dict) and name in inputs else inputs
            tensor = feed["input"] if isinstance(feed, dict) else feed
            assert isinstance(tensor, np.ndarray) and tensor.dtype == np.uint8, tensor.dtype
            assert tensor.flags.c_contiguous
            assert tensor.shape in ((height * width * 3 // 2,), (1, height * 3 // 2, width, 1)), \
                tensor.shape
            self.inputs_seen.append(tensor.copy())
            values = _device_values(tensor, num_classes, quant, zero_point=True)
            buf = _aligned_buffer(values, valid, aligned)
            if return_mode == "valid_view":
                out = np.lib.stride_tricks.as_strided(buf, shape=valid, strides=strides)
            elif return_mode == "valid_copy":
                out = np.ascontiguousarray(buf.reshape(aligned)[tuple(slice(0, v) for v in valid)])
            elif return_mode == "aligned":
                out = buf.reshape(aligned)
            elif return_mode == "flat":
                out = buf
            elif return_mode == "garbage":
                out = buf[: num_classes // 2]
            else:
                raise ValueError(return_mode)
            return {name: {"output": out}}

    module.HB_HBMRuntime = HB_HBMRuntime
    return module


# ----------------------------------------------------------------------------- pyeasy_dnn

#: hbDNNTensorShape structs handed out as addresses; kept alive (the real getter leaks them)
_SHAPE_STRUCTS: list = []


def _shape_pointer(dims: tuple) -> int:
    """An int address of a freshly allocated hbDNNTensorShape, as pyeasy_dnn returns it."""
    struct = (ctypes.c_int32 * 9)()
    for i, d in enumerate(dims):
        struct[i] = d
    for i in range(len(dims), 8):
        struct[i] = 0x5A5A  # uninitialized memory in the real getter (only ndim entries copied)
    struct[8] = len(dims)
    _SHAPE_STRUCTS.append(struct)
    return ctypes.addressof(struct)


class TensorProperties:
    def __init__(self, tensor_type: str, dtype: str, layout: str, valid: tuple, aligned: tuple,
                 scale_data: np.ndarray, shape_mode: str) -> None:
        self.tensor_type = tensor_type
        self.dtype = dtype
        self.layout = layout
        self.shape = tuple(valid)
        self._valid, self._aligned, self._mode = tuple(valid), tuple(aligned), shape_mode
        self.scale_data = scale_data

    @property
    def validShape(self):  # noqa: N802 - the real name
        return _shape_pointer(self._valid) if self._mode == "pointer" else self._valid

    @property
    def alignedShape(self):  # noqa: N802 - the real name
        return _shape_pointer(self._aligned) if self._mode == "pointer" else self._aligned


class Tensor:
    def __init__(self, name: str, make_properties, buffer=None) -> None:
        self.name = name
        self._make_properties = make_properties
        self.buffer = buffer

    @property
    def properties(self) -> TensorProperties:
        return self._make_properties()


def _raw_prefix(arr: np.ndarray, nbytes: int) -> np.ndarray:
    """``nbytes`` bytes from an array's data pointer, as the real binding's memcpy reads them
    (whatever the strides; the bytes must lie in the array's base buffer)."""
    base = arr
    while isinstance(base.base, np.ndarray):
        base = base.base
    start = arr.ctypes.data - base.ctypes.data
    assert 0 <= start and start + nbytes <= base.nbytes, "would read past the array's buffer"
    return np.frombuffer((ctypes.c_uint8 * nbytes).from_address(arr.ctypes.data),
                         np.uint8).copy()


def _pyeasy_error(function: str, message: str) -> SystemError:
    """What CPython raises when a C function sets an error and still returns None."""
    err = SystemError(f"<built-in function {function}> returned a result with an exception set")
    err.__cause__ = RuntimeError(message)
    return err


def make_pyeasy_dnn(height: int = 224, width: int = 224, num_classes: int = 1000,
                    quant: str = "none", layout: str = "NCHW", output_shape: str = "NCHW",
                    output_aligned: tuple | None = None, tail_dims: tuple = (0, 0),
                    shape_mode: str = "pointer", fail_load: bool = False,
                    fail_forward: bool = False, bpu_cores: int = 1) -> types.ModuleType:
    """A module object that stands in for ``pyeasy_dnn``.

    ``forward`` does with its argument what the real binding did on the libdnn emulator
    (test/test_bpu_vendor_emulated.py; each behaviour has a test in
    test/test_bpu_doubles_observed.py): an ndarray's ELEMENT COUNT of bytes is copied from its
    data pointer whatever its dtype, shape or strides into the model's input memory (which keeps
    its bytes between calls); a list/tuple is converted to uint8 item by item; anything else is
    skipped with "arg_obj is NOT a container." on stdout and the model runs on the stale input.
    ``core_id`` is hbDNN's core mask: 0 any, 1 << k core k; a core the chip (``bpu_cores``
    cores) lacks fails the forward. ``load`` keeps every Model alive for good (``models``), as the
    real one leaks a reference to each.

    ``quant`` "none" (float32 output) / "per_tensor" / "per_channel" (int32 times scale_data; no
    zero point). ``output_shape`` "NCHW" -> (1, n, 1, 1) in ``layout`` order, "NC" -> (1, n).
    ``output_aligned``: the padded buffer shape (default none). ``tail_dims``: what a 2-D
    validShape holds in dimensionSize[2..3] (the real buffer is 4-D from dims 0..3: (0, 0) gives
    an empty array). ``shape_mode`` "pointer" (the real API) or "sequence".
    """
    if quant not in QUANT_VARIANTS:
        raise ValueError(quant)
    module = types.ModuleType("pyeasy_dnn")
    module.__doc__ = "TEST DOUBLE of pyeasy_dnn (test/bpu_doubles.py)"
    module.models = []
    in_shape = (1, 3, height, width) if layout == "NCHW" else (1, height, width, 3)
    valid = _output_shape(output_shape, num_classes, layout)
    aligned = tuple(output_aligned) if output_aligned is not None else valid
    dims4 = tuple(valid[:4]) + tuple(tail_dims[: 4 - len(valid)])
    out_type = "float32" if quant == "none" else "int32"
    if quant == "none":
        scale = np.array([], np.float32)
    elif quant == "per_tensor":
        scale = np.array([PER_TENSOR_SCALE], np.float32)
    else:
        scale = per_channel_scale(num_classes)

    class Model:
        def __init__(self) -> None:
            self.name = BIN_MODEL_NAME
            self.estimate_latency = 100
            self.inputs = [Tensor("input", lambda: TensorProperties(
                "NV12", "uint8", layout, in_shape, in_shape, np.array([], np.float32),
                shape_mode))]
            self.outputs = [Tensor("output", self._output_properties)]
            self.forward_calls: list[dict] = []
            self._memory = np.zeros(height * width * 3 // 2, np.uint8)  # the input sysMem

        def _output_properties(self) -> TensorProperties:
            return TensorProperties(out_type, out_type, layout, valid, aligned, scale, shape_mode)

        def forward(self, arg, core_id: int = 0, priority: int = 0):
            if isinstance(arg, np.ndarray):
                data = _raw_prefix(arg, arg.size)  # element count as a byte count
            elif isinstance(arg, (list, tuple)):
                data = (np.concatenate([np.asarray(a).astype(np.uint8).reshape(-1) for a in arg])
                        if arg else np.zeros(0, np.uint8))
            else:
                print("arg_obj is NOT a container.")
                data = np.zeros(0, np.uint8)
            # the real binding copies without a bound: more bytes would overrun its heap buffer
            assert data.size <= self._memory.size, "the real pyeasy_dnn would overrun its buffer"
            self._memory[: data.size] = data
            if fail_forward or not 0 <= core_id < (1 << bpu_cores):
                raise _pyeasy_error("forward", "forward execution failed.")
            self.forward_calls.append({"core_id": core_id, "priority": priority})
            values = _device_values(self._memory, num_classes, quant, zero_point=False)
            device = _aligned_buffer(values, valid, aligned)
            count = math.prod(dims4)
            buf = device[:count].copy() if count <= device.size else np.concatenate(
                [device, np.full(count - device.size, -7, device.dtype)])
            return [Tensor("output", self._output_properties, buf.reshape(dims4))]

    def load(model_file):
        if fail_load:
            raise _pyeasy_error("load", "hbDNNInitializeFromFiles failed")
        _check_model_file(model_file)
        model = Model()
        module.models.append(model)
        return [model]

    module.load = load
    return module


# ----------------------------------------------------------------------------- installing

BPU_MODULE_NAMES = ("hbm_runtime", "hobot_dnn", "hobot_dnn.pyeasy_dnn", "hobot_dnn_rdkx5",
                    "hobot_dnn_rdkx5.pyeasy_dnn")


def block_all_runtimes(monkeypatch) -> None:
    """Make every BPU runtime fail to import (None in sys.modules raises ImportError)."""
    for name in BPU_MODULE_NAMES:
        monkeypatch.setitem(sys.modules, name, None)


def install_hbm_runtime(monkeypatch, **kwargs) -> types.ModuleType:
    module = make_hbm_runtime(**kwargs)
    monkeypatch.setitem(sys.modules, "hbm_runtime", module)
    return module


def install_pyeasy_dnn(monkeypatch, package: str = "hobot_dnn", **kwargs) -> types.ModuleType:
    """Install as ``hobot_dnn.pyeasy_dnn`` (or ``hobot_dnn_rdkx5.pyeasy_dnn``)."""
    module = make_pyeasy_dnn(**kwargs)
    parent = types.ModuleType(package)
    parent.__path__ = []  # a package
    parent.pyeasy_dnn = module
    module.__name__ = f"{package}.pyeasy_dnn"
    monkeypatch.setitem(sys.modules, package, parent)
    monkeypatch.setitem(sys.modules, f"{package}.pyeasy_dnn", module)
    return module


WRONG_BOARD_MESSAGE = ("Missing Horizon runtime libraries (provided by the 'hobot-dnn' package):\n"
                       "  - libhbucp.so (Horizon UCP library) - libhbucp.so: cannot open shared "
                       "object file: No such file or directory")


class WrongBoardFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports of ``hbm_runtime`` fail the way a wheel for another board fails (its __init__
    raises RuntimeError for the missing vendor library); records every BPU import it sees."""

    def __init__(self, fail: bool = True) -> None:
        self.fail = fail
        self.seen: list[str] = []

    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in ("hbm_runtime", "hobot_dnn", "hobot_dnn_rdkx5"):
            self.seen.append(name)
            if self.fail and name == "hbm_runtime":
                return importlib.util.spec_from_loader(name, self)
        return None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        raise RuntimeError(WRONG_BOARD_MESSAGE)


def install_wrong_board_hbm_runtime(monkeypatch) -> WrongBoardFinder:
    finder = WrongBoardFinder(fail=True)
    monkeypatch.delitem(sys.modules, "hbm_runtime", raising=False)
    monkeypatch.setattr(sys, "meta_path", [finder, *sys.meta_path])
    return finder


# ----------------------------------------------------------------------------- S-series hbm_runtime
# The RDK S100 / S100P / S600 build of hbm_runtime (the PyPI wheel's, libhbucp.so), as the zoo's
# rdk_s samples drive it (samples/vision/{mobilenetv2,resnet18}/runtime/python/*.py,
# utils/py_utils/preprocess.py; read there, written here): an ``.hbm`` only; TWO inputs, Y
# (1, H, W, 1) and UV (1, H/2, W/2, 2) uint8, fed as ``run({model: {y_name: y, uv_name: uv}})``;
# H, W = input_shapes[model][input_names[0]][1], [2]; input strides as hrt_model_exec is given
# them for such a model (Y: H*W, W, 1, 1; UV: H*W/2, W, 2, 1); a float32 (1, 1000) output
# (the S MobileNetV2 conversion README: "Y [1,224,224,1], UV [1,112,112,2], F32 [1,1000]").
# The input NAMES are not published: they are parameters here, and the backend must not need them.

def make_hbm_runtime_s(height: int = 224, width: int = 224, num_classes: int = 1000,
                       quant: str = "none", input_names: tuple = ("input_y", "input_uv"),
                       order: str = "y_first", **kwargs) -> types.ModuleType:
    """A module object that stands in for the S-series ``hbm_runtime``. ``order``: "y_first" or
    "uv_first" (the order of ``input_names``). Other keyword arguments as ``make_hbm_runtime``.
    ``run`` checks the two tensors (names, shapes, dtype, contiguity), keeps them in
    ``inputs_seen`` as ``{name: copy}``, and computes the output from the NV12 they make up, so
    ``expected_scores(nv12, ...)`` of the packed frame is the right answer."""
    module = make_hbm_runtime(height, width, num_classes, quant, output_shape="NC",
                              accepts=".hbm", **kwargs)
    base = module.HB_HBMRuntime
    y_name, uv_name = input_names
    names = [y_name, uv_name] if order == "y_first" else [uv_name, y_name]
    shapes = {y_name: [1, height, width, 1], uv_name: [1, height // 2, width // 2, 2]}
    strides = {y_name: [height * width, width, 1, 1],
               uv_name: [height * width // 2, width, 2, 1]}

    class HB_HBMRuntime(base):  # type: ignore[misc,valid-type]  # noqa: N801 - the real name
        def __init__(self, path: str) -> None:
            super().__init__(path)
            name = self.model_names[0]
            self.input_counts = {name: 2}
            self.input_names = {name: list(names)}
            self.input_descs = {name: {n: "" for n in names}}
            self.input_shapes = {name: {n: list(shapes[n]) for n in names}}
            self.input_dtypes = {name: {n: hbDNNDataType.U8 for n in names}}
            self.input_quants = {name: {n: QuantParams(
                hbDNNQuantiType.NONE, np.array([], np.float32), np.array([], np.int32), 0)
                for n in names}}
            self.input_strides = {name: {n: list(strides[n]) for n in names}}
            self.inputs_seen_s: list[dict] = []

        def run(self, inputs, **kw) -> dict:
            name = self.model_names[0]
            feed = inputs[name]
            assert set(feed) == {y_name, uv_name}, sorted(feed)
            y, uv = feed[y_name], feed[uv_name]
            for tensor, shape in ((y, shapes[y_name]), (uv, shapes[uv_name])):
                assert isinstance(tensor, np.ndarray) and tensor.dtype == np.uint8, tensor.dtype
                assert tensor.shape == tuple(shape), (tensor.shape, shape)
                assert tensor.flags.c_contiguous
            self.inputs_seen_s.append({y_name: y.copy(), uv_name: uv.copy()})
            packed = np.concatenate([y.reshape(-1), uv.reshape(-1)])
            return super().run({name: {"input": packed}}, **kw)

    module.HB_HBMRuntime = HB_HBMRuntime
    module.__doc__ = "TEST DOUBLE of the S-series hbm_runtime (test/bpu_doubles.py)"
    return module


def install_hbm_runtime_s(monkeypatch, **kwargs) -> types.ModuleType:
    module = make_hbm_runtime_s(**kwargs)
    monkeypatch.setitem(sys.modules, "hbm_runtime", module)
    return module
