"""launch_ros actions for a node set: a launch file hands its arguments to gnm_nav.launching.node_sets and starts
the nodes it gets back, so which nodes a launch file starts, with which parameter files, overrides and
remappings, is written once (the package launcher, `python -m gnm_nav.launching`, starts the same list).

Only the launch files import this module (launch and launch_ros are not needed anywhere else).
"""
from __future__ import annotations

import inspect
from typing import Any

from gnm_nav.common.paths import config_dir
from gnm_nav.launching.arguments import OPTION_NAMES, parse_arguments
from gnm_nav.launching.node_sets import LIFECYCLE_EXECUTABLES, NODE_SETS, LaunchOptions, NodeSpec


def set_arguments(set_name: str) -> tuple[str, ...]:
    """The launch arguments a node set takes: the standard ones, then its own."""
    own = [n for n in inspect.signature(NODE_SETS[set_name]).parameters if n != "opts"]
    return (*OPTION_NAMES, *own)


def node_set_actions(set_name: str, context: Any) -> list[Any]:
    """The launch_ros Node / LifecycleNode actions of `set_name` for the launch arguments in `context` (an
    argument left empty keeps the set's default)."""
    configurations = context.launch_configurations
    pairs = [f"{name}:={configurations[name]}" for name in set_arguments(set_name)
             if configurations.get(name, "") != ""]
    opts, kwargs = parse_arguments(set_name, pairs)
    return [node_action(spec, opts) for spec in NODE_SETS[set_name](opts, **kwargs)]


def node_action(spec: NodeSpec, opts: LaunchOptions) -> Any:
    """One node as launch_ros starts it: package parameter files, then the user's params_file, then overrides."""
    from launch_ros.actions import LifecycleNode, Node

    parameters: list[Any] = [str(config_dir() / name) for name in spec.configs]
    if opts.params_file is not None:
        parameters.append(str(opts.params_file))
    parameters.append(dict(spec.params))
    node_type = LifecycleNode if spec.executable in LIFECYCLE_EXECUTABLES else Node
    return node_type(package="gnm_nav", executable=spec.executable, name=spec.name, namespace=opts.namespace,
                     output="screen", parameters=parameters, remappings=list(spec.remappings),
                     arguments=["--ros-args", "--log-level", opts.log_level], prefix=spec.prefix or None)
