"""topological_planner_node: camera (+ odom, goal image, goal list) -> gnm/subgoal (+ its odometry place
gnm/subgoal_pose), gnm/closest_node, gnm/current_waypoint, gnm/goal_reached, markers.

A thin shell over gnm_nav.graph.navigator. With a bad graph, model or goal it stays up, says why
(log + /diagnostics) and publishes no subgoal, so the policy's subgoal goes stale and the robot
stops. `goal_node`, `goal_nodes`, `graph_dir` and `gnm_model_path` can be changed at runtime (the latter two
reload); a goal list also arrives on gnm/goal_nodes, and "you are at node N" on gnm/localize_at.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from pathlib import Path

import numpy as np
from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import Odometry
from rcl_interfaces.msg import SetParametersResult
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image
from std_msgs.msg import Bool, Int32, Int32MultiArray, String
from visualization_msgs.msg import MarkerArray

from gnm_nav.common.errors import GnmNavError, ImageDecodeError
from gnm_nav.common.paths import DEFAULT_GNM_MODEL, resolve_model_path
from gnm_nav.graph.belief import BELIEF_SHARED, BeliefConfig
from gnm_nav.graph.goal_checker import GOAL_THRESHOLD
from gnm_nav.graph.likelihood import DistanceLikelihood, likelihood_path_for, load_likelihood, model_likelihood
from gnm_nav.graph.localization import LocalizerConfig
from gnm_nav.graph.nav_state import NavState
from gnm_nav.graph.navigator import LOCALIZATION_MODES, Navigator, NavStep
from gnm_nav.graph.odometry import OdometryConfig
from gnm_nav.graph.render import graph_layout
from gnm_nav.graph.ros_markers import graph_markers
from gnm_nav.graph.store import TopoGraph
from gnm_nav.ros import legacy_params
from gnm_nav.ros.diagnostics import DIAGNOSTICS_PERIOD_S, DiagnosticsPublisher
from gnm_nav.ros.images import CameraSubscriber, msg_to_rgb, rgb_to_msg
from gnm_nav.ros.lifecycle import spin_node
from gnm_nav.ros.odometry import pose_2d
from gnm_nav.ros.params import ParamSpec, declare_parameters, legacy_values
from gnm_nav.ros.qos import LATCHED, RELIABLE, image_qos
from gnm_nav.ros.time import sec_to_stamp

PARAMS = [
    ParamSpec("graph_dir", "", "graph directory (graph.json + images/); changing it reloads"),
    ParamSpec("gnm_model_path", DEFAULT_GNM_MODEL,
              "GNM ONNX file (a path, or a name under the package models/); changing it reloads"),
    ParamSpec("providers", "auto", "ONNX Runtime providers: auto | tensorrt | cuda | cpu",
              choices=("auto", "tensorrt", "cuda", "cpu")),
    ParamSpec("goal_node", -1, "goal node id (-1 = none); settable at runtime, rejected if not in the graph",
              minimum=-1),
    ParamSpec("goal_nodes", [], "goal node ids driven to in order, a mission (empty = goal_node alone); settable at "
                                "runtime, rejected if one is not in the graph; the topic gnm/goal_nodes does the same",
              minimum=0, element=int),
    ParamSpec("start_node", -1, "node the robot starts near (where the graph was recorded from, or an estimate): the "
                                "first match prefers it, a clear match elsewhere still wins, and with use_odometry the "
                                "robot follows the odometry from it until a view matches; -1 = unknown, the first "
                                "match searches the whole graph; settable at runtime (re-localises), rejected if "
                                "not in the graph", minimum=-1),
    ParamSpec("image_transport", "raw", "raw | compressed (subscribes camera/image_raw/compressed)",
              choices=("raw", "compressed")),
    ParamSpec("image_qos", "sensor_data", "camera QoS: sensor_data (best effort) | reliable",
              choices=("sensor_data", "reliable")),
    ParamSpec("rate_hz", 0.0, "localisation/planning rate; 0 = the model's step rate (1 / context spacing, 4 Hz)",
              minimum=0.0),
    ParamSpec("source_timeout", 1.0, "s; with a camera older than this no subgoal is published", positive=True),
    ParamSpec("goal_threshold", GOAL_THRESHOLD,
              "model steps; the goal node predicted closer than this is the goal reached (raise it for a model "
              "whose distances read high on your robot; gnm-nav graph fit-likelihood shows how they read)",
              minimum=0.0),
    ParamSpec("use_odometry", True, "let wheel odometry (odom) guide localisation between image matches, steer "
                                    "(gnm/subgoal_pose) and confirm the goal; needs graph nodes with poses "
                                    "(recorded with odometry); false for a robot whose odometry cannot be trusted"),
    ParamSpec("localization_mode", "graph",
              "graph (one node believed, hysteresis, relocalisation) | belief (a Bayes filter over all nodes with "
              "the model's fitted distance likelihood) | window (the public deployment code: a window on a linear "
              "route and the next node as subgoal, the anchor to compare against); changing it reloads",
              choices=LOCALIZATION_MODES),
    ParamSpec("likelihood_path", "",
              "localization_mode belief: the model's fitted distance likelihood (gnm-nav graph fit-likelihood); "
              "'' = <model>.likelihood.json beside the model, else an uncalibrated one (with a warning)"),
    ParamSpec("base_frame_id", "base_link", "frame of gnm/subgoal_pose"),
    ParamSpec("map_frame_id", "map", "frame of gnm/graph_markers"),
]
LEGACY = legacy_params.PLANNER  # the 0.1 names it still answers to, for one release
_RELOAD = ("graph_dir", "gnm_model_path", "providers", "localization_mode", "likelihood_path", "use_odometry")
MARKERS_PERIOD_S = 2.0  # gnm/graph_markers is for people looking at RViz


class PlannerNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("topological_planner_node", **kwargs)
        self._legacy = legacy_values(self, LEGACY)
        self.p = declare_parameters(self, PARAMS, LEGACY)
        periods = self._legacy.section("node")
        self._lock = threading.Lock()
        self._group = MutuallyExclusiveCallbackGroup()
        self._subgoal_pub = self.create_publisher(Image, "gnm/subgoal", RELIABLE)
        self._closest_pub = self.create_publisher(Int32, "gnm/closest_node", RELIABLE)
        self._reached_pub = self.create_publisher(Bool, "gnm/goal_reached", LATCHED)
        self._waypoint_pub = self.create_publisher(Int32, "gnm/current_waypoint", LATCHED)
        self._lost_pub = self.create_publisher(Bool, "gnm/localization_lost", RELIABLE)
        self._state_pub = self.create_publisher(String, "gnm/nav_state", RELIABLE)
        self._subgoal_pose_pub = self.create_publisher(PoseStamped, self._legacy.topic("gnm/subgoal_pose"),
                                                       RELIABLE)
        self._markers_pub = self.create_publisher(MarkerArray, "gnm/graph_markers", LATCHED)
        self._diag = DiagnosticsPublisher(self, "topological planner")
        self._nav: Navigator | None = None
        self._layout: dict[int, np.ndarray] | None = None
        self._last: NavStep | None = None
        self._camera_time: float | None = None
        self._reached = False
        self._status = "starting"
        self._tick_ms: deque[float] = deque(maxlen=200)
        self._camera = CameraSubscriber(self, self._legacy.topic("camera/image_raw"), self.p["image_transport"],
                                        self.p["image_qos"], self._on_image, callback_group=self._group)
        self.create_subscription(Image, self._legacy.topic("gnm/goal_image"), self._on_goal_image,
                                 image_qos("reliable"), callback_group=self._group)
        self.create_subscription(Odometry, self._legacy.topic("odom"), self._on_odom, RELIABLE,
                                 callback_group=self._group)
        self.create_subscription(Int32MultiArray, "gnm/goal_nodes", self._on_goal_nodes, RELIABLE,
                                 callback_group=self._group)
        self.create_subscription(Int32, "gnm/localize_at", self._on_localize_at, RELIABLE, callback_group=self._group)
        self.add_on_set_parameters_callback(self._validate_parameters)
        self.add_post_set_parameters_callback(self._apply_parameters)
        self._load()
        self._tick_timer = self.create_timer(self._period(), self._tick, callback_group=self._group)
        self.create_timer(periods.get("markers_period", MARKERS_PERIOD_S), self._publish_markers)
        self.create_timer(periods.get("diagnostics_period", DIAGNOSTICS_PERIOD_S), self._publish_diagnostics)

    # setup -----------------------------------------------------------------------------------
    def _period(self) -> float:
        if self.p["rate_hz"] > 0:
            return 1.0 / self.p["rate_hz"]
        return self._nav.period_s if self._nav is not None else 0.25

    def _load(self) -> None:
        """(Re)load graph + model; on failure keep running without a navigator and say why."""
        from gnm_nav.gnm.engine import GNMEngine  # onnxruntime is heavy: import when needed

        with self._lock:
            self._nav, self._layout, self._last, self._reached = None, None, None, False
            try:
                if not self.p["graph_dir"]:
                    raise GnmNavError("parameter graph_dir is empty: set it to a graph directory")
                graph = TopoGraph.load(self.p["graph_dir"])
                engine = GNMEngine(resolve_model_path(self.p["gnm_model_path"]), providers=self.p["providers"])
                localizer = self._legacy.section("localizer")
                odometry = OdometryConfig(**self._legacy.section("odometry")) if self.p["use_odometry"] else None
                likelihood = self._likelihood() if self.p["localization_mode"] == "belief" else None
                belief = BeliefConfig(**{k: v for k, v in localizer.items() if k in BELIEF_SHARED})
                nav = Navigator(graph, engine, LocalizerConfig(**localizer), goal_threshold=self.p["goal_threshold"],
                                localization_mode=self.p["localization_mode"], odometry=odometry,
                                likelihood=likelihood, belief_config=belief, **self._legacy.section("navigator"))
                if self.p["start_node"] >= 0:
                    nav.set_start(self.p["start_node"])
            except (GnmNavError, ValueError, OSError) as exc:
                self._status = f"not navigating: {exc}"
                self.get_logger().error(self._status)
                return
            self._nav = nav
            self._layout = graph_layout(graph)[0]
            self._status = f"loaded {len(graph)} nodes from {self.p['graph_dir']} (model on {engine.providers})"
            self.get_logger().info(self._status)
            self._set_goals(self.p["goal_nodes"] or ([self.p["goal_node"]] if self.p["goal_node"] >= 0 else []))

    def _likelihood(self) -> DistanceLikelihood:
        """The named likelihood (ModelFileError when it cannot be read), else the model's own, else uncalibrated."""
        if self.p["likelihood_path"]:
            return load_likelihood(Path(self.p["likelihood_path"]).expanduser())
        model = resolve_model_path(self.p["gnm_model_path"])
        own = model_likelihood(model)
        if own is not None:
            return own
        self.get_logger().warning(f"no fitted distance likelihood at {likelihood_path_for(model)}: localising with "
                                  f"an uncalibrated one (fit one with gnm-nav graph fit-likelihood)")
        return DistanceLikelihood.uncalibrated()

    def _set_goals(self, goals: list[int]) -> None:
        """Caller holds the lock."""
        assert self._nav is not None
        try:
            self._nav.set_goals(goals)
        except GnmNavError as exc:
            self._nav.set_goal(None)
            self._status = f"no goal: {exc}"
            self.get_logger().error(self._status)
        else:
            self._reached = False
            self._status = (f"mission of {len(goals)} goals: {', '.join(map(str, goals))}" if len(goals) > 1 else
                            f"goal node {goals[0]}" if goals else
                            "no goal (set goal_node or goal_nodes, or publish a goal image)")
            self.get_logger().info(self._status)
        self._publish_waypoint()

    def _publish_waypoint(self) -> None:
        """gnm/current_waypoint: the index of the goal driven to (the mission's length once complete; -1 = none)."""
        mission = self._nav.mission if self._nav is not None else None
        self._waypoint_pub.publish(Int32(data=mission.index if mission is not None and mission.goals else -1))

    def _unknown_nodes(self, nodes: list[int], what: str) -> str | None:
        """Why these nodes cannot be used (None when they all exist)."""
        nav = self._nav
        if nav is None:
            return f"no graph is loaded; cannot set a {what}"
        missing = [n for n in nodes if n not in nav.graph.g]
        if missing:
            return f"{what} node {missing[0]} does not exist (graph has nodes {min(nav.graph.g)}..{max(nav.graph.g)})"
        return None

    def _validate_parameters(self, params: list[Parameter]) -> SetParametersResult:
        for param in params:
            nodes = ([param.value] if param.value >= 0 else []) if param.name in ("goal_node", "start_node") else (
                list(param.value or []) if param.name == "goal_nodes" else [])
            problem = self._unknown_nodes(nodes, param.name.split("_")[0]) if nodes else None
            if problem:
                return SetParametersResult(successful=False, reason=problem)
        return SetParametersResult(successful=True)

    def _apply_parameters(self, params: list[Parameter]) -> None:
        names = {p.name for p in params}
        for param in params:
            self.p[param.name] = list(param.value or []) if param.name == "goal_nodes" else param.value
        if names & set(_RELOAD):
            self._load()
            return
        if self._nav is None:
            return
        with self._lock:
            if "goal_node" in names:
                self._set_goals([self.p["goal_node"]] if self.p["goal_node"] >= 0 else [])
            if "goal_nodes" in names:
                self._set_goals(self.p["goal_nodes"])
            if "start_node" in names and self.p["start_node"] >= 0:
                self._nav.set_start(self.p["start_node"])
                self.get_logger().info(f"start node {self.p['start_node']}: re-localising around it")

    # inputs ----------------------------------------------------------------------------------
    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_image(self, rgb: np.ndarray, stamp: float) -> None:
        self._camera_time = self._now()
        with self._lock:
            if self._nav is not None:
                self._nav.on_frame(rgb, stamp)

    def _on_odom(self, msg: Odometry) -> None:
        pose = pose_2d(msg)
        if not all(np.isfinite(pose)):
            self.get_logger().warning("odometry with NaN/Inf pose ignored", throttle_duration_sec=5.0)
            return
        with self._lock:
            if self._nav is not None:
                self._nav.on_odom(pose)

    def _on_goal_nodes(self, msg: Int32MultiArray) -> None:
        goals = [int(v) for v in msg.data]
        with self._lock:
            problem = self._unknown_nodes(goals, "goal") if goals else None
            if problem:
                self.get_logger().error(f"goal list {goals} refused: {problem}")
                return
            if self._nav is not None:
                self._set_goals(goals)

    def _on_localize_at(self, msg: Int32) -> None:
        with self._lock:
            problem = self._unknown_nodes([int(msg.data)], "localisation")
            if problem or self._nav is None:
                self.get_logger().error(f"localize_at {msg.data} refused: {problem}")
                return
            self._nav.set_start(int(msg.data))
            self.get_logger().info(f"told the robot is at node {msg.data}: re-localising around it")

    def _on_goal_image(self, msg: Image) -> None:
        try:
            rgb = msg_to_rgb(msg)
        except ImageDecodeError as exc:
            self.get_logger().error(f"goal image rejected: {exc}")
            return
        with self._lock:
            if self._nav is None:
                self.get_logger().error(f"goal image ignored: {self._status}")
                return
            try:
                node, dist = self._nav.goal_from_image(rgb)
            except GnmNavError as exc:
                self._nav.set_goal(None)
                self._status = f"no goal: {exc}"
                self.get_logger().error(self._status)
                return
            self._reached = False
            self._status = f"goal image matched node {node} (predicted distance {dist:.1f})"
            self.get_logger().info(self._status)
            self._publish_waypoint()

    # output ----------------------------------------------------------------------------------
    def _tick(self) -> None:
        with self._lock:
            nav = self._nav
            if nav is None:
                return
            now = self._now()
            if self._camera_time is None or now - self._camera_time > self.p["source_timeout"]:
                self.get_logger().warning("no recent camera image: no subgoal", throttle_duration_sec=5.0)
                return
            started = time.perf_counter()
            try:
                step = nav.tick()
            except GnmNavError as exc:
                self._status = f"tick failed: {exc}"
                self.get_logger().error(self._status, throttle_duration_sec=5.0)
                return
            if step is None:
                return
            self._tick_ms.append((time.perf_counter() - started) * 1e3)
            self._last = step
            loc, plan = step.localization, step.plan
            if loc.relocalized:
                self.get_logger().info(f"relocalised at node {loc.closest} (distance {loc.distance:.1f})")
            if loc.dead_reckoning:
                self.get_logger().info(f"no node matches the view: following the odometry (node {loc.closest})",
                                       throttle_duration_sec=5.0)
            self._closest_pub.publish(Int32(data=-1 if loc.closest is None else int(loc.closest)))
            self._state_pub.publish(String(data=step.state.to_json()))
            if step.goal_veto_m > 0:
                self.get_logger().info(f"the view looks like the goal, but the odometry puts the robot "
                                       f"{step.goal_veto_m:.1f} m beyond its tolerance from it: driving on",
                                       throttle_duration_sec=5.0)
            if step.waypoint is not None:
                how = ("" if step.goal_by_odometry_m is None else
                       f" by odometry ({step.goal_by_odometry_m:.2f} m from it; the view's node is {loc.closest})")
                self.get_logger().info(f"goal node {step.waypoint.node} reached{how}"
                                       + (f"; {nav.mission.describe()}" if len(nav.mission.goals) > 1 else ""))
                self._publish_waypoint()
            self._reached = self._reached or plan.goal_reached
            self._reached_pub.publish(Bool(data=self._reached))
            self._lost_pub.publish(Bool(data=step.lost and not self._reached))
            if self._reached or step.subgoal_image is None:
                if plan.reason:
                    self.get_logger().warning(f"no subgoal: {plan.reason}", throttle_duration_sec=5.0)
                return
            self._subgoal_pub.publish(rgb_to_msg(step.subgoal_image, step.stamp, f"graph_node_{plan.subgoal}"))
            if step.subgoal_offset_m is not None:
                self._subgoal_pose_pub.publish(self._subgoal_pose(step))

    def _subgoal_pose(self, step: NavStep) -> PoseStamped:
        msg = PoseStamped()
        msg.header.stamp = sec_to_stamp(step.stamp)
        msg.header.frame_id = self.p["base_frame_id"]
        msg.pose.position.x, msg.pose.position.y = (float(v) for v in step.subgoal_offset_m)
        msg.pose.orientation.w = 1.0
        return msg

    def _publish_markers(self) -> None:
        with self._lock:
            if self._nav is None or self._layout is None:
                return
            last = self._last
            msg = graph_markers(self._nav.graph, self.p["map_frame_id"], self.get_clock().now().to_msg(),
                                closest=last.closest if last else None, goal=self._nav.planner.goal,
                                path=last.plan.path if last else (), layout=self._layout)
        self._markers_pub.publish(msg)

    def _publish_diagnostics(self) -> None:
        nav, last = self._nav, self._last
        values: dict[str, object] = {"graph_dir": self.p["graph_dir"], "image_decode_errors": self._camera.errors}
        if nav is not None:
            values.update({
                "nodes": len(nav.graph), "goal_node": nav.planner.goal if nav.planner.goal is not None else -1,
                "mission": nav.mission.describe(),
                "closest_node": last.closest if last and last.closest is not None else -1,
                "distance_to_closest": last.localization.distance if last else float("inf"),
                "subgoal_node": last.plan.subgoal if last and last.plan.subgoal is not None else -1,
                "path_length_nodes": len(last.plan.path) if last else 0, "goal_reached": self._reached,
                "relocalizations": nav.localizer.relocalizations, "replans": nav.planner.replans,
                "goal_vetoes": nav.goal_checker.vetoes, "odometry_arrivals": nav.goal_checker.odometry_arrivals,
                "dead_reckoning": bool(last and last.localization.dead_reckoning),
                "odometry": ("off" if nav.odometry is None else "no poses in the graph or no odometry"
                             if not nav.odometry.usable else f"{nav.odometry.travelled_m:.2f} m since the last anchor"),
                "context_fill": nav.context.fill,
                "localization_mode": self.p["localization_mode"],
                **nav_state_values(last.state if last else None),
                "tick_ms_p50": float(np.percentile(self._tick_ms, 50)) if self._tick_ms else float("nan"),
                "tick_ms_p99": float(np.percentile(self._tick_ms, 99)) if self._tick_ms else float("nan"),
            })
        if nav is None:
            level = "ERROR"
        elif last is None or last.plan.subgoal is None or last.closest is None:
            level = "WARN"
        else:
            level = "OK"
        message = self._status if last is None or level == "ERROR" else (
            last.plan.reason or f"closest {last.closest}, subgoal {last.plan.subgoal}, goal {nav.planner.goal}")
        self._diag.publish(level, message, values)


def nav_state_values(state: NavState | None) -> dict[str, object]:
    """The NavState's fields as /diagnostics shows them (- or nan for what is unknown)."""
    if state is None:
        return {"nav_state": "initialising"}
    nan = float("nan")
    return {"nav_state": state.state,
            "localization_confidence": nan if state.confidence is None else state.confidence,
            "nodes_to_goal": -1 if state.nodes_to_goal is None else state.nodes_to_goal,
            "goal_progress": nan if state.goal_progress is None else state.goal_progress,
            "mission_progress": nan if state.mission_progress is None else state.mission_progress}


def main(argv: list[str] | None = None) -> int:
    return spin_node(PlannerNode, argv)


if __name__ == "__main__":
    raise SystemExit(main())
