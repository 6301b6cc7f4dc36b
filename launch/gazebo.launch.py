"""Navigate in Gazebo (gz sim): a world exported from our world spec, ros_gz_bridge for the camera,
cmd_vel, odometry and clock, and navigate.launch.py on sim time.

    gnm-nav sim export-sdf --world office_11 --out office_11.sdf
    ros2 launch gnm_nav gazebo.launch.py world_sdf:=office_11.sdf robot_sdf:=my_robot.sdf graph_dir:=... goal_node:=...

The exported world holds only the static scene; the robot (a differential drive with a camera) comes
from `robot_sdf` (spawned by ros_gz_sim) or from the world file itself. The gz_* arguments name the
robot's Gazebo topics; the bridge maps them to this package's relative ROS names in `namespace`.
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, OpaqueFunction
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

GZ_BRIDGE = "parameter_bridge"  # ros_gz_bridge's executable
GZ_SPAWN = "create"  # ros_gz_sim's executable
# arguments handed on to navigate.launch.py unchanged
PASSED_ON = ("namespace", "use_sim_time", "params_file", "log_level", "autostart", "graph_dir", "goal_node",
             "use_safety_filter")


def _bridge_and_robot(context):
    arg = lambda name: LaunchConfiguration(name).perform(context)  # noqa: E731
    stamped = arg("enable_stamped_cmd_vel").lower() == "true"
    twist = "geometry_msgs/msg/TwistStamped" if stamped else "geometry_msgs/msg/Twist"
    bridges = [
        "/clock@rosgraph_msgs/msg/Clock[gz.msgs.Clock",
        f"{arg('gz_camera_topic')}@sensor_msgs/msg/Image[gz.msgs.Image",
        f"{arg('gz_odom_topic')}@nav_msgs/msg/Odometry[gz.msgs.Odometry",
        f"{arg('gz_cmd_vel_topic')}@{twist}]gz.msgs.Twist",
    ]
    remappings = [(arg("gz_camera_topic"), "camera/image_raw"), (arg("gz_odom_topic"), "odom"),
                  (arg("gz_cmd_vel_topic"), "cmd_vel")]
    actions = [Node(package="ros_gz_bridge", executable=GZ_BRIDGE, name="gz_bridge", namespace=arg("namespace"),
                    output="screen", arguments=[*bridges, "--ros-args", "--log-level", arg("log_level")],
                    remappings=remappings, parameters=[{"use_sim_time": True}])]
    if arg("robot_sdf"):
        actions.append(Node(package="ros_gz_sim", executable=GZ_SPAWN, output="screen",
                            arguments=["-file", arg("robot_sdf"), "-name", arg("robot_name"),
                                       "-x", arg("spawn_x"), "-y", arg("spawn_y"), "-Y", arg("spawn_yaw"),
                                       "-z", "0.05"]))
    return actions


def generate_launch_description() -> LaunchDescription:
    gz_sim = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(PathJoinSubstitution([FindPackageShare("ros_gz_sim"), "launch",
                                                            "gz_sim.launch.py"])),
        launch_arguments={"gz_args": ["-r ", LaunchConfiguration("world_sdf")]}.items())
    navigate = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(PathJoinSubstitution([FindPackageShare("gnm_nav"), "launch",
                                                            "navigate.launch.py"])),
        launch_arguments={**{name: LaunchConfiguration(name) for name in PASSED_ON},
                          "robot_profile": LaunchConfiguration("robot")}.items())
    return LaunchDescription([
        DeclareLaunchArgument("namespace", default_value="", description="robot namespace"),
        DeclareLaunchArgument("use_sim_time", default_value="true", description="use /clock (Gazebo's)"),
        DeclareLaunchArgument("params_file", default_value="",
                              description="optional parameter file applied over each node's package defaults"),
        DeclareLaunchArgument("log_level", default_value="info", description="logging level"),
        DeclareLaunchArgument("autostart", default_value="true", description="configure and activate lifecycle nodes"),
        DeclareLaunchArgument("world_sdf", description="world file from `gnm-nav sim export-sdf`"),
        DeclareLaunchArgument("robot_sdf", default_value="", description="robot model to spawn (empty: in the world)"),
        DeclareLaunchArgument("robot_name", default_value="robot", description="name of the spawned robot model"),
        DeclareLaunchArgument("spawn_x", default_value="0.0", description="spawn x (m)"),
        DeclareLaunchArgument("spawn_y", default_value="0.0", description="spawn y (m)"),
        DeclareLaunchArgument("spawn_yaw", default_value="0.0", description="spawn yaw (rad)"),
        DeclareLaunchArgument("robot", default_value="turtlebot", description="robot profile for the policy's limits"),
        DeclareLaunchArgument("gz_camera_topic", default_value="/camera",
                              description="the robot's Gazebo camera topic"),
        DeclareLaunchArgument("gz_odom_topic", default_value="/odom", description="the robot's Gazebo odometry topic"),
        DeclareLaunchArgument("gz_cmd_vel_topic", default_value="/cmd_vel",
                              description="the robot's Gazebo velocity command topic"),
        DeclareLaunchArgument("enable_stamped_cmd_vel", default_value="true",
                              description="bridge TwistStamped (true) or Twist (match the nodes' setting)"),
        DeclareLaunchArgument("graph_dir", default_value="", description="graph directory (overrides planner.yaml)"),
        DeclareLaunchArgument("goal_node", default_value="", description="goal node id (overrides planner.yaml)"),
        DeclareLaunchArgument("use_safety_filter", default_value="false",
                              description="put ldm_safety_filter_node between the policy and cmd_vel"),
        gz_sim,
        OpaqueFunction(function=_bridge_and_robot),
        navigate,
    ])
