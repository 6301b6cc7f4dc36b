"""Spin real rclpy nodes over Fast DDS in a background thread, and wait on what they publish."""
from __future__ import annotations

import threading
import time
from typing import Any, Callable

import rclpy
from rclpy.context import Context
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy


class RosHarness:
    """Own context + executor so tests never share global rclpy state."""

    def __init__(self) -> None:
        self.context = Context()
        rclpy.init(context=self.context)
        self.executor = MultiThreadedExecutor(num_threads=4, context=self.context)
        self.nodes: list[Node] = []
        self.probe = self.add(Node("test_probe", context=self.context))
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        from gnm_nav.ros.lifecycle import spin_paced  # paced, as every node process spins (see there)

        try:
            spin_paced(self.executor, self.context)
        except Exception:  # context shut down mid-spin
            if self.context.ok():
                raise

    def add(self, node: Node) -> Node:
        self.nodes.append(node)
        self.executor.add_node(node)
        return node

    def collect(self, msg_type: Any, topic: str, reliable: bool = True) -> list:
        """Subscribe the probe node to a topic; returns the (growing) list of received messages."""
        received: list = []
        qos = QoSProfile(depth=100,
                         reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT)
        self.probe.create_subscription(msg_type, topic, received.append, qos)
        return received

    def publisher(self, msg_type: Any, topic: str, reliable: bool = True):
        qos = QoSProfile(depth=10,
                         reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT)
        return self.probe.create_publisher(msg_type, topic, qos)

    def wait_matched(self, *publishers, timeout: float = 10.0) -> None:
        """Block until every publisher has a subscriber: DDS drops what is published before discovery."""
        assert self.wait_for(lambda: all(p.get_subscription_count() > 0 for p in publishers), timeout), \
            f"no subscriber on {[p.topic_name for p in publishers if p.get_subscription_count() == 0]}"

    @staticmethod
    def wait_for(predicate: Callable[[], bool], timeout: float = 10.0, period: float = 0.02) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(period)
        return predicate()

    def close(self) -> None:
        for node in self.nodes:
            self.executor.remove_node(node)
            node.destroy_node()
        rclpy.shutdown(context=self.context)
        self._thread.join(timeout=5)
        self.executor.shutdown()
