"""The package launcher and launch/*.launch.py must start the same nodes from the same parameter files
with the same overrides. The launch files are read with `ast` (launch_ros is not installable here)."""
from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from gnm_nav.launching.node_sets import (EXECUTABLES, NODE_SETS, LaunchOptions, build_graph_set, navigate_set,
                                         replay_set, sim_set)

ROOT = Path(__file__).resolve().parent.parent
LAUNCHER_ONLY_ARGUMENTS = {"spawn_pose"}  # eval/demo put the robot at a chosen pose; a launch user sets sim.yaml
NOT_NODE_PARAMETERS = {"gz_args"}  # ros_gz_sim's include argument


def _parsed(name: str) -> ast.Module:
    return ast.parse((ROOT / "launch" / name).read_text())


def _kw(call: ast.Call, name: str):
    return next((k.value for k in call.keywords if k.arg == name), None)


def launch_file_nodes(tree: ast.Module) -> set[tuple[str, str, tuple[str, ...]]]:
    """(executable, name, package config files in order) of every gnm_nav node the file starts."""
    nodes = set()
    for call in ast.walk(tree):
        if not (isinstance(call, ast.Call) and getattr(call.func, "id", "") in ("Node", "LifecycleNode")):
            continue
        package = _kw(call, "package")
        if not (isinstance(package, ast.Constant) and package.value == "gnm_nav"):
            continue
        configs = tuple(c.args[0].value for c in ast.walk(_kw(call, "parameters"))
                        if isinstance(c, ast.Call) and getattr(c.func, "id", "") == "_config")
        nodes.add((_kw(call, "executable").value, _kw(call, "name").value, configs))
    return nodes


def launch_file_parameter_keys(tree: ast.Module) -> set[str]:
    """Parameter names the file sets: dict literal keys and `params["key"] = ...` assignments."""
    keys = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            keys |= {k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)}
        elif isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Subscript):
            key = node.targets[0].slice
            if isinstance(key, ast.Constant):
                keys.add(key.value)
    return keys - NOT_NODE_PARAMETERS


def declared_arguments(tree: ast.Module) -> set[str]:
    return {c.args[0].value for c in ast.walk(tree) if isinstance(c, ast.Call)
            and getattr(c.func, "id", "") == "DeclareLaunchArgument"}


OPTS = LaunchOptions()
# every node-set option switched on (both ways for the filter), so every node and override appears
EXPECTED = {
    "navigate.launch.py": (navigate_set, navigate_set(OPTS, "g", 1, False) + navigate_set(OPTS, "g", 1, True)),
    "build_graph.launch.py": (build_graph_set, build_graph_set(OPTS, "g", True)),
    "sim.launch.py": (sim_set, sim_set(OPTS, "w", "r", None, 2.0, "g", 1, False) + sim_set(OPTS, "w", "r", None, 2.0,
                                                                                           "g", 1, True)),
    "replay.launch.py": (replay_set, replay_set(OPTS, "g", 1, False) + replay_set(OPTS, "g", 1, True)),
    "gazebo.launch.py": (None, [n for n in sim_set(OPTS, "", "r", None, None, "g", 1, True)
                                + sim_set(OPTS, "", "r", None, None, "g", 1, False)
                                if n.executable != "mujoco_sim_node"]),
}


def test_every_node_launch_file_is_covered():
    files = {p.name for p in (ROOT / "launch").glob("*.launch.py")}
    single_node = {"policy.launch.py", "safety_filter.launch.py"}  # one node, no set to share
    assert files - single_node == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_same_nodes_and_parameter_files(name):
    _, specs = EXPECTED[name]
    ours = {(s.executable, s.name, s.configs) for s in specs}
    assert launch_file_nodes(_parsed(name)) == ours


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_same_overrides(name):
    _, specs = EXPECTED[name]
    assert launch_file_parameter_keys(_parsed(name)) == {k for s in specs for k in s.params}


@pytest.mark.parametrize("name", sorted(n for n in EXPECTED if EXPECTED[n][0] is not None))
def test_launcher_arguments_are_launch_arguments(name):
    function, _ = EXPECTED[name]
    ours = set(inspect.signature(function).parameters) - {"opts"} - LAUNCHER_ONLY_ARGUMENTS
    assert ours <= declared_arguments(_parsed(name))
    assert {"namespace", "use_sim_time", "params_file", "log_level"} <= declared_arguments(_parsed(name))


def test_node_sets_are_named_like_the_launch_files():
    assert {f"{name}.launch.py" for name in NODE_SETS} <= set(EXPECTED)


def test_executables_match_setup_py():
    tree = ast.parse((ROOT / "setup.py").read_text())
    table = next(ast.literal_eval(n.value) for n in ast.walk(tree)
                 if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "NODES")
    assert {exe: target.split(":")[0] for exe, target in table.items()} == EXECUTABLES
    assert all(target.endswith(":main") for target in table.values())
