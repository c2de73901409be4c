"""One process of the session-options comparison: N inferences of a CPU model on ready NV12
through the CPU backend, with the ONNX Runtime thread count and spin-waiting given.

Run under bench/ab_pairs.py, A against B, so the ratio of wall and CPU seconds is taken pair by pair on
the loaded machine (bench/README.md, "Session options"), e.g.::

    python bench/ab_pairs.py -n 5 --a 'python bench/bench_session_options.py --threads 2 --spinning off' \\
        --b 'python bench/bench_session_options.py --threads 2 --spinning on'

``--sessions 2`` runs two sessions in two threads at once (what the node's scheduler and the
``--workers`` of classify/evaluate do), each with ``--threads`` intra-op threads.
"""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rdk_classifier.backends.cpu import CpuBackend  # noqa: E402

MODELS = Path(__file__).resolve().parents[1] / "rdk_classifier" / "models"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="fp32", choices=("fp32", "int8"))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--spinning", choices=("on", "off"), default="off")
    p.add_argument("--sessions", type=int, default=1)
    p.add_argument("--frames", type=int, default=60, help="inferences per session")
    a = p.parse_args()
    path = MODELS / f"efficientnet_lite0_{a.model}.onnx"
    backends = [CpuBackend(path, (0, 0, 0), (1, 1, 1), threads=a.threads,
                           spinning=a.spinning == "on") for _ in range(a.sessions)]
    nv12 = np.random.default_rng(0).integers(0, 256, backends[0].input_spec.nv12_size, np.uint8)

    def loop(b: CpuBackend) -> None:
        for _ in range(a.frames):
            b.infer(nv12)

    threads = [threading.Thread(target=loop, args=(b,)) for b in backends]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
