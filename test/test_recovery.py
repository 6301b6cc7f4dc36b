"""The lost-robot heading sweep: waits, swings right then left with growing amplitude, then gives up."""
from __future__ import annotations

import pytest

from gnm_nav.recovery import HeadingSweep, SweepConfig


def _run(sweep: HeadingSweep, seconds: float, dt: float = 0.05, lost: bool = True, t0: float = 0.0):
    headings, heading, t = [], 0.0, t0
    for _ in range(round(seconds / dt)):
        w = sweep.command(lost, t)
        heading += (w or 0.0) * dt
        headings.append((t, w, heading))
        t += dt
    return headings


def test_sweeps_nearest_headings_first_then_stops():
    sweep = HeadingSweep(SweepConfig(after_s=1.0, turn_rate=0.4, amplitude_rad=0.4, sweeps=2))
    trace = _run(sweep, 20.0)
    assert all(w is None for t, w, _ in trace if t < 1.0 - 1e-9)  # lost a moment only: wait
    turning = [(t, w, h) for t, w, h in trace if w is not None]
    assert turning[0][1] < 0  # right first
    # the direction changes exactly at -a, +a, -2a (and it ends at +2a)
    flips = [h for (_, w0, h), (_, w1, _) in zip(turning, turning[1:]) if w0 * w1 < 0]
    assert flips == pytest.approx([-0.4, 0.4, -0.8], abs=0.03)
    assert max(h for *_, h in trace) == pytest.approx(0.8, abs=0.03)
    assert trace[-1][1] is None and sweep.finished  # then nothing more: a robot that finds nothing stays put
    # total: 1 s wait + (0.4 + 0.8 + 1.2 + 1.6) rad at 0.4 rad/s
    assert turning[-1][0] == pytest.approx(1.0 + 4.0 / 0.4, abs=0.25)


def test_found_again_resets_and_bad_configs_are_refused():
    sweep = HeadingSweep(SweepConfig(after_s=0.0, turn_rate=0.5, amplitude_rad=0.5, sweeps=1))
    assert sweep.command(True, 0.0) is not None
    assert sweep.command(False, 0.1) is None and not sweep.sweeping  # relocalised: the policy drives again
    assert sweep.command(True, 0.2) == pytest.approx(-0.5)  # lost again: a fresh sweep, right first
    for bad in ({"turn_rate": 0.0}, {"amplitude_rad": -1.0}, {"sweeps": 0}, {"after_s": -1.0}):
        with pytest.raises(ValueError):
            SweepConfig(**bad)
