"""Navigate on a topological graph: topological_planner_node + gnm_policy_node (+ ldm_safety_filter_node).

Each node reads its package config (config/<node>.yaml) first, then `params_file`, then the arguments below.
Which nodes start, and how they are wired, is gnm_nav.launching.node_sets.navigate_set: the package launcher
(`python -m gnm_nav.launching navigate graph_dir:=... goal_node:=...`) starts the same list.
cmd_vel_chain:=nav2 puts the policy in the controller's place of Nav2's velocity chain (cmd_vel_nav), the
filter between Nav2's velocity smoother (cmd_vel_smoothed) and its collision monitor (cmd_vel_filtered).
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction

from gnm_nav.launching.node_sets import CMD_VEL_CHAINS
from gnm_nav.launching.ros_launch import node_set_actions


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([
        DeclareLaunchArgument("namespace", default_value="", description="robot namespace"),
        DeclareLaunchArgument("use_sim_time", default_value="false", description="use /clock"),
        DeclareLaunchArgument("params_file", default_value="",
                              description="optional parameter file applied over each node's package defaults"),
        DeclareLaunchArgument("log_level", default_value="info", description="logging level"),
        DeclareLaunchArgument("autostart", default_value="true", description="configure and activate lifecycle nodes"),
        DeclareLaunchArgument("graph_dir", default_value="", description="graph directory (overrides planner.yaml)"),
        DeclareLaunchArgument("goal_node", default_value="", description="goal node id (overrides planner.yaml)"),
        DeclareLaunchArgument("use_safety_filter", default_value="false",
                              description="put ldm_safety_filter_node between the policy and cmd_vel"),
        DeclareLaunchArgument("robot_profile", default_value="",
                              description="robot profile for the policy's limits (overrides policy.yaml)"),
        DeclareLaunchArgument("cmd_vel_chain", default_value="direct", choices=list(CMD_VEL_CHAINS),
                              description="direct: policy -> (filter ->) cmd_vel; nav2: inside Nav2's velocity chain"),
        OpaqueFunction(function=lambda context: node_set_actions("navigate", context)),
    ])
