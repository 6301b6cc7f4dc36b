"""QoS profiles used across the package (camera QoS is a parameter: sensor_data or reliable)."""
from __future__ import annotations

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data

RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL,
                     history=HistoryPolicy.KEEP_LAST)
IMAGE_QOS_NAMES = ("sensor_data", "reliable")


def image_qos(name: str) -> QoSProfile:
    """'sensor_data' (best effort, depth 5: drops large frames on Fast DDS) or 'reliable' (depth 5)."""
    if name == "sensor_data":
        return qos_profile_sensor_data
    if name == "reliable":
        return QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)
    raise ValueError(f"image_qos must be one of {IMAGE_QOS_NAMES}, got {name!r}")
