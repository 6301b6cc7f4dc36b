"""Declare node parameters from one table of (name, default, description), so every parameter is documented."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node


@dataclass(frozen=True)
class ParamSpec:
    name: str
    default: Any
    description: str
    read_only: bool = False


def declare_parameters(node: Node, specs: Sequence[ParamSpec]) -> dict[str, Any]:
    """Declare each parameter with its description; returns the current values (overrides/params files applied)."""
    values: dict[str, Any] = {}
    for spec in specs:
        descriptor = ParameterDescriptor(description=spec.description, read_only=spec.read_only)
        if isinstance(spec.default, list) and not spec.default:
            raise ValueError(f"parameter {spec.name!r}: an empty list default has no type; give one element")
        param = node.declare_parameter(spec.name, spec.default, descriptor)
        values[spec.name] = param.value
    return values
