"""Recovery when the planner has lost the robot: look around by turning on the spot, nearest headings first.

The model judges "am I at this node" from the view, and a view a few tens of degrees off the recorded
heading matches nothing, so a robot that drifted or was put down turned the wrong way stays lost for as
long as it stands still. Turning sweeps the view through nearby headings; the planner relocalises as
soon as one matches and the policy takes over again. The sweep alternates sides with growing amplitude
(right to -a, left to +a, right to -2a, left to +2a, ...), so the headings nearest the one the robot had
are tried first, and it ends after `sweeps` amplitudes: a robot that finds nothing stops (like Nav2's
Spin behaviour, bounded). Heading is integrated from the commanded turn rate: no odometry needed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class SweepConfig:
    after_s: float = 2.0  # lost this long (and standing) before the sweep starts
    turn_rate: float = 0.3  # rad/s; slow, so the 4 Hz localisation sees each heading a few times
    amplitude_rad: float = 0.8  # first swing to each side; later swings are multiples
    sweeps: int = 2  # swings to each side: 2 covers +-2 x amplitude

    def __post_init__(self) -> None:
        if self.after_s < 0 or self.turn_rate <= 0 or self.amplitude_rad <= 0 or self.sweeps < 1:
            raise ValueError(f"invalid recovery sweep configuration: {self}")


class HeadingSweep:
    """`command(lost, now)` -> the turn rate to command while lost (None: nothing to do, or the sweep is over)."""

    def __init__(self, config: SweepConfig = SweepConfig()) -> None:
        self.config = config
        self.reset()

    def reset(self) -> None:
        self._lost_since: float | None = None
        self._last: float | None = None
        self._heading = 0.0  # relative to where the sweep started
        self._leg = 0  # index into the targets
        self.sweeping = False

    def _targets(self) -> list[float]:
        a = self.config.amplitude_rad
        return [sign * k * a for k in range(1, self.config.sweeps + 1) for sign in (-1.0, 1.0)]

    @property
    def finished(self) -> bool:
        return self._leg >= 2 * self.config.sweeps

    def command(self, lost: bool, now: float) -> float | None:
        if not lost:
            self.reset()
            return None
        if self._lost_since is None:
            self._lost_since = now
        if now - self._lost_since < self.config.after_s or self.finished:
            self.sweeping = False
            self._last = now
            return None
        if self.sweeping and self._last is not None:
            w_prev = self._direction() * self.config.turn_rate
            self._heading += w_prev * min(max(now - self._last, 0.0), 0.5)
            targets = self._targets()
            while not self.finished and (targets[self._leg] - self._heading) * math.copysign(1.0, targets[self._leg]) <= 0:
                self._leg += 1
        self._last = now
        if self.finished:
            self.sweeping = False
            return None
        self.sweeping = True
        return self._direction() * self.config.turn_rate

    def _direction(self) -> float:
        """Toward the current target (a target is reached once the heading is at or past it)."""
        target = self._targets()[min(self._leg, 2 * self.config.sweeps - 1)]
        return 1.0 if target > self._heading else -1.0
