"""Start classifier_node: camera topics in, top-k vision_msgs/Classification out.

    ros2 launch rdk_classifier classifier.launch.py
    ros2 launch rdk_classifier classifier.launch.py model:=MobileOne_S1
    ros2 launch rdk_classifier classifier.launch.py model:=ResNet18 soc:=s600   # the S600's .hbm
    ros2 launch rdk_classifier classifier.launch.py image_topic:=/camera/image_raw top_k:=3
    ros2 launch rdk_classifier classifier.launch.py compressed_image_topic:=/image   # jpeg only

Every argument left empty keeps the value of ``params_file`` (default: this package's
config/classifier.yaml), which keeps the node's own defaults. ``model`` is a zoo name
(``python -m rdk_classifier zoo list``) or the path of a .bin/.onnx file; a BPU model that is not
on the board yet stops the node with the ``zoo fetch`` command to run.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

PACKAGE = "rdk_classifier"

ARGUMENTS = (
    ("model", "", "zoo model name or .bin/.onnx path (empty: params_file / node default, "
                  "EfficientNet_Lite0_int8 on the CPU)"),
    ("backend", "", "auto | bpu | cpu (empty: params_file, else auto)"),
    ("soc", "", "the board's chip: auto | x5 | s100 | s100p | s600; picks a zoo model's file "
                "and refuses one built for another chip (empty: params_file, else auto: "
                "/sys/class/boardinfo/soc_name)"),
    ("fallback_to_cpu", "", "true: a BPU model on a machine without a BPU runs as the CPU "
                            "default, with a WARN (empty: params_file, else false: refused)"),
    ("image_topic", "", "sensor_msgs/Image topic to classify; given compressed_image_topic "
                        "alone, no raw topic is subscribed (neither: params_file, else "
                        "image_raw)"),
    ("compressed_image_topic", "", "sensor_msgs/CompressedImage (jpeg/png) topic to classify"),
    ("hbmem_topic", "", "hbm_img_msgs shared-memory image topic (TROS hbmem_img) to classify"),
    ("lazy", "", "false: always receive and infer (empty: params_file, else true: only while the "
             "results have a subscriber)"),
    ("top_k", "", "classes per Classification (empty: params_file, else 5)"),
    ("score_threshold", "", "leave out hypotheses below this probability (empty: 0.0)"),
    ("publish_debug_image", "", "true: <topic>/classification/debug_image while subscribed"),
    ("params_file", "", "YAML parameter file (empty: share/rdk_classifier/config/"
                        "classifier.yaml)"),
    ("namespace", "", "namespace of the node (its relative topics move with it)"),
    ("node_name", "classifier_node", "name of the node"),
    ("log_level", "info", "debug | info | warn | error"),
)


def _bool(text: str) -> bool:
    if text.lower() in ("true", "1", "yes", "on"):
        return True
    if text.lower() in ("false", "0", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def _node(context):
    def arg(name: str) -> str:
        return LaunchConfiguration(name).perform(context).strip()

    params_file = arg("params_file")
    if not params_file:
        from ament_index_python.packages import get_package_share_directory

        params_file = f"{get_package_share_directory(PACKAGE)}/config/classifier.yaml"

    overrides = {}
    for name in ("model", "backend", "soc"):
        if arg(name):
            overrides[name] = arg(name)
    if arg("top_k"):
        overrides["top_k"] = int(arg("top_k"))
    if arg("score_threshold"):
        overrides["score_threshold"] = float(arg("score_threshold"))
    for name in ("publish_debug_image", "lazy", "fallback_to_cpu"):
        if arg(name):
            overrides[name] = _bool(arg(name))
    raw, compressed, hbmem = (arg("image_topic"), arg("compressed_image_topic"),
                              arg("hbmem_topic"))
    if raw or compressed or hbmem:
        # all lists are set so one argument replaces the topics of the params file;
        # an empty entry means "none" (an empty YAML list has no type in ROS 2 parameters)
        overrides["image_topics"] = [raw]
        overrides["compressed_topics"] = [compressed]
        overrides["hbmem_topics"] = [hbmem]

    return [Node(
        package=PACKAGE,
        executable="classifier_node",
        name=arg("node_name"),
        namespace=arg("namespace"),
        parameters=[params_file, overrides],
        arguments=["--ros-args", "--log-level", arg("log_level")],
        output="screen",
        emulate_tty=True,
    )]


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=default, description=doc)
         for name, default, doc in ARGUMENTS]
        + [OpaqueFunction(function=_node)]
    )
