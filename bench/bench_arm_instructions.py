"""How much work a frame's resize is on aarch64: instructions counted under qemu-aarch64.

Wall time under emulation says nothing about a Cortex-A55, but the number of instructions the
aarch64 OpenCV wheel executes for one frame does not depend on the emulator. This script counts
them for the package's own preprocessing (``Preprocessor.from_raw``, 1920x1080 -> 224x224
center_crop, the default model's mode) with INTER_LINEAR (the package's choice) and
INTER_LINEAR_EXACT (bit-exact on every architecture), for bgr8 and nv12 camera frames, and turns
them into an A55 time estimate with a stated clock and IPC range.

How: the interpreter of ``tools/aarch64_check.sh`` (Debian arm64 python3.11, PyPI aarch64 wheels)
runs under ``setarch -R`` (no address randomisation, so the libraries load at the same guest
addresses every run) with qemu's ``in_asm,exec,nochain`` log restricted (``-dfilter``) to the code
of OpenCV and numpy. Every executed translation block is logged with its start address and every
translated block with its instructions, so the sum over executed blocks is the exact count of
guest instructions executed in those libraries. One run with 0 frames and one with N frames
cancel everything but the frames (imports, set-up); the Python glue between the calls is not
counted (a few thousand instructions, far below a resize).

    python3 bench/bench_arm_instructions.py [--frames 3] [--out bench/results/arm_instructions.json]

Needs qemu-aarch64 and setarch (util-linux) on the host; writes ~100-300 MB of log per run into a
temporary folder that is removed afterwards. ~3 min on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: RDK X5: 8x Cortex-A55 at 1.5 GHz. The A55 is in-order and dual-issue with 64-bit NEON
#: datapaths (a 128-bit NEON instruction takes both), so streaming SIMD code runs at roughly
#: 0.5-1 instruction per cycle; the estimate is given for both ends.
A55_HZ = 1.5e9
A55_IPC = (0.5, 1.0)

#: the guest program: builds a deterministic 1080p frame, then prepares it N times
GUEST = r"""
import sys
import cv2, numpy as np
from rdk_classifier.frames import Preprocessor
cv2.setNumThreads(1)                      # one core, as the node's worker
frames, encoding, interp = int(sys.argv[1]), sys.argv[2], sys.argv[3]
if frames < 0:                            # address probe: where the counted libraries are
    for line in open("/proc/self/maps"):
        if "r-xp" in line and ("/cv2/" in line or "_multiarray_umath" in line):
            print(line.split()[0])
    sys.exit(0)
rng = np.random.default_rng(0)
bgr = cv2.resize(rng.integers(0, 256, (135, 240, 3), dtype=np.uint8), (1920, 1080),
                 interpolation=cv2.INTER_CUBIC)
if encoding == "nv12":
    i420 = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420)
    y, u, v = i420[:1080], i420[1080:1350].reshape(540, 960), i420[1350:].reshape(540, 960)
    data = np.concatenate([y.ravel(), np.stack([u, v], axis=-1).ravel()]).tobytes()
else:
    data = bgr.tobytes()
pre = Preprocessor(224, 224, "center_crop",
                   interpolation={"linear": cv2.INTER_LINEAR, "linear_exact": cv2.INTER_LINEAR_EXACT}[interp])
out = None
for _ in range(frames):
    out = pre.from_raw(data, 1920, 1080, encoding)
print("ok" if out is None else int(out.sum()))
"""

_TRACE = re.compile(r"^Trace \d+: 0x[0-9a-f]+ \[[0-9a-f]+/([0-9a-f]+)/")


def count_instructions(log: Path) -> int:
    """Sum, over the executed blocks of a qemu ``in_asm,exec,nochain`` log, of their lengths."""
    lengths: dict[int, int] = {}
    start: int | None = None
    n = 0
    total = 0
    with log.open(errors="replace") as f:
        for line in f:
            if line.startswith("0x") and ":  " in line:      # an instruction of a block
                if start is None:
                    start, n = int(line.split(":", 1)[0], 16), 0
                n += 1
            elif line.startswith("Trace"):
                if start is not None:
                    lengths[start], start = n, None
                m = _TRACE.match(line)
                if m:
                    total += lengths.get(int(m.group(1), 16), 0)
            elif start is not None and (not line.strip() or line.startswith("IN:")):
                lengths[start], start = n, None
    return total


def run(wrapper: Path, *args: str, log: Path | None = None, dfilter: str = "") -> str:
    """The guest program under the check's python wrapper, at fixed addresses (``setarch -R``);
    with ``log``, qemu writes its block log there (qemu-user's own QEMU_LOG* variables)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # the wrapper puts the wheels first
    if log is not None:
        env.update(QEMU_LOG="in_asm,exec,nochain", QEMU_DFILTER=dfilter,
                   QEMU_LOG_FILENAME=str(log))
    return subprocess.run(["setarch", "x86_64", "-R", str(wrapper), "-c", GUEST, *args], env=env,
                          capture_output=True, text=True, check=True, timeout=1800).stdout


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=3, help="frames per counted run (default 3)")
    ap.add_argument("--out", type=Path, help="write the JSON report here (never replaced)")
    args = ap.parse_args(argv)
    if args.out and args.out.exists():
        print(f"error: {args.out} exists; choose another --out", file=sys.stderr)
        return 2
    wrapper = Path(subprocess.run([str(ROOT / "tools" / "aarch64_check.sh"), "--setup-only"],
                                  capture_output=True, text=True, check=True).stdout.split()[-1])
    ranges = run(wrapper, "-1", "bgr8", "linear").split()
    dfilter = ",".join("0x{}..0x{}".format(*r.split("-")) for r in ranges)  # 55081...-550a0...
    report = {"frame": "1920x1080 -> 224x224 center_crop (Preprocessor.from_raw)",
              "counted": "OpenCV (cv2, KleidiCV and carotene inside it) and numpy's native code",
              "a55_clock_hz": A55_HZ, "a55_ipc_range": list(A55_IPC), "cases": {}}
    with tempfile.TemporaryDirectory() as tmp:
        def count(frames: int, encoding: str, interp: str) -> int:
            log = Path(tmp) / "qemu.log"
            run(wrapper, str(frames), encoding, interp, log=log, dfilter=dfilter)
            n = count_instructions(log)
            log.unlink()
            return n

        for encoding in ("bgr8", "nv12"):
            base = count(0, encoding, "linear")
            row = {}
            for interp in ("linear", "linear_exact"):
                per_frame = (count(args.frames, encoding, interp) - base) / args.frames
                row[interp] = {"instructions": round(per_frame),
                               "a55_ms": [round(per_frame / (A55_HZ * ipc) * 1e3, 2)
                                          for ipc in reversed(A55_IPC)]}
            row["exact_over_linear"] = round(row["linear_exact"]["instructions"]
                                             / row["linear"]["instructions"], 2)
            report["cases"][encoding] = row
            print(f"{encoding}: INTER_LINEAR {row['linear']['instructions'] / 1e6:.2f} M instr "
                  f"(A55 ~{row['linear']['a55_ms'][0]}-{row['linear']['a55_ms'][1]} ms), "
                  f"INTER_LINEAR_EXACT {row['linear_exact']['instructions'] / 1e6:.2f} M "
                  f"(~{row['linear_exact']['a55_ms'][0]}-{row['linear_exact']['a55_ms'][1]} ms), "
                  f"ratio {row['exact_over_linear']}")
    if args.out:
        with args.out.open("x") as f:
            json.dump(report, f, indent=1)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
