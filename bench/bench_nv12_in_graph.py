"""The CPU backend's NV12 -> tensor step: OpenCV (as shipped) vs the same step as ONNX operators.

Issue 24 proposed folding NV12 -> RGB and mean/scale into the ONNX graph, so the CPU model would
take raw NV12 as the compiled ``.bin`` does. Before doing graph surgery at load, this measures
what ONNX Runtime's CPU kernels charge for that step, as a graph of its own with one 224x224
NV12 input and the normalized NCHW float tensor out:

  conv:   Cast, Slice Y / UV, UV to planes (Transpose) and up 2x (Resize nearest), Concat,
          one 1x1 Conv = colour matrix (BT.601 limited range, as OpenCV's YUV2RGB_NV12) with
          mean/scale folded into its weights and bias, Max/Min = the 0..255 clamp (normalized)
  hwc:    the obvious layout: (H, W, 3) YUV, MatMul by the 3x3 matrix, Add, Round, Clip, Sub
          mean, Mul scale, Transpose
  add:    a single Add of a (3,) vector over a (224, 224, 3) float tensor (what ``hwc`` leans on)

against the package's ``CpuBackend.to_tensor`` (cv2.cvtColor NV12 -> RGB, per-channel cv2.LUT),
interleaved, one intra-op thread as the package runs. Every graph's output is compared with the
package's tensor (max |difference| in grey levels: the graphs do not round to integers between
the colour conversion and the normalization, OpenCV does).

    python bench/bench_nv12_in_graph.py [--rounds 15 --per 200]    (needs the onnx package)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

try:
    import rdk_classifier  # noqa: F401
except ImportError:  # running from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from rdk_classifier.benchmark import interleaved_rounds, machine_info, make_frames  # noqa: E402
from rdk_classifier.classifier import Classifier  # noqa: E402

H = W = 224
#: BT.601 limited range YUV -> RGB (rows R, G, B; columns Y, U, V), offsets 16 / 128 / 128
YUV2RGB = np.array([[1.164, 0.0, 1.596], [1.164, -0.391, -0.813], [1.164, 2.018, 0.0]],
                   np.float32)
OFFSET = np.array([16, 128, 128], np.float32)


def _model(nodes, inits, inp, out) -> bytes:
    graph = helper.make_graph(nodes, "nv12_to_tensor", [inp], [out], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def conv_graph(mean: np.ndarray, scale: np.ndarray) -> bytes:
    inits = []

    def const(name: str, value) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    area = H * W
    i64 = np.int64
    nodes = [
        helper.make_node("Cast", ["nv12"], ["f"], to=TensorProto.FLOAT),
        helper.make_node("Slice", ["f", const("y0", np.array([0], i64)),
                                   const("y1", np.array([area], i64))], ["yf"]),
        helper.make_node("Slice", ["f", const("c0", np.array([area], i64)),
                                   const("c1", np.array([area * 3 // 2], i64))], ["cf"]),
        helper.make_node("Reshape", ["yf", const("ys", np.array([1, 1, H, W], i64))], ["y"]),
        helper.make_node("Reshape", ["cf", const("cs", np.array([1, H // 2, W // 2, 2], i64))],
                         ["uv"]),
        helper.make_node("Transpose", ["uv"], ["uvp"], perm=[0, 3, 1, 2]),
        helper.make_node("Resize", ["uvp", "", const("up", np.array([1, 1, 2, 2], np.float32))],
                         ["uvu"], mode="nearest"),
        helper.make_node("Concat", ["y", "uvu"], ["yuv"], axis=1),
        helper.make_node("Conv", ["yuv", const("w", (scale[:, None] * YUV2RGB).reshape(3, 3, 1, 1)),
                                  const("b", scale * (-(YUV2RGB @ OFFSET) - mean))], ["n"]),
        helper.make_node("Max", ["n", const("lo", ((0 - mean) * scale).reshape(1, 3, 1, 1))],
                         ["n1"]),
        helper.make_node("Min", ["n1", const("hi", ((255 - mean) * scale).reshape(1, 3, 1, 1))],
                         ["out"]),
    ]
    return _model(nodes, inits,
                  helper.make_tensor_value_info("nv12", TensorProto.UINT8, [area * 3 // 2]),
                  helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 3, H, W]))


def hwc_graph(mean: np.ndarray, scale: np.ndarray) -> bytes:
    inits = []

    def const(name: str, value) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    i64 = np.int64
    nodes = [
        helper.make_node("Cast", ["nv12"], ["f"], to=TensorProto.FLOAT),
        helper.make_node("Slice", ["f", const("y0", np.array([0], i64)),
                                   const("y1", np.array([H], i64)),
                                   const("ax", np.array([1], i64))], ["yp"]),
        helper.make_node("Slice", ["f", const("c0", np.array([H], i64)),
                                   const("c1", np.array([H * 3 // 2], i64)), "ax"], ["cp"]),
        helper.make_node("Reshape", ["cp", const("c5", np.array([H // 2, 1, W // 2, 1, 2], i64))],
                         ["c5d"]),
        helper.make_node("Expand", ["c5d", const("ce", np.array([H // 2, 2, W // 2, 2, 2], i64))],
                         ["ce5"]),
        helper.make_node("Reshape", ["ce5", const("cr", np.array([H, W, 2], i64))], ["uv"]),
        helper.make_node("Reshape", ["yp", const("yr", np.array([H, W, 1], i64))], ["y"]),
        helper.make_node("Concat", ["y", "uv"], ["yuv"], axis=2),
        helper.make_node("MatMul", ["yuv", const("m", YUV2RGB.T.copy())], ["lin"]),
        helper.make_node("Add", ["lin", const("b", -(YUV2RGB @ OFFSET))], ["rgb"]),
        helper.make_node("Round", ["rgb"], ["rr"]),
        helper.make_node("Clip", ["rr", const("lo", np.array(0, np.float32)),
                                  const("hi", np.array(255, np.float32))], ["rc"]),
        helper.make_node("Sub", ["rc", const("mean", mean)], ["rs"]),
        helper.make_node("Mul", ["rs", const("scale", scale)], ["rn"]),
        helper.make_node("Transpose", ["rn"], ["t"], perm=[2, 0, 1]),
        helper.make_node("Unsqueeze", ["t", const("a0", np.array([0], i64))], ["out"]),
    ]
    return _model(nodes, inits,
                  helper.make_tensor_value_info("nv12", TensorProto.UINT8, [1, H * 3 // 2, W]),
                  helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 3, H, W]))


def add_graph() -> bytes:
    node = helper.make_node("Add", ["x", "k"], ["out"])
    k = numpy_helper.from_array(np.array([1.5, 2.5, 3.5], np.float32), "k")
    return _model([node], [k], helper.make_tensor_value_info("x", TensorProto.FLOAT, [H, W, 3]),
                  helper.make_tensor_value_info("out", TensorProto.FLOAT, [H, W, 3]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="EfficientNet_Lite0_fp32")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--per", type=int, default=200, help="calls per path per round")
    a = ap.parse_args()
    clf = Classifier.from_model(a.model, backend="cpu")
    backend = clf.backend
    mean, scale = backend._mean, backend._scale
    frame = make_frames(1920, 1080, "nv12", count=1)[0]
    nv12 = clf.preprocessor.from_raw(frame, 1920, 1080, "nv12")
    ours = np.array(backend.to_tensor(nv12))
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    sessions = {name: ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
                for name, graph in (("conv", conv_graph(mean, scale)),
                                    ("hwc", hwc_graph(mean, scale)), ("add", add_graph()))}
    feeds = {"conv": {"nv12": nv12}, "hwc": {"nv12": nv12.reshape(1, H * 3 // 2, W)},
             "add": {"x": np.zeros((H, W, 3), np.float32)}}
    diff = {}
    for name in ("conv", "hwc"):
        got = sessions[name].run(None, feeds[name])[0]
        diff[name] = float((np.abs(got - ours) / scale[None, :, None, None]).max())
    paths = {"opencv (package)": lambda: backend.to_tensor(nv12)}
    paths.update({name: (lambda s=s, f=feeds[name]: s.run(None, f)) for name, s in sessions.items()})
    times = interleaved_rounds(paths, a.rounds, a.per, warmup=20)
    base = np.array(times["opencv (package)"])
    print(json.dumps({
        "model": clf.model_name, "input": f"{W}x{H} nv12", "onnxruntime": ort.__version__,
        "opencv": cv2.__version__, "rounds": a.rounds, "per": a.per,
        "ms_median": {k: float(np.median(v)) for k, v in times.items()},
        "over_opencv": {k: float(np.median(np.array(v) / base)) for k, v in times.items()},
        "max_abs_diff_grey_levels": diff, "machine": machine_info()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
