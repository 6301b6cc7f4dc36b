"""Navigate in the built-in MuJoCo simulator: mujoco_sim_node (world + robot, owns /clock) and the navigation
nodes (topological_planner_node + gnm_policy_node (+ ldm_safety_filter_node)) on sim time.

Build the graph first (build_graph.launch.py with use_sim_time:=true while mujoco_sim_node runs, or
`gnm-nav demo`). The policy takes its speed limits from the simulated robot's profile. Each node reads
its package config first, then `params_file`, then the arguments below. Which nodes start is
gnm_nav.launching.node_sets.sim_set: `python -m gnm_nav.launching sim world:=... graph_dir:=... goal_node:=...`
starts the same list without launch_ros.
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction

from gnm_nav.launching.node_sets import SIM_ROBOT
from gnm_nav.launching.ros_launch import node_set_actions


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([
        DeclareLaunchArgument("namespace", default_value="", description="robot namespace"),
        DeclareLaunchArgument("use_sim_time", default_value="true",
                              description="the navigation nodes run on the simulator's /clock whatever this says"),
        DeclareLaunchArgument("params_file", default_value="",
                              description="optional parameter file applied over each node's package defaults"),
        DeclareLaunchArgument("log_level", default_value="info", description="logging level"),
        DeclareLaunchArgument("autostart", default_value="true", description="configure and activate lifecycle nodes"),
        DeclareLaunchArgument("world", default_value="",
                              description="world: seed, FAMILY:SEED, name in config/worlds or spec .yaml (sim.yaml)"),
        DeclareLaunchArgument("robot", default_value=SIM_ROBOT,
                              description="robot profile of the simulated robot and of the policy's limits"),
        DeclareLaunchArgument("spawn_pose", default_value="",
                              description="[x, y, yaw] to spawn at (empty: the world's spawn pose)"),
        DeclareLaunchArgument("real_time_factor", default_value="", description="sim speed-up (sim.yaml)"),
        DeclareLaunchArgument("graph_dir", default_value="", description="graph directory (overrides planner.yaml)"),
        DeclareLaunchArgument("goal_node", default_value="", description="goal node id (overrides planner.yaml)"),
        DeclareLaunchArgument("use_safety_filter", default_value="false",
                              description="put ldm_safety_filter_node between the policy and cmd_vel"),
        OpaqueFunction(function=lambda context: node_set_actions("sim", context)),
    ])
