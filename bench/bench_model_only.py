"""``bench``'s model-only figure against a bare ONNX Runtime loop, interleaved in one process.

Side A is what ``python -m rdk_classifier bench`` times as "model only": the package's CPU backend
(its session options) on the ready input of a 1080p frame (``benchmark.model_only_call``). Side B
is the least code: a plain ``InferenceSession`` (1 thread, spinning off) on a ready float32
tensor. The two run in turn, ``--per`` calls each, ``--rounds`` times; the ratio of their
per-round medians is taken round by round, so machine load drifts out of it.

    python bench/bench_model_only.py [--model EfficientNet_Lite0_fp32] [--rounds 20] [--per 10]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

try:
    import rdk_classifier  # noqa: F401
except ImportError:  # running from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402

from rdk_classifier.benchmark import machine_info, make_frames, model_only_call  # noqa: E402
from rdk_classifier.classifier import Classifier  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="EfficientNet_Lite0_fp32")
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--per", type=int, default=10)
    a = ap.parse_args()
    clf = Classifier.from_model(a.model, backend="cpu")
    nv12 = clf.preprocessor.from_raw(make_frames(1920, 1080, "nv12", count=1)[0], 1920, 1080,
                                     "nv12")
    ours = model_only_call(clf.backend)(nv12)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    path = str(clf.backend.path)  # type: ignore[attr-defined]
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)

    def bare():
        return sess.run(None, {name: x})

    sides = {"package": ours, "bare": bare}
    for f in sides.values():
        for _ in range(5):
            f()
    med: dict[str, list[float]] = {k: [] for k in sides}
    for _ in range(a.rounds):
        for k, f in sides.items():
            lat = []
            for _ in range(a.per):
                t0 = time.perf_counter()
                f()
                lat.append((time.perf_counter() - t0) * 1e3)
            med[k].append(float(np.median(lat)))
    ratio = np.array(med["package"]) / np.array(med["bare"])
    print(json.dumps({"model": clf.model_name, "rounds": a.rounds, "per": a.per,
                      "p50_ms": {k: float(np.median(v)) for k, v in med.items()},
                      "package_over_bare": {"median": float(np.median(ratio)),
                                            "min": float(ratio.min()), "max": float(ratio.max())},
                      "machine": machine_info()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
