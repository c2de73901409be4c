"""One camera of the node, whatever it is for: its subscription, its jobs, its worker, its counters.

Every input topic of ``classifier_node`` is one ``Camera``, built alike for every kind of input
(``sensor_msgs/Image``, ``CompressedImage``, ``hbm_img_msgs/HbmMsg*``) and every mode:
- the subscription: serialized bytes read in place (``raw_subscriptions``) or typed messages,
  best effort depth 1 with the standard ``qos_overrides.<topic>.subscription.*`` parameters, made
  and dropped on demand in lazy mode; an HbmMsg becomes an Image-like frame right here, so no
  handler ever sees one;
- a frame handler (one per mode: ``whole_frame.WholeFrame``, ``box_mode.Boxes``) that turns frames
  (and, for boxes, the detector's messages) into jobs; bad frames are counted and logged here,
  the same way for every handler;
- a runner for the jobs: by default the camera's own ``LatestFrameWorker`` (a newer job replaces
  the waiting one); anything with the same ``start/submit/stats/wait_idle/stop`` can take its
  place (``Camera(..., runner=lambda cam: ...)``, e.g. one camera's view of a scheduler shared by
  all cameras), calling ``cam.run_job(job)`` on whatever thread runs inference;
- outputs as a list of sinks (``sinks.py``): each publishes what it can of a job's ``Outcome``;
  lazy mode listens to the sinks for subscribers;
- receipt to result (diagnostics: a frame's receipt to its result's publication): receipt is
  the middleware's ``received_timestamp`` where rclpy hands callbacks a ``MessageInfo``
  (``Wiring.message_info``, Jazzy), else the moment the callback runs (Humble).

No rclpy import: the node hands in a ``Wiring`` with itself and its QoS factories.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, Optional, Protocol

from ..classifier import Classifier, Result
from ..errors import FrameError
from ..regions import FrameBoxes
from .distro import received_ns
from .messages import MessageTypes, as_frame_message, parse_serialized
from .settings import NodeSettings
from .stats import StreamStats
from .worker import LatestFrameWorker, WorkerStats

#: seconds between two warnings about bad frames (per call site)
BAD_FRAME_LOG_PERIOD = 5.0


@dataclass
class Outcome:
    """What one job gave, for the sinks: the frame's header, the result (boxes: a summary whose
    top is the first box's and whose timing is the sum over the boxes), and what else a sink
    may draw from."""

    header: Any
    result: Result
    model: str
    #: preprocessing that ran on the worker (box crops) and not in the subscription callback
    worker_preprocess_ms: float = 0.0
    boxes: Optional[FrameBoxes] = None   # box mode: every selected box
    detections: Any = None               # box mode: the detector's message
    frame_size: tuple[int, int] = (0, 0)
    message: Any = None                  # the camera message, kept while a debug image is wanted
    start_ns: int = 0                    # wall clock when the work began (0: derive from timing)


class Sink(Protocol):
    """An output of a camera: publishes what it can of an outcome."""

    #: needs the camera message (the debug overlay draws on it)
    needs_message: bool

    def wanted(self, settings: NodeSettings) -> bool: ...

    def publish(self, outcome: Outcome, settings: NodeSettings) -> None: ...


class Handler(Protocol):
    """A camera's mode: frames (and whatever else it subscribes to) in, jobs out; a job run."""

    name: str

    def wire(self, cam: "Camera", wiring: "Wiring") -> None: ...

    def subscribe(self, cam: "Camera") -> None: ...

    def unsubscribe(self, cam: "Camera") -> None: ...

    def on_frame(self, cam: "Camera", msg: Any) -> Any: ...

    def run(self, clf: Classifier, job: Any, settings: NodeSettings) -> Optional[Outcome]: ...

    def counts(self) -> Optional[dict[str, int]]: ...

    def key_values(self) -> list[tuple[str, str]]: ...


class Runner(Protocol):
    def start(self) -> Any: ...

    def submit(self, item: Any) -> bool: ...

    def stats(self) -> WorkerStats: ...

    def wait_idle(self, timeout: Optional[float] = None) -> bool: ...

    def stop(self, timeout: Optional[float] = 5.0) -> bool: ...


@dataclass
class Wiring:
    """What cameras need of the rclpy node (node.py builds it; it alone imports rclpy)."""

    node: Any                                  # create_subscription/_publisher, get_logger, ...
    types: MessageTypes
    camera_qos: Callable[[], Any]              # a fresh camera profile (rclpy overrides in place)
    qos_overriding: Callable[[], Any]          # QoSOverridingOptions of camera subscriptions
    result_qos: Any
    settings: Callable[[], NodeSettings]       # the live settings
    detection_types: Any = None                # detections.DetectionTypes when needed
    #: event callbacks for every output publisher (a fresh PublisherEventCallbacks each), or None;
    #: the node gives ``matched`` events here for lazy mode where rclpy has them (Jazzy)
    publisher_events: Optional[Callable[[], Any]] = None
    #: subscription callbacks take ``(msg, MessageInfo)`` (rclpy on Jazzy)
    message_info: bool = False
    _publishers: dict[str, Any] = field(default_factory=dict)

    def publisher(self, msg_type: Any, topic: str, qos: Any = None) -> Any:
        """One publisher per topic (cameras share one with ``output_topic``)."""
        pub = self._publishers.get(topic)
        if pub is None:
            qos = self.result_qos if qos is None else qos
            if self.publisher_events is None:
                pub = self.node.create_publisher(msg_type, topic, qos)
            else:
                pub = self.node.create_publisher(msg_type, topic, qos,
                                                 event_callbacks=self.publisher_events())
            self._publishers[topic] = pub
        return pub


@dataclass(frozen=True)
class _Received:
    """A job and when its frame was received (ns, system clock; None when not known)."""

    job: Any
    received_ns: Optional[int]


def unwrap_job(item: Any) -> tuple[Any, Optional[int]]:
    """(job, receipt time in ns or None) of what a camera queued: the one place that knows the
    receipt wrapper (the runner and the scheduler's stamp reader both come through here)."""
    return (item.job, item.received_ns) if isinstance(item, _Received) else (item, None)


def camera_inputs(settings: NodeSettings, log: Any) -> list[tuple[str, str, Any, str]]:
    """(topic, kind, message type, parse kind) of every camera the settings name; hbmem topics
    only when hbm_img_msgs imports (else said once, clearly, and the other cameras served)."""
    from sensor_msgs.msg import CompressedImage, Image

    out, hbm_type = [], None
    topics = settings.topics()
    if any(kind == "hbmem" for _, kind in topics):
        try:
            from hbm_img_msgs import msg as hbm_msgs
            hbm_type = getattr(hbm_msgs, settings.hbmem_message_type)
        except (ImportError, AttributeError) as exc:
            names = [t for t, kind in topics if kind == "hbmem"]
            log.error(f"hbmem_topics {names} not subscribed: hbm_img_msgs."
                      f"{settings.hbmem_message_type} cannot be imported ({exc}). It is the "
                      f"D-Robotics/hobot_msgs package, part of TROS on the RDK (source "
                      f"/opt/tros/humble/setup.bash); elsewhere build it in your workspace")
    for topic, kind in topics:
        if kind == "image":
            out.append((topic, kind, Image, "image"))
        elif kind == "compressed":
            out.append((topic, kind, CompressedImage, "compressed"))
        elif hbm_type is not None:
            out.append((topic, kind, hbm_type, settings.hbmem_message_type))
    return out


class Camera:
    """One input topic and everything that serves it. ``kind``: image, compressed or hbmem;
    ``parse_kind`` what ``messages.parse_serialized`` reads (image, compressed, HbmMsg1080P..)."""

    def __init__(self, topic: str, kind: str, msg_type: Any, parse_kind: str,
                 classifier: Classifier, handler: Handler, wiring: Wiring,
                 runner: Optional[Callable[["Camera"], Runner]] = None) -> None:
        self.topic = topic
        self.kind = kind
        self.msg_type = msg_type
        self.parse_kind = parse_kind
        self.classifier = classifier
        self.handler = handler
        self.wiring = wiring
        self.lock = threading.Lock()  # held while a job runs; a model swap waits
        self.stats = StreamStats()
        self._counts_lock = threading.Lock()
        self._prepare_errors = 0      # unexpected failures in the callback (not FrameError)
        self.sinks: list[Sink] = []
        self.subscription: Any = None
        self.publisher: Any = None    # the main output (Classification / Detection2DArray)
        node = wiring.node
        self.input_name = node.resolve_topic_name(topic)
        self.frame_id = ""            # header.frame_id given to hbmem frames
        self.output_name = ""
        self.worker: Runner = (runner(self) if runner is not None else
                               LatestFrameWorker(self.run_job, name=f"{handler.name} {topic}",
                                                 on_error=self.on_job_error))
        handler.wire(self, wiring)

    # --- subscription -----------------------------------------------------------------------------
    def subscribe(self) -> None:
        """Raw bytes or typed messages, best effort depth 1 unless overridden by
        ``qos_overrides.<topic>.subscription.*``; then the handler's own (detections)."""
        w = self.wiring
        raw = w.settings().raw_subscriptions
        # a two-argument callback gets (msg, MessageInfo) where rclpy offers it (Jazzy)
        callback = partial(self.on_message_info if w.message_info else self.on_message,
                           serialized=raw)
        self.subscription = w.node.create_subscription(
            self.msg_type, self.topic, callback,
            w.camera_qos(), raw=raw, qos_overriding_options=w.qos_overriding())
        self.handler.subscribe(self)

    def unsubscribe(self) -> None:
        if self.subscription is not None:
            self.wiring.node.destroy_subscription(self.subscription)
            self.subscription = None
        self.handler.unsubscribe(self)

    def wanted(self) -> bool:
        """Does any output have a subscriber (lazy mode)?"""
        settings = self.wiring.settings()
        return any(s.wanted(settings) for s in self.sinks)

    def keeps_message(self, settings: NodeSettings) -> bool:
        return any(s.needs_message and s.wanted(settings) for s in self.sinks)

    # --- per frame: executor thread ---------------------------------------------------------------
    def on_message(self, msg: Any, serialized: bool = False,
                   received: Optional[int] = None) -> None:
        """A frame from the subscription (serialized bytes or a typed message); ``received``:
        when the middleware received it (ns, system clock), else now."""
        if received is None:
            received = time.time_ns()

        def job() -> Any:
            m = (parse_serialized(self.parse_kind, msg, self.frame_id) if serialized
                 else as_frame_message(msg, self.frame_id))
            return self.handler.on_frame(self, m)
        self.offer(job, received)

    def on_message_info(self, msg: Any, info: Any, serialized: bool = False) -> None:
        """The same, from a callback that rclpy gives the ``MessageInfo`` too (Jazzy)."""
        self.on_message(msg, serialized, received_ns(info))

    def offer(self, make_job: Callable[[], Any], received: Optional[int] = None) -> None:
        """Make a job (None: nothing to do yet) and hand it to the runner. A bad frame is
        counted, logged (throttled) and skipped; any other failure too, without ending the
        executor's spin. ``received``: when the job's frame arrived (for the result age)."""
        log = self.wiring.node.get_logger()
        try:
            job = make_job()
        except FrameError as exc:
            self.stats.add_bad_frame()
            log.warning(f"{self.input_name}: frame skipped ({self.stats.bad_frames} so far): "
                        f"{exc}", throttle_duration_sec=BAD_FRAME_LOG_PERIOD)
            return
        except Exception as exc:  # a bug here must not end the executor's spin (and the node)
            with self._counts_lock:
                self._prepare_errors += 1
            log.error(f"{self.input_name}: preparing a frame failed: {type(exc).__name__}: "
                      f"{exc}", throttle_duration_sec=BAD_FRAME_LOG_PERIOD)
            return
        if job is not None:
            self.worker.submit(_Received(job, received))

    # --- per job: worker thread -------------------------------------------------------------------
    def run_job(self, item: Any) -> bool:
        """Run a job and hand its outcome to every sink. False (the runner counts the job as
        dropped) for a job the handler refuses (prepared for the model before a swap)."""
        job, received = unwrap_job(item)
        t0 = time.perf_counter()
        settings = self.wiring.settings()  # an immutable snapshot for this job
        with self.lock:
            outcome = self.handler.run(self.classifier, job, settings)
        if outcome is None:
            return False
        for sink in self.sinks:
            sink.publish(outcome, settings)
        t = outcome.result.timing_ms
        # the worker's own time outside the classifier (the frame was made in the callback)
        node_ms = max(0.0, (time.perf_counter() - t0) * 1e3 - t.inference - t.postprocess
                      - outcome.worker_preprocess_ms)
        age_ms = None if received is None else (time.time_ns() - received) / 1e6
        self.stats.add_result(outcome.result, node_ms, age_ms)
        return True

    def on_job_error(self, job: Any, exc: BaseException) -> None:
        self.wiring.node.get_logger().error(
            f"{self.input_name}: processing a frame failed: {type(exc).__name__}: {exc}",
            throttle_duration_sec=BAD_FRAME_LOG_PERIOD)

    # --- model swap, settings, counters -----------------------------------------------------------
    def settings_changed(self, settings: NodeSettings) -> None:
        """A live parameter changed: sinks that appear on demand (the debug image) may appear."""
        for sink in self.sinks:
            changed = getattr(sink, "settings_changed", None)
            if changed is not None:
                changed(settings)

    def worker_stats(self) -> WorkerStats:
        """The runner's counters as the camera sees them: bad frames and failed preparations
        were received (and never reached the runner)."""
        with self._counts_lock:
            prep_errors = self._prepare_errors
        w = self.worker.stats()
        bad = self.stats.bad_frames
        return dataclasses.replace(w, received=w.received + bad + prep_errors,
                                   processed=w.processed + bad, errors=w.errors + prep_errors)

    def counters(self) -> dict[str, Any]:
        w = self.worker_stats()
        out: dict[str, Any] = {"received": w.received, "processed": w.processed,
                               "dropped": w.dropped, "errors": w.errors,
                               "published": self.stats.published,
                               "bad_frames": self.stats.bad_frames}
        extra = self.handler.counts()
        if extra is not None:
            out[self.handler.name] = extra
        return out


__all__ = ["Camera", "Handler", "Outcome", "Runner", "Sink", "Wiring", "camera_inputs",
           "BAD_FRAME_LOG_PERIOD"]
