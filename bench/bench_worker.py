"""The node's per-frame path against a bare inference loop, and frame age under overload.

1. Throughput: the node's per-frame path with its split. The producer thread plays the
   subscription callback: a new message, then ``messages.prepare_message`` (1920x1080 frame ->
   model-size NV12, timed) and ``LatestFrameWorker.submit`` of the ``PreparedFrame``. The worker
   (rdk_classifier.ros.worker) does what the node's worker does: the classifier check, then
   ``messages.classify_prepared`` (inference -> top-5) and ``messages.classification_message``
   (vision_msgs/Classification with the frame's header), then "publish" (kept in a list). Frames
   are rosbags ``sensor_msgs/Image`` messages (same fields as rclpy's, each with its own copy of
   the pixels as rclpy delivers them), one every 0.8 bare inference times: a frame is always
   waiting when the worker finishes one. Compared with a bare loop ``backend.infer(nv12)`` on a
   ready 224x224 NV12 of the same model.
2. Overload: frames arrive at twice the bare inference rate; each result's age at publish (now -
   the frame's header stamp) shows whether a backlog builds up (the latest-frame slot must keep it
   at about one processing time).

    python bench/bench_worker.py [--model M] [--input nv12|bgr8|jpeg] [--seconds S] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

try:
    import rdk_classifier  # noqa: F401
except ImportError:  # running from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from rdk_classifier import zoo
from rdk_classifier.benchmark import latency_summary, machine_info, make_frames
from rdk_classifier.classifier import Classifier, ClassifierConfig
from rdk_classifier.ros.messages import (PreparedFrame, classification_message, classify_prepared,
                                         make_header, prepare_message, stamp_to_ns)
from rdk_classifier.ros.rosbags_types import COMPRESSED_IMAGE, IMAGE, humble_typestore, message_types
from rdk_classifier.ros.worker import LatestFrameWorker

SIZE = (1920, 1080)
TARGET_THROUGHPUT_RATIO = 0.9
#: frame period of the throughput test, in bare inference times (< 1: the worker never idles)
SATURATE_PERIOD = 0.8
TARGET_AGE_RATIO = 2.0


def bare_loop(clf: Classifier, nv12: np.ndarray, seconds: float) -> dict:
    """backend.infer on a ready model-sized NV12, as fast as it goes."""
    backend = clf.backend
    for _ in range(5):
        backend.infer(nv12)
    times = []
    end = time.perf_counter() + seconds
    start = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        backend.infer(nv12)
        t1 = time.perf_counter()
        times.append((t1 - t0) * 1e3)
        if t1 >= end:
            break
    elapsed = time.perf_counter() - start
    return {"frames": len(times), "fps": len(times) / elapsed, "infer_ms": latency_summary(times)}


class FakeCamera:
    """Builds sensor_msgs/Image (or CompressedImage) messages stamped with the monotonic clock.

    Every message gets its own copy of the pixel data, as rclpy hands the subscription callback a
    freshly deserialized message: the frame is new memory every time, like a camera's.
    """

    def __init__(self, encoding: str, image: str | None) -> None:
        store = humble_typestore()
        self.types = message_types(store)
        self.encoding = encoding
        self._frames = make_frames(SIZE[0], SIZE[1], encoding, image)
        self._Image = store.types[IMAGE]
        self._Compressed = store.types[COMPRESSED_IMAGE]
        self._k = 0

    def message(self):
        data = np.array(self._frames[self._k % len(self._frames)], copy=True)
        self._k += 1
        header = make_header(self.types, time.monotonic_ns(), "camera")
        if self.encoding == "jpeg":
            return self._Compressed(header=header, format="jpeg",
                                    data=np.frombuffer(bytearray(data), np.uint8))
        w, h = SIZE
        step = w * 3 if self.encoding == "bgr8" else w
        return self._Image(header=header, height=h, width=w, encoding=self.encoding,
                           is_bigendian=0, step=step, data=np.asarray(data).reshape(-1))


def worker_run(clf: Classifier, camera: FakeCamera, period_s: float | None,
               seconds: float) -> dict:
    """Feed the worker for ``seconds``: a frame every ``period_s``, or with ``period_s`` None a
    new frame as soon as the worker has taken the previous one (the slot is never empty, and the
    producer makes one frame per processed frame instead of burning the other core). The producer
    converts each frame as the node's subscription callback does; the worker does the node's
    per-frame work. Returns throughput and the age of every published result."""
    taken = threading.Event()
    published: list[tuple[int, object]] = []
    ages_ms: list[float] = []
    process_ms: list[float] = []
    infer_ms: list[float] = []
    convert_ms: list[float] = []
    types = camera.types

    def process(frame: PreparedFrame) -> None:
        t0 = time.perf_counter()
        taken.set()
        if frame.classifier is not clf:  # the node's check (a frame of a swapped-out model)
            return
        result = classify_prepared(clf, frame, top=5)
        out = classification_message(types, frame.header, result.top)
        now = time.monotonic_ns()
        published.append((now, out))  # "publish"
        ages_ms.append((now - stamp_to_ns(out.header.stamp)) / 1e6)
        process_ms.append((time.perf_counter() - t0) * 1e3)
        infer_ms.append(result.timing_ms.inference)
        convert_ms.append(result.timing_ms.preprocess)

    def frame() -> PreparedFrame:  # the subscription callback
        return prepare_message(clf, camera.message())

    worker = LatestFrameWorker(process, name="bench-worker")
    worker.start()
    for _ in range(5):  # warm up, untimed
        worker.submit(frame())
        worker.wait_idle(10)
    for kept in (published, ages_ms, process_ms, infer_ms, convert_ms):
        kept.clear()
    base = worker.stats()
    start = time.perf_counter()
    next_t = start
    end = start + seconds
    if period_s is None:
        taken.clear()
        worker.submit(frame())
        while time.perf_counter() < end:
            if taken.wait(0.05):
                taken.clear()
                worker.submit(frame())
    else:
        while True:
            now = time.perf_counter()
            if now >= end:
                break
            if now < next_t:
                time.sleep(next_t - now)
                continue
            worker.submit(frame())
            next_t += period_s
    done = len(published)  # results published inside the window
    elapsed = time.perf_counter() - start
    worker.wait_idle(10)
    worker.stop(10)
    stats = worker.stats()
    return {"period_ms": period_s * 1e3 if period_s else None, "published": done, "fps": done / elapsed,
            "submitted": stats.received - base.received, "dropped": stats.dropped - base.dropped,
            "age_ms": latency_summary(ages_ms), "process_ms": latency_summary(process_ms),
            "infer_ms": latency_summary(infer_ms),
            "convert_ms": latency_summary(convert_ms)}


def measure(model: str = zoo.DEFAULT_MODEL, backend: str = "auto", encoding: str = "nv12",
            image: str | None = None, seconds: float = 2.0, rounds: int = 3) -> dict:
    """Throughput: bare loop and saturated worker alternately, ``rounds`` times ``seconds`` each
    (medians compared, so that load from other processes hits both alike). Then ``rounds``
    overload runs of ``seconds``: frames at twice the inference rate (median run reported)."""
    clf = Classifier.from_config(ClassifierConfig(model=model, backend=backend))
    camera = FakeCamera(encoding, image)
    nv12 = clf.preprocessor.from_raw(make_frames(SIZE[0], SIZE[1], "nv12", image, 1)[0],
                                     SIZE[0], SIZE[1], "nv12")
    bare_runs, worker_runs = [], []
    for _ in range(rounds):
        bare_runs.append(bare_loop(clf, nv12, seconds))
        # a camera slightly faster than the inference: a frame is always waiting when the worker
        # finishes one, and the producer copies 1.25 frames per processed frame, at a random phase
        period = SATURATE_PERIOD * bare_runs[-1]["infer_ms"]["p50"] / 1e3
        worker_runs.append(worker_run(clf, camera, period, seconds))
    median = lambda runs: sorted(runs, key=lambda r: r["fps"])[rounds // 2]  # noqa: E731
    bare, saturated = median(bare_runs), median(worker_runs)
    infer_ms = float(np.median([r["infer_ms"]["p50"] for r in bare_runs]))
    # overload: each run's p99 age over the inference time of the very frames whose age is
    # measured (same load, same moment); the run with the median ratio is reported
    overload_runs = []
    for _ in range(rounds):
        run = worker_run(clf, camera, infer_ms / 2 / 1e3, seconds)
        run["age_p99_over_infer"] = run["age_ms"]["p99"] / run["infer_ms"]["p50"]
        overload_runs.append(run)
    overload = sorted(overload_runs, key=lambda r: r["age_p99_over_infer"])[rounds // 2]
    infer_now = overload["infer_ms"]["p50"]
    throughput_ratio = saturated["fps"] / bare["fps"]
    age_p99_ratio = overload["age_p99_over_infer"]
    return {
        "model": clf.model_name, "backend": clf.backend.name, "input": encoding,
        "frame": f"{SIZE[0]}x{SIZE[1]}", "machine": machine_info(), "rounds": rounds,
        "bare": bare, "worker": saturated, "overload": overload,
        "bare_fps_runs": [r["fps"] for r in bare_runs],
        "worker_fps_runs": [r["fps"] for r in worker_runs],
        "throughput_ratio": throughput_ratio,
        "overload_age_p50_over_infer": overload["age_ms"]["p50"] / infer_now,
        "overload_age_p99_over_infer": age_p99_ratio,
        "overload_age_p99_over_infer_runs": [r["age_p99_over_infer"] for r in overload_runs],
        "overload_age_p99_over_bare_infer": overload["age_ms"]["p99"] / infer_ms,
        "targets": [
            {"what": f"worker throughput >= {TARGET_THROUGHPUT_RATIO}x bare loop",
             "value": throughput_ratio, "ok": throughput_ratio >= TARGET_THROUGHPUT_RATIO},
            {"what": f"overload p99 age <= {TARGET_AGE_RATIO}x inference time",
             "value": age_p99_ratio, "ok": age_p99_ratio <= TARGET_AGE_RATIO},
        ],
    }


def format_text(out: dict) -> str:
    m, bare, sat, o = out["machine"], out["bare"], out["worker"], out["overload"]
    runs = lambda v: " ".join(f"{x:.0f}" for x in v)  # noqa: E731
    lines = [
        f"worker path vs bare loop: {out['model']} ({out['backend']}), {out['frame']} "
        f"{out['input']} frames, {m['cpu']} ({m['cores']} cores)",
        f"  bare backend.infer:  {bare['fps']:6.1f} FPS median of {out['rounds']} "
        f"[{runs(out['bare_fps_runs'])}]  (infer p50 {bare['infer_ms']['p50']:.2f} ms)",
        f"  worker (saturated):  {sat['fps']:6.1f} FPS median of {out['rounds']} "
        f"[{runs(out['worker_fps_runs'])}]  (per frame p50 {sat['process_ms']['p50']:.2f} ms: "
        f"infer + message; NV12 made in the callback, p50 {sat['convert_ms']['p50']:.2f} ms)  "
        f"ratio {out['throughput_ratio']:.3f}",
        f"  overload, a frame every {o['period_ms']:.2f} ms: {o['submitted']} in, "
        f"{o['published']} published, {o['dropped']} dropped; inference p50 "
        f"{o['infer_ms']['p50']:.2f} ms; age at publish p50 {o['age_ms']['p50']:.2f} ms, p99 "
        f"{o['age_ms']['p99']:.2f} ms, max {o['age_ms']['max']:.2f} ms = "
        f"{out['overload_age_p50_over_infer']:.2f}x / {out['overload_age_p99_over_infer']:.2f}x "
        f"inference time (p99 ratio of each run: "
        + " ".join(f"{v:.2f}" for v in out["overload_age_p99_over_infer_runs"]) + ")",
    ]
    for c in out["targets"]:
        lines.append(f"  [{'met' if c['ok'] else 'MISSED'}] {c['what']}: {c['value']:.3f}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=zoo.DEFAULT_MODEL)
    ap.add_argument("--backend", default="auto", choices=("auto", "bpu", "cpu"))
    ap.add_argument("--input", default="nv12", choices=("nv12", "bgr8", "jpeg"),
                    help="camera frame encoding (default nv12), 1920x1080")
    ap.add_argument("--image", help="make the frames from this photo (default: procedural)")
    ap.add_argument("--seconds", type=float, default=2.0,
                    help="length of each throughput phase (default 2)")
    ap.add_argument("--rounds", type=int, default=3, help="bare/worker alternations (default 3)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    out = measure(args.model, args.backend, args.input, args.image, args.seconds, args.rounds)
    print(json.dumps(out) if args.json else format_text(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
