"""The expert driver: a map-aware stand-in for a human teleoperator.

It plans on the world's occupancy grid (A* with a clearance margin for the body and a preference for the
middle of corridors), then follows the path with pure pursuit plus human-like imperfection: slowly varying
steering noise and speed, and occasional swerves it recovers from. Deterministic given its rng.
"""
from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field

import numpy as np

from gnm_nav.common.angles import wrap_angle
from gnm_nav.common.errors import GnmNavError
from gnm_nav.common.pose import Pose2D
from gnm_nav.robot_profile import RobotProfile
from gnm_nav.sim.occupancy import OccupancyGrid, largest_free_component

PLAN_RESOLUTION = 0.1  # planner cell size (m); the occupancy grid is coarsened to this
SAFETY_MARGIN = 0.08  # extra clearance beyond the body radius
GOAL_TOLERANCE = 0.3
BACK_OFF_S = 0.6  # after a bump: reverse this long, then replan


class PlanningError(GnmNavError):
    """No path exists (goal unreachable or inside an obstacle) or no route of the asked length was found."""


@dataclass
class Route:
    start: Pose2D
    goal: tuple[float, float]
    path: np.ndarray  # [N, 2] waypoints (m)

    @property
    def length(self) -> float:
        return path_length(self.path)


def path_length(path: np.ndarray) -> float:
    return float(np.linalg.norm(np.diff(path, axis=0), axis=1).sum()) if len(path) > 1 else 0.0


class GridPlanner:
    """A* on a coarsened clearance grid for one body radius."""

    def __init__(self, grid: OccupancyGrid, body_radius: float) -> None:
        k = max(1, int(round(PLAN_RESOLUTION / grid.resolution)))
        rows, cols = grid.shape[0] // k, grid.shape[1] // k
        # a coarse cell's clearance is the worst of the fine cells it covers
        clearance = grid.clearance[:rows * k, :cols * k].reshape(rows, k, cols, k).min(axis=(1, 3))
        self.res = grid.resolution * k
        self.origin = grid.origin
        self.clearance = clearance
        self.radius = body_radius
        self.free = clearance >= body_radius + SAFETY_MARGIN
        self.reachable = largest_free_component(self.free)
        # cost multiplier: hug nothing; prefer cells with at least 0.6 m to spare
        spare = np.clip((clearance - body_radius) / 0.6, 0.0, 1.0)
        self.cost = 1.0 + 3.0 * (1.0 - spare)

    def cell(self, x: float, y: float) -> tuple[int, int]:
        return int((y - self.origin[1]) // self.res), int((x - self.origin[0]) // self.res)

    def point(self, rc: tuple[int, int]) -> tuple[float, float]:
        return self.origin[0] + (rc[1] + 0.5) * self.res, self.origin[1] + (rc[0] + 0.5) * self.res

    def _nearest_free(self, rc: tuple[int, int], max_cells: int = 4) -> tuple[int, int] | None:
        """The start may sit slightly inside the margin (e.g. after a bump): step to the nearest free cell."""
        r0, c0 = rc
        best = None
        for r in range(r0 - max_cells, r0 + max_cells + 1):
            for c in range(c0 - max_cells, c0 + max_cells + 1):
                if 0 <= r < self.free.shape[0] and 0 <= c < self.free.shape[1] and self.reachable[r, c]:
                    d = (r - r0) ** 2 + (c - c0) ** 2
                    if best is None or d < best[0]:
                        best = (d, (r, c))
        return None if best is None else best[1]

    def plan(self, start: tuple[float, float], goal: tuple[float, float]) -> np.ndarray:
        s = self._nearest_free(self.cell(*start))
        g_rc = self.cell(*goal)
        if s is None:
            raise PlanningError(f"start ({start[0]:.2f}, {start[1]:.2f}) is not in free space")
        if not (0 <= g_rc[0] < self.free.shape[0] and 0 <= g_rc[1] < self.free.shape[1]) or not self.reachable[g_rc]:
            raise PlanningError(f"goal ({goal[0]:.2f}, {goal[1]:.2f}) is not reachable for a body of radius "
                                f"{self.radius} m")
        g = g_rc
        rows, cols = self.free.shape
        best = {s: 0.0}
        parent: dict[tuple[int, int], tuple[int, int]] = {}
        heap = [(0.0, 0.0, s)]
        steps = [(dr, dc, math.hypot(dr, dc)) for dr in (-1, 0, 1) for dc in (-1, 0, 1) if dr or dc]
        while heap:
            _, cost, cur = heapq.heappop(heap)
            if cur == g:
                break
            if cost > best.get(cur, math.inf):
                continue
            for dr, dc, dist in steps:
                nr, nc = cur[0] + dr, cur[1] + dc
                if not (0 <= nr < rows and 0 <= nc < cols) or not self.reachable[nr, nc]:
                    continue
                if dr and dc and not (self.reachable[cur[0], nc] and self.reachable[nr, cur[1]]):
                    continue  # no corner cutting
                new = cost + dist * self.cost[nr, nc]
                if new < best.get((nr, nc), math.inf):
                    best[(nr, nc)] = new
                    parent[(nr, nc)] = cur
                    heapq.heappush(heap, (new + math.hypot(nr - g[0], nc - g[1]), new, (nr, nc)))
        if g not in best:
            raise PlanningError(f"no path from ({start[0]:.2f}, {start[1]:.2f}) to ({goal[0]:.2f}, {goal[1]:.2f})")
        cells = [g]
        while cells[-1] != s:
            cells.append(parent[cells[-1]])
        pts = np.array([self.point(rc) for rc in reversed(cells)])
        pts[-1] = goal
        return pts

    def random_free_point(self, rng: np.random.Generator) -> tuple[float, float]:
        rows, cols = np.nonzero(self.reachable)
        k = int(rng.integers(rows.size))
        return self.point((rows[k], cols[k]))


def sample_route(planner: GridPlanner, rng: np.random.Generator, min_length: float,
                 start: Pose2D | None = None, tries: int = 50, max_length: float = math.inf) -> Route:
    """A random start (unless given) and goal whose planned path is min_length..max_length metres long."""
    if not planner.reachable.any():
        raise PlanningError("the world has no free space for this body")
    longest = 0.0
    for _ in range(tries):
        s = start or Pose2D(*planner.random_free_point(rng), float(rng.uniform(-math.pi, math.pi)))
        goal = planner.random_free_point(rng)
        try:
            path = planner.plan((s.x, s.y), goal)
        except PlanningError:
            continue
        length = path_length(path)
        longest = max(longest, length if length <= max_length else 0.0)
        if min_length <= length <= max_length:
            if start is None and len(path) > 1:  # face roughly along the path, as a driver would start
                d = path[min(5, len(path) - 1)] - path[0]
                s = Pose2D(s.x, s.y, wrap_angle(math.atan2(d[1], d[0]) + float(rng.normal(0, 0.3))))
            return Route(start=s, goal=goal, path=path)
    within = f"{min_length:.1f}-{max_length:.1f} m" if math.isfinite(max_length) else f"at least {min_length:.1f} m"
    raise PlanningError(f"no route of {within} found in {tries} tries (longest {longest:.1f} m)")


@dataclass(frozen=True)
class ExpertConfig:
    steer_noise: float = 0.15  # OU noise on the turn rate, as a fraction of max_w
    speed_range: tuple[float, float] = (0.6, 1.0)  # cruise speed as a fraction of max_v, varies slowly
    swerve_rate_hz: float = 0.05  # how often a recoverable perturbation starts
    swerve_duration_s: tuple[float, float] = (0.5, 1.5)
    swerve_strength: tuple[float, float] = (0.4, 0.7)  # turn rate of a swerve, as a fraction of max_w
    toward_obstacles: float = 0.0  # share of swerves that turn toward the nearer obstacle (a short drift at it)


@dataclass
class ExpertDriver:
    """Follows a route; `command(pose, dt, collided)` -> (v, w). Replans after bumps or when stuck."""

    planner: GridPlanner
    profile: RobotProfile
    route: Route
    rng: np.random.Generator
    config: ExpertConfig = field(default_factory=ExpertConfig)

    def __post_init__(self) -> None:
        self.path = self.route.path
        self._idx = 0
        self._noise = 0.0
        self._speed = float(np.mean(self.config.speed_range))
        self._swerve_left = 0.0
        self._swerve_w = 0.0
        self._since_progress = 0.0
        self._best_remaining = math.inf
        self._backing_left = 0.0
        self.replans = 0

    @property
    def lookahead(self) -> float:
        return 0.35 + 0.8 * self.profile.max_v

    def _clearance(self, x: float, y: float) -> float:
        r, c = self.planner.cell(x, y)
        clearance = self.planner.clearance
        return float(clearance[r, c]) if 0 <= r < clearance.shape[0] and 0 <= c < clearance.shape[1] else 0.0

    def _nearer_obstacle_side(self, pose: Pose2D) -> float:
        """+1 when the obstacle nearer the robot's flank is on its left, -1 on its right."""
        left = self._clearance(pose.x - 0.4 * math.sin(pose.yaw), pose.y + 0.4 * math.cos(pose.yaw))
        right = self._clearance(pose.x + 0.4 * math.sin(pose.yaw), pose.y - 0.4 * math.cos(pose.yaw))
        return 1.0 if left < right else -1.0

    def _in_view(self, pose: Pose2D, point: np.ndarray) -> bool:
        """Can the body drive straight from pose to point without touching anything?"""
        dist = math.hypot(point[0] - pose.x, point[1] - pose.y)
        n = max(1, int(dist / (0.5 * self.planner.res)))
        need = self.profile.body_radius_m + 0.02
        return all(self._clearance(pose.x + (point[0] - pose.x) * i / n, pose.y + (point[1] - pose.y) * i / n) >= need
                   for i in range(1, n + 1))

    def done(self, pose: Pose2D) -> bool:
        return math.hypot(pose.x - self.route.goal[0], pose.y - self.route.goal[1]) < GOAL_TOLERANCE

    def _replan(self, pose: Pose2D) -> None:
        self.path = self.planner.plan((pose.x, pose.y), self.route.goal)
        self._idx = 0
        self.replans += 1
        self._swerve_left = 0.0

    def command(self, pose: Pose2D, dt: float, collided: bool = False) -> tuple[float, float]:
        p, cfg = self.profile, self.config
        if self.done(pose):
            return 0.0, 0.0
        remaining = math.hypot(pose.x - self.route.goal[0], pose.y - self.route.goal[1])
        if remaining < self._best_remaining - 0.05:
            self._best_remaining, self._since_progress = remaining, 0.0
        else:
            self._since_progress += dt
        if collided:  # back off the obstacle briefly, then plan again from there
            self._backing_left = BACK_OFF_S
        if self._backing_left > 0:
            self._backing_left -= dt
            if self._backing_left <= 0:
                self._replan(pose)
            return -0.3 * p.max_v, 0.0
        if self._since_progress > 6.0:
            self._replan(pose)
            self._since_progress = 0.0
        # progress along the path: nearest waypoint within a window ahead of the last one
        window = self.path[self._idx:self._idx + 40]
        self._idx += int(np.argmin(np.linalg.norm(window - (pose.x, pose.y), axis=1)))
        if np.linalg.norm(self.path[self._idx] - (pose.x, pose.y)) > 1.0:
            self._replan(pose)  # drifted far from the path (e.g. after a swerve)
        # pure pursuit target: the farthest path point within the lookahead that is in straight-line view,
        # so the body never cuts a corner into a door jamb
        target = self.path[min(self._idx + 1, len(self.path) - 1)]
        for k in range(self._idx, len(self.path)):
            if np.linalg.norm(self.path[k] - (pose.x, pose.y)) > self.lookahead:
                break
            if self._in_view(pose, self.path[k]):
                target = self.path[k]
        err = wrap_angle(math.atan2(target[1] - pose.y, target[0] - pose.x) - pose.yaw)
        # slowly varying human imperfection
        theta = 1.0
        self._noise += -theta * self._noise * dt + cfg.steer_noise * p.max_w * math.sqrt(2 * theta * dt) * float(
            self.rng.standard_normal())
        lo, hi = cfg.speed_range
        self._speed = float(np.clip(self._speed + 0.3 * math.sqrt(dt) * float(self.rng.standard_normal()), lo, hi))
        if self._swerve_left <= 0 and self.rng.random() < cfg.swerve_rate_hz * dt:
            self._swerve_left = float(self.rng.uniform(*cfg.swerve_duration_s))
            self._swerve_w = float(self.rng.choice([-1.0, 1.0]) * self.rng.uniform(*cfg.swerve_strength) * p.max_w)
            if cfg.toward_obstacles > 0 and self.rng.random() < cfg.toward_obstacles:
                self._swerve_w = math.copysign(self._swerve_w, self._nearer_obstacle_side(pose))
        room = float(np.clip((self._clearance(pose.x, pose.y) - self.profile.body_radius_m) / 0.5, 0.0, 1.0))
        w = float(np.clip(2.0 * err, -p.max_w, p.max_w)) + self._noise * room  # steadier hands in tight spots
        if self._swerve_left > 0:
            self._swerve_left -= dt
            ahead = (pose.x + 0.5 * math.cos(pose.yaw), pose.y + 0.5 * math.sin(pose.yaw))
            rc = self.planner.cell(*ahead)
            safe = (0 <= rc[0] < self.planner.free.shape[0] and 0 <= rc[1] < self.planner.free.shape[1]
                    and self.planner.free[rc])
            if safe:
                w = self._swerve_w
            else:
                self._swerve_left = 0.0
        v = p.max_v * self._speed * max(0.0, math.cos(err)) ** 2
        if abs(err) > 1.2:
            v = 0.0  # turn in place first, as a careful driver would
        v = min(v, max(0.05, remaining))  # ease into the goal
        return v, float(np.clip(w, -p.max_w, p.max_w))
