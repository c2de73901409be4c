"""Peak memory and time of the hostile images of issue 11, through the CLI and the node's path.

Each case runs in a fresh process (so its peak RSS is its own), measured with
``resource.getrusage(RUSAGE_CHILDREN)`` and wall time, next to a normal photo in the same run:

- ``cli``: ``python -m rdk_classifier classify <hostile> <good>`` (the good image must still be
  classified after the hostile one);
- ``node``: what the node's subscription callback does with a ``sensor_msgs/CompressedImage``
  (``ros.messages.prepare_message`` on a rosbags message, then ``classify_prepared``).

    python bench/bench_hostile_images.py            # makes the images in a temp dir (~25 s)
    python bench/bench_hostile_images.py --keep DIR # ... or reuses/keeps them in DIR
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "test"))

GOOD = ROOT / "test" / "data" / "imagenet" / "imagenet_00_243.jpg"

NODE_PATH = """
import sys, numpy as np
from rdk_classifier.classifier import Classifier
from rdk_classifier.errors import FrameError
from rdk_classifier.ros import messages as msgs, rosbags_types as rt
ts = rt.humble_typestore()
clf = Classifier.from_model(backend="cpu")
for path in sys.argv[1:]:
    data = np.frombuffer(open(path, "rb").read(), np.uint8).copy()
    T = ts.types
    msg = T["sensor_msgs/msg/CompressedImage"](
        header=T["std_msgs/msg/Header"](stamp=T["builtin_interfaces/msg/Time"](sec=0, nanosec=0),
                                        frame_id="cam"), format="jpeg", data=data)
    try:
        result = msgs.classify_prepared(clf, msgs.prepare_message(clf, msg))
        print("classified", path, result.top[0].label)
    except FrameError as exc:
        print("refused", path, exc)
"""


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", type=Path, help="directory for the generated images")
    args = ap.parse_args()
    import hostile_images as hi

    tmp = args.keep or Path(tempfile.mkdtemp(prefix="hostile_"))
    tmp.mkdir(parents=True, exist_ok=True)
    files = {
        "png 30000x30000 (all black)": (tmp / "bomb30000.png", lambda: hi.png_bomb(30000, 30000)),
        "jpeg forged 65500x65500": (tmp / "forged65500.jpg", hi.forged_jpeg),
        "png header-only 40000x40000": (tmp / "header40000.png", hi.png_header_only),
    }
    for _name, (path, make) in files.items():
        if not path.exists():
            path.write_bytes(make())
    py = sys.executable
    print(f"machine: {cpu_model()}; Python {platform.python_version()}")
    print(f"{'case':34} {'path':5} {'bytes':>9} {'peak RSS MB':>12} {'wall s':>7}  outcome")
    cases = [("baseline photo", GOOD)] + [(n, p) for n, (p, _) in files.items()]
    for name, path in cases:
        for where, cmd in (("cli", [py, "-m", "rdk_classifier", "classify", str(path), str(GOOD)]),
                           ("node", [py, "-c", NODE_PATH, str(path), str(GOOD)])):
            # a fresh getrusage baseline per case: run in a wrapper that reports its own child
            wrapper = [py, "-c",
                       "import resource,subprocess,sys,time;t=time.perf_counter();"
                       "p=subprocess.run(sys.argv[1:],capture_output=True,text=True);"
                       "w=time.perf_counter()-t;"
                       "r=resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss/1024;"
                       "out=(p.stdout+p.stderr).strip().splitlines();"
                       "print(f'{r:.0f} {w:.2f} {p.returncode}');print(out[0] if out else '')",
                       *cmd]
            proc = subprocess.run(wrapper, capture_output=True, text=True, cwd=ROOT, timeout=600)
            first, _, outcome = proc.stdout.partition("\n")
            rss, wall, code = first.split()
            print(f"{name:34} {where:5} {path.stat().st_size:>9} {float(rss):>12.0f} "
                  f"{float(wall):>7.2f}  exit {code}: {outcome.strip()[:90]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
