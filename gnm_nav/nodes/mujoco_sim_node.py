"""mujoco_sim_node: the ROS 2 shell around gnm_nav.sim.SimEnv.

Steps the simulator at `physics_rate_hz` of sim time, paced at `real_time_factor` x wall time, and owns
sim time: it publishes /clock, and stamps everything with sim time, so the rest of the stack runs with
use_sim_time:=true and can go faster than real time.
"""
from __future__ import annotations

import math
from typing import Any

from nav_msgs.msg import Odometry
from rclpy.node import Node
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import Image
from std_msgs.msg import Bool
from std_srvs.srv import Trigger

from gnm_nav.common.angles import yaw_to_quaternion
from gnm_nav.common.errors import GnmNavError
from gnm_nav.ros.cmd_vel import subscribe_cmd_vel
from gnm_nav.ros.images import rgb_to_msg
from gnm_nav.ros.lifecycle import spin_node
from gnm_nav.ros.params import ParamSpec, declare_parameters
from gnm_nav.ros.qos import RELIABLE, image_qos
from gnm_nav.ros.time import sec_to_stamp
from gnm_nav.sim.odometry_error import PRESETS as ODOMETRY_PRESETS

PARAMS = [
    ParamSpec("world", "office_11",
              "world: a seed ('7'), FAMILY:SEED ('maze:3'), a shipped name (config/worlds) or a spec .yaml"),
    ParamSpec("robot", "turtlebot", "robot profile name (config/robots) or .yaml path: camera, limits, body radius"),
    ParamSpec("use_world_spawn", True, "spawn at the world's spawn pose; false: use spawn_pose"),
    ParamSpec("spawn_pose", [0.0, 0.0, 0.0], "spawn pose [x, y, yaw] in the world frame (m, rad)"),
    ParamSpec("real_time_factor", 1.0, "sim seconds per wall second (>1 runs faster than real time; use_sim_time)",
              positive=True),
    ParamSpec("physics_rate_hz", 20.0, "simulation and odometry rate in sim time", positive=True),
    ParamSpec("camera_rate_hz", 0.0, "camera rate in sim time; 0 = the robot profile's rate", minimum=0.0),
    ParamSpec("image_width", 0, "rendered image width; 0 = the robot profile's", minimum=0),
    ParamSpec("image_height", 0, "rendered image height; 0 = the robot profile's", minimum=0),
    ParamSpec("image_qos", "reliable",
              "camera publisher QoS: reliable (also serves best-effort subscribers) or sensor_data",
              choices=("reliable", "sensor_data")),
    ParamSpec("enable_stamped_cmd_vel", True, "cmd_vel is geometry_msgs/TwistStamped (true) or Twist (false)"),
    ParamSpec("cmd_vel_timeout_s", 0.5, "stop the robot when no cmd_vel arrived for this long (sim time)",
              positive=True),
    ParamSpec("odom_noise", "", "wheel-odometry error preset: none | typical | poor; '' = the robot profile's "
              "(odom drifts, sim/ground_truth stays exact)", choices=("", *ODOMETRY_PRESETS)),
    ParamSpec("seed", 0, "seed of the odometry error (its systematic part is drawn once per run)"),
    ParamSpec("odom_frame", "odom", "frame_id of odom"),
    ParamSpec("map_frame", "map", "frame_id of sim/ground_truth"),
    ParamSpec("base_frame", "base_link", "child_frame_id of odom and ground truth"),
    ParamSpec("camera_frame", "camera", "frame_id of camera images"),
]


class MujocoSimNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("mujoco_sim_node", **kwargs)
        from gnm_nav.sim.env import SimEnv, load_profile
        from gnm_nav.sim.worlds import resolve_world

        p = declare_parameters(self, PARAMS)
        self.params = p
        profile = load_profile(p["robot"])
        world = resolve_world(p["world"])
        size = (p["image_width"] or profile.camera_width, p["image_height"] or profile.camera_height)
        # executor threads vary from callback to callback; the renderer keeps its GL context on its own thread
        self.env = SimEnv(world, profile, image_size=size, seed=p["seed"], odom_noise=p["odom_noise"],
                          render_thread=True)
        try:
            if p["use_world_spawn"] and world.spawn is not None:
                self._spawn = tuple(world.spawn)
            else:
                if len(p["spawn_pose"]) != 3:
                    raise GnmNavError(f"parameter spawn_pose must be [x, y, yaw], got {list(p['spawn_pose'])}")
                self._spawn = tuple(float(v) for v in p["spawn_pose"])
            self.env.reset(self._spawn)
        except BaseException:
            self.env.close()
            raise
        self.dt = 1.0 / p["physics_rate_hz"]
        self.camera_period = 1.0 / (p["camera_rate_hz"] or profile.camera_rate_hz)
        self.sim_time = 0.0
        self._next_frame = 0.0
        self._cmd = (0.0, 0.0)
        self._cmd_time = -math.inf
        self.dropped_cmds = 0
        self.collisions = 0

        self.pub_image = self.create_publisher(Image, profile.camera_topic, image_qos(p["image_qos"]))
        self.pub_odom = self.create_publisher(Odometry, "odom", RELIABLE)
        self.pub_truth = self.create_publisher(Odometry, "sim/ground_truth", RELIABLE)
        self.pub_collision = self.create_publisher(Bool, "sim/collision", RELIABLE)
        self.pub_clock = self.create_publisher(Clock, "/clock", RELIABLE)
        subscribe_cmd_vel(self, "cmd_vel", p["enable_stamped_cmd_vel"], self._on_cmd)
        self.create_service(Trigger, "sim/reset", self._on_reset)
        self.timer = self.create_timer(self.dt / p["real_time_factor"], self._tick)
        self.get_logger().info(
            f"world {world.name} ({world.family}), robot {profile.name}, spawn {self._format(self._spawn)}, "
            f"camera {size[0]}x{size[1]} @ {1 / self.camera_period:.1f} Hz, x{p['real_time_factor']} real time")

    @staticmethod
    def _format(pose: tuple[float, ...]) -> str:
        return "(" + ", ".join(f"{v:.2f}" for v in pose) + ")"

    def _on_cmd(self, v: float, w: float, stamp: float | None) -> None:
        if not (math.isfinite(v) and math.isfinite(w)):
            self.dropped_cmds += 1
            self.get_logger().warning(f"dropped cmd_vel with non-finite values (v={v}, w={w})",
                                      throttle_duration_sec=5.0)
            return
        self._cmd = (v, w)
        self._cmd_time = self.sim_time

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        self.env.reset(self._spawn)
        self._cmd, self._cmd_time = (0.0, 0.0), -math.inf
        response.success = True
        response.message = f"robot reset to {self._format(self._spawn)}"
        return response

    def _tick(self) -> None:
        cmd = self._cmd if self.sim_time - self._cmd_time <= self.params["cmd_vel_timeout_s"] else (0.0, 0.0)
        result = self.env.step(cmd[0], cmd[1], self.dt)
        self.sim_time += self.dt
        stamp = sec_to_stamp(self.sim_time)
        self.pub_clock.publish(Clock(clock=stamp))
        p = self.params
        self.pub_odom.publish(_odometry(stamp, p["odom_frame"], p["base_frame"], result.odom, result.v, result.w))
        self.pub_truth.publish(_odometry(stamp, p["map_frame"], p["base_frame"], result.pose, result.v, result.w))
        self.pub_collision.publish(Bool(data=result.collided))
        if result.collided:
            self.collisions += 1
            self.get_logger().warning("collision: the robot is pushing against an obstacle", throttle_duration_sec=2.0)
        if self.sim_time + 1e-9 >= self._next_frame:
            self._next_frame += self.camera_period
            self.pub_image.publish(rgb_to_msg(self.env.render(), self.sim_time, p["camera_frame"]))

    def destroy_node(self) -> None:
        env = getattr(self, "env", None)  # rclpy also destroys nodes whose __init__ failed part-way
        if env is not None:
            env.close()
        super().destroy_node()


def _odometry(stamp, frame_id: str, child: str, pose, v: float, w: float) -> Odometry:
    msg = Odometry()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.child_frame_id = child
    msg.pose.pose.position.x = pose.x
    msg.pose.pose.position.y = pose.y
    _, _, msg.pose.pose.orientation.z, msg.pose.pose.orientation.w = yaw_to_quaternion(pose.yaw)
    msg.twist.twist.linear.x = v
    msg.twist.twist.angular.z = w
    return msg


def main(argv: list[str] | None = None) -> int:
    return spin_node(MujocoSimNode, argv)


if __name__ == "__main__":
    raise SystemExit(main())
