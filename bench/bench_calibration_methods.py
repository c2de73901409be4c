#!/usr/bin/env python3
"""Which CPU int8 calibration method holds with small calibration sets? (quantize's default)

    python bench/bench_calibration_methods.py [--json out.json] [--sizes 8 32 100]

The model is the shipped EfficientNet-Lite0 fp32 with a 5-class head (its logits of five
ImageNet classes, gathered: a realistic small custom head on a real backbone). Calibration sets
of 8, 32 and 100 tensors are built with ``calib``'s own code from the committed photos
(test/data/imagenet, 20 photos): 8 = 8 photos; 32 = 8 photos x 4 (photo, mirror, 2 seeded
crops); 100 = 20 photos x 5 (photo, mirror, 3 crops). Each set is quantized with every method
(minmax, percentile 99.999, entropy, each per-tensor and per-channel) by ``quantize_model``, and
the int8 model is compared with fp32 on 88 evaluation tensors made from all 22 committed photos
with other seeds (4 per photo): top-1 agreement and mean output cosine, through the package's
session builder. The photos overlap the calibration sources (the repository holds only 22):
agreement here is an upper bound of what unseen photos give, the ranking is what this measures.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rdk_classifier.backends.onnx_session import cpu_int8_info, create_session  # noqa: E402
from rdk_classifier.frames import load_image  # noqa: E402
from rdk_classifier.ptq.calibration import (CalibrationTarget, build_calibration_set,  # noqa: E402
                                            calibration_tensor, normalize, photo_variants)
from rdk_classifier.ptq.quantization import QuantizeSettings, quantize_model  # noqa: E402
from rdk_classifier.zoo import PACKAGED_MODEL_DIR  # noqa: E402

FLOAT = PACKAGED_MODEL_DIR / "efficientnet_lite0_fp32.onnx"
IMAGENET = ROOT / "test" / "data" / "imagenet"
PHOTOS = ROOT / "test" / "data" / "photos"
#: five ImageNet classes of the committed photos (the head's classes)
HEAD = (243, 559, 438, 990, 949)
MEAN, SCALE = (127.0, 127.0, 127.0), (1 / 128, 1 / 128, 1 / 128)
METHODS = [("minmax", False), ("minmax", True), ("percentile", False), ("percentile", True),
           ("entropy", False), ("entropy", True)]
#: (photos, variants) per calibration size
SETS = {8: (8, 0), 32: (8, 2), 100: (20, 3)}


def five_class_head(out: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper

    proto = onnx.load(str(FLOAT))
    logits = proto.graph.output[0].name
    idx = helper.make_tensor("head_idx", TensorProto.INT64, [len(HEAD)], list(HEAD))
    proto.graph.initializer.append(idx)
    proto.graph.node.append(helper.make_node("Gather", [logits, "head_idx"], ["head5"], axis=1))
    del proto.graph.output[:]
    proto.graph.output.append(helper.make_tensor_value_info("head5", TensorProto.FLOAT, [1, 5]))
    onnx.helper.set_model_props(proto, {"mean_value": "127 127 127",
                                        "scale_value": "0.0078125 0.0078125 0.0078125"})
    onnx.save(proto, str(out))
    return out


def eval_tensors() -> list[np.ndarray]:
    rng = np.random.default_rng(1234)
    target = CalibrationTarget(224, 224)
    out = []
    for path in sorted(IMAGENET.glob("*.jpg")) + sorted(PHOTOS.glob("*.png")):
        image = load_image(path)
        for v in photo_variants(image, 2, rng):
            out.append(normalize(calibration_tensor(v, target), MEAN, SCALE))
    return out


def outputs(model: Path, tensors: list[np.ndarray]) -> np.ndarray:
    sess = create_session(model)
    name = sess.get_inputs()[0].name
    return np.stack([np.asarray(sess.run(None, {name: t})[0]).reshape(-1) for t in tensors])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path)
    ap.add_argument("--sizes", type=int, nargs="+", default=list(SETS))
    ap.add_argument("--methods", nargs="+", default=[f"{m}{'+pc' if pc else ''}" for m, pc in METHODS],
                    help="e.g. minmax minmax+pc percentile entropy (+pc: per-channel weights)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_calib_"))
    try:
        model = five_class_head(tmp / "lite0_head5.onnx")
        tensors = eval_tensors()
        ref = outputs(model, tensors)
        rows = []
        for size in args.sizes:
            photos, variants = SETS[size]
            cal = tmp / f"cal{size}"
            built = build_calibration_set(IMAGENET, cal, count=photos, seed=size,
                                          variants=variants)
            for spec in args.methods:
                method, per_channel = spec.removesuffix("+pc"), spec.endswith("+pc")
                out = tmp / f"q_{size}_{method}_{int(per_channel)}.onnx"
                t0 = time.perf_counter()
                quantize_model(model, cal, out, QuantizeSettings(method=method,
                                                                 per_channel=per_channel))
                secs = time.perf_counter() - t0
                q = outputs(out, tensors)
                agree = float(np.mean(ref.argmax(1) == q.argmax(1)))
                cos = float(np.mean(np.sum(ref * q, 1) / (np.linalg.norm(ref, axis=1)
                                                          * np.linalg.norm(q, axis=1))))
                row = {"calibration": len(built.entries), "method": method,
                       "per_channel": per_channel, "top1_agreement": agree,
                       "mean_cosine": cos, "seconds": round(secs, 1)}
                rows.append(row)
                print(json.dumps(row), flush=True)
        result = {"cpu": cpu_int8_info().to_dict(), "eval_tensors": len(tensors), "rows": rows}
        if args.json:
            args.json.write_text(json.dumps(result, indent=1) + "\n")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
