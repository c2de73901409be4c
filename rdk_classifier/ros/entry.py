"""Console entry point of ``classifier_node``: a clear message, not a traceback, where ROS 2 is
missing (e.g. after a plain ``pip install``). The node itself lives in ``node.py``."""

from __future__ import annotations

import sys
from typing import Optional


def main(args: Optional[list[str]] = None) -> int:
    try:
        from .node import main as node_main
    except ImportError as exc:
        print(f"classifier_node needs ROS 2 (rclpy, sensor_msgs, vision_msgs): {exc}. Source your "
              "ROS 2 setup (Humble or Jazzy: e.g. /opt/ros/jazzy/setup.bash, "
              "/opt/tros/humble/setup.bash) and build this package with colcon; see README.md, "
              "section ROS 2.", file=sys.stderr)
        return 1
    return node_main(args)


if __name__ == "__main__":
    raise SystemExit(main())
