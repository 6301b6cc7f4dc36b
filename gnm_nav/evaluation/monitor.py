"""The evaluator's own ROS node: it watches the running stack (ground truth, collisions, goal, filter
state, /diagnostics, how old the commands' camera frames are) from a private rclpy context spun on a
background thread. It never commands the robot.
"""
from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, defaultdict
from dataclasses import dataclass, field

import numpy as np

DIAGNOSTIC_LATENCY_KEYS = ("inference_ms_p50", "inference_ms_p99", "tick_ms_p50", "tick_ms_p99",
                           "filter_latency_ms_p50", "embed_ms_p50")


STACK = "stack"  # latency key of figures measured across the nodes (camera -> command), not reported by one
CAMERA_FRAMES_KEPT = 100  # recent camera frames a command's stamp is looked up in (10 s at 10 Hz)

DRAIN_QUIET_S = 0.5  # reset waits until the ground truth has been quiet this long (wall s) ...
DRAIN_MAX_S = 5.0  # ... or this long at most


@dataclass
class Observations:
    """Everything seen since the last reset (sim time from the ground-truth stamps)."""

    trajectory: list[tuple[float, float, float, float]] = field(default_factory=list)  # (t, x, y, yaw)
    collision_ticks: list[float] = field(default_factory=list)  # sim times of collided physics ticks
    collisions: int = 0  # separate contacts (rising edges)
    goal_reached_at: float | None = None
    started_at: float | None = None  # the stack's first subgoal (image or odometry place): navigation began
    expert_done_at: float | None = None
    odometry: list[tuple[float, float, float, float]] = field(default_factory=list)  # (t, x, y, yaw) of `odom`
    safety_states: list[tuple[float, str]] = field(default_factory=list)
    carrots: list[tuple[float, float, float]] = field(default_factory=list)  # (t, x, y): gnm/subgoal_pose in the world
    latency: dict[str, dict[str, list[float]]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(list)))
    recording_at: float | None = None  # the graph builder's session has its first node (its markers say so)

    @property
    def now(self) -> float:
        return self.trajectory[-1][0] if self.trajectory else 0.0


class StackMonitor:
    def __init__(self, namespace: str = "", domain_id: int | None = None) -> None:
        import rclpy
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor

        self._lock = threading.Lock()
        self.obs = Observations()
        self._last_truth_wall = 0.0  # wall time of the latest ground-truth message
        self._was_colliding = False
        self._frames_seen: OrderedDict[tuple[int, int], float] = OrderedDict()
        self._answered: dict[str, set[tuple[int, int]]] = {}
        self.context = Context()
        kwargs = {} if domain_id is None else {"domain_id": domain_id}
        rclpy.init(context=self.context, **kwargs)
        try:
            self.node = rclpy.create_node("gnm_eval_monitor", namespace=namespace, context=self.context)
            self._subscribe()
            self.executor = SingleThreadedExecutor(context=self.context)
            self.executor.add_node(self.node)
        except BaseException:
            rclpy.try_shutdown(context=self.context)
            raise
        self._thread = threading.Thread(target=self._spin, name="gnm-eval-monitor", daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        from rclpy.executors import ExternalShutdownException

        try:
            while self.context.ok():
                self.executor.spin_once(timeout_sec=0.1)
        except ExternalShutdownException:
            pass

    def _subscribe(self) -> None:
        from diagnostic_msgs.msg import DiagnosticArray
        from geometry_msgs.msg import PoseStamped, TwistStamped
        from nav_msgs.msg import Odometry
        from sensor_msgs.msg import Image
        from std_msgs.msg import Bool, String
        from visualization_msgs.msg import MarkerArray

        from gnm_nav.ros.qos import LATCHED, RELIABLE, image_qos

        n = self.node
        n.create_subscription(Odometry, "sim/ground_truth", self._on_truth, RELIABLE)
        n.create_subscription(Odometry, "odom", self._on_odom, RELIABLE)
        n.create_subscription(Bool, "sim/collision", self._on_collision, RELIABLE)
        n.create_subscription(Bool, "gnm/goal_reached", self._on_goal_reached, LATCHED)
        n.create_subscription(Image, "gnm/subgoal", self._on_subgoal, RELIABLE)
        n.create_subscription(Bool, "expert/done", self._on_expert_done, LATCHED)
        n.create_subscription(String, "gnm/safety_state", self._on_safety_state, LATCHED)
        n.create_subscription(PoseStamped, "gnm/subgoal_pose", self._on_subgoal_pose, RELIABLE)
        n.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 50)
        n.create_subscription(MarkerArray, "gnm/graph_markers", self._on_graph_markers, LATCHED)
        n.create_subscription(Image, "camera/image_raw", self._on_camera, image_qos("sensor_data"))
        n.create_subscription(TwistStamped, "cmd_vel", lambda m: self._on_command(m, "camera_to_cmd_ms"), RELIABLE)
        n.create_subscription(TwistStamped, "cmd_vel_nav", lambda m: self._on_command(m, "camera_to_policy_ms"),
                              RELIABLE)
        self._go_pub = n.create_publisher(Bool, "expert/go", LATCHED)

    # callbacks ---------------------------------------------------------------------------------
    def _on_truth(self, msg) -> None:
        from gnm_nav.ros.odometry import pose_2d
        from gnm_nav.ros.time import stamp_to_sec

        with self._lock:
            self._last_truth_wall = time.monotonic()
            self.obs.trajectory.append((stamp_to_sec(msg.header.stamp), *pose_2d(msg)))

    def _on_odom(self, msg) -> None:
        from gnm_nav.ros.odometry import pose_2d
        from gnm_nav.ros.time import stamp_to_sec

        with self._lock:
            self.obs.odometry.append((stamp_to_sec(msg.header.stamp), *pose_2d(msg)))

    def _on_collision(self, msg) -> None:
        with self._lock:
            if msg.data:
                self.obs.collision_ticks.append(self.obs.now)
                if not self._was_colliding:
                    self.obs.collisions += 1
            self._was_colliding = bool(msg.data)

    def _on_goal_reached(self, msg) -> None:
        with self._lock:
            if msg.data and self.obs.goal_reached_at is None:
                self.obs.goal_reached_at = self.obs.now

    def _on_subgoal(self, msg) -> None:
        with self._lock:
            if self.obs.started_at is None and self.obs.trajectory:  # (none before this run's simulator)
                self.obs.started_at = self.obs.now

    def _on_graph_markers(self, msg) -> None:
        """The builder marks its session's newest node once the session has one."""
        from gnm_nav.graph.ros_markers import CLOSEST_NS

        with self._lock:
            if self.obs.recording_at is None and any(m.ns == CLOSEST_NS for m in msg.markers):
                self.obs.recording_at = self.obs.now

    def _on_expert_done(self, msg) -> None:
        with self._lock:
            if msg.data and self.obs.expert_done_at is None:
                self.obs.expert_done_at = self.obs.now

    def _on_safety_state(self, msg) -> None:
        with self._lock:
            self.obs.safety_states.append((self.obs.now, msg.data))

    def _on_subgoal_pose(self, msg) -> None:
        """The odometry's steering carrot (base frame), placed in the world by the latest ground truth."""
        with self._lock:
            if not self.obs.trajectory:
                return
            if self.obs.started_at is None:
                self.obs.started_at = self.obs.now
            t, x, y, yaw = self.obs.trajectory[-1]
            bx, by = msg.pose.position.x, msg.pose.position.y
            c, s = math.cos(yaw), math.sin(yaw)
            self.obs.carrots.append((t, x + c * bx - s * by, y + s * bx + c * by))

    def _on_camera(self, msg) -> None:
        """When each camera frame arrived (wall), by its stamp: a command stamped with it answers that frame."""
        stamp = msg.header.stamp
        with self._lock:
            self._frames_seen[(stamp.sec, stamp.nanosec)] = time.monotonic()
            while len(self._frames_seen) > CAMERA_FRAMES_KEPT:
                self._frames_seen.popitem(last=False)

    def _on_command(self, msg, key: str) -> None:
        """Camera frame in -> the first command answering it out (wall ms, as this node sees both): the stack's
        reaction time, scheduling and transport included. Commands answering no frame (stops, turns) are not
        counted."""
        stamp = msg.header.stamp
        with self._lock:
            seen = self._frames_seen.get((stamp.sec, stamp.nanosec))
            answered = self._answered.setdefault(key, set())
            if seen is None or (stamp.sec, stamp.nanosec) in answered:
                return
            answered.add((stamp.sec, stamp.nanosec))
            if len(answered) > CAMERA_FRAMES_KEPT:
                answered.clear()
            self.obs.latency[STACK][key].append((time.monotonic() - seen) * 1e3)

    def _on_diagnostics(self, msg) -> None:
        with self._lock:
            for status in msg.status:
                node = status.name.split(":", 1)[0]
                for kv in status.values:
                    if kv.key in DIAGNOSTIC_LATENCY_KEYS:
                        try:
                            value = float(kv.value)
                        except ValueError:
                            continue
                        if math.isfinite(value):
                            self.obs.latency[node][kv.key].append(value)

    # queries -------------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget what was seen and take back the latched go of the previous route: the next expert driver must
        not start before start_expert (else it drives off before the graph builder records its first frame)."""
        from std_msgs.msg import Bool

        self._go_pub.publish(Bool(data=False))
        # the previous simulator's last messages may still be queued: let them arrive before forgetting, or they
        # would open the next run's trajectory at the old robot's pose
        deadline = time.monotonic() + DRAIN_MAX_S
        while time.monotonic() - self._last_truth_wall < DRAIN_QUIET_S and time.monotonic() < deadline:
            time.sleep(0.05)
        with self._lock:
            self.obs = Observations()
            self._was_colliding = False
            self._frames_seen.clear()
            self._answered.clear()

    def snapshot(self) -> Observations:
        with self._lock:
            obs = self.obs
            return Observations(list(obs.trajectory), list(obs.collision_ticks), obs.collisions, obs.goal_reached_at,
                                obs.started_at, obs.expert_done_at, list(obs.odometry), list(obs.safety_states),
                                list(obs.carrots),
                                {k: {kk: list(vv) for kk, vv in v.items()} for k, v in obs.latency.items()},
                                obs.recording_at)

    def next_leg(self) -> None:
        """Between two expert legs of one build: take the go back and forget the last arrival, keep the rest."""
        from std_msgs.msg import Bool

        self._go_pub.publish(Bool(data=False))
        with self._lock:
            self.obs.expert_done_at = None
            self.obs.recording_at = None

    def start_expert(self) -> None:
        """Tell the expert driver to go (latched: it hears it whenever it is ready)."""
        from std_msgs.msg import Bool

        self._go_pub.publish(Bool(data=True))

    def subscribers(self, topic: str) -> int:
        return self.node.count_subscribers(topic)

    def wait_for(self, predicate, timeout_s: float, check=None, period_s: float = 0.1) -> bool:
        """Poll predicate(snapshot) until true or the wall timeout; `check()` (e.g. the launcher's) may raise."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate(self.snapshot()):
                return True
            if check is not None:
                check()
            time.sleep(period_s)
        return bool(predicate(self.snapshot()))

    def close(self) -> None:
        import rclpy

        rclpy.try_shutdown(context=self.context)
        self._thread.join(timeout=5.0)
        self.node.destroy_node()


def latency_summary(latency: dict[str, dict[str, list[float]]]) -> dict[str, dict[str, float]]:
    """Per node: the median of the reported p50s and the largest reported p99 (each report covers a window);
    for the stack's own samples (camera -> command), their p50 and p99."""
    out: dict[str, dict[str, float]] = {}
    for node, keys in latency.items():
        if node == STACK:
            out[node] = {f"{k}_{name}": float(np.percentile(v, q)) for k, v in keys.items() if v
                         for name, q in (("p50", 50), ("p99", 99))}
        else:
            out[node] = {k: float(np.max(v) if k.endswith("p99") else np.median(v)) for k, v in keys.items() if v}
    return out
