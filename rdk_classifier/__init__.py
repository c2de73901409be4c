"""rdk_classifier: image classification for ROS 2 robots on the D-Robotics RDK X5.

The core (this package, without ``rdk_classifier.ros``) imports no ROS module.
"""

__version__ = "0.1.0"
