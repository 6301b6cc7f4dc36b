"""Graph-building mode: graph_builder_node records while a person drives with keyboard_teleop.

keyboard_teleop needs a terminal of its own: it is started under `teleop_prefix` (default an xterm);
set use_teleop:=false to drive with another teleop (joystick...) publishing cmd_vel. Without the terminal
program, the launch says so and records anyway: run `ros2 run gnm_nav keyboard_teleop` in another terminal.
Ctrl-C on the launch saves the recorded session.
"""
import shlex
import shutil

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, LogInfo, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare


def _config(name: str) -> PathJoinSubstitution:
    return PathJoinSubstitution([FindPackageShare("gnm_nav"), "config", name])


def _nodes(context):
    arg = lambda name: LaunchConfiguration(name).perform(context)  # noqa: E731
    overrides = [arg("params_file")] if arg("params_file") else []
    common = {"use_sim_time": arg("use_sim_time").lower() == "true"}
    ros_args = ["--ros-args", "--log-level", arg("log_level")]
    builder_params = dict(common)
    if arg("graph_dir"):
        builder_params["graph_dir"] = arg("graph_dir")
    actions = [Node(package="gnm_nav", executable="graph_builder_node", name="graph_builder_node",
                    namespace=arg("namespace"), output="screen",
                    parameters=[_config("graph_builder.yaml"), *overrides, builder_params], arguments=ros_args)]
    prefix = shlex.split(arg("teleop_prefix"))
    if arg("use_teleop").lower() == "true" and prefix and shutil.which(prefix[0]) is None:
        ns = f" --ros-args -r __ns:=/{arg('namespace').strip('/')}" if arg("namespace") else ""
        actions.append(LogInfo(msg=f"{prefix[0]} not found, so keyboard_teleop cannot get a terminal of its own: "
                                   f"drive from another terminal with `ros2 run gnm_nav keyboard_teleop{ns}` (or pass "
                                   "teleop_prefix:=... / use_teleop:=false); recording goes on"))
    elif arg("use_teleop").lower() == "true":
        actions.append(Node(package="gnm_nav", executable="keyboard_teleop", name="keyboard_teleop",
                            namespace=arg("namespace"), output="screen", prefix=arg("teleop_prefix"),
                            parameters=[_config("teleop.yaml"), *overrides, common], arguments=ros_args))
    return actions


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([
        DeclareLaunchArgument("namespace", default_value="", description="robot namespace"),
        DeclareLaunchArgument("use_sim_time", default_value="false", description="use /clock"),
        DeclareLaunchArgument("params_file", default_value="",
                              description="optional parameter file applied over each node's package defaults"),
        DeclareLaunchArgument("log_level", default_value="info", description="logging level"),
        DeclareLaunchArgument("graph_dir", default_value="", description="graph directory to create or grow"),
        DeclareLaunchArgument("use_teleop", default_value="true", description="start keyboard_teleop"),
        DeclareLaunchArgument("teleop_prefix", default_value="xterm -e",
                              description="command prefix giving keyboard_teleop its own terminal"),
        OpaqueFunction(function=_nodes),
    ])
