"""``bench``: latency and FPS of the whole per-frame path, like ``hrt_model_exec perf``."""

from __future__ import annotations

import argparse
import json
import sys

from ..benchmark import DEFAULT_SIZE, INPUTS, BenchReport, run_benchmark
from ..frames import DEFAULT_MAX_PIXELS, check_pixel_budget
from .common import (FRAMES_RANGE, WORKERS_RANGE, add_model_options, frame_size, load_classifier,
                     ranged_int)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "bench", help="latency and FPS per stage, N threads (like hrt_model_exec perf)",
        description="Classify camera-sized frames through the same path as the node and report "
                    "latency (mean, p50, p99, min, max), FPS and the split into preprocess, "
                    "inference and postprocess; then the model alone on a ready input (what "
                    "hrt_model_exec perf reports). The threads share one model where the runtime "
                    "takes concurrent calls (ONNX Runtime), else each has its own instance. Frames "
                    "are made from --image if given, else from a deterministic procedurally "
                    "textured picture.")
    p.add_argument("--threads", type=ranged_int(*WORKERS_RANGE), default=1, metavar="N",
                   help="threads running frames at once, %d..%d (default: 1)"
                        % WORKERS_RANGE)
    p.add_argument("--frames", type=ranged_int(*FRAMES_RANGE), default=200, metavar="N",
                   help="timed frames, all threads together, %d..%d (default: 200)" % FRAMES_RANGE)
    p.add_argument("--warmup", type=ranged_int(0, FRAMES_RANGE[1]), default=10, metavar="N",
                   help="untimed frames per thread first, 0..%d (default: 10)" % FRAMES_RANGE[1])
    p.add_argument("--input", choices=INPUTS, default="nv12",
                   help="camera frame encoding (default: nv12, what RDK MIPI cameras send)")
    p.add_argument("--size", type=frame_size, default=DEFAULT_SIZE, metavar="WxH",
                   help="camera frame size (default: %dx%d)" % DEFAULT_SIZE)
    p.add_argument("--image", default=None, metavar="PATH",
                   help="make the frames from this photo (default: procedural texture)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_model_options(p, top_k=False)
    p.set_defaults(func=run)


def format_text(report: BenchReport) -> str:
    d = report.to_dict()
    lat, st, m = d["latency_ms"], d["stages_ms"], d["machine"]
    w, h = report.size
    return "\n".join([
        f"model: {report.model} ({report.backend}, resize {report.resize_mode}), "
        f"{report.threads} thread(s), "
        f"{report.frames} frames of {w}x{h} {report.input} ({report.source})",
        f"machine: {m['cpu']}, {m['cores']} cores"
        + (f" ({m['smt_siblings']} hardware threads per core)"
           if (m.get("smt_siblings") or 1) > 1 else ""),
        f"latency ms: mean {lat['mean']:.3f}  p50 {lat['p50']:.3f}  p99 {lat['p99']:.3f}  "
        f"min {lat['min']:.3f}  max {lat['max']:.3f}",
        f"stages ms (mean): preprocess {st['preprocess']:.3f}  inference {st['inference']:.3f}  "
        f"postprocess {st['postprocess']:.3f}",
        f"FPS: {report.fps:.1f}  ({report.elapsed_s:.2f} s)",
    ] + ([] if report.model_only is None else [
        "model only (ready input, like hrt_model_exec perf): latency ms p50 "
        f"{d['model_only']['latency_ms']['p50']:.3f}  p99 {d['model_only']['latency_ms']['p99']:.3f}"
        f"  FPS {report.model_only.fps:.1f}",
    ]))


def run(args: argparse.Namespace) -> int:
    for name in ("threads", "frames"):
        if getattr(args, name) < 1:
            print(f"error: --{name} must be >= 1", file=sys.stderr)
            return 2
    if args.warmup < 0:
        print("error: --warmup must be >= 0", file=sys.stderr)
        return 2
    width, height = args.size
    check_pixel_budget(width, height, DEFAULT_MAX_PIXELS, "bench frame (--size)")  # before the model
    clf = load_classifier(args)
    try:
        report = run_benchmark(clf, threads=args.threads, frames=args.frames, warmup=args.warmup,
                               encoding=args.input, size=args.size, image=args.image)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        clf.close()
    print(json.dumps(report.to_dict()) if args.json else format_text(report))
    return 0
