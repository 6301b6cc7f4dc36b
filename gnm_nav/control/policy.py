"""The ROS-free heart of gnm_policy_node: observation context + subgoal -> waypoints (metres) -> (v, w)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from gnm_nav.common.errors import GnmNavError
from gnm_nav.control.controller import WAYPOINT_INDEX, Controller, steer_toward, waypoints_to_metres


class NonFiniteModelOutput(GnmNavError):
    """The network produced NaN/Inf: the robot must not act on it."""


@dataclass(frozen=True)
class PolicyOutput:
    distance: float  # predicted temporal distance to the subgoal (model steps)
    waypoints_m: np.ndarray  # [len_traj_pred, 4]: x, y in metres (base frame), cos, sin of heading
    v: float
    w: float


@dataclass(frozen=True)
class TurnDegradation:
    """For evaluation only: a weaker policy, its every turn command off by `bias` rad/s plus Gaussian noise of
    `noise` rad/s (seeded), as a miscalibrated or poorly trained policy would be; the result stays within
    the robot's turn limit. It measures what the safety filter does for a policy that needs it."""

    bias: float = 0.0
    noise: float = 0.0
    seed: int = 0

    @property
    def active(self) -> bool:
        return self.bias != 0.0 or self.noise > 0.0


class GNMPolicy:
    def __init__(self, engine, controller: Controller, max_v: float, waypoint_index: int = WAYPOINT_INDEX,
                 odometry_steering: float = 0.0, degradation: TurnDegradation = TurnDegradation()) -> None:
        """odometry_steering: share (0..1) of the heading taken from the subgoal's odometry position, when given;
        degradation: evaluation only (TurnDegradation)."""
        len_traj = engine.card.len_traj_pred
        if not 0 <= waypoint_index < len_traj:
            raise ValueError(f"waypoint_index must be in [0, {len_traj - 1}], got {waypoint_index}")
        if not 0.0 <= odometry_steering <= 1.0:
            raise ValueError(f"odometry_steering must be in [0, 1], got {odometry_steering}")
        self.odometry_steering = odometry_steering
        self._turn_sign = 0.0  # which way the last odometry correction turned (steer_toward)
        self.engine = engine
        self.controller = controller
        self.max_v = max_v
        self.waypoint_index = waypoint_index
        self.frame_rate = 1.0 / engine.card.context_spacing_s
        self.degradation = degradation
        self._rng = np.random.default_rng(degradation.seed)

    def step(self, obs_img: np.ndarray, goal_img: np.ndarray, now_s: float,
             subgoal_offset_m: np.ndarray | None = None,
             clear_heading: Callable[[np.ndarray], np.ndarray] | None = None) -> PolicyOutput:
        """obs_img [1,3*(ctx+1),H,W], goal_img [3,H,W] (preprocessed); subgoal_offset_m: [x, y] of the subgoal
        in the base frame from odometry (the planner's gnm/subgoal_pose), when known; clear_heading: turns the
        target clear of obstacles the robot stalled on (gnm_nav.control.recovery.StallBackUp)."""
        dist, actions = self.engine.evaluate(obs_img, goal_img[None])
        if not (np.all(np.isfinite(dist)) and np.all(np.isfinite(actions))):
            self.controller.reset()
            raise NonFiniteModelOutput("the model returned NaN/Inf (distance or waypoints); commanding zero")
        waypoints = waypoints_to_metres(actions[0], self.max_v, self.frame_rate)
        target, error = steer_toward(waypoints[self.waypoint_index], subgoal_offset_m, self.odometry_steering,
                                     self._turn_sign)
        if abs(error) > 0.3:
            self._turn_sign = math.copysign(1.0, error)
        if clear_heading is not None:
            target = clear_heading(target)
        v, w = self.controller.command(target, now_s)
        if self.degradation.active:
            max_w = self.controller.limits.max_w
            w = float(np.clip(w + self.degradation.bias + self.degradation.noise * self._rng.standard_normal(),
                              -max_w, max_w))
        return PolicyOutput(float(dist[0]), waypoints, v, w)
