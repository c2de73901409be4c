"""Camera frames as real ROS 2 Humble messages (rosbags classes), made from the committed photos.

NV12 is built here independently of the package: OpenCV's BGR -> I420, then U and V interleaved
with numpy (full Y plane, then one interleaved U,V plane: the NV12 layout), optionally with
padded rows (step > width).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

DATA = Path(__file__).parent / "data"
PHOTOS = DATA / "photos"
IMAGENET = DATA / "imagenet"
#: ImageNet-1k indices of the domestic cats (tabby, tiger cat, Persian, Siamese, Egyptian cat)
CAT_CLASSES = range(281, 286)
ESPRESSO = 967


def load_bgr(path: Path, even: bool = True) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert bgr is not None, path
    if even:  # NV12 needs even sizes
        bgr = bgr[: bgr.shape[0] // 2 * 2, : bgr.shape[1] // 2 * 2]
    return np.ascontiguousarray(bgr)


def imagenet_labels() -> dict[str, int]:
    lines = (IMAGENET / "val.txt").read_text().splitlines()
    rows = (line.split() for line in lines if line.strip())
    return {name: int(label) for name, label in rows}


def nv12_bytes(bgr: np.ndarray, step: int | None = None) -> np.ndarray:
    h, w = bgr.shape[:2]
    i420 = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420).reshape(-1)
    y = i420[: h * w].reshape(h, w)
    u = i420[h * w: h * w * 5 // 4].reshape(h // 2, w // 2)
    v = i420[h * w * 5 // 4:].reshape(h // 2, w // 2)
    step = step or w
    out = np.zeros(step * h * 3 // 2, np.uint8)
    planes = out.reshape(h * 3 // 2, step)
    planes[:h, :w] = y
    planes[h:, 0:w:2] = u
    planes[h:, 1:w:2] = v
    return out


def header(typestore, stamp_ns: int, frame_id: str):
    t = typestore.types
    sec, nanosec = divmod(stamp_ns, 1_000_000_000)
    return t["std_msgs/msg/Header"](stamp=t["builtin_interfaces/msg/Time"](sec=sec,
                                                                           nanosec=nanosec),
                                    frame_id=frame_id)


def image_msg(typestore, bgr: np.ndarray, encoding: str, stamp_ns: int = 0,
              frame_id: str = "camera", pad: int = 0):
    """A sensor_msgs/Image of ``bgr`` in ``encoding`` (bgr8, rgb8, mono8, nv12), rows padded by
    ``pad`` bytes."""
    h, w = bgr.shape[:2]
    if encoding == "nv12":
        step = w + pad
        data = nv12_bytes(bgr, step)
    else:
        pixels = {"bgr8": bgr, "rgb8": bgr[:, :, ::-1],
                  "mono8": cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)[:, :, None]}[encoding]
        row = w * pixels.shape[2]
        step = row + pad
        buf = np.zeros((h, step), np.uint8)
        buf[:, :row] = pixels.reshape(h, row)
        data = buf.reshape(-1)
    return typestore.types["sensor_msgs/msg/Image"](
        header=header(typestore, stamp_ns, frame_id), height=h, width=w, encoding=encoding,
        is_bigendian=0, step=step, data=np.ascontiguousarray(data))


def compressed_msg(typestore, bgr_or_bytes, stamp_ns: int = 0, frame_id: str = "camera",
                   fmt: str = "jpeg"):
    """A sensor_msgs/CompressedImage: a JPEG of a BGR image, or the given bytes as they are."""
    if isinstance(bgr_or_bytes, (bytes, bytearray)):
        data = np.frombuffer(bytes(bgr_or_bytes), np.uint8)
    else:
        ok, enc = cv2.imencode(".jpg", bgr_or_bytes, [cv2.IMWRITE_JPEG_QUALITY, 95])
        assert ok
        data = enc.reshape(-1)
    return typestore.types["sensor_msgs/msg/CompressedImage"](
        header=header(typestore, stamp_ns, frame_id), format=fmt, data=data.copy())


def corrupt_jpeg(bgr: np.ndarray) -> bytes:
    """A JPEG whose header is intact but whose data is garbage: OpenCV cannot decode it."""
    ok, enc = cv2.imencode(".jpg", bgr)
    assert ok
    raw = bytearray(enc.tobytes()[:200])  # SOI, tables, no scan data
    return bytes(raw)
