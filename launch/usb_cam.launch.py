"""A USB camera (hobot_usb_cam, JPEG CompressedImage on ``image``) feeding classifier_node.

    ros2 launch rdk_classifier usb_cam.launch.py model:=MobileOne_S1
    ros2 launch rdk_classifier usb_cam.launch.py video_device:=/dev/video0

hobot_usb_cam is started here only when its package is installed (TogetheROS on RDK boards);
otherwise a message says so and you start your camera yourself, publishing
sensor_msgs/CompressedImage (jpeg) on ``compressed_image_topic`` (default image). Any camera
driver publishing JPEG CompressedImage works the same way (e.g. image_transport's
``image_raw/compressed``).
"""

import os

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, LogInfo, OpaqueFunction
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


def _installed(package: str) -> bool:
    from ament_index_python.packages import PackageNotFoundError, get_package_share_directory

    try:
        get_package_share_directory(package)
        return True
    except PackageNotFoundError:
        return False


def _camera(context):
    def arg(name: str) -> str:
        return LaunchConfiguration(name).perform(context).strip()

    topic = arg("compressed_image_topic")
    if arg("start_camera").lower() not in ("true", "1", "yes"):
        return [LogInfo(msg=f"start_camera is false: publish sensor_msgs/CompressedImage on "
                            f"{topic} yourself")]
    if not _installed("hobot_usb_cam"):
        return [LogInfo(msg="hobot_usb_cam is not installed here (it ships with TogetheROS on RDK "
                            "boards): start your camera yourself, publishing "
                            f"sensor_msgs/CompressedImage (jpeg) on {topic}")]
    params = {"pixel_format": "mjpeg", "io_method": "mmap", "zero_copy": False,
              "video_device": arg("video_device"), "framerate": int(arg("framerate")),
              "image_width": int(arg("image_width")), "image_height": int(arg("image_height")),
              "frame_id": arg("frame_id")}
    return [Node(package="hobot_usb_cam", executable="hobot_usb_cam", name="hobot_usb_cam",
                 output="screen", parameters=[params], remappings=[("image", topic)])]


def generate_launch_description() -> LaunchDescription:
    from ament_index_python.packages import get_package_share_directory

    classifier = os.path.join(get_package_share_directory("rdk_classifier"), "launch",
                              "classifier.launch.py")
    args = [
        DeclareLaunchArgument("model", default_value="", description="zoo model name or file"),
        DeclareLaunchArgument("backend", default_value="", description="auto | bpu | cpu"),
        DeclareLaunchArgument("compressed_image_topic", default_value="image",
                              description="the camera's sensor_msgs/CompressedImage topic"),
        DeclareLaunchArgument("start_camera", default_value="true",
                              description="start hobot_usb_cam when it is installed"),
        DeclareLaunchArgument("video_device", default_value="/dev/video8"),
        DeclareLaunchArgument("framerate", default_value="30"),
        DeclareLaunchArgument("image_width", default_value="640"),
        DeclareLaunchArgument("image_height", default_value="480"),
        DeclareLaunchArgument("frame_id", default_value="usb_cam"),
        DeclareLaunchArgument("params_file", default_value=""),
    ]
    return LaunchDescription(args + [
        OpaqueFunction(function=_camera),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(classifier),
            launch_arguments={"model": LaunchConfiguration("model"),
                              "backend": LaunchConfiguration("backend"),
                              "image_topic": "",
                              "compressed_image_topic": LaunchConfiguration(
                                  "compressed_image_topic"),
                              "params_file": LaunchConfiguration("params_file")}.items()),
    ])
