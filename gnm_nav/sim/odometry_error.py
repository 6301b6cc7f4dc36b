"""Wheel-odometry error of a differential drive, as the simulator's `odom` reports it (ground truth stays exact).

The structure follows the odometry literature: *systematic* errors that stay for a whole run (the mean wheel
radius off by a few tenths of a percent to a few percent: every distance reads scaled; the effective wheelbase
off: every turn reads scaled; unequal wheel diameters: a straight drive reads as an arc, Borenstein & Feng's
E_d; a slow yaw bias), drawn once per run from the seed, plus *non-systematic* noise whose variance grows with
the distance driven (Chong & Kleeman), and slip that grows with acceleration and turn rate (the wheels turn
more than the body moves). Teach and repeat drives are separate runs with their own draws: what a
calibration removes is gone, what varies from day to day (load, tyre wear, floor) is what is modelled.

Presets (`none`, `typical`, `poor`) are calibrated to published orders of magnitude before any navigation result
was looked at; `drift_statistics` measures what a preset does per 10 m (see docs/decisions.md).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from gnm_nav.common.angles import wrap_angle
from gnm_nav.common.errors import GnmNavError


@dataclass(frozen=True)
class OdometryErrorModel:
    """Standard deviations of each error term; a run draws its systematic terms once from them."""

    scale_sd: float = 0.0  # relative error of every distance (mean wheel radius)
    turn_scale_sd: float = 0.0  # relative error of every rotation (effective wheelbase)
    curvature_sd: float = 0.0  # rad per metre driven: unequal wheel diameters bend a straight drive
    yaw_drift_sd: float = 0.0  # rad/s while moving: a slow heading bias
    noise_distance: float = 0.0  # m per sqrt(m): random distance error, variance grows with distance
    noise_heading: float = 0.0  # rad per sqrt(m): random heading walk
    slip_accel: float = 0.0  # extra distance read per m/s^2 of acceleration (relative)
    slip_turn: float = 0.0  # extra rotation read per rad/s of turn rate (relative)

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not (math.isfinite(value) and value >= 0):
                raise GnmNavError(f"odometry error model: {name} must be a finite number >= 0, got {value}")

    @property
    def perfect(self) -> bool:
        return not any(asdict(self).values())


PRESETS: dict[str, OdometryErrorModel] = {
    "none": OdometryErrorModel(),
    # a small indoor wheeled robot on a hard floor: ~1-3 % of distance and ~2-5 degrees of heading per 10 m
    "typical": OdometryErrorModel(scale_sd=0.015, turn_scale_sd=0.02, curvature_sd=0.004, yaw_drift_sd=0.0005,
                                  noise_distance=0.01, noise_heading=0.005, slip_accel=0.02, slip_turn=0.03),
    # slippery or uneven floors (polished tiles, carpet edges, thresholds): several times worse
    "poor": OdometryErrorModel(scale_sd=0.04, turn_scale_sd=0.06, curvature_sd=0.012, yaw_drift_sd=0.002,
                               noise_distance=0.03, noise_heading=0.015, slip_accel=0.1, slip_turn=0.1),
}


def odometry_preset(name: str) -> OdometryErrorModel:
    if name not in PRESETS:
        raise GnmNavError(f"unknown odometry noise preset {name!r} (choose from {', '.join(PRESETS)})")
    return PRESETS[name]


class WheelOdometry:
    """Integrates the body's true motion into the odometry a wheel-encoder base would report."""

    def __init__(self, model: OdometryErrorModel, seed: int | tuple[int, ...] = 0) -> None:
        self.model = model
        self._rng = np.random.default_rng(seed)
        m = model
        draw = self._rng.standard_normal(4)
        self.scale = 1.0 + m.scale_sd * float(draw[0])
        self.turn_scale = 1.0 + m.turn_scale_sd * float(draw[1])
        self.curvature = m.curvature_sd * float(draw[2])
        self.yaw_drift = m.yaw_drift_sd * float(draw[3])
        self.pose = np.zeros(3)

    def reset(self) -> None:
        """Odometry starts at zero (a base powered on); the run's systematic errors stay."""
        self.pose = np.zeros(3)

    def integrate(self, ds: float, dyaw: float, dt: float, accel: float = 0.0) -> np.ndarray:
        """The true travel (signed distance, rotation) over dt s at acceleration `accel` -> the odometry pose."""
        m = self.model
        if (ds or dyaw) and not m.perfect:
            dist = abs(ds)
            rate = abs(dyaw) / dt if dt > 0 else 0.0
            noise = self._rng.standard_normal(2)
            ds_read = ds * (self.scale + m.slip_accel * abs(accel)) + m.noise_distance * math.sqrt(dist) * noise[0]
            dyaw_read = (dyaw * (self.turn_scale + m.slip_turn * rate) + self.curvature * ds
                         + self.yaw_drift * dt + m.noise_heading * math.sqrt(dist) * noise[1])
            ds, dyaw = ds_read, dyaw_read
        x, y, yaw = self.pose
        mid = yaw + 0.5 * dyaw
        self.pose = np.array([x + ds * math.cos(mid), y + ds * math.sin(mid), wrap_angle(yaw + dyaw)])
        return self.pose


@dataclass(frozen=True)
class DriftStatistics:
    """Odometry error after drives of `distance_m`, over `runs` runs (each with its own systematic draw)."""

    preset: str
    runs: int
    distance_m: float
    position_error_pct_p50: float  # end-point error as a share of the distance driven
    position_error_pct_p90: float
    heading_error_deg_p50: float
    heading_error_deg_p90: float


def drift_statistics(preset: str, runs: int = 200, distance_m: float = 10.0, speed: float = 0.25,
                     seed: int = 0) -> DriftStatistics:
    """Drive `distance_m` along an indoor-like path (straight legs, a 90-degree turn every 2.5 m, alternating
    sides) at `speed`, accelerating from and stopping to rest, and compare the odometry with the truth."""
    model = odometry_preset(preset)
    dt, turn_rate, accel = 0.05, 0.8, 0.5
    pos_err, yaw_err = [], []
    for run in range(runs):
        odom = WheelOdometry(model, (seed, run))
        truth = np.zeros(3)
        driven, v, next_turn, side = 0.0, 0.0, 2.5, 1.0
        while driven < distance_m:
            if driven >= next_turn:  # turn 90 degrees on the spot
                for _ in range(int(round(math.pi / 2 / (turn_rate * dt)))):
                    dyaw = side * turn_rate * dt
                    truth[2] = wrap_angle(truth[2] + dyaw)
                    odom.integrate(0.0, dyaw, dt)
                next_turn, side, v = next_turn + 2.5, -side, 0.0
            v_new = min(speed, v + accel * dt, math.sqrt(max(2 * accel * (distance_m - driven), 0.0)) + 1e-3)
            a, v = (v_new - v) / dt, v_new
            ds = v * dt
            truth[:2] += ds * np.array([math.cos(truth[2]), math.sin(truth[2])])
            odom.integrate(ds, 0.0, dt, a)
            driven += ds
        pos_err.append(100.0 * float(np.hypot(*(odom.pose[:2] - truth[:2]))) / driven)
        yaw_err.append(math.degrees(abs(float(wrap_angle(odom.pose[2] - truth[2])))))
    p = np.percentile
    return DriftStatistics(preset, runs, distance_m, float(p(pos_err, 50)), float(p(pos_err, 90)),
                           float(p(yaw_err, 50)), float(p(yaw_err, 90)))
