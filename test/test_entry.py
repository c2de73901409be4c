"""``classifier_node`` where ROS 2 is missing: one clear line and exit status 1, no traceback."""

import subprocess
import sys

import pytest


def test_classifier_node_without_ros_explains_what_to_do():
    try:
        import rclpy  # noqa: F401
        pytest.skip("rclpy is installed here: the node would start")
    except ImportError:
        pass
    proc = subprocess.run([sys.executable, "-m", "rdk_classifier.ros.entry"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 1
    assert "classifier_node needs ROS 2" in proc.stderr and "rclpy" in proc.stderr
    assert "Traceback" not in proc.stderr
