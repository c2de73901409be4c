"""The camera launch files' decision to start a camera node (no ROS needed for these paths)."""

from rdk_classifier.ros import launch_support


def test_start_camera_false_says_what_to_publish():
    msg = launch_support.camera_skip_reason("mipi_cam", "false", "/cam/image_raw", "sensor_msgs/Image")
    assert msg == "start_camera is false: publish sensor_msgs/Image on /cam/image_raw yourself"


def test_missing_camera_package_is_explained(monkeypatch):
    monkeypatch.setattr(launch_support, "package_installed", lambda package: False)
    msg = launch_support.camera_skip_reason("hobot_usb_cam", "true", "image", "jpeg")
    assert msg.startswith("hobot_usb_cam is not installed here") and msg.endswith("jpeg on image")


def test_installed_camera_is_started(monkeypatch):
    monkeypatch.setattr(launch_support, "package_installed", lambda package: package == "mipi_cam")
    assert launch_support.camera_skip_reason("mipi_cam", "True", "image_raw", "x") is None
    assert launch_support.camera_skip_reason("mipi_cam", "0", "image_raw", "x") is not None


def test_transport_is_ros_or_shared_mem():
    assert launch_support.check_transport(" Shared_Mem ") == "shared_mem"
    assert launch_support.check_transport("ros") == "ros"
    import pytest

    with pytest.raises(ValueError, match="ros, shared_mem"):
        launch_support.check_transport("hbmem")

