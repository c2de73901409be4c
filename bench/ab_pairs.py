"""Two commands in turn, A B A B ..., each as a whole process: wall seconds, CPU seconds and peak
RSS of every run (from the kernel's accounting of the reaped child, ``os.wait4``), and the ratio
A/B pair by pair, so a comparison holds while the machine's speed drifts. Prints one JSON object.

    python bench/ab_pairs.py -n 5 --a 'python -m rdk_classifier bench ...' --b 'python bare.py'

The commands are split as a shell splits words and run without a shell; their output goes to
--log (appended) or is dropped. One untimed warm-up run of each comes first.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import time


def run_once(argv: list[str], log) -> dict:
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime,
            "peak_rss_mb": usage.ru_maxrss / 1024, "exit": proc.returncode}


def summary(values: list[float]) -> dict:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--a", required=True, help="command A (one string)")
    p.add_argument("--b", required=True, help="command B (one string)")
    p.add_argument("-n", type=int, default=5, help="counted pairs (default 5)")
    p.add_argument("--log", help="append both commands' output to this file")
    args = p.parse_args(argv)
    a, b = shlex.split(args.a), shlex.split(args.b)
    log = open(args.log, "ab") if args.log else subprocess.DEVNULL
    try:
        run_once(a, log), run_once(b, log)  # warm-up: caches, page cache, lazy imports
        pairs = [(run_once(a, log), run_once(b, log)) for _ in range(args.n)]
    finally:
        if args.log:
            log.close()
    out = {"a": args.a, "b": args.b, "pairs": args.n, "runs": pairs}
    for key in ("wall_s", "cpu_s", "peak_rss_mb"):
        out[key] = {"a": summary([x[key] for x, _ in pairs]),
                    "b": summary([y[key] for _, y in pairs]),
                    "a_over_b": summary([x[key] / y[key] for x, y in pairs if y[key] > 0])}
    json.dump(out, sys.stdout, indent=1)
    print()
    return 0 if all(x["exit"] == 0 and y["exit"] == 0 for x, y in pairs) else 1


if __name__ == "__main__":
    sys.exit(main())
