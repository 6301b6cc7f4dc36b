"""Graph-building mode: graph_builder_node records while a person drives with keyboard_teleop.

keyboard_teleop needs a terminal of its own: it is started under `teleop_prefix` (default an xterm);
set use_teleop:=false to drive with another teleop (joystick...) publishing cmd_vel. Without the terminal
program, the launch says so and records anyway: run `ros2 run gnm_nav keyboard_teleop` in another terminal.
Ctrl-C on the launch saves the recorded session. Which nodes start is
gnm_nav.launching.node_sets.build_graph_set (`python -m gnm_nav.launching build_graph graph_dir:=...`).
"""
import shlex
import shutil

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, LogInfo, OpaqueFunction
from launch.substitutions import LaunchConfiguration

from gnm_nav.launching.ros_launch import node_set_actions


def _nodes(context):
    """The build_graph node set; without the terminal program teleop would need, recording goes on without it."""
    arg = lambda name: LaunchConfiguration(name).perform(context)  # noqa: E731
    prefix = shlex.split(arg("teleop_prefix"))
    if arg("use_teleop").lower() != "true" or not prefix or shutil.which(prefix[0]) is not None:
        return node_set_actions("build_graph", context)
    context.launch_configurations["use_teleop"] = "false"
    ns = f" --ros-args -r __ns:=/{arg('namespace').strip('/')}" if arg("namespace") else ""
    return [LogInfo(msg=f"{prefix[0]} not found, so keyboard_teleop cannot get a terminal of its own: drive from "
                        f"another terminal with `ros2 run gnm_nav keyboard_teleop{ns}` (or pass teleop_prefix:=... / "
                        "use_teleop:=false); recording goes on"),
            *node_set_actions("build_graph", context)]


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
