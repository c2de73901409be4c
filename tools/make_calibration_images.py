#!/usr/bin/env python3
"""Write the calibration photos of the shipped int8 model: scikit-image's sample photos, each
with a mirror image and random crops at random brightness (seeded, so the output is the same on
every run).

The 20 ImageNet images in test/data/ are deliberately NOT used: they measure the int8 model, so
they must not also calibrate it. Few source photos are stretched by cropping, which is what
calibration needs (activation ranges over varied content), not new labels.

    python tools/make_calibration_images.py OUT_DIR [--crops 4] [--seed 0]
    python -m rdk_classifier calib --images OUT_DIR --out calib/ --count 1000 --seed 0
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import cv2
import numpy as np

from rdk_classifier.ptq.calibration import photo_variants

#: colour photos shipped inside the scikit-image wheel (CC0 / public domain, see its docs)
SKIMAGE_PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png",
                  "hubble_deep_field.jpg", "ihc.png", "retina.jpg")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder for the PNG files")
    parser.add_argument("--crops", type=int, default=4, help="random crops per photo (default 4)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import skimage  # a build-time tool only, like torch for the export

    source = Path(os.path.dirname(skimage.__file__)) / "data"
    args.out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    count = 0
    for name in SKIMAGE_PHOTOS:
        image = cv2.imread(str(source / name), cv2.IMREAD_COLOR)
        if image is None:
            raise SystemExit(f"cannot read {source / name}")
        for i, v in enumerate(photo_variants(image, args.crops, rng)):
            cv2.imwrite(str(args.out / f"{Path(name).stem}_{i}.png"), np.ascontiguousarray(v))
            count += 1
    print(f"wrote {count} calibration photos from {len(SKIMAGE_PHOTOS)} scikit-image photos "
          f"(scikit-image {skimage.__version__}) to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
