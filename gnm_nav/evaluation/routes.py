"""Routes for the evaluation: sampled on each world's map for the robot's body, reproducibly from a seed.

A route is driven by the expert in legs (`Leg`): the recorded legs become graph sessions, the others take the
robot from the end of one recording to the start of the next without recording, as a user drives back with
the teleop. Presets: `standard` (one recording of >= 15 m), `long` (40-80 m in the larger `large:` worlds) and
`branching` (a trunk recording and a branch recording that starts part-way along it; the goal lies on the
branch, so the route uses parts of both).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from gnm_nav.common.errors import GnmNavError
from gnm_nav.common.pose import Pose2D

if TYPE_CHECKING:
    from gnm_nav.sim.world_spec import WorldSpec

START_PERTURBATION = (0.25, 0.25)  # m, rad: a repeat starts within this of where the recording started
BRANCH_AT = (0.35, 0.65)  # where along the trunk the branch recording starts (share of its length)
BRANCH_APPROACH_M = 1.5  # the expert comes to the branch point from this far back along the trunk
BRANCH_MIN_M = 6.0  # the branch recording is at least this long ...
BRANCH_APART_M = 4.0  # ... and ends this far from every point of the trunk past the branch point


def _point(xy: Sequence[float]) -> tuple[float, float]:
    return float(xy[0]), float(xy[1])


@dataclass(frozen=True)
class RoutePreset:
    name: str
    min_route_m: float
    max_route_m: float = math.inf
    world_prefix: str = ""  # bare world seeds become e.g. `large:SEED`
    branching: bool = False
    tries: int = 50


PRESETS = {
    "standard": RoutePreset("standard", 15.0),
    "long": RoutePreset("long", 40.0, 80.0, world_prefix="large:", tries=300),
    "branching": RoutePreset("branching", 15.0, branching=True, tries=100),
}


@dataclass(frozen=True)
class Leg:
    goal: tuple[float, float]
    record: bool  # a graph session records this leg


@dataclass(frozen=True)
class RouteTask:
    route_id: str
    world: str  # as given to the sim (seed, FAMILY:SEED, large:SEED, shipped name, .yaml)
    start: Pose2D
    goal: tuple[float, float]  # the navigation goal: the end of the last recorded leg
    planned_length_m: float  # along the route the navigation should take (trunk to the branch point, then branch)
    seed: int
    legs: tuple[Leg, ...] = ()  # default: one recorded leg to the goal

    @property
    def expert_legs(self) -> tuple[Leg, ...]:
        return self.legs or (Leg(self.goal, True),)


def preset(name: str) -> RoutePreset:
    if name not in PRESETS:
        raise GnmNavError(f"unknown route preset {name!r} (choose from {', '.join(PRESETS)})")
    return PRESETS[name]


def _branching(planner, rng: np.random.Generator, spec: RoutePreset, min_route_m: float):
    """(start, legs, planned length) of a trunk + branch route, or None when this draw found none."""
    from gnm_nav.sim.expert import PlanningError, path_length, sample_route

    trunk = sample_route(planner, rng, BRANCH_MIN_M + 2.0, tries=spec.tries)
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(trunk.path, axis=0), axis=1))])
    k = int(np.searchsorted(arc, rng.uniform(*BRANCH_AT) * arc[-1]))
    approach = int(np.searchsorted(arc, arc[k] - BRANCH_APPROACH_M))
    branch_at, before = trunk.path[k], trunk.path[max(approach, 0)]
    for _ in range(spec.tries):
        goal = planner.random_free_point(rng)
        if np.linalg.norm(trunk.path[k:] - goal, axis=1).min() < BRANCH_APART_M:
            continue
        try:
            branch = planner.plan(tuple(branch_at), goal)
        except PlanningError:
            continue
        length = arc[k] + path_length(branch)
        if path_length(branch) >= BRANCH_MIN_M and min_route_m <= length <= spec.max_route_m:
            legs = (Leg(_point(trunk.goal), True), Leg(_point(before), False), Leg(_point(branch_at), False),
                    Leg(_point(goal), True))
            return trunk.start, legs, float(length)
    return None


def plan_routes(worlds: list[str], robot: str, n_routes: int, min_route_m: float, seed: int = 0,
                skip_unusable: bool = False, route_preset: str = "standard") -> tuple[list[RouteTask], dict[str, str]]:
    """n_routes routes, cycling through the worlds; each world's routes come from its own seeded stream.

    A world with no route of min_route_m for this body is an error, or with skip_unusable left out
    (returned as {world: why}) while the others carry on.
    """
    from gnm_nav.sim.env import load_profile
    from gnm_nav.sim.expert import GridPlanner, PlanningError, sample_route
    from gnm_nav.sim.occupancy import occupancy_grid
    from gnm_nav.sim.worlds import resolve_world

    spec = preset(route_preset)
    profile = load_profile(robot)
    planners: dict[str, GridPlanner] = {}
    rngs: dict[str, np.random.Generator] = {}
    usable = list(worlds)
    skipped: dict[str, str] = {}
    tasks: list[RouteTask] = []
    while len(tasks) < n_routes:
        if not usable:
            raise PlanningError(f"no world can host a {spec.name} route of {min_route_m} m for {robot}: {skipped}")
        world = usable[len(tasks) % len(usable)]
        if world not in planners:
            planners[world] = GridPlanner(occupancy_grid(resolve_world(world)), profile.body_radius_m)
            rngs[world] = np.random.default_rng([seed, len(rngs)])
        try:
            if spec.branching:
                found = _branching(planners[world], rngs[world], spec, min_route_m)
                if found is None:
                    raise PlanningError(f"no branching route of at least {min_route_m:.1f} m found")
                start, legs, length = found
            else:
                route = sample_route(planners[world], rngs[world], min_route_m, tries=spec.tries,
                                     max_length=spec.max_route_m)
                start, legs, length = route.start, (), route.length
        except PlanningError as exc:
            if not skip_unusable:
                raise PlanningError(f"world {world}: {exc}") from None
            skipped[world] = str(exc)
            usable.remove(world)
            continue
        i = len(tasks)
        safe = world.replace(":", "-").replace("/", "_").replace(".yaml", "")
        goal = legs[-1].goal if legs else _point(route.goal)
        tasks.append(RouteTask(f"{i:03d}_{safe}", world, start, goal, length, seed * 1000 + i, legs))
    return tasks, skipped


def repeat_world_spec(task: RouteTask, goal_xy: tuple[float, float], changes: str,
                      robot: str) -> tuple[WorldSpec, dict[str, int]]:
    """The world as the repeat finds it (`gnm-nav eval --changes`) and what changed: the teach world changed with
    the route's own seed, the route and its goal left open for the body; the same world for every mode and loop
    that drives the route. Its spawn is the route's start (kept open), not the teach world's spawn, which moved
    furniture may cover (world 1548)."""
    import dataclasses

    from gnm_nav.sim.env import load_profile
    from gnm_nav.sim.world_changes import changed_world
    from gnm_nav.sim.worlds import resolve_world

    points = [(task.start.x, task.start.y), *(leg.goal for leg in task.expert_legs), goal_xy]
    spec, report = changed_world(resolve_world(task.world), changes, (task.seed, 2), points,
                                 load_profile(robot).body_radius_m)
    return dataclasses.replace(spec, spawn=[float(task.start.x), float(task.start.y), float(task.start.yaw)]), report


def perturbed_start(world: str, robot: str, start: Pose2D, rng: np.random.Generator,
                    xy_m: float = START_PERTURBATION[0], yaw_rad: float = START_PERTURBATION[1],
                    tries: int = 30, also_in: WorldSpec | None = None) -> Pose2D:
    """The start moved by a small random offset (within xy_m, yaw within +-yaw_rad) where the body fits, in
    `world` and in `also_in` (the changed world a repeat meets, whose furniture may stand where the teach's did
    not; the start itself is kept clear there, repeat_world_spec)."""
    from gnm_nav.common.angles import wrap_angle
    from gnm_nav.sim.env import load_profile
    from gnm_nav.sim.occupancy import occupancy_grid
    from gnm_nav.sim.worlds import resolve_world

    grids = [occupancy_grid(resolve_world(world))] + ([occupancy_grid(also_in)] if also_in is not None else [])
    need = load_profile(robot).body_radius_m + 0.05
    for _ in range(tries):
        r, a = xy_m * math.sqrt(rng.random()), rng.uniform(-math.pi, math.pi)
        x, y = start.x + r * math.cos(a), start.y + r * math.sin(a)
        if all(grid.clearance_at(x, y) >= need for grid in grids):
            return Pose2D(x, y, wrap_angle(start.yaw + rng.uniform(-yaw_rad, yaw_rad)))
    return start


def shortest_path_m(world: str, robot: str, start: tuple[float, float], goal: tuple[float, float]) -> float:
    """Length of the map planner's path: the reference length of SPL."""
    from gnm_nav.sim.env import load_profile
    from gnm_nav.sim.expert import GridPlanner, path_length
    from gnm_nav.sim.occupancy import occupancy_grid
    from gnm_nav.sim.worlds import resolve_world

    planner = GridPlanner(occupancy_grid(resolve_world(world)), load_profile(robot).body_radius_m)
    return path_length(planner.plan(start, goal))


# point-to-path distances are taken this many points at a time: a timed-out run (~8,000 points) against a long
# route (~4,000) would otherwise need hundreds of MB at once
CHUNK_POINTS = 512


def route_progress(expert_xy: np.ndarray, run_xy: np.ndarray, radius_m: float = 1.0) -> float:
    """How much of the recorded route (share of its length) the robot got along, in order.

    Walks the expert's points in order and counts one as reached when the robot came within radius_m
    of it no earlier than it reached the previous counted one (cut corners just skip points), so a
    robot that wanders near a later stretch of a winding route first does not get credit for it.
    """
    expert_xy, run_xy = np.asarray(expert_xy, float).reshape(-1, 2), np.asarray(run_xy, float).reshape(-1, 2)
    if len(expert_xy) < 2 or len(run_xy) == 0:
        return 0.0
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(expert_xy, axis=0), axis=1))])
    near = np.concatenate([np.linalg.norm(expert_xy[i:i + CHUNK_POINTS, None, :] - run_xy[None, :, :], axis=2)
                           <= radius_m for i in range(0, len(expert_xy), CHUNK_POINTS)])  # [K, T]
    t, reached = 0, 0.0
    for k in range(len(expert_xy)):
        hits = np.flatnonzero(near[k, t:])
        if hits.size:
            t += int(hits[0])
            reached = arc[k]
    return float(reached / arc[-1]) if arc[-1] > 0 else 0.0


def _offsets_m(path_xy: np.ndarray, points_xy: np.ndarray) -> np.ndarray:
    """Distance from each point to the nearest point of a (densely sampled) path."""
    parts = [np.linalg.norm(points_xy[i:i + CHUNK_POINTS, None, :] - path_xy[None, :, :], axis=2).min(axis=1)
             for i in range(0, len(points_xy), CHUNK_POINTS)]
    return np.concatenate(parts) if parts else np.empty(0)


def steering_report(expert_xy: np.ndarray, run_xy: np.ndarray, carrots: np.ndarray, t0: float, end: float,
                    bin_s: float = 0.5) -> dict[str, float]:
    """How the run kept to the recorded route, and why: the robot's distance from the expert's path (p50/p90),
    the share of the run's time the odometry offered a steering carrot (gnm/subgoal_pose), and how far those
    carrots lay from the path (a wrongly anchored odometry shows as a large carrot offset).
    carrots: [N, 3] (t, x, y) in the world."""
    expert_xy = np.asarray(expert_xy, float).reshape(-1, 2)
    run_xy = np.asarray(run_xy, float).reshape(-1, 2)
    carrots = np.asarray(carrots, float).reshape(-1, 3)
    carrots = carrots[(carrots[:, 0] >= t0) & (carrots[:, 0] <= end)]
    out: dict[str, float] = {}
    if len(expert_xy) and len(run_xy):
        path = _offsets_m(expert_xy, run_xy)
        out["path_offset_m_p50"], out["path_offset_m_p90"] = (float(v) for v in np.percentile(path, [50, 90]))
    bins = max(int(math.ceil((end - t0) / bin_s)), 1)
    covered = np.unique(np.minimum(((carrots[:, 0] - t0) // bin_s).astype(int), bins - 1))
    out["carrot_share"] = float(len(covered) / bins)
    if len(carrots) and len(expert_xy):
        off = _offsets_m(expert_xy, carrots[:, 1:])
        out["carrot_offset_m_p50"], out["carrot_offset_m_p90"] = (float(v) for v in np.percentile(off, [50, 90]))
    return out
