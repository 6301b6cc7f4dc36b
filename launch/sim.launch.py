"""Navigate in the built-in MuJoCo simulator: mujoco_sim_node (world + robot, owns /clock) and
navigate.launch.py on sim time: topological_planner_node + gnm_policy_node (+ ldm_safety_filter_node).

Build the graph first (build_graph.launch.py with use_sim_time:=true while mujoco_sim_node runs, or
`gnm-nav demo`). The policy takes its speed limits from the simulated robot's profile. Each node reads
its package config first, then `params_file`, then the arguments below. Without launch_ros, the same
nodes start with `python -m gnm_nav.launching sim world:=... graph_dir:=... goal_node:=...`.
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, OpaqueFunction
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

SIM_ROBOT = "turtlebot"  # sim.yaml's robot: the policy gets the same profile unless told otherwise

# arguments handed on to navigate.launch.py unchanged, and the one it calls by another name
PASSED_ON = ("namespace", "use_sim_time", "params_file", "log_level", "autostart", "graph_dir", "goal_node",
             "use_safety_filter")


def _config(name: str) -> PathJoinSubstitution:
    return PathJoinSubstitution([FindPackageShare("gnm_nav"), "config", name])


def _simulator(context):
    arg = lambda name: LaunchConfiguration(name).perform(context)  # noqa: E731
    overrides = [arg("params_file")] if arg("params_file") else []
    sim_params = {}
    if arg("world"):
        sim_params["world"] = arg("world")
    if arg("robot"):
        sim_params["robot"] = arg("robot")
    if arg("real_time_factor"):
        sim_params["real_time_factor"] = float(arg("real_time_factor"))
    return [Node(package="gnm_nav", executable="mujoco_sim_node", name="mujoco_sim_node",
                 namespace=arg("namespace"), output="screen",
                 parameters=[_config("sim.yaml"), *overrides, sim_params],
                 arguments=["--ros-args", "--log-level", arg("log_level")])]


def generate_launch_description() -> LaunchDescription:
    navigate = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(PathJoinSubstitution([FindPackageShare("gnm_nav"), "launch",
                                                            "navigate.launch.py"])),
        launch_arguments={**{name: LaunchConfiguration(name) for name in PASSED_ON},
                          "robot_profile": LaunchConfiguration("robot")}.items())
    return LaunchDescription([
        DeclareLaunchArgument("namespace", default_value="", description="robot namespace"),
        DeclareLaunchArgument("use_sim_time", default_value="true", description="use /clock (the simulator's)"),
        DeclareLaunchArgument("params_file", default_value="",
                              description="optional parameter file applied over each node's package defaults"),
        DeclareLaunchArgument("log_level", default_value="info", description="logging level"),
        DeclareLaunchArgument("autostart", default_value="true", description="configure and activate lifecycle nodes"),
        DeclareLaunchArgument("world", default_value="",
                              description="world: seed, FAMILY:SEED, name in config/worlds or spec .yaml (sim.yaml)"),
        DeclareLaunchArgument("robot_profile", default_value=SIM_ROBOT,
                              description="robot profile of the simulated robot and of the policy's limits"),
        DeclareLaunchArgument("robot", default_value=LaunchConfiguration("robot_profile"),
                              description="the same as robot_profile (either name works)"),
        DeclareLaunchArgument("real_time_factor", default_value="", description="sim speed-up (sim.yaml)"),
        DeclareLaunchArgument("graph_dir", default_value="", description="graph directory (overrides planner.yaml)"),
        DeclareLaunchArgument("goal_node", default_value="", description="goal node id (overrides planner.yaml)"),
        DeclareLaunchArgument("use_safety_filter", default_value="false",
                              description="put ldm_safety_filter_node between the policy and cmd_vel"),
        OpaqueFunction(function=_simulator),
        navigate,
    ])
