"""The RDK X5 BPU backend: runs a compiled ``.bin`` zoo model on packed NV12.

Three Python runtimes exist on RDK boards; they are tried in this order:

1. ``hbm_runtime`` (RDK OS >= 3.5.0): ``HB_HBMRuntime(path)``, inputs/outputs keyed by model name;
2. ``hobot_dnn.pyeasy_dnn`` (older images);
3. ``hobot_dnn_rdkx5.pyeasy_dnn``.

Normalization and the NV12 -> RGB conversion are compiled into the ``.bin``, so the backend feeds
the raw NV12 bytes and only dequantizes the output. The runtimes are imported lazily (they exist
only on boards; a wrong-board ``hbm_runtime`` wheel fails at import with ``libhbucp.so``).

Threading: a ``BpuBackend`` owns one model object with one buffer set, and the runtimes' forward
calls are synchronous. Never call ``infer`` of one instance from two threads at once: give every
worker thread its own backend.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from ..errors import BackendUnavailableError, FrameSizeError, ModelError
from .base import InputSpec

log = logging.getLogger(__name__)

#: (runtime kind, module to import), in order of preference
RUNTIME_MODULES = (
    ("hbm_runtime", "hbm_runtime"),
    ("pyeasy_dnn", "hobot_dnn.pyeasy_dnn"),
    ("pyeasy_dnn", "hobot_dnn_rdkx5.pyeasy_dnn"),
)


def _import_runtime(only: str | None = None) -> tuple[str, ModuleType, list[str]]:
    """The first BPU runtime that imports: (kind, module, why the earlier ones failed)."""
    failures: list[str] = []
    for kind, module_name in RUNTIME_MODULES:
        if only is not None and kind != only:
            continue
        try:
            return kind, importlib.import_module(module_name), failures
        except Exception as exc:  # ImportError, or OSError from a missing vendor .so
            failures.append(f"{module_name}: {type(exc).__name__}: {exc}")
    raise BackendUnavailableError(
        "no BPU runtime imports here (" + "; ".join(failures) + "). The BPU backend runs on an "
        "RDK X5 with hbm_runtime (RDK OS >= 3.5.0) or hobot_dnn; elsewhere use the CPU backend "
        "(backend cpu or auto) with an ONNX model")


def available_runtime() -> str | None:
    """``"hbm_runtime"``, ``"pyeasy_dnn"`` or None: which BPU runtime this machine can import."""
    try:
        return _import_runtime()[0]
    except BackendUnavailableError:
        return None


def _quant_is_scale(quant_type: Any, module: ModuleType) -> bool:
    """Whether an hbm_runtime quant_type is SCALE (linear) rather than NONE."""
    name = getattr(quant_type, "name", None)
    if isinstance(name, str):
        return name.upper() == "SCALE"
    if isinstance(quant_type, str):
        return quant_type.rsplit(".", 1)[-1].upper() == "SCALE"
    enum = getattr(module, "QuantType", None)
    if enum is not None and hasattr(enum, "SCALE"):
        return quant_type == enum.SCALE
    raise ModelError(f"cannot interpret hbm_runtime quant_type {quant_type!r}")


def _broadcast_params(values: np.ndarray, out_shape: tuple[int, ...], axis: int | None,
                      what: str) -> np.ndarray | float:
    """Reshape per-channel quantization parameters so they broadcast over the output."""
    values = np.asarray(values, dtype=np.float32).reshape(-1)
    if values.size == 1:
        return float(values[0])
    ndim = len(out_shape)
    candidates = [axis % ndim] if axis is not None and ndim and -ndim <= axis < ndim else []
    candidates += [i for i, n in enumerate(out_shape) if n == values.size and i not in candidates]
    for ax in candidates:
        if out_shape[ax] == values.size:
            shape = [1] * ndim
            shape[ax] = values.size
            return values.reshape(shape)
    raise ModelError(f"{what}: {values.size} quantization values do not fit output shape "
                     f"{tuple(out_shape)} (axis {axis})")


class BpuBackend:
    """A ``.bin`` model on the BPU. One instance per worker thread (see the module docstring).

    ``core_id``: BPU core (X5 has one, core 0; for pyeasy_dnn 0 means any core). ``priority``:
    0..255 scheduling priority. ``runtime``: force ``"hbm_runtime"`` or ``"pyeasy_dnn"``
    (default: the first that imports).
    """

    name = "bpu"

    def __init__(self, path: str | Path, core_id: int = 0, priority: int = 0, *,
                 runtime: str | None = None) -> None:
        if runtime not in (None, "hbm_runtime", "pyeasy_dnn"):
            raise ValueError(f"runtime must be hbm_runtime or pyeasy_dnn, got {runtime!r}")
        if not 0 <= int(priority) <= 255:
            raise ValueError(f"BPU priority must be 0..255, got {priority}")
        if int(core_id) < 0:
            raise ValueError(f"BPU core id must be >= 0, got {core_id}")
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelError(f"BPU model file not found: {self.path}")
        self.core_id = int(core_id)
        self.priority = int(priority)
        self.runtime, self._module, _ = _import_runtime(runtime)
        self._model: Any = None
        if self.runtime == "hbm_runtime":
            self._open_hbm_runtime()
        else:
            self._open_pyeasy_dnn()
        self._nv12_size = self.input_spec.nv12_size
        log.info("BPU model %s loaded with %s: input %dx%d NV12", self.path.name, self.runtime,
                 self.input_spec.width, self.input_spec.height)

    # -- hbm_runtime -----------------------------------------------------------------------
    def _open_hbm_runtime(self) -> None:
        m = self._module.HB_HBMRuntime(str(self.path))
        self._model = m
        self._model_name = m.model_names[0]
        self._input_name = m.input_names[self._model_name][0]
        self._output_name = m.output_names[self._model_name][0]
        shape = tuple(int(v) for v in m.input_shapes[self._model_name][self._input_name])
        self.input_spec = self._spec_from_shape(shape, "NCHW" if _looks_nchw(shape) else "NHWC")
        m.set_scheduling_params(priority={self._model_name: self.priority},
                                bpu_cores={self._model_name: [self.core_id]})
        quant = m.output_quants[self._model_name][self._output_name]
        self._hbm_scale_quant = _quant_is_scale(quant.quant_type, self._module)
        self._hbm_quant = quant
        self._dequant_cache: tuple[tuple[int, ...], Any, Any] | None = None

    def _infer_hbm_runtime(self, nv12: np.ndarray) -> np.ndarray:
        h, w = self.input_spec.height, self.input_spec.width
        feed = nv12.reshape(1, h * 3 // 2, w, 1)  # a view: the packed layout upstream feeds
        out = self._model.run({self._model_name: {self._input_name: feed}})
        raw = np.asarray(out[self._model_name][self._output_name])
        if not self._hbm_scale_quant:  # copied: the runtime may reuse its output buffer
            return np.array(raw, dtype=np.float32).reshape(-1)
        if self._dequant_cache is None or self._dequant_cache[0] != raw.shape:
            q = self._hbm_quant
            axis = getattr(q, "axis", None)
            scale = _broadcast_params(q.scale, raw.shape, axis, f"{self.path.name} scale")
            zp = getattr(q, "zero_point", None)
            zp_values = np.asarray([] if zp is None else zp, dtype=np.float32).reshape(-1)
            zero = (0.0 if zp_values.size == 0 else
                    _broadcast_params(zp_values, raw.shape, axis, f"{self.path.name} zero_point"))
            self._dequant_cache = (raw.shape, scale, zero)
        _, scale, zero = self._dequant_cache
        return ((raw.astype(np.float32) - zero) * scale).astype(np.float32, copy=False).reshape(-1)

    # -- pyeasy_dnn ------------------------------------------------------------------------
    def _open_pyeasy_dnn(self) -> None:
        models = self._module.load(str(self.path))
        if not models:
            raise ModelError(f"{self.path}: pyeasy_dnn loaded no model")
        self._model = models[0]
        props = self._model.inputs[0].properties
        layout = str(props.layout).upper()
        if layout not in ("NCHW", "NHWC"):
            raise ModelError(f"{self.path}: unsupported input layout {props.layout!r}")
        self.input_spec = self._spec_from_shape(tuple(int(v) for v in props.shape), layout)
        self._out_scale_cache: tuple[tuple[int, ...], Any] | None = None

    def _infer_pyeasy_dnn(self, nv12: np.ndarray) -> np.ndarray:
        outs = self._model.forward(nv12, core_id=self.core_id, priority=self.priority)
        tensor = outs[0]
        raw = np.asarray(tensor.buffer)
        scale_data = tensor.properties.scale_data
        if scale_data is None or len(scale_data) == 0:  # a float output
            return raw.astype(np.float32, copy=False).reshape(-1)
        if self._out_scale_cache is None or self._out_scale_cache[0] != raw.shape:
            layout = str(getattr(tensor.properties, "layout", "")).upper()
            axis = {"NCHW": 1, "NHWC": 3}.get(layout) if raw.ndim == 4 else None
            scale = _broadcast_params(scale_data, raw.shape, axis, f"{self.path.name} scale_data")
            self._out_scale_cache = (raw.shape, scale)
        return (raw.astype(np.float32) * self._out_scale_cache[1]).astype(
            np.float32, copy=False).reshape(-1)

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

    def close(self) -> None:
        """Drop the model object (the runtime frees BPU memory when it is collected)."""
        self._model = None

    def __repr__(self) -> str:
        return (f"BpuBackend({str(self.path)!r}, runtime={self.runtime}, core_id={self.core_id}, "
                f"priority={self.priority}, input={self.input_spec.width}x{self.input_spec.height})")


def _looks_nchw(shape: tuple[int, ...]) -> bool:
    """hbm_runtime reports X5 NV12 inputs as NCHW (1, 3, H, W); accept NHWC (1, H, W, 1|3) too."""
    return len(shape) == 4 and shape[1] in (1, 3)
