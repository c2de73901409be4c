"""Make N mixed-size JPEGs (and a val.txt) from the committed photos, for the workers benchmarks.

Each image is one of the committed pictures (test/data/imagenet/*.jpg, whose names carry their
ImageNet class, and the two scikit-image photos) scaled to one of several camera and web sizes
(320x240 to 1920x1080, some flipped), at JPEG quality 80-95: decoding then costs what it costs on
a real folder of mixed photos. Deterministic (seeded); written at run time into the folder given
(nothing generated is committed). ``val.txt`` lists '<file> <class>' for ``evaluate``.

    python bench/make_jpegs.py DIR [--count 1000]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

DATA = Path(__file__).resolve().parents[1] / "test" / "data"
SIZES = ((320, 240), (500, 375), (640, 480), (800, 600), (1024, 768), (1280, 720), (1920, 1080))
PHOTO_LABELS = {"chelsea.png": 285, "coffee.png": 967}  # Egyptian cat, espresso


def sources() -> list[tuple[np.ndarray, int]]:
    out = []
    for p in sorted((DATA / "imagenet").glob("imagenet_*_*.jpg")):
        out.append((cv2.imread(str(p)), int(p.stem.rsplit("_", 1)[1])))
    for name, label in PHOTO_LABELS.items():
        out.append((cv2.imread(str(DATA / "photos" / name)), label))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder")
    ap.add_argument("--count", type=int, default=1000)
    a = ap.parse_args()
    folder = Path(a.folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    pics = sources()
    lines = []
    for i in range(a.count):
        img, label = pics[i % len(pics)]
        w, h = SIZES[int(rng.integers(len(SIZES)))]
        big = cv2.resize(img, (w, h), interpolation=cv2.INTER_CUBIC)
        if rng.random() < 0.5:
            big = big[:, ::-1]
        name = f"img_{i:05d}.jpg"
        ok, data = cv2.imencode(".jpg", np.ascontiguousarray(big),
                                [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(80, 96))])
        assert ok
        (folder / name).write_bytes(data.tobytes())
        lines.append(f"{name} {label}")
    (folder / "val.txt").write_text("\n".join(lines) + "\n")
    print(f"{a.count} JPEGs and val.txt in {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
