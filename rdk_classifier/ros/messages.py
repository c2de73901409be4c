"""ROS messages in and out of the one path, written against message fields only.

Frames (``sensor_msgs/Image``: encoding, width, height, step, data; ``sensor_msgs/CompressedImage``:
format, data) go into the ``Classifier`` in two steps over the same core functions:
``prepare_message`` (frame -> model-size NV12, timed) and ``classify_prepared`` (inference, top-k),
so the node can convert in the subscription callback and infer on its worker thread;
``classify_message`` is the two in a row. The shared-memory camera images of TROS
(``hbm_img_msgs/HbmMsg1080P`` and siblings: ``index``, ``time_stamp``, ``data_size``, a fixed
``data`` array) go the same way: ``hbm_frame`` makes them an Image-like view first. The same
functions take the frames ``rdk_classifier.ros.cdr`` parses from serialized bytes (raw
subscriptions; ``parse_serialized``). Results come out as ``vision_msgs``. Nothing here
imports rclpy or rosbags: the message classes to build are passed in as a ``MessageTypes``, built
from the installed ROS packages (``types_from_ros_packages``) or from a rosbags typestore
(``rdk_classifier.ros.rosbags_types.message_types``). Image data is used without copying whether
it is a numpy array (rosbags), an ``array.array`` or ``bytes`` (rclpy).
"""

from __future__ import annotations

import array
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Optional, Protocol, Sequence

import cv2
import numpy as np

from ..classifier import Classifier, Prediction, PreparedFrame, Result, classify_prepared
from ..errors import FrameSizeError, UnsupportedEncodingError
from ..frames import BufferLike, Frame, Preprocessor, decode_image, nv12_to_bgr
from . import cdr

CLASS_ID_FORMATS = ("index", "name")
#: ``VisionInfo.database_location`` when the packaged ImageNet-1k names are used
IMAGENET_DATABASE = "imagenet1k"
#: CompressedImage formats that are video or depth: not decodable as one picture
_UNDECODABLE_FORMATS = ("h264", "h265", "hevc", "compresseddepth")


@dataclass(frozen=True)
class MessageTypes:
    """The message classes outputs are built with, and how a ``uint8[]`` field wants its data.

    Every message is constructed with all its fields as keyword arguments, which both rclpy
    classes (fields have defaults) and rosbags classes (fields are required) accept.
    """

    Time: type
    Header: type
    Classification: type
    ObjectHypothesis: type
    LabelInfo: type
    VisionClass: type
    VisionInfo: type
    Image: Optional[type] = None
    uint8_array: Callable[[np.ndarray], Any] = np.ascontiguousarray


def _to_byte_array(a: np.ndarray) -> array.array:
    """rclpy stores ``uint8[]`` as ``array.array('B')``; built from the buffer in one copy (a
    ``bytes`` or list value would be checked element by element)."""
    out = array.array("B")
    out.frombytes(np.ascontiguousarray(a, np.uint8).data)
    return out


def types_from_ros_packages() -> MessageTypes:
    """The message classes of the installed ROS 2 message packages (std_msgs, vision_msgs,
    sensor_msgs, builtin_interfaces)."""
    from builtin_interfaces.msg import Time
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header
    from vision_msgs.msg import (Classification, LabelInfo, ObjectHypothesis, VisionClass,
                                 VisionInfo)

    # rosidl-generated classes (they have SLOT_TYPES) store uint8[] as array.array; other
    # implementations of the same packages (rosbags classes) take numpy arrays
    rosidl = hasattr(Image, "SLOT_TYPES")
    return MessageTypes(Time=Time, Header=Header, Classification=Classification,
                        ObjectHypothesis=ObjectHypothesis, LabelInfo=LabelInfo,
                        VisionClass=VisionClass, VisionInfo=VisionInfo, Image=Image,
                        uint8_array=_to_byte_array if rosidl else np.ascontiguousarray)


# --- frames in ------------------------------------------------------------------------------------
def is_compressed(msg: Any) -> bool:
    """True for a ``CompressedImage`` (has ``format``, no ``encoding``)."""
    return hasattr(msg, "format") and not hasattr(msg, "encoding")


def frame_buffer(data: Any) -> BufferLike:
    """The bytes of a ``uint8[]`` field without a copy (numpy array, array.array, bytes,
    memoryview); a plain list of ints (unusual) is converted."""
    if isinstance(data, (np.ndarray, bytes, bytearray, memoryview)):
        return data
    if isinstance(data, array.array):
        return memoryview(data).cast("B") if data.itemsize == 1 else np.asarray(data, np.uint8)
    return np.asarray(data, dtype=np.uint8)


def is_hbm(msg: Any) -> bool:
    """True for an ``hbm_img_msgs/HbmMsg*`` image (rclpy, rosbags or ``cdr.HbmImage``)."""
    return hasattr(msg, "data_size") and hasattr(msg, "time_stamp")


def _hbm_encoding(value: Any) -> str:
    """The ``uint8[12] encoding`` of an HbmMsg (numpy array, array, bytes or already a str) up to
    its first NUL."""
    if isinstance(value, str):
        return value.split("\0", 1)[0]
    raw = bytes(np.asarray(value, np.uint8).reshape(-1)).split(b"\0", 1)[0]
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError:
        raise UnsupportedEncodingError(f"HbmMsg encoding {raw!r} is not ASCII") from None


def hbm_frame(msg: Any, frame_id: str = "") -> cdr.Image:
    """An ``hbm_img_msgs/HbmMsg*`` as an Image-like frame (no pixel copy): ``time_stamp`` becomes
    ``header.stamp``, ``frame_id`` (the message has none) ``header.frame_id``, and only the first
    ``data_size`` bytes of the fixed ``data`` array are the frame (``step`` as in Image)."""
    data = frame_buffer(msg.data)
    size = int(msg.data_size)
    if not 0 < size <= len(data):
        raise FrameSizeError(f"HbmMsg data_size {size} is not within 1..{len(data)} (the "
                             f"message's data array)")
    stamp = msg.time_stamp
    header = cdr.Header(cdr.Stamp(int(stamp.sec), int(stamp.nanosec)), frame_id)
    return cdr.Image(header, int(msg.height), int(msg.width), _hbm_encoding(msg.encoding), 0,
                     int(msg.step), np.frombuffer(data, np.uint8, size))


def parse_serialized(kind: str, buf: Any, frame_id: str = "") -> Any:
    """A frame from serialized CDR bytes (a ``raw=True`` subscription): ``kind`` is ``image``,
    ``compressed`` or an HbmMsg type name (``HbmMsg1080P``). HbmMsg frames come out through
    ``hbm_frame`` with ``frame_id``. Raises ``SerializedMessageError`` (a ``FrameError``)."""
    if kind == "image":
        return cdr.parse_image(buf)
    if kind == "compressed":
        return cdr.parse_compressed_image(buf)
    return hbm_frame(cdr.hbm_parser(kind)(buf), frame_id)


def check_compressed_format(fmt: str) -> None:
    """Reject formats that are not single pictures (video streams, compressed depth)."""
    low = (fmt or "").lower()
    for bad in _UNDECODABLE_FORMATS:
        if bad in low:
            raise UnsupportedEncodingError(
                f"CompressedImage format {fmt!r} is not a single picture; supported: jpeg, png "
                f"(anything OpenCV decodes). For h264/h265 streams decode to nv12 first "
                f"(e.g. with hobot_codec) and subscribe to the raw image topic")


def as_frame_message(msg: Any, frame_id: str = "") -> Any:
    """An HbmMsg as the Image-like frame ``hbm_frame`` makes of it (header frame_id:
    ``frame_id``); an Image or CompressedImage as it is."""
    return hbm_frame(msg, frame_id) if is_hbm(msg) else msg


def message_frame(msg: Any, preprocessor: Preprocessor, whole: bool = True) -> Frame:
    """A ``sensor_msgs/Image``, ``CompressedImage`` or HbmMsg as the one ``frames.Frame``, under
    ``preprocessor``'s pixel budget. ``whole``: the frame is classified as a whole, so a large
    JPEG may be decoded at a reduced size; otherwise (detector boxes in its pixels) at full size.
    Raises ``rdk_classifier.errors.FrameError`` subclasses for frames that cannot be used."""
    msg = as_frame_message(msg)
    if is_compressed(msg):
        check_compressed_format(msg.format)
        data = frame_buffer(msg.data)
        if whole:
            return preprocessor.decode_frame(data)
        return Frame.from_encoded(data, max_pixels=preprocessor.max_pixels)
    return Frame.from_raw(frame_buffer(msg.data), int(msg.width), int(msg.height),
                          str(msg.encoding), int(msg.step) or None, preprocessor.max_pixels)


def prepare_message(clf: Classifier, msg: Any, source: Optional[str] = None,
                    keep_message: bool = False, frame_id: str = "") -> PreparedFrame:
    """The first half of ``classify_message``: a ``sensor_msgs/Image``, ``CompressedImage`` or
    ``hbm_img_msgs/HbmMsg*`` (header frame_id: ``frame_id``) to model-size NV12 with
    ``clf.preprocessor`` (timed). The pixel data is not kept unless ``keep_message``.

    Raises ``rdk_classifier.errors.FrameError`` subclasses for frames that cannot be used.
    """
    t0 = time.perf_counter()
    msg = as_frame_message(msg, frame_id)
    nv12 = clf.preprocessor.convert(message_frame(msg, clf.preprocessor))
    preprocess_ms = (time.perf_counter() - t0) * 1e3
    return PreparedFrame(nv12, msg.header, preprocess_ms, clf, source,
                         msg if keep_message else None)


def classify_message(clf: Classifier, msg: Any, top: Optional[int] = None,
                     source: Optional[str] = None, frame_id: str = "") -> Result:
    """Classify a ``sensor_msgs/Image``, ``sensor_msgs/CompressedImage`` or HbmMsg through the
    one path (``prepare_message`` then ``classify_prepared``).

    Raises ``rdk_classifier.errors.FrameError`` subclasses for frames that cannot be used.
    """
    return classify_prepared(clf, prepare_message(clf, msg, source=source, frame_id=frame_id),
                             top=top)


# --- results out ----------------------------------------------------------------------------------
def stamp_to_ns(stamp: Any) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


class HeaderTypes(Protocol):
    """The two classes a header is made of: ``MessageTypes`` and ``detections.DetectionTypes``
    both have them."""

    @property
    def Time(self) -> type: ...

    @property
    def Header(self) -> type: ...


def time_message(types: HeaderTypes, ns: int) -> Any:
    sec, nanosec = divmod(int(ns), 1_000_000_000)
    return types.Time(sec=sec, nanosec=nanosec)


def copy_header(types: HeaderTypes, header: Any) -> Any:
    """A new Header with the stamp and frame_id of ``header`` (never shared with the input)."""
    return types.Header(stamp=types.Time(sec=int(header.stamp.sec),
                                         nanosec=int(header.stamp.nanosec)),
                        frame_id=str(header.frame_id))


def make_header(types: HeaderTypes, stamp_ns: int, frame_id: str = "") -> Any:
    return types.Header(stamp=time_message(types, stamp_ns), frame_id=frame_id)


def hypotheses(types: MessageTypes, predictions: Iterable[Prediction],
               class_id_format: str = "index", score_threshold: float = 0.0) -> list:
    """``ObjectHypothesis`` list, highest score first, those below ``score_threshold`` left out.
    ``class_id`` is the class index as a decimal string, or the class name (``"name"``)."""
    if class_id_format not in CLASS_ID_FORMATS:
        raise ValueError(f"class_id_format must be one of {', '.join(CLASS_ID_FORMATS)}, "
                         f"got {class_id_format!r}")
    by_name = class_id_format == "name"
    return [types.ObjectHypothesis(class_id=p.label if by_name else str(p.class_id),
                                   score=float(p.score))
            for p in predictions if p.score >= score_threshold]


def classification_message(types: MessageTypes, header: Any, predictions: Iterable[Prediction],
                           class_id_format: str = "index", score_threshold: float = 0.0) -> Any:
    """``vision_msgs/Classification`` with the input frame's header (stamp and frame_id)."""
    return types.Classification(header=copy_header(types, header),
                                results=hypotheses(types, predictions, class_id_format,
                                                   score_threshold))


def label_info_message(types: MessageTypes, labels: Sequence[str], threshold: float,
                       header: Any) -> Any:
    """``vision_msgs/LabelInfo``: class index -> name for every class, and the score threshold."""
    if len(labels) > 65535:
        raise ValueError(f"{len(labels)} classes do not fit VisionClass.class_id (uint16, "
                         f"65535 is reserved for UNLABELED)")
    return types.LabelInfo(header=header,
                           class_map=[types.VisionClass(class_id=i, class_name=name)
                                      for i, name in enumerate(labels)],
                           threshold=float(threshold))


def vision_info_message(types: MessageTypes, method: str, database_location: str,
                        database_version: int, header: Any) -> Any:
    """``vision_msgs/VisionInfo``: which model (method) and which class list (database)."""
    return types.VisionInfo(header=header, method=method, database_location=database_location,
                            database_version=int(database_version))


def database_location(labels_path: Optional[str]) -> str:
    """Where the class names come from: the label file, or ``imagenet1k`` for the packaged list."""
    return str(labels_path) if labels_path else IMAGENET_DATABASE


# --- debug overlay --------------------------------------------------------------------------------
def _display_size(width: int, height: int, max_width: int) -> tuple[int, int]:
    scale = min(1.0, max_width / width) if max_width > 0 else 1.0
    w = max(2, int(round(width * scale)) // 2 * 2)
    h = max(2, int(round(height * scale)) // 2 * 2)
    return w, h


def frame_to_bgr(msg: Any, max_width: int = 640) -> np.ndarray:
    """A display copy of the frame, at most ``max_width`` wide, made by the core's own frame
    conversion (the same decoding and colour handling the classifier uses)."""
    if is_compressed(msg):
        check_compressed_format(msg.format)
        image = decode_image(frame_buffer(msg.data))
        w, h = _display_size(image.shape[1], image.shape[0], max_width)
        return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
    w, h = _display_size(int(msg.width), int(msg.height), max_width)
    nv12 = Preprocessor(h, w, "direct").from_raw(frame_buffer(msg.data), int(msg.width),
                                                 int(msg.height), str(msg.encoding),
                                                 int(msg.step) or None)
    return nv12_to_bgr(nv12, h, w)


def draw_predictions(image: np.ndarray, predictions: Sequence[Prediction]) -> np.ndarray:
    """Write the top-k (score and name) in the top-left corner of a BGR image, in place."""
    scale = max(0.4, image.shape[1] / 1000)
    thickness = max(1, int(round(scale * 1.5)))
    line = int(26 * scale) + 4
    for i, p in enumerate(predictions):
        text = f"{p.score * 100:5.1f}%  {p.label} ({p.class_id})"
        org = (8, 8 + line * (i + 1) - 6)
        cv2.putText(image, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thickness + 2,
                    cv2.LINE_AA)
        cv2.putText(image, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255),
                    thickness, cv2.LINE_AA)
    return image


def image_message(types: MessageTypes, header: Any, bgr: np.ndarray) -> Any:
    """``sensor_msgs/Image`` (bgr8) of a BGR array, with a copy of ``header``."""
    if types.Image is None:
        raise ValueError("MessageTypes.Image is not set")
    h, w = bgr.shape[:2]
    return types.Image(header=copy_header(types, header), height=h, width=w, encoding="bgr8",
                       is_bigendian=0, step=w * 3, data=types.uint8_array(bgr.reshape(-1)))


def overlay_message(types: MessageTypes, msg: Any, predictions: Sequence[Prediction],
                    max_width: int = 640) -> Any:
    """The debug image: the frame with its top-k drawn on it, header of the frame."""
    return image_message(types, msg.header,
                         draw_predictions(frame_to_bgr(msg, max_width), predictions))


__all__ = [
    "CLASS_ID_FORMATS", "IMAGENET_DATABASE", "MessageTypes", "types_from_ros_packages",
    "is_compressed", "frame_buffer", "is_hbm", "hbm_frame", "parse_serialized",
    "check_compressed_format", "PreparedFrame", "as_frame_message", "message_frame",
    "prepare_message", "classify_prepared", "classify_message",
    "stamp_to_ns", "time_message", "copy_header", "make_header", "hypotheses",
    "classification_message", "label_info_message", "vision_info_message", "database_location",
    "frame_to_bgr", "draw_predictions", "image_message", "overlay_message",
]
