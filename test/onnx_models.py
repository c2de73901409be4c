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
                    out_shape=None, metadata: dict | None = None) -> Path:
    """Write the model to ``path``. ``fill`` replaces every weight (NaN gives NaN scores);
    ``out_shape`` overrides the declared output shape (e.g. symbolic dimensions); ``metadata``
    (e.g. its normalization, which a user model must record to be run) goes to
    metadata_props."""
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
    if metadata:
        helper.set_model_props(model, metadata)
    onnx.save(model, str(path))
    return path


#: five ImageNet classes of the committed photos (test/data/imagenet/val.txt): the 5-class head
HEAD_CLASSES = (243, 559, 438, 609, 949)
HEAD_NAMES = ("bull_mastiff", "folding_chair", "beaker", "jeep", "strawberry")


def lite0_head(path: Path, size: int = 224, layout: str = "NCHW",
               classes: tuple[int, ...] = HEAD_CLASSES, metadata: dict | None = None) -> Path:
    """The shipped EfficientNet-Lite0 fp32 as a user would bring their own model: input
    ``size`` x ``size`` (its global pooling takes any size), NCHW or NHWC (a Transpose in front),
    a head of ``classes`` (its logits of those ImageNet classes, gathered), and NO metadata
    unless ``metadata`` is given (a freshly exported model records nothing)."""
    from rdk_classifier.zoo import PACKAGED_MODEL_DIR

    proto = onnx.load(str(PACKAGED_MODEL_DIR / "efficientnet_lite0_fp32.onnx"))
    inp = proto.graph.input[0]
    del proto.graph.value_info[:]
    dims = [1, 3, size, size] if layout == "NCHW" else [1, size, size, 3]
    if layout == "NHWC":
        old = inp.name
        proto.graph.node.insert(0, helper.make_node("Transpose", ["image_nhwc"], [old],
                                                    perm=[0, 3, 1, 2]))
        inp.name = "image_nhwc"
    for d, v in zip(inp.type.tensor_type.shape.dim, dims):
        d.dim_value = v
    logits = proto.graph.output[0].name
    proto.graph.initializer.append(
        helper.make_tensor("head_idx", TensorProto.INT64, [len(classes)], list(classes)))
    proto.graph.node.append(helper.make_node("Gather", [logits, "head_idx"], ["scores"], axis=1))
    del proto.graph.output[:]
    proto.graph.output.append(
        helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, len(classes)]))
    del proto.metadata_props[:]
    if metadata:
        helper.set_model_props(proto, metadata)
    onnx.save(proto, str(path))
    return path
