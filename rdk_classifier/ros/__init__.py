"""ROS 2 side of rdk_classifier.

- ``messages``: sensor_msgs frames into the classifier, vision_msgs out, written against message
  fields so rclpy messages and rosbags messages both work.
- ``worker``: the latest-frame slot with its worker thread.
- ``settings``: the node's parameters (names, defaults, descriptions, validation), ROS-free.
- ``rosbags_types``: Humble message classes from rosbags, with vision_msgs registered.
- ``node``: the rclpy node, the only module that imports rclpy.

Importing this package imports neither rclpy nor rosbags.
"""

from .worker import LatestFrameWorker, WorkerStats

__all__ = ["LatestFrameWorker", "WorkerStats"]
