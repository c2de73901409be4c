"""What the installed rclpy offers beyond the ROS 2 Humble API, found by feature checks.

The node runs on Humble (RDK X3/X5/S100, TogetheROS) and on Jazzy (RDK S600, PCs). Jazzy's rclpy
has three mechanisms the node can use where they exist; each is detected by looking at the API
itself, never by the distro's name (a Humble rclpy with a backport gets them too, a Jazzy build
older than the feature does not):

- ``publisher_matched``: ``PublisherEventCallbacks(matched=...)`` (rclpy.event_handler, Jazzy): a
  publisher is told when a subscription connects or leaves, so lazy mode needs no polling timer.
  Humble's ``rclpy.qos_event.PublisherEventCallbacks`` has no ``matched``.
- ``message_info``: a subscription callback that takes two arguments gets ``(msg, info)`` with
  ``info["received_timestamp"]`` (ns, when the middleware received the message; rclpy's
  ``Subscription.CallbackType.WithMessageInfo``). Humble calls every callback with the message only.
- ``events_executor``: ``rclpy.experimental.EventsExecutor`` (rclpy >= 7.1.4 on Jazzy): less CPU per
  message than the default executor.

Besides ``ros/node.py``, this is the one module that imports rclpy (lazily, in ``probe``).
"""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional

#: executors the node can spin with (parameter ``executor``)
EXECUTORS = ("single_threaded", "events")


@dataclass(frozen=True)
class RclpyFeatures:
    """What the installed rclpy has (see the module docstring)."""

    publisher_matched: bool = False
    message_info: bool = False
    events_executor: bool = False
    #: ROS_DISTRO of the sourced environment ("" when unset): for messages only, never a switch
    distro: str = ""

    def summary(self) -> str:
        have = [name for name, on in (("matched events", self.publisher_matched),
                                      ("message info", self.message_info),
                                      ("events executor", self.events_executor)) if on]
        where = f"ROS 2 {self.distro}" if self.distro else "ROS 2 (ROS_DISTRO unset)"
        return f"{where}, rclpy with " + (", ".join(have) if have else "the Humble API only")


def _publisher_event_callbacks_class() -> Any:
    try:
        from rclpy.event_handler import PublisherEventCallbacks  # Iron and later
    except ImportError:
        try:
            from rclpy.qos_event import PublisherEventCallbacks  # Humble
        except ImportError:
            return None
    return PublisherEventCallbacks


def _takes(func: Any, name: str) -> bool:
    try:
        return name in inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False


def probe(environ: Optional[Mapping[str, str]] = None) -> RclpyFeatures:
    """The features of the rclpy that imports here (rclpy must import)."""
    env = os.environ if environ is None else environ
    callbacks = _publisher_event_callbacks_class()
    matched = callbacks is not None and _takes(callbacks.__init__, "matched")
    from rclpy.subscription import Subscription

    kinds = getattr(Subscription, "CallbackType", None)
    info = kinds is not None and hasattr(kinds, "WithMessageInfo")
    try:
        from rclpy.experimental import EventsExecutor  # noqa: F401
        events = True
    except ImportError:
        events = False
    return RclpyFeatures(publisher_matched=matched, message_info=info, events_executor=events,
                         distro=env.get("ROS_DISTRO", "").strip())


def matched_callbacks(features: RclpyFeatures,
                      on_matched: Callable[[Any], None]) -> Optional[Any]:
    """``PublisherEventCallbacks(matched=on_matched)`` to pass as ``event_callbacks`` of
    ``create_publisher``, or None where rclpy has no matched event (the caller polls instead)."""
    if not features.publisher_matched:
        return None
    return _publisher_event_callbacks_class()(matched=on_matched)


def matched_count(status: Any) -> int:
    """How many subscriptions a publisher has now, from a matched event's status
    (``rmw_matched_status_t``: total_count, total_count_change, current_count, ...)."""
    return max(0, int(status.current_count))


def received_ns(info: Any) -> Optional[int]:
    """When the middleware received a message (ns since the epoch, system clock) from the
    ``MessageInfo`` of a two-argument callback; None when it does not say (0 or missing)."""
    try:
        value = int(info["received_timestamp"])
    except (KeyError, TypeError, ValueError):
        return None
    return value if value > 0 else None


def make_executor(kind: str, features: RclpyFeatures, context: Any = None) -> tuple[Any, str]:
    """The executor to spin with, and a note when the one asked for is not available here
    (``events`` without ``rclpy.experimental.EventsExecutor`` falls back to the single-threaded
    executor: the node works the same, with the default executor's CPU cost)."""
    if kind not in EXECUTORS:
        raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}, got {kind!r}")
    if kind == "events":
        if features.events_executor:
            from rclpy.experimental import EventsExecutor

            return EventsExecutor(context=context), ""
        note = ("executor 'events' asked for, but this rclpy has no "
                "rclpy.experimental.EventsExecutor (rclpy >= 7.1.4, Jazzy): using the "
                "single-threaded executor")
    else:
        note = ""
    from rclpy.executors import SingleThreadedExecutor

    return SingleThreadedExecutor(context=context), note


__all__ = ["EXECUTORS", "RclpyFeatures", "make_executor", "matched_callbacks", "matched_count",
           "probe", "received_ns"]
