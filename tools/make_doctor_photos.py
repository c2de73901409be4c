"""Make the two photos `doctor` ships as package data from the committed scikit-image PNGs.

    python tools/make_doctor_photos.py            # writes rdk_classifier/data/photos/*.jpg

JPEG (quality 90, OpenCV) at the photos' own size keeps the package small (the PNGs stay in
test/data/photos/, which is not installed). The outputs are committed; re-running with another
libjpeg may change bytes, not classes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "test" / "data" / "photos"
TARGET = ROOT / "rdk_classifier" / "data" / "photos"


def main() -> int:
    TARGET.mkdir(parents=True, exist_ok=True)
    for name in ("chelsea", "coffee"):
        image = cv2.imread(str(SOURCE / f"{name}.png"), cv2.IMREAD_COLOR)
        if image is None:
            print(f"cannot read {SOURCE / name}.png", file=sys.stderr)
            return 1
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
        if not ok:
            return 1
        out = TARGET / f"{name}.jpg"
        out.write_bytes(data.tobytes())
        print(f"{out} {len(data)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
