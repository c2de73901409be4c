"""The node on Humble's and on Jazzy's rclpy API (the two shapes of test/rclpy_standin.py): lazy mode
by matched events where rclpy has them, by polling where not; the result age from the
``MessageInfo`` receive time or from the callback; the ``executor`` parameter (events executor
where it exists, else the single-threaded one with a warning). Under a real ROS 2 the same node runs
in test_node_rclpy.py (Humble and Jazzy builds)."""

from __future__ import annotations

import sys

import pytest

import rclpy_standin
from rdk_classifier.ros.distro import RclpyFeatures

from ros_frames import CAT_CLASSES, PHOTOS, image_msg, load_bgr

TIMEOUT = 30.0
STAMP = 1_712_345_678_123_456_789
LAZY_PERIOD_NS = 50_000_000


@pytest.fixture(scope="module")
def chelsea():
    return load_bgr(PHOTOS / "chelsea.png")


@pytest.fixture
def humble(monkeypatch):
    with rclpy_standin.node_harness(monkeypatch, distro="humble") as graph:
        yield graph


@pytest.fixture
def jazzy(monkeypatch):
    with rclpy_standin.node_harness(monkeypatch, distro="jazzy") as graph:
        yield graph


def lazy_timers(graph):
    return [t for t in graph.timers() if t.timer_period_ns == LAZY_PERIOD_NS]


def classify(graph, node, msg, topic="/image_raw"):
    assert graph.publish(topic, msg) == 1
    assert node.wait_idle(TIMEOUT)
    return graph.published(topic + "/classification")[-1]


def diagnostics(graph, name="classifier_node: /image_raw"):
    graph.fire_timers()
    status = {s.name: s for s in graph.published("/diagnostics")[-1].status}[name]
    return {kv.key: kv.value for kv in status.values}


def test_features_as_the_node_sees_them(jazzy):
    node = jazzy.make()
    assert node.features == RclpyFeatures(publisher_matched=True, message_info=True,
                                          events_executor=False, distro=node.features.distro)
    assert any("lazy by matched events" in m and "MessageInfo" in m for _, _, m in jazzy.logs)


def test_jazzy_lazy_mode_follows_matched_events_without_polling(jazzy, chelsea):
    node = jazzy.make(lazy=True, publish_debug_image=True)
    assert lazy_timers(jazzy) == []                      # no poll: events drive it
    (pub,) = jazzy.publishers("/image_raw/classification")
    assert isinstance(pub.event_callbacks, rclpy_standin.JazzyPublisherEventCallbacks)
    assert jazzy.subscriptions("/image_raw") == []
    msg = image_msg(jazzy.typestore, chelsea, "bgr8", STAMP)
    assert jazzy.publish("/image_raw", msg) == 0         # nobody listens: not even received
    jazzy.subscribe("/diagnostics")                      # diagnostics consumers do not count
    assert jazzy.subscriptions("/image_raw") == []

    jazzy.subscribe("/image_raw/classification")         # the matched event, at once
    assert len(jazzy.subscriptions("/image_raw")) == 1
    result = classify(jazzy, node, msg)
    assert int(result.results[0].class_id) in CAT_CLASSES
    jazzy.unsubscribe("/image_raw/classification")
    assert jazzy.subscriptions("/image_raw") == []
    jazzy.subscribe("/image_raw/classification/debug_image")  # the overlay needs inference too
    assert len(jazzy.subscriptions("/image_raw")) == 1
    jazzy.unsubscribe("/image_raw/classification/debug_image")
    assert jazzy.subscriptions("/image_raw") == []
    assert [e.current_count for e in pub.matched_events] == [1, 0]


def test_jazzy_lazy_camera_subscribes_at_start_when_listeners_are_there(jazzy):
    jazzy.subscribe("/image_raw/classification")
    jazzy.make(lazy=True)
    assert len(jazzy.subscriptions("/image_raw")) == 1


def test_jazzy_without_lazy_takes_no_events(jazzy):
    jazzy.make(lazy=False)
    (pub,) = jazzy.publishers("/image_raw/classification")
    assert pub.event_callbacks is None and len(jazzy.subscriptions("/image_raw")) == 1


def test_humble_lazy_mode_polls(humble, chelsea):
    node = humble.make(lazy=True)
    (timer,) = lazy_timers(humble)
    (pub,) = humble.publishers("/image_raw/classification")
    assert pub.event_callbacks is None
    humble.subscribe("/image_raw/classification")
    assert humble.subscriptions("/image_raw") == []      # until the next poll
    timer.fire()
    assert len(humble.subscriptions("/image_raw")) == 1
    classify(humble, node, image_msg(humble.typestore, chelsea, "bgr8", STAMP))
    assert any("lazy by polling" in m for _, _, m in humble.logs)


@pytest.mark.parametrize("raw", [True, False], ids=["raw", "typed"])
def test_jazzy_result_age_from_the_message_info(jazzy, chelsea, raw):
    node = jazzy.make(raw_subscriptions=raw)
    (sub,) = jazzy.subscriptions("/image_raw")
    assert sub._callback_type is rclpy_standin.JazzySubscription.CallbackType.WithMessageInfo
    classify(jazzy, node, image_msg(jazzy.typestore, chelsea, "bgr8", STAMP))
    values = diagnostics(jazzy)
    assert values["receipt time from"] == "middleware receive time (MessageInfo)"
    assert float(values["receipt to result (ms)"]) > 0.0   # receipt -> publish: at least the inference
    assert float(values["receipt to result (ms)"]) >= float(values["inference (ms)"])


def test_humble_result_age_from_the_callback(humble, chelsea):
    node = humble.make()
    classify(humble, node, image_msg(humble.typestore, chelsea, "bgr8", STAMP))
    values = diagnostics(humble)
    assert values["receipt time from"].startswith("callback start")
    assert float(values["receipt to result (ms)"]) >= float(values["inference (ms)"]) > 0.0


def test_result_age_is_zero_in_a_window_without_results(humble):
    humble.make()
    assert diagnostics(humble)["receipt to result (ms)"] == "0.00"


def _main_spins_with(graph, monkeypatch, *params):
    """Run main() until its executor spins (then Ctrl-C): which executor, and the log."""
    spun = []

    def spin(self):
        spun.append(self)
        raise KeyboardInterrupt

    monkeypatch.setattr(rclpy_standin.SingleThreadedExecutor, "spin", spin)
    monkeypatch.setenv("RDK_CLASSIFIER_MALLOC_TUNING", "0")
    args = ["--ros-args"] + [a for p in ("lazy:=false",) + params for a in ("-p", p)]
    previous = __import__("signal").getsignal(2)
    try:
        assert graph.module.main(args) == 0
    finally:
        __import__("signal").signal(2, previous)  # main() ignores SIGINT while it shuts down
    (executor,) = spun
    assert [type(n).__name__ for n in executor.nodes] == ["ClassifierNode"]
    return executor


def test_main_spins_the_single_threaded_executor_by_default(humble, monkeypatch):
    executor = _main_spins_with(humble, monkeypatch)
    assert type(executor) is rclpy_standin.SingleThreadedExecutor


def test_main_spins_the_events_executor_where_rclpy_has_it(monkeypatch):
    with rclpy_standin.node_harness(monkeypatch, distro="jazzy", events_executor=True) as graph:
        executor = _main_spins_with(graph, monkeypatch, "executor:=events")
        assert type(executor) is rclpy_standin.EventsExecutor
        assert not any("EventsExecutor" in m for _, sev, m in graph.logs if sev == "WARN")


@pytest.mark.parametrize("shape", ["humble", "jazzy"])
def test_events_executor_asked_for_but_missing_falls_back_with_a_warning(monkeypatch, shape):
    with rclpy_standin.node_harness(monkeypatch, distro=shape) as graph:
        executor = _main_spins_with(graph, monkeypatch, "executor:=events")
        assert type(executor) is rclpy_standin.SingleThreadedExecutor
        assert any("rclpy.experimental.EventsExecutor" in m and "single-threaded" in m
                   for _, sev, m in graph.logs if sev == "WARN")


def test_unknown_executor_is_refused_at_start(humble):
    sys.modules["rclpy"].init()
    with pytest.raises(humble.module.StartupError, match="executor 'multi' is not one of"):
        humble.module.ClassifierNode(
            parameter_overrides=[rclpy_standin.Parameter("executor", value="multi")])
