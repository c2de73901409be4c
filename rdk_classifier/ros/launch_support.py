"""What the camera launch files (launch/mipi_cam.launch.py, launch/usb_cam.launch.py) share:
whether to start the camera node, and the include of classifier.launch.py.

``launch`` / ``ament_index_python`` are imported inside the functions, so importing this module
needs no ROS.
"""

from __future__ import annotations

from typing import Any

PACKAGE = "rdk_classifier"


def package_installed(package: str) -> bool:
    """Whether a ROS package is in the ament index (e.g. mipi_cam on TogetheROS)."""
    from ament_index_python.packages import PackageNotFoundError, get_package_share_directory

    try:
        get_package_share_directory(package)
        return True
    except PackageNotFoundError:
        return False


def camera_skip_reason(package: str, start_camera: str, topic: str, what: str) -> str | None:
    """Why the camera node ``package`` is not started (``None``: start it). ``what`` names the
    message the user must then publish on ``topic`` themselves."""
    if start_camera.strip().lower() not in ("true", "1", "yes"):
        return f"start_camera is false: publish {what} on {topic} yourself"
    if not package_installed(package):
        return (f"{package} is not installed here (it ships with TogetheROS on RDK boards): "
                f"start your camera yourself, publishing {what} on {topic}")
    return None


def include_classifier(**launch_arguments: Any):
    """classifier.launch.py of this package with the given launch arguments."""
    import os

    from ament_index_python.packages import get_package_share_directory
    from launch.actions import IncludeLaunchDescription
    from launch.launch_description_sources import PythonLaunchDescriptionSource

    path = os.path.join(get_package_share_directory(PACKAGE), "launch", "classifier.launch.py")
    return IncludeLaunchDescription(PythonLaunchDescriptionSource(path),
                                    launch_arguments=launch_arguments.items())
