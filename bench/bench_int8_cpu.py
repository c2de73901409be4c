#!/usr/bin/env python3
"""int8 vs fp32 on this CPU, through the package's own path: does the int8 default give the
fp32 answer here, and what does the session setting that keeps x86 int8 kernels from saturating
cost or change?

    python bench/bench_int8_cpu.py [--json out.json] [--int8 MODEL.onnx ...] [--no-timing]
    python bench/bench_int8_cpu.py --save-reference /tmp/fp32.npz --no-timing
    qemu-x86_64 -cpu max .venv/bin/python bench/bench_int8_cpu.py --no-timing \
        --reference /tmp/fp32.npz                                        # AVX2, no VNNI

For every committed photo (test/data/photos/*.png, test/data/imagenet/*.jpg) the NV12 of the
package's Preprocessor goes to the fp32 model and to each int8 model, once with the package's
sessions (``session.x64quantprecision=1``) and once with a plain ONNX Runtime session (no
setting): mean/min output cosine to fp32 and top-1 agreement. With timing, the int8 latency of
both sessions, interleaved, median of rounds. ``qemu-x86_64 -cpu max`` (Debian's qemu-user)
runs the AVX2-without-VNNI kernels on any x86 machine (timing is meaningless there, and its fp32
convolutions take minutes per image: give it the fp32 outputs computed natively, --reference).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rdk_classifier.backends.cpu import CpuBackend  # noqa: E402
from rdk_classifier.backends.onnx_session import (X64_QUANT_PRECISION, cpu_int8_info,  # noqa: E402
                                                  load_onnxruntime)
from rdk_classifier.classifier import Classifier  # noqa: E402
from rdk_classifier.normalization import IMAGENET_MEAN, IMAGENET_SCALE  # noqa: E402
from rdk_classifier.zoo import PACKAGED_MODEL_DIR  # noqa: E402

PHOTOS = sorted((ROOT / "test/data/photos").glob("*.png")) + \
    sorted((ROOT / "test/data/imagenet").glob("*.jpg"))


def session_backend(path: Path, widen: bool | None) -> CpuBackend:
    """The backend with a given session: None = the package's (widened where needed); False =
    as most code builds it (no setting); True = widened on any CPU."""
    backend = CpuBackend(path, IMAGENET_MEAN, IMAGENET_SCALE)
    if widen is not None:
        ort = load_onnxruntime()
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        if widen:
            options.add_session_config_entry(X64_QUANT_PRECISION, "1")
        backend.session = ort.InferenceSession(str(path), options,
                                               providers=["CPUExecutionProvider"])
    return backend


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def compare(nv12s: list[np.ndarray], ref: list[np.ndarray], backend: CpuBackend) -> dict:
    outs = [backend.infer(x) for x in nv12s]
    cos = [cosine(o, r) for o, r in zip(outs, ref)]
    same = [int(o.argmax() == r.argmax()) for o, r in zip(outs, ref)]
    return {"cosine_mean": float(np.mean(cos)), "cosine_min": float(np.min(cos)),
            "top1_same": int(sum(same)), "images": len(same),
            "differing": [p.name for p, s in zip(PHOTOS, same) if not s]}


def latency(backends: dict[str, CpuBackend], nv12: np.ndarray, rounds: int = 5,
            runs: int = 40) -> dict[str, float]:
    per = {k: [] for k in backends}
    for _ in range(rounds):  # interleaved, so drifting machine load hits both alike
        for name, b in backends.items():
            b.infer(nv12)
            t0 = time.perf_counter()
            for _ in range(runs):
                b.infer(nv12)
            per[name].append((time.perf_counter() - t0) / runs * 1e3)
    return {k: statistics.median(v) for k, v in per.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--int8", nargs="*", type=Path,
                    default=[PACKAGED_MODEL_DIR / "efficientnet_lite0_int8.onnx"])
    ap.add_argument("--fp32", type=Path, default=PACKAGED_MODEL_DIR / "efficientnet_lite0_fp32.onnx")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--no-timing", action="store_true")
    ap.add_argument("--save-reference", type=Path, help="write the NV12 and fp32 outputs here")
    ap.add_argument("--reference", type=Path, help="NV12 and fp32 outputs of --save-reference")
    args = ap.parse_args()

    cpu = cpu_int8_info()
    print(f"cpu: {cpu.line()}", flush=True)
    if args.reference:
        data = np.load(args.reference)
        nv12s, ref = list(data["nv12"]), list(data["fp32"])
    else:
        clf = Classifier.from_model(str(args.fp32), backend="cpu")
        nv12s = [clf.preprocessor.from_encoded(p.read_bytes()) for p in PHOTOS]
        ref = [clf.backend.infer(x) for x in nv12s]
    if args.save_reference:
        np.savez(args.save_reference, nv12=np.stack(nv12s), fp32=np.stack(ref))
    results: dict = {"cpu": cpu.to_dict(), "models": {}}
    for path in args.int8:
        sessions = {"package_session": session_backend(path, None),
                    "plain_session": session_backend(path, False),
                    "widened_session": session_backend(path, True)}
        row = {kind: compare(nv12s, ref, b) for kind, b in sessions.items()}
        if not args.no_timing:
            row["latency_ms"] = latency(sessions, nv12s[0])
        results["models"][path.name] = row
        widened_here = cpu.saturating_without_setting
        notes = {"package_session": f" ({X64_QUANT_PRECISION}={'1' if widened_here else 'unset'}"
                                    f" on this CPU)",
                 "plain_session": " (no setting)", "widened_session": f" ({X64_QUANT_PRECISION}=1)"}
        for kind in sessions:
            r = row[kind]
            print(f"{path.name} {kind}{notes[kind]}: cosine to fp32 mean {r['cosine_mean']:.4f} "
                  f"min {r['cosine_min']:.4f}; same top-1 {r['top1_same']}/{r['images']}"
                  + (f" (differ: {', '.join(r['differing'])})" if r["differing"] else ""),
                  flush=True)
        if "latency_ms" in row:
            lat = row["latency_ms"]
            print(f"{path.name} latency ms (median of 5 interleaved rounds of 40): "
                  + ", ".join(f"{k.split('_')[0]} {v:.2f}" for k, v in lat.items())
                  + f" (widened / plain {lat['widened_session'] / lat['plain_session']:.2f}x)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
