"""Evaluation modes: named parameter sets in config/eval/<name>.yaml, one place for what each mode changes.

A mode names its stack (`gnm`: planner + policy, with the safety filter when `safety_filter` is true;
`odometry_replay`: no camera at all) and per-node parameter overrides. Every mode with the filter also exists
as `<name>_no_filter`. Overrides apply over the package's config/*.yaml and the user's `--params` file, so a
mode always means what its file says.
"""
from __future__ import annotations

import hashlib
import importlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from gnm_nav.common.errors import GnmNavError
from gnm_nav.common.paths import config_dir
from gnm_nav.launching.node_sets import EXECUTABLES

NO_FILTER = "_no_filter"
DEFAULT_MODES = ("ours", "vision_only", "odometry_replay", "anchor")
SIM_NODE = "mujoco_sim_node"
FILTER_NODE = "ldm_safety_filter_node"
STACK_NODES = {"gnm": ("topological_planner_node", "gnm_policy_node"), "odometry_replay": ("odometry_replay_node",)}
COMMON_PARAMETERS = frozenset({"use_sim_time"})  # every rclpy node has it


class ModeError(GnmNavError):
    """An unknown mode, a malformed mode file, or a parameters file that names unknown nodes or parameters."""


@dataclass(frozen=True)
class Mode:
    name: str
    description: str
    stack: str
    use_safety_filter: bool
    parameters: dict[str, dict[str, Any]] = field(default_factory=dict)  # node -> overrides

    @property
    def nodes(self) -> tuple[str, ...]:
        """The navigation nodes this mode starts (the simulator comes on top)."""
        return STACK_NODES[self.stack] + ((FILTER_NODE,) if self.use_safety_filter else ())

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "stack": self.stack,
                "safety_filter": self.use_safety_filter, "parameters": self.parameters}


def modes_dir() -> Path:
    return config_dir() / "eval"


def base_modes() -> list[str]:
    return sorted(p.stem for p in modes_dir().glob("*.yaml"))


def node_parameters(node: str) -> frozenset[str]:
    """The parameters a package node declares (its PARAMS table), the ones every node has, and the 0.1 names it
    still honours (its LEGACY list, with a warning), so a mode can run another setting of a retired knob."""
    module = importlib.import_module(EXECUTABLES[node])
    legacy = {item.old for item in getattr(module, "LEGACY", ())}
    return frozenset(p.name for p in module.PARAMS) | legacy | COMMON_PARAMETERS


def _check_overrides(where: str, node: str, params: Any) -> dict[str, Any]:
    if node not in EXECUTABLES:
        raise ModeError(f"{where}: unknown node {node!r} (package nodes: {', '.join(sorted(EXECUTABLES))})")
    if not isinstance(params, dict):
        raise ModeError(f"{where}: the parameters of {node} must be a mapping, got {type(params).__name__}")
    unknown = sorted(set(params) - node_parameters(node))
    if unknown:
        raise ModeError(f"{where}: {node} has no parameter {unknown[0]!r}")
    return dict(params)


def load_mode(name: str) -> Mode:
    """`name` from config/eval/<name>.yaml, or `<name>_no_filter` for a mode with the filter."""
    base = name[:-len(NO_FILTER)] if name.endswith(NO_FILTER) else name
    path = modes_dir() / f"{base}.yaml"
    if not path.is_file():
        known = [m for b in base_modes() for m in ((b, b + NO_FILTER) if load_mode(b).use_safety_filter else (b,))]
        raise ModeError(f"unknown evaluation mode {name!r} (modes: {', '.join(known)})")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ModeError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict) or set(data) != {"description", "stack", "safety_filter", "parameters"}:
        raise ModeError(f"{path}: expected exactly the keys description, stack, safety_filter, parameters")
    if data["stack"] not in STACK_NODES:
        raise ModeError(f"{path}: stack must be one of {', '.join(STACK_NODES)}, got {data['stack']!r}")
    if not isinstance(data["safety_filter"], bool) or (data["safety_filter"] and data["stack"] != "gnm"):
        raise ModeError(f"{path}: safety_filter must be true or false (true only with the gnm stack)")
    mode = Mode(base, str(data["description"]), data["stack"], data["safety_filter"])
    parameters = {node: _check_overrides(str(path), node, params)
                  for node, params in (data["parameters"] or {}).items()}
    stray = sorted(set(parameters) - set(mode.nodes))
    if stray:
        raise ModeError(f"{path}: the {mode.stack} stack does not start {stray[0]}")
    mode = replace(mode, parameters=parameters)
    if name != base:
        if not mode.use_safety_filter:
            raise ModeError(f"mode {name!r}: {base} runs without the safety filter already")
        mode = replace(mode, name=name, use_safety_filter=False, description=mode.description + ", without the filter",
                       parameters={k: v for k, v in parameters.items() if k != FILTER_NODE})
    return mode


def parse_modes(text: str) -> list[Mode]:
    names = [m.strip() for m in text.split(",") if m.strip()]
    if not names:
        raise ModeError("--modes: name at least one mode")
    if len(set(names)) != len(names):
        raise ModeError(f"--modes: {text!r} names a mode twice")
    return [load_mode(n) for n in names]


def check_params_file(path: Path, nodes: set[str]) -> dict[str, dict[str, Any]]:
    """A ROS 2 parameters file (`/**:`, `/**/NODE:` or `NODE:` keys, each with ros__parameters) as
    {key: parameters}, refused with one line naming the problem when it names a node or a parameter that
    none of `nodes` has."""
    if not path.is_file():
        raise ModeError(f"--params {path}: no such file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ModeError(f"--params {path}: not a YAML file: {exc}") from None
    if not isinstance(data, dict) or not data:
        raise ModeError(f"--params {path}: expected a mapping of node names to ros__parameters")
    out: dict[str, dict[str, Any]] = {}
    for key, block in data.items():
        node = str(key).removeprefix("/**/").lstrip("/")
        if (not isinstance(block, dict) or set(block) != {"ros__parameters"}
                or not isinstance(block["ros__parameters"], dict)):
            raise ModeError(f"--params {path}: {key!r} must hold exactly one mapping, ros__parameters")
        params = block["ros__parameters"]
        if node == "**":
            known = frozenset().union(*(node_parameters(n) for n in nodes))
        elif node in nodes:
            known = node_parameters(node)
        else:
            raise ModeError(f"--params {path}: unknown node {key!r} (the evaluated nodes: {', '.join(sorted(nodes))})")
        unknown = sorted(set(params) - known)
        if unknown:
            raise ModeError(f"--params {path}: {key!r} sets {unknown[0]!r}, which "
                            f"{'none of the nodes' if node == '**' else node} declares")
        out[str(key)] = params
    return out


def fingerprint(obj: Any) -> str:
    """A short hash of a JSON-able value: settings that must match for an interrupted run to be continued."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]
