"""package.xml declares every ROS package the code imports (read with ast from the package and
the launch files, lazy imports inside functions too), so `rosdep install` and a colcon workspace
give the node what it needs; the rosdep-keyed Python libraries too. The optional TROS packages
are named in a comment, not required."""

from __future__ import annotations

import ast
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: imported modules that come from pip (setup.py), not from a ROS install
#: (lz4: rosbags' MCAP chunk decompressor, read bounded by ros/bag_limits.py)
PIP_MODULES = {"numpy", "cv2", "onnxruntime", "yaml", "tqdm", "rosbags", "onnx", "lz4"}
#: pip modules with a rosdep key, and that key
ROSDEP_KEYS = {"numpy": "python3-numpy", "cv2": "python3-opencv", "yaml": "python3-yaml",
               "tqdm": "python3-tqdm"}
#: TROS packages imported only when asked for (said clearly when missing); no rosdep key
OPTIONAL = {"hbm_img_msgs", "ai_msgs"}


def imported_top_level() -> set[str]:
    files = list((ROOT / "rdk_classifier").rglob("*.py")) + list((ROOT / "launch").glob("*.py"))
    out: set[str] = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                out |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                out.add(node.module.split(".")[0])
    return out - set(sys.stdlib_module_names) - {"rdk_classifier"}


def declared(tag: str) -> set[str]:
    root = ET.parse(ROOT / "package.xml").getroot()
    return {e.text.strip() for e in root.iter(tag) if e.text}


def test_every_ros_import_is_an_exec_depend():
    imports = imported_top_level()
    ros = imports - PIP_MODULES - OPTIONAL
    assert {"rclpy", "sensor_msgs", "vision_msgs"} <= ros  # the scan sees the node's imports
    missing = sorted(ros - declared("exec_depend"))
    assert not missing, f"package.xml lacks <exec_depend> for {missing}"


def test_rosdep_keyed_libraries_and_the_test_runner_are_declared():
    exec_depends = declared("exec_depend")
    for module, key in ROSDEP_KEYS.items():
        assert module in imported_top_level() and key in exec_depends, key
    assert "python3-pytest" in declared("test_depend")


def test_optional_packages_are_documented_not_required():
    text = (ROOT / "package.xml").read_text()
    for name in OPTIONAL:
        assert name in imported_top_level() and name in text
        assert name not in declared("exec_depend")


def test_every_declared_ros_package_is_used():
    """No stale declaration: every exec_depend that is not a rosdep-keyed library is imported
    (launch and launch_ros by the launch files)."""
    ros_declared = {d for d in declared("exec_depend") if not d.startswith("python3-")}
    assert ros_declared <= imported_top_level()
