"""Waypoint (metres, base frame) -> (v, w) velocity command.

Two controllers: `gnm` reproduces the public deployment's formula (for anchor comparisons), and
`smooth` (the default) steers by heading error, slows down in turns and respects acceleration
limits, so the robot does not jerk between 4 Hz model outputs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

CONTROLLERS = ("smooth", "gnm")
WAYPOINT_INDEX = 2  # the predicted waypoint (0-based) the controllers track, as the public deployment code does
_EPS = 1e-8


@dataclass(frozen=True)
class Limits:
    max_v: float
    max_w: float
    max_acc_v: float
    max_acc_w: float


def waypoints_to_metres(actions: np.ndarray, max_v: float, frame_rate: float) -> np.ndarray:
    """Normalised model waypoints [N,4] -> metres: one unit is the distance covered in one step at max_v."""
    out = np.array(actions, dtype=np.float64, copy=True)
    out[..., :2] *= max_v / frame_rate
    return out


STEER_MIN_RANGE_M = 0.25  # an odometry target nearer than this gives no usable bearing (the robot is on it)
STEER_BEHIND_RAD = 2.5  # a target this far round is "behind": keep turning the way the robot already turns


def steer_toward(waypoint: np.ndarray, target_m: np.ndarray | None, weight: float,
                 turn_sign: float = 0.0) -> tuple[np.ndarray, float]:
    """The model's waypoint turned `weight` of the way toward the bearing of `target_m` ([x, y], base frame),
    keeping the model's distance (its speed), and the bearing error it corrected (0 when not applied). Where
    the model under-steers (a weak model, an unseen body), the subgoal's place from odometry pulls the heading
    to where the recorded route went. A target behind the robot flips between "left" and "right" with every
    centimetre; `turn_sign` (the sign of the last correction) keeps one way round."""
    if target_m is None or weight <= 0 or float(np.hypot(*target_m[:2])) < STEER_MIN_RANGE_M:
        return waypoint, 0.0
    dx, dy = float(waypoint[0]), float(waypoint[1])
    reach = math.hypot(dx, dy)
    model_bearing = math.atan2(dy, dx) if reach > _EPS else 0.0
    error = math.atan2(float(target_m[1]), float(target_m[0])) - model_bearing
    error = math.atan2(math.sin(error), math.cos(error))
    if abs(error) > STEER_BEHIND_RAD and turn_sign * error < 0:
        error += math.copysign(2 * math.pi, turn_sign)
    bearing = model_bearing + weight * error
    out = np.array(waypoint, dtype=np.float64, copy=True)
    out[0], out[1] = reach * math.cos(bearing), reach * math.sin(bearing)
    return out, error


class Controller(Protocol):
    limits: Limits

    def command(self, waypoint: np.ndarray, now_s: float,
                waypoint_stamp: float | None = None) -> tuple[float, float]: ...

    def reset(self) -> None: ...


class _StaleGuard:
    """Shared rule: a waypoint older than `stale_after_s` (or non-finite) commands zero."""

    def __init__(self, stale_after_s: float) -> None:
        self.stale_after_s = stale_after_s

    def usable(self, waypoint: np.ndarray, now_s: float, waypoint_stamp: float | None) -> bool:
        if waypoint_stamp is not None and now_s - waypoint_stamp > self.stale_after_s:
            return False
        return bool(np.all(np.isfinite(waypoint[:2])))


class GnmController(_StaleGuard):
    """The public GNM deployment's controller: v = dx/DT, w = atan(dy/dx)/DT, clipped; turn in place when dx ~ 0."""

    def __init__(self, limits: Limits, frame_rate: float, stale_after_s: float = 1.0) -> None:
        super().__init__(stale_after_s)
        self.limits = limits
        self.dt = 1.0 / frame_rate

    def command(self, waypoint: np.ndarray, now_s: float, waypoint_stamp: float | None = None) -> tuple[float, float]:
        if not self.usable(waypoint, now_s, waypoint_stamp):
            return 0.0, 0.0
        dx, dy = float(waypoint[0]), float(waypoint[1])
        if abs(dx) < _EPS and abs(dy) < _EPS:
            v, w = 0.0, 0.0
        elif abs(dx) < _EPS:
            v, w = 0.0, math.copysign(math.pi / (2 * self.dt), dy)
        else:
            v, w = dx / self.dt, math.atan(dy / dx) / self.dt
        return float(np.clip(v, 0.0, self.limits.max_v)), float(np.clip(w, -self.limits.max_w, self.limits.max_w))

    def reset(self) -> None:
        pass


class SmoothController(_StaleGuard):
    """Heading-error steering with speed reduced in turns and acceleration-limited changes.

    The waypoint is where the robot should be `horizon_s` from now; speed = distance / horizon
    scaled by cos(heading error) (so it turns in place for targets behind it), turn rate = heading
    error / horizon. Changes between calls are bounded by max_acc_v, max_acc_w.
    """

    def __init__(self, limits: Limits, horizon_s: float, stale_after_s: float = 1.0) -> None:
        super().__init__(stale_after_s)
        if horizon_s <= 0:
            raise ValueError(f"horizon_s must be > 0, got {horizon_s}")
        self.limits = limits
        self.horizon_s = horizon_s
        self._last: tuple[float, float, float] | None = None  # (time, v, w)

    def command(self, waypoint: np.ndarray, now_s: float, waypoint_stamp: float | None = None) -> tuple[float, float]:
        if not self.usable(waypoint, now_s, waypoint_stamp):
            self.reset()
            return 0.0, 0.0
        dx, dy = float(waypoint[0]), float(waypoint[1])
        dist = math.hypot(dx, dy)
        heading = math.atan2(dy, dx) if dist > _EPS else 0.0
        v_target = float(np.clip(dist / self.horizon_s * max(0.0, math.cos(heading)), 0.0, self.limits.max_v))
        w_target = float(np.clip(heading / self.horizon_s, -self.limits.max_w, self.limits.max_w))
        if self._last is None:  # starting from rest: no elapsed time to accelerate in yet
            v_prev, w_prev, dt = 0.0, 0.0, 0.0
        else:
            t_prev, v_prev, w_prev = self._last
            dt = float(np.clip(now_s - t_prev, 0.0, 1.0))
        v = v_prev + float(np.clip(v_target - v_prev, -self.limits.max_acc_v * dt, self.limits.max_acc_v * dt))
        w = w_prev + float(np.clip(w_target - w_prev, -self.limits.max_acc_w * dt, self.limits.max_acc_w * dt))
        self._last = (now_s, v, w)
        return v, w

    def reset(self) -> None:
        self._last = None


def make_controller(kind: str, limits: Limits, frame_rate: float, waypoint_index: int = WAYPOINT_INDEX,
                    stale_after_s: float = 1.0) -> Controller:
    """`frame_rate` is the model's step rate (4 Hz): waypoint i lies (i+1)/frame_rate seconds ahead."""
    if kind == "gnm":
        return GnmController(limits, frame_rate, stale_after_s)
    if kind == "smooth":
        return SmoothController(limits, (waypoint_index + 1) / frame_rate, stale_after_s)
    raise ValueError(f"controller must be one of {CONTROLLERS}, got {kind!r}")
