"""A MIPI camera on an RDK X5 (mipi_cam, nv12) feeding classifier_node.

    ros2 launch rdk_classifier mipi_cam.launch.py model:=MobileOne_S1
    ros2 launch rdk_classifier mipi_cam.launch.py mipi_video_device:=F37 \
        image_width:=960 image_height:=544
    ros2 launch rdk_classifier mipi_cam.launch.py transport:=shared_mem     # hbmem_img

mipi_cam is started here only when its package is installed (TogetheROS on the board); otherwise
a message says so and you start your camera yourself, publishing on the topic given by
``image_topic`` (default image_raw) or, with ``transport:=shared_mem``, ``hbmem_topic`` (default
hbmem_img). The camera publishes nv12 (step == width), which the classifier resizes plane by
plane without a BGR round trip.

Two transports:
- ``ros`` (default): mipi_cam ``io_method: ros``, sensor_msgs/Image. The message is as large as
  the frame (960x544 nv12: 0.78 MB), which makes it the cheaper route for a Python node.
- ``shared_mem``: mipi_cam ``io_method: shared_mem`` (the TROS default), hbm_img_msgs/HbmMsg1080P
  on hbmem_img, published as loaned messages, best effort; the classifier subscribes with
  ``hbmem_topics``. hobot_shm's launch is included when installed: it sets RMW_IMPLEMENTATION=
  rmw_fastrtps_cpp, FASTRTPS_DEFAULT_PROFILES_FILE=<hobot_shm>/lib/hobot_shm/config/
  shm_fastdds.xml and RMW_FASTRTPS_USE_QOS_FROM_XML=1 (only where not set already) for every node
  of this launch, so Fast DDS data sharing carries the frames. Not required: without hobot_shm
  (or on another RMW) the frames still arrive, copied over the normal transport. Either way
  rclpy has no loaned take: a Python subscriber copies the whole fixed 6,220,800-byte array
  once per frame, whatever the frame's size (raw_subscriptions keeps it at one copy).
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, LogInfo, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from rdk_classifier.ros.launch_support import (camera_skip_reason, check_transport,
                                               include_classifier, shared_memory_actions)


def _arg(context, name: str) -> str:
    return LaunchConfiguration(name).perform(context).strip()


def _camera(context):
    def arg(name: str) -> str:
        return _arg(context, name)

    shared = check_transport(arg("transport")) == "shared_mem"
    actions = shared_memory_actions() if shared else []
    skip = camera_skip_reason("mipi_cam", arg("start_camera"),
                              arg("hbmem_topic") if shared else arg("image_topic"),
                              "hbm_img_msgs/HbmMsg1080P" if shared else "sensor_msgs/Image")
    if skip:
        return actions + [LogInfo(msg=skip)]
    params = {"out_format": "nv12", "io_method": "shared_mem" if shared else "ros",
              "image_width": int(arg("image_width")), "image_height": int(arg("image_height"))}
    if arg("mipi_video_device"):
        params["video_device"] = arg("mipi_video_device")
    remap = ("hbmem_img", arg("hbmem_topic")) if shared else ("image_raw", arg("image_topic"))
    return actions + [Node(package="mipi_cam", executable="mipi_cam", name="mipi_cam",
                           output="screen", parameters=[params], remappings=[remap])]


def _classifier(context):
    shared = check_transport(_arg(context, "transport")) == "shared_mem"
    # every topic argument is given: this launch's own hbmem_topic / image_topic would otherwise
    # reach classifier.launch.py (included launch files share launch configurations)
    topics = ({"image_topic": "", "hbmem_topic": LaunchConfiguration("hbmem_topic")} if shared
              else {"image_topic": LaunchConfiguration("image_topic"), "hbmem_topic": ""})
    return [include_classifier(model=LaunchConfiguration("model"),
                               backend=LaunchConfiguration("backend"),
                               fallback_to_cpu=LaunchConfiguration("fallback_to_cpu"),
                               soc=LaunchConfiguration("soc"),
                               lazy=LaunchConfiguration("lazy"),
                               params_file=LaunchConfiguration("params_file"), **topics)]


def generate_launch_description() -> LaunchDescription:
    args = [
        DeclareLaunchArgument("model", default_value="", description="zoo model name or file"),
        DeclareLaunchArgument("backend", default_value="", description="auto | bpu | cpu"),
        DeclareLaunchArgument("fallback_to_cpu", default_value="",
                              description="true: a BPU model on a machine without a BPU runs as "
                                          "the CPU default, with a WARN (default: false, the "
                                          "node refuses it at start)"),
        DeclareLaunchArgument("soc", default_value="",
                              description="the board's chip: auto | x5 | s100 | s100p | s600 "
                                          "(empty: params_file, else auto)"),
        DeclareLaunchArgument("transport", default_value="ros",
                              description="ros (sensor_msgs/Image) | shared_mem (hbmem, "
                                          "hbm_img_msgs/HbmMsg1080P)"),
        DeclareLaunchArgument("image_topic", default_value="image_raw",
                              description="the camera's sensor_msgs/Image topic"),
        DeclareLaunchArgument("hbmem_topic", default_value="hbmem_img",
                              description="the camera's shared-memory topic (transport "
                                          "shared_mem)"),
        DeclareLaunchArgument("lazy", default_value="",
                              description="false: always infer (default: only while the "
                                          "results have a subscriber)"),
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
        OpaqueFunction(function=_classifier),
    ])
