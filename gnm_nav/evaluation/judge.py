"""When a navigation run ends, by ground truth: the rules the benchmark judges every run by, over DDS
(`evaluation.runner`) or in one process (`evaluation.closed_loop`).

A run ends when the stack says the goal is reached (its caller's test), on timeout, when the robot has been
stuck against an obstacle for `STUCK_END_S`, has made no progress for `IDLE_WINDOW_S`, or has been far off the
route for `OFF_ROUTE_S`. Trajectories are time-ordered lists of (t, x, y, ...) in sim seconds.
"""
from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence

import numpy as np

STUCK_WINDOW_S = 5.0  # sim s; stuck = in contact most of this window without getting anywhere (one stuck event)
STUCK_END_S = 15.0  # sim s stuck without a break ends the run
IDLE_WINDOW_S = 30.0  # sim s without 0.1 m of progress ends the run
OFF_ROUTE_M = 3.0  # farther than this from the recorded route ...
OFF_ROUTE_S = 30.0  # ... for this many sim s ends the run


def _since(trajectory: Sequence[tuple[float, ...]], t: float) -> Sequence[tuple[float, ...]]:
    return trajectory[bisect_left(trajectory, (t,)):]


def stuck(now: float, trajectory: Sequence[tuple[float, ...]], collision_ticks: Sequence[float]) -> bool:
    """In contact at least a quarter of the last STUCK_WINDOW_S and moved less than 0.15 m in it."""
    if now < STUCK_WINDOW_S or not collision_ticks:
        return False
    recent = len(collision_ticks) - bisect_left(collision_ticks, now - STUCK_WINDOW_S)
    window = _since(trajectory, now - STUCK_WINDOW_S)
    moved = math.hypot(window[-1][1] - window[0][1], window[-1][2] - window[0][2]) if window else 0.0
    return recent >= 0.25 * len(window) and moved < 0.15


def idle(now: float, trajectory: Sequence[tuple[float, ...]], since: float) -> bool:
    """Went nowhere (all within 0.1 m of where it is) in the last IDLE_WINDOW_S, counted from `since`."""
    if now - since < IDLE_WINDOW_S:
        return False
    window = _since(trajectory, now - IDLE_WINDOW_S)
    xy = np.array([p[1:3] for p in window])
    return float(np.linalg.norm(xy - xy[-1], axis=1).max()) < 0.1


class Episode:
    """Tracks how long a condition has held without a break, and how many times it started."""

    def __init__(self) -> None:
        self.since: float | None = None
        self.events = 0

    def update(self, holds: bool, now: float) -> float:
        if holds and self.since is None:
            self.since, self.events = now, self.events + 1
        elif not holds:
            self.since = None
        return 0.0 if self.since is None else now - self.since


class RunJudge:
    """`verdict(...)` -> why the run ends now ("" while it goes on); stuck and off-route episodes are counted."""

    def __init__(self, route_xy: np.ndarray, t0: float, limit_s: float) -> None:
        self.route_xy = np.asarray(route_xy, np.float64).reshape(-1, 2)
        self.t0, self.limit_s = t0, limit_s
        self.stuck, self.off_route = Episode(), Episode()
        self.ended_stuck = False  # the verdict was "stuck"

    def verdict(self, now: float, trajectory: Sequence[tuple[float, ...]], collision_ticks: Sequence[float]) -> str:
        here = np.asarray(trajectory[-1][1:3], np.float64)
        stuck_s = self.stuck.update(stuck(now, trajectory, collision_ticks), now)
        off = float(np.linalg.norm(self.route_xy - here, axis=1).min()) > OFF_ROUTE_M if len(self.route_xy) else False
        off_s = self.off_route.update(off, now)
        if now - self.t0 > self.limit_s:
            return f"timeout ({self.limit_s:.0f} s)"
        if stuck_s >= STUCK_END_S - STUCK_WINDOW_S:
            self.ended_stuck = True
            return "stuck against an obstacle"
        if idle(now, trajectory, self.t0):
            return f"no progress for {IDLE_WINDOW_S:.0f} s"
        if off_s >= OFF_ROUTE_S:
            return f"more than {OFF_ROUTE_M:.0f} m off the route for {OFF_ROUTE_S:.0f} s"
        return ""


def time_limit_s(planned_length_m: float, max_v: float) -> float:
    """The sim seconds a navigation may take: a minute plus three times the route at 0.6 of the top speed."""
    return 60.0 + 3.0 * planned_length_m / (0.6 * max_v)
