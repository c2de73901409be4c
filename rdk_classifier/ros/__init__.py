"""ROS 2 side of rdk_classifier.

- ``messages``: sensor_msgs frames into the classifier, vision_msgs out, written against message
  fields so rclpy messages and rosbags messages both work.
- ``worker``: the latest-frame slot with its worker thread.
- ``settings``: the node's parameters (names, defaults, descriptions, validation), ROS-free.
- ``rosbags_types``: message classes from rosbags (Humble's, the same on Jazzy), with
  vision_msgs registered.
- ``bag_format``: which rosbag2 metadata version a bag is written in for Humble or Jazzy.
- ``distro``: feature checks of the installed rclpy (Jazzy's matched events, MessageInfo,
  events executor), with the Humble path where they are missing.
- ``node``: the rclpy node; it and ``distro`` are the only modules that import rclpy.

Importing this package imports neither rclpy nor rosbags.
"""

from .worker import LatestFrameWorker, WorkerStats

__all__ = ["LatestFrameWorker", "WorkerStats"]
