"""Replay a recorded bag through the navigation nodes: `ros2 bag play --clock` publishes the camera and
/clock, and topological_planner_node + gnm_policy_node (+ ldm_safety_filter_node) run on the bag's time.
Record their outputs (gnm/subgoal, gnm/closest_node, cmd_vel_nav, ...) with `ros2 bag record` to compare.

Without a ROS install, `gnm-nav replay` feeds a bag through the same nodes and scores them. Which nodes start
is gnm_nav.launching.node_sets.replay_set; `python -m gnm_nav.launching replay graph_dir:=... goal_node:=...`
starts the same list.
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, OpaqueFunction
from launch.substitutions import LaunchConfiguration

from gnm_nav.launching.ros_launch import node_set_actions

BAG_TOPICS = ("camera/image_raw", "camera/image_raw/compressed", "odom")  # what the nodes read from a bag


def _player(context):
    arg = lambda name: LaunchConfiguration(name).perform(context)  # noqa: E731
    if not arg("bag"):
        return []
    ns = arg("namespace").strip("/")
    remap = [f"/{topic}:=/{ns}/{topic}" for topic in BAG_TOPICS] if ns else []
    return [ExecuteProcess(cmd=["ros2", "bag", "play", arg("bag"), "--clock", "--rate", arg("rate"),
                                *(["--remap", *remap] if remap else [])], output="screen")]


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([
        DeclareLaunchArgument("namespace", default_value="", description="robot namespace"),
        DeclareLaunchArgument("use_sim_time", default_value="true",
                              description="the navigation nodes run on the bag's /clock whatever this says"),
        DeclareLaunchArgument("params_file", default_value="",
                              description="optional parameter file applied over each node's package defaults"),
        DeclareLaunchArgument("log_level", default_value="info", description="logging level"),
        DeclareLaunchArgument("autostart", default_value="true", description="configure and activate lifecycle nodes"),
        DeclareLaunchArgument("bag", default_value="", description="bag to play (empty: play it yourself)"),
        DeclareLaunchArgument("rate", default_value="1.0", description="playback rate"),
        DeclareLaunchArgument("graph_dir", default_value="", description="graph directory (overrides planner.yaml)"),
        DeclareLaunchArgument("goal_node", default_value="", description="goal node id (overrides planner.yaml)"),
        DeclareLaunchArgument("use_safety_filter", default_value="false",
                              description="put ldm_safety_filter_node between the policy and cmd_vel"),
        DeclareLaunchArgument("robot_profile", default_value="",
                              description="profile of the robot that recorded the bag (the policy's limits)"),
        OpaqueFunction(function=lambda context: node_set_actions("replay", context)),
        OpaqueFunction(function=_player),
    ])
