"""One-status /diagnostics publisher (diagnostic_updater is not on PyPI; this is its minimal core)."""
from __future__ import annotations

from typing import Mapping

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node

LEVELS = {"OK": DiagnosticStatus.OK, "WARN": DiagnosticStatus.WARN, "ERROR": DiagnosticStatus.ERROR,
          "STALE": DiagnosticStatus.STALE}
DIAGNOSTICS_PERIOD_S = 1.0  # diagnostic_updater's default period


def _format(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ",".join(_format(v) for v in value)
    return str(value)


class DiagnosticsPublisher:
    def __init__(self, node: Node, name: str) -> None:
        self._node = node
        self._name = f"{node.get_name()}: {name}"
        self._hardware_id = node.get_fully_qualified_name()
        self._pub = node.create_publisher(DiagnosticArray, "/diagnostics", 10)

    def publish(self, level: str, message: str, values: Mapping[str, object]) -> None:
        status = DiagnosticStatus(level=LEVELS[level], name=self._name, message=message, hardware_id=self._hardware_id)
        status.values = [KeyValue(key=str(k), value=_format(v)) for k, v in values.items()]
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self._node.get_clock().now().to_msg()
        self._pub.publish(msg)
