"""sensor_msgs images <-> RGB arrays, and a camera subscriber that never lets a bad frame through silently."""
from __future__ import annotations

from typing import Callable

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import CompressedImage, Image

from gnm_nav.common.errors import ImageDecodeError
from gnm_nav.image_codec import decode_compressed, decode_raw, encode_rgb8
from gnm_nav.ros.qos import image_qos
from gnm_nav.ros.time import sec_to_stamp, stamp_to_sec

TRANSPORTS = ("raw", "compressed")


def msg_to_rgb(msg: Image | CompressedImage) -> np.ndarray:
    if isinstance(msg, CompressedImage):
        return decode_compressed(msg.format, bytes(msg.data))
    return decode_raw(msg.encoding, msg.height, msg.width, msg.step, bytes(msg.data), bool(msg.is_bigendian))


def rgb_to_msg(rgb: np.ndarray, stamp: float, frame_id: str) -> Image:
    height, width, step, data = encode_rgb8(rgb)
    msg = Image(height=height, width=width, encoding="rgb8", is_bigendian=0, step=step)
    msg.header.stamp = sec_to_stamp(stamp)
    msg.header.frame_id = frame_id
    msg.data = data
    return msg


class CameraSubscriber:
    """Subscribes a camera (raw Image or `<topic>/compressed`) and hands decoded RGB + stamp to a callback."""

    def __init__(self, node: Node, topic: str, transport: str, qos_name: str,
                 callback: Callable[[np.ndarray, float], None], callback_group=None) -> None:
        if transport not in TRANSPORTS:
            raise ValueError(f"image_transport must be one of {TRANSPORTS}, got {transport!r}")
        self._node = node
        self._callback = callback
        self.received = 0
        self.errors = 0
        self.last_error = ""
        self.last_stamp: float | None = None
        msg_type, full_topic = (CompressedImage, f"{topic}/compressed") if transport == "compressed" else (Image, topic)
        self.topic = full_topic
        self._sub = node.create_subscription(msg_type, full_topic, self._on_msg, image_qos(qos_name),
                                             callback_group=callback_group)

    def destroy(self) -> None:
        self._node.destroy_subscription(self._sub)

    def _on_msg(self, msg: Image | CompressedImage) -> None:
        self.received += 1
        try:
            rgb = msg_to_rgb(msg)
        except ImageDecodeError as exc:
            self.errors += 1
            self.last_error = str(exc)
            self._node.get_logger().error(f"dropping image on {self.topic}: {exc}", throttle_duration_sec=5.0)
            return
        stamp = stamp_to_sec(msg.header.stamp)
        self.last_stamp = stamp
        self._callback(rgb, stamp)
