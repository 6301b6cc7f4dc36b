"""One evaluation route, the way a user would do it, with every node a separate process over DDS:

1. build: mujoco_sim_node (robot at the route start) + the expert driver, then graph_builder_node; once it
   records, the expert is told to go (so no idle frames open the graph) and drives to the goal; then
   the builder is stopped with SIGINT and saves the graph;
2. navigate, once per mode: mujoco_sim_node (robot at a perturbed start) + planner + policy (+ safety
   filter), goal = the last recorded node; it ends when the planner says the goal is reached, on timeout,
   when the robot is stuck against an obstacle, or when it has not moved for a long time.
Success is judged by ground truth: goal reached and the robot within `success_radius_m` of the goal
node's true pose, not stuck.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gnm_nav.errors import GnmNavError
from gnm_nav.evaluation.monitor import Observations, StackMonitor, latency_summary
from gnm_nav.evaluation.routes import RouteTask, perturbed_start, route_progress, shortest_path_m, steering_report
from gnm_nav.launching.node_sets import LaunchOptions, NodeSpec, build_graph_set, navigate_set, sim_node
from gnm_nav.launching.processes import Launcher
from gnm_nav.sim.env import Pose2D

EXPERT_MODULE = "gnm_nav.evaluation.expert_node"
INTERVENTION_STATES = ("MODIFIED", "FALLBACK", "TURN", "STOP")
POLICY_RATE_HZ = 10.0  # policy.yaml's max_rate_hz (wall clock): scaled with the sim so the loop rate in sim time holds
STUCK_WINDOW_S = 5.0  # sim s; stuck = in contact most of this window without getting anywhere
IDLE_WINDOW_S = 30.0  # sim s without 0.1 m of progress ends the run


class EvalError(GnmNavError):
    """A route could not be evaluated (the expert could not drive it, the stack never started...)."""


@dataclass(frozen=True)
class Mode:
    """One navigation configuration of the same model."""

    name: str
    use_safety_filter: bool
    planner: dict[str, Any] = field(default_factory=dict)
    policy: dict[str, Any] = field(default_factory=dict)


def ours(use_safety_filter: bool) -> Mode:
    return Mode("ours", use_safety_filter)


# the public deployment code: window localisation, its controller, no filter, no recovery, no odometry
# (close_threshold 3)
ANCHOR = Mode("anchor_mode", False, planner={"localization_mode": "window", "close_threshold": 3.0,
                                             "use_odometry": False, "subgoal_lookahead": 1},
              policy={"controller": "gnm", "recovery_sweep": False, "stall_backup": False,
                      "odometry_steering": 0.0})


@dataclass(frozen=True)
class EvalConfig:
    model: Path
    ldm: Path | None = None
    robot: str = "turtlebot"
    real_time_factor: float = 1.0
    timeout_s: float | None = None  # sim s per navigation; None = from the route's length
    startup_timeout_s: float = 120.0  # wall s for the processes to come up
    success_radius_m: float = 1.0
    perturb_xy_m: float = 0.25
    perturb_yaw_rad: float = 0.25
    log_level: str = "info"


@dataclass
class Graph:
    graph_dir: Path
    start_node: int  # where the recording started: the robot is put back near it, as a user would start there
    goal_node: int
    goal_pose: tuple[float, float, float]
    nodes: int
    expert_trajectory: np.ndarray
    expert_time_s: float
    wall_s: float


def _env(domain_id: int) -> dict[str, str]:
    return {"ROS_DOMAIN_ID": str(domain_id)}


def _xy(traj: list[tuple[float, float, float, float]]) -> np.ndarray:
    return np.array([[x, y, yaw] for _, x, y, yaw in traj], dtype=np.float64).reshape(-1, 3)


def _path_length(xy: np.ndarray) -> float:
    return float(np.linalg.norm(np.diff(xy[:, :2], axis=0), axis=1).sum()) if len(xy) > 1 else 0.0


def _wait_subscribed(monitor: StackMonitor, launcher: Launcher, topic: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while monitor.subscribers(topic) < 1:
        launcher.check()
        if time.monotonic() > deadline:
            raise EvalError(f"nothing subscribed to {topic} within {timeout_s:.0f} s: the nodes did not come up")
        time.sleep(0.2)


def build_graph(task: RouteTask, cfg: EvalConfig, work_dir: Path, monitor: StackMonitor, domain_id: int) -> Graph:
    """The expert drives the route once while graph_builder_node records it (all as processes)."""
    from gnm_nav.graph.store import TopoGraph
    from gnm_nav.sim.env import load_profile

    graph_dir = work_dir / "graph"
    opts = LaunchOptions(use_sim_time=True, log_level=cfg.log_level)
    start = [task.start.x, task.start.y, task.start.yaw]
    builder = build_graph_set(opts, str(graph_dir), use_teleop=False)[0].with_params(model_path="")
    expert = NodeSpec("expert_driver", EXPERT_MODULE, params={
        "use_sim_time": True, "world": task.world, "robot": cfg.robot, "goal": list(task.goal), "seed": task.seed})
    profile = load_profile(cfg.robot)
    limit_s = 60.0 + 3.0 * task.planned_length_m / (0.6 * profile.max_v)
    wall0 = time.monotonic()
    monitor.reset()
    with Launcher(work_dir / "logs_build", opts, env=_env(domain_id)) as launcher:
        launcher.start([sim_node(opts, task.world, cfg.robot, start, cfg.real_time_factor), expert])
        _wait_subscribed(monitor, launcher, "expert/go", cfg.startup_timeout_s)
        launcher.start_node(builder)
        _wait_subscribed(monitor, launcher, "camera/image_raw", cfg.startup_timeout_s)
        subscribed = monitor.snapshot().now  # give the builder a frame or two at the start pose first
        monitor.wait_for(lambda o: o.now > subscribed + 0.5, timeout_s=30.0, check=launcher.check)
        monitor.start_expert()
        arrived = monitor.wait_for(lambda o: o.expert_done_at is not None or o.now > limit_s,
                                   timeout_s=cfg.startup_timeout_s + 3 * limit_s / cfg.real_time_factor,
                                   check=launcher.check)
        obs = monitor.snapshot()
        if not arrived or obs.expert_done_at is None:
            raise EvalError(f"the expert did not reach the goal within {limit_s:.0f} s of sim time")
        # let the builder record the goal itself (a node every record_interval_s of camera time)
        monitor.wait_for(lambda o: o.now > obs.expert_done_at + 1.5, timeout_s=30.0, check=launcher.check)
        codes = launcher.stop(["graph_builder_node"])
        if codes["graph_builder_node"] != 0:
            raise EvalError(f"graph_builder_node exited with status {codes['graph_builder_node']} "
                            f"(see {work_dir / 'logs_build'})")
    obs = monitor.snapshot()
    graph = TopoGraph.load(graph_dir)
    goal = max(graph.nodes())
    times = np.array([t for t, *_ in obs.trajectory])
    k = int(np.argmin(np.abs(times - graph.g.nodes[goal]["stamp"])))
    goal_pose = tuple(float(v) for v in obs.trajectory[k][1:])
    done_k = int(np.searchsorted(times, obs.expert_done_at))
    traj = _xy(obs.trajectory[:done_k + 1])
    moved = np.nonzero(np.hypot(*(traj[:, :2] - traj[0, :2]).T) > 0.05)[0]
    drive_s = obs.expert_done_at - (times[moved[0]] if moved.size else times[0])
    return Graph(graph_dir, min(graph.nodes()), goal, goal_pose, len(graph), traj, float(drive_s),
                 time.monotonic() - wall0)


def _stuck(obs: Observations) -> bool:
    t = obs.now
    if t < STUCK_WINDOW_S or not obs.collision_ticks:
        return False
    recent = [c for c in obs.collision_ticks if c >= t - STUCK_WINDOW_S]
    window = [p for p in obs.trajectory if p[0] >= t - STUCK_WINDOW_S]
    moved = math.hypot(window[-1][1] - window[0][1], window[-1][2] - window[0][2]) if window else 0.0
    return len(recent) >= 0.25 * len(window) and moved < 0.15


def _idle(obs: Observations, since: float) -> bool:
    t = obs.now
    if t - since < IDLE_WINDOW_S:
        return False
    window = [p for p in obs.trajectory if p[0] >= t - IDLE_WINDOW_S]
    xy = np.array([[x, y] for _, x, y, _ in window])
    return float(np.linalg.norm(xy - xy[-1], axis=1).max()) < 0.1


def navigate(task: RouteTask, mode: Mode, graph: Graph, start: Pose2D, cfg: EvalConfig, work_dir: Path,
             monitor: StackMonitor, domain_id: int) -> dict[str, Any]:
    """Run the navigation stack from `start` to the graph's goal node; returns this run's metrics."""
    from gnm_nav.sim.env import load_profile

    opts = LaunchOptions(use_sim_time=True, log_level=cfg.log_level)
    model = str(cfg.model)
    nav = navigate_set(opts, str(graph.graph_dir), graph.goal_node, mode.use_safety_filter)
    overrides = {
        "topological_planner_node": {"model_path": model, "start_node": graph.start_node, **mode.planner},
        "gnm_policy_node": {"model_path": model, "robot_profile": cfg.robot,
                            "max_rate_hz": POLICY_RATE_HZ * cfg.real_time_factor, **mode.policy},
        "ldm_safety_filter_node": {"model_path": str(cfg.ldm), "encoder_model_path": model},
    }
    nav = [n.with_params(**overrides[n.name]) for n in nav]
    profile = load_profile(cfg.robot)
    limit_s = cfg.timeout_s or 60.0 + 3.0 * task.planned_length_m / (0.6 * profile.max_v)
    log_dir = work_dir / f"logs_{mode.name}"
    monitor.reset()
    wall0 = time.monotonic()
    reason = ""
    with Launcher(log_dir, opts, env=_env(domain_id)) as launcher:
        launcher.start([sim_node(opts, task.world, cfg.robot, [start.x, start.y, start.yaw], cfg.real_time_factor),
                        *nav])
        if not monitor.wait_for(lambda o: o.first_subgoal_at is not None, cfg.startup_timeout_s, launcher.check):
            raise EvalError(f"{mode.name}: the planner published no subgoal within {cfg.startup_timeout_s:.0f} s "
                            f"(see {log_dir})")
        t0 = monitor.snapshot().first_subgoal_at
        wall_limit = 60.0 + 3.0 * limit_s / cfg.real_time_factor
        nav_wall0 = time.monotonic()
        while not reason:
            launcher.check()
            obs = monitor.snapshot()
            if obs.goal_reached_at is not None:
                reason = "goal reached"
            elif obs.now - t0 > limit_s:
                reason = f"timeout ({limit_s:.0f} s)"
            elif _stuck(obs):
                reason = "stuck against an obstacle"
            elif _idle(obs, t0):
                reason = f"no progress for {IDLE_WINDOW_S:.0f} s"
            elif time.monotonic() - nav_wall0 > wall_limit:
                reason = f"wall-clock limit ({wall_limit:.0f} s): the stack ran too slowly"
            else:
                time.sleep(0.2)
        nav_wall = time.monotonic() - nav_wall0
    obs = monitor.snapshot()
    end = obs.goal_reached_at if obs.goal_reached_at is not None else obs.now
    traj = _xy([p for p in obs.trajectory if t0 <= p[0] <= end] or obs.trajectory[-1:])
    final = traj[-1]
    gx, gy, _ = graph.goal_pose
    distance = math.hypot(final[0] - gx, final[1] - gy)
    stuck = reason.startswith("stuck")
    success = reason == "goal reached" and distance <= cfg.success_radius_m and not stuck
    if reason == "goal reached" and not success:
        reason = f"goal declared {distance:.2f} m from the goal pose"
    shortest = shortest_path_m(task.world, cfg.robot, (start.x, start.y), (gx, gy))
    length = _path_length(traj)
    states = [s for t, s in obs.safety_states if t >= t0]
    sim_elapsed = obs.now - t0
    return {
        "mode": mode.name, "success": success, "reason": reason, "safety_filter": mode.use_safety_filter,
        "spl": float(success) * shortest / max(length, shortest, 1e-9),
        "time_s": end - t0, "path_length_m": length, "shortest_path_m": shortest,
        "final_distance_m": distance,
        "route_progress": route_progress(graph.expert_trajectory[:, :2], traj[:, :2], cfg.success_radius_m),
        "min_distance_m": float(np.min(np.hypot(traj[:, 0] - gx, traj[:, 1] - gy))),
        "steering": steering_report(graph.expert_trajectory[:, :2], traj[:, :2], np.asarray(obs.carrots), t0, end),
        "collisions": obs.collisions, "stuck": stuck,
        "interventions": sum(s in INTERVENTION_STATES for s in states),
        "safety_states": {s: states.count(s) for s in sorted(set(states))},
        "latency_ms": latency_summary(obs.latency),
        "real_time_factor": sim_elapsed / nav_wall if nav_wall > 0 else float("nan"),
        "start_pose": [start.x, start.y, start.yaw],
        "trajectory": traj.round(3).tolist(),
        "wall_s": time.monotonic() - wall0, "logs": str(log_dir),
    }


def earlier_graph(task: RouteTask, robot: str, earlier: Path, work_dir: Path) -> Graph | None:
    """The graph an earlier evaluation in `earlier` built for this same route (copied into work_dir), or None.

    Graphs are recorded without a model, so every model can be compared on the very same graphs."""
    import shutil

    from gnm_nav.graph.store import TopoGraph

    route_file, graph_src = earlier / "routes" / f"{task.route_id}.json", earlier / "work" / task.route_id / "graph"
    if not route_file.is_file() or not (graph_src / "graph.json").is_file():
        return None
    rec = json.loads(route_file.read_text())
    same = (rec.get("world") == task.world and rec.get("robot") == robot
            and np.allclose(rec.get("route_start", []), [task.start.x, task.start.y, task.start.yaw], atol=1e-6)
            and np.allclose(rec.get("route_goal", []), list(task.goal), atol=1e-6))
    if not same or "graph" not in rec:
        raise EvalError(f"{route_file} is another route than {task.route_id} here (other --seed, --worlds, "
                        f"--robot or --min-route-m?) or has no graph")
    graph_dir = work_dir / "graph"
    if graph_dir.exists():
        shutil.rmtree(graph_dir)
    shutil.copytree(graph_src, graph_dir, ignore=shutil.ignore_patterns(".cache"))
    g = rec["graph"]
    nodes = TopoGraph.load(graph_dir).nodes()
    if len(nodes) != g["nodes"]:
        raise EvalError(f"{graph_src} does not hold the {g['nodes']} nodes its route record says")
    return Graph(graph_dir, min(nodes), int(g["goal_node"]), tuple(g["goal_pose"]), int(g["nodes"]),
                 np.asarray(g["expert_trajectory"], dtype=np.float64).reshape(-1, 3), float(g["expert_time_s"]),
                 float(g["wall_s"]))


def evaluate_route(task: RouteTask, modes: list[Mode], cfg: EvalConfig, work_dir: Path, monitor: StackMonitor,
                   domain_id: int, graphs_from: Path | None = None) -> dict[str, Any]:
    """Build the graph (or take an earlier run's, from graphs_from), then run every mode from the same perturbed
    start. Failures are recorded, not raised."""
    record: dict[str, Any] = {"route_id": task.route_id, "world": task.world, "robot": cfg.robot,
                              "route_start": [task.start.x, task.start.y, task.start.yaw],
                              "route_goal": list(task.goal), "planned_length_m": task.planned_length_m}
    try:
        graph = earlier_graph(task, cfg.robot, graphs_from, work_dir) if graphs_from is not None else None
        record["graph_from"] = str(graphs_from) if graph is not None else None
        graph = graph or build_graph(task, cfg, work_dir, monitor, domain_id)
    except GnmNavError as exc:
        record["error"] = f"graph building failed: {exc}"
        return record
    record["graph"] = {"dir": str(graph.graph_dir), "nodes": graph.nodes, "goal_node": graph.goal_node,
                       "goal_pose": list(graph.goal_pose), "expert_time_s": graph.expert_time_s,
                       "expert_path_length_m": _path_length(graph.expert_trajectory), "wall_s": graph.wall_s,
                       "expert_trajectory": graph.expert_trajectory.round(3).tolist()}
    start = perturbed_start(task.world, cfg.robot, task.start, np.random.default_rng(task.seed), cfg.perturb_xy_m,
                            cfg.perturb_yaw_rad)
    record["runs"] = {}
    for mode in modes:
        try:
            record["runs"][mode.name] = navigate(task, mode, graph, start, cfg, work_dir, monitor, domain_id)
        except GnmNavError as exc:
            record["runs"][mode.name] = {"mode": mode.name, "success": False, "reason": str(exc), "spl": 0.0,
                                         "collisions": 0, "interventions": 0, "safety_filter": mode.use_safety_filter,
                                         "trajectory": [], "start_pose": [start.x, start.y, start.yaw]}
    return record
