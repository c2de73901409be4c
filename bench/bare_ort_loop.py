"""The yardstick of ``bench``'s model-only figure: the least code that times an ONNX model.

One InferenceSession (1 intra-op thread, spinning off, as the package's), one ready float32 input,
``--frames`` timed ``run`` calls after 10 untimed; prints one JSON line with p50 and FPS. Run it
beside ``python -m rdk_classifier bench`` under bench/ab_pairs.py to compare latency and peak RSS.

    python bench/bare_ort_loop.py [--model fp32|int8] [--frames 100] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

MODELS = Path(__file__).resolve().parents[1] / "rdk_classifier" / "models"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="fp32", choices=("fp32", "int8"))
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1, help="Python threads sharing the session")
    a = ap.parse_args()
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if a.model == "int8":  # the package's setting on AVX2 without VNNI (same answers everywhere)
        so.add_session_config_entry("session.x64quantprecision", "1")
    sess = ort.InferenceSession(str(MODELS / f"efficientnet_lite0_{a.model}.onnx"), so,
                                providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    for _ in range(10):
        sess.run(None, {name: x})
    lat: list[float] = []
    per = a.frames // a.threads

    def loop() -> None:
        for _ in range(per):
            t0 = time.perf_counter()
            sess.run(None, {name: x})
            lat.append((time.perf_counter() - t0) * 1e3)

    threads = [threading.Thread(target=loop) for _ in range(a.threads)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    print(json.dumps({"p50_ms": float(np.percentile(lat, 50)), "fps": len(lat) / wall,
                      "frames": len(lat), "threads": a.threads}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
