"""One model for N cameras through the core scheduler (rdk_classifier.scheduler), no ROS.

Each camera is a thread that offers 1080p frames at ``--rate`` Hz; like the node's subscription
callback it brings each frame to model-size NV12 (``Preprocessor.from_raw``), stamps it with the
capture time, and puts it in its latest-frame slot. The scheduler's workers run inference and
postprocessing on the ONE classifier. Offered load above what the model answers is overload: the
slots keep only the newest frame, and the scheduler shares the model among the cameras.

Prints one JSON object: model loads (backend instances created), peak RSS (ru_maxrss), and per
camera the frames offered, answered per second, replaced unseen, and result age p50/p99 (capture
to delivery). Run it for 1 and for 4 cameras and compare (bench/README.md, "One model, many
cameras")::

    python bench/bench_cameras.py --cameras 1 --seconds 20
    python bench/bench_cameras.py --cameras 4 --seconds 20
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import threading
import time
from pathlib import Path

try:
    import rdk_classifier  # noqa: F401
except ImportError:  # running from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rdk_classifier import backends  # noqa: E402
from rdk_classifier.backends.base import concurrency_of  # noqa: E402
from rdk_classifier.benchmark import machine_info, make_frames  # noqa: E402
from rdk_classifier.classifier import Classifier  # noqa: E402
from rdk_classifier.scheduler import CameraPolicy, Job, Scheduler, default_workers  # noqa: E402


def count_model_loads() -> list[int]:
    """From now on count the model loads (backend instances created) of this process: the
    returned list's one element is the count."""
    loads = [0]
    create = backends.create_backend

    def counting_create(*args, **kwargs):
        loads[0] += 1
        return create(*args, **kwargs)

    backends.create_backend = counting_create
    import rdk_classifier.classifier as classifier_module
    classifier_module.create_backend = counting_create  # type: ignore[attr-defined]
    return loads


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cameras", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--rate", type=float, default=30.0, help="frames offered per camera per s")
    ap.add_argument("--model", default="EfficientNet_Lite0_fp32")
    ap.add_argument("--workers", type=int, default=0, help="scheduler threads (0: default)")
    ap.add_argument("--weights", default="", help="comma-separated weight per camera")
    a = ap.parse_args()

    loads = count_model_loads()
    clf = Classifier.from_model(a.model, backend="cpu")
    rss_after_load = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    frames = make_frames(1920, 1080, "nv12")
    weights = [float(w) for w in a.weights.split(",")] if a.weights else [1.0] * a.cameras
    sched = Scheduler()
    names = [f"cam{k}" for k in range(a.cameras)]
    for name, w in zip(names, weights):
        sched.add_camera(name, CameraPolicy(weight=w))
    workers = a.workers or default_workers(concurrency_of(clf.backend), a.cameras)
    stop = threading.Event()
    offered = dict.fromkeys(names, 0)

    def camera(name: str, k: int) -> None:
        period = 1.0 / a.rate
        next_t = time.monotonic() + k * period / max(1, a.cameras)
        i = 0
        while not stop.is_set():
            now = time.monotonic()
            if now < next_t:
                time.sleep(next_t - now)
                continue
            next_t += period
            stamp = time.monotonic()
            nv12 = clf.preprocessor.from_raw(frames[i % len(frames)], 1920, 1080, "nv12")
            i += 1
            offered[name] += 1
            sched.submit(Job(name, stamp, lambda nv12=nv12: clf.classify_nv12(nv12)))

    threads = [threading.Thread(target=camera, args=(n, k), daemon=True)
               for k, n in enumerate(names)]
    sched.start(workers)
    t0 = time.monotonic()
    for t in threads:
        t.start()
    time.sleep(a.seconds)
    stop.set()
    for t in threads:
        t.join()
    sched.stop()
    elapsed = time.monotonic() - t0
    stats = sched.stats()
    out = {
        "model": clf.model_name, "cameras": a.cameras, "workers": workers, "seconds": elapsed,
        "offered_rate_per_camera": a.rate, "model_loads": loads[0],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_after_model_load_mb": rss_after_load,
        "per_camera": {n: {"weight": w, "offered": offered[n],
                           "answered_per_s": stats[n].answered / elapsed,
                           "replaced": stats[n].replaced, "failed": stats[n].failed,
                           "age_ms": stats[n].age_summary()}
                       for n, w in zip(names, weights)},
        "machine": machine_info(),
    }
    rates = [v["answered_per_s"] for v in out["per_camera"].values()]
    out["answered_per_s_total"] = sum(rates)
    out["answered_spread"] = (max(rates) - min(rates)) / max(rates) if max(rates) else 0.0
    print(json.dumps(out, indent=1))
    clf.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
