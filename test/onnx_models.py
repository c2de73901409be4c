"""Small real ONNX classifiers built in the tests (no download): global average pooling of the
image, then a fixed linear layer. Shapes, types and output counts are chosen per test to exercise
the CPU backend's checks at load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402


def tiny_classifier(path: Path, classes: int, in_shape=(1, 3, 8, 8), layout: str = "NCHW",
                    in_type=TensorProto.FLOAT, outputs: int = 1, fill: float | None = None,
                    out_shape=None) -> Path:
    """Write the model to ``path``. ``fill`` replaces every weight (NaN gives NaN scores);
    ``out_shape`` overrides the declared output shape (e.g. symbolic dimensions)."""
    nhwc = layout == "NHWC"
    c = in_shape[3] if nhwc else in_shape[1]
    c = c if isinstance(c, int) else 3
    axes = [1, 2] if nhwc else list(range(2, len(in_shape)))
    weight = np.arange(c * classes, dtype=np.float32).reshape(c, classes) / 10
    if fill is not None:
        weight[...] = fill
    nodes = [helper.make_node("Cast", ["image"], ["fimage"], to=TensorProto.FLOAT),
             helper.make_node("ReduceMean", ["fimage", "axes"], ["pooled"], keepdims=0),
             helper.make_node("MatMul", ["pooled", "w"], ["scores"])]
    inits = [helper.make_tensor("w", TensorProto.FLOAT, weight.shape, weight.ravel()),
             helper.make_tensor("axes", TensorProto.INT64, [len(axes)], axes)]
    declared = list(out_shape) if out_shape is not None else [in_shape[0], classes]
    outs = [helper.make_tensor_value_info("scores", TensorProto.FLOAT, declared)]
    for k in range(1, outputs):
        nodes.append(helper.make_node("Identity", ["scores"], [f"extra{k}"]))
        outs.append(helper.make_tensor_value_info(f"extra{k}", TensorProto.FLOAT, declared))
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("image", in_type, list(in_shape))], outs,
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path
