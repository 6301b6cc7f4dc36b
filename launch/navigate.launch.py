"""Navigate to an image goal in a topological graph: topological_planner_node + gnm_policy_node
(+ ldm_safety_filter_node between the policy and the robot when use_safety_filter is true).

Each node reads its defaults from the package config (planner.yaml, policy.yaml, ...); `params_file`
(optional) is applied on top, so one file can override any of them. Key it `/**/NODE_NAME:` (or `/**:` for
every node): a bare `NODE_NAME:` key matches only a node without a namespace, and under `namespace:=/robot1` it
would be ignored without a word.
Without the safety filter the policy publishes straight to cmd_vel. With cmd_vel_chain:=nav2 the nodes take
their places in Nav2's velocity chain instead: the policy publishes cmd_vel_nav (the controller's topic) to
Nav2's velocity smoother; the filter reads cmd_vel_smoothed and publishes cmd_vel_filtered, which Nav2's
collision monitor reads (set its cmd_vel_in_topic) before it drives cmd_vel. sim.launch.py, replay.launch.py
and gazebo.launch.py include this file for their navigation nodes.
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import LifecycleNode, Node
from launch_ros.substitutions import FindPackageShare


# gnm_nav.launching.node_sets.NAV2_FILTER_REMAPPINGS and POLICY_STRAIGHT_REMAPPINGS (a test keeps them equal)
NAV2_FILTER_REMAPPINGS = (("cmd_vel_nav", "cmd_vel_smoothed"), ("cmd_vel", "cmd_vel_filtered"))
POLICY_STRAIGHT_REMAPPINGS = (("cmd_vel_nav", "cmd_vel"),)


def _config(name: str) -> PathJoinSubstitution:
    return PathJoinSubstitution([FindPackageShare("gnm_nav"), "config", name])


def _nodes(context):
    arg = lambda name: LaunchConfiguration(name).perform(context)  # noqa: E731
    overrides = [arg("params_file")] if arg("params_file") else []
    common = {"use_sim_time": arg("use_sim_time").lower() == "true"}
    ros_args = ["--ros-args", "--log-level", arg("log_level")]
    safety = arg("use_safety_filter").lower() == "true"
    nav2_chain = arg("cmd_vel_chain") == "nav2"
    planner_params = dict(common)
    if arg("graph_dir"):
        planner_params["graph_dir"] = arg("graph_dir")
    if arg("goal_node"):
        planner_params["goal_node"] = int(arg("goal_node"))
    policy_params = {**common, "autostart": arg("autostart").lower() == "true"}
    if arg("robot_profile"):
        policy_params["robot_profile"] = arg("robot_profile")
    actions = [
        Node(package="gnm_nav", executable="topological_planner_node", name="topological_planner_node",
             namespace=arg("namespace"), output="screen",
             parameters=[_config("planner.yaml"), *overrides, planner_params], arguments=ros_args),
        LifecycleNode(package="gnm_nav", executable="gnm_policy_node", name="gnm_policy_node",
                      namespace=arg("namespace"), output="screen",
                      parameters=[_config("policy.yaml"), *overrides, policy_params],
                      remappings=list(POLICY_STRAIGHT_REMAPPINGS) if not safety and not nav2_chain else [],
                      arguments=ros_args),
    ]
    if safety:
        actions.append(LifecycleNode(
            package="gnm_nav", executable="ldm_safety_filter_node", name="ldm_safety_filter_node",
            namespace=arg("namespace"), output="screen",
            parameters=[_config("safety_filter.yaml"), *overrides,
                        {**common, "autostart": arg("autostart").lower() == "true"}],
            remappings=list(NAV2_FILTER_REMAPPINGS) if nav2_chain else [], arguments=ros_args))
    return actions


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
        DeclareLaunchArgument("cmd_vel_chain", default_value="direct", choices=["direct", "nav2"],
                              description="direct: policy -> [filter ->] cmd_vel; nav2: the policy publishes "
                                          "cmd_vel_nav to Nav2's velocity smoother, the filter reads cmd_vel_smoothed "
                                          "and publishes cmd_vel_filtered for Nav2's collision monitor"),
        DeclareLaunchArgument("robot_profile", default_value="",
                              description="robot profile for the policy's limits (overrides policy.yaml)"),
        OpaqueFunction(function=_nodes),
    ])
