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
