"""Replay a recorded bag through the navigation nodes: `ros2 bag play --clock` publishes the camera and
/clock, and topological_planner_node + gnm_policy_node (+ ldm_safety_filter_node) run on the bag's time.
Record their outputs (gnm/subgoal, gnm/closest_node, cmd_vel_nav, ...) with `ros2 bag record` to compare.

Without a ROS install, `gnm-nav replay` feeds a bag through the same nodes and scores them; the package
launcher starts this node set with `python -m gnm_nav.launching replay graph_dir:=... goal_node:=...`.
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import LifecycleNode, Node
from launch_ros.substitutions import FindPackageShare


def _config(name: str) -> PathJoinSubstitution:
    return PathJoinSubstitution([FindPackageShare("gnm_nav"), "config", name])


def _nodes(context):
    arg = lambda name: LaunchConfiguration(name).perform(context)  # noqa: E731
    overrides = [arg("params_file")] if arg("params_file") else []
    common = {"use_sim_time": arg("use_sim_time").lower() == "true"}
    ros_args = ["--ros-args", "--log-level", arg("log_level")]
    autostart = arg("autostart").lower() == "true"
    safety = arg("use_safety_filter").lower() == "true"
    planner_params = dict(common)
    if arg("graph_dir"):
        planner_params["graph_dir"] = arg("graph_dir")
    if arg("goal_node"):
        planner_params["goal_node"] = int(arg("goal_node"))
    policy_params = {**common, "autostart": autostart}
    if not safety:
        policy_params["cmd_vel_topic"] = "cmd_vel"
    actions = [
        Node(package="gnm_nav", executable="topological_planner_node", name="topological_planner_node",
             namespace=arg("namespace"), output="screen",
             parameters=[_config("planner.yaml"), *overrides, planner_params], arguments=ros_args),
        LifecycleNode(package="gnm_nav", executable="gnm_policy_node", name="gnm_policy_node",
                      namespace=arg("namespace"), output="screen",
                      parameters=[_config("policy.yaml"), *overrides, policy_params], arguments=ros_args),
    ]
    if safety:
        actions.append(LifecycleNode(
            package="gnm_nav", executable="ldm_safety_filter_node", name="ldm_safety_filter_node",
            namespace=arg("namespace"), output="screen",
            parameters=[_config("safety_filter.yaml"), *overrides, {**common, "autostart": autostart}],
            arguments=ros_args))
    if arg("bag"):
        remap = [f"/camera/image_raw:=/{arg('namespace')}/camera/image_raw"] if arg("namespace") else []
        actions.append(ExecuteProcess(
            cmd=["ros2", "bag", "play", arg("bag"), "--clock", "--rate", arg("rate"),
                 *(["--remap", *remap] if remap else [])], output="screen"))
    return actions


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([
        DeclareLaunchArgument("namespace", default_value="", description="robot namespace"),
        DeclareLaunchArgument("use_sim_time", default_value="true", description="use /clock (the bag's)"),
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
        OpaqueFunction(function=_nodes),
    ])
