"""The vision-only stack driven in one process, without ROS: a closed-loop figure that can be taken often.

`gnm-nav eval` runs every node as its own process over DDS, as a user would, and takes minutes a route. This loop
runs the same core objects — `graph.navigator` (localiser, planner, goal checker), `control.policy` (context,
model, controller) and `control.supervisor` with its heading sweep and stall back-up — at the nodes' rates in
sim time, judged by `evaluation.judge`, so that it can score every model: the model card's closed-loop figure
(`gnm-nav closed-loop --card`) and each DAgger round (`gnm-nav train gnm-dagger`), which also keeps the frames
the model saw and the true poses it saw them at. By default it is the benchmark's `vision_only_no_filter`: no
odometry for localisation, steering or the goal, no safety filter, the world as taught or as the benchmark's
`--changes` changes it (LoopConfig.changes); the stall back-up reads the odometry only to tell that the base did not
move. With `LoopConfig.use_odometry` it is `ours_no_filter`: the graph is recorded with the wheel odometry's poses,
the planner's odometry prior helps localise and confirm the goal, and the policy steers toward its carrot by
`odometry_steering`; teach and repeat each draw their own odometry error, as the benchmark's separate runs do.

`localization_mode="oracle"` is a diagnostic with no counterpart on a robot: the true pose picks the node (the
taught node nearest the robot, searched a few nodes around the last one) and declares the goal within the success
radius, so the model is judged on following subgoals alone; beside the same routes driven with the localiser, it
says whether a failure is the policy's or the localiser's.
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from gnm_nav.common.angles import wrap_angle
from gnm_nav.common.errors import GnmNavError
from gnm_nav.common.pose import Pose2D
from gnm_nav.common.stats import pearson, slope_through_origin
from gnm_nav.control.controller import Limits, make_controller
from gnm_nav.control.policy import GNMPolicy
from gnm_nav.control.recovery import BackUpConfig, HeadingSweep, StallBackUp, SweepConfig
from gnm_nav.control.supervisor import Inputs, Mode, PolicySupervisor
from gnm_nav.data.gnm_format import FRAME_RATE_HZ
from gnm_nav.evaluation.judge import RunJudge, time_limit_s
from gnm_nav.evaluation.routes import RouteTask, perturbed_start, repeat_world_spec, route_progress
from gnm_nav.gnm.context_buffer import ContextBuffer
from gnm_nav.gnm.preprocessing import preprocess_frame
from gnm_nav.graph.builder import GraphBuilder
from gnm_nav.graph.likelihood import model_likelihood
from gnm_nav.graph.navigator import Navigator
from gnm_nav.graph.odometry import OdometryConfig
from gnm_nav.graph.store import TopoGraph
from gnm_nav.sim.env import SimEnv
from gnm_nav.sim.expert import GridPlanner, Route
from gnm_nav.sim.rollout import CONTROL_DT, expert_rollout

JUDGE_EVERY_S = 0.5  # sim s between the judge's looks (the DDS runner looks every 0.2 wall s)
AHEAD_RAD = 1.5  # a subgoal within this bearing of the heading is in front: its bearing is one the model can steer to
LOOP_LOCALIZATION_MODES = ("graph", "belief", "oracle")
ORACLE_WINDOW = (2, 6)  # nodes behind and ahead of the last one the oracle searches (a route may pass a place twice)


@dataclass(frozen=True)
class LoopConfig:
    """The stack's settings the loop reproduces; each is the default of the node parameter named beside it."""

    policy_rate_hz: float = 10.0  # gnm_policy_node max_rate_hz
    source_timeout_s: float = 1.0  # gnm_policy_node source_timeout
    controller: str = "smooth"  # gnm_policy_node controller
    record_interval_s: float = 1.0  # graph_builder_node record_interval_s
    success_radius_m: float = 1.0  # gnm-nav eval --success-radius
    changes: str = "none"  # gnm-nav eval --changes: what changed in the world between the teach and the repeat
    localization_mode: str = "graph"  # topological_planner_node localization_mode, or "oracle" (the true pose)
    use_odometry: bool = False  # topological_planner_node use_odometry (the node's default: true; here: vision only)
    odometry_steering: float = 0.5  # gnm_policy_node odometry_steering (read only with use_odometry)

    @property
    def mode(self) -> str:
        """The benchmark mode (evaluation.modes) this loop reproduces."""
        return "ours_no_filter" if self.use_odometry else "vision_only_no_filter"

    def __post_init__(self) -> None:
        if self.localization_mode not in LOOP_LOCALIZATION_MODES:
            raise GnmNavError(f"localization mode must be one of {', '.join(LOOP_LOCALIZATION_MODES)}, "
                              f"got {self.localization_mode!r}")


@dataclass
class TaughtRoute:
    """A route as the expert recorded it: its graph (in memory), where it starts and ends, and its path."""

    graph: TopoGraph
    start: Pose2D
    start_node: int
    goal_node: int
    goal_pose: Pose2D  # the true pose the goal node's image was taken at
    expert_xy: np.ndarray  # [N, 2] the recorded drive
    length_m: float
    node_xy: np.ndarray  # [nodes, 2] the true place of each node (its graph pose is the odometry's with odometry)


@dataclass
class Seen:
    """A frame of the repeat at the dataset's rate (4 Hz) and the true pose it was rendered at."""

    t: float
    frame: np.ndarray = field(repr=False)
    pose: Pose2D


@dataclass
class LoopRun:
    success: bool
    reason: str
    route_progress: float
    collisions: int
    stuck_events: int
    path_length_m: float
    time_s: float
    final_distance_m: float
    modes: dict[str, int]  # policy decisions by supervisor mode
    trajectory: np.ndarray  # [N, 2] (x, y) at the dataset's rate
    bearings: np.ndarray  # [M, 2] per model command: bearing of the waypoint it steers at, true bearing of its subgoal
    seen: list[Seen] = field(default_factory=list, repr=False)  # keep_frames only

    def summary(self) -> dict:
        return {"success": self.success, "reason": self.reason, "route_progress": self.route_progress,
                "collisions": self.collisions, "stuck_events": self.stuck_events,
                "path_length_m": self.path_length_m, "time_s": self.time_s,
                "final_distance_m": self.final_distance_m, "modes": self.modes}


def teach(env: SimEnv, planner: GridPlanner, route: Route, rng: np.random.Generator,
          config: LoopConfig = LoopConfig()) -> TaughtRoute:
    """The expert drives the route once; a node every record_interval_s of its camera frames, as the builder node
    (at the odometry's pose with config.use_odometry, as the builder records it; else at the true pose)."""
    graph = TopoGraph()
    builder = GraphBuilder(graph, config.record_interval_s)
    builder.start_session()
    xy, node_xy, last_pose = [], [], route.start
    max_time = time_limit_s(route.length, env.profile.max_v)
    for step in expert_rollout(env, planner, route, rng, env.profile.camera_rate_hz, max_time):
        pose = step.state.pose
        xy.append((pose.x, pose.y))
        if step.frame is not None:
            recorded = env.odom if config.use_odometry else pose
            node = builder.offer(step.frame, step.t, (recorded.x, recorded.y, recorded.yaw))
            if node is not None:
                last_pose = pose
                node_xy.append((pose.x, pose.y))
    builder.end_session()
    nodes = graph.nodes()
    path = np.asarray(xy, np.float64)
    return TaughtRoute(graph, route.start, nodes[0], nodes[-1], last_pose, path,
                       float(np.linalg.norm(np.diff(path, axis=0), axis=1).sum()), np.asarray(node_xy, np.float64))


class OracleLocalizer:
    """The true pose in place of the localiser (a diagnostic): the taught node nearest the robot, searched in
    ORACLE_WINDOW around the last one along the recording, and arrival within `radius_m` of the goal's pose."""

    def __init__(self, taught: TaughtRoute, radius_m: float) -> None:
        self.nodes = taught.graph.nodes()
        self.xy = taught.node_xy
        self.index = self.nodes.index(taught.start_node)
        self.goal = taught.goal_pose
        self.radius_m = radius_m

    def step(self, pose: Pose2D) -> tuple[int, bool]:
        """(the robot's node, whether it is at the goal)."""
        lo, hi = max(self.index - ORACLE_WINDOW[0], 0), min(self.index + ORACLE_WINDOW[1] + 1, len(self.nodes))
        near = np.linalg.norm(self.xy[lo:hi] - (pose.x, pose.y), axis=1)
        self.index = lo + int(np.argmin(near))
        return self.nodes[self.index], math.hypot(pose.x - self.goal.x, pose.y - self.goal.y) <= self.radius_m


def _limits(env: SimEnv) -> Limits:
    p = env.profile
    return Limits(p.max_v, p.max_w, p.max_acc_v, p.max_acc_w)


def repeat(env: SimEnv, taught: TaughtRoute, engine, start: Pose2D, config: LoopConfig = LoopConfig(),
           keep_frames: bool = False) -> LoopRun:
    """Drive the taught graph's goal from `start` with the model alone; keep_frames: also the frames it saw."""
    card, profile, limits = engine.card, env.profile, _limits(env)
    likelihood = model_likelihood(card.path_of("whole")) if config.localization_mode == "belief" else None
    oracle = OracleLocalizer(taught, config.success_radius_m) if config.localization_mode == "oracle" else None
    nav = Navigator(taught.graph, engine, odometry=OdometryConfig() if config.use_odometry else None,
                    likelihood=likelihood, localization_mode="graph" if oracle else config.localization_mode)
    nav.set_start(taught.start_node)
    nav.set_goal(taught.goal_node)
    controller = make_controller(config.controller, limits, 1.0 / card.context_spacing_s,
                                 stale_after_s=config.source_timeout_s)
    policy = GNMPolicy(engine, controller, limits.max_v,
                       odometry_steering=config.odometry_steering if config.use_odometry else 0.0)
    context = ContextBuffer(card.context_size, card.context_spacing_s, card.image_size, card.center_crop)
    backup = StallBackUp(BackUpConfig(body_radius_m=profile.body_radius_m).limited(limits.max_v))
    supervisor = PolicySupervisor(config.source_timeout_s, HeadingSweep(SweepConfig().limited(limits.max_w)), backup)

    dt = CONTROL_DT
    camera_every = max(1, round(1.0 / (profile.camera_rate_hz * dt)))
    tick_every = max(1, round(nav.period_s / dt))
    data_every = max(1, round(1.0 / (FRAME_RATE_HZ * dt)))
    policy_every = max(camera_every, round(1.0 / (config.policy_rate_hz * dt)))
    judge_every = max(1, round(JUDGE_EVERY_S / dt))

    env.reset((start.x, start.y, start.yaw))
    judge = RunJudge(taught.expert_xy, 0.0, time_limit_s(taught.length_m, profile.max_v))
    trajectory: list[tuple[float, float, float]] = [(0.0, start.x, start.y)]
    collision_ticks: list[float] = []
    seen: list[Seen] = []
    modes: dict[str, int] = {}
    subgoal: np.ndarray | None = None
    subgoal_node: int | None = None  # the node whose image is the policy's subgoal
    node_xy = dict(zip(taught.graph.nodes(), map(tuple, taught.node_xy)))
    bearings: list[tuple[float, float]] = []
    carrot: tuple[float, np.ndarray] | None = None  # (tick time, [x, y] base frame): the planner's odometry carrot
    camera_t = subgoal_t = lost_t = None
    goal_reached, reason = False, ""
    v = w = 0.0
    pose, collisions, was_colliding = env.pose, 0, False
    k = 0
    while not reason:
        t = k * dt
        frame = env.render() if k % camera_every == 0 else None
        if frame is not None:
            nav.on_frame(frame, t)
            if context.push(frame, t, t):
                camera_t = t
        if keep_frames and k % data_every == 0:
            seen.append(Seen(t, frame if frame is not None else env.render(), pose))
        if k % tick_every == 0 and oracle is not None:
            node, goal_reached = oracle.step(pose)
            plan = nav.planner.update(node, 0.0)
            if plan.subgoal is not None and not goal_reached:
                if plan.subgoal != subgoal_node:  # a node's image is read and preprocessed once per visit
                    subgoal_node = plan.subgoal
                    subgoal = preprocess_frame(taught.graph.image(subgoal_node), card.image_size, card.center_crop)
                subgoal_t = t
        elif k % tick_every == 0:
            step = nav.tick()
            if step is not None:
                goal_reached = goal_reached or step.plan.goal_reached
                lost_t = t if step.lost else lost_t
                if step.subgoal_image is not None and not goal_reached:
                    subgoal, subgoal_t = preprocess_frame(step.subgoal_image, card.image_size, card.center_crop), t
                    subgoal_node = step.plan.subgoal
                    if step.subgoal_offset_m is not None:
                        carrot = (t, step.subgoal_offset_m)
        inputs = Inputs(t, camera_t, context.fill, subgoal_t, lost_t, goal_reached)
        if frame is not None and k % policy_every == 0:
            decision = supervisor.step(inputs)
            modes[decision.mode.value] = modes.get(decision.mode.value, 0) + 1
            if decision.mode is Mode.MODEL and subgoal is not None:
                offset = carrot[1] if carrot is not None and t - carrot[0] <= config.source_timeout_s else None
                out = policy.step(context.model_input(), subgoal, t, offset, backup.clear_heading)
                v, w = out.v, out.w
                if subgoal_node in node_xy:
                    aim = out.waypoints_m[policy.waypoint_index]
                    bearings.append((math.atan2(aim[1], aim[0]), bearing_to(pose, node_xy[subgoal_node])))
            else:
                controller.reset()
                v, w = decision.v, decision.w
        else:
            halt = supervisor.watch(inputs)
            if halt is not None:
                controller.reset()
                v, w = halt.v, halt.w
        backup.on_odometry(env.odom.x, env.odom.y, env.odom.yaw, t)
        nav.on_odom((env.odom.x, env.odom.y, env.odom.yaw))
        backup.on_base_command(v)
        result = env.step(v, w, dt)
        k += 1
        pose = result.pose
        collisions += int(result.collided and not was_colliding)
        was_colliding = result.collided
        if result.collided:
            collision_ticks.append(k * dt)
        trajectory.append((k * dt, pose.x, pose.y))
        if goal_reached:
            reason = "goal reached"
        elif k % judge_every == 0:
            reason = judge.verdict(k * dt, trajectory, collision_ticks)
    xy = np.asarray([p[1:] for p in trajectory], np.float64)
    goal = taught.goal_pose
    distance = math.hypot(pose.x - goal.x, pose.y - goal.y)
    success = goal_reached and distance <= config.success_radius_m and not judge.ended_stuck
    if goal_reached and not success:
        reason = f"goal declared {distance:.2f} m from the goal pose"
    return LoopRun(success, reason, route_progress(taught.expert_xy, xy, config.success_radius_m), collisions,
                   judge.stuck.events, float(np.linalg.norm(np.diff(xy, axis=0), axis=1).sum()), k * dt, distance,
                   modes, xy[::data_every], np.asarray(bearings, np.float64).reshape(-1, 2), seen)


def bearing_to(pose: Pose2D, xy: tuple[float, float]) -> float:
    """The bearing of a place from a pose (radians, left positive)."""
    return wrap_angle(math.atan2(xy[1] - pose.y, xy[0] - pose.x) - pose.yaw)


def steering_figures(runs: list[LoopRun]) -> dict[str, float]:
    """Does the model steer toward the subgoal it is given? Over every model command whose subgoal was in front
    (AHEAD_RAD): the correlation of the bearing it steered at with the subgoal's true bearing, and the slope (1:
    it turns as far as the subgoal lies; 0: it ignores where the subgoal is)."""
    pairs = np.concatenate([r.bearings for r in runs]) if runs else np.zeros((0, 2))
    ahead = pairs[np.abs(pairs[:, 1]) < AHEAD_RAD]
    return {"subgoal_bearing_r": pearson(ahead[:, 0], ahead[:, 1]),
            "subgoal_bearing_gain": slope_through_origin(ahead[:, 0], ahead[:, 1]),
            "subgoal_bearing_pairs": int(len(ahead))}


@dataclass
class Drive:
    """One route of a closed-loop campaign: the task, the simulator and planner of the world the repeat drove in
    (the taught one, or its changed copy), the teach and the run."""

    task: RouteTask
    env: SimEnv
    planner: GridPlanner
    taught: TaughtRoute
    run: LoopRun


def drive_routes(tasks: list[RouteTask], engine, robot: str, seed: int = 0, keep_frames: bool = False,
                 config: LoopConfig = LoopConfig()) -> Iterator[Drive]:
    """Teach and repeat each route in turn (one simulator per world, kept while its routes run); the repeat starts
    near the recording's start (evaluation.routes.perturbed_start), as the benchmark's does, in the world as the
    benchmark's repeat finds it (config.changes: the same changed world, from the route's seed)."""
    from gnm_nav.sim.env import load_profile
    from gnm_nav.sim.worlds import resolve_world

    profile = load_profile(robot)
    env: SimEnv | None = None
    world = None
    try:
        for task in tasks:
            if env is None or task.world != world:
                if env is not None:
                    env.close()
                world = task.world
                env = SimEnv(resolve_world(world), profile, seed=seed)
                planner = GridPlanner(env.grid, profile.body_radius_m)
            rng = np.random.default_rng([seed, task.seed])
            route = Route(task.start, task.goal, planner.plan((task.start.x, task.start.y), task.goal))
            if config.use_odometry:
                env.redraw_odometry((seed, task.seed, 0))
            taught = teach(env, planner, route, rng, config)
            there, there_planner, changed = env, planner, None
            if config.changes != "none":
                goal = taught.goal_pose
                changed = repeat_world_spec(task, (goal.x, goal.y), config.changes, robot)[0]
                there = SimEnv(changed, profile, seed=seed)
                there_planner = GridPlanner(there.grid, profile.body_radius_m)
            start = perturbed_start(task.world, robot, task.start, rng, also_in=changed)
            if config.use_odometry:
                there.redraw_odometry((seed, task.seed, 1))
            try:
                yield Drive(task, there, there_planner, taught,
                            repeat(there, taught, engine, start, config, keep_frames))
            finally:
                if there is not env:
                    there.close()
    finally:
        if env is not None:
            env.close()


def summarise(runs: list[LoopRun]) -> dict:
    """The campaign's figures: success, route progress, collisions per km, stuck events, time."""
    n = len(runs)
    km = sum(r.path_length_m for r in runs) / 1000.0
    successes = sum(r.success for r in runs)
    return {"routes": n, "successes": successes, "success_rate": successes / n if n else 0.0,
            "route_progress": float(np.mean([r.route_progress for r in runs])) if n else 0.0,
            "collisions": sum(r.collisions for r in runs),
            "collisions_per_km": sum(r.collisions for r in runs) / km if km > 0 else 0.0,
            "stuck_events": sum(r.stuck_events for r in runs),
            "path_length_m": sum(r.path_length_m for r in runs), "time_s": sum(r.time_s for r in runs),
            **steering_figures(runs)}
