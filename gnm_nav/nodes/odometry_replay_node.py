"""odometry_replay_node: blind teach and repeat (gnm_nav.control.odometry_replay) as a ROS node, the baseline with no
camera: it follows the odometry poses recorded in a graph by pure pursuit on `odom`.

Publishes cmd_vel, the steering carrot on gnm/subgoal_pose (base frame) and gnm/goal_reached (latched) when the
odometry says the end of the recording is reached; then it commands zero. Odometry older than
`source_timeout` stops the robot.
"""
from __future__ import annotations

import math
from typing import Any

from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import Odometry
from rclpy.node import Node
from std_msgs.msg import Bool

from gnm_nav.common.errors import GnmNavError
from gnm_nav.control.controller import Limits, make_controller
from gnm_nav.control.odometry_replay import OdometryReplay, ReplayConfig, recorded_path
from gnm_nav.ros.cmd_vel import CmdVelPublisher
from gnm_nav.ros.diagnostics import DiagnosticsPublisher
from gnm_nav.ros.lifecycle import spin_node
from gnm_nav.ros.odometry import pose_2d
from gnm_nav.ros.params import ParamSpec, declare_parameters
from gnm_nav.ros.qos import LATCHED, RELIABLE

PARAMS = [
    ParamSpec("graph_dir", "", "graph directory whose recorded odometry poses are replayed (required)", read_only=True),
    ParamSpec("goal_node", -1, "node to drive to; -1 = the graph's last node", read_only=True, minimum=-1),
    ParamSpec("start_node", -1, "node the robot stands on at the start; -1 = the graph's first node", read_only=True,
              minimum=-1),
    ParamSpec("robot_profile", "locobot", "config/robots/<name>.yaml: speed and acceleration limits", read_only=True),
    ParamSpec("lookahead_m", ReplayConfig.lookahead_m, "m; steer at the first recorded point this far ahead",
              read_only=True, positive=True),
    ParamSpec("arrive_radius_m", ReplayConfig.arrive_radius_m, "m; the recording's end this near by odometry: arrived",
              read_only=True, positive=True),
    ParamSpec("rate_hz", 10.0, "command rate", read_only=True, positive=True),
    ParamSpec("source_timeout", 0.5, "s; odometry older than this stops the robot", positive=True),
    ParamSpec("enable_stamped_cmd_vel", True, "TwistStamped (true) or Twist (false)", read_only=True),
    ParamSpec("base_frame_id", "base_link", "frame of gnm/subgoal_pose"),
    ParamSpec("diagnostics_period", 1.0, "s between /diagnostics messages", read_only=True, positive=True),
]


class OdometryReplayNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("odometry_replay_node", **kwargs)
        from gnm_nav.graph.store import TopoGraph
        from gnm_nav.robot_profile import load_robot_profile

        self.p = declare_parameters(self, PARAMS)
        if not self.p["graph_dir"]:
            raise GnmNavError("parameter graph_dir is empty: set the graph to replay")
        graph = TopoGraph.load(self.p["graph_dir"])
        nodes = graph.nodes()
        start = self.p["start_node"] if self.p["start_node"] >= 0 else nodes[0]
        goal = self.p["goal_node"] if self.p["goal_node"] >= 0 else nodes[-1]
        try:
            config = ReplayConfig(self.p["lookahead_m"], self.p["arrive_radius_m"])
            profile = load_robot_profile(self.p["robot_profile"])
        except (ValueError, FileNotFoundError) as exc:
            raise GnmNavError(str(exc)) from exc
        self.replay = OdometryReplay(recorded_path(graph.g, start, goal), config)
        limits = Limits(profile.max_v, profile.max_w, profile.max_acc_v, profile.max_acc_w)
        self.controller = make_controller("smooth", limits, frame_rate=4.0)
        self._odom: tuple[float, tuple[float, float, float]] | None = None  # (receive time, pose)
        self.arrived = False
        self.progress = 0.0
        self.cmd = CmdVelPublisher(self, "cmd_vel", self.p["enable_stamped_cmd_vel"], self.p["base_frame_id"])
        self.goal_pub = self.create_publisher(Bool, "gnm/goal_reached", LATCHED)
        self.carrot_pub = self.create_publisher(PoseStamped, "gnm/subgoal_pose", RELIABLE)
        self.diagnostics = DiagnosticsPublisher(self, "odometry replay")
        self.create_subscription(Odometry, "odom", self._on_odom, RELIABLE)
        self.create_timer(1.0 / self.p["rate_hz"], self._tick)
        self.create_timer(self.p["diagnostics_period"], self._publish_diagnostics)
        self.get_logger().info(f"replaying {self.p['graph_dir']} from node {start} to node {goal} by odometry alone")

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_odom(self, msg: Odometry) -> None:
        pose = pose_2d(msg)
        if all(math.isfinite(v) for v in pose):
            self._odom = (self._now(), pose)

    def _tick(self) -> None:
        now = self._now()
        if self.arrived or self._odom is None or now - self._odom[0] > self.p["source_timeout"]:
            self.controller.reset()
            self.cmd.publish_zero()
            return
        step = self.replay.step(self._odom[1])
        self.progress = step.progress
        if step.arrived:
            self.arrived = True
            self.cmd.publish_zero()
            self.goal_pub.publish(Bool(data=True))
            self.get_logger().info("reached the end of the recording (by odometry)")
            return
        carrot = PoseStamped()
        carrot.header.stamp = self.get_clock().now().to_msg()
        carrot.header.frame_id = self.p["base_frame_id"]
        carrot.pose.position.x, carrot.pose.position.y = float(step.carrot[0]), float(step.carrot[1])
        carrot.pose.orientation.w = 1.0
        self.carrot_pub.publish(carrot)
        v, w = self.controller.command(step.carrot, now)
        self.cmd.publish(v, w)

    def before_exit(self) -> None:
        """The last command before the process exits is a zero."""
        self.cmd.publish_final_zero()

    def _publish_diagnostics(self) -> None:
        fresh = self._odom is not None and self._now() - self._odom[0] <= self.p["source_timeout"]
        level, message = (("OK", "arrived") if self.arrived else ("OK", "replaying") if fresh
                          else ("WARN", "no odometry"))
        self.diagnostics.publish(level, message, {"progress": self.progress, "arrived": self.arrived})


def main(argv: list[str] | None = None) -> int:
    return spin_node(OdometryReplayNode, argv)


if __name__ == "__main__":
    raise SystemExit(main())
