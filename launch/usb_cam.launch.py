"""A USB camera (hobot_usb_cam, JPEG CompressedImage on ``image``) feeding classifier_node.

    ros2 launch rdk_classifier usb_cam.launch.py model:=MobileOne_S1
    ros2 launch rdk_classifier usb_cam.launch.py video_device:=/dev/video0

hobot_usb_cam is started here only when its package is installed (TogetheROS on RDK boards);
otherwise a message says so and you start your camera yourself, publishing
sensor_msgs/CompressedImage (jpeg) on ``compressed_image_topic`` (default image). Any camera
driver publishing JPEG CompressedImage works the same way (e.g. image_transport's
``image_raw/compressed``).
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, LogInfo, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from rdk_classifier.ros.launch_support import camera_skip_reason, include_classifier


def _camera(context):
    def arg(name: str) -> str:
        return LaunchConfiguration(name).perform(context).strip()

    topic = arg("compressed_image_topic")
    skip = camera_skip_reason("hobot_usb_cam", arg("start_camera"), topic,
                              "sensor_msgs/CompressedImage (jpeg)")
    if skip:
        return [LogInfo(msg=skip)]
    params = {"pixel_format": "mjpeg", "io_method": "mmap", "zero_copy": False,
              "video_device": arg("video_device"), "framerate": int(arg("framerate")),
              "image_width": int(arg("image_width")), "image_height": int(arg("image_height")),
              "frame_id": arg("frame_id")}
    return [Node(package="hobot_usb_cam", executable="hobot_usb_cam", name="hobot_usb_cam",
                 output="screen", parameters=[params], remappings=[("image", topic)])]


def generate_launch_description() -> LaunchDescription:
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
        include_classifier(model=LaunchConfiguration("model"),
                           backend=LaunchConfiguration("backend"),
                           image_topic="",
                           compressed_image_topic=LaunchConfiguration("compressed_image_topic"),
                           params_file=LaunchConfiguration("params_file")),
    ])
