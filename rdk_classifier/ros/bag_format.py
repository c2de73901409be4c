"""Which rosbag2 metadata version an output bag is written in, for the ROS 2 distro that reads it.

rosbag2 decides how to read ``metadata.yaml`` from its ``version`` field:

- Humble's rosbag2 (0.15) writes version 5 and reads any version, taking the fields it knows and
  ignoring the rest; ``offered_qos_profiles`` must be a YAML *string* (as up to version 8).
- Jazzy's rosbag2 (0.26) writes version 9, where ``offered_qos_profiles`` is a YAML *list*;
  Humble's reader cannot read that field. Jazzy reads versions 8 and 9 alike.

So ``humble`` (version 8, the oldest rosbags writes) gives a bag that Humble and Jazzy both read,
and ``jazzy`` (version 9) the bag Jazzy's own ``ros2 bag record`` would write. ``auto`` takes the
sourced distro (``ROS_DISTRO``): Jazzy or newer -> ``jazzy``, anything else -> ``humble``.
The storage is a separate choice (MCAP, Jazzy's default, or sqlite3, Humble's default: reading MCAP
on Humble needs the rosbag2_storage_mcap package).
"""

from __future__ import annotations

import os
from typing import Mapping, Optional

from ..errors import BagError

#: metadata version written for bags meant for each distro
BAG_VERSIONS = {"humble": 8, "jazzy": 9}
#: values of the bag tools' ``--ros-distro`` option
BAG_DISTROS = ("auto", "humble", "jazzy")
#: ROS_DISTRO values whose rosbag2 writes version 9 (Jazzy and the distros after it)
_VERSION_9_DISTROS = frozenset({"jazzy", "kilted", "lyrical", "rolling"})


def resolve_distro(distro: str, environ: Optional[Mapping[str, str]] = None) -> str:
    """``humble`` or ``jazzy`` for a ``--ros-distro`` value (``auto``: from ``ROS_DISTRO``)."""
    if distro not in BAG_DISTROS:
        raise BagError(f"ros distro must be one of {', '.join(BAG_DISTROS)}, got {distro!r}")
    if distro != "auto":
        return distro
    env = os.environ if environ is None else environ
    sourced = env.get("ROS_DISTRO", "").strip().lower()
    return "jazzy" if sourced in _VERSION_9_DISTROS else "humble"


def bag_version(distro: str, environ: Optional[Mapping[str, str]] = None) -> int:
    """The rosbag2 metadata version to write for ``distro`` (see the module docstring)."""
    return BAG_VERSIONS[resolve_distro(distro, environ)]


__all__ = ["BAG_DISTROS", "BAG_VERSIONS", "bag_version", "resolve_distro"]
