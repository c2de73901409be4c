"""TEST STAND-IN for the few rclpy calls ``rdk_classifier.ros.node`` makes. NOT rclpy.

rclpy cannot be installed in CI, so the node module is driven end to end against this small
stand-in. It follows the signatures and the behaviour of ROS 2 Humble's rclpy where the node relies
on them (checked against rclpy's humble branch), and, with ``install(..., distro="jazzy")``, the
API shape of Jazzy's rclpy (7.1) where the two differ (checked against rclpy's jazzy branch):

- Humble: ``rclpy.qos_event.PublisherEventCallbacks`` without ``matched``; no
  ``rclpy.event_handler``; every subscription callback is called with the message only.
- Jazzy: ``rclpy.event_handler.PublisherEventCallbacks(matched=...)``: ``create_publisher(...,
  event_callbacks=...)`` calls ``matched(status)`` (``MatchedStatus``: current_count and its
  change) whenever the publisher's subscription count changes, and once at creation when
  subscriptions exist; ``rclpy.subscription.Subscription.CallbackType``: a callback that binds two
  arguments gets ``(msg, info)``, ``info`` a dict with ``source_timestamp`` and
  ``received_timestamp`` (ns, system clock), as rclpy's ``take_message`` builds it.
- ``rclpy.experimental.EventsExecutor`` only with ``events_executor=True`` (rclpy >= 7.1.4);
  ``rclpy.executors.SingleThreadedExecutor`` always. Executors record ``context`` and nodes and
  do not spin.

- ``Node(node_name, *, namespace=None, parameter_overrides=None, ...)``; declares ``use_sim_time``.
- ``declare_parameter(name, value=None, descriptor=None, ignore_override=False)`` and
  ``declare_parameters(namespace, parameters, ignore_override=False)``: the type comes from the
  value (an empty list is a BYTE_ARRAY, as in rclpy) or from a ``Parameter.Type``; declaring by
  type leaves the parameter unset; overrides win over defaults; type mismatches raise
  ``InvalidParameterTypeException``; range violations ``InvalidParameterValueException``.
- ``set_parameters(list)`` sets one parameter at a time, ``set_parameters_atomically(list)`` all at
  once; descriptors are applied first (read-only, type, integer/floating-point range), then every
  ``add_on_set_parameters_callback`` callback (newest first); a failure leaves the value as it was.
- ``get_parameter`` (``ParameterUninitializedException`` for an unset static parameter)
  and ``describe_parameter``; nothing else of the parameter API (the node calls no more).
- ``create_subscription(msg_type, topic, callback, qos_profile, *, ...,
  qos_overriding_options=None, raw=False)``: with ``raw=True`` the callback gets the message's
  CDR bytes (little endian, serialized by rosbags); ``qos_overriding_options`` declares the
  read-only ``qos_overrides.<resolved topic>.subscription.<policy>`` parameters with the given
  profile's values (an existing declaration is reused) and applies their values to the profile
  in place, as rclpy's ``_declare_qos_parameters`` does. ``destroy_subscription``,
  ``resolve_topic_name``.
- ``create_publisher(msg_type, topic, qos_profile, *, ...)`` with ``publish``,
  ``get_subscription_count`` and ``topic_name`` (the resolved name); ``create_timer``.
- ``get_logger()`` with ``debug/info/warning/warn/error/fatal(message, **kwargs)`` and the
  ``throttle_duration_sec`` / ``once`` / ``skip_first`` filters kept per call site, and the rule
  that a call site cannot change its severity or filters.
- ``get_clock().now()`` -> Time with ``nanoseconds`` and ``to_msg()``.
- ``QoSProfile(**kwargs)`` (history and/or depth required), the policy enums,
  ``qos_profile_sensor_data``.

Message packages (``std_msgs.msg``, ``sensor_msgs.msg``, ``vision_msgs.msg``, ...) are provided as
modules holding rosbags typestore classes, so the node builds real ROS 2 Humble messages that the
tests can serialize to CDR. ``diagnostic_updater`` is made unimportable, so the node's documented
fallback (publishing ``diagnostic_msgs/DiagnosticArray`` itself) is what runs here.

Messages travel through a ``Graph``: ``graph.publish(topic, msg)`` delivers to subscriptions
synchronously (as one executor callback each), publishers record what they publish, and
``graph.subscribe(topic)`` adds an outside subscriber (counted by ``get_subscription_count``).
"""

from __future__ import annotations

import array
import contextlib
import enum
import importlib
import inspect
import math
import sys
import threading
import time
import types
from dataclasses import dataclass, field
from typing import Callable, Optional

from rdk_classifier.ros import rosbags_types


# --- rcl_interfaces.msg ---------------------------------------------------------------------------
class ParameterType:
    PARAMETER_NOT_SET = 0
    PARAMETER_BOOL = 1
    PARAMETER_INTEGER = 2
    PARAMETER_DOUBLE = 3
    PARAMETER_STRING = 4
    PARAMETER_BYTE_ARRAY = 5
    PARAMETER_BOOL_ARRAY = 6
    PARAMETER_INTEGER_ARRAY = 7
    PARAMETER_DOUBLE_ARRAY = 8
    PARAMETER_STRING_ARRAY = 9


@dataclass
class IntegerRange:
    from_value: int = 0
    to_value: int = 0
    step: int = 0


@dataclass
class FloatingPointRange:
    from_value: float = 0.0
    to_value: float = 0.0
    step: float = 0.0


@dataclass
class ParameterDescriptor:
    name: str = ""
    type: int = 0
    description: str = ""
    additional_constraints: str = ""
    read_only: bool = False
    dynamic_typing: bool = False
    floating_point_range: list = field(default_factory=list)
    integer_range: list = field(default_factory=list)


@dataclass
class SetParametersResult:
    successful: bool = False
    reason: str = ""


# --- rclpy.exceptions (messages as rclpy builds them) -------------------------------------------
class ParameterException(Exception):
    def __init__(self, error_msg, parameters, *args):
        Exception.__init__(self, f"{error_msg}: {parameters}")


class ParameterNotDeclaredException(ParameterException):
    def __init__(self, parameters, *args):
        Exception.__init__(self, "Invalid access to undeclared parameter(s)", parameters, *args)


class ParameterAlreadyDeclaredException(ParameterException):
    def __init__(self, parameters, *args):
        Exception.__init__(self, "Parameter(s) already declared", parameters, *args)


class InvalidParameterTypeException(ParameterException):
    def __init__(self, desired_parameter, expected_type, *args):
        Exception.__init__(
            self, f"Trying to set parameter '{desired_parameter.name}' to "
                  f"'{desired_parameter.value}' of type "
                  f"'{Parameter.Type.from_parameter_value(desired_parameter.value).name}', "
                  f"expecting type '{expected_type}'", *args)


class InvalidParameterValueException(ParameterException):
    def __init__(self, parameter, value, reason, *args):
        Exception.__init__(self, f"Invalid parameter value ({value}) for parameter. "
                                 f"Reason: {reason}", parameter, *args)


class ParameterUninitializedException(ParameterException):
    def __init__(self, parameter_name, *args):
        Exception.__init__(self, f"The parameter '{parameter_name}' is not initialized", *args)


class ExternalShutdownException(Exception):
    pass


# --- rclpy.parameter ------------------------------------------------------------------------------
class Parameter:
    class Type(enum.Enum):
        NOT_SET = ParameterType.PARAMETER_NOT_SET
        BOOL = ParameterType.PARAMETER_BOOL
        INTEGER = ParameterType.PARAMETER_INTEGER
        DOUBLE = ParameterType.PARAMETER_DOUBLE
        STRING = ParameterType.PARAMETER_STRING
        BYTE_ARRAY = ParameterType.PARAMETER_BYTE_ARRAY
        BOOL_ARRAY = ParameterType.PARAMETER_BOOL_ARRAY
        INTEGER_ARRAY = ParameterType.PARAMETER_INTEGER_ARRAY
        DOUBLE_ARRAY = ParameterType.PARAMETER_DOUBLE_ARRAY
        STRING_ARRAY = ParameterType.PARAMETER_STRING_ARRAY

        @classmethod
        def from_parameter_value(cls, v):
            if v is None:
                return cls.NOT_SET
            if isinstance(v, bool):
                return cls.BOOL
            if isinstance(v, int):
                return cls.INTEGER
            if isinstance(v, float):
                return cls.DOUBLE
            if isinstance(v, str):
                return cls.STRING
            if isinstance(v, (list, tuple, array.array)):
                # the order of rclpy's checks: an empty list is a BYTE_ARRAY
                for t, py in ((cls.BYTE_ARRAY, bytes), (cls.BOOL_ARRAY, bool),
                              (cls.INTEGER_ARRAY, int), (cls.DOUBLE_ARRAY, float),
                              (cls.STRING_ARRAY, str)):
                    if all(isinstance(x, py) for x in v):
                        return t
                raise TypeError(f"The given value is not a list of one of the allowed types '{v}'.")
            raise TypeError(f"The given value is not one of the allowed types '{v}'.")

        def check(self, v):
            T = type(self)
            if self is T.NOT_SET:
                return v is None
            scalar = {T.BOOL: bool, T.INTEGER: int, T.DOUBLE: float, T.STRING: str}
            if self in scalar:
                return isinstance(v, scalar[self])
            items = {T.BYTE_ARRAY: bytes, T.BOOL_ARRAY: bool, T.INTEGER_ARRAY: int,
                     T.DOUBLE_ARRAY: float, T.STRING_ARRAY: str}
            return isinstance(v, (list, tuple, array.array)) and \
                all(isinstance(x, items[self]) for x in v)

    def __init__(self, name, type_=None, value=None):
        if type_ is None:
            type_ = Parameter.Type.from_parameter_value(value)
        if not isinstance(type_, Parameter.Type):
            raise TypeError(f"type must be an instance of '{Parameter.Type!r}'")
        if not type_.check(value):
            raise ValueError(f"Type '{type_}' and value '{value}' do not agree")
        self._type_ = type_
        self._name = name
        self._value = value

    name = property(lambda self: self._name)
    type_ = property(lambda self: self._type_)
    value = property(lambda self: self._value)


# --- rclpy.qos ------------------------------------------------------------------------------------
class HistoryPolicy(enum.IntEnum):
    SYSTEM_DEFAULT = 0
    KEEP_LAST = 1
    KEEP_ALL = 2
    UNKNOWN = 3


class ReliabilityPolicy(enum.IntEnum):
    SYSTEM_DEFAULT = 0
    RELIABLE = 1
    BEST_EFFORT = 2
    UNKNOWN = 3


class DurabilityPolicy(enum.IntEnum):
    SYSTEM_DEFAULT = 0
    TRANSIENT_LOCAL = 1
    VOLATILE = 2
    UNKNOWN = 3


class InvalidQoSProfileException(Exception):
    pass


class QoSPolicyKind(enum.IntEnum):
    INVALID = 1 << 0
    DURABILITY = 1 << 1
    DEADLINE = 1 << 2
    LIVELINESS = 1 << 3
    RELIABILITY = 1 << 4
    HISTORY = 1 << 5
    LIFESPAN = 1 << 6
    DEPTH = 1 << 7
    LIVELINESS_LEASE_DURATION = 1 << 8
    AVOID_ROS_NAMESPACE_CONVENTIONS = 1 << 9


class QoSOverridingOptions:
    def __init__(self, policy_kinds, *, callback=None, entity_id=None):
        self.policy_kinds = tuple(policy_kinds)
        self.callback = callback
        self.entity_id = entity_id

    @classmethod
    def with_default_policies(cls, *, callback=None, entity_id=None):
        return cls(policy_kinds=(QoSPolicyKind.HISTORY, QoSPolicyKind.DEPTH,
                                 QoSPolicyKind.RELIABILITY), callback=callback,
                   entity_id=entity_id)


_QOS_ENUMS = {QoSPolicyKind.HISTORY: HistoryPolicy, QoSPolicyKind.RELIABILITY: ReliabilityPolicy,
              QoSPolicyKind.DURABILITY: DurabilityPolicy}


class QoSProfile:
    _FIELDS = ("history", "depth", "reliability", "durability", "lifespan", "deadline",
               "liveliness", "liveliness_lease_duration", "avoid_ros_namespace_conventions")

    def __init__(self, **kwargs):
        assert all(k in self._FIELDS for k in kwargs), f"Invalid arguments passed: {kwargs!r}"
        if "history" not in kwargs:
            if "depth" not in kwargs:
                raise InvalidQoSProfileException("History and/or depth settings are required.")
            kwargs["history"] = HistoryPolicy.KEEP_LAST
        self.history = HistoryPolicy(kwargs["history"])
        if self.history == HistoryPolicy.KEEP_LAST and "depth" not in kwargs:
            raise InvalidQoSProfileException("History set to KEEP_LAST without a depth setting.")
        self.depth = kwargs.get("depth", 10)
        self.reliability = ReliabilityPolicy(kwargs.get("reliability",
                                                        ReliabilityPolicy.RELIABLE))
        self.durability = DurabilityPolicy(kwargs.get("durability", DurabilityPolicy.VOLATILE))


qos_profile_sensor_data = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=5,
                                     reliability=ReliabilityPolicy.BEST_EFFORT,
                                     durability=DurabilityPolicy.VOLATILE)


# --- clock, logger --------------------------------------------------------------------------------
class Time:
    def __init__(self, nanoseconds: int) -> None:
        self._ns = int(nanoseconds)

    @property
    def nanoseconds(self) -> int:
        return self._ns

    def to_msg(self):
        sec, nsec = divmod(self._ns, 1_000_000_000)
        return Graph.current.typestore.types["builtin_interfaces/msg/Time"](sec=sec, nanosec=nsec)


class Clock:
    def now(self) -> Time:
        return Time(time.time_ns())


SEVERITIES = ("DEBUG", "INFO", "WARN", "ERROR", "FATAL")


class Logger:
    """Records (severity, message) of what was logged; filters per call site as rclpy does."""

    def __init__(self, name: str, records: list, graph_logs: Optional[list] = None) -> None:
        self.name = name
        self.records = records
        self.graph_logs = graph_logs
        self._contexts: dict = {}
        self._lock = threading.Lock()

    def _log(self, message, severity, **kwargs):
        allowed = {"throttle_duration_sec", "throttle_time_source_type", "skip_first", "once"}
        for k in kwargs:
            if k not in allowed:
                raise TypeError(f'parameter "{k}" is not one of the recognized logging options')
        frame = inspect.currentframe().f_back.f_back
        caller = (frame.f_code.co_name, frame.f_code.co_filename, frame.f_lineno, frame.f_lasti)
        filters = tuple(sorted(k for k in kwargs if k != "throttle_time_source_type"))
        with self._lock:
            ctx = self._contexts.get(caller)
            if ctx is None:
                ctx = self._contexts[caller] = {"severity": severity, "filters": filters,
                                                "kwargs": dict(kwargs), "last": None,
                                                "first": True}
            else:
                if ctx["severity"] != severity:
                    raise ValueError("Logger severity cannot be changed between calls.")
                if ctx["filters"] != filters or ctx["kwargs"] != kwargs:
                    raise ValueError("Requested logging filters cannot be changed between calls.")
            if kwargs.get("once") and not ctx["first"]:
                return False
            if kwargs.get("skip_first") and ctx["first"]:
                ctx["first"] = False
                return False
            ctx["first"] = False
            period = kwargs.get("throttle_duration_sec")
            if period is not None:
                now = time.monotonic()
                if ctx["last"] is not None and now < ctx["last"] + period:
                    return False
                ctx["last"] = now
            self.records.append((severity, str(message)))
            if self.graph_logs is not None:
                self.graph_logs.append((self.name, severity, str(message)))
        return True

    def debug(self, message, **kwargs):
        return self._log(message, "DEBUG", **kwargs)

    def info(self, message, **kwargs):
        return self._log(message, "INFO", **kwargs)

    def warning(self, message, **kwargs):
        return self._log(message, "WARN", **kwargs)

    def warn(self, message, **kwargs):
        return self._log(message, "WARN", **kwargs)

    def error(self, message, **kwargs):
        return self._log(message, "ERROR", **kwargs)

    def fatal(self, message, **kwargs):
        return self._log(message, "FATAL", **kwargs)

    def messages(self, severity: Optional[str] = None) -> list[str]:
        return [m for s, m in self.records if severity is None or s == severity]


# --- graph: topics, publishers, subscriptions, timers ---------------------------------------------
def _resolve(namespace: str, name: str) -> str:
    if name.startswith("~"):
        raise ValueError("private names are not used by the node under test")
    if name.startswith("/"):
        return name
    return namespace.rstrip("/") + "/" + name


class Publisher:
    def __init__(self, graph: "Graph", msg_type, topic: str, qos: QoSProfile,
                 event_callbacks=None) -> None:
        self._graph = graph
        self.msg_type = msg_type
        self.topic = topic
        self.qos_profile = qos
        self.published: list = []
        self._lock = threading.Lock()
        self.event_callbacks = event_callbacks
        self.matched_events: list[MatchedStatus] = []   # every matched event delivered
        self._matched = MatchedStatus()

    @property
    def topic_name(self) -> str:
        return self.topic

    def publish(self, msg) -> None:
        if not isinstance(msg, self.msg_type):
            raise TypeError(f"publish() on {self.topic}: {type(msg).__name__} is not "
                            f"{self.msg_type.__name__}")
        with self._lock:
            self.published.append(msg)

    def get_subscription_count(self) -> int:
        return self._graph.subscription_count(self.topic)

    def _update_matched(self) -> None:
        """Jazzy: the ``matched`` event callback runs when the subscription count changed."""
        callback = getattr(self.event_callbacks, "matched", None)
        now = self.get_subscription_count()
        change = now - self._matched.current_count
        if callback is None or change == 0:
            return
        self._matched = MatchedStatus(
            total_count=self._matched.total_count + max(change, 0),
            total_count_change=max(change, 0), current_count=now, current_count_change=change)
        self.matched_events.append(self._matched)
        callback(self._matched)


class Subscription:
    def __init__(self, msg_type, topic: str, callback, qos: QoSProfile, raw: bool = False) -> None:
        self.msg_type = msg_type
        self.topic = topic
        self.callback = callback
        self.qos_profile = qos
        self.raw = raw

    @property
    def topic_name(self) -> str:
        return self.topic

    def deliver(self, msg) -> None:
        """One executor callback: Humble's rclpy calls every callback with the message only."""
        self.callback(msg)


class JazzySubscription(Subscription):
    """Jazzy's Subscription: a callback that binds two arguments gets ``(msg, MessageInfo)``."""

    class CallbackType(enum.Enum):
        MessageOnly = 0
        WithMessageInfo = 1

    @property
    def callback(self):
        return self._callback

    @callback.setter
    def callback(self, value):  # as rclpy 7.1 decides, from the signature
        self._callback = value
        self._callback_type = JazzySubscription.CallbackType.MessageOnly
        try:
            inspect.signature(value).bind(object())
            return
        except TypeError:
            pass
        try:
            inspect.signature(value).bind(object(), object())
            self._callback_type = JazzySubscription.CallbackType.WithMessageInfo
            return
        except TypeError:
            pass
        raise RuntimeError("Subscription.__init__(): callback should be either be callable with "
                           "one argument(to get only the message) or two (to get message and "
                           "message info)")

    def deliver(self, msg) -> None:
        if self._callback_type is JazzySubscription.CallbackType.WithMessageInfo:
            now = time.time_ns()
            self._callback(msg, {"source_timestamp": now, "received_timestamp": now,
                                 "publication_sequence_number": None,
                                 "reception_sequence_number": None})
        else:
            self._callback(msg)


@dataclass(frozen=True)
class MatchedStatus:
    """``rmw_matched_status_t`` as rclpy hands it to a matched callback."""

    total_count: int = 0
    total_count_change: int = 0
    current_count: int = 0
    current_count_change: int = 0


class HumblePublisherEventCallbacks:
    """rclpy.qos_event.PublisherEventCallbacks on Humble: no ``matched``."""

    def __init__(self, *, deadline=None, incompatible_qos=None, liveliness=None,
                 use_default_callbacks=True) -> None:
        self.deadline, self.incompatible_qos, self.liveliness = deadline, incompatible_qos, liveliness
        self.use_default_callbacks = use_default_callbacks


class JazzyPublisherEventCallbacks(HumblePublisherEventCallbacks):
    """rclpy.event_handler.PublisherEventCallbacks on Jazzy: ``matched`` added."""

    def __init__(self, *, deadline=None, incompatible_qos=None, liveliness=None,
                 incompatible_type=None, matched=None, use_default_callbacks=True) -> None:
        super().__init__(deadline=deadline, incompatible_qos=incompatible_qos,
                         liveliness=liveliness, use_default_callbacks=use_default_callbacks)
        self.incompatible_type = incompatible_type
        self.matched = matched


class SingleThreadedExecutor:
    """Records what it is given; the stand-in does not spin (the test drives callbacks)."""

    def __init__(self, *, context=None) -> None:
        self.context = context
        self.nodes: list = []

    def add_node(self, node) -> bool:
        self.nodes.append(node)
        return True

    def spin(self) -> None:
        raise RuntimeError("the stand-in does not spin; the test drives callbacks and timers")

    def shutdown(self, timeout_sec=None) -> bool:
        return True


class EventsExecutor(SingleThreadedExecutor):
    """rclpy.experimental.EventsExecutor (rclpy >= 7.1.4), present only when installed so."""


class Timer:
    def __init__(self, period: float, callback: Callable) -> None:
        self.timer_period_ns = int(float(period) * 1e9)
        self.callback = callback
        self.canceled = False

    def cancel(self) -> None:
        self.canceled = True

    def fire(self) -> None:
        """Run the callback now (what the executor does when the period has elapsed)."""
        if not self.canceled:
            self.callback()


class Graph:
    """Everything the stand-in nodes created, for the test to inspect and drive."""

    current: "Graph"

    def __init__(self, typestore, distro: str = "humble", events_executor: bool = False) -> None:
        self.typestore = typestore
        #: which rclpy API shape is emulated: "humble" or "jazzy" (see ``install``)
        self.distro = distro
        self.events_executor = events_executor
        self.nodes: list["Node"] = []
        self.outside_subscribers: dict[str, int] = {}
        self.initialized = False
        self.global_overrides: dict[str, "Parameter"] = {}
        self.logs: list[tuple[str, str, str]] = []   # (logger name, severity, message), all nodes

    def publishers(self, topic: str) -> list[Publisher]:
        return [p for n in self.nodes for p in n._publishers if p.topic == topic]

    def published(self, topic: str) -> list:
        return [m for p in self.publishers(topic) for m in list(p.published)]

    def subscriptions(self, topic: str) -> list[Subscription]:
        return [s for n in self.nodes for s in n._subscriptions if s.topic == topic]

    def subscription_count(self, topic: str) -> int:
        return len(self.subscriptions(topic)) + self.outside_subscribers.get(topic, 0)

    def subscribe(self, topic: str) -> None:
        """An outside subscriber appears on ``topic``."""
        self.outside_subscribers[topic] = self.outside_subscribers.get(topic, 0) + 1
        self.matched_changed(topic)

    def unsubscribe(self, topic: str) -> None:
        """An outside subscriber leaves ``topic``."""
        self.outside_subscribers[topic] -= 1
        self.matched_changed(topic)

    def matched_changed(self, topic: str) -> None:
        """The subscriptions of ``topic`` changed: publishers with a matched callback hear of it
        (Jazzy; on Humble no publisher has one)."""
        for p in self.publishers(topic):
            p._update_matched()

    def publish(self, topic: str, msg) -> int:
        """Deliver ``msg`` to every subscription on ``topic``; returns how many got it."""
        subs = self.subscriptions(topic)
        serialized = None
        for s in subs:
            if not isinstance(msg, s.msg_type):
                raise TypeError(f"{topic}: subscription wants {s.msg_type.__name__}")
            if s.raw:
                if serialized is None:
                    serialized = bytes(self.typestore.serialize_cdr(msg, msg.__msgtype__))
                s.deliver(serialized)
            else:
                s.deliver(msg)
        return len(subs)

    def timers(self) -> list[Timer]:
        return [t for n in self.nodes for t in n._timers]

    def fire_timers(self) -> None:
        for t in self.timers():
            t.fire()


class Node:
    def __init__(self, node_name, *, context=None, cli_args=None, namespace=None,
                 use_global_arguments=True, enable_rosout=True, start_parameter_services=True,
                 parameter_overrides=None, allow_undeclared_parameters=False,
                 automatically_declare_parameters_from_overrides=False) -> None:
        if not Graph.current.initialized:
            raise RuntimeError("rclpy.init() has not been called")
        self._graph = Graph.current
        self._name = node_name
        self._namespace = namespace or "/"
        self._parameters: dict[str, Parameter] = {}
        self._descriptors: dict[str, ParameterDescriptor] = {}
        self._callbacks: list = []
        self._overrides = dict(self._graph.global_overrides) if use_global_arguments else {}
        self._overrides.update({p.name: p for p in (parameter_overrides or [])})
        self._allow_undeclared = allow_undeclared_parameters
        self._publishers: list[Publisher] = []
        self._subscriptions: list[Subscription] = []
        self._timers: list[Timer] = []
        self.log_records: list = []
        self._logger = Logger(node_name, self.log_records, self._graph.logs)
        self._clock = Clock()
        self.destroyed = False
        self._graph.nodes.append(self)
        self.declare_parameter("use_sim_time", False)

    def get_name(self) -> str:
        return self._name

    def get_namespace(self) -> str:
        return self._namespace

    def get_logger(self) -> Logger:
        return self._logger

    def get_clock(self) -> Clock:
        return self._clock

    # parameters
    def declare_parameter(self, name, value=None, descriptor=None, ignore_override=False):
        if value is None and descriptor is None:
            args = (name,)
        else:
            args = (name, value, ParameterDescriptor() if descriptor is None else descriptor)
        return self.declare_parameters("", [args], ignore_override)[0]

    def declare_parameters(self, namespace, parameters, ignore_override=False):
        plist, descriptors = [], {}
        for t in parameters:
            if not 1 <= len(t) <= 3:
                raise TypeError("Invalid parameter tuple length")
            name = t[0]
            second = t[1] if len(t) > 1 else None
            descriptor = t[2] if len(t) > 2 else ParameterDescriptor()
            if not isinstance(descriptor, ParameterDescriptor):
                raise TypeError("Third element is not a ParameterDescriptor.")
            if len(t) == 1:
                descriptor.dynamic_typing = True
            value = None
            if isinstance(second, Parameter.Type):
                if second == Parameter.Type.NOT_SET:
                    raise ValueError(f"Cannot declare parameter {{{name}}} as statically typed "
                                     f"of type NOT_SET")
                if descriptor.dynamic_typing:
                    raise ValueError("dynamic_typing=True is not allowed with a type")
                descriptor.type = second.value
            else:
                value = second
                if not descriptor.dynamic_typing and value is not None:
                    descriptor.type = Parameter.Type.from_parameter_value(value).value
            if not ignore_override and name in self._overrides:
                value = self._overrides[name].value
            if namespace:
                name = f"{namespace}.{name}"
            plist.append(Parameter(name, value=value))
            descriptors[name] = descriptor
        already = [p.name for p in plist if p.name in self._parameters]
        if already:
            raise ParameterAlreadyDeclaredException(already)
        for p in plist:
            result = self._set_atomically([p], descriptors, check_read_only=False,
                                          allow_not_set=True)
            if not result.successful:
                if result.reason.startswith("Wrong parameter type"):
                    expected = Parameter.Type(descriptors[p.name].type).name
                    raise InvalidParameterTypeException(p, expected)
                raise InvalidParameterValueException(p.name, p.value, result.reason)
        return [self._parameters[p.name] for p in plist]

    def has_parameter(self, name) -> bool:
        return name in self._parameters

    def get_parameter(self, name) -> Parameter:
        if name in self._parameters:
            p = self._parameters[name]
            if p.type_ != Parameter.Type.NOT_SET or self._descriptors[name].dynamic_typing:
                return p
            raise ParameterUninitializedException(name)
        if self._allow_undeclared:
            return Parameter(name, Parameter.Type.NOT_SET, None)
        raise ParameterNotDeclaredException(name)

    def describe_parameter(self, name) -> ParameterDescriptor:
        return self._descriptors[name]

    def add_on_set_parameters_callback(self, callback) -> None:
        self._callbacks.insert(0, callback)

    def set_parameters(self, parameter_list) -> list[SetParametersResult]:
        for p in parameter_list:
            if p.name not in self._parameters and not self._allow_undeclared:
                raise ParameterNotDeclaredException([p.name])
        return [self._set_atomically([p], None) for p in parameter_list]

    def set_parameters_atomically(self, parameter_list) -> SetParametersResult:
        for p in parameter_list:
            if p.name not in self._parameters and not self._allow_undeclared:
                raise ParameterNotDeclaredException([p.name])
        return self._set_atomically(list(parameter_list), None)

    def _apply_descriptor(self, p: Parameter, d: ParameterDescriptor,
                          check_read_only: bool) -> SetParametersResult:
        if check_read_only and d.read_only:
            return SetParametersResult(successful=False,
                                       reason=f"Trying to set a read-only parameter: {p.name}.")
        if d.dynamic_typing:
            d.type = p.type_.value
        elif p.name in self._parameters and p.type_ == Parameter.Type.NOT_SET:
            return SetParametersResult(successful=False,
                                       reason="Static parameter cannot be undeclared")
        elif p.type_ != Parameter.Type.NOT_SET and p.type_.value != d.type:
            return SetParametersResult(
                successful=False, reason=f"Wrong parameter type, expected "
                                         f"'{Parameter.Type(d.type)}' got '{p.type_}'")
        if p.type_ == Parameter.Type.INTEGER and d.integer_range:
            r = d.integer_range[0]
            lo, hi = min(r.from_value, r.to_value), max(r.from_value, r.to_value)
            if p.value not in (lo, hi) and not lo < p.value < hi:
                return SetParametersResult(successful=False,
                                           reason=f"Parameter {p.name} out of range. Min: {lo}, "
                                                  f"Max: {hi}, value: {p.value}")
            if r.step and p.value not in (lo, hi) and (p.value - lo) % r.step:
                return SetParametersResult(successful=False, reason="not a valid step")
        if p.type_ == Parameter.Type.DOUBLE and d.floating_point_range:
            r = d.floating_point_range[0]
            lo, hi = min(r.from_value, r.to_value), max(r.from_value, r.to_value)
            edge = math.isclose(p.value, lo, rel_tol=1e-6) or math.isclose(p.value, hi,
                                                                           rel_tol=1e-6)
            if not edge and not lo < p.value < hi:
                return SetParametersResult(successful=False,
                                           reason=f"Parameter {p.name} out of range Min: {lo}, "
                                                  f"Max: {hi}, value: {p.value}")
        return SetParametersResult(successful=True)

    def _set_atomically(self, plist, descriptors, check_read_only=True,
                        allow_not_set=False) -> SetParametersResult:
        for p in plist:
            d = descriptors[p.name] if descriptors is not None else self._descriptors[p.name]
            d.name = p.name
            result = self._apply_descriptor(p, d, check_read_only)
            if not result.successful:
                return result
        for callback in self._callbacks:
            result = callback(plist)
            if not result.successful:
                return result
        for p in plist:
            if descriptors is not None:
                self._descriptors[p.name] = descriptors[p.name]
            self._parameters[p.name] = p
        return SetParametersResult(successful=True)

    # communication
    def _check_topic(self, topic: str) -> None:
        if not topic or any(c.isspace() for c in topic) or "//" in topic:
            raise ValueError(f"invalid topic name {topic!r}")

    def create_publisher(self, msg_type, topic, qos_profile, *, callback_group=None,
                         event_callbacks=None, qos_overriding_options=None,
                         publisher_class=None) -> Publisher:
        self._check_topic(topic)
        qos = qos_profile if isinstance(qos_profile, QoSProfile) else QoSProfile(depth=qos_profile)
        expected = (JazzyPublisherEventCallbacks if self._graph.distro == "jazzy"
                    else HumblePublisherEventCallbacks)
        if event_callbacks is not None and type(event_callbacks) is not expected:
            raise TypeError(f"event_callbacks: {type(event_callbacks).__name__} is not this "
                            f"rclpy's PublisherEventCallbacks")
        pub = Publisher(self._graph, msg_type, _resolve(self._namespace, topic), qos,
                        event_callbacks)
        self._publishers.append(pub)
        pub._update_matched()  # subscriptions already there match the new publisher
        return pub

    def create_subscription(self, msg_type, topic, callback, qos_profile, *,
                            callback_group=None, event_callbacks=None,
                            qos_overriding_options=None, raw=False) -> Subscription:
        self._check_topic(topic)
        qos = qos_profile if isinstance(qos_profile, QoSProfile) else QoSProfile(depth=qos_profile)
        resolved = _resolve(self._namespace, topic)
        if qos_overriding_options is not None:
            self._declare_qos_parameters(resolved, qos, qos_overriding_options)
        kind = JazzySubscription if self._graph.distro == "jazzy" else Subscription
        sub = kind(msg_type, resolved, callback, qos, raw)
        self._subscriptions.append(sub)
        self._graph.matched_changed(resolved)
        return sub

    def _declare_qos_parameters(self, topic, qos, options) -> None:
        suffix = "" if options.entity_id is None else f"_{options.entity_id}"
        for policy in options.policy_kinds:
            field_name = policy.name.lower()
            name = f"qos_overrides.{topic}.subscription{suffix}.{field_name}"
            value = getattr(qos, field_name)
            if policy in _QOS_ENUMS:
                value = value.name.lower()
            try:
                param = self.declare_parameter(name, value, ParameterDescriptor(read_only=True))
            except ParameterAlreadyDeclaredException:
                param = self.get_parameter(name)
            value = param.value
            if policy in _QOS_ENUMS:
                try:
                    value = _QOS_ENUMS[policy][value.upper()]
                except KeyError:
                    raise RuntimeError(f"Unexpected QoS override for policy `{field_name}`: "
                                       f"`{value}`") from None
            setattr(qos, field_name, value)

    def destroy_subscription(self, subscription) -> bool:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)
            self._graph.matched_changed(subscription.topic)
            return True
        return False

    def resolve_topic_name(self, topic, *, only_expand=False) -> str:
        return _resolve(self._namespace, topic)

    def create_timer(self, timer_period_sec, callback, callback_group=None, clock=None) -> Timer:
        timer = Timer(timer_period_sec, callback)
        self._timers.append(timer)
        return timer

    def destroy_node(self) -> None:
        self.destroyed = True
        for t in self._timers:
            t.cancel()
        topics = {s.topic for s in self._subscriptions}
        self._subscriptions.clear()
        if self in self._graph.nodes:
            self._graph.nodes.remove(self)
        for topic in topics:
            self._graph.matched_changed(topic)


# --- module assembly ------------------------------------------------------------------------------
def _module(name: str, **attrs) -> types.ModuleType:
    m = types.ModuleType(name)
    m.__dict__.update(attrs)
    m.__doc__ = "TEST STAND-IN (see test/rclpy_standin.py), not the real package"
    return m


def _message_package(typestore, package: str) -> types.ModuleType:
    prefix = f"{package}/msg/"
    return _module(f"{package}.msg", **{name[len(prefix):]: cls
                                        for name, cls in typestore.types.items()
                                        if name.startswith(prefix)})


MESSAGE_PACKAGES = ("builtin_interfaces", "std_msgs", "sensor_msgs", "vision_msgs",
                    "diagnostic_msgs", "geometry_msgs", "ai_msgs")
#: installed only when asked (``install(..., hbm=True)``): optional for the node
OPTIONAL_PACKAGES = ("hbm_img_msgs",)


def _parameters_from_args(args: list[str]) -> dict[str, Parameter]:
    """``--ros-args -p name:=value`` (value parsed as YAML, as rcl does) -> overrides."""
    import yaml

    out: dict[str, Parameter] = {}
    if "--ros-args" not in args:
        return out
    rest = args[args.index("--ros-args") + 1:]
    for flag, value in zip(rest, rest[1:]):
        if flag in ("-p", "--param") and ":=" in value:
            name, text = value.split(":=", 1)
            out[name] = Parameter(name, value=yaml.safe_load(text))
    return out


def build_modules(graph: Graph) -> dict[str, Optional[types.ModuleType]]:
    """``sys.modules`` entries that make ``import rclpy`` and the message packages resolve here."""

    def init(*, args=None, context=None, domain_id=None, signal_handler_options=None):
        if graph.initialized:
            raise RuntimeError("Failed to init: rcl_init called while already initialized")
        graph.initialized = True
        graph.global_overrides = _parameters_from_args(args or [])

    def shutdown(*, context=None, uninstall_handlers=None):
        if not graph.initialized:
            raise RuntimeError("Failed to shutdown: rcl_shutdown already called")
        graph.initialized = False

    def try_shutdown(*, context=None):
        graph.initialized = False

    def ok(*, context=None):
        return graph.initialized

    def spin(node, executor=None):
        raise RuntimeError("the stand-in does not spin; the test drives callbacks and timers")

    logging_mod = _module("rclpy.logging", get_logger=lambda name: Logger(name, [], graph.logs))
    modules: dict[str, Optional[types.ModuleType]] = {
        "rclpy": _module("rclpy", init=init, shutdown=shutdown, try_shutdown=try_shutdown, ok=ok,
                         spin=spin, logging=logging_mod, Parameter=Parameter),
        "rclpy.node": _module("rclpy.node", Node=Node, Parameter=Parameter,
                              ParameterDescriptor=ParameterDescriptor),
        "rclpy.parameter": _module("rclpy.parameter", Parameter=Parameter),
        "rclpy.qos": _module("rclpy.qos", QoSProfile=QoSProfile, HistoryPolicy=HistoryPolicy,
                             ReliabilityPolicy=ReliabilityPolicy,
                             DurabilityPolicy=DurabilityPolicy,
                             QoSHistoryPolicy=HistoryPolicy,
                             QoSReliabilityPolicy=ReliabilityPolicy,
                             QoSDurabilityPolicy=DurabilityPolicy,
                             qos_profile_sensor_data=qos_profile_sensor_data,
                             QoSPolicyKind=QoSPolicyKind,
                             InvalidQoSProfileException=InvalidQoSProfileException),
        "rclpy.qos_overriding_options": _module("rclpy.qos_overriding_options",
                                                QoSOverridingOptions=QoSOverridingOptions),
        "rclpy.executors": _module("rclpy.executors",
                                   ExternalShutdownException=ExternalShutdownException,
                                   SingleThreadedExecutor=SingleThreadedExecutor),
        "rclpy.exceptions": _module(
            "rclpy.exceptions", ParameterException=ParameterException,
            ParameterNotDeclaredException=ParameterNotDeclaredException,
            ParameterAlreadyDeclaredException=ParameterAlreadyDeclaredException,
            InvalidParameterTypeException=InvalidParameterTypeException,
            InvalidParameterValueException=InvalidParameterValueException,
            ParameterUninitializedException=ParameterUninitializedException),
        "rclpy.logging": logging_mod,
        "rcl_interfaces": _module("rcl_interfaces"),
        "rcl_interfaces.msg": _module("rcl_interfaces.msg", ParameterDescriptor=ParameterDescriptor,
                                      SetParametersResult=SetParametersResult,
                                      IntegerRange=IntegerRange,
                                      FloatingPointRange=FloatingPointRange,
                                      ParameterType=ParameterType),
        # not installed here: the node must use its documented /diagnostics fallback
        "diagnostic_updater": None,
    }
    # the API shapes that differ between Humble and Jazzy (see rdk_classifier.ros.distro)
    if graph.distro == "jazzy":
        modules["rclpy.subscription"] = _module("rclpy.subscription",
                                                Subscription=JazzySubscription)
        modules["rclpy.event_handler"] = _module(
            "rclpy.event_handler", PublisherEventCallbacks=JazzyPublisherEventCallbacks)
        modules["rclpy.qos_event"] = modules["rclpy.event_handler"]  # kept as an alias
    else:
        modules["rclpy.subscription"] = _module("rclpy.subscription", Subscription=Subscription)
        modules["rclpy.event_handler"] = None  # Humble has no such module
        modules["rclpy.qos_event"] = _module(
            "rclpy.qos_event", PublisherEventCallbacks=HumblePublisherEventCallbacks)
    modules["rclpy.experimental"] = (_module("rclpy.experimental", EventsExecutor=EventsExecutor)
                                     if graph.events_executor else None)
    for pkg in MESSAGE_PACKAGES:
        modules[pkg] = _module(pkg)
        modules[f"{pkg}.msg"] = _message_package(graph.typestore, pkg)
    for pkg in OPTIONAL_PACKAGES:  # importable only when registered in the typestore
        present = any(name.startswith(f"{pkg}/") for name in graph.typestore.types)
        if present:
            modules[pkg] = _module(pkg, msg=_message_package(graph.typestore, pkg))
            modules[f"{pkg}.msg"] = modules[pkg].msg
        else:
            modules[pkg] = modules[f"{pkg}.msg"] = None
    return modules


def install(monkeypatch, hbm: bool = False, distro: str = "humble",
            events_executor: bool = False) -> Graph:
    """Put the stand-in into ``sys.modules`` for one test (undone by ``monkeypatch``) and make
    ``rdk_classifier.ros.node`` import fresh against it. ``hbm``: hbm_img_msgs is installed.
    ``distro``: the rclpy API shape, ``humble`` (rclpy.qos_event without ``matched``, callbacks
    get the message only) or ``jazzy`` (rclpy.event_handler with ``matched`` events, two-argument
    callbacks get ``(msg, MessageInfo)``); ``events_executor``: rclpy.experimental.EventsExecutor
    exists (Jazzy rclpy >= 7.1.4)."""
    if distro not in ("humble", "jazzy"):
        raise ValueError(f"distro must be humble or jazzy, got {distro!r}")
    typestore = rosbags_types.humble_typestore()
    if hbm:
        rosbags_types.register_hbm_img_msgs(typestore)
    graph = Graph(typestore, distro=distro, events_executor=events_executor)
    Graph.current = graph
    for name, module in build_modules(graph).items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.delitem(sys.modules, "rdk_classifier.ros.node", raising=False)
    return graph


__all__ = ["Graph", "Node", "Parameter", "ParameterDescriptor", "SetParametersResult",
           "QoSProfile", "HistoryPolicy", "ReliabilityPolicy", "DurabilityPolicy", "QoSPolicyKind",
           "QoSOverridingOptions", "install", "MatchedStatus", "SingleThreadedExecutor",
           "EventsExecutor", "HumblePublisherEventCallbacks", "JazzyPublisherEventCallbacks",
           "build_modules", "SEVERITIES"]


@contextlib.contextmanager
def node_harness(monkeypatch, hbm: bool = False, distro: str = "humble",
                 events_executor: bool = False):
    """The stand-in installed, and ``graph.make(**params)`` building ClassifierNodes (lazy off
    unless given: most tests publish frames without a listener; malloc tuning off: it would
    change this test process's allocator). Every node is destroyed and rclpy shut down after."""
    graph = install(monkeypatch, hbm=hbm, distro=distro, events_executor=events_executor)
    monkeypatch.setenv("RDK_CLASSIFIER_MALLOC_TUNING", "0")
    monkeypatch.delitem(sys.modules, "rdk_classifier.ros.box_mode", raising=False)
    node_module = importlib.import_module("rdk_classifier.ros.node")
    nodes = []

    def make(args=None, **params):
        if not graph.initialized:
            sys.modules["rclpy"].init(args=args)
        params.setdefault("lazy", False)
        overrides = [Parameter(k, value=v) for k, v in params.items()]
        node = node_module.ClassifierNode(parameter_overrides=overrides)
        nodes.append(node)
        return node

    graph.make = make
    graph.module = node_module
    try:
        yield graph
    finally:
        for node in nodes:
            node.destroy_node()
        sys.modules["rclpy"].try_shutdown()
