"""ROS 2 Humble message classes without ROS: a rosbags typestore with vision_msgs registered.

rosbags ships the Humble definitions of std_msgs, sensor_msgs, diagnostic_msgs, ... but not
vision_msgs; those are registered here from their .msg text (vision_msgs 4.x, the Humble release:
fields only, comments left out; a message's wire format and hash depend only on its fields).
Used by the bag tool and the tests; rosbags is imported when a function here is called.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .detections import DETECTION_2D_ARRAY, PERCEPTION_TARGETS
from .messages import MessageTypes

#: vision_msgs on Humble (4.x), the messages this package publishes
VISION_MSGS: dict[str, str] = {
    "vision_msgs/msg/ObjectHypothesis": "string class_id\nfloat64 score\n",
    "vision_msgs/msg/Classification": "std_msgs/Header header\nObjectHypothesis[] results\n",
    "vision_msgs/msg/VisionClass": "uint16 class_id\nstring class_name\n",
    "vision_msgs/msg/LabelInfo": (
        "std_msgs/Header header\nvision_msgs/VisionClass[] class_map\nfloat32 threshold\n"),
    "vision_msgs/msg/VisionInfo": (
        "std_msgs/Header header\nstring method\nstring database_location\n"
        "int32 database_version\n"),
}

#: hbm_img_msgs (D-Robotics/hobot_msgs develop c2a9fcc, Apache-2.0): the shared-memory camera
#: images of TROS (mipi_cam, hobot_codec); fields only, as in their .msg files
_HBM_FIELDS = ("int32 index\nbuiltin_interfaces/Time time_stamp\nuint32 height\nuint32 width\n"
               "uint32 data_size\nuint32 step\nuint8[12] encoding\nuint8[{n}] data\n\n"
               "uint32 MAX_SIZE={n}\n")
HBM_IMG_MSGS: dict[str, str] = {
    "hbm_img_msgs/msg/HbmMsg1080P": _HBM_FIELDS.format(n=6220800),
    "hbm_img_msgs/msg/HbmMsg540P": _HBM_FIELDS.format(n=1555200),
    "hbm_img_msgs/msg/HbmMsg480P": _HBM_FIELDS.format(n=921600),
}

#: vision_msgs 4.x (Humble) detection messages: fields only (the wire format and the type hash
#: depend on nothing else); read from ros-perception/vision_msgs 4.1.1
VISION_DETECTION_MSGS: dict[str, str] = {
    "vision_msgs/msg/Point2D": "float64 x\nfloat64 y\n",
    "vision_msgs/msg/Pose2D": "vision_msgs/Point2D position\nfloat64 theta\n",
    "vision_msgs/msg/BoundingBox2D": (
        "vision_msgs/Pose2D center\nfloat64 size_x\nfloat64 size_y\n"),
    "vision_msgs/msg/ObjectHypothesisWithPose": (
        "vision_msgs/ObjectHypothesis hypothesis\ngeometry_msgs/PoseWithCovariance pose\n"),
    "vision_msgs/msg/Detection2D": (
        "std_msgs/Header header\nvision_msgs/ObjectHypothesisWithPose[] results\n"
        "vision_msgs/BoundingBox2D bbox\nstring id\n"),
    DETECTION_2D_ARRAY: "std_msgs/Header header\nvision_msgs/Detection2D[] detections\n",
}

#: D-Robotics ai_msgs (hobot_msgs ``develop``, the branch TROS Humble builds): fields only
AI_MSGS: dict[str, str] = {
    "ai_msgs/msg/Perf": (
        "string type\nbuiltin_interfaces/Time stamp_start\nbuiltin_interfaces/Time stamp_end\n"
        "float64 time_ms_duration\n"),
    "ai_msgs/msg/Roi": "string type\nsensor_msgs/RegionOfInterest rect\nfloat32 confidence\n",
    "ai_msgs/msg/Attribute": "string type\nfloat32 value\nfloat32 confidence\n",
    "ai_msgs/msg/Point": "string type\ngeometry_msgs/Point32[] point\nfloat32[] confidence\n",
    "ai_msgs/msg/DBResult": (
        "string db_type\nstring match_id\nfloat32 distance\nfloat32 similarity\n"),
    "ai_msgs/msg/Capture": (
        "std_msgs/Header header\nsensor_msgs/Image img\nfloat32[] features\n"
        "ai_msgs/DBResult db_result\n"),
    "ai_msgs/msg/Target": (
        "string type\nuint64 track_id\nai_msgs/Roi[] rois\nai_msgs/Attribute[] attributes\n"
        "ai_msgs/Point[] points\nai_msgs/Capture[] captures\n"),
    PERCEPTION_TARGETS: (
        "std_msgs/Header header\nint16 fps\nai_msgs/Perf[] perfs\nai_msgs/Target[] targets\n"
        "ai_msgs/Target[] disappeared_targets\n"),
}

IMAGE = "sensor_msgs/msg/Image"
COMPRESSED_IMAGE = "sensor_msgs/msg/CompressedImage"
CLASSIFICATION = "vision_msgs/msg/Classification"
LABEL_INFO = "vision_msgs/msg/LabelInfo"
VISION_INFO = "vision_msgs/msg/VisionInfo"


def register_msg_texts(typestore: Any, *definitions: dict[str, str]) -> Any:
    """Add message definitions (type name -> .msg text) to a rosbags typestore (idempotent);
    returns it."""
    from rosbags.typesys import get_types_from_msg

    types: dict = {}
    for texts in definitions:
        for name, text in texts.items():
            types.update(get_types_from_msg(text, name))
    typestore.register(types)
    return typestore


def register_vision_msgs(typestore: Any) -> Any:
    """Add the vision_msgs definitions to a rosbags typestore (idempotent); returns it."""
    return register_msg_texts(typestore, VISION_MSGS)


def register_hbm_img_msgs(typestore: Any) -> Any:
    """Add the hbm_img_msgs image definitions to a rosbags typestore (idempotent); returns it."""
    return register_msg_texts(typestore, HBM_IMG_MSGS)


def register_detection_msgs(typestore: Any, ai_msgs: bool = True) -> Any:
    """Add the vision_msgs detection messages (and ai_msgs) to a rosbags typestore that already
    has vision_msgs' ObjectHypothesis (``register_vision_msgs``); returns it."""
    return register_msg_texts(typestore, VISION_DETECTION_MSGS, *([AI_MSGS] if ai_msgs else []))


def humble_typestore() -> Any:
    """A fresh ROS 2 Humble typestore with vision_msgs (and ai_msgs) registered."""
    from rosbags.typesys import Stores, get_typestore

    return register_detection_msgs(register_vision_msgs(get_typestore(Stores.ROS2_HUMBLE)))


def message_types(typestore: Any) -> MessageTypes:
    """``MessageTypes`` backed by a typestore's classes (``uint8[]`` data as numpy arrays)."""
    t = typestore.types
    return MessageTypes(Time=t["builtin_interfaces/msg/Time"], Header=t["std_msgs/msg/Header"],
                        Classification=t[CLASSIFICATION],
                        ObjectHypothesis=t["vision_msgs/msg/ObjectHypothesis"],
                        LabelInfo=t[LABEL_INFO], VisionClass=t["vision_msgs/msg/VisionClass"],
                        VisionInfo=t[VISION_INFO], Image=t[IMAGE],
                        uint8_array=lambda a: np.ascontiguousarray(a, np.uint8).reshape(-1))


__all__ = ["VISION_MSGS", "HBM_IMG_MSGS", "IMAGE", "COMPRESSED_IMAGE", "CLASSIFICATION",
           "LABEL_INFO", "VISION_INFO", "register_msg_texts", "register_vision_msgs",
           "register_hbm_img_msgs", "register_detection_msgs", "VISION_DETECTION_MSGS", "AI_MSGS",
           "humble_typestore", "message_types"]
