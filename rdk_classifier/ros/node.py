"""``classifier_node``: camera topics in, top-k ``vision_msgs/Classification`` out.

Thin over the core and over ``camera.Camera``: every input topic is one camera (subscription,
handler, runner, counters, sinks), in whole-frame mode (``whole_frame.WholeFrame``: the one path of
``messages.classify_message``, in its two halves) or, paired with a detector topic, in box mode
(``box_mode.Boxes``). Per camera there is one subscription (sensor-data QoS, depth 1), one
latest-frame slot and reliable result publishers; ONE classifier serves every camera, through
``rdk_classifier.scheduler.Scheduler`` (the BPU is one device, and ``pyeasy_dnn`` never frees a
model): the cameras take turns fairly (``camera_policies`` weights, ``max_rate``), the scheduler's
threads run as many inferences at once as the backend takes (ONNX Runtime: several; a BPU model:
one, while the next frames are being converted), and each camera's result age (header stamp to
publish, p50/p99) is in its diagnostics.
``LabelInfo`` and ``VisionInfo`` are published once (again after a model change) with
transient-local QoS. Parameters are declared with descriptors; see ``rdk_classifier.ros.settings``
for names, defaults and when a change applies.

Where the frame is converted. The subscription callback runs ``messages.prepare_message`` (camera
frame -> model-size NV12 with the camera's classifier's preprocessor) and puts the small
``PreparedFrame`` in the worker's latest-frame slot; the worker thread runs inference, top-k, the
``Classification`` message and publish. So the conversion of the next frame overlaps inference
(ONNX Runtime and the BPU runtime release the GIL), and the slot holds ~75 KB of NV12 instead of
a camera message; the price is converting frames that are later dropped (figures in
bench/README.md). Only while the debug overlay is wanted is the original message kept too.

Bad frames (``FrameError``) are therefore found in the callback: counted, logged (throttled) and
skipped there; they never reach the worker. A prepared frame is tagged with the classifier whose
preprocessor made it: after a model change (``model``, ``resize_mode``, ... at run time) a frame
prepared for the old model is not run through the new one but dropped (counted as dropped).
Counters keep their meaning: received = every frame the subscription delivered; processed =
published + bad; dropped = replaced in the slot or prepared for a model that was swapped out.

Receiving. With ``raw_subscriptions`` (default) a subscription delivers the serialized bytes and
``messages.parse_serialized`` (``rdk_classifier.ros.cdr``) reads the frame in place: one copy of
the frame per message instead of three. ``raw_subscriptions:=false`` takes typed messages; both
give the same results. Camera QoS is best effort, depth 1, overridable per topic through the
standard ``qos_overrides.<topic>.subscription.*`` parameters (QoSOverridingOptions). With
``lazy`` (default) the cameras are subscribed only while the results (or the enabled debug image)
have a subscriber: no frames received, nothing converted or inferred while nobody listens.
Diagnostics consumers do not count.

Humble and Jazzy. The node runs on both; where the installed rclpy has Jazzy's mechanisms
(``distro.probe``: feature checks, not the distro's name) it uses them, else the Humble path:
- lazy mode: output publishers get ``matched`` events (``PublisherEventCallbacks(matched=...)``) and
  the cameras follow them; on Humble a timer checks the subscriber counts every
  ``LAZY_POLL_PERIOD``;
- receipt to result (diagnostics): camera callbacks take ``(msg, MessageInfo)`` and count from the
  middleware's ``received_timestamp``; on Humble from the moment the callback runs;
- ``executor:=events`` spins with ``rclpy.experimental.EventsExecutor`` where it exists (rclpy >=
  7.1.4), else with the single-threaded executor and a warning.

Topics (names relative to the node namespace, so remapping works):
- in: ``image_topics`` (sensor_msgs/Image), ``compressed_topics`` (sensor_msgs/CompressedImage),
  ``hbmem_topics`` (hbm_img_msgs/HbmMsg1080P or a sibling, when hbm_img_msgs is installed; the
  result header is the message's ``time_stamp`` and ``hbmem_frame_id``)
- out: ``<resolved input topic>/classification`` per camera, or ``output_topic`` for all;
  ``<resolved input topic>/classification/debug_image`` when ``publish_debug_image`` is true and
  somebody subscribes; ``label_info``, ``vision_info`` (latched); ``/diagnostics``.

Diagnostics go through ``diagnostic_updater`` when it is installed; otherwise the node publishes
the same ``diagnostic_msgs/DiagnosticArray`` on ``/diagnostics`` itself, at the same period.

With ``distro.py`` (the feature checks), the only module of the package that imports rclpy.

The ROS-free parts (cameras and their handlers, sinks, settings, stats and diagnostics,
messages, CDR parsing, worker) live in their own modules.
"""

from __future__ import annotations

import signal
import threading
import time
from functools import partial
from typing import Any, Optional

import rclpy
from rcl_interfaces.msg import (FloatingPointRange, IntegerRange, ParameterDescriptor,
                                SetParametersResult)
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.qos_overriding_options import QoSOverridingOptions

from ..backends.base import concurrency_of
from ..classifier import Classifier
from ..errors import RdkClassifierError
from ..scheduler import Job, Scheduler, default_workers
from .box_mode import Boxes
from . import distro
from .camera import Camera, Wiring, camera_inputs, unwrap_job
from .camera_slot import SchedulerSlot
from .malloc_tuning import tune_malloc
from .messages import (database_location, label_info_message, make_header, stamp_to_ns,
                       types_from_ros_packages, vision_info_message)
from .settings import (LABEL_INFO_TOPIC, PARAMETERS, RELOAD_PARAMETERS, SPECS,
                       VISION_INFO_TOPIC, NodeSettings, hbmem_frame_id_for, validate)
from .stats import camera_status
from .whole_frame import WholeFrame

NODE_NAME = "classifier_node"
#: seconds between two checks for result subscribers in lazy mode where rclpy has no
#: matched event (Humble; a poll costs ~0.1 ms per camera)
LAZY_POLL_PERIOD = 0.05

#: camera frames: best effort, only the newest one matters
IMAGE_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                       reliability=ReliabilityPolicy.BEST_EFFORT,
                       durability=DurabilityPolicy.VOLATILE)
#: results: reliable, a short history for slow subscribers
RESULT_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10,
                        reliability=ReliabilityPolicy.RELIABLE,
                        durability=DurabilityPolicy.VOLATILE)
#: LabelInfo / VisionInfo: "latched", late subscribers get the last one
LATCHED_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                         reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)


def _camera_qos() -> QoSProfile:
    """A fresh camera profile for each subscription (rclpy applies overrides to it in place)."""
    return QoSProfile(history=IMAGE_QOS.history, depth=IMAGE_QOS.depth,
                      reliability=IMAGE_QOS.reliability, durability=IMAGE_QOS.durability)


class StartupError(RdkClassifierError):
    """The node cannot start (bad parameters, missing model); the message says what to do."""


def _descriptor(spec) -> ParameterDescriptor:
    d = ParameterDescriptor(description=spec.description,
                            additional_constraints=spec.constraints,
                            read_only=spec.effect == "restart")
    if spec.int_range:
        d.integer_range = [IntegerRange(from_value=spec.int_range[0],
                                        to_value=spec.int_range[1], step=1)]
    if spec.float_range:
        d.floating_point_range = [FloatingPointRange(from_value=spec.float_range[0],
                                                     to_value=spec.float_range[1], step=0.0)]
    return d


class ClassifierNode(Node):
    """See the module docstring. Raises ``StartupError`` when it cannot start."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self._types = types_from_ros_packages()
        self._cameras: list[Camera] = []
        self._param_lock = threading.Lock()
        try:
            self._settings = self._declare_parameters()
        except ParameterException as exc:  # an override of the wrong type or out of range
            self._fail(f"invalid parameter override: {exc}")
        problems = validate(self._settings)
        if problems:
            self._fail("invalid parameters: " + "; ".join(problems))
        malloc_note = tune_malloc() if self._settings.malloc_tuning else None  # before frames flow
        topics = camera_inputs(self._settings, self.get_logger())
        if not topics:
            self._fail("no input topic can be subscribed (see the error above)")
        self.features = distro.probe()
        # lazy mode by matched events where rclpy has them (Jazzy), else by a polling timer
        lazy_events = self._settings.lazy and self.features.publisher_matched
        wiring = Wiring(self, self._types, _camera_qos, QoSOverridingOptions.with_default_policies,
                        RESULT_QOS, lambda: self._settings,
                        detection_types=self._detection_types(self._settings),
                        publisher_events=(partial(distro.matched_callbacks, self.features,
                                                  self._on_matched) if lazy_events else None),
                        message_info=self.features.message_info)
        try:
            clf = self._load_classifier(self._settings)
        except RdkClassifierError as exc:
            self._fail(f"cannot load model {self._settings.model!r}: {exc}")
        self._database_version = 1
        self._scheduler = Scheduler(clock=self._now, on_error=self._on_job_error)

        self._label_pub = self.create_publisher(self._types.LabelInfo, LABEL_INFO_TOPIC,
                                                LATCHED_QOS)
        self._info_pub = self.create_publisher(self._types.VisionInfo, VISION_INFO_TOPIC,
                                               LATCHED_QOS)
        self._publish_model_info(clf)

        for topic, kind, msg_type, parse_kind in topics:
            detection_topic = self._settings.detection_topic_for(topic)
            handler = Boxes(detection_topic, self._settings) if detection_topic else WholeFrame()
            cam = Camera(topic, kind, msg_type, parse_kind, clf, handler, wiring,
                         runner=self._scheduler_slot)
            cam.frame_id = hbmem_frame_id_for(self._settings, cam.input_name)
            cam.worker.start()
            self._cameras.append(cam)
        threads = self._settings.scheduler_threads or default_workers(
            concurrency_of(clf.backend), len(self._cameras))
        self._scheduler.start(threads)
        for cam in self._cameras:
            if not self._settings.lazy:
                cam.subscribe()
        if lazy_events:
            self._update_lazy()  # then each matched event
        elif self._settings.lazy:
            self._lazy_timer = self.create_timer(LAZY_POLL_PERIOD, self._update_lazy)

        self._setup_diagnostics(self._settings.diagnostics_period)
        if self._settings.log_period > 0:
            self._log_timer = self.create_timer(self._settings.log_period, self._log_summary)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        s = self._settings
        self.get_logger().info(
            f"classifying with {clf.model_name} on {clf.backend.name} ({threads} scheduler "
            f"thread{'s' if threads > 1 else ''}), top {s.top_k}, "
            f"{'raw' if s.raw_subscriptions else 'typed'} subscriptions"
            f"{', lazy' if s.lazy else ''}: "
            + ", ".join(f"{c.input_name} ({c.parse_kind}) -> {c.output_name}"
                        for c in self._cameras))
        if malloc_note:
            self.get_logger().info(malloc_note)
        self.get_logger().info(
            f"{self.features.summary()}: lazy by "
            f"{'matched events' if self.features.publisher_matched else 'polling'}, receipt time "
            f"from {self._age_from()}")

    @property
    def settings(self) -> NodeSettings:
        """The parameter values in force (an immutable snapshot)."""
        return self._settings

    # --- start-up ---------------------------------------------------------------------------------
    def _fail(self, message: str) -> None:
        self.get_logger().fatal(message)
        raise StartupError(message)

    def _declare_parameters(self) -> NodeSettings:
        values: dict[str, Any] = {}
        for spec in PARAMETERS:
            if spec.default is None:  # an array that is empty unless given: declared by type
                param = self.declare_parameter(spec.name, Parameter.Type.STRING_ARRAY,
                                               _descriptor(spec))
            else:
                param = self.declare_parameter(spec.name, spec.default, _descriptor(spec))
            values[spec.name] = param.value
        return NodeSettings.from_values(values)

    def _detection_types(self, settings: NodeSettings) -> Any:
        """The detection message classes, when a camera is paired with a detector or
        PerceptionTargets are wanted (None otherwise); a start failure when missing."""
        paired = any(settings.detection_topic_for(t) for t, _ in settings.topics())
        if not (paired or settings.publish_perception_targets):
            return None
        from .detections import detection_types_from_ros_packages

        try:
            types = detection_types_from_ros_packages()
        except ImportError as exc:
            self._fail(f"invalid parameters: box mode needs vision_msgs' detection messages "
                       f"and geometry_msgs: {exc}")
        ai_input = paired and settings.detection_type == "ai_msgs"
        if (ai_input or settings.publish_perception_targets) and not types.has_ai_msgs:
            self._fail("invalid parameters: ai_msgs (D-Robotics hobot_msgs) is not installed, "
                       "needed by " + ("detection_type:=ai_msgs" if ai_input
                                       else "publish_perception_targets:=true")
                       + "; install TROS' ai_msgs or leave it off")
        return types

    def _on_matched(self, status: Any) -> None:
        """A matched event of an output publisher (Jazzy): subscribers came or went."""
        self._update_lazy()

    def _age_from(self) -> str:
        return ("middleware receive time (MessageInfo)" if self.features.message_info
                else "callback start (this rclpy passes no MessageInfo)")

    def _update_lazy(self) -> None:
        """Lazy mode: subscribe a camera when one of its outputs gains a subscriber, let go when
        the last one leaves."""
        for cam in self._cameras:
            wanted = cam.wanted()
            if wanted and cam.subscription is None:
                cam.subscribe()
                self.get_logger().info(f"{cam.output_name} has a subscriber: receiving "
                                       f"{cam.input_name}")
            elif not wanted and cam.subscription is not None:
                cam.unsubscribe()
                self.get_logger().info(f"{cam.output_name} has no subscriber: {cam.input_name} "
                                       f"unsubscribed until one appears")

    def _load_classifier(self, settings: NodeSettings) -> Classifier:
        """The node's one classifier: every camera shares it (it takes concurrent calls; the
        backend limits how many are inside inference at once)."""
        clf = Classifier.from_config(settings.classifier_config())
        if clf.fallback_reason:
            self.get_logger().warning(clf.fallback_reason)
        return clf

    # --- the scheduler: the cameras' turns on the one model ---------------------------------------
    def _now(self) -> float:
        """The scheduler's clock: ROS time in seconds, the time base of the header stamps."""
        return self.get_clock().now().nanoseconds * 1e-9

    def _scheduler_slot(self, cam: Camera) -> SchedulerSlot:
        def stamp_of(job: Any) -> float:
            job, _ = unwrap_job(job)  # the camera's job, without its receipt time
            header = getattr(job, "header", None)
            return stamp_to_ns(header.stamp) * 1e-9 if header is not None else self._now()

        return SchedulerSlot(self._scheduler, cam.topic, cam.run_job, stamp_of,
                             self._settings.camera_policy(cam.topic))

    def _on_job_error(self, job: Job, exc: BaseException) -> None:
        for cam in self._cameras:
            if cam.topic == job.camera:
                cam.on_job_error(job, exc)
                return

    def _publish_model_info(self, clf: Classifier) -> None:
        header = make_header(self._types, self.get_clock().now().nanoseconds)
        self._label_pub.publish(label_info_message(self._types, clf.class_names,
                                                   self._settings.score_threshold, header))
        method = clf.model_name
        if clf.fallback_reason and clf.config is not None:
            method += f" (CPU fallback for {clf.config.model})"
        self._info_pub.publish(vision_info_message(self._types, method,
                                                   database_location(self._settings.labels),
                                                   self._database_version, header))

    # --- parameters at run time -------------------------------------------------------------------
    def _on_set_parameters(self, params: list) -> SetParametersResult:
        changes = {p.name: p.value for p in params if p.name in SPECS}
        if not changes:
            return SetParametersResult(successful=True)
        with self._param_lock:
            try:
                new = self._settings.updated(changes)
            except (TypeError, ValueError) as exc:
                return SetParametersResult(successful=False, reason=str(exc))
            problems = validate(new)
            if problems:
                return SetParametersResult(successful=False, reason="; ".join(problems))
            old = self._settings
            reload = any(getattr(new, k) != getattr(old, k) for k in RELOAD_PARAMETERS)
            if reload:
                try:
                    loaded = self._load_classifier(new)
                except Exception as exc:  # any load failure leaves the running model in place
                    running = self._cameras[0].classifier.model_name if self._cameras else "-"
                    reason = (f"cannot load model {new.model!r} (backend {new.backend}): {exc}; "
                              f"still classifying with {running}")
                    self.get_logger().error(reason)
                    return SetParametersResult(successful=False, reason=reason)
                self._settings = new
                self._swap_classifier(loaded)
                self._database_version += 1
            else:
                self._settings = new
            for cam in self._cameras:
                cam.settings_changed(new)
            if reload or new.score_threshold != old.score_threshold:
                self._publish_model_info(self._cameras[0].classifier)
        what = ", ".join(f"{k}={v!r}" for k, v in changes.items())
        if reload:
            clf = self._cameras[0].classifier
            self.get_logger().info(f"{what}: now classifying with {clf.model_name}")
        else:
            self.get_logger().info(f"{what}: applied")
        return SetParametersResult(successful=True)

    def _swap_classifier(self, new: Classifier) -> None:
        """Each camera finishes the job in progress with the old model, then uses the new; the
        old one (shared by all) is closed once no camera can use it any more."""
        old = self._cameras[0].classifier if self._cameras else None
        for cam in self._cameras:
            with cam.lock:  # waits for this camera's job in progress
                cam.classifier = new
        if old is not None and old is not new:
            old.close()

    # --- diagnostics and log ----------------------------------------------------------------------
    def _setup_diagnostics(self, period: float) -> None:
        self._updater = None
        self._diag_pub = None
        try:
            from diagnostic_updater import Updater
        except ImportError:
            Updater = None
        if Updater is not None:
            self._updater = Updater(self, period=period)
            self._updater.setHardwareID(self._hardware_id())
            for cam in self._cameras:  # the updater puts "<node name>: " in front itself
                self._updater.add(cam.input_name, partial(self._fill_status, cam))
            return
        try:  # fallback: the same DiagnosticArray, published by this node
            from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
        except ImportError:
            self.get_logger().warning("diagnostic_msgs is not installed: no /diagnostics")
            return
        self._diag_types = (DiagnosticArray, DiagnosticStatus, KeyValue)
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 1)
        self._diag_timer = self.create_timer(period, self._publish_diagnostics)

    def _hardware_id(self) -> str:
        return self._cameras[0].classifier.backend.name if self._cameras else "none"

    def _status_name(self, cam: Camera) -> str:
        """As diagnostic_updater names a task: "<node name>: <task name>"."""
        return f"{self.get_name()}: {cam.input_name}"

    def _status(self, cam: Camera, levels: Any) -> tuple[Any, str, list[tuple[str, str]]]:
        """Level, message and key/values of one camera (levels: a class with OK/WARN/ERROR)."""
        clf = cam.classifier
        return camera_status(
            cam.stats.report(cam.worker_stats(), window="diagnostics"), levels,
            input_topic=cam.input_name, output_topic=cam.output_name, model=clf.model_name,
            backend=clf.backend.name, fallback_reason=clf.fallback_reason,
            subscribed=cam.subscription is not None,
            extra=cam.handler.key_values() + self._schedule_key_values(cam),
            age_from=self._age_from())

    def _schedule_key_values(self, cam: Camera) -> list[tuple[str, str]]:
        """The camera's share of the model and the age of its results (header stamp to publish,
        over its last answers): the figure compared with C++ nodes."""
        if not isinstance(cam.worker, SchedulerSlot):
            return []
        age = cam.worker.scheduler_stats().age_summary()
        policy = self._settings.camera_policy(cam.topic)

        def ms(v: Optional[float]) -> str:
            return "-" if v is None else f"{v:.1f}"
        return [("result age p50 (ms)", ms(age["p50"])), ("result age p99 (ms)", ms(age["p99"])),
                ("weight", f"{policy.weight:g}"),
                ("max rate (Hz)", f"{policy.max_rate:g}" if policy.max_rate else "no limit")]

    def _fill_status(self, cam: Camera, stat: Any) -> Any:
        from diagnostic_msgs.msg import DiagnosticStatus

        level, message, kv = self._status(cam, DiagnosticStatus)
        stat.summary(level, message)
        for key, value in kv:
            stat.add(key, value)
        return stat

    def _publish_diagnostics(self) -> None:
        DiagnosticArray, DiagnosticStatus, KeyValue = self._diag_types
        statuses = []
        for cam in self._cameras:
            level, message, kv = self._status(cam, DiagnosticStatus)
            statuses.append(DiagnosticStatus(
                level=level, name=self._status_name(cam), message=message,
                hardware_id=self._hardware_id(),
                values=[KeyValue(key=k, value=v) for k, v in kv]))
        header = make_header(self._types, self.get_clock().now().nanoseconds)
        assert self._diag_pub is not None  # the timer that calls this is made with it
        self._diag_pub.publish(DiagnosticArray(header=header, status=statuses))

    def _log_summary(self) -> None:
        parts = [f"{cam.input_name}: " + cam.stats.report(cam.worker_stats(), window="log").line()
                 for cam in self._cameras]
        self.get_logger().info(f"{self._cameras[0].classifier.model_name} | " + " | ".join(parts))

    # --- for tests and tools ----------------------------------------------------------------------
    def wait_idle(self, timeout: Optional[float] = None) -> bool:
        """Block until no camera has a frame waiting or in progress (True), or timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for cam in self._cameras:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not cam.worker.wait_idle(left):
                return False
        return True

    def counters(self) -> dict[str, dict[str, Any]]:
        """Per input topic: received, processed, dropped, errors, published, bad_frames (ints);
        in box mode also boxes (a dict of box and matching counters)."""
        return {cam.input_name: cam.counters() for cam in self._cameras}

    # --- shutdown ---------------------------------------------------------------------------------
    def destroy_node(self) -> None:
        cameras = getattr(self, "_cameras", [])
        for cam in cameras:
            cam.worker.stop(timeout=5.0)
        scheduler = getattr(self, "_scheduler", None)
        if scheduler is not None:
            scheduler.stop()
        for clf in {id(cam.classifier): cam.classifier for cam in cameras}.values():
            clf.close()  # the one model (once)
        super().destroy_node()


def main(args: Optional[list[str]] = None) -> int:
    rclpy.init(args=args)
    node = None
    try:
        node = ClassifierNode()
        executor, note = distro.make_executor(node.settings.executor, node.features)
        if note:
            node.get_logger().warning(note)
        executor.add_node(node)
        node.get_logger().info(f"spinning with {type(executor).__name__}")
        executor.spin()
    except StartupError:
        return 1  # already logged as FATAL with what to do
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        # Ctrl-C under `ros2 launch` arrives twice (from the terminal and forwarded by launch):
        # the second one must not interrupt the orderly shutdown below.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
