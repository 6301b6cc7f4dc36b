"""The launch files start the package launcher's node sets (gnm_nav.launching.node_sets), so the nodes, their
parameter files, overrides and remappings are written once; here: each file names its set and declares every
argument the set takes. The files are read with `ast` (launch_ros is not installable here); the real
`ros2 launch` runs them in test_ros2_launch.py."""
from __future__ import annotations

import ast
import inspect

import pytest
from launch_ast import ROOT, declared_arguments, includes, module_constant, node_sets, parsed, passed_arguments

from gnm_nav.launching.arguments import OPTION_NAMES
from gnm_nav.launching.node_sets import (
    CMD_VEL_CHAINS,
    NAV2_FILTER_REMAPPINGS,
    NODE_SETS,
    POLICY_STRAIGHT_REMAPPINGS,
    LaunchOptions,
    navigate_set,
)

SET_OF = {"navigate.launch.py": "navigate", "build_graph.launch.py": "build_graph", "sim.launch.py": "sim",
          "replay.launch.py": "replay"}
EXTRA_ARGUMENTS = {"replay.launch.py": {"bag", "rate"}}  # the bag player's, not the nodes'
OPTS = LaunchOptions()


def test_every_node_launch_file_is_covered():
    files = {p.name for p in (ROOT / "launch").glob("*.launch.py")}
    single_node = {"policy.launch.py", "safety_filter.launch.py"}  # one node, no set to share
    assert files - single_node - {"gazebo.launch.py"} == set(SET_OF)


@pytest.mark.parametrize("name", sorted(SET_OF))
def test_each_launch_file_starts_its_node_set_and_declares_its_arguments(name):
    assert node_sets(name) == {SET_OF[name]}
    own = set(inspect.signature(NODE_SETS[SET_OF[name]]).parameters) - {"opts"}
    declared = declared_arguments(parsed(name))
    assert own <= declared, own - declared
    assert {"namespace", "use_sim_time", "params_file", "log_level"} <= declared
    assert declared - own - set(OPTION_NAMES) == EXTRA_ARGUMENTS.get(name, set())


def test_gazebo_includes_navigate_and_passes_on_declared_arguments():
    tree = parsed("gazebo.launch.py")
    (included, call), = includes(tree)
    assert included == "navigate.launch.py" and node_sets("gazebo.launch.py") == {"navigate"}
    passed = passed_arguments(tree, call)
    assert {"namespace", "use_sim_time", "params_file", "log_level", "graph_dir", "goal_node"} <= passed
    assert passed <= declared_arguments(parsed(included)), passed - declared_arguments(parsed(included))
    assert passed - {"robot_profile"} <= declared_arguments(tree)
    assert set(module_constant(tree, "PASSED_ON")) <= passed


def test_the_velocity_chains():
    """direct: the policy drives cmd_vel itself without the filter; nav2: it keeps the controller's cmd_vel_nav and
    the filter sits between Nav2's smoother and collision monitor."""
    (arg,) = [c for c in ast.walk(parsed("navigate.launch.py")) if isinstance(c, ast.Call)
              and getattr(c.func, "id", "") == "DeclareLaunchArgument" and c.args[0].value == "cmd_vel_chain"]
    assert "CMD_VEL_CHAINS" in ast.unparse(next(k.value for k in arg.keywords if k.arg == "choices"))
    nodes = {n.name: n for n in navigate_set(OPTS, "g", 1, True, "", "nav2")}
    assert nodes["ldm_safety_filter_node"].remappings == NAV2_FILTER_REMAPPINGS
    assert nodes["gnm_policy_node"].remappings == ()  # the policy keeps cmd_vel_nav, as a controller
    without_filter = {n.name: n for n in navigate_set(OPTS, "g", 1, False, "", "nav2")}
    assert without_filter["gnm_policy_node"].remappings == ()  # into the smoother, filter or not
    direct = {n.name: n for n in navigate_set(OPTS, "g", 1, False)}
    assert direct["gnm_policy_node"].remappings == POLICY_STRAIGHT_REMAPPINGS  # no filter: straight to cmd_vel
    assert {n.name: n for n in navigate_set(OPTS, "g", 1, True)}["gnm_policy_node"].remappings == ()
    assert set(CMD_VEL_CHAINS) == {"direct", "nav2"}
    with pytest.raises(ValueError, match="cmd_vel_chain must be one of"):
        navigate_set(OPTS, cmd_vel_chain="nav3")


def test_sim_gives_the_policy_the_simulated_robots_limits():
    """Without robot:=, the simulator drove a turtlebot while the policy took locobot limits."""
    import yaml

    from gnm_nav.launching.node_sets import SIM_ROBOT, sim_set

    sim_yaml = yaml.safe_load((ROOT / "config" / "sim.yaml").read_text())["/**"]["ros__parameters"]
    assert SIM_ROBOT == sim_yaml["robot"]
    nodes = {n.name: n.params for n in sim_set(OPTS)}
    assert nodes["mujoco_sim_node"]["robot"] == nodes["gnm_policy_node"]["robot_profile"] == SIM_ROBOT


def test_node_sets_are_named_like_the_launch_files():
    assert {f"{name}.launch.py" for name in NODE_SETS} == set(SET_OF)


def test_executables_match_setup_py():
    from gnm_nav.launching.node_sets import EXECUTABLES, LIFECYCLE_EXECUTABLES

    tree = ast.parse((ROOT / "setup.py").read_text())
    table = next(ast.literal_eval(n.value) for n in ast.walk(tree)
                 if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "NODES")
    assert {exe: target.split(":")[0] for exe, target in table.items()} == EXECUTABLES
    assert all(target.endswith(":main") for target in table.values())
    assert LIFECYCLE_EXECUTABLES <= set(EXECUTABLES)
