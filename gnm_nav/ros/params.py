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

from gnm_nav.common.errors import GnmNavError


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


@dataclass(frozen=True)
class Renamed:
    """A parameter that took a new name: a value given under the old one is used for the new (unless both are)."""
    old: str
    new: str


@dataclass(frozen=True)
class TopicParameter:
    """A former topic-name parameter: the topic is renamed by remapping now; a value given is still the topic."""
    old: str
    topic: str  # the name the node uses, which `-r topic:=other` renames


@dataclass(frozen=True)
class Retired:
    """A former tuning parameter whose value now lives in the ROS-free core's configuration (docs/decisions.md);
    a value given still reaches the core."""
    old: str
    section: str  # which core configuration: the node names its sections
    field: str  # the field of that configuration


Legacy = Renamed | TopicParameter | Retired


class LegacyValues:
    """What a node was given under deprecated names, for the one release they keep working."""

    def __init__(self, topics: dict[str, str], sections: dict[str, dict[str, Any]]) -> None:
        self._topics, self._sections = topics, sections

    def topic(self, name: str) -> str:
        """The topic to use for `name`: a deprecated topic parameter's value, else the name (remapping applies)."""
        return self._topics.get(name, name)

    def section(self, name: str) -> dict[str, Any]:
        """Retired parameters given for one core configuration, as its field names -> values."""
        return dict(self._sections.get(name, {}))


def legacy_values(node: Node, legacy: Sequence[Legacy] = ()) -> LegacyValues:
    """Apply deprecated names given to `node` (params files, overrides), each with one warning: a renamed
    parameter's value moves to its new name (call before declare_parameters), former topic and tuning
    parameters are returned. A retired value must be finite numbers or booleans (GnmNavError otherwise)."""
    given = getattr(node, "_parameter_overrides", {})
    topics: dict[str, str] = {}
    sections: dict[str, dict[str, Any]] = {}
    for item in legacy:
        if item.old not in given:
            continue
        value = given[item.old].value
        if isinstance(item, Renamed):
            how = f"use {item.new}"
            if item.new in given:
                how += f" (both given: {item.new} wins)"
            else:
                given[item.new] = Parameter(item.new, value=value)
        elif isinstance(item, TopicParameter):
            if not isinstance(value, str) or not value:
                raise GnmNavError(f"parameter {item.old} must be a topic name, got {value!r}")
            topics[item.topic] = value
            how = f"remap the topic instead (--ros-args -r {item.topic}:={value})"
        else:
            numbers = value if isinstance(value, (list, tuple)) else [value]
            if any(isinstance(v, str) or not math.isfinite(float(v)) for v in numbers):
                raise GnmNavError(f"parameter {item.old} must be finite numbers or booleans, got {value!r}")
            sections.setdefault(item.section, {})[item.field] = value
            how = "its value is the core's now (docs/decisions.md says how it was chosen)"
        node.get_logger().warning(f"parameter {item.old} is deprecated and goes in gnm_nav 0.3: {how}; "
                                  "honoured for now")
    return LegacyValues(topics, sections)


def declare_parameters(node: Node, specs: Sequence[ParamSpec], legacy: Sequence[Legacy] = ()
                       ) -> dict[str, Any]:
    """Declare each parameter with its description and check its value; returns the current values (overrides
    and params files applied). A value of the wrong type or out of range raises GnmNavError naming it, and
    later `ros2 param set` calls are checked the same way. `legacy`: the node's deprecated names, which are
    not reported as unknown (legacy_values applies them)."""
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
    unknown = [name for name in unknown_parameters(node) if name not in {item.old for item in legacy}]
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
