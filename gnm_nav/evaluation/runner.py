"""One evaluation route, the way a user would do it, with every node a separate process over DDS:

1. teach: mujoco_sim_node (robot at the route start) + the expert driver, leg by leg; graph_builder_node records
   the legs the route records (one session each), starting before the expert is told to go, and is stopped
   with SIGINT (it saves) once the expert has arrived;
2. repeat, once per mode: mujoco_sim_node in the world as the repeat finds it (`--changes`), the robot at a
   perturbed start, with its own odometry error draw; the mode's stack drives to the goal node. A run ends
   when the stack says the goal is reached or by the rules of `evaluation.judge` (timeout, stuck, no progress,
   far off the route).
Success is judged by ground truth: goal reached and the robot within `success_radius_m` of the goal node's
true pose, not stuck.
"""
from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from gnm_nav.common.errors import GnmNavError
from gnm_nav.common.pose import Pose2D
from gnm_nav.evaluation.judge import RunJudge, time_limit_s
from gnm_nav.evaluation.modes import FILTER_NODE, Mode, fingerprint
from gnm_nav.evaluation.monitor import StackMonitor, latency_summary
from gnm_nav.evaluation.routes import (
    START_PERTURBATION,
    RouteTask,
    perturbed_start,
    repeat_world_spec,
    route_progress,
    shortest_path_m,
    steering_report,
)
from gnm_nav.launching.node_sets import LaunchOptions, NodeSpec, build_graph_set, navigate_set, package_node, sim_node
from gnm_nav.launching.processes import Launcher

EXPERT_MODULE = "gnm_nav.evaluation.expert_node"
INTERVENTION_STATES = ("MODIFIED", "FALLBACK", "TURN", "STOP")
POLICY_RATE_HZ = 10.0  # policy.yaml's max_rate_hz (wall clock): scaled with the sim so the loop rate in sim time holds


class EvalError(GnmNavError):
    """A route could not be evaluated (the expert could not drive it, the stack never started...)."""


@dataclass(frozen=True)
class EvalConfig:
    model: Path
    ldm: Path | None = None
    robot: str = "turtlebot"
    real_time_factor: float = 1.0
    timeout_s: float | None = None  # sim s per navigation; None = from the route's length
    startup_timeout_s: float = 120.0  # wall s for the processes to come up
    success_radius_m: float = 1.0
    perturb_xy_m: float = START_PERTURBATION[0]
    perturb_yaw_rad: float = START_PERTURBATION[1]
    log_level: str = "info"
    odom_noise: str = "typical"  # the simulated wheel odometry's error preset (teach and repeat)
    changes: str = "none"  # what changes in the world between teach and repeat
    params_file: Path | None = None  # the user's ROS 2 parameters over the package defaults, for every mode


@dataclass
class Graph:
    graph_dir: Path
    start_node: int  # where the recording started: the robot is put back near it, as a user would start there
    goal_node: int
    goal_pose: tuple[float, float, float]
    nodes: int
    expert_trajectory: np.ndarray  # [N, 3] the recorded route the navigation should follow
    expert_time_s: float
    wall_s: float
    sessions: int = 1
    shortcuts: int = 0  # edges that link the sessions


def _env(domain_id: int) -> dict[str, str]:
    return {"ROS_DOMAIN_ID": str(domain_id)}


def _xy(traj: list[tuple[float, float, float, float]]) -> np.ndarray:
    return np.array([[x, y, yaw] for _, x, y, yaw in traj], dtype=np.float64).reshape(-1, 3)


def _path_length(xy: np.ndarray) -> float:
    return float(np.linalg.norm(np.diff(xy[:, :2], axis=0), axis=1).sum()) if len(xy) > 1 else 0.0


def sim_seed(task: RouteTask, repeat: bool) -> int:
    """Teach and repeat are separate runs of the robot: each draws its own odometry error."""
    return 2 * task.seed + int(repeat)


def _wait_subscribed(monitor: StackMonitor, launcher: Launcher, topic: str, timeout_s: float, count: int = 1) -> None:
    deadline = time.monotonic() + timeout_s
    while monitor.subscribers(topic) < count:
        launcher.check()
        if time.monotonic() > deadline:
            raise EvalError(f"nothing subscribed to {topic} within {timeout_s:.0f} s: the nodes did not come up")
        time.sleep(0.2)


def _route_trajectory(legs: list[np.ndarray]) -> np.ndarray:
    """The recorded legs as one route: each recording is cut where the next one starts (a branch leaves the trunk
    there), so route progress and path offsets follow the way the navigation should take."""
    parts = []
    for k, leg in enumerate(legs):
        if k + 1 < len(legs) and len(leg) and len(legs[k + 1]):
            cut = int(np.argmin(np.linalg.norm(leg[:, :2] - legs[k + 1][0, :2], axis=1)))
            leg = leg[:cut + 1]
        parts.append(leg)
    return np.concatenate(parts) if parts else np.empty((0, 3))


def build_graph(task: RouteTask, cfg: EvalConfig, work_dir: Path, monitor: StackMonitor, domain_id: int) -> Graph:
    """The expert drives the route's legs while graph_builder_node records the recorded ones (all as processes).
    A later session is linked to the earlier ones by the model, as a user's would be."""
    from gnm_nav.graph.store import TopoGraph
    from gnm_nav.sim.env import load_profile

    graph_dir = work_dir / "graph"
    if graph_dir.exists():  # what an interrupted build left: the builder would grow it
        shutil.rmtree(graph_dir)
    opts = LaunchOptions(use_sim_time=True, log_level=cfg.log_level)
    profile = load_profile(cfg.robot)
    wall0 = time.monotonic()
    monitor.reset()
    recorded: list[tuple[float, float]] = []  # (go, arrived) sim times of the recorded legs
    sim = sim_node(opts, task.world, cfg.robot, [task.start.x, task.start.y, task.start.yaw], cfg.real_time_factor)
    sim = sim.with_params(odom_noise=cfg.odom_noise, seed=sim_seed(task, repeat=False))
    with Launcher(work_dir / "logs_build", opts, env=_env(domain_id)) as launcher:
        launcher.start_node(sim)
        here = (task.start.x, task.start.y)
        for k, leg in enumerate(task.expert_legs):
            monitor.next_leg()
            expert = NodeSpec("expert_driver", EXPERT_MODULE, params={
                "use_sim_time": True, "world": task.world, "robot": cfg.robot, "goal": list(leg.goal),
                "seed": task.seed * 10 + k})
            launcher.start_node(expert)
            _wait_subscribed(monitor, launcher, "expert/go", cfg.startup_timeout_s)
            if leg.record:
                builder = build_graph_set(opts, str(graph_dir), use_teleop=False)[0]
                launcher.start_node(builder.with_params(gnm_model_path=str(cfg.model) if recorded else ""))
                _wait_subscribed(monitor, launcher, "camera/image_raw", cfg.startup_timeout_s)
                _wait_subscribed(monitor, launcher, "odom", cfg.startup_timeout_s, count=2)  # the monitor's and its
                # the expert sets off only once the builder's session has its first node, at the start pose (a
                # subscription is matched before frames flow: a node recorded on the way puts the start elsewhere)
                if not monitor.wait_for(lambda o: o.recording_at is not None, cfg.startup_timeout_s, launcher.check):
                    raise EvalError(f"graph_builder_node recorded no frame within {cfg.startup_timeout_s:.0f} s "
                                    f"(see {work_dir / 'logs_build'})")
            go = monitor.snapshot().now
            monitor.start_expert()
            limit_s = time_limit_s(task.planned_length_m + math.dist(here, leg.goal), profile.max_v)
            arrived = monitor.wait_for(lambda o: o.expert_done_at is not None or o.now > go + limit_s,  # noqa: B023
                                       timeout_s=cfg.startup_timeout_s + 3 * limit_s / cfg.real_time_factor,
                                       check=launcher.check)
            obs = monitor.snapshot()
            if not arrived or obs.expert_done_at is None:
                raise EvalError(f"the expert did not reach ({leg.goal[0]:.1f}, {leg.goal[1]:.1f}) (leg {k}) "
                                f"within {limit_s:.0f} s of sim time")
            if leg.record:
                recorded.append((go, obs.expert_done_at))
                # let the builder record the leg's end itself (a node every record_interval_s of camera time)
                done = obs.expert_done_at
                monitor.wait_for(lambda o: o.now > done + 1.5, timeout_s=30.0, check=launcher.check)  # noqa: B023
                codes = launcher.stop(["graph_builder_node"])
                if codes["graph_builder_node"] != 0:
                    raise EvalError(f"graph_builder_node exited with status {codes['graph_builder_node']} "
                                    f"(see {work_dir / 'logs_build'})")
            launcher.stop(["expert_driver"])
            here = leg.goal
    obs = monitor.snapshot()
    graph = TopoGraph.load(graph_dir)
    goal = max(graph.nodes())
    times = np.array([t for t, *_ in obs.trajectory])
    k = int(np.argmin(np.abs(times - graph.g.nodes[goal]["stamp"])))
    x, y, yaw = (float(v) for v in obs.trajectory[k][1:])
    goal_pose = (x, y, yaw)
    legs, drive_s = [], 0.0
    for go, done in recorded:
        part = [p for p in obs.trajectory if go <= p[0] <= done]
        legs.append(_xy(part))
        moving = [t for t, x, y, _ in part if math.hypot(x - part[0][1], y - part[0][2]) > 0.05]
        drive_s += done - (moving[0] if moving else go)
    sessions = len({d.get("session", 0) for _, d in graph.g.nodes(data=True)})
    shortcuts = sum(1 for *_, d in graph.g.edges(data=True) if d.get("kind") == "shortcut")
    return Graph(graph_dir, min(graph.nodes()), goal, goal_pose, len(graph), _route_trajectory(legs), float(drive_s),
                 time.monotonic() - wall0, sessions, shortcuts)


def odometry_drift(truth: np.ndarray, odom: np.ndarray) -> dict[str, float]:
    """How far the run's wheel odometry ended from the truth, with both started together (the repeat's odometry
    error, which is what a blind replay inherits). truth, odom: [N, 4] (t, x, y, yaw)."""
    if len(truth) < 2 or len(odom) < 2:
        return {}
    from gnm_nav.common.angles import wrap_angle

    t0, t1 = max(truth[0, 0], odom[0, 0]), min(truth[-1, 0], odom[-1, 0])
    a, b = truth[np.searchsorted(truth[:, 0], [t0, t1]).clip(0, len(truth) - 1)], \
        odom[np.searchsorted(odom[:, 0], [t0, t1]).clip(0, len(odom) - 1)]
    rot = a[0, 3] - b[0, 3]
    c, s = math.cos(rot), math.sin(rot)
    d = b[1, 1:3] - b[0, 1:3]
    predicted = a[0, 1:3] + np.array([c * d[0] - s * d[1], s * d[0] + c * d[1]])
    driven = float(np.linalg.norm(np.diff(truth[:, 1:3], axis=0), axis=1).sum())
    error = float(np.linalg.norm(predicted - a[1, 1:3]))
    return {"odometry_error_m": error, "odometry_error_pct": 100.0 * error / driven if driven > 0.5 else 0.0,
            "odometry_heading_error_deg": math.degrees(abs(float(wrap_angle(b[1, 3] + rot - a[1, 3]))))}


def mode_nodes(mode: Mode, cfg: EvalConfig, opts: LaunchOptions, graph: Graph) -> list[NodeSpec]:
    """The navigation processes of one mode: the package's node set, the evaluation's settings (graph, goal, model,
    robot), then the mode's own overrides on top."""
    model = str(cfg.model)
    if mode.stack == "odometry_replay":
        nodes = [package_node("odometry_replay_node", "odometry_replay_node", ("odometry_replay.yaml",),
                              {"use_sim_time": True})]
    else:
        nodes = navigate_set(opts, str(graph.graph_dir), graph.goal_node, mode.use_safety_filter)
    settings: dict[str, dict[str, Any]] = {
        "topological_planner_node": {"gnm_model_path": model, "start_node": graph.start_node},
        "gnm_policy_node": {"gnm_model_path": model, "robot_profile": cfg.robot,
                            "max_rate_hz": POLICY_RATE_HZ * cfg.real_time_factor},
        FILTER_NODE: {"ldm_model_path": str(cfg.ldm), "gnm_model_path": model},
        "odometry_replay_node": {"graph_dir": str(graph.graph_dir), "goal_node": graph.goal_node,
                                 "start_node": graph.start_node, "robot_profile": cfg.robot},
    }
    return [n.with_params(**{**settings[n.name], **mode.parameters.get(n.name, {})}) for n in nodes]


def navigate(task: RouteTask, mode: Mode, graph: Graph, start: Pose2D, world: str, cfg: EvalConfig, work_dir: Path,
             monitor: StackMonitor, domain_id: int) -> dict[str, Any]:
    """Run one mode's stack from `start` to the graph's goal node in `world`; returns this run's metrics."""
    from gnm_nav.sim.env import load_profile

    if mode.use_safety_filter and cfg.ldm is None:
        raise EvalError(f"{mode.name}: needs the safety filter, and no LDM model goes with this GNM (pass --ldm)")
    opts = LaunchOptions(use_sim_time=True, log_level=cfg.log_level, params_file=cfg.params_file)
    sim = sim_node(opts, world, cfg.robot, [start.x, start.y, start.yaw], cfg.real_time_factor)
    sim = sim.with_params(odom_noise=cfg.odom_noise, seed=sim_seed(task, repeat=True))
    profile = load_profile(cfg.robot)
    limit_s = cfg.timeout_s or time_limit_s(task.planned_length_m, profile.max_v)
    log_dir = work_dir / f"logs_{mode.name}"
    if log_dir.exists():  # an interrupted earlier attempt
        shutil.rmtree(log_dir)
    route = graph.expert_trajectory[:, :2]
    monitor.reset()
    wall0 = time.monotonic()
    reason = ""
    with Launcher(log_dir, opts, env=_env(domain_id)) as launcher:
        launcher.start([sim, *mode_nodes(mode, cfg, opts, graph)])
        started_at = (monitor.snapshot().started_at
                      if monitor.wait_for(lambda o: o.started_at is not None, cfg.startup_timeout_s, launcher.check)
                      else None)
        if started_at is not None:
            t0 = started_at
        else:  # a navigation outcome (it never placed itself on the graph), unless the simulator never ran
            if not monitor.snapshot().trajectory:
                raise EvalError(f"{mode.name}: the simulator published no pose within {cfg.startup_timeout_s:.0f} s "
                                f"(see {log_dir})")
            t0 = monitor.snapshot().trajectory[0][0]
            reason = f"never started: no subgoal within {cfg.startup_timeout_s:.0f} s"
        wall_limit = 60.0 + 3.0 * limit_s / cfg.real_time_factor
        nav_wall0 = wall0 if reason else time.monotonic()
        judge = RunJudge(route, t0, limit_s)
        while not reason:
            launcher.check()
            obs = monitor.snapshot()
            if obs.goal_reached_at is not None:
                reason = "goal reached"
            else:
                reason = judge.verdict(obs.now, obs.trajectory, obs.collision_ticks)
            if not reason and time.monotonic() - nav_wall0 > wall_limit:
                reason = f"wall-clock limit ({wall_limit:.0f} s): the stack ran too slowly"
            if not reason:
                time.sleep(0.2)
        nav_wall = time.monotonic() - nav_wall0
    obs = monitor.snapshot()
    end = obs.goal_reached_at if obs.goal_reached_at is not None else obs.now
    traj = _xy([p for p in obs.trajectory if t0 <= p[0] <= end] or obs.trajectory[-1:])
    final = traj[-1]
    gx, gy, _ = graph.goal_pose
    distance = math.hypot(final[0] - gx, final[1] - gy)
    ended_stuck = judge.ended_stuck
    success = reason == "goal reached" and distance <= cfg.success_radius_m and not ended_stuck
    if reason == "goal reached" and not success:
        reason = f"goal declared {distance:.2f} m from the goal pose"
    shortest = shortest_path_m(world, cfg.robot, (start.x, start.y), (gx, gy))
    length = _path_length(traj)
    states = [s for t, s in obs.safety_states if t >= t0]
    sim_elapsed = obs.now - t0
    return {
        "mode": mode.name, "mode_fingerprint": fingerprint(mode.to_dict()), "success": success, "reason": reason,
        "safety_filter": mode.use_safety_filter,
        "spl": float(success) * shortest / max(length, shortest, 1e-9),
        "time_s": end - t0, "path_length_m": length, "shortest_path_m": shortest,
        "final_distance_m": distance,
        "route_progress": route_progress(route, traj[:, :2], cfg.success_radius_m),
        "min_distance_m": float(np.min(np.hypot(traj[:, 0] - gx, traj[:, 1] - gy))),
        "steering": steering_report(route, traj[:, :2], np.asarray(obs.carrots), t0, end),
        "collisions": obs.collisions, "stuck": ended_stuck, "stuck_events": judge.stuck.events,
        "interventions": sum(s in INTERVENTION_STATES for s in states),
        "safety_states": {s: states.count(s) for s in sorted(set(states))},
        **odometry_drift(np.array([p for p in obs.trajectory if t0 <= p[0] <= end]).reshape(-1, 4),
                         np.array([p for p in obs.odometry if t0 <= p[0] <= end]).reshape(-1, 4)),
        "latency_ms": latency_summary(obs.latency),
        "real_time_factor": sim_elapsed / nav_wall if nav_wall > 0 else float("nan"),
        "start_pose": [start.x, start.y, start.yaw],
        "trajectory": traj.round(3).tolist(),
        "wall_s": time.monotonic() - wall0, "logs": str(log_dir),
    }


def _same_route(rec: dict[str, Any], task: RouteTask, robot: str) -> bool:
    return (rec.get("world") == task.world and rec.get("robot") == robot
            and np.allclose(rec.get("route_start", []), [task.start.x, task.start.y, task.start.yaw], atol=1e-6)
            and np.allclose(rec.get("route_goal", []), list(task.goal), atol=1e-6))


def _graph_from_record(rec: dict[str, Any], graph_dir: Path) -> Graph:
    from gnm_nav.graph.store import TopoGraph

    g = rec["graph"]
    nodes = TopoGraph.load(graph_dir).nodes()
    if len(nodes) != g["nodes"]:
        raise EvalError(f"{graph_dir} does not hold the {g['nodes']} nodes its route record says")
    return Graph(graph_dir, min(nodes), int(g["goal_node"]), tuple(g["goal_pose"]), int(g["nodes"]),
                 np.asarray(g["expert_trajectory"], dtype=np.float64).reshape(-1, 3), float(g["expert_time_s"]),
                 float(g["wall_s"]), int(g.get("sessions", 1)), int(g.get("shortcuts", 0)))


def earlier_graph(task: RouteTask, robot: str, earlier: Path, work_dir: Path) -> Graph | None:
    """The graph an earlier evaluation in `earlier` built for this same route (copied into work_dir), or None.

    Graphs are recorded without a model, so every model can be compared on the very same graphs."""
    route_file, graph_src = earlier / "routes" / f"{task.route_id}.json", earlier / "work" / task.route_id / "graph"
    if not route_file.is_file() or not (graph_src / "graph.json").is_file():
        return None
    rec = json.loads(route_file.read_text())
    if not _same_route(rec, task, robot) or "graph" not in rec:
        raise EvalError(f"{route_file} is another route than {task.route_id} here (other --seed, --worlds, "
                        f"--robot, --preset or --min-route-m?) or has no graph")
    graph_dir = work_dir / "graph"
    if graph_dir.resolve() != graph_src.resolve():
        if graph_dir.exists():
            shutil.rmtree(graph_dir)
        shutil.copytree(graph_src, graph_dir, ignore=shutil.ignore_patterns(".cache"))
    return _graph_from_record(rec, graph_dir)


def repeat_world(task: RouteTask, cfg: EvalConfig, graph: Graph, work_dir: Path) -> tuple[str, dict[str, Any]]:
    """The world the repeat drives in: the teach world, or (with changes) a changed copy saved beside the route's
    logs; every mode of the route meets the same one."""
    if cfg.changes == "none":
        return task.world, {}
    from gnm_nav.sim.world_spec import save_world_spec

    spec, report = repeat_world_spec(task, (graph.goal_pose[0], graph.goal_pose[1]), cfg.changes, cfg.robot)
    path = work_dir / "world_repeat.yaml"
    save_world_spec(spec, path)
    return str(path), {"kind": cfg.changes, **report, "world_file": str(path)}


def evaluate_route(task: RouteTask, modes: list[Mode], cfg: EvalConfig, work_dir: Path, monitor: StackMonitor,
                   domain_id: int, graphs_from: Path | None = None, earlier: dict[str, Any] | None = None,
                   save: Callable[[dict[str, Any]], None] = lambda record: None) -> dict[str, Any]:
    """Build the graph (or take an earlier run's, from graphs_from), then run every mode from the same perturbed
    start. `earlier`: this route's record from an interrupted run of the same evaluation: its graph and finished
    runs are kept. `save(record)` is called whenever the record grew. Failures are recorded, not raised."""
    record: dict[str, Any] = {"route_id": task.route_id, "world": task.world, "robot": cfg.robot,
                              "route_start": [task.start.x, task.start.y, task.start.yaw],
                              "route_goal": list(task.goal), "planned_length_m": task.planned_length_m,
                              "legs": [{"goal": list(leg.goal), "record": leg.record} for leg in task.expert_legs]}
    graph = None
    try:
        if earlier is not None and "graph" in earlier and (work_dir / "graph" / "graph.json").is_file():
            graph = _graph_from_record(earlier, work_dir / "graph")
            record["graph_from"] = earlier.get("graph_from")
        elif graphs_from is not None:
            graph = earlier_graph(task, cfg.robot, graphs_from, work_dir)
            record["graph_from"] = str(graphs_from) if graph is not None else None
        graph = graph or build_graph(task, cfg, work_dir, monitor, domain_id)
    except GnmNavError as exc:
        record["error"] = f"graph building failed: {exc}"
        return record
    record["graph"] = {"dir": str(graph.graph_dir), "nodes": graph.nodes, "goal_node": graph.goal_node,
                       "goal_pose": list(graph.goal_pose), "expert_time_s": graph.expert_time_s,
                       "expert_path_length_m": _path_length(graph.expert_trajectory), "wall_s": graph.wall_s,
                       "sessions": graph.sessions, "shortcuts": graph.shortcuts,
                       "expert_trajectory": graph.expert_trajectory.round(3).tolist()}
    world, changes = repeat_world(task, cfg, graph, work_dir)
    if changes:
        record["changes"] = changes
    start = perturbed_start(world, cfg.robot, task.start, np.random.default_rng(task.seed), cfg.perturb_xy_m,
                            cfg.perturb_yaw_rad)
    record["runs"] = {name: run for name, run in (earlier or {}).get("runs", {}).items()
                      if any(m.name == name and run.get("mode_fingerprint") == fingerprint(m.to_dict()) for m in modes)}
    save(record)
    for mode in modes:
        if mode.name in record["runs"]:
            continue
        try:
            record["runs"][mode.name] = navigate(task, mode, graph, start, world, cfg, work_dir, monitor, domain_id)
        except GnmNavError as exc:
            record["runs"][mode.name] = {"mode": mode.name, "mode_fingerprint": fingerprint(mode.to_dict()),
                                         "success": False, "reason": str(exc), "spl": 0.0, "collisions": 0,
                                         "interventions": 0, "stuck_events": 0, "path_length_m": 0.0,
                                         "safety_filter": mode.use_safety_filter, "trajectory": [],
                                         "start_pose": [start.x, start.y, start.yaw]}
        save(record)
    return record
