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


#: the environment D-Robotics' hobot_shm launch sets (os.environ.setdefault, so a value the user
#: exported wins) for Fast DDS data sharing of the hbmem topics; <prefix> is hobot_shm's install
#: prefix (hobot_shm launch/hobot_shm.launch.py, TROS Humble)
HOBOT_SHM_ENV = {
    "RMW_IMPLEMENTATION": "rmw_fastrtps_cpp",
    "FASTRTPS_DEFAULT_PROFILES_FILE": "<prefix>/lib/hobot_shm/config/shm_fastdds.xml",
    "RMW_FASTRTPS_USE_QOS_FROM_XML": "1",
}
TRANSPORTS = ("ros", "shared_mem")


def check_transport(transport: str) -> str:
    """``ros`` (sensor_msgs/Image, the default) or ``shared_mem`` (hbm_img_msgs on hbmem_img)."""
    value = transport.strip().lower()
    if value not in TRANSPORTS:
        raise ValueError(f"transport must be one of {', '.join(TRANSPORTS)}, got {transport!r}")
    return value


def shared_memory_actions() -> list:
    """What the shared-memory route needs in a launch: hobot_shm's own launch when it is
    installed (it sets ``HOBOT_SHM_ENV`` for every node started after it, this classifier
    included, so both ends use Fast DDS data sharing); otherwise a note that frames still flow,
    over the normal DDS transport (copied)."""
    from launch.actions import LogInfo

    if not package_installed("hobot_shm"):
        return [LogInfo(msg="hobot_shm is not installed: hbmem frames go over the normal DDS "
                            "transport (no Fast DDS data sharing); the classifier still reads "
                            "them")]
    import os

    from ament_index_python.packages import get_package_share_directory
    from launch.actions import IncludeLaunchDescription
    from launch.launch_description_sources import PythonLaunchDescriptionSource

    path = os.path.join(get_package_share_directory("hobot_shm"), "launch", "hobot_shm.launch.py")
    return [IncludeLaunchDescription(PythonLaunchDescriptionSource(path))]


def include_classifier(**launch_arguments: Any):
    """classifier.launch.py of this package with the given launch arguments."""
    import os

    from ament_index_python.packages import get_package_share_directory
    from launch.actions import IncludeLaunchDescription
    from launch.launch_description_sources import PythonLaunchDescriptionSource

    path = os.path.join(get_package_share_directory(PACKAGE), "launch", "classifier.launch.py")
    return IncludeLaunchDescription(PythonLaunchDescriptionSource(path),
                                    launch_arguments=launch_arguments.items())
