"""gnm_policy_node: camera + subgoal image -> cmd_vel_nav and gnm/waypoints, with the GNM policy.

Lifecycle node (autostart configures and activates it). It runs the model on camera frames as
they arrive (at most max_rate_hz), so command latency is one inference, not a timer period. While
it cannot act (no model, stale camera or subgoal, bad model output) it commands zero and says why;
except that while the planner reports the robot lost (gnm/localization_lost) and sends no subgoal, it
turns on the spot to look for the graph (gnm_nav.control.recovery: nearest headings first, bounded); and when the
base has been told to go forward while the wheel odometry stands still (pushing against an obstacle), it
backs up a little, and the model's heading is then turned clear of where it stalled (bounded too: after
a few tries at one place it stops until moved). Which of these it does is decided by
gnm_nav.control.supervisor from typed inputs; this node only turns messages into those inputs and the decision into
a command, a log line and /diagnostics.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any, Callable

import numpy as np
from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import Odometry, Path
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.lifecycle import LifecycleState, TransitionCallbackReturn
from sensor_msgs.msg import Image
from std_msgs.msg import Bool

from gnm_nav.common.angles import yaw_to_quaternion
from gnm_nav.common.errors import GnmNavError, ImageDecodeError
from gnm_nav.common.paths import DEFAULT_GNM_MODEL, resolve_model_path
from gnm_nav.control.controller import CONTROLLERS, WAYPOINT_INDEX, Limits, make_controller
from gnm_nav.control.policy import GNMPolicy, TurnDegradation
from gnm_nav.control.recovery import BackUpConfig, HeadingSweep, StallBackUp, SweepConfig
from gnm_nav.control.supervisor import Decision, Inputs, Mode, PolicySupervisor, Reason
from gnm_nav.gnm.context_buffer import ContextBuffer
from gnm_nav.gnm.preprocessing import preprocess_frame
from gnm_nav.robot_profile import load_robot_profile
from gnm_nav.ros import legacy_params
from gnm_nav.ros.cmd_vel import CmdVelPublisher, subscribe_cmd_vel
from gnm_nav.ros.diagnostics import DIAGNOSTICS_PERIOD_S, DiagnosticsPublisher
from gnm_nav.ros.images import CameraSubscriber, msg_to_rgb
from gnm_nav.ros.lifecycle import ConfigurableNode, schedule_autostart, spin_node
from gnm_nav.ros.odometry import pose_2d
from gnm_nav.ros.params import ParamSpec, declare_parameters, legacy_values
from gnm_nav.ros.qos import LATCHED, RELIABLE, image_qos

PARAMS = [
    ParamSpec("autostart", True, "configure and activate on start-up"),
    ParamSpec("gnm_model_path", DEFAULT_GNM_MODEL, "GNM ONNX file (a path, or a name under the package models/)"),
    ParamSpec("providers", "auto", "ONNX Runtime providers: auto | tensorrt | cuda | cpu",
              choices=("auto", "tensorrt", "cuda", "cpu")),
    ParamSpec("robot_profile", "locobot", "robot profile (config/robots/<name>.yaml) giving default limits"),
    ParamSpec("max_v", 0.0, "max forward speed, m/s (0 = from robot_profile)", minimum=0.0),
    ParamSpec("max_w", 0.0, "max turn rate, rad/s (0 = from robot_profile)", minimum=0.0),
    ParamSpec("max_acc_v", 0.0, "max linear acceleration, m/s^2 (0 = from robot_profile)", minimum=0.0),
    ParamSpec("max_acc_w", 0.0, "max angular acceleration, rad/s^2 (0 = from robot_profile)", minimum=0.0),
    ParamSpec("image_transport", "raw", "raw | compressed (subscribes camera/image_raw/compressed)",
              choices=("raw", "compressed")),
    ParamSpec("image_qos", "sensor_data", "camera QoS: sensor_data (best effort) | reliable",
              choices=("sensor_data", "reliable")),
    ParamSpec("enable_stamped_cmd_vel", True, "publish TwistStamped (true) or Twist (false)"),
    ParamSpec("base_frame_id", "base_link", "frame of the waypoints and commands"),
    ParamSpec("controller", "smooth", "waypoint controller: smooth (acceleration-limited) | gnm (public formula)",
              choices=("smooth", "gnm")),
    ParamSpec("odometry_steering", 0.5, "share (0..1) of the heading taken toward gnm/subgoal_pose (the planner's "
                                        "odometry place of the subgoal) while it is fresh; 0 = the model alone steers",
              minimum=0.0, maximum=1.0),
    ParamSpec("eval_turn_bias", 0.0, "evaluation only: rad/s added to every model turn command (a weaker policy, "
                                     "to measure the safety filter on one); 0 = off"),
    ParamSpec("eval_turn_noise", 0.0, "evaluation only: rad/s standard deviation of Gaussian noise on every model "
                                      "turn command (seeded, so runs repeat); 0 = off", minimum=0.0),
    ParamSpec("max_rate_hz", 10.0, "at most this many model steps per second (less CPU, slower reactions)",
              positive=True),
    ParamSpec("source_timeout", 1.0, "s; a camera or subgoal older than this stops the robot", positive=True),
    ParamSpec("recovery_sweep", True, "while lost (and no subgoal), turn on the spot to look for the graph "
                                      "(false: a body that must not turn in place)"),
    ParamSpec("stall_backup", True, "when the base is told to go forward and the odometry stands still, back up "
                                    "(false: a robot without odometry or that must not reverse)"),
]
LEGACY = legacy_params.POLICY  # the 0.1 names it still answers to, for one release


def _limit(params: dict, key: str, profile_value: float) -> float:
    return float(params[key]) if params[key] > 0 else float(profile_value)


class PolicyNode(ConfigurableNode):
    def __init__(self, **kwargs) -> None:
        super().__init__("gnm_policy_node", **kwargs)
        self._legacy = legacy_values(self, LEGACY)
        self.p = declare_parameters(self, PARAMS, LEGACY)
        self._cmd = CmdVelPublisher(self, self._legacy.topic("cmd_vel_nav"), self.p["enable_stamped_cmd_vel"],
                                    self.p["base_frame_id"])
        self._waypoints_pub = self.create_publisher(Path, "gnm/waypoints", RELIABLE)
        self._diag = DiagnosticsPublisher(self, "policy")
        # Camera frames are decoded in their own callback group, so a slow decode never holds up the watchdog;
        # every callback that touches the node's state runs under one lock, taken after decoding.
        self._group = MutuallyExclusiveCallbackGroup()
        self._camera_group = MutuallyExclusiveCallbackGroup()
        self._lock = threading.Lock()
        self._policy: GNMPolicy | None = None
        self._frames: ContextBuffer | None = None
        self._camera: CameraSubscriber | None = None
        self._subgoal_sub = None
        self._subgoal: np.ndarray | None = None
        self._subgoal_time: float | None = None
        self._camera_time: float | None = None
        self._last_step_wall = 0.0
        self._active = False
        self._decision: Decision | None = None  # the supervisor's latest decision, acted on
        self._reason = "not configured"  # what /diagnostics says: the decision's message, or the lifecycle state
        self._latencies_ms: deque[float] = deque(maxlen=200)
        self._subgoal_errors = 0
        self._lost_time: float | None = None  # when the planner last said the robot is lost
        self._goal_reached = False  # the planner says the goal is reached: no subgoal is expected
        self._lost_sub = None
        self._reached_sub = None
        self._subgoal_pose_sub = None
        self._subgoal_offset: tuple[float, np.ndarray] | None = None  # (receive time, [x, y] base frame)
        self._supervisor: PolicySupervisor | None = None
        self._backup: StallBackUp | None = None
        self._backup_subs: list = []
        self.create_timer(0.1, self._serial(self._watchdog), callback_group=self._group)
        self.create_timer(self._legacy.section("node").get("diagnostics_period", DIAGNOSTICS_PERIOD_S),
                          self._publish_diagnostics)
        if self.p["autostart"]:
            schedule_autostart(self)

    def before_exit(self) -> None:
        """The last command before the process exits is a zero (the base must still keep its own cmd_vel
        timeout: a node killed outright sends nothing)."""
        self._cmd.publish_final_zero()

    # lifecycle -------------------------------------------------------------------------------
    def _configure(self) -> None:
        from gnm_nav.gnm.engine import GNMEngine  # onnxruntime is heavy: load only when configuring

        p = self.p
        if p["controller"] not in CONTROLLERS:
            raise ValueError(f"controller must be one of {CONTROLLERS}, got {p['controller']!r}")
        profile = load_robot_profile(p["robot_profile"])
        limits = Limits(_limit(p, "max_v", profile.max_v), _limit(p, "max_w", profile.max_w),
                        _limit(p, "max_acc_v", profile.max_acc_v), _limit(p, "max_acc_w", profile.max_acc_w))
        engine = GNMEngine(resolve_model_path(p["gnm_model_path"]), providers=p["providers"])
        card = engine.card
        waypoint = self._legacy.section("policy").get("waypoint_index", WAYPOINT_INDEX)
        controller = make_controller(p["controller"], limits, 1.0 / card.context_spacing_s, waypoint,
                                     stale_after_s=p["source_timeout"])
        self._policy = GNMPolicy(engine, controller, limits.max_v, waypoint, p["odometry_steering"],
                                 TurnDegradation(p["eval_turn_bias"], p["eval_turn_noise"],
                                                 **self._legacy.section("degradation")))
        self._frames = ContextBuffer(card.context_size, card.context_spacing_s, card.image_size,
                                     card.center_crop)
        topic = self._legacy.topic
        self._camera = CameraSubscriber(self, topic("camera/image_raw"), p["image_transport"], p["image_qos"],
                                        self._serial(self._on_image), callback_group=self._camera_group)
        self._subgoal_sub = self.create_subscription(Image, topic("gnm/subgoal"), self._serial(self._on_subgoal),
                                                     image_qos("reliable"), callback_group=self._group)
        self._lost_sub = self.create_subscription(Bool, topic("gnm/localization_lost"), self._serial(self._on_lost),
                                                  RELIABLE, callback_group=self._group)
        self._reached_sub = self.create_subscription(Bool, "gnm/goal_reached", self._serial(self._on_goal_reached),
                                                     LATCHED, callback_group=self._group)
        self._subgoal_pose_sub = self.create_subscription(PoseStamped, topic("gnm/subgoal_pose"),
                                                          self._serial(self._on_subgoal_pose), RELIABLE,
                                                          callback_group=self._group)
        sweep = HeadingSweep(SweepConfig(**self._legacy.section("sweep")).limited(limits.max_w)
                             ) if p["recovery_sweep"] else None
        if p["stall_backup"]:
            self._backup = StallBackUp(BackUpConfig(**self._legacy.section("backup"),
                                                    body_radius_m=profile.body_radius_m).limited(limits.max_v))
            self._backup_subs = [
                self.create_subscription(Odometry, topic("odom"), self._serial(self._on_odom), RELIABLE,
                                         callback_group=self._group),
                subscribe_cmd_vel(self, topic("cmd_vel"), p["enable_stamped_cmd_vel"],
                                  self._serial(self._on_base_command),
                                  callback_group=self._group)]
        self._supervisor = PolicySupervisor(p["source_timeout"], sweep, self._backup)
        self.get_logger().info(
            f"model {engine.model_path} on {engine.providers}; context {card.context_size}+1 frames every "
            f"{card.context_spacing_s:.2f} s; limits v<={limits.max_v} m/s w<={limits.max_w} rad/s; "
            f"controller {p['controller']}")

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._active = True
        self._reason = "active, waiting for camera and subgoal"
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._active = False
        self._cmd.publish_zero()
        self._decision, self._reason = None, "deactivated"
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        if self._camera is not None:
            self._camera.destroy()
        for sub in (self._subgoal_sub, self._lost_sub, self._reached_sub, self._subgoal_pose_sub, *self._backup_subs):
            if sub is not None:
                self.destroy_subscription(sub)
        self._policy = self._frames = self._camera = self._subgoal_sub = self._lost_sub = self._supervisor = None
        self._subgoal_pose_sub, self._subgoal_offset, self._reached_sub = None, None, None
        self._backup, self._backup_subs = None, []
        self._decision, self._reason = None, "not configured"
        return TransitionCallbackReturn.SUCCESS

    # inputs ----------------------------------------------------------------------------------
    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _serial(self, callback: Callable[..., None]) -> Callable[..., None]:
        def locked(*args: Any) -> None:
            with self._lock:
                callback(*args)
        return locked

    def _on_subgoal(self, msg: Image) -> None:
        try:
            rgb = msg_to_rgb(msg)
        except ImageDecodeError as exc:
            self._subgoal_errors += 1
            self.get_logger().error(f"dropping subgoal image: {exc}", throttle_duration_sec=5.0)
            return
        card = self._policy.engine.card
        self._subgoal = preprocess_frame(rgb, card.image_size, card.center_crop)
        self._subgoal_time = self._now()

    def _on_subgoal_pose(self, msg: PoseStamped) -> None:
        p = msg.pose.position
        offset = np.array([p.x, p.y], dtype=np.float64)
        if not np.all(np.isfinite(offset)):
            self.get_logger().warning("subgoal pose with NaN/Inf ignored", throttle_duration_sec=5.0)
            return
        self._subgoal_offset = (self._now(), offset)

    def _fresh_subgoal_offset(self) -> np.ndarray | None:
        """The planner's odometry place of the subgoal, unless it is older than source_timeout."""
        if self._subgoal_offset is None or self._now() - self._subgoal_offset[0] > self.p["source_timeout"]:
            return None
        return self._subgoal_offset[1]

    def _on_odom(self, msg: Odometry) -> None:
        x, y, yaw = pose_2d(msg)
        self._backup.on_odometry(x, y, yaw, self._now())

    def _on_base_command(self, v: float, w: float, stamp: float | None) -> None:
        self._backup.on_base_command(v)

    def _on_goal_reached(self, msg: Bool) -> None:
        self._goal_reached = bool(msg.data)

    def _on_lost(self, msg: Bool) -> None:
        self._lost_time = self._now() if msg.data else None

    def _on_image(self, rgb: np.ndarray, stamp: float) -> None:
        now = self._now()
        if not self._frames.push(rgb, stamp, now):
            self.get_logger().warning(f"camera frame not used: {self._frames.refusal}", throttle_duration_sec=5.0)
            return  # the camera counts as fresh only while its frames are used (else it goes stale: zero)
        self._camera_time = now
        if not self._active:
            return
        wall = time.monotonic()
        if wall - self._last_step_wall < 1.0 / self.p["max_rate_hz"]:
            return
        self._last_step_wall = wall
        self._step()

    # acting ----------------------------------------------------------------------------------
    def _inputs(self) -> Inputs:
        return Inputs(self._now(), self._camera_time, self._frames.fill if self._frames else 0.0, self._subgoal_time,
                      self._lost_time, self._goal_reached)

    def _step(self) -> None:
        """At a camera frame: act on the supervisor's decision."""
        decision = self._supervisor.step(self._inputs())
        if decision.mode is not Mode.MODEL:
            self._act(decision)
            return
        t0 = time.perf_counter()
        try:
            clear_heading = self._backup.clear_heading if self._backup is not None else None
            out = self._policy.step(self._frames.model_input(), self._subgoal, self._now(),
                                    self._fresh_subgoal_offset(), clear_heading)
        except GnmNavError as exc:
            self._act(Decision(Mode.STOP, Reason.MODEL_ERROR, detail=str(exc)))
            return
        self._cmd.publish(out.v, out.w, stamp=self._frames.latest_stamp)
        self._latencies_ms.append((time.perf_counter() - t0) * 1e3)
        self._publish_path(out.waypoints_m)
        self._decision = decision
        self._reason = f"{decision.message}: distance to subgoal {out.distance:.1f}"

    def _act(self, decision: Decision) -> None:
        """A decision that is not the model's: its command (zero for STOP and IDLE), and a log line when the
        robot does something new."""
        previous = self._decision
        if previous is None or (previous.mode, previous.reason) != (decision.mode, decision.reason):
            if decision.mode is Mode.IDLE:
                self.get_logger().info(decision.message)
            elif decision.mode is Mode.STOP:
                self.get_logger().warning(f"commanding zero: {decision.message}", throttle_duration_sec=5.0)
            else:
                self.get_logger().warning(decision.message)
        self._decision, self._reason = decision, decision.message
        self._policy.controller.reset()
        self._cmd.publish(decision.v, decision.w)

    def _watchdog(self) -> None:
        """Between camera frames: stop when an input went stale (or the model never loaded)."""
        if not self._active:
            if self.p["autostart"] and self._policy is None:
                self._cmd.publish_zero()
            return
        decision = self._supervisor.watch(self._inputs())
        if decision is not None:
            self._act(decision)

    def _publish_path(self, waypoints: np.ndarray) -> None:
        path = Path()
        path.header.stamp = self.get_clock().now().to_msg()
        path.header.frame_id = self.p["base_frame_id"]
        for x, y, c, s in waypoints:
            pose = PoseStamped()
            pose.header = path.header
            pose.pose.position.x, pose.pose.position.y = float(x), float(y)
            _, _, pose.pose.orientation.z, pose.pose.orientation.w = yaw_to_quaternion(float(np.arctan2(s, c)))
            path.poses.append(pose)
        self._waypoints_pub.publish(path)

    def _publish_diagnostics(self) -> None:
        now = self._now()
        lat = np.array(self._latencies_ms) if self._latencies_ms else np.array([np.nan])
        values = {
            "state": self._reason,
            "providers": self._policy.engine.providers if self._policy else [],
            "inference_ms_p50": float(np.percentile(lat, 50)),
            "inference_ms_p99": float(np.percentile(lat, 99)),
            "context_fill": self._frames.fill if self._frames else 0.0,
            "camera_age_s": now - self._camera_time if self._camera_time is not None else float("inf"),
            "subgoal_age_s": now - self._subgoal_time if self._subgoal_time is not None else float("inf"),
            "image_decode_errors": self._camera.errors if self._camera else 0,
            "subgoal_decode_errors": self._subgoal_errors,
            "stall_backups": self._backup.backups if self._backup else 0,
        }
        mode = self._decision.mode if self._decision is not None else None
        level = "OK" if mode in (Mode.MODEL, Mode.IDLE) else ("ERROR" if self._policy is None else "WARN")
        self._diag.publish(level, self._reason, values)


def main(argv: list[str] | None = None) -> int:
    return spin_node(PolicyNode, argv)


if __name__ == "__main__":
    raise SystemExit(main())
