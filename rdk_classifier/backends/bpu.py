"""The RDK BPU backend: runs a compiled zoo model (X5 ``.bin``, S-series ``.hbm``) on NV12.

Two Python runtimes exist on RDK X5 images; they are tried in this order:

1. ``hbm_runtime`` (RDK OS >= 3.5.0): ``HB_HBMRuntime(path)``, inputs/outputs keyed by the model
   name stored inside the ``.bin``;
2. ``pyeasy_dnn`` from ``hobot_dnn`` (also still shipped on 3.5.0+), else from ``hobot_dnn_rdkx5``.

A runtime that fails to import (a wrong-board ``hbm_runtime`` wheel raises ``RuntimeError`` for its
missing vendor library) or fails to open the model (the X5 ``hbm_runtime`` takes only a lower-case
``.bin``; the PyPI build takes only ``.hbm``) is skipped for the next one, unless one is forced.

Normalization and the NV12 -> RGB conversion are compiled into the ``.bin``, so the backend feeds
the raw NV12 bytes and only reads and dequantizes the output.

Two input contracts, read from the model's own inputs (never from the board's name):

* ``packed_nv12`` (RDK X5 ``.bin``): ONE input, the packed NV12 frame, shape ``(1, 3, H, W)`` /
  ``(1, H, W, 1)`` as ``hbm_runtime`` reports it; fed as ``(1, H*3/2, W, 1)``.
* ``nv12_y_uv`` (RDK S100 / S100P / S600 ``.hbm``, D-Robotics rdk_model_zoo branch ``rdk_s``
  samples and ``utils/py_utils/preprocess.py``): TWO uint8 inputs, Y ``(1, H, W, 1)`` and the
  interleaved UV ``(1, H/2, W/2, 2)``; H and W are dimensions 1 and 2 of Y. Which input is which is
  read from the shapes (the names are only reported). Both are views on the packed NV12 (its
  first H*W bytes and the rest), so nothing is copied.

The output is read by its real layout (facts from D-Robotics' own sources: x5-hobot-spdev
``src/python/dnn_python.cpp``, the ``hbm_runtime`` ``HB_HBMRuntime.pyi`` and its rdk_doc page):

* ``hbm_runtime`` returns one numpy array per output; ``output_shapes`` is the valid shape and
  ``output_strides`` the byte strides of the (possibly padded) buffer. An array of the valid shape
  is read as numpy describes it; a flat or aligned buffer is read through the declared strides.
* ``pyeasy_dnn``'s ``.buffer`` copies prod(validShape) elements from the START of the output
  buffer, as a 4-D array built from validShape's first four dimensions whatever its rank. So a
  padded output (alignedShape != validShape) is read right only where every valid element lies in
  that prefix, and an output of another rank only where the copy has exactly the valid count.
  Its ``validShape`` / ``alignedShape`` properties are Python ints holding the address of a
  freshly allocated ``hbDNNTensorShape`` (``int32 dimensionSize[8]; int32 numDimensions``); they
  are decoded with ctypes (sequences are taken as they are).

Whatever cannot be read correctly is refused with the shapes in the message, and the output must be
one class vector (one dimension > 1) of ``num_classes`` values when that is given.

``core_id`` has one meaning here: -1 = any core (the runtime picks), k >= 0 = BPU core k (the X5
has one, core 0). It maps to ``pyeasy_dnn``'s ``core_id`` (hbDNN's core mask: 0 = any,
``1 << k`` = core k) and to
``hbm_runtime``'s ``bpu_cores`` (no setting = the runtime's automatic choice, else ``[k]``).

Releasing: ``close()`` drops the runtime objects. ``hbm_runtime`` releases the model when its
object goes; a ``pyeasy_dnn`` Model is never freed (``load()`` leaks a reference to it; observed
through the real binding on the libdnn emulator, tools/libdnn_emu), so every ``pyeasy_dnn`` model
load keeps its tensors and model memory until the process ends.

Threading: a ``BpuBackend`` owns one model object with one buffer set, and the runtimes' forward
calls are synchronous. Never call ``infer`` of one instance from two threads at once: threads
share one through ``Classifier``, which lets one in at a time (``max_concurrent = 1``); a model
loaded per thread costs its BPU memory once per thread (and ``pyeasy_dnn`` never frees it).

Length: two vendor runtimes with their real quirks (layouts, padding, quantization, core numbering,
errors), each checked at load; one backend, one file.
"""

from __future__ import annotations

import ctypes
import enum
import importlib
import logging
import math
from pathlib import Path
from types import ModuleType
from typing import Any, Sequence

import numpy as np

from .. import boards
from ..errors import BackendUnavailableError, FrameSizeError, ModelError, SocMismatchError
from .base import InputSpec

log = logging.getLogger(__name__)

#: (runtime kind, module to import), in order of preference
RUNTIME_MODULES = (
    ("hbm_runtime", "hbm_runtime"),
    ("pyeasy_dnn", "hobot_dnn.pyeasy_dnn"),
    ("pyeasy_dnn", "hobot_dnn_rdkx5.pyeasy_dnn"),
)
RUNTIME_KINDS = ("hbm_runtime", "pyeasy_dnn")
ANY_CORE = -1

#: hbDNNTensorShape of the X5 libdnn: int32 dimensionSize[HB_DNN_TENSOR_MAX_DIMENSIONS = 8],
#: int32 numDimensions
_MAX_DIMS = 8

#: pyeasy_dnn ``tensor_type`` string -> the numpy dtype its ``.buffer`` has (buffer_2_pyarray:
#: S8/S16/S32/F32, anything else is copied as int8)
_PYEASY_BUFFER_DTYPES = {"int8": np.int8, "int16": np.int16, "int32": np.int32,
                         "float32": np.float32}


def _import_runtimes(only: str | None = None) -> tuple[list[tuple[str, ModuleType]], list[str]]:
    """Every runtime kind that imports (first module per kind), and why the others did not."""
    found: list[tuple[str, ModuleType]] = []
    failures: list[str] = []
    for kind, module_name in RUNTIME_MODULES:
        if (only is not None and kind != only) or any(k == kind for k, _ in found):
            continue
        try:
            found.append((kind, importlib.import_module(module_name)))
        except Exception as exc:  # ImportError, OSError / RuntimeError from a missing vendor .so
            failures.append(f"{module_name}: {type(exc).__name__}: {_one_line(exc)}")
    return found, failures


def _import_runtime(only: str | None = None) -> tuple[str, ModuleType, list[str]]:
    """The first BPU runtime that imports: (kind, module, why the earlier ones failed)."""
    found, failures = _import_runtimes(only)
    if found:
        return found[0][0], found[0][1], failures
    raise BackendUnavailableError(
        "no BPU runtime imports here (" + "; ".join(failures) + "). The BPU backend runs on an "
        "RDK X5 with hbm_runtime (RDK OS >= 3.5.0) or hobot_dnn, or on an RDK S100/S600 with "
        "hbm_runtime; elsewhere use the CPU backend "
        "(backend cpu or auto) with an ONNX model")


def available_runtime() -> str | None:
    """``"hbm_runtime"``, ``"pyeasy_dnn"`` or None: which BPU runtime this machine can import."""
    try:
        return _import_runtime()[0]
    except BackendUnavailableError:
        return None


def available_runtimes() -> list[str]:
    """Every BPU runtime kind this machine can import, in order of preference."""
    return [kind for kind, _ in _import_runtimes()[0]]


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def runtime_message(exc: BaseException) -> str:
    """The runtime's own words: pyeasy_dnn's SystemError wraps the RuntimeError it set."""
    cause = exc.__cause__ or exc.__context__
    if isinstance(exc, SystemError) and cause is not None:
        return f"{type(cause).__name__}: {_one_line(cause)}"
    return f"{type(exc).__name__}: {_one_line(exc)}"


def map_core(core_id: int, runtime: str) -> Any:
    """Our core id (-1 any, k core k) in the runtime's terms: pyeasy_dnn core_id, or hbm_runtime
    bpu_cores (None = leave the runtime's automatic choice)."""
    if runtime == "pyeasy_dnn":  # passed to hbDNNInferCtrlParam.bpuCoreId: a core mask
        return 0 if core_id == ANY_CORE else 1 << core_id
    return None if core_id == ANY_CORE else [core_id]


def _shape_of(value: Any) -> tuple[int, ...] | None:
    """A shape property as a tuple: a sequence as it is, an int as pyeasy_dnn's pointer to a
    malloc'ed hbDNNTensorShape (read once; each access of the property allocates a new one)."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, np.integer)):
        address = int(value)
        if address < 4096:  # never a heap address: not the pointer dnn_python.cpp hands out
            return None
        raw = (ctypes.c_int32 * (_MAX_DIMS + 1)).from_address(address)
        ndim = int(raw[_MAX_DIMS])
        if not 1 <= ndim <= _MAX_DIMS:
            return None
        dims = tuple(int(raw[i]) for i in range(ndim))
        return dims if all(d >= 0 for d in dims) else None
    try:
        return tuple(int(v) for v in value)
    except (TypeError, ValueError):
        return None


def _compact_strides(shape: Sequence[int], itemsize: int) -> tuple[int, ...]:
    strides, step = [], itemsize
    for n in reversed(shape):
        strides.append(step)
        step *= max(int(n), 1)
    return tuple(reversed(strides))


def _strides_match(shape: Sequence[int], a: Sequence[int], b: Sequence[int]) -> bool:
    """Equal where it matters (dimensions of size 1 have no meaningful stride)."""
    return all(n == 1 or x == y for n, x, y in zip(shape, a, b))


def _class_count(shape: tuple[int, ...], where: str, expected: int | None) -> int:
    """The number of classes of an output shape that must be one class vector."""
    if not shape or any(n <= 0 for n in shape):
        raise ModelError(f"{where}: output shape {shape} is empty")
    big = [n for n in shape if n > 1]
    if len(big) > 1:
        raise ModelError(f"{where}: output shape {shape} is not one class vector (more than one "
                         f"dimension > 1); this backend runs classification models only")
    n = math.prod(shape)
    if expected is not None and n != expected:
        raise ModelError(f"{where}: the model outputs {n} values (shape {shape}) but {expected} "
                         f"classes are expected")
    return n


def _per_class(values: Any, n: int, what: str, where: str, aligned_n: int | None = None
               ) -> np.ndarray | float:
    """Quantization parameters as a scalar or an (n,) vector over the classes."""
    arr = np.asarray([] if values is None else values, dtype=np.float32).reshape(-1)
    if arr.size == 0:
        return 0.0
    if arr.size == 1:
        return float(arr[0])
    if arr.size == n:
        return arr
    if aligned_n is not None and arr.size == aligned_n and aligned_n > n:
        return arr[:n]  # given for the padded channel count
    raise ModelError(f"{where}: {arr.size} {what} values do not fit {n} classes")


class BpuBackend:
    """A compiled model (``.bin`` / ``.hbm``) on the BPU. One caller at a time (see the module
    docstring).

    ``soc``: this board's chip (None: no check): a file or an input contract of another chip
    is refused with the reason (``SocMismatchError``).
    ``core_id``: -1 any core, k BPU core k (the X5 has one, core 0). ``priority``: 0..255
    scheduling priority. ``runtime``: force ``"hbm_runtime"`` or ``"pyeasy_dnn"`` (default: the
    first that imports and opens the model). ``num_classes``: the class count the output must
    have (None: whatever single class vector the model declares).
    """

    name = "bpu"
    #: one caller at a time: one model object with one buffer set, a synchronous forward (both
    #: runtimes); a node serves all its cameras from this one instance through its scheduler
    max_concurrent: int | None = 1

    def __init__(self, path: str | Path, core_id: int = ANY_CORE, priority: int = 0, *,
                 runtime: str | None = None, num_classes: int | None = None,
                 soc: str | None = None) -> None:
        if runtime not in (None, *RUNTIME_KINDS):
            raise ValueError(f"runtime must be hbm_runtime or pyeasy_dnn, got {runtime!r}")
        if not 0 <= int(priority) <= 255:
            raise ValueError(f"BPU priority must be 0..255, got {priority}")
        if int(core_id) < ANY_CORE:
            raise ValueError(f"BPU core id must be -1 (any core) or a core index >= 0, "
                             f"got {core_id}")
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelError(f"BPU model file not found: {self.path}")
        self.soc = boards.normalize_soc(soc)
        boards.check_file_for_soc(self.path, self.soc)  # a file of another chip: why, up front
        self.core_id = int(core_id)
        self.priority = int(priority)
        self._expected_classes = num_classes
        self._model: Any = None
        candidates, import_failures = _import_runtimes(runtime)
        if not candidates:
            _import_runtime(runtime)  # raises BackendUnavailableError with the reasons
        failures: list[str] = []
        for kind, module in candidates:
            self.runtime, self._module = kind, module
            try:
                if kind == "hbm_runtime":
                    self._open_hbm_runtime()
                else:
                    self._open_pyeasy_dnn()
                break
            except ModelError as exc:
                failures.append(f"{kind}: {exc}")
            except Exception as exc:  # the runtime's own error (RuntimeError, SystemError, ...)
                failures.append(f"{kind}: {runtime_message(exc)}")
            self._model = None
            if len(candidates) > 1:
                log.warning("BPU runtime %s cannot open %s (%s); trying the next runtime", kind,
                            self.path.name, failures[-1])
        else:
            raise ModelError(f"{self.path}: no BPU runtime can run this model: "
                             + "; ".join(failures + import_failures))
        self.fallback_reasons = tuple(failures)
        if self.soc is not None and self.input_contract != boards.INPUT_CONTRACT[self.soc]:
            self._model = None
            raise SocMismatchError(
                f"{self.path.name} has the {self.input_contract} input contract, but the RDK "
                f"{self.soc.upper()} zoo models have {boards.INPUT_CONTRACT[self.soc]}: it is "
                f"built for another chip; use this board's build "
                f"(`python -m rdk_classifier zoo list --soc {self.soc}`)")
        self._nv12_size = self.input_spec.nv12_size
        log.info("BPU model %s loaded with %s: input %dx%d NV12, %d classes", self.path.name,
                 self.runtime, self.input_spec.width, self.input_spec.height, self.num_classes)

    # -- hbm_runtime -----------------------------------------------------------------------
    def _open_hbm_runtime(self) -> None:
        m = self._module.HB_HBMRuntime(str(self.path))
        self._model = m
        self._model_name = m.model_names[0]
        names = list(m.input_names[self._model_name])
        shapes = {n: tuple(int(v) for v in m.input_shapes[self._model_name][n]) for n in names}
        self._output_name = m.output_names[self._model_name][0]
        self.input_contract, self._input_names = hbm_input_contract(names, shapes, self.path.name)
        self._input_name = self._input_names[0]
        shape = shapes[self._input_name]
        if self.input_contract == "nv12_y_uv":
            self.input_spec = self._spec_from_shape(shape, "NHWC")
        else:
            self.input_spec = self._spec_from_shape(shape,
                                                    "NCHW" if _looks_nchw(shape) else "NHWC")
        cores = map_core(self.core_id, "hbm_runtime")
        if cores is None:
            m.set_scheduling_params(priority={self._model_name: self.priority})
        else:
            m.set_scheduling_params(priority={self._model_name: self.priority},
                                    bpu_cores={self._model_name: cores})
        where = f"{self.path.name} output {self._output_name!r}"
        self._valid_shape = tuple(int(v) for v in m.output_shapes[self._model_name][self._output_name])
        self.num_classes = _class_count(self._valid_shape, where, self._expected_classes)
        strides = getattr(m, "output_strides", {}).get(self._model_name, {}).get(self._output_name)
        self._declared_strides = (tuple(int(v) for v in strides) if strides is not None
                                  and len(strides) == len(self._valid_shape) else None)
        quant = m.output_quants[self._model_name][self._output_name]
        self._hbm_scale_quant = _quant_is_scale(quant.quant_type, self._module)
        self._hbm_quant = quant
        self._hbm_read: tuple[tuple, str, np.dtype] | None = None  # (shape, how, dtype)
        self._dequant: tuple[Any, Any] | None = None

    def _read_hbm_output(self, raw: np.ndarray) -> np.ndarray:
        """The valid values of one hbm_runtime output array, in class order."""
        valid = self._valid_shape
        key = (raw.shape, raw.strides, raw.dtype)
        if self._hbm_read is None or self._hbm_read[0] != key:
            self._hbm_read = (key, self._hbm_layout(raw), raw.dtype)
        how = self._hbm_read[1]
        if how == "as_is":
            return raw.reshape(-1) if raw.flags.c_contiguous else np.ascontiguousarray(raw).reshape(-1)
        # through the declared byte strides of the aligned buffer
        view = np.lib.stride_tricks.as_strided(raw.reshape(-1), shape=valid,
                                               strides=self._declared_strides, writeable=False)
        return np.ascontiguousarray(view).reshape(-1)

    def _hbm_layout(self, raw: np.ndarray) -> str:
        valid, declared = self._valid_shape, self._declared_strides
        compact = _compact_strides(valid, raw.itemsize)
        padded = declared is not None and not _strides_match(valid, declared, compact)
        if raw.shape == valid or (raw.size == self.num_classes and not padded):
            return "as_is"  # numpy's own strides describe the values
        if (declared is not None and raw.flags.c_contiguous and all(s >= 0 for s in declared)):
            span = sum((n - 1) * s for n, s in zip(valid, declared)) + raw.itemsize
            if raw.nbytes >= span:
                return "strided"
        raise ModelError(
            f"{self.path.name}: hbm_runtime returned output {self._output_name!r} as shape "
            f"{raw.shape} {raw.dtype}, but the model declares valid shape {valid} with byte "
            f"strides {declared}; it cannot be read correctly. Please report this with the "
            f"output of `python -m rdk_classifier doctor --model {self.path}`")

    def hbm_feed(self, nv12: np.ndarray) -> dict[str, np.ndarray]:
        """The input tensors ``hbm_runtime.run`` gets for one packed NV12 frame (views)."""
        h, w = self.input_spec.height, self.input_spec.width
        if self.input_contract == "nv12_y_uv":
            y_name, uv_name = self._input_names
            return {y_name: nv12[: h * w].reshape(1, h, w, 1),
                    uv_name: nv12[h * w:].reshape(1, h // 2, w // 2, 2)}
        # the packed layout upstream feeds on the X5
        return {self._input_name: nv12.reshape(1, h * 3 // 2, w, 1)}

    def _infer_hbm_runtime(self, nv12: np.ndarray) -> np.ndarray:
        feed = self.hbm_feed(nv12)
        try:
            out = self._model.run({self._model_name: feed})
            raw = np.asarray(out[self._model_name][self._output_name])
        except Exception as exc:
            raise ModelError(f"{self.path.name}: hbm_runtime run failed: "
                             f"{runtime_message(exc)}") from exc
        values = self._read_hbm_output(raw)
        if values.dtype.kind == "f" or not self._hbm_scale_quant:
            # a float output is already real values (dequantized in the model or the runtime);
            # copied: the runtime may reuse its output buffer
            return np.array(values, dtype=np.float32)
        if self._dequant is None:
            q, where = self._hbm_quant, f"{self.path.name} output {self._output_name!r}"
            self._dequant = (_per_class(q.scale, self.num_classes, "scale", where),
                             _per_class(getattr(q, "zero_point", None), self.num_classes,
                                        "zero_point", where))
        scale, zero = self._dequant
        return ((values.astype(np.float32) - zero) * scale).astype(np.float32, copy=False)

    # -- pyeasy_dnn ------------------------------------------------------------------------
    def _open_pyeasy_dnn(self) -> None:
        models = self._module.load(str(self.path))  # SystemError on failure (error set, None)
        if not models:
            raise ModelError(f"{self.path}: pyeasy_dnn loaded no model")
        self._model = models[0]
        self.input_contract = "packed_nv12"
        if len(self._model.inputs) != 1:
            raise ModelError(f"{self.path}: pyeasy_dnn model has {len(self._model.inputs)} "
                             f"inputs; the RDK X5 zoo models take one packed NV12 input")
        props = self._model.inputs[0].properties
        layout = str(props.layout).upper()
        if layout not in ("NCHW", "NHWC"):
            raise ModelError(f"{self.path}: unsupported input layout {props.layout!r}")
        self.input_spec = self._spec_from_shape(tuple(int(v) for v in props.shape), layout)
        self._pyeasy_core = map_core(self.core_id, "pyeasy_dnn")
        out = self._model.outputs[0]
        oprops = out.properties
        where = f"{self.path.name} output {getattr(out, 'name', 0)!r}"
        valid = _shape_of(getattr(oprops, "validShape", None)) or tuple(int(v) for v in oprops.shape)
        aligned = _shape_of(getattr(oprops, "alignedShape", None))
        self._valid_shape, self._aligned_shape = valid, aligned
        self.num_classes = _class_count(valid, where, self._expected_classes)
        tensor_type = str(oprops.tensor_type)
        self._pyeasy_dtype = np.dtype(_PYEASY_BUFFER_DTYPES.get(tensor_type, np.int8))
        # where the valid elements sit in the aligned buffer, in elements
        self._pyeasy_index: np.ndarray | None = None
        if aligned is None:
            log.warning("%s: pyeasy_dnn gives no readable alignedShape; output read as unpadded",
                        where)
        elif aligned != valid:
            if len(aligned) != len(valid) or any(a < v for a, v in zip(aligned, valid)):
                raise ModelError(f"{where}: alignedShape {aligned} does not contain validShape "
                                 f"{valid}; it cannot be read correctly")
            strides = np.array(_compact_strides(aligned, 1), dtype=np.int64)
            grids = np.indices(valid, dtype=np.int64).reshape(len(valid), -1)
            index = (grids * strides[:, None]).sum(axis=0)
            if index.max() >= self.num_classes:
                raise ModelError(
                    f"{where}: the output is padded (validShape {valid}, alignedShape {aligned}, "
                    f"{tensor_type}) and pyeasy_dnn copies only the first {self.num_classes} "
                    f"elements of the aligned buffer, so its scores cannot be read correctly; "
                    f"run it with hbm_runtime (RDK OS >= 3.5.0)")
            self._pyeasy_index = index
        scale_data = getattr(oprops, "scale_data", None)
        scale = np.asarray([] if scale_data is None else scale_data, np.float32).reshape(-1)
        axis = next((i for i, n in enumerate(valid) if n > 1), len(valid) - 1)
        aligned_n = aligned[axis] if aligned and len(aligned) == len(valid) else None
        self._pyeasy_scale = (None if scale.size == 0 else
                              _per_class(scale, self.num_classes, "scale_data", where, aligned_n))

    def _infer_pyeasy_dnn(self, nv12: np.ndarray) -> np.ndarray:
        try:
            outs = self._model.forward(nv12, core_id=self._pyeasy_core, priority=self.priority)
            raw = np.asarray(outs[0].buffer)
        except Exception as exc:  # SystemError wrapping "forward execution failed."
            raise ModelError(f"{self.path.name}: pyeasy_dnn forward failed: "
                             f"{runtime_message(exc)}") from exc
        if raw.size != self.num_classes:
            raise ModelError(
                f"{self.path.name}: pyeasy_dnn returned {raw.size} values as shape {raw.shape} "
                f"for an output of validShape {self._valid_shape} ({len(self._valid_shape)}-D); "
                f"it builds a 4-D buffer whatever the rank, so this output cannot be read "
                f"correctly; run it with hbm_runtime (RDK OS >= 3.5.0)")
        flat = raw.reshape(-1)
        if self._pyeasy_index is not None:
            flat = flat[self._pyeasy_index]
        if self._pyeasy_scale is None or flat.dtype.kind == "f":  # float: already real values
            return np.array(flat, dtype=np.float32)
        return (flat.astype(np.float32) * self._pyeasy_scale).astype(np.float32, copy=False)

    # -- common ----------------------------------------------------------------------------
    def _spec_from_shape(self, shape: tuple[int, ...], layout: str) -> InputSpec:
        if len(shape) != 4:
            raise ModelError(f"{self.path}: expected a 4-D image input, got shape {shape}")
        h, w = (shape[2], shape[3]) if layout == "NCHW" else (shape[1], shape[2])
        if h <= 0 or w <= 0 or h % 2 or w % 2:
            raise ModelError(f"{self.path}: NV12 input needs an even height and width, got {w}x{h}")
        return InputSpec(h, w)

    def infer(self, nv12: np.ndarray) -> np.ndarray:
        """Run one packed NV12 frame (``height*width*3//2`` uint8); returns float32 scores."""
        if not isinstance(nv12, np.ndarray) or nv12.dtype != np.uint8:
            raise FrameSizeError(f"BPU input must be a uint8 numpy array of packed NV12, got "
                                 f"{type(nv12).__name__} {getattr(nv12, 'dtype', '')}")
        if nv12.size != self._nv12_size:
            raise FrameSizeError(
                f"BPU input has {nv12.size} bytes; NV12 of {self.input_spec.width}x"
                f"{self.input_spec.height} needs {self._nv12_size}")
        if self._model is None:
            raise ModelError(f"{self.path.name}: backend is closed")
        flat = np.ascontiguousarray(nv12).reshape(-1)  # no copy when already contiguous
        if self.runtime == "hbm_runtime":
            return self._infer_hbm_runtime(flat)
        return self._infer_pyeasy_dnn(flat)

    def describe(self) -> dict:
        """Every input/output property the runtime exposes, JSON-ready (for ``doctor``)."""
        if self._model is None:
            raise ModelError(f"{self.path.name}: backend is closed")
        info = {"runtime": self.runtime, "module": getattr(self._module, "__name__", None),
                "path": str(self.path), "core_id": self.core_id,
                "runtime_core": (map_core(self.core_id, self.runtime)),
                "priority": self.priority, "num_classes": self.num_classes,
                "input_size": [self.input_spec.height, self.input_spec.width],
                "input_contract": self.input_contract,
                "output_valid_shape": list(self._valid_shape)}
        if self.runtime == "hbm_runtime":
            info.update(describe_hbm_runtime(self._model, self._module))
        else:
            info["output_aligned_shape"] = (list(self._aligned_shape) if self._aligned_shape
                                            else None)
            info.update(describe_pyeasy_dnn(self._model))
        return info

    def close(self) -> None:
        """Drop the runtime objects. hbm_runtime releases the model with its object; a pyeasy_dnn
        Model is never freed (its load() leaks a reference): its memory stays in use."""
        self._model = None
        self._hbm_read = None

    def __repr__(self) -> str:
        return (f"BpuBackend({str(self.path)!r}, runtime={self.runtime}, core_id={self.core_id}, "
                f"priority={self.priority}, input={self.input_spec.width}x{self.input_spec.height})")


# ----------------------------------------------------------------------------- describing

HBM_RUNTIME_PROPERTIES = (
    "model_names", "model_count", "model_descs", "hbm_descs",
    "input_counts", "input_names", "input_descs", "input_shapes", "input_dtypes", "input_quants",
    "input_strides",
    "output_counts", "output_names", "output_descs", "output_shapes", "output_dtypes",
    "output_quants", "output_strides", "sched_params")
PYEASY_TENSOR_PROPERTIES = ("tensor_type", "dtype", "layout", "shape", "validShape",
                            "alignedShape", "scale_data")


def jsonable(value: Any) -> Any:
    """Runtime objects (enums, QuantParams, SchedParam, numpy arrays) as plain JSON values."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, (int, float, np.integer, np.floating)):
        return value.item() if isinstance(value, np.generic) else value
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    name = getattr(value, "name", None)
    if isinstance(name, str) and hasattr(value, "value"):  # an enum member
        return name
    fields = ("quant_type", "scale", "zero_point", "axis", "priority", "customId", "bpu_cores",
              "deviceId")
    present = {f: getattr(value, f) for f in fields if hasattr(value, f)}
    if present:
        return {k: jsonable(v) for k, v in present.items()}
    return repr(value)


def _read_property(obj: Any, name: str) -> Any:
    try:
        return jsonable(getattr(obj, name))
    except Exception as exc:  # a property the runtime cannot give is reported, not fatal
        return f"error: {runtime_message(exc)}"


def describe_hbm_runtime(model: Any, module: ModuleType) -> dict:
    info: dict[str, Any] = {
        "properties": {name: _read_property(model, name) for name in HBM_RUNTIME_PROPERTIES}}
    version = getattr(getattr(module, "HB_HBMRuntime", None), "version", None)
    try:
        info["version"] = version() if callable(version) else jsonable(version)
    except Exception as exc:
        info["version"] = f"error: {runtime_message(exc)}"
    return info


def _describe_pyeasy_tensor(tensor: Any) -> dict:
    props = tensor.properties
    out = {"name": _read_property(tensor, "name")}
    for name in PYEASY_TENSOR_PROPERTIES:
        if name in ("validShape", "alignedShape"):
            try:
                raw = getattr(props, name)
                decoded = _shape_of(raw)
                out[name] = list(decoded) if decoded is not None else repr(raw)
            except Exception as exc:
                out[name] = f"error: {runtime_message(exc)}"
        else:
            out[name] = _read_property(props, name)
    return out


def describe_pyeasy_dnn(model: Any) -> dict:
    return {"properties": {
        "name": _read_property(model, "name"),
        "estimate_latency": _read_property(model, "estimate_latency"),
        "inputs": [_describe_pyeasy_tensor(t) for t in model.inputs],
        "outputs": [_describe_pyeasy_tensor(t) for t in model.outputs]}}


def _quant_is_scale(quant_type: Any, module: ModuleType) -> bool:
    """Whether an hbm_runtime quant_type (hbDNNQuantiType) is SCALE rather than NONE."""
    name = getattr(quant_type, "name", None)
    if isinstance(name, str):
        return name.upper() == "SCALE"
    if isinstance(quant_type, str):
        return quant_type.rsplit(".", 1)[-1].upper() == "SCALE"
    enum = getattr(module, "hbDNNQuantiType", None)
    if enum is not None and hasattr(enum, "SCALE"):
        return quant_type == enum.SCALE
    raise ModelError(f"cannot interpret hbm_runtime quant_type {quant_type!r}")


def hbm_input_contract(names: Sequence[str], shapes: dict[str, tuple[int, ...]], where: str
                       ) -> tuple[str, tuple[str, ...]]:
    """Which NV12 input contract an hbm_runtime model has, from its own inputs:
    ``("packed_nv12", (name,))`` for one input, ``("nv12_y_uv", (y_name, uv_name))`` for a Y
    ``(1, H, W, 1)`` and a UV ``(1, H/2, W/2, 2)`` input (in either order); else ModelError."""
    described = ", ".join(f"{n!r} {list(shapes[n])}" for n in names)
    if len(names) == 1:
        return "packed_nv12", (names[0],)
    if len(names) == 2:
        y = [n for n in names if len(shapes[n]) == 4 and shapes[n][0] == 1 and shapes[n][3] == 1]
        uv = [n for n in names if len(shapes[n]) == 4 and shapes[n][0] == 1 and shapes[n][3] == 2]
        if len(y) == 1 and len(uv) == 1:
            (_, h, w, _), (_, uh, uw, _) = shapes[y[0]], shapes[uv[0]]
            if h > 0 and w > 0 and (uh, uw) == (h // 2, w // 2) and h % 2 == 0 and w % 2 == 0:
                return "nv12_y_uv", (y[0], uv[0])
    raise ModelError(
        f"{where}: inputs {described} are neither one packed NV12 input (RDK X5 .bin) nor a Y "
        f"(1, H, W, 1) and a UV (1, H/2, W/2, 2) input (RDK S-series .hbm); this backend feeds "
        f"NV12 images only")


def _looks_nchw(shape: tuple[int, ...]) -> bool:
    """hbm_runtime reports X5 NV12 inputs as NCHW (1, 3, H, W); accept NHWC (1, H, W, 1|3) too."""
    return len(shape) == 4 and shape[1] in (1, 3)
