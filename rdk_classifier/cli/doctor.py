"""``python -m rdk_classifier doctor``: the self-check to run first on a board (and attach to bugs)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .. import doctor


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "doctor", help="check this machine: versions, CPU, BPU runtimes, models, photos, timing",
        description="Report what this machine has (OS image, Python, numpy/OpenCV/ONNX Runtime, "
                    "CPU and int8 ISA flags, BPU runtimes, ROS 2, models on the board) and check "
                    "the CPU path and, where a BPU runtime imports, the BPU path with every "
                    "runtime: every model property the runtime exposes, the shipped photos "
                    "through the one path (espresso, a cat), the runtimes compared on the same "
                    "NV12, and 100 timed inferences. Exit status 0 when every check passes.")
    p.add_argument("--model", metavar="NAME|FILE",
                   help="model to check (a BPU model for the BPU path, a CPU model for the CPU "
                        "path; default: a model already on the board, and the default CPU model)")
    p.add_argument("--soc", default="auto", metavar="SOC",
                   help="the board's chip to check for: x5, s100, s100p, s600, or auto "
                        "(/sys/class/boardinfo/soc_name, $RDK_CLASSIFIER_SOC; default: auto)")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.add_argument("--out", metavar="FILE", help="write the JSON report to FILE (never over an "
                                                 "existing file unless --force; checked before "
                                                 "the checks run); stdout then gets the summary")
    p.add_argument("--force", action="store_true", help="with --out: replace an existing file")
    p.add_argument("--runs", type=int, default=doctor.TIMED_RUNS, metavar="N",
                   help=f"timed inferences per runtime (default: {doctor.TIMED_RUNS})")
    p.add_argument("--bpu-runtime-path", metavar="DIR",
                   help="import the BPU runtimes from DIR first: e.g. the vendor's bindings built "
                        "against the libdnn emulator (bench/bench_bpu_emulator.py --work W puts "
                        "hobot_dnn in W/site), to run the BPU checks off-board with --model set "
                        "to an emulator container")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.runs < 1:
        print("error: --runs must be >= 1", file=sys.stderr)
        return 2
    if args.bpu_runtime_path:
        where = Path(args.bpu_runtime_path).expanduser()
        if not where.is_dir():
            print(f"error: --bpu-runtime-path {where} is not a folder", file=sys.stderr)
            return 2
        sys.path.insert(0, str(where.resolve()))
    if args.out:  # refused now, not after a minute of checks
        doctor.check_report_path(args.out, force=args.force)
    report = doctor.run_doctor(args.model, runs=args.runs, soc=args.soc)
    data = json.dumps(report.to_dict(), indent=1, sort_keys=False)
    if args.out:
        path = doctor.write_report(args.out, data + "\n", force=args.force)
        print(f"report written to {path}", file=sys.stderr)
        failed = [c for c in report.checks if not c.passed]
        print(json.dumps({"passed": report.passed, "failed": [c.name for c in failed],
                          "report": str(path)}) if args.json else
              doctor.format_text(report).splitlines()[0]
              + "".join(f"\n  [FAIL] {c.name}: {c.detail}" for c in failed))
        return 0 if report.passed else 1
    print(data if args.json else doctor.format_text(report))
    return 0 if report.passed else 1
