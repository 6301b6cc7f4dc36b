"""Declare node parameters from one table of (name, default, description, constraints), so every parameter is
documented and checked: at start-up a bad value stops the node with one line naming it, at run time
(`ros2 param set`) it is refused with the reason."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.exceptions import InvalidParameterTypeException
from rclpy.node import Node
from rclpy.parameter import Parameter

from gnm_nav.errors import GnmNavError


@dataclass(frozen=True)
class ParamSpec:
    name: str
    default: Any
    description: str
    read_only: bool = False
    choices: tuple[Any, ...] = ()  # the allowed values
    minimum: float | None = None  # numbers: at least this
    maximum: float | None = None  # numbers: at most this
    positive: bool = False  # numbers: above zero
    element: type | None = None  # lists: the items' type (needed when the default is an empty list)

    def problem(self, value: Any) -> str | None:
        """Why `value` is not acceptable (None when it is)."""
        if self.choices and value not in self.choices:
            return f"must be one of {', '.join(repr(c) for c in self.choices)}, got {value!r}"
        numbers = value if isinstance(value, (list, tuple)) else [value]
        for number in numbers:
            if isinstance(number, bool) or not isinstance(number, (int, float)):
                continue
            if not math.isfinite(number):
                return f"must be a finite number, got {number}"
            if self.positive and not number > 0:
                return f"must be > 0, got {number}"
            if self.minimum is not None and number < self.minimum:
                return f"must be >= {self.minimum:g}, got {number}"
            if self.maximum is not None and number > self.maximum:
                return f"must be <= {self.maximum:g}, got {number}"
        return None

    def constraint(self) -> str:
        """The constraints as the description shows them (`ros2 param describe`)."""
        parts = [f"one of {', '.join(repr(c) for c in self.choices)}"] if self.choices else []
        parts += ["> 0"] if self.positive else []
        parts += [f">= {self.minimum:g}"] if self.minimum is not None else []
        parts += [f"<= {self.maximum:g}"] if self.maximum is not None else []
        return f" [{', '.join(parts)}]" if parts else ""


_ARRAY_TYPES = {int: Parameter.Type.INTEGER_ARRAY, float: Parameter.Type.DOUBLE_ARRAY,
                str: Parameter.Type.STRING_ARRAY, bool: Parameter.Type.BOOL_ARRAY}
_TYPE_NAMES = {bool: "a boolean (true/false)", int: "an integer", float: "a double (a number with a decimal point, "
               "e.g. 1.0)", str: "a string", list: "a list"}


def declare_parameters(node: Node, specs: Sequence[ParamSpec]) -> dict[str, Any]:
    """Declare each parameter with its description and check its value; returns the current values (overrides
    and params files applied). A value of the wrong type or out of range raises GnmNavError naming it, and
    later `ros2 param set` calls are checked the same way."""
    values: dict[str, Any] = {}
    for spec in specs:
        descriptor = ParameterDescriptor(description=spec.description + spec.constraint(), read_only=spec.read_only)
        empty_list = isinstance(spec.default, list) and not spec.default
        if empty_list and spec.element not in _ARRAY_TYPES:
            raise ValueError(f"parameter {spec.name!r}: an empty list default needs element= one of "
                             f"{list(_ARRAY_TYPES)}")
        try:  # rclpy types an empty list as a byte array: declare an empty one by its type (unset until given)
            param = node.declare_parameter(spec.name, _ARRAY_TYPES[spec.element] if empty_list else spec.default,
                                           descriptor)
        except InvalidParameterTypeException:
            expected = (f"a list of {spec.element.__name__} values" if empty_list else
                        f"{_TYPE_NAMES.get(type(spec.default), 'another type')}, like its default {spec.default!r}")
            raise GnmNavError(f"parameter {spec.name} must be {expected}") from None
        value = [] if empty_list and param.value is None else param.value
        problem = spec.problem(value)
        if problem is not None:
            raise GnmNavError(f"parameter {spec.name} {problem}")
        values[spec.name] = value
    node.add_on_set_parameters_callback(lambda params: SetParametersResult(
        successful=(problem := parameters_problem(specs, params)) is None, reason=problem or ""))
    unknown = unknown_parameters(node)
    if unknown:  # a warning, not an error: a `/**` section of a params file is shared by every node
        node.get_logger().warning(f"ignoring parameters this node does not have: {', '.join(unknown)} "
                                  "(a typo, or meant for another node?)")
    return values


def unknown_parameters(node: Node) -> list[str]:
    """Names given to the node (params files, overrides) that it never declared: otherwise silently ignored."""
    given = getattr(node, "_parameter_overrides", {})
    return sorted(name for name in given
                  if not node.has_parameter(name) and not name.startswith("qos_overrides."))


def parameters_problem(specs: Sequence[ParamSpec], params: Sequence[Parameter]) -> str | None:
    """Why a `ros2 param set` of `params` must be refused (None when every value fits its ParamSpec). A node
    whose own set-callback applies values must ask this first: rclpy calls the newest callback first."""
    by_name = {spec.name: spec for spec in specs}
    for param in params:
        spec = by_name.get(param.name)
        problem = spec.problem(param.value) if spec is not None else None
        if problem is not None:
            return f"{param.name} {problem}"
    return None
