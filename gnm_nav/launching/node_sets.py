"""What each launch file starts, as data: the launcher starts exactly these, and a test checks that
launch/*.launch.py agree (same executables, node names, package parameter files and overrides).

Parameters of a node are layered as in the launch files: the package's config/*.yaml first, then the
user's optional params_file, then the per-node overrides (last wins).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

LIFECYCLE_EXECUTABLES = {"gnm_policy_node", "ldm_safety_filter_node"}  # launch files start them as LifecycleNode
# executable (setup.py NODES) -> module run with `python -m`
EXECUTABLES = {
    "gnm_policy_node": "gnm_nav.nodes.policy_node",
    "topological_planner_node": "gnm_nav.nodes.planner_node",
    "ldm_safety_filter_node": "gnm_nav.nodes.safety_filter_node",
    "graph_builder_node": "gnm_nav.nodes.graph_builder_node",
    "keyboard_teleop": "gnm_nav.nodes.keyboard_teleop",
    "mujoco_sim_node": "gnm_nav.nodes.mujoco_sim_node",
    "odometry_replay_node": "gnm_nav.nodes.odometry_replay_node",
}


@dataclass(frozen=True)
class LaunchOptions:
    """The standard arguments every launch file declares."""

    namespace: str = ""
    use_sim_time: bool = False
    params_file: Path | None = None
    log_level: str = "info"
    autostart: bool = True


@dataclass(frozen=True)
class NodeSpec:
    """One node process: `python -m module --ros-args -r __node:=name ...`."""

    name: str
    module: str
    configs: tuple[str, ...] = ()  # package parameter files (config/NAME.yaml), applied first
    params: dict[str, Any] = field(default_factory=dict)  # overrides, applied last
    executable: str = ""  # the installed executable, when it is one (launch files name it)
    remappings: tuple[tuple[str, str], ...] = ()  # (topic the node uses, topic it gets), as launch_ros remaps
    prefix: str = ""  # command prefix, e.g. "xterm -e" for a node that needs its own terminal

    def with_params(self, **params: Any) -> "NodeSpec":
        return replace(self, params={**self.params, **params})


def package_node(executable: str, name: str, configs: tuple[str, ...], params: dict[str, Any],
                 prefix: str = "", remappings: tuple[tuple[str, str], ...] = ()) -> NodeSpec:
    return NodeSpec(name=name, module=EXECUTABLES[executable], configs=configs, params=params,
                    executable=executable, prefix=prefix, remappings=remappings)


# Where the nodes sit in the velocity chain. `direct`: policy -> cmd_vel_nav -> safety filter -> cmd_vel (the
# policy straight to cmd_vel without the filter). `nav2`: the policy takes the controller's place (cmd_vel_nav),
# Nav2's velocity smoother turns it into cmd_vel_smoothed, the filter reads that and hands cmd_vel_filtered to
# Nav2's collision monitor (its cmd_vel_in_topic), which drives cmd_vel.
CMD_VEL_CHAINS = ("direct", "nav2")
NAV2_FILTER_REMAPPINGS = (("cmd_vel_nav", "cmd_vel_smoothed"), ("cmd_vel", "cmd_vel_filtered"))
POLICY_STRAIGHT_REMAPPINGS = (("cmd_vel_nav", "cmd_vel"),)  # no filter and no Nav2 chain: the policy drives


def navigate_set(opts: LaunchOptions, graph_dir: str = "", goal_node: int | None = None,
                 use_safety_filter: bool = False, robot_profile: str = "", cmd_vel_chain: str = "direct"
                 ) -> list[NodeSpec]:
    """launch/navigate.launch.py: planner + policy (+ safety filter between the policy and cmd_vel, or in Nav2's
    chain). sim, replay and gazebo.launch.py include it, as the sets below call this."""
    if cmd_vel_chain not in CMD_VEL_CHAINS:
        raise ValueError(f"cmd_vel_chain must be one of {CMD_VEL_CHAINS}, got {cmd_vel_chain!r}")
    common: dict[str, Any] = {"use_sim_time": opts.use_sim_time}
    planner = dict(common)
    if graph_dir:
        planner["graph_dir"] = str(graph_dir)
    if goal_node is not None:
        planner["goal_node"] = int(goal_node)
    policy = {**common, "autostart": opts.autostart}
    if robot_profile:
        policy["robot_profile"] = robot_profile
    straight = not use_safety_filter and cmd_vel_chain == "direct"
    nodes = [package_node("topological_planner_node", "topological_planner_node", ("planner.yaml",), planner),
             package_node("gnm_policy_node", "gnm_policy_node", ("policy.yaml",), policy,
                          remappings=POLICY_STRAIGHT_REMAPPINGS if straight else ())]
    if use_safety_filter:
        nodes.append(package_node("ldm_safety_filter_node", "ldm_safety_filter_node", ("safety_filter.yaml",),
                                  {**common, "autostart": opts.autostart},
                                  remappings=NAV2_FILTER_REMAPPINGS if cmd_vel_chain == "nav2" else ()))
    return nodes


def build_graph_set(opts: LaunchOptions, graph_dir: str = "", use_teleop: bool = True,
                    teleop_prefix: str = "xterm -e") -> list[NodeSpec]:
    """launch/build_graph.launch.py: graph_builder_node (+ keyboard_teleop in its own terminal)."""
    common: dict[str, Any] = {"use_sim_time": opts.use_sim_time}
    builder = dict(common)
    if graph_dir:
        builder["graph_dir"] = str(graph_dir)
    nodes = [package_node("graph_builder_node", "graph_builder_node", ("graph_builder.yaml",), builder)]
    if use_teleop:
        nodes.append(package_node("keyboard_teleop", "keyboard_teleop", ("teleop.yaml",), dict(common),
                                  prefix=teleop_prefix))
    return nodes


def sim_node(opts: LaunchOptions, world: str = "", robot: str = "", spawn_pose: list[float] | None = None,
             real_time_factor: float | None = None) -> NodeSpec:
    """mujoco_sim_node; it owns /clock, so it never runs on sim time itself."""
    params: dict[str, Any] = {}
    if world:
        params["world"] = str(world)
    if robot:
        params["robot"] = robot
    if spawn_pose is not None:
        params["use_world_spawn"] = False
        params["spawn_pose"] = [float(v) for v in spawn_pose]
    if real_time_factor is not None:
        params["real_time_factor"] = float(real_time_factor)
    return package_node("mujoco_sim_node", "mujoco_sim_node", ("sim.yaml",), params)


SIM_ROBOT = "turtlebot"  # config/sim.yaml's robot: sim.launch.py gives the policy the same profile by default


def sim_set(opts: LaunchOptions, world: str = "", robot: str = SIM_ROBOT, spawn_pose: list[float] | None = None,
            real_time_factor: float | None = None, graph_dir: str = "", goal_node: int | None = None,
            use_safety_filter: bool = False) -> list[NodeSpec]:
    """launch/sim.launch.py: the MuJoCo world + the navigate set on sim time, the policy limited like the robot."""
    opts = replace(opts, use_sim_time=True)
    return [sim_node(opts, world, robot, spawn_pose, real_time_factor),
            *navigate_set(opts, graph_dir, goal_node, use_safety_filter, robot)]


def replay_set(opts: LaunchOptions, graph_dir: str = "", goal_node: int | None = None,
               use_safety_filter: bool = False, robot_profile: str = "") -> list[NodeSpec]:
    """launch/replay.launch.py: the navigate set on the bag's clock (the bag player is started separately)."""
    return navigate_set(replace(opts, use_sim_time=True), graph_dir, goal_node, use_safety_filter, robot_profile)


NODE_SETS: dict[str, Callable[..., list[NodeSpec]]] = {
    "navigate": navigate_set, "build_graph": build_graph_set, "sim": sim_set, "replay": replay_set}
