"""The rclpy feature checks (rdk_classifier.ros.distro) against the two API shapes of the stand-in
(test/rclpy_standin.py: Humble's and Jazzy's rclpy where they differ). Under a real ROS 2 the same
checks run against the sourced rclpy in test/test_node_rclpy.py."""

from __future__ import annotations

import pytest

import rclpy_standin
from rdk_classifier.ros import distro


@pytest.fixture
def humble(monkeypatch):
    return rclpy_standin.install(monkeypatch, distro="humble")


@pytest.fixture
def jazzy(monkeypatch):
    return rclpy_standin.install(monkeypatch, distro="jazzy")


def _node(graph):
    import rclpy
    from rclpy.node import Node

    rclpy.init()
    return Node("probe_peer")


def test_humble_shape_has_none_of_the_jazzy_mechanisms(humble):
    f = distro.probe({"ROS_DISTRO": "humble"})
    assert f == distro.RclpyFeatures(publisher_matched=False, message_info=False,
                                     events_executor=False, distro="humble")
    assert f.summary() == "ROS 2 humble, rclpy with the Humble API only"
    assert distro.matched_callbacks(f, lambda status: None) is None


def test_jazzy_shape_has_matched_events_and_message_info(jazzy):
    f = distro.probe({"ROS_DISTRO": "jazzy"})
    assert (f.publisher_matched, f.message_info, f.events_executor) == (True, True, False)
    assert f.summary() == "ROS 2 jazzy, rclpy with matched events, message info"


def test_events_executor_is_found_where_rclpy_has_it(monkeypatch):
    rclpy_standin.install(monkeypatch, distro="jazzy", events_executor=True)
    f = distro.probe({})
    assert f.events_executor and f.distro == ""
    assert "ROS_DISTRO unset" in f.summary() and "events executor" in f.summary()


def test_features_come_from_the_api_not_from_ros_distro(humble):
    """A Humble rclpy stays Humble-shaped whatever ROS_DISTRO claims."""
    f = distro.probe({"ROS_DISTRO": "jazzy"})
    assert not f.publisher_matched and not f.message_info


def test_matched_callbacks_report_the_subscription_count(jazzy):
    node = _node(jazzy)
    seen = []
    f = distro.probe({})
    callbacks = distro.matched_callbacks(f, lambda status: seen.append(distro.matched_count(status)))
    assert isinstance(callbacks, rclpy_standin.JazzyPublisherEventCallbacks)
    node.create_publisher(object, "/out", 10, event_callbacks=callbacks)
    assert seen == []                 # nobody there yet: no event
    jazzy.subscribe("/out")
    jazzy.subscribe("/out")
    jazzy.unsubscribe("/out")
    jazzy.unsubscribe("/out")
    assert seen == [1, 2, 1, 0]


def test_matched_event_at_creation_when_subscribers_exist(jazzy):
    node = _node(jazzy)
    jazzy.subscribe("/out")
    seen = []
    node.create_publisher(object, "/out", 10, event_callbacks=distro.matched_callbacks(
        distro.probe({}), lambda status: seen.append(status.current_count)))
    assert seen == [1]


def test_humble_publisher_event_callbacks_refuse_matched(humble):
    """What the feature check protects against: Humble's class has no ``matched``."""
    from rclpy.qos_event import PublisherEventCallbacks

    with pytest.raises(TypeError):
        PublisherEventCallbacks(matched=lambda status: None)


def test_message_info_reaches_two_argument_callbacks_on_jazzy(jazzy):
    node = _node(jazzy)
    got = []
    node.create_subscription(str, "/in", lambda msg, info: got.append(
        (msg, distro.received_ns(info))), 1)
    node.create_subscription(str, "/in", lambda msg: got.append((msg, None)), 1)
    jazzy.publish("/in", "frame")
    (msg1, ns), (msg2, none) = got
    assert (msg1, msg2, none) == ("frame", "frame", None)
    assert isinstance(ns, int) and ns > 1_600_000_000 * 10**9   # system clock, ns


def test_humble_calls_every_callback_with_the_message_only(humble):
    node = _node(humble)
    node.create_subscription(str, "/in", lambda msg, info: None, 1)
    with pytest.raises(TypeError):
        humble.publish("/in", "frame")


@pytest.mark.parametrize("info, expected", [
    ({"received_timestamp": 1_700_000_000_123_456_789, "source_timestamp": 1}, 1_700_000_000_123_456_789),
    ({"received_timestamp": 0, "source_timestamp": 5}, None),   # the middleware does not say
    ({}, None), (None, None), ({"received_timestamp": "x"}, None)])
def test_received_ns(info, expected):
    assert distro.received_ns(info) == expected


def test_single_threaded_executor_by_default(humble):
    executor, note = distro.make_executor("single_threaded", distro.probe({}), context="ctx")
    assert type(executor) is rclpy_standin.SingleThreadedExecutor and note == ""
    assert executor.context == "ctx"


def test_events_executor_where_available(monkeypatch):
    rclpy_standin.install(monkeypatch, distro="jazzy", events_executor=True)
    executor, note = distro.make_executor("events", distro.probe({}), context="ctx")
    assert type(executor) is rclpy_standin.EventsExecutor and note == ""
    assert executor.context == "ctx"


@pytest.mark.parametrize("shape", ["humble", "jazzy"])
def test_events_executor_falls_back_with_a_note(monkeypatch, shape):
    rclpy_standin.install(monkeypatch, distro=shape)
    executor, note = distro.make_executor("events", distro.probe({}))
    assert type(executor) is rclpy_standin.SingleThreadedExecutor
    assert "rclpy.experimental.EventsExecutor" in note and "single-threaded" in note


def test_unknown_executor_is_refused(humble):
    with pytest.raises(ValueError, match="single_threaded, events"):
        distro.make_executor("multi", distro.probe({}))
