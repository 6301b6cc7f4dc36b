"""The package launcher and launch/*.launch.py must start the same nodes from the same parameter files
with the same overrides. The launch files are read with `ast` (launch_ros is not installable here)."""
from __future__ import annotations

import ast
import inspect

import pytest
from launch_ast import ROOT, declared_arguments, includes, launch_file_nodes, launch_file_parameter_keys, \
    module_constant, parsed, passed_arguments

from gnm_nav.launching.node_sets import (EXECUTABLES, NODE_SETS, LaunchOptions, build_graph_set, navigate_set,
                                         replay_set, sim_set)

LAUNCHER_ONLY_ARGUMENTS = {"spawn_pose"}  # eval/demo put the robot at a chosen pose; a launch user sets sim.yaml


OPTS = LaunchOptions()
# every node-set option switched on (both ways for the filter), so every node and override appears
EXPECTED = {
    "navigate.launch.py": (navigate_set, navigate_set(OPTS, "g", 1, False, "r") + navigate_set(OPTS, "g", 1, True)
                           + navigate_set(OPTS, "g", 1, True, "r", "nav2")),
    "build_graph.launch.py": (build_graph_set, build_graph_set(OPTS, "g", True)),
    "sim.launch.py": (sim_set, sim_set(OPTS, "w", "r", None, 2.0, "g", 1, False) + sim_set(OPTS, "w", "r", None, 2.0,
                                                                                           "g", 1, True)),
    "replay.launch.py": (replay_set, replay_set(OPTS, "g", 1, False, "r") + replay_set(OPTS, "g", 1, True)),
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
    assert launch_file_nodes(name) == ours


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_same_overrides(name):
    _, specs = EXPECTED[name]
    assert launch_file_parameter_keys(name) == {k for s in specs for k in s.params}


@pytest.mark.parametrize("name", sorted(n for n in EXPECTED if EXPECTED[n][0] is not None))
def test_launcher_arguments_are_launch_arguments(name):
    function, _ = EXPECTED[name]
    ours = set(inspect.signature(function).parameters) - {"opts"} - LAUNCHER_ONLY_ARGUMENTS
    assert ours <= declared_arguments(parsed(name))
    assert {"namespace", "use_sim_time", "params_file", "log_level"} <= declared_arguments(parsed(name))


@pytest.mark.parametrize("name", ["sim.launch.py", "replay.launch.py", "gazebo.launch.py"])
def test_includes_pass_on_declared_arguments_to_files_that_declare_them(name):
    tree = parsed(name)
    (included, call), = includes(tree)
    assert included == "navigate.launch.py"  # one place for the navigation nodes
    passed = passed_arguments(tree, call)
    assert {"namespace", "use_sim_time", "params_file", "log_level", "graph_dir", "goal_node"} <= passed
    assert passed <= declared_arguments(parsed(included)), passed - declared_arguments(parsed(included))
    assert passed - {"robot_profile"} <= declared_arguments(tree)


def test_node_sets_are_named_like_the_launch_files():
    assert {f"{name}.launch.py" for name in NODE_SETS} <= set(EXPECTED)


def test_executables_match_setup_py():
    tree = ast.parse((ROOT / "setup.py").read_text())
    table = next(ast.literal_eval(n.value) for n in ast.walk(tree)
                 if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "NODES")
    assert {exe: target.split(":")[0] for exe, target in table.items()} == EXECUTABLES
    assert all(target.endswith(":main") for target in table.values())


def test_the_simulated_robot_and_the_policy_share_a_profile_by_default():
    """Without robot:=, the simulator drove a turtlebot while the policy took locobot limits."""
    import yaml

    from gnm_nav.launching.node_sets import SIM_ROBOT

    sim_yaml = yaml.safe_load((ROOT / "config" / "sim.yaml").read_text())["/**"]["ros__parameters"]
    assert SIM_ROBOT == sim_yaml["robot"]
    nodes = {n.name: n.params for n in sim_set(OPTS)}
    assert nodes["mujoco_sim_node"]["robot"] == nodes["gnm_policy_node"]["robot_profile"] == SIM_ROBOT
    assert f'SIM_ROBOT = "{SIM_ROBOT}"' in (ROOT / "launch" / "sim.launch.py").read_text()


def test_the_nav2_velocity_chain_is_the_same_in_both():
    """cmd_vel_chain:=nav2: the launch file's choices and the filter's remappings are the launcher's."""
    from gnm_nav.launching.node_sets import CMD_VEL_CHAINS, NAV2_FILTER_REMAPPINGS, POLICY_STRAIGHT_REMAPPINGS

    tree = parsed("navigate.launch.py")
    assert module_constant(tree, "NAV2_FILTER_REMAPPINGS") == NAV2_FILTER_REMAPPINGS
    assert module_constant(tree, "POLICY_STRAIGHT_REMAPPINGS") == POLICY_STRAIGHT_REMAPPINGS
    (arg,) = [c for c in ast.walk(tree) if isinstance(c, ast.Call) and getattr(c.func, "id", "") ==
              "DeclareLaunchArgument" and c.args[0].value == "cmd_vel_chain"]
    choices = next(k.value for k in arg.keywords if k.arg == "choices")
    assert tuple(ast.literal_eval(choices)) == CMD_VEL_CHAINS
    nodes = {n.name: n for n in navigate_set(OPTS, "g", 1, True, "", "nav2")}
    assert nodes["ldm_safety_filter_node"].remappings == NAV2_FILTER_REMAPPINGS
    assert nodes["gnm_policy_node"].remappings == ()  # the policy keeps cmd_vel_nav, as a controller
    without_filter = {n.name: n for n in navigate_set(OPTS, "g", 1, False, "", "nav2")}
    assert without_filter["gnm_policy_node"].remappings == ()  # into the smoother, filter or not
    direct = {n.name: n for n in navigate_set(OPTS, "g", 1, False)}
    assert direct["gnm_policy_node"].remappings == POLICY_STRAIGHT_REMAPPINGS  # no filter: straight to cmd_vel
    with pytest.raises(ValueError, match="cmd_vel_chain must be one of"):
        navigate_set(OPTS, cmd_vel_chain="nav3")
