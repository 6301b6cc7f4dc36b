"""expert_driver: the simulator's expert (gnm_nav.sim.expert) as a ROS node, standing in for a person at the
teleop while graph_builder_node records a route.

It waits for `expert/go` (std_msgs/Bool, latched: the recording has started), then drives from wherever
the robot is to `goal` [x, y] using ground truth (sim/ground_truth) and the world's map, publishes
cmd_vel at `rate_hz` of sim time, and latches `expert/done` true on arrival. Not installed
as an executable: it exists for `gnm-nav eval` and `gnm-nav demo`.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from nav_msgs.msg import Odometry
from rclpy.node import Node
from std_msgs.msg import Bool

from gnm_nav.common.errors import GnmNavError
from gnm_nav.ros.cmd_vel import CmdVelPublisher
from gnm_nav.ros.lifecycle import spin_node
from gnm_nav.ros.odometry import pose_2d
from gnm_nav.ros.params import ParamSpec, declare_parameters
from gnm_nav.ros.qos import LATCHED, RELIABLE

PARAMS = [
    ParamSpec("world", "0", "world: seed, FAMILY:SEED, shipped name or spec .yaml (the map the expert plans on)"),
    ParamSpec("robot", "turtlebot", "robot profile (limits, body radius)"),
    ParamSpec("goal", [0.0, 0.0], "goal [x, y] in the world frame (m)"),
    ParamSpec("seed", 0, "seed of the driver's human-like imperfection"),
    ParamSpec("rate_hz", 20.0, "command rate (sim time)"),
    ParamSpec("enable_stamped_cmd_vel", True, "TwistStamped (true) or Twist (false)"),
]


class ExpertDriverNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("expert_driver", **kwargs)
        from gnm_nav.common.pose import Pose2D
        from gnm_nav.sim.env import load_profile
        from gnm_nav.sim.expert import GridPlanner
        from gnm_nav.sim.occupancy import occupancy_grid
        from gnm_nav.sim.worlds import resolve_world

        self.p = declare_parameters(self, PARAMS)
        if len(self.p["goal"]) != 2:
            raise GnmNavError(f"parameter goal must be [x, y], got {list(self.p['goal'])}")
        self.profile = load_profile(self.p["robot"])
        self.planner = GridPlanner(occupancy_grid(resolve_world(self.p["world"])), self.profile.body_radius_m)
        self._pose_type = Pose2D
        self.driver = None
        self.pose = None
        self.collided = False
        self._done = False
        self._go = False
        self.cmd = CmdVelPublisher(self, "cmd_vel", self.p["enable_stamped_cmd_vel"])
        self.done_pub = self.create_publisher(Bool, "expert/done", LATCHED)
        self.create_subscription(Odometry, "sim/ground_truth", self._on_truth, RELIABLE)
        self.create_subscription(Bool, "sim/collision", self._on_collision, RELIABLE)
        self.create_subscription(Bool, "expert/go", self._on_go, LATCHED)
        self.create_timer(1.0 / self.p["rate_hz"], self._tick)

    def _on_truth(self, msg: Odometry) -> None:
        self.pose = self._pose_type(*pose_2d(msg))

    def _on_go(self, msg: Bool) -> None:
        self._go = self._go or msg.data

    def _on_collision(self, msg: Bool) -> None:
        self.collided = self.collided or msg.data

    def _tick(self) -> None:
        from gnm_nav.sim.expert import ExpertDriver, Route

        if self.pose is None or self._done or not self._go:
            return
        if self.driver is None:  # plan from where the robot really is
            goal = tuple(float(v) for v in self.p["goal"])
            path = self.planner.plan((self.pose.x, self.pose.y), goal)
            self.driver = ExpertDriver(self.planner, self.profile, Route(self.pose, goal, path),
                                       np.random.default_rng(self.p["seed"]))
            self.get_logger().info(f"driving {len(path)} waypoints to ({goal[0]:.2f}, {goal[1]:.2f})")
        if self.driver.done(self.pose):
            self._done = True
            self.cmd.publish_zero()
            self.done_pub.publish(Bool(data=True))
            self.get_logger().info("arrived")
            return
        v, w = self.driver.command(self.pose, 1.0 / self.p["rate_hz"], self.collided)
        self.collided = False
        self.cmd.publish(v, w)


def main(argv: list[str] | None = None) -> int:
    return spin_node(ExpertDriverNode, argv)


if __name__ == "__main__":
    raise SystemExit(main())
