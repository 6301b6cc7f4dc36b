"""config/<node>.yaml written from each node's PARAMS table, so names, defaults and descriptions have one
source. `python -m gnm_nav.ros.params_files` rewrites them after a table changes; a test checks they agree."""
from __future__ import annotations

import importlib
import sys
import textwrap
from pathlib import Path
from typing import Any, Sequence

import yaml

from gnm_nav.common.atomic import atomic_write_text
from gnm_nav.ros.params import ParamSpec

# config file -> (node name, module holding PARAMS)
PARAMS_FILES = {
    "planner.yaml": ("topological_planner_node", "gnm_nav.nodes.planner_node"),
    "policy.yaml": ("gnm_policy_node", "gnm_nav.nodes.policy_node"),
    "safety_filter.yaml": ("ldm_safety_filter_node", "gnm_nav.nodes.safety_filter_node"),
    "graph_builder.yaml": ("graph_builder_node", "gnm_nav.nodes.graph_builder_node"),
    "teleop.yaml": ("keyboard_teleop", "gnm_nav.nodes.keyboard_teleop"),
    "sim.yaml": ("mujoco_sim_node", "gnm_nav.nodes.mujoco_sim_node"),
    "odometry_replay.yaml": ("odometry_replay_node", "gnm_nav.nodes.odometry_replay_node"),
}


def node_params(config: str) -> list[ParamSpec]:
    return list(importlib.import_module(PARAMS_FILES[config][1]).PARAMS)


def _value(value: Any) -> str:
    """One YAML value in flow style ('' for an empty string, [] for an empty list)."""
    return yaml.safe_dump([value], default_flow_style=True, width=1000).strip()[1:-1]


def render(node: str, module: str, specs: Sequence[ParamSpec]) -> str:
    lines = [f"# {node} parameters, from {module}.PARAMS (edit the table, then run",
             "# `python -m gnm_nav.ros.params_files`). Load with --ros-args --params-file, or a launch's params_file.",
             "/**:", "  ros__parameters:"]
    for spec in specs:
        text = spec.description + spec.constraint() + (" (read at start-up)" if spec.read_only else "")
        lines += textwrap.wrap(text, width=116, initial_indent="    # ", subsequent_indent="    # ")
        lines.append(f"    {spec.name}: {_value(spec.default)}")
    return "\n".join(lines) + "\n"


def expected_text(config: str) -> str:
    node, module = PARAMS_FILES[config]
    return render(node, module, node_params(config))


def main(argv: list[str] | None = None) -> int:
    config_dir = Path(argv[0] if argv else Path(__file__).resolve().parents[2] / "config")
    for config in PARAMS_FILES:
        atomic_write_text(config_dir / config, expected_text(config))
    print(f"wrote {len(PARAMS_FILES)} parameter files in {config_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
