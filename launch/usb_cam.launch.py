"""A USB camera (hobot_usb_cam, JPEG CompressedImage on ``image``) feeding classifier_node.

    ros2 launch rdk_classifier usb_cam.launch.py model:=MobileOne_S1
    ros2 launch rdk_classifier usb_cam.launch.py video_device:=/dev/video0
    ros2 launch rdk_classifier usb_cam.launch.py transport:=shared_mem   # hobot_codec decodes

hobot_usb_cam is started here only when its package is installed (TogetheROS on RDK boards);
otherwise a message says so and you start your camera yourself, publishing
sensor_msgs/CompressedImage (jpeg) on ``compressed_image_topic`` (default image). Any camera
driver publishing JPEG CompressedImage works the same way (e.g. image_transport's
``image_raw/compressed``).

``transport:=shared_mem``: hobot_codec (the X5's hardware JPEG decoder, TROS) decodes the JPEG
topic to nv12 hbm_img_msgs/HbmMsg1080P on ``hbmem_topic`` (default hbmem_img) and the classifier
reads that instead of decoding JPEG on the CPU. hobot_codec's launch includes hobot_shm's, which
sets the Fast DDS data-sharing environment (RMW_IMPLEMENTATION=rmw_fastrtps_cpp,
FASTRTPS_DEFAULT_PROFILES_FILE=<hobot_shm>/lib/hobot_shm/config/shm_fastdds.xml,
RMW_FASTRTPS_USE_QOS_FROM_XML=1, each only where not set) for every node of this launch; not
required (without it the frames are copied over the normal transport). Without hobot_codec the
launch says so and classifies the JPEG topic directly.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, LogInfo, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from rdk_classifier.ros.launch_support import (camera_skip_reason, check_transport,
                                               include_classifier, package_installed)


def _arg(context, name: str) -> str:
    return LaunchConfiguration(name).perform(context).strip()


def _decoder(context) -> bool:
    """hobot_codec decodes JPEG -> nv12 hbmem (transport shared_mem, when it is installed)."""
    return (check_transport(_arg(context, "transport")) == "shared_mem"
            and package_installed("hobot_codec"))


def _camera(context):
    def arg(name: str) -> str:
        return _arg(context, name)

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


def _classifier(context):
    topic = _arg(context, "compressed_image_topic")
    actions = []
    if _decoder(context):
        import os

        from ament_index_python.packages import get_package_share_directory
        from launch.actions import IncludeLaunchDescription
        from launch.launch_description_sources import PythonLaunchDescriptionSource

        path = os.path.join(get_package_share_directory("hobot_codec"), "launch",
                            "hobot_codec_decode.launch.py")
        actions.append(IncludeLaunchDescription(
            PythonLaunchDescriptionSource(path),
            launch_arguments={"codec_in_mode": "ros", "codec_in_format": "jpeg",
                              "codec_out_mode": "shared_mem", "codec_out_format": "nv12",
                              "codec_sub_topic": topic,
                              "codec_pub_topic": _arg(context, "hbmem_topic")}.items()))
        topics = {"compressed_image_topic": "", "hbmem_topic": _arg(context, "hbmem_topic")}
    else:
        if check_transport(_arg(context, "transport")) == "shared_mem":
            actions.append(LogInfo(msg="hobot_codec is not installed: classifying the JPEG "
                                       f"topic {topic} directly (decoded on the CPU)"))
        # hbmem_topic given empty: this launch's own would reach classifier.launch.py
        topics = {"compressed_image_topic": topic, "hbmem_topic": ""}
    return actions + [include_classifier(model=LaunchConfiguration("model"),
                                         backend=LaunchConfiguration("backend"),
                                         fallback_to_cpu=LaunchConfiguration("fallback_to_cpu"),
                                         soc=LaunchConfiguration("soc"),
                                         image_topic="", lazy=LaunchConfiguration("lazy"),
                                         params_file=LaunchConfiguration("params_file"),
                                         **topics)]


def generate_launch_description() -> LaunchDescription:
    args = [
        DeclareLaunchArgument("model", default_value="", description="zoo model name or file"),
        DeclareLaunchArgument("backend", default_value="", description="auto | bpu | cpu"),
        DeclareLaunchArgument("fallback_to_cpu", default_value="",
                              description="true: a BPU model on a machine without a BPU runs as "
                                          "the CPU default, with a WARN (default: false, the "
                                          "node refuses it at start)"),
        DeclareLaunchArgument("compressed_image_topic", default_value="image",
                              description="the camera's sensor_msgs/CompressedImage topic"),
        DeclareLaunchArgument("soc", default_value="",
                              description="the board's chip: auto | x5 | s100 | s100p | s600 "
                                          "(empty: params_file, else auto)"),
        DeclareLaunchArgument("transport", default_value="ros",
                              description="ros (classify the JPEG topic) | shared_mem "
                                          "(hobot_codec decodes to nv12 hbmem)"),
        DeclareLaunchArgument("hbmem_topic", default_value="/hbmem_img",
                              description="hobot_codec's output topic (transport shared_mem)"),
        DeclareLaunchArgument("lazy", default_value="",
                              description="false: always infer (default: only while the "
                                          "results have a subscriber)"),
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
        OpaqueFunction(function=_classifier),
    ])
