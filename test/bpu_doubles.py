"""TEST DOUBLES of the RDK BPU Python runtimes. Not the real thing: nothing here touches a BPU.

They follow the documented APIs (see REFERENCE.md section 1) attribute by attribute:

* ``hbm_runtime``: ``HB_HBMRuntime(path)`` with ``model_names``, ``input_names``,
  ``output_names``, ``input_shapes``, ``output_shapes``, ``output_quants`` (``QuantParams`` with
  ``quant_type`` (``QuantType.NONE`` / ``QuantType.SCALE``), ``scale``, ``zero_point``, ``axis``),
  ``set_scheduling_params(priority={m: p}, bpu_cores={m: [c]})`` and
  ``run({m: {input: nv12}}) -> {m: {output: ndarray}}``;
* ``pyeasy_dnn``: ``load(path) -> [Model]``; ``Model.inputs[0].properties`` with ``tensor_type``,
  ``dtype``, ``layout``, ``shape``, ``validShape``, ``alignedShape``, ``scale_data``;
  ``Model.forward(nv12, core_id=0, priority=0) -> [Tensor]`` with ``.buffer`` and ``.properties``
  (quantized when ``len(properties.scale_data) != 0``: int32 values times ``scale_data``).

The "model" is a deterministic function of the NV12 bytes: ``raw_values(nv12, n)[j]`` is the byte
at position ``j * 7919 mod len(nv12)`` minus 128 (it samples both the Y and the UV plane). A float
model outputs ``raw_values * FLOAT_STEP``; a quantized one outputs the integers ``raw_values +
zero_point`` with the scales below, so the exact dequantized result is ``expected_scores``.
Install a double with ``install_hbm_runtime(monkeypatch, ...)`` / ``install_pyeasy_dnn(...)``.
"""

from __future__ import annotations

import enum
import sys
import types
from pathlib import Path

import numpy as np

FLOAT_STEP = 0.5
PER_TENSOR_SCALE = 0.25
PER_TENSOR_ZERO_POINT = 3
QUANT_VARIANTS = ("none", "per_tensor", "per_channel")


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
    if quant == "none":
        return v * np.float32(FLOAT_STEP)
    if quant == "per_tensor":
        return v * np.float32(PER_TENSOR_SCALE)
    if quant == "per_channel":
        return v * per_channel_scale(n)
    raise ValueError(quant)


def _check_model_file(path) -> None:
    if not Path(path).is_file():
        raise RuntimeError(f"double: model file {path} does not exist")


# ----------------------------------------------------------------------------- hbm_runtime

class QuantType(enum.IntEnum):
    NONE = 0
    SCALE = 1


class QuantParams:
    def __init__(self, quant_type: QuantType, scale: np.ndarray, zero_point: np.ndarray,
                 axis: int) -> None:
        self.quant_type = quant_type
        self.scale = scale
        self.zero_point = zero_point
        self.axis = axis


def make_hbm_runtime(height: int = 224, width: int = 224, num_classes: int = 1000,
                     quant: str = "none", output_shape: str = "NC",
                     input_layout: str = "NCHW") -> types.ModuleType:
    """A module object that stands in for ``hbm_runtime``.

    ``output_shape``: "NC" -> (1, n); "NCHW" -> (1, n, 1, 1). ``input_layout`` "NCHW" reports the
    input as (1, 3, H, W) (what X5 .bin models report), "NHWC" as (1, H, W, 1).
    """
    if quant not in QUANT_VARIANTS:
        raise ValueError(quant)
    module = types.ModuleType("hbm_runtime")
    module.__doc__ = "TEST DOUBLE of hbm_runtime (test/bpu_doubles.py)"
    module.QuantType = QuantType
    module.QuantParams = QuantParams
    module.instances = []

    class HB_HBMRuntime:  # noqa: N801 - the real class name
        def __init__(self, path: str) -> None:
            _check_model_file(path)
            self.path = path
            name = Path(path).stem
            self.model_names = [name]
            self.model_count = 1
            self.input_names = {name: ["input"]}
            self.output_names = {name: ["output"]}
            in_shape = [1, 3, height, width] if input_layout == "NCHW" else [1, height, width, 1]
            self.input_shapes = {name: {"input": in_shape}}
            out_shape = [1, num_classes] if output_shape == "NC" else [1, num_classes, 1, 1]
            self.output_shapes = {name: {"output": out_shape}}
            if quant == "none":
                q = QuantParams(QuantType.NONE, np.array([], np.float32), np.array([], np.int32), 0)
            elif quant == "per_tensor":
                q = QuantParams(QuantType.SCALE, np.array([PER_TENSOR_SCALE], np.float32),
                                np.array([PER_TENSOR_ZERO_POINT], np.int32), 0)
            else:
                q = QuantParams(QuantType.SCALE, per_channel_scale(num_classes),
                                per_channel_zero_point(num_classes), 1)
            self.output_quants = {name: {"output": q}}
            self.scheduling: dict = {}
            self.inputs_seen: list[np.ndarray] = []
            module.instances.append(self)

        def set_scheduling_params(self, priority=None, bpu_cores=None) -> None:
            for model, p in (priority or {}).items():
                assert model in self.model_names and 0 <= p <= 255, (model, p)
            for model, cores in (bpu_cores or {}).items():
                assert model in self.model_names and isinstance(cores, list), (model, cores)
            self.scheduling = {"priority": priority, "bpu_cores": bpu_cores}

        def run(self, inputs: dict, model_name: str | None = None) -> dict:
            name = self.model_names[0]
            feed = inputs[name] if model_name is None else inputs
            tensor = feed["input"]
            assert isinstance(tensor, np.ndarray) and tensor.dtype == np.uint8, tensor.dtype
            assert tensor.flags.c_contiguous
            assert tensor.shape in ((height * width * 3 // 2,), (1, height * 3 // 2, width, 1)), \
                tensor.shape
            self.inputs_seen.append(tensor.copy())
            values = raw_values(tensor, num_classes)
            if quant == "none":
                out = values.astype(np.float32) * np.float32(FLOAT_STEP)
            elif quant == "per_tensor":
                out = (values + PER_TENSOR_ZERO_POINT).astype(np.int32)
            else:
                out = (values + per_channel_zero_point(num_classes)).astype(np.int32)
            return {name: {"output": out.reshape(self.output_shapes[name]["output"])}}

    module.HB_HBMRuntime = HB_HBMRuntime
    return module


# ----------------------------------------------------------------------------- pyeasy_dnn

class TensorProperties:
    def __init__(self, tensor_type: str, dtype: str, layout: str, shape: tuple,
                 scale_data: np.ndarray) -> None:
        self.tensor_type = tensor_type
        self.dtype = dtype
        self.layout = layout
        self.shape = shape
        self.validShape = shape
        self.alignedShape = shape
        self.scale_data = scale_data


class Tensor:
    def __init__(self, name: str, properties: TensorProperties, buffer=None) -> None:
        self.name = name
        self.properties = properties
        self.buffer = buffer


def make_pyeasy_dnn(height: int = 224, width: int = 224, num_classes: int = 1000,
                    quant: str = "none", layout: str = "NCHW") -> types.ModuleType:
    """A module object that stands in for ``pyeasy_dnn`` (``quant`` "none" or "per_tensor" or
    "per_channel"; pyeasy_dnn has no zero point: values are int32 times scale_data)."""
    if quant not in QUANT_VARIANTS:
        raise ValueError(quant)
    module = types.ModuleType("pyeasy_dnn")
    module.__doc__ = "TEST DOUBLE of pyeasy_dnn (test/bpu_doubles.py)"
    module.models = []
    in_shape = (1, 3, height, width) if layout == "NCHW" else (1, height, width, 3)
    out_shape = (1, num_classes, 1, 1) if layout == "NCHW" else (1, 1, 1, num_classes)
    if quant == "none":
        scale = np.array([], np.float32)
    elif quant == "per_tensor":
        scale = np.array([PER_TENSOR_SCALE], np.float32)
    else:
        scale = per_channel_scale(num_classes)

    class Model:
        def __init__(self, path: str) -> None:
            self.name = Path(path).stem
            self.inputs = [Tensor("input", TensorProperties("NV12", "uint8", layout, in_shape,
                                                            np.array([], np.float32)))]
            self.outputs = [Tensor("output", TensorProperties(
                "F32" if quant == "none" else "S32", "float32" if quant == "none" else "int32",
                layout, out_shape, scale))]
            self.forward_calls: list[dict] = []

        def forward(self, input_tensor, core_id: int = 0, priority: int = 0):
            assert isinstance(input_tensor, np.ndarray) and input_tensor.dtype == np.uint8
            assert input_tensor.flags.c_contiguous and input_tensor.ndim == 1
            assert input_tensor.size == height * width * 3 // 2, input_tensor.size
            self.forward_calls.append({"core_id": core_id, "priority": priority})
            values = raw_values(input_tensor, num_classes)
            if quant == "none":
                buf = values.astype(np.float32) * np.float32(FLOAT_STEP)
            else:
                buf = values.astype(np.int32)
            props = self.outputs[0].properties
            return [Tensor("output", props, buf.reshape(out_shape).copy())]

    def load(path: str):
        _check_model_file(path)
        model = Model(path)
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
