"""A 1080p scene composed of real test photos at known places, and the boxes around them.

The photos are pasted unchanged (no resampling) onto a textured gray canvas, some at odd pixel
offsets (so NV12 crops have to be rounded to even coordinates), so a box around a photo holds
exactly that photo's pixels. Used by the region tests, the node and bag tests.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

DATA = Path(__file__).parent / "data"
SCENE_W, SCENE_H = 1920, 1080

#: (file under test/data, x, y) of every photo in the scene
PLACEMENTS = (
    ("photos/chelsea.png", 101, 57),
    ("photos/coffee.png", 700, 80),
    ("imagenet/imagenet_02_438.jpg", 1350, 40),
    ("imagenet/imagenet_13_471.jpg", 151, 520),
    ("imagenet/imagenet_15_99.jpg", 800, 561),
    ("imagenet/imagenet_19_305.jpg", 1380, 555),
)


def photo(name: str) -> np.ndarray:
    image = cv2.imread(str(DATA / name), cv2.IMREAD_COLOR)
    assert image is not None, name
    return image


def scene() -> tuple[np.ndarray, list[tuple[str, tuple[int, int, int, int]]]]:
    """The BGR canvas and, per photo, (file, (x, y, width, height)) of where it is."""
    rng = np.random.default_rng(7)
    noise = rng.integers(90, 160, (SCENE_H // 8, SCENE_W // 8, 3), dtype=np.uint8)
    canvas = cv2.resize(noise, (SCENE_W, SCENE_H), interpolation=cv2.INTER_LINEAR)
    places = []
    for name, x, y in PLACEMENTS:
        image = photo(name)
        h, w = image.shape[:2]
        assert x + w <= SCENE_W and y + h <= SCENE_H, name
        canvas[y:y + h, x:x + w] = image
        places.append((name, (x, y, w, h)))
    return np.ascontiguousarray(canvas), places


def jpeg(bgr: np.ndarray, quality: int = 95) -> bytes:
    ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return data.tobytes()
