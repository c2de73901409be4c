"""Every benchmark of the first version in one run (< 2 minutes on a 2-core x86_64), with the target ratios.

1. preprocessing 1920x1080 bgr8 / nv12 / jpeg -> 224x224 NV12 vs the naive path (bench_preprocess)
2. the node's worker path vs a bare inference loop, and frame age under 2x overload (bench_worker)
3. ``bench`` (rdk_classifier.benchmark): 1 and 2 threads, int8 default and fp32, 1080p nv12 frames
4. accuracy of both default CPU models on the committed 20-image ImageNet sample, plus the
   chelsea / coffee sanity photos (needs the repository's test/data)

    python bench/run_all.py [--json FILE] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
try:
    import rdk_classifier  # noqa: F401
except ImportError:  # running from a checkout without installing
    sys.path.insert(0, str(HERE.parent))

import bench_preprocess  # noqa: E402
import bench_worker  # noqa: E402

from rdk_classifier.benchmark import machine_info, run_benchmark  # noqa: E402
from rdk_classifier.classifier import Classifier, ClassifierConfig  # noqa: E402
from rdk_classifier.evaluation import evaluate, read_labels  # noqa: E402

MODELS = ("EfficientNet_Lite0_int8", "EfficientNet_Lite0_fp32")
TARGET_THREAD_SCALING = 1.6
DATA = HERE.parent / "test" / "data"
#: sanity photos and the classes a correct top-1 falls in (tabby/tiger/Egyptian cat, ...; espresso)
SANITY = {"chelsea.png": range(281, 288), "coffee.png": (967, 968, 504)}


def load_average() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:  # pragma: no cover
        return "n/a"


def thread_scaling(frames: int, rounds: int) -> dict:
    """bench --threads 1 and 2 for both CPU models (nv12 1080p frames, 1 ORT thread each),
    interleaved ``rounds`` times; the run with the median FPS of each is kept (this machine is
    shared, so single runs wander)."""
    out = {}
    for model in MODELS:
        clf = Classifier.from_config(ClassifierConfig(model=model, backend="cpu"))
        runs: dict[int, list] = {1: [], 2: []}
        for _ in range(rounds):
            for threads in (1, 2):
                runs[threads].append(run_benchmark(clf, threads=threads, frames=frames, warmup=10,
                                                   encoding="nv12").to_dict())
        med = {t: sorted(r, key=lambda d: d["fps"])[len(r) // 2] for t, r in runs.items()}
        out[model] = {"threads_1": med[1], "threads_2": med[2],
                      "fps_runs": {t: [d["fps"] for d in r] for t, r in runs.items()},
                      "scaling": med[2]["fps"] / med[1]["fps"]}
        clf.close()
    return out


def accuracy() -> dict:
    out = {}
    if not (DATA / "imagenet" / "val.txt").is_file():
        return out
    for model in MODELS:
        clf = Classifier.from_config(ClassifierConfig(model=model, backend="cpu"))
        rep = evaluate(clf, DATA / "imagenet", read_labels(DATA / "imagenet" / "val.txt"))
        sanity = {}
        for name, ok in SANITY.items():
            top = clf.classify_file(DATA / "photos" / name).top[0]
            sanity[name] = {"class_id": top.class_id, "label": top.label, "score": top.score,
                            "ok": top.class_id in ok}
        out[model] = {"top1": rep.top1, "top5": rep.top5, "count": rep.count,
                      "top1_hits": rep.top1_hits, "top5_hits": rep.top5_hits, "sanity": sanity}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", metavar="FILE", help="also write every number to this JSON file")
    ap.add_argument("--quick", action="store_true", help="shorter runs (a smoke test, ~25 s)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    m = machine_info()
    print(f"machine: {m['cpu']}, {m['cores']} cores, {m['machine']}; load average "
          f"{load_average()}; {time.strftime('%Y-%m-%d %H:%M')}\n", flush=True)

    pre = bench_preprocess.measure(quick=args.quick)
    print(bench_preprocess.format_text(pre), "\n", flush=True)
    work = bench_worker.measure(seconds=1.0 if args.quick else 2.0, rounds=1 if args.quick else 3)
    print(bench_worker.format_text(work), "\n", flush=True)
    scaling = thread_scaling(100 if args.quick else 300, 1 if args.quick else 3)
    for model, s in scaling.items():
        one, two = s["threads_1"], s["threads_2"]
        print(f"bench {model}: 1 thread {one['fps']:.1f} FPS (latency p50 "
              f"{one['latency_ms']['p50']:.2f} ms, p99 {one['latency_ms']['p99']:.2f}; pre "
              f"{one['stages_ms']['preprocess']:.2f} / infer {one['stages_ms']['inference']:.2f} / "
              f"post {one['stages_ms']['postprocess']:.2f}), 2 threads {two['fps']:.1f} FPS "
              f"(p50 {two['latency_ms']['p50']:.2f} ms): x{s['scaling']:.2f}  [FPS of each run: "
              + "; ".join(f"{t}T " + " ".join(f"{v:.0f}" for v in r)
                          for t, r in s["fps_runs"].items()) + "]")
    acc = accuracy()
    print()
    for model, a in acc.items():
        sanity = ", ".join(f"{k}: {v['label']} ({v['score']:.2f})" for k, v in a["sanity"].items())
        print(f"accuracy {model}: top-1 {a['top1_hits']}/{a['count']}, top-5 "
              f"{a['top5_hits']}/{a['count']}; {sanity}")

    default = scaling[MODELS[0]]["scaling"]
    targets = pre["targets"] + work["targets"] + [
        {"what": f"bench --threads 2 >= {TARGET_THREAD_SCALING}x --threads 1 FPS ({MODELS[0]})",
         "value": default, "ok": default >= TARGET_THREAD_SCALING}]
    print("\ntargets:")
    for c in targets:
        print(f"  [{'met' if c['ok'] else 'MISSED'}] {c['what']}: {c['value']:.3f}")
    elapsed = time.perf_counter() - t0
    print(f"\n{elapsed:.0f} s; load average now {load_average()}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "machine": m, "date": time.strftime("%Y-%m-%d"), "preprocess": pre, "worker": work,
            "bench": scaling, "accuracy": acc, "targets": targets, "elapsed_s": elapsed}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
