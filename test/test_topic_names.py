"""Topic parameters follow the ROS 2 topic name rules, checked before rclpy sees them: a bad one is
a one-line start-up error, not an InvalidTopicNameException traceback (issue 11)."""

from __future__ import annotations

import pytest

from rdk_classifier.ros.settings import NodeSettings, topic_name_error, validate


@pytest.mark.parametrize("name", ["image_raw", "/cam/image_raw", "~/image", "cam0/image_raw",
                                  "a_b/C9", "~", "x" * 200])
def test_valid_topic_names(name):
    assert topic_name_error(name) is None


@pytest.mark.parametrize("name, reason", [
    ("cam-1/image", "'-' not allowed"),
    ("out.put", "'.' not allowed"),
    ("cam/1image", "starts with a digit"),
    ("9cam", "starts with a digit"),
    ("cam//image", "'//'"),
    ("cam/", "ends with '/'"),
    ("a~b", "first character"),
    ("~cam", "followed by '/'"),
    ("{node}/image", "not allowed"),
    ("caméra", "not allowed"),
    ("", "empty"),
    ("a" * 300, "over 247"),
])
def test_invalid_topic_names_have_a_reason(name, reason):
    assert reason in (topic_name_error(name) or "")


def test_validate_reports_every_bad_topic_parameter_in_one_line():
    settings = NodeSettings(image_topics=("cam-1/image",), compressed_topics=("ok/image",),
                            output_topic="out.put")
    problems = validate(settings)
    assert len(problems) == 2
    assert all("\n" not in p for p in problems)
    assert "'cam-1/image' is not a valid ROS 2 topic name" in problems[0]
    assert "'out.put'" in problems[1]


def test_the_node_fails_at_start_with_the_reason(monkeypatch):
    import importlib
    import sys

    import rclpy_standin

    rclpy_standin.install(monkeypatch)
    node_module = importlib.import_module("rdk_classifier.ros.node")
    sys.modules["rclpy"].init()
    try:
        for params in ({"image_topics": ["cam-1/image"]}, {"output_topic": "out.put"}):
            overrides = [rclpy_standin.Parameter(k, value=v) for k, v in params.items()]
            with pytest.raises(node_module.StartupError, match="not a valid ROS 2 topic name"):
                node_module.ClassifierNode(parameter_overrides=overrides)
    finally:
        sys.modules["rclpy"].try_shutdown()
