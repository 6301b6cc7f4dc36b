"""The ROS-free simulator: a differential-drive body in a world, with collisions and a rendered camera.

Motion is kinematic (unicycle with acceleration limits, sub-stepped); collisions are checked against the
clearance field of the world's occupancy grid, so a wall stops the body and is reported, and the body can
never tunnel (sub-steps are shorter than any wall is thick). MuJoCo only renders.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gnm_nav.common.angles import wrap_angle
from gnm_nav.common.errors import GnmNavError
from gnm_nav.common.pose import Pose2D
from gnm_nav.robot_profile import RobotProfile
from gnm_nav.sim.mjcf import CameraGeometry
from gnm_nav.sim.occupancy import OccupancyGrid, largest_free_component, occupancy_grid
from gnm_nav.sim.odometry_error import OdometryErrorModel, WheelOdometry, odometry_preset
from gnm_nav.sim.world_spec import WorldSpec

MAX_SUBSTEP_M = 0.02


class SimError(GnmNavError):
    """A simulator request is invalid (spawn pose inside an obstacle, NaN command...)."""


@dataclass
class StepResult:
    pose: Pose2D  # ground truth in the world frame
    odom: Pose2D  # wheel odometry (starts at 0 at each reset, drifts as the error model says)
    v: float
    w: float
    collided: bool


def _approach(current: float, target: float, max_delta: float) -> float:
    return current + float(np.clip(target - current, -max_delta, max_delta))


class SimEnv:
    """One robot in one world. `step(v, w, dt)` moves it; `render()` returns the camera frame."""

    def __init__(self, world: WorldSpec, profile: RobotProfile, image_size: tuple[int, int] | None = None,
                 seed: int = 0, odom_noise: str | OdometryErrorModel = "", render: bool = True,
                 render_thread: bool = False) -> None:
        """odom_noise: a preset name (sim/odometry_error.py) or a model; '' = the robot profile's preset."""
        self.world = world
        self.profile = profile
        self.grid: OccupancyGrid = occupancy_grid(world)
        self.image_size = image_size or (profile.camera_width, profile.camera_height)
        self._rng = np.random.default_rng(seed)
        if not isinstance(odom_noise, OdometryErrorModel):
            odom_noise = odometry_preset(odom_noise or profile.odometry_noise)
        self._wheel_odometry = WheelOdometry(odom_noise, (seed, 1))
        self._renderer = None
        if render:
            from gnm_nav.sim.render import CameraRenderer

            w, h = self.image_size
            self._renderer = CameraRenderer(world, CameraGeometry.from_profile(profile, w, h), w, h,
                                            own_thread=render_thread)
        self._reachable = largest_free_component(self.grid.free_for(profile.body_radius_m))
        self.pose = Pose2D(0.0, 0.0, 0.0)
        self.odom = Pose2D(0.0, 0.0, 0.0)
        self.v = self.w = 0.0
        try:
            self.reset(world.spawn if world.spawn is not None else None)
        except BaseException:
            self.close()  # release GL on the thread that owns it, not at garbage collection
            raise

    # ---- state --------------------------------------------------------------------------------------
    def is_reachable(self, x: float, y: float) -> bool:
        """True if the body fits here and can reach the rest of the world from here."""
        row, col = self.grid.to_cell(x, y)
        return self.grid.inside(row, col) and bool(self._reachable[row, col])

    def check_spawn(self, x: float, y: float) -> None:
        xmin, ymin, xmax, ymax = self.world.bounds
        if not (xmin <= x <= xmax and ymin <= y <= ymax):
            raise SimError(f"spawn pose ({x:.2f}, {y:.2f}) is outside the world bounds {self.world.bounds}")
        if self.grid.clearance_at(x, y) < self.profile.body_radius_m:
            raise SimError(f"spawn pose ({x:.2f}, {y:.2f}) is inside or too close to an obstacle for "
                           f"{self.profile.name} (body radius {self.profile.body_radius_m} m)")
        if not self.is_reachable(x, y):
            raise SimError(f"spawn pose ({x:.2f}, {y:.2f}) is in an enclosed pocket cut off from the rest of the world")

    def reset(self, pose: list[float] | tuple[float, float, float] | None = None) -> Pose2D:
        """Place the robot (default: the world's spawn, else a random reachable cell), zero velocity and odometry."""
        if pose is None:
            pose = self.random_free_pose()
        x, y, yaw = (float(p) for p in pose)
        if not all(math.isfinite(p) for p in (x, y, yaw)):
            raise SimError(f"spawn pose must be finite, got {pose}")
        self.check_spawn(x, y)
        self.pose = Pose2D(x, y, wrap_angle(yaw))
        self.odom = Pose2D(0.0, 0.0, 0.0)
        self._wheel_odometry.reset()
        self.v = self.w = 0.0
        return self.pose

    def redraw_odometry(self, seed: int | tuple[int, ...]) -> None:
        """The next run is another drive of the robot: its odometry draws its own systematic error (a teach and
        its repeat do not share one, as gnm-nav eval's separate simulator runs do not)."""
        self._wheel_odometry = WheelOdometry(self._wheel_odometry.model, seed)

    def random_free_pose(self, rng: np.random.Generator | None = None) -> tuple[float, float, float]:
        rng = rng or self._rng
        rows, cols = np.nonzero(self._reachable)
        if rows.size == 0:
            raise SimError(f"world {self.world.name} has no place where {self.profile.name} fits")
        k = int(rng.integers(rows.size))
        x, y = self.grid.to_world(rows[k], cols[k])
        return x, y, float(rng.uniform(-math.pi, math.pi))

    # ---- motion -------------------------------------------------------------------------------------
    def step(self, v_cmd: float, w_cmd: float, dt: float) -> StepResult:
        """Advance dt seconds under a velocity command (clamped to the body's limits)."""
        if not (math.isfinite(v_cmd) and math.isfinite(w_cmd)):
            raise SimError(f"velocity command must be finite, got v={v_cmd}, w={w_cmd}")
        if dt <= 0:
            raise SimError(f"time step must be > 0, got {dt}")
        p = self.profile
        v_target = float(np.clip(v_cmd, -p.max_v, p.max_v))
        w_target = float(np.clip(w_cmd, -p.max_w, p.max_w))
        v_before = self.v
        self.v = _approach(self.v, v_target, p.max_acc_v * dt)
        self.w = _approach(self.w, w_target, p.max_acc_w * dt)
        n = max(1, int(math.ceil(abs(self.v) * dt / MAX_SUBSTEP_M)))
        h = dt / n
        accel = (self.v - v_before) / dt
        collided = False
        for _ in range(n):
            yaw_mid = self.pose.yaw + 0.5 * self.w * h
            nx = self.pose.x + self.v * h * math.cos(yaw_mid)
            ny = self.pose.y + self.v * h * math.sin(yaw_mid)
            if self.v != 0.0 and self.grid.clearance_at(nx, ny) < p.body_radius_m:
                collided = True
                nx, ny = self.pose.x, self.pose.y
            moved = math.hypot(nx - self.pose.x, ny - self.pose.y)
            self.odom = Pose2D(*(float(v) for v in self._wheel_odometry.integrate(
                moved * math.copysign(1.0, self.v), self.w * h, h, accel)))
            self.pose = Pose2D(nx, ny, wrap_angle(self.pose.yaw + self.w * h))
        if collided:
            self.v = 0.0
        return StepResult(pose=Pose2D(**vars(self.pose)), odom=Pose2D(**vars(self.odom)), v=self.v, w=self.w,
                          collided=collided)

    # ---- camera -------------------------------------------------------------------------------------
    def render(self) -> np.ndarray:
        if self._renderer is None:
            raise SimError("this SimEnv was created with render=False")
        return self._renderer.render(self.pose.x, self.pose.y, self.pose.yaw)

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    def __enter__(self) -> SimEnv:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def load_profile(name_or_path: str) -> RobotProfile:
    """A robot profile, with a missing or malformed one reported as a SimError (one clear line)."""
    from gnm_nav.robot_profile import load_robot_profile

    try:
        return load_robot_profile(name_or_path)
    except (FileNotFoundError, ValueError, TypeError) as exc:
        raise SimError(str(exc)) from exc
