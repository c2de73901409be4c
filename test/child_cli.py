"""The package's CLI in a fresh child process, with that child's own peak memory: what the
hostile scale tests measure (one case, one process)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# VmHWM is this process's own peak RSS; ru_maxrss would carry the forking parent's (Linux keeps
# it across exec), so a big pytest parent would count
_CODE = ("import sys\n"
         "from rdk_classifier.cli import main\n"
         "rc = main(sys.argv[1:])\n"
         "print(open('/proc/self/status').read().split('VmHWM:')[1].split()[0], file=sys.stderr)\n"
         "sys.exit(rc)\n")


def run_cli_child(*argv: str, timeout: float = 600) -> tuple[int, str, int]:
    """``python -m rdk_classifier ARGV`` in a child: exit status, stderr, peak RSS (KiB)."""
    proc = subprocess.run([sys.executable, "-c", _CODE, *argv], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONPATH": str(ROOT)})
    lines = proc.stderr.strip().splitlines()
    return proc.returncode, "\n".join(lines[:-1]), int(lines[-1])
