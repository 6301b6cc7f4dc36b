"""Velocity commands as TwistStamped (default, as Nav2 Kilted) or Twist (`enable_stamped_cmd_vel: false`).

A command computed from a camera frame carries that frame's stamp (the observation it answers), and the safety
filter passes stamps through, as Nav2's collision monitor does: how old a command's information is can then be
measured anywhere downstream. Commands that answer no frame (stops, turns, back-ups) carry the time they were sent.
"""
from __future__ import annotations

from typing import Callable

from geometry_msgs.msg import Twist, TwistStamped
from rclpy.callback_groups import CallbackGroup
from rclpy.node import Node
from rclpy.qos import QoSProfile

from gnm_nav.ros.qos import RELIABLE
from gnm_nav.ros.time import sec_to_stamp, stamp_to_sec


class CmdVelPublisher:
    def __init__(self, node: Node, topic: str, stamped: bool, frame_id: str = "base_link",
                 qos: QoSProfile = RELIABLE) -> None:
        self._node = node
        self._stamped = stamped
        self._frame_id = frame_id
        self._pub = node.create_publisher(TwistStamped if stamped else Twist, topic, qos)

    @property
    def topic_name(self) -> str:
        """The resolved topic (namespace and remapping applied)."""
        return self._pub.topic_name

    def publish(self, v: float, w: float, stamp: float | None = None) -> None:
        """stamp: seconds on the node's clock (the answered camera frame's); None = now."""
        twist = Twist()
        twist.linear.x = float(v)
        twist.angular.z = float(w)
        if not self._stamped:
            self._pub.publish(twist)
            return
        msg = TwistStamped()
        msg.header.stamp = self._node.get_clock().now().to_msg() if stamp is None else sec_to_stamp(stamp)
        msg.header.frame_id = self._frame_id
        msg.twist = twist
        self._pub.publish(msg)

    def publish_zero(self) -> None:
        self.publish(0.0, 0.0)

    def publish_final_zero(self, timeout_s: float = 1.0) -> bool:
        """A last zero before the process exits, waiting until every reliable subscriber has it
        (destroying the writer right away can drop it). True when all acknowledged in time."""
        from rclpy.duration import Duration

        self.publish_zero()
        return self._pub.wait_for_all_acked(Duration(nanoseconds=int(timeout_s * 1e9)))


def subscribe_cmd_vel(node: Node, topic: str, stamped: bool, callback: Callable[[float, float, float | None], None],
                      qos: QoSProfile = RELIABLE, callback_group: CallbackGroup | None = None):
    """callback(v, w, stamp_s) with stamp_s None for plain Twist (the receiver then uses its own clock)."""
    if stamped:
        return node.create_subscription(
            TwistStamped, topic,
            lambda m: callback(m.twist.linear.x, m.twist.angular.z, stamp_to_sec(m.header.stamp)), qos,
            callback_group=callback_group)
    return node.create_subscription(Twist, topic, lambda m: callback(m.linear.x, m.angular.z, None), qos,
                                    callback_group=callback_group)
