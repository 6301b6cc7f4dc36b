"""Start gnm_policy_node (lifecycle, autostart) with the standard arguments."""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import LifecycleNode
from launch_ros.substitutions import FindPackageShare


def generate_launch_description() -> LaunchDescription:
    namespace = LaunchConfiguration("namespace")
    use_sim_time = LaunchConfiguration("use_sim_time")
    params_file = LaunchConfiguration("params_file")
    log_level = LaunchConfiguration("log_level")
    autostart = LaunchConfiguration("autostart")
    return LaunchDescription([
        DeclareLaunchArgument("namespace", default_value="", description="robot namespace"),
        DeclareLaunchArgument("use_sim_time", default_value="false", description="use /clock"),
        DeclareLaunchArgument("params_file",
                              default_value=PathJoinSubstitution([FindPackageShare("gnm_nav"), "config",
                                                                  "policy.yaml"]),
                              description="parameter file for gnm_policy_node"),
        DeclareLaunchArgument("log_level", default_value="info", description="logging level"),
        DeclareLaunchArgument("autostart", default_value="true", description="configure and activate on start"),
        LifecycleNode(
            package="gnm_nav",
            executable="gnm_policy_node",
            name="gnm_policy_node",
            namespace=namespace,
            output="screen",
            parameters=[params_file, {"use_sim_time": use_sim_time, "autostart": autostart}],
            arguments=["--ros-args", "--log-level", log_level],
        ),
    ])
