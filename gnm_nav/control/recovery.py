"""Recovery behaviours of the policy node (as Nav2's Spin and BackUp), ROS-free.

HeadingSweep, when the planner has lost the robot: look around by turning on the spot, nearest headings first.

The model judges "am I at this node" from the view, and a view a few tens of degrees off the recorded
heading matches nothing, so a robot that drifted or was put down turned the wrong way stays lost for as
long as it stands still. Turning sweeps the view through nearby headings; the planner relocalises as
soon as one matches and the policy takes over again. The sweep alternates sides with growing amplitude
(right to -a, left to +a, right to -2a, left to +2a, ...), so the headings nearest the one the robot had
are tried first, and it ends after `sweeps` amplitudes: a robot that finds nothing stops (like Nav2's
Spin behaviour, bounded). Heading is integrated from the commanded turn rate: no odometry needed.

StallBackUp, when the robot is pushing against something: the base has been told to drive forward for a
while and the wheel odometry says it has not moved (a wall end or door frame beside the camera's view,
grazed because the path the robot follows lies a little off the recorded one). Pushing on gets nowhere,
and so does backing up and driving the same way again. So each stall leaves a bump in the odometry frame
(BumpMemory: where the body's front was, as the kobuki bumper's virtual obstacles in Nav2's costmap), and
until the robot is well past it, any heading that would pass a bump closer than the body plus a margin is
turned just enough to clear it, on the side the robot was heading for; stalling at the same bump again
flips the side (a wall end on the other side of it than guessed).
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, replace

import numpy as np

from gnm_nav.common.angles import wrap_angle


@dataclass(frozen=True)
class SweepConfig:
    after_s: float = 2.0  # lost this long (and standing) before the sweep starts
    turn_rate: float = 0.3  # rad/s; slow, so the 4 Hz localisation sees each heading a few times
    amplitude_rad: float = 0.8  # first swing to each side; later swings are multiples
    sweeps: int = 2  # swings to each side: 2 covers +-2 x amplitude

    def __post_init__(self) -> None:
        if self.after_s < 0 or self.turn_rate <= 0 or self.amplitude_rad <= 0 or self.sweeps < 1:
            raise ValueError(f"invalid recovery sweep configuration: {self}")

    def limited(self, max_w: float) -> "SweepConfig":
        """This sweep no faster than the robot may turn."""
        return replace(self, turn_rate=min(self.turn_rate, max_w))


class HeadingSweep:
    """`command(lost, now)` -> the turn rate to command while lost (None: nothing to do, or the sweep is over)."""

    def __init__(self, config: SweepConfig = SweepConfig()) -> None:
        self.config = config
        a = config.amplitude_rad
        self._targets = tuple(sign * k * a for k in range(1, config.sweeps + 1) for sign in (-1.0, 1.0))
        self.reset()

    def reset(self) -> None:
        self._lost_since: float | None = None
        self._last: float | None = None
        self._heading = 0.0  # relative to where the sweep started
        self._leg = 0  # index into the targets
        self._w = 0.0  # the turn rate commanded last

    @property
    def finished(self) -> bool:
        return self._leg >= len(self._targets)

    @property
    def sweeping(self) -> bool:
        return self._w != 0.0

    def command(self, lost: bool, now: float) -> float | None:
        if not lost:
            self.reset()
            return None
        if self._lost_since is None:
            self._lost_since = now
        if self._last is not None:
            self._heading += self._w * min(max(now - self._last, 0.0), 0.5)
        self._last = now
        while not self.finished and self._reached(self._targets[self._leg]):
            self._leg += 1
        if now - self._lost_since < self.config.after_s or self.finished:
            self._w = 0.0
            return None
        self._w = math.copysign(self.config.turn_rate, self._targets[self._leg] - self._heading)
        return self._w

    def _reached(self, target: float) -> bool:
        """At or past the target, seen from the start (targets alternate sides)."""
        return (target - self._heading) * math.copysign(1.0, target) <= 0


BUMP_MERGE_M = 0.3  # a stall this near a remembered bump is the same obstacle again
BUMP_RANGE_M = 1.5  # bumps further than this from the robot do not steer it
BUMP_FORGET_M = 3.0  # nor are they kept
MAX_BUMPS = 8


class BumpMemory:
    """Where the robot stalled, in the odometry frame, and which side each bump is to be passed on."""

    def __init__(self, clearance_m: float) -> None:
        self.clearance_m = clearance_m  # pass a bump's centre at least this far (body radius + margin)
        self._bumps: list[list[float]] = []  # [x, y, side, stalls]: side +1 left, -1 right, 0 not chosen yet

    def __len__(self) -> int:
        return len(self._bumps)

    def add(self, x: float, y: float) -> int:
        """Remember a stall here; returns how many times the robot has stalled at this bump."""
        for bump in self._bumps:
            if math.hypot(bump[0] - x, bump[1] - y) < BUMP_MERGE_M:
                bump[2] = -bump[2]  # stalled there again: the obstacle is on the other side of where we passed
                bump[3] += 1
                return int(bump[3])
        self._bumps = (self._bumps + [[x, y, 0.0, 1]])[-MAX_BUMPS:]
        return 1

    def forget_far(self, x: float, y: float) -> None:
        self._bumps = [b for b in self._bumps if math.hypot(b[0] - x, b[1] - y) <= BUMP_FORGET_M]

    def clear_heading(self, target: np.ndarray, pose: tuple[float, float, float]) -> np.ndarray:
        """target ([x, y, ...], base frame) turned, keeping its distance, so the heading toward it passes every
        bump ahead within BUMP_RANGE_M at clearance_m at least (pose: the robot's odometry pose)."""
        reach = float(np.hypot(target[0], target[1]))
        if not self._bumps or reach < 1e-6:
            return target
        x, y, yaw = pose
        bearing = wanted = math.atan2(float(target[1]), float(target[0]))
        for _ in range(2):  # clearing one bump can head at another: one more pass
            for bump in self._bumps:
                dx, dy = bump[0] - x, bump[1] - y
                dist = math.hypot(dx, dy)
                if dist > BUMP_RANGE_M or dist < 1e-6:
                    continue
                to_bump = wrap_angle(math.atan2(dy, dx) - yaw)
                half = math.asin(min(1.0, self.clearance_m / dist))
                off = wrap_angle(bearing - to_bump)
                if abs(off) >= half:
                    continue
                if bump[2] == 0.0:  # the side the robot is heading for; straight at it: away from the bump's side
                    toward = off if abs(off) > 0.02 else -to_bump
                    bump[2] = 1.0 if toward >= 0 else -1.0
                bearing = to_bump + bump[2] * half
        if bearing == wanted:
            return target
        out = np.array(target, dtype=np.float64, copy=True)
        out[0], out[1] = reach * math.cos(bearing), reach * math.sin(bearing)
        return out


@dataclass(frozen=True)
class BackUpConfig:
    # judged over this window: the base told to go forward, the odometry (nearly) still. Not shorter: at 0.6 s
    # the turn from reversing to forward (0.5 m/s^2) read as a stall, and one robot backed up 12 times in a row
    stall_s: float = 1.0
    stall_min_v: float = 0.02  # m/s; the base must be told at least this (now, and on average over the window)
    stall_ratio: float = 0.25  # moved less than this share of the commanded distance: stalled (scraping counts)
    distance_m: float = 0.25  # m to back up, by odometry
    speed: float = 0.1  # m/s while backing up
    timeout_s: float = 5.0  # back up at most this long (blocked behind as well: give up, drive on)
    body_radius_m: float = 0.2  # the bump is put this far ahead of where the robot stood
    bump_margin_m: float = 0.1  # headings pass a bump at body_radius_m + this
    max_tries: int = 4  # back-ups at one bump; stalling there once more gives up (stop, until moved)

    def __post_init__(self) -> None:
        if (self.stall_s <= 0 or self.stall_min_v <= 0 or not 0 < self.stall_ratio < 1 or self.distance_m <= 0
                or self.speed <= 0 or self.timeout_s <= 0 or self.body_radius_m <= 0 or self.bump_margin_m < 0
                or self.max_tries < 1):
            raise ValueError(f"invalid back-up configuration: {self}")

    def limited(self, max_v: float) -> "BackUpConfig":
        """This back-up no faster than the robot may drive."""
        return replace(self, speed=min(self.speed, max_v))


class StallBackUp:
    """Feed it what the base is told (`on_base_command`) and where the odometry is (`on_odometry`);
    `command(now)` -> the (negative) speed to command while backing up, None otherwise; `clear_heading`
    steers a target clear of the bumps it left; `gave_up_at` is set where max_tries back-ups did not help."""

    def __init__(self, config: BackUpConfig = BackUpConfig()) -> None:
        self.config = config
        self.backups = 0  # how many times it backed up (diagnostics)
        self.last_stall: tuple[float, float] | None = None  # (m commanded, m moved) over the window of the last stall
        self._v = 0.0  # the base's latest command
        self._commanded = 0.0  # m of forward motion the base has been told, integrated at the odometry's times
        self._odom: deque[tuple[float, float, float, float]] = deque()  # (t, x, y, commanded) over stall_s
        self._backing: tuple[float, float, float] | None = None  # (start t, x, y) of the current back-up
        self._pose: tuple[float, float, float] | None = None  # the latest odometry pose
        self.bumps = BumpMemory(config.body_radius_m + config.bump_margin_m)
        self.gave_up_at: tuple[float, float] | None = None  # where max_tries back-ups did not get past

    def on_base_command(self, v: float) -> None:
        self._v = v if math.isfinite(v) else 0.0

    def on_odometry(self, x: float, y: float, yaw: float, now: float) -> None:
        if self._odom and now < self._odom[-1][0]:  # time went backwards (a restarted sim): start afresh
            self._odom.clear()
        self._pose = (x, y, yaw)
        if self.gave_up_at is not None and math.hypot(x - self.gave_up_at[0], y - self.gave_up_at[1]) > BUMP_MERGE_M:
            self.gave_up_at = None  # moved (by someone): try again
        if self._odom:
            self._commanded += max(self._v, 0.0) * min(now - self._odom[-1][0], 0.5)
        self._odom.append((now, x, y, self._commanded))
        while len(self._odom) > 1 and self._odom[1][0] <= now - self.config.stall_s:
            self._odom.popleft()

    def command(self, now: float) -> float | None:
        cfg = self.config
        if self.gave_up_at is not None:
            return None
        if self._backing is not None:
            t0, x0, y0 = self._backing
            if now - t0 >= cfg.timeout_s or self._moved_from(x0, y0) >= cfg.distance_m:
                self._backing = None
                self._odom.clear()  # judge the next push afresh
                return None
            return -cfg.speed
        stall, pose = self._stall(now), self._pose
        if stall is None or pose is None:
            return None
        self.last_stall = stall
        x, y, yaw = pose
        if self.bumps.add(x + cfg.body_radius_m * math.cos(yaw), y + cfg.body_radius_m * math.sin(yaw)) > cfg.max_tries:
            self.gave_up_at = (x, y)
            return None
        self._backing = (now, x, y)
        self.backups += 1
        return -cfg.speed

    def clear_heading(self, target: np.ndarray) -> np.ndarray:
        """The target ([x, y], base frame) turned clear of the bumps, at the latest odometry pose."""
        if self._pose is None:
            return target
        self.bumps.forget_far(self._pose[0], self._pose[1])
        return self.bumps.clear_heading(target, self._pose)

    def _stall(self, now: float) -> tuple[float, float] | None:
        """(commanded, moved) over the last stall_s when that is a stall, else None."""
        cfg = self.config
        if self._v < cfg.stall_min_v or not self._odom:
            return None
        first, last = self._odom[0], self._odom[-1]
        if first[0] > now - cfg.stall_s + 0.25 or now - last[0] > 0.5:  # odometry too short or stale: no verdict
            return None
        commanded, moved = last[3] - first[3], self._moved_from(first[1], first[2])
        if commanded < cfg.stall_min_v * cfg.stall_s or moved >= cfg.stall_ratio * commanded:
            return None
        return commanded, moved

    def _moved_from(self, x: float, y: float) -> float:
        return math.hypot(self._odom[-1][1] - x, self._odom[-1][2] - y) if self._odom else 0.0
