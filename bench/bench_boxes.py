"""Second-stage cost: 1, 5 and 20 detector boxes on a 1920x1080 frame, outside inference.

For each input (nv12, bgr8, jpeg q90) and box count, one frame's boxes through
``regions.classify_boxes`` (``Frame`` once per frame, then per box: crop view -> resize ->
NV12 -> backend -> top-k) with a **null backend** (returns a fixed 1000-vector at once), so the
time is everything but inference: the frame's decode (jpeg) and per box the crop, resize, colour
conversion, postprocess and bookkeeping. Side by side, in turn within every round, the naive path:
the whole frame to BGR first (nv12: cv2.cvtColor at full size; jpeg: full decode, as ours), then
per box a BGR crop through ``Preprocessor.from_bgr``. And the real model's inference per box, to
put the overhead in proportion. Boxes: seeded, 64-480 px wide, inside the frame.

    python bench/bench_boxes.py [--json] [--runs N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

try:
    import rdk_classifier  # noqa: F401
except ImportError:  # running from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2
import numpy as np

from rdk_classifier.backends.base import InputSpec
from rdk_classifier.benchmark import machine_info, make_frames
from rdk_classifier.classifier import Classifier
from rdk_classifier.frames import Frame
from rdk_classifier.regions import Box, classify_boxes

W, H = 1920, 1080
COUNTS = (1, 5, 20)
ENCODINGS = ("nv12", "bgr8", "jpeg")


class NullBackend:
    """Returns the same logits at once: what is left of the time is not inference."""

    name = "null"

    def __init__(self, height: int, width: int) -> None:
        self.input_spec = InputSpec(height, width)
        self._out = np.linspace(-3, 3, 1000, dtype=np.float32)

    def infer(self, nv12: np.ndarray) -> np.ndarray:
        return self._out

    def close(self) -> None:
        pass


def make_boxes(n: int, seed: int) -> list[Box]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        w, h = int(rng.integers(64, 481)), int(rng.integers(64, 481))
        x, y = int(rng.integers(0, W - w)), int(rng.integers(0, H - h))
        out.append(Box(x, y, w, h, score=float(rng.random()), id=str(i)))
    return out


def region(frame, encoding: str) -> Frame:
    if encoding == "jpeg":
        return Frame.from_encoded(frame)
    return Frame.from_raw(frame, W, H, encoding)


def naive(clf: Classifier, frame, encoding: str, boxes) -> None:
    if encoding == "jpeg":
        bgr = cv2.imdecode(np.frombuffer(frame, np.uint8), cv2.IMREAD_COLOR)
    elif encoding == "nv12":
        bgr = cv2.cvtColor(np.asarray(frame).reshape(H * 3 // 2, W), cv2.COLOR_YUV2BGR_NV12)
    else:
        bgr = np.ndarray((H, W, 3), np.uint8, frame)
    for b in boxes:
        x, y, w, h = int(b.x_offset), int(b.y_offset), int(b.width), int(b.height)
        clf.postprocess(clf.backend.infer(clf.preprocessor.from_bgr(bgr[y:y + h, x:x + w])))


def median_ms(fn, runs: int) -> float:
    return paired_median_ms([fn], runs)[0]


def paired_median_ms(fns, runs: int) -> list[float]:
    """Median time of each function, the functions run in turn within every round, so that a
    busy machine slows them alike and their ratios stay comparable."""
    for fn in fns:
        fn()  # warm up
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(runs):
        for fn, out in zip(fns, times):
            t0 = time.perf_counter()
            fn()
            out.append((time.perf_counter() - t0) * 1e3)
    return [statistics.median(t) for t in times]


def run(runs: int = 40, encodings=ENCODINGS, counts=COUNTS) -> dict:
    cv2.setNumThreads(1)
    real = Classifier.from_model(backend="cpu")
    null = Classifier(NullBackend(real.preprocessor.height, real.preprocessor.width),
                      real.preprocessor, real.class_names, "null", real.top_k)
    infer_ms = median_ms(lambda: real.backend.infer(np.zeros(224 * 224 * 3 // 2, np.uint8)),
                         runs)
    rows = []
    for enc in encodings:
        frames = make_frames(W, H, "jpeg" if enc == "jpeg" else enc)
        frame = frames[0]
        if enc == "jpeg":
            frame = bytes(frame)
        for n in counts:
            boxes = make_boxes(n, seed=n)
            r = runs if enc != "jpeg" else max(10, runs // 2)
            ours, base, frame_ms = paired_median_ms(
                [lambda: classify_boxes(null, region(frame, enc), boxes, top=5),
                 lambda: naive(null, frame, enc, boxes), lambda: region(frame, enc)], r)
            rows.append({"input": enc, "boxes": n, "ours_frame_ms": round(ours, 3),
                         "ours_per_box_ms": round((ours - frame_ms) / n, 3),
                         "frame_setup_ms": round(frame_ms, 3),
                         "naive_frame_ms": round(base, 3),
                         "naive_over_ours": round(base / ours, 2),
                         "overhead_over_inference": round(ours / n / infer_ms, 3)})
    real.close()
    return {"machine": machine_info(), "frame": f"{W}x{H}", "model": real.model_name,
            "inference_ms_per_box": round(infer_ms, 3), "rows": rows}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--runs", type=int, default=40)
    a = ap.parse_args()
    out = run(a.runs)
    if a.json:
        print(json.dumps(out, indent=1))
        return 0
    m = out["machine"]
    print(f"{m['cpu']} ({m['cores']} cores), {out['frame']}, inference "
          f"{out['model']} {out['inference_ms_per_box']} ms/box (1 thread)")
    print("input boxes | ours ms/frame | per box | frame setup | naive ms/frame | naive/ours | "
          "overhead/inference per box")
    for r in out["rows"]:
        print(f"{r['input']:5} {r['boxes']:5} | {r['ours_frame_ms']:13.3f} | "
              f"{r['ours_per_box_ms']:7.3f} | {r['frame_setup_ms']:11.3f} | "
              f"{r['naive_frame_ms']:14.3f} | {r['naive_over_ours']:10.2f} | "
              f"{r['overhead_over_inference']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
