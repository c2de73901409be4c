"""The camera launch files' decision to start a camera node (no ROS needed for these paths)."""

import pytest

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

    with pytest.raises(ValueError, match="ros, shared_mem"):
        launch_support.check_transport("hbmem")



# ------------------------------------------------------------------ the launch files' arguments
# The launch files import ROS' launch packages, absent here: they are loaded with minimal
# stand-ins that record what the files build (arguments declared, the node's parameters, the
# arguments handed to classifier.launch.py).

def _load_launch_file(monkeypatch, name: str):
    import importlib.util
    import sys
    import types
    from pathlib import Path

    class Recorded:
        def __init__(self, *args, **kwargs):
            self.args, self.kwargs = args, kwargs

    class LaunchConfiguration:
        def __init__(self, name):
            self.name = name

        def perform(self, context):
            return context[self.name]

    modules = {
        "launch": {"LaunchDescription": Recorded},
        "launch.actions": {"DeclareLaunchArgument": Recorded, "OpaqueFunction": Recorded,
                           "LogInfo": Recorded, "IncludeLaunchDescription": Recorded},
        "launch.substitutions": {"LaunchConfiguration": LaunchConfiguration},
        "launch_ros": {},
        "launch_ros.actions": {"Node": Recorded},
    }
    for module, names in modules.items():
        stub = types.ModuleType(module)
        stub.__dict__.update(names)
        monkeypatch.setitem(sys.modules, module, stub)
    path = Path(__file__).resolve().parents[1] / "launch" / name
    spec = importlib.util.spec_from_file_location(name.replace(".", "_"), path)
    launch_file = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(launch_file)
    declared = {a.args[0]: a.kwargs.get("default_value")
                for a in launch_file.generate_launch_description().args[0]
                if a.args and isinstance(a.args[0], str)}
    return launch_file, declared


def test_classifier_launch_soc_reaches_the_node_parameters(monkeypatch):
    launch_file, declared = _load_launch_file(monkeypatch, "classifier.launch.py")
    assert declared["soc"] == ""  # empty: the params file's value (auto)
    context = {name: default for name, default, _ in launch_file.ARGUMENTS}
    context.update(params_file="/p.yaml", soc="s600", model="ResNet18")
    node = launch_file._node(context)[0]
    assert node.kwargs["parameters"] == ["/p.yaml", {"model": "ResNet18", "soc": "s600"}]
    context["soc"] = ""
    assert "soc" not in launch_file._node(context)[0].kwargs["parameters"][1]


@pytest.mark.parametrize("name", ["mipi_cam.launch.py", "usb_cam.launch.py"])
def test_camera_launch_files_hand_soc_to_the_classifier(monkeypatch, name):
    launch_file, declared = _load_launch_file(monkeypatch, name)
    assert declared["soc"] == ""
    handed = {}
    monkeypatch.setattr(launch_file, "include_classifier", lambda **kw: handed.update(kw))
    monkeypatch.setattr(launch_support, "package_installed", lambda package: False)
    monkeypatch.setattr(launch_file, "package_installed", lambda package: False, raising=False)
    context = dict(declared)
    context.update(transport="ros")
    launch_file._classifier(context)
    assert handed["soc"].name == "soc"  # LaunchConfiguration("soc"), given on to the include
