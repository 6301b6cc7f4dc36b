"""nav_msgs/Odometry -> the planar pose the core works with."""
from __future__ import annotations

from gnm_nav.bag_io import quaternion_to_yaw


def pose_2d(msg) -> tuple[float, float, float]:
    """(x, y, yaw) of an Odometry message's pose."""
    q, p = msg.pose.pose.orientation, msg.pose.pose.position
    return float(p.x), float(p.y), quaternion_to_yaw(q.x, q.y, q.z, q.w)
