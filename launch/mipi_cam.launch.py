"""A MIPI camera on an RDK X5 (mipi_cam, nv12 on image_raw) feeding classifier_node.

    ros2 launch rdk_classifier mipi_cam.launch.py model:=MobileOne_S1
    ros2 launch rdk_classifier mipi_cam.launch.py mipi_video_device:=F37 \
        image_width:=960 image_height:=544

mipi_cam is started here only when its package is installed (TogetheROS on the board); otherwise
a message says so and you start your camera yourself, publishing sensor_msgs/Image on the topic
given by ``image_topic`` (default image_raw). The camera publishes nv12 (step == width), which
the classifier resizes plane by plane without a BGR round trip. ``io_method: ros`` is required:
a Python node cannot read mipi_cam's shared-memory (hbmem) topic.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, LogInfo, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from rdk_classifier.ros.launch_support import camera_skip_reason, include_classifier


def _camera(context):
    def arg(name: str) -> str:
        return LaunchConfiguration(name).perform(context).strip()

    skip = camera_skip_reason("mipi_cam", arg("start_camera"), arg("image_topic"),
                              "sensor_msgs/Image")
    if skip:
        return [LogInfo(msg=skip)]
    params = {"out_format": "nv12", "io_method": "ros",
              "image_width": int(arg("image_width")), "image_height": int(arg("image_height"))}
    if arg("mipi_video_device"):
        params["video_device"] = arg("mipi_video_device")
    return [Node(package="mipi_cam", executable="mipi_cam", name="mipi_cam", output="screen",
                 parameters=[params], remappings=[("image_raw", arg("image_topic"))])]


def generate_launch_description() -> LaunchDescription:
    args = [
        DeclareLaunchArgument("model", default_value="", description="zoo model name or file"),
        DeclareLaunchArgument("backend", default_value="", description="auto | bpu | cpu"),
        DeclareLaunchArgument("image_topic", default_value="image_raw",
                              description="the camera's sensor_msgs/Image topic"),
        DeclareLaunchArgument("start_camera", default_value="true",
                              description="start mipi_cam when it is installed"),
        DeclareLaunchArgument("mipi_video_device", default_value="",
                              description="sensor name for mipi_cam (F37, GC4663, IMX219, ...); "
                                          "empty: mipi_cam's default"),
        DeclareLaunchArgument("image_width", default_value="960"),
        DeclareLaunchArgument("image_height", default_value="544"),
        DeclareLaunchArgument("params_file", default_value=""),
    ]
    return LaunchDescription(args + [
        OpaqueFunction(function=_camera),
        include_classifier(model=LaunchConfiguration("model"),
                           backend=LaunchConfiguration("backend"),
                           image_topic=LaunchConfiguration("image_topic"),
                           params_file=LaunchConfiguration("params_file")),
    ])
