"""The node's parameters: one table of names, defaults, descriptions and when a change applies,
plus the validation every value goes through (at start and on ``ros2 param set``). ROS-free, so
the rules are the same for the node, the launch files' documentation and the tests.

When a change applies:
- ``live``: the next frame uses it (top_k, score_threshold, class_id_format, debug image).
- ``reload``: the model is loaded again without restarting the node (model, backend, labels, ...);
  the new classifier replaces the old one between two frames.
- ``restart``: read-only at run time (topics, periods).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, Optional

from .. import zoo
from ..backends import BACKENDS
from ..classifier import (BPU_CORE_RANGE, BPU_PRIORITY_RANGE, THREADS_RANGE, TOP_K_RANGE,
                          ClassifierConfig)
from ..frames import RESIZE_MODES
from ..scheduler import CameraPolicy
from ..regions import BOX_ORDERS, DEFAULT_MAX_BOXES, MAX_BOXES_LIMIT, MAX_PADDING, BoxFilter
from ..stamp_matching import DEFAULT_DETECTION_CACHE, DEFAULT_FRAME_CACHE
from .cdr import HBM_DATA_SIZES
from .detections import DETECTION_TYPE_NAMES
from .distro import EXECUTORS
from .messages import CLASS_ID_FORMATS

#: the image topic subscribed when no topic parameter names any
DEFAULT_IMAGE_TOPIC = "image_raw"
#: appended to an input topic for its results (when ``output_topic`` is empty)
OUTPUT_SUFFIX = "/classification"
#: appended to an input topic for its debug overlay image
DEBUG_IMAGE_SUFFIX = "/classification/debug_image"
LABEL_INFO_TOPIC = "label_info"
VISION_INFO_TOPIC = "vision_info"


@dataclass(frozen=True)
class ParamSpec:
    name: str
    default: Any            # None: a string array declared by type, empty unless given
    kind: str               # string | integer | double | bool | string_array
    effect: str             # live | reload | restart
    description: str
    constraints: str = ""
    int_range: Optional[tuple[int, int]] = None
    float_range: Optional[tuple[float, float]] = None


PARAMETERS: tuple[ParamSpec, ...] = (
    ParamSpec("model", zoo.DEFAULT_MODEL, "string", "reload",
              "zoo model name (python -m rdk_classifier zoo list) or path of a .bin/.onnx file",
              "a BPU model needs its .bin locally: python -m rdk_classifier zoo fetch NAME"),
    ParamSpec("backend", "auto", "string", "reload",
              "inference runtime: auto (BPU when a BPU runtime imports and the model is a .bin, "
              "else CPU), bpu, cpu", "one of " + ", ".join(BACKENDS)),
    ParamSpec("soc", "auto", "string", "reload",
              "the board's chip, which picks a zoo model's file (X5 .bin, S100/S600 .hbm) and "
              "refuses one built for another chip: auto (/sys/class/boardinfo/soc_name, "
              "$RDK_CLASSIFIER_SOC), x5, s100, s100p, s600", "auto or one of x5, s100, s100p, s600"),
    ParamSpec("fallback_to_cpu", False, "bool", "reload",
              f"where the model cannot run here (a BPU .bin without a BPU runtime), run "
              f"{zoo.DEFAULT_MODEL} on the CPU instead of refusing it; logged at WARN and named "
              f"in vision_info and diagnostics"),
    ParamSpec("labels", "", "string", "reload",
              "class name file, one name per line; empty: the packaged ImageNet-1k names"),
    ParamSpec("resize_mode", "", "string", "reload",
              "how frames are fitted to the model input; empty: the model's own (zoo registry)",
              "empty or one of " + ", ".join(RESIZE_MODES)),
    ParamSpec("threads", 1, "integer", "reload",
              "ONNX Runtime intra-op threads of the node's one model (CPU backend); the cameras "
              "share the model, several inferences at once", "%d..%d" % THREADS_RANGE,
              int_range=THREADS_RANGE),
    ParamSpec("bpu_core", -1, "integer", "reload",
              "BPU core: -1 = any (the runtime chooses), k = core k (the X5 has one, core 0)",
              "%d..%d" % BPU_CORE_RANGE, int_range=BPU_CORE_RANGE),
    ParamSpec("bpu_priority", 0, "integer", "reload", "BPU task priority",
              "%d..%d" % BPU_PRIORITY_RANGE, int_range=BPU_PRIORITY_RANGE),
    ParamSpec("cache_dir", "", "string", "reload",
              "where downloaded zoo models are looked for; empty: the default cache"),
    ParamSpec("top_k", 5, "integer", "live", "classes per Classification message",
              "%d..%d" % TOP_K_RANGE, int_range=TOP_K_RANGE),
    ParamSpec("score_threshold", 0.0, "double", "live",
              "hypotheses with a lower probability are left out of the message", "0.0..1.0",
              float_range=(0.0, 1.0)),
    ParamSpec("class_id_format", "index", "string", "live",
              "ObjectHypothesis.class_id: the class index as a decimal string (index) or the "
              "class name (name)", "one of " + ", ".join(CLASS_ID_FORMATS)),
    ParamSpec("image_topics", [DEFAULT_IMAGE_TOPIC], "string_array", "restart",
              "sensor_msgs/Image topics, one worker each; empty entries are ignored; results go "
              "to <topic>/classification",
              f"if no topic is given at all, {DEFAULT_IMAGE_TOPIC!r} is subscribed"),
    ParamSpec("compressed_topics", None, "string_array", "restart",
              "sensor_msgs/CompressedImage topics (jpeg, png), one worker each; results go to "
              "<topic>/classification"),
    ParamSpec("hbmem_topics", None, "string_array", "restart",
              "hbm_img_msgs shared-memory image topics (TROS mipi_cam / hobot_codec "
              "'hbmem_img'; nv12 or bgr8), one worker each; only when hbm_img_msgs is installed; "
              "results go to <topic>/classification with the message's time_stamp",
              "header.frame_id of their results: hbmem_frame_id"),
    ParamSpec("hbmem_message_type", "HbmMsg1080P", "string", "restart",
              "the hbm_img_msgs type published on hbmem_topics",
              "one of " + ", ".join(HBM_DATA_SIZES)),
    ParamSpec("hbmem_frame_id", "", "string", "restart",
              "header.frame_id of results for hbmem_topics (HbmMsg has none); empty: the "
              "resolved input topic without its leading '/' (e.g. hbmem_img)"),
    ParamSpec("raw_subscriptions", True, "bool", "restart",
              "receive frames as serialized bytes and read them in place (rdk_classifier.ros.cdr):"
              " one copy fewer per frame than a typed subscription; false: typed messages"),
    ParamSpec("lazy", True, "bool", "restart",
              "subscribe to the cameras (and infer) only while something subscribes to the "
              "results (or to the debug image when publish_debug_image is on); diagnostics "
              "and label_info/vision_info consumers do not count"),
    ParamSpec("malloc_tuning", True, "bool", "restart",
              "raise glibc's mmap/trim thresholds at start so frame-sized buffers are reused "
              "instead of page-faulted in anew for every frame (the process keeps its peak heap)",
              "also off with the environment variable RDK_CLASSIFIER_MALLOC_TUNING=0"),
    ParamSpec("executor", "single_threaded", "string", "restart",
              "what spins the node: single_threaded (rclpy's default executor) or events "
              "(rclpy.experimental.EventsExecutor, rclpy >= 7.1.4 on Jazzy: less CPU per "
              "message; where this rclpy lacks it the node says so and uses single_threaded)",
              "one of " + ", ".join(EXECUTORS)),
    ParamSpec("output_topic", "", "string", "restart",
              "if set, the results of every camera go to this one topic (tell them apart by "
              "header.frame_id); empty: <input topic>/classification per camera"),
    ParamSpec("publish_debug_image", False, "bool", "live",
              "publish <topic>/classification/debug_image (the frame with the top-k drawn), "
              "computed only while someone subscribes"),
    ParamSpec("debug_image_max_width", 640, "integer", "live",
              "width limit of the debug image in pixels (0: the frame's size)", "0..7680",
              int_range=(0, 7680)),
    ParamSpec("diagnostics_period", 1.0, "double", "restart",
              "seconds between diagnostics updates on /diagnostics", "0.1..60.0",
              float_range=(0.1, 60.0)),
    ParamSpec("log_period", 10.0, "double", "restart",
              "seconds between one-line INFO summaries (0: never)", "0.0..3600.0",
              float_range=(0.0, 3600.0)),
    ParamSpec("max_rate", 0.0, "double", "restart",
              "results per second per camera at most (0: as fast as frames come and the model "
              "allows); a camera's slot keeps its newest frame meanwhile", "0.0..1000.0",
              float_range=(0.0, 1000.0)),
    ParamSpec("camera_policies", None, "string_array", "restart",
              "per-camera share of the node's one model: 'TOPIC weight=W max_rate=R' (either "
              "key may be left out); under overload a camera of weight 2 gets twice the results "
              "of one of weight 1; max_rate overrides the max_rate parameter for that camera",
              "TOPIC as written in image_topics / compressed_topics / hbmem_topics; W > 0, "
              "R >= 0"),
    ParamSpec("scheduler_threads", 0, "integer", "restart",
              "threads running the cameras' frames on the one model (0: one per CPU core for a "
              "CPU model, 2 for a BPU model; at most one per camera)", "0..64", int_range=(0, 64)),
    # --- box mode: a camera paired with a detector has every detector box classified ---------
    ParamSpec("detection_topics", None, "string_array", "restart",
              "box mode: one detector topic per camera, in the order image_topics, "
              "compressed_topics, hbmem_topics; an empty entry (or none) keeps that camera in "
              "whole-frame mode. Results: <detection topic>/classification "
              "(vision_msgs/Detection2DArray)"),
    ParamSpec("detection_type", "vision_msgs", "string", "restart",
              "message type on detection_topics: vision_msgs (vision_msgs/Detection2DArray) or "
              "ai_msgs (ai_msgs/PerceptionTargets, TROS detectors)",
              "one of " + ", ".join(DETECTION_TYPE_NAMES)),
    ParamSpec("publish_perception_targets", False, "bool", "restart",
              "also publish the results as ai_msgs/PerceptionTargets on <output topic>/targets "
              "(box mode and whole-frame mode), for the TROS web view; needs ai_msgs"),
    ParamSpec("box_classes", None, "string_array", "restart",
              "box mode: classify only boxes whose detector class (Detection2D: the best "
              "hypothesis' class_id; PerceptionTargets: roi type, else target type) is listed; "
              "empty: all"),
    ParamSpec("box_min_size", 0, "integer", "restart",
              "box mode: boxes narrower or lower than this many pixels are not classified",
              "0..100000", int_range=(0, 100000)),
    ParamSpec("box_min_score", 0.0, "double", "restart",
              "box mode: boxes the detector scored lower are not classified", "0.0..1.0",
              float_range=(0.0, 1.0)),
    ParamSpec("box_max_count", DEFAULT_MAX_BOXES, "integer", "restart",
              "box mode: at most this many boxes per frame (chosen by box_order)",
              f"1..{MAX_BOXES_LIMIT}", int_range=(1, MAX_BOXES_LIMIT)),
    ParamSpec("box_order", "score", "string", "restart",
              "box mode: which boxes win above box_max_count: score (most confident first) or "
              "area (largest first)", "one of " + ", ".join(BOX_ORDERS)),
    ParamSpec("box_padding", 0.0, "double", "restart",
              "box mode: grow each side of a box by this fraction of its size (context), "
              "clamped to the frame", f"0.0..{MAX_PADDING}", float_range=(0.0, MAX_PADDING)),
    ParamSpec("box_frame_cache", DEFAULT_FRAME_CACHE, "integer", "restart",
              "box mode: recent frames kept waiting for their detections", "1..64",
              int_range=(1, 64)),
    ParamSpec("box_detection_cache", DEFAULT_DETECTION_CACHE, "integer", "restart",
              "box mode: detection sets kept waiting for their frame", "1..64",
              int_range=(1, 64)),
)
#: the box-mode part of the table (documented together in config/classifier.yaml)
BOX_PARAMETERS = PARAMETERS[[p.name for p in PARAMETERS].index("detection_topics"):]

SPECS = {p.name: p for p in PARAMETERS}
RELOAD_PARAMETERS = frozenset(p.name for p in PARAMETERS if p.effect == "reload")
LIVE_PARAMETERS = frozenset(p.name for p in PARAMETERS if p.effect == "live")
RESTART_PARAMETERS = frozenset(p.name for p in PARAMETERS if p.effect == "restart")


@dataclass(frozen=True)
class NodeSettings:
    """The value of every parameter (names as in ``PARAMETERS``)."""

    model: str = zoo.DEFAULT_MODEL
    backend: str = "auto"
    soc: str = "auto"
    fallback_to_cpu: bool = False
    labels: str = ""
    resize_mode: str = ""
    threads: int = 1
    bpu_core: int = -1
    bpu_priority: int = 0
    cache_dir: str = ""
    top_k: int = 5
    score_threshold: float = 0.0
    class_id_format: str = "index"
    image_topics: tuple[str, ...] = (DEFAULT_IMAGE_TOPIC,)
    compressed_topics: tuple[str, ...] = ()
    hbmem_topics: tuple[str, ...] = ()
    hbmem_message_type: str = "HbmMsg1080P"
    hbmem_frame_id: str = ""
    raw_subscriptions: bool = True
    lazy: bool = True
    malloc_tuning: bool = True
    executor: str = "single_threaded"
    output_topic: str = ""
    publish_debug_image: bool = False
    debug_image_max_width: int = 640
    diagnostics_period: float = 1.0
    log_period: float = 10.0
    max_rate: float = 0.0
    camera_policies: tuple[str, ...] = ()
    scheduler_threads: int = 0
    detection_topics: tuple[str, ...] = ()
    detection_type: str = "vision_msgs"
    publish_perception_targets: bool = False
    box_classes: tuple[str, ...] = ()
    box_min_size: int = 0
    box_min_score: float = 0.0
    box_max_count: int = DEFAULT_MAX_BOXES
    box_order: str = "score"
    box_padding: float = 0.0
    box_frame_cache: int = DEFAULT_FRAME_CACHE
    box_detection_cache: int = DEFAULT_DETECTION_CACHE

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> "NodeSettings":
        """Build from parameter values (unknown names ignored, None means the default);
        arrays become tuples, numbers get their declared type."""
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            if f.name in values and values[f.name] is not None:
                kwargs[f.name] = _coerce(SPECS[f.name], values[f.name])
        return cls(**kwargs)

    def updated(self, values: dict[str, Any]) -> "NodeSettings":
        return replace(self, **{k: _coerce(SPECS[k], v) for k, v in values.items()
                                if k in SPECS and v is not None})

    def classifier_config(self) -> ClassifierConfig:
        return ClassifierConfig(model=self.model, backend=self.backend,
                                resize_mode=self.resize_mode or None, top_k=self.top_k,
                                class_names=self.labels or None, threads=self.threads,
                                bpu_core=self.bpu_core, bpu_priority=self.bpu_priority,
                                cache_dir=self.cache_dir or None,
                                fallback_to_cpu=self.fallback_to_cpu, soc=self.soc)

    def camera_policy(self, topic: str) -> CameraPolicy:
        """The scheduling policy of the camera on ``topic`` (as written in the topic parameters):
        its ``camera_policies`` entry over the node-wide ``max_rate``. Entries are checked by
        ``validate``; call this on validated settings."""
        policy = CameraPolicy(max_rate=self.max_rate)
        for entry in self.camera_policies:
            name, values = parse_camera_policy(entry)
            if name == topic.strip():
                policy = CameraPolicy(weight=values.get("weight", policy.weight),
                                      max_rate=values.get("max_rate", policy.max_rate))
        return policy

    def topics(self) -> list[tuple[str, str]]:
        """(topic, kind) to subscribe, kind ``image``, ``compressed`` or ``hbmem``; blanks and
        repeats left out; ``image_raw`` if none."""
        seen: set[str] = set()
        out: list[tuple[str, str]] = []
        for names, kind in ((self.image_topics, "image"), (self.compressed_topics, "compressed"),
                            (self.hbmem_topics, "hbmem")):
            for name in names:
                name = name.strip()
                if name and name not in seen:
                    seen.add(name)
                    out.append((name, kind))
        return out or [(DEFAULT_IMAGE_TOPIC, "image")]

    def detection_topic_for(self, camera_topic: str) -> str:
        """The detector topic paired with a camera (box mode), or "" (whole-frame mode):
        ``detection_topics[i]`` pairs with the i-th camera of ``topics()``."""
        pairs = zip((t for t, _ in self.topics()), self.detection_topics)
        return next((d.strip() for cam, d in pairs if cam == camera_topic), "")

    def box_filter(self) -> BoxFilter:
        return BoxFilter(classes=tuple(c.strip() for c in self.box_classes if c.strip()),
                         min_size=self.box_min_size, min_score=self.box_min_score,
                         max_boxes=self.box_max_count, order=self.box_order,
                         padding=self.box_padding)


def parse_camera_policy(entry: str) -> tuple[str, dict[str, float]]:
    """``'TOPIC weight=2 max_rate=10'`` -> (topic, {"weight": 2.0, "max_rate": 10.0}); ValueError
    naming the entry when it is not that shape or a value is out of range."""
    parts = entry.split()
    if not parts or "=" in parts[0]:
        raise ValueError(f"camera_policies entry {entry!r} does not start with a topic "
                         f"(expected 'TOPIC weight=W max_rate=R')")
    values: dict[str, float] = {}
    for part in parts[1:]:
        key, eq, text = part.partition("=")
        if not eq or key not in ("weight", "max_rate") or key in values:
            raise ValueError(f"camera_policies entry {entry!r}: {part!r} is not weight=W or "
                             f"max_rate=R (each at most once)")
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"camera_policies entry {entry!r}: {text!r} is not a number") \
                from None
        values[key] = value
    try:
        CameraPolicy(**values)
    except ValueError as exc:
        raise ValueError(f"camera_policies entry {entry!r}: {exc}") from None
    return parts[0], values


def _coerce(spec: ParamSpec, value: Any) -> Any:
    if spec.kind == "string_array":
        return tuple(str(v) for v in value)
    if spec.kind == "double" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def validate(settings: NodeSettings) -> list[str]:
    """Reasons the settings cannot be used (empty when they can). The model itself is checked by
    loading it."""
    errors = []
    s = settings
    if not s.model.strip():
        errors.append("model must name a zoo model or a model file")
    if s.backend not in BACKENDS:
        errors.append(f"backend {s.backend!r} is not one of {', '.join(BACKENDS)}")
    if s.resize_mode and s.resize_mode not in RESIZE_MODES:
        errors.append(f"resize_mode {s.resize_mode!r} is not empty or one of "
                      f"{', '.join(RESIZE_MODES)}")
    if s.class_id_format not in CLASS_ID_FORMATS:
        errors.append(f"class_id_format {s.class_id_format!r} is not one of "
                      f"{', '.join(CLASS_ID_FORMATS)}")
    for spec in PARAMETERS:
        value = getattr(s, spec.name)
        if spec.int_range and not spec.int_range[0] <= value <= spec.int_range[1]:
            errors.append(f"{spec.name} = {value} is outside {spec.int_range[0]}.."
                          f"{spec.int_range[1]}")
        if spec.float_range and not spec.float_range[0] <= value <= spec.float_range[1]:
            errors.append(f"{spec.name} = {value} is outside {spec.float_range[0]}.."
                          f"{spec.float_range[1]}")
    topics = {name.strip() for name in s.image_topics + s.compressed_topics + s.hbmem_topics}
    topics = topics - {""} or {DEFAULT_IMAGE_TOPIC}
    for entry in s.camera_policies:
        try:
            name, _ = parse_camera_policy(entry)
        except ValueError as exc:
            errors.append(str(exc))
            continue
        if name not in topics:
            errors.append(f"camera_policies entry {entry!r} names no camera topic (the topics: "
                          f"{', '.join(sorted(topics))})")
    if s.hbmem_message_type not in HBM_DATA_SIZES:
        errors.append(f"hbmem_message_type {s.hbmem_message_type!r} is not one of "
                      f"{', '.join(HBM_DATA_SIZES)}")
    if s.executor not in EXECUTORS:
        errors.append(f"executor {s.executor!r} is not one of {', '.join(EXECUTORS)}")
    if s.detection_type not in DETECTION_TYPE_NAMES:
        errors.append(f"detection_type {s.detection_type!r} is not one of "
                      f"{', '.join(DETECTION_TYPE_NAMES)}")
    errors += [p for p in s.box_filter().problems() if "order" in p]  # the rest: ranges above
    cameras = [t for t, _ in s.topics()]
    if len(s.detection_topics) > len(cameras):
        errors.append(f"detection_topics has {len(s.detection_topics)} entries for "
                      f"{len(cameras)} camera topics ({', '.join(cameras)})")
    for name in s.image_topics + s.compressed_topics + s.hbmem_topics + s.detection_topics + (
            (s.output_topic,) if s.output_topic else ()):
        if any(c.isspace() for c in name.strip()):
            errors.append(f"topic {name!r} contains white space")
        elif name.strip():  # empty entries are ignored (launch files pass "")
            reason = topic_name_error(name.strip())
            if reason:
                errors.append(f"topic {name!r} is not a valid ROS 2 topic name: {reason}")
    return errors


#: rmw's limit on a fully qualified topic name (RMW_TOPIC_MAX_NAME_LENGTH, 255 - 8)
_TOPIC_MAX_LENGTH = 247
_TOPIC_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_/~")


def topic_name_error(name: str) -> str | None:
    """Why ``name`` breaks the ROS 2 topic name rules (rcl_validate_topic_name), or None.
    Checked here so a bad parameter is a one-line start-up error, not an rclpy traceback.
    Substitutions (``{node}``) are not accepted."""
    if not name:
        return "it is empty"
    bad = sorted({c for c in name if c not in _TOPIC_CHARS})
    if bad:
        return (f"{''.join(bad)!r} not allowed (only letters, digits, '_', '/' and a leading "
                f"'~')")
    if name.endswith("/"):
        return "it ends with '/'"
    if "//" in name:
        return "it contains '//'"
    if "~" in name[1:]:
        return "'~' is only allowed as the first character"
    if name.startswith("~") and len(name) > 1 and name[1] != "/":
        return "'~' must be followed by '/'"
    for token in name.lstrip("~").split("/"):
        if token[:1].isdigit():
            return f"the part {token!r} starts with a digit"
    if len(name) > _TOPIC_MAX_LENGTH:
        return f"it is {len(name)} characters long, over {_TOPIC_MAX_LENGTH}"
    return None


def output_topic_for(settings: NodeSettings, resolved_input: str) -> str:
    return settings.output_topic or resolved_input.rstrip("/") + OUTPUT_SUFFIX


def hbmem_frame_id_for(settings: NodeSettings, resolved_input: str) -> str:
    """The header.frame_id of results for an hbmem topic (see ``hbmem_frame_id``)."""
    return settings.hbmem_frame_id or resolved_input.lstrip("/")


def debug_topic_for(resolved_input: str) -> str:
    return resolved_input.rstrip("/") + DEBUG_IMAGE_SUFFIX


__all__ = ["ParamSpec", "PARAMETERS", "BOX_PARAMETERS", "SPECS", "RELOAD_PARAMETERS",
           "LIVE_PARAMETERS", "RESTART_PARAMETERS", "NodeSettings", "parse_camera_policy",
           "validate", "topic_name_error", "output_topic_for",
           "hbmem_frame_id_for",
           "debug_topic_for", "DEFAULT_IMAGE_TOPIC", "OUTPUT_SUFFIX", "DEBUG_IMAGE_SUFFIX",
           "LABEL_INFO_TOPIC", "VISION_INFO_TOPIC"]
