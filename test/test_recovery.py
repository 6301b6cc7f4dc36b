"""Recovery behaviours: the lost-robot heading sweep (waits, swings right then left with growing amplitude,
then gives up) and the stall back-up (pushing without moving: back up a little, bounded)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from gnm_nav.control.recovery import BackUpConfig, BumpMemory, HeadingSweep, StallBackUp, SweepConfig


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


def _push(backup: StallBackUp, seconds: float, blocked_after_m: float, v_cmd: float = 0.2, dt: float = 0.05,
          behind_blocked: bool = False, creep: float = 0.0):
    """A base told v_cmd (or the back-up's command) on a line with a wall at blocked_after_m (where it still
    creeps at `creep` of the commanded speed, scraping along); the odometry reports where it really is.
    Returns [(t, v commanded, x)]."""
    trace, x, t = [], 0.0, 0.0
    for _ in range(round(seconds / dt)):
        back = backup.command(t)
        v = back if back is not None else v_cmd
        backup.on_base_command(v)
        if v > 0 and x + v * dt > blocked_after_m:
            x += creep * v * dt
        elif not (v < 0 and behind_blocked):
            x += v * dt
        backup.on_odometry(x, 0.0, 0.0, t)
        trace.append((t, v, x))
        t += dt
    return trace


def test_backs_up_when_pushing_without_moving_then_drives_on():
    backup = StallBackUp(BackUpConfig(stall_s=1.0, stall_ratio=0.25, distance_m=0.25, speed=0.1))
    trace = _push(backup, 12.0, blocked_after_m=1.0)
    reversing = [(t, x) for t, v, x in trace if v < 0]
    hit = next(t for t, v, x in trace if x >= 0.99 - 1e-6)  # at the wall (0.2 m/s from 0)
    # once the last second holds less than a quarter of the 0.2 m commanded: 0.75 s of pushing
    assert reversing[0][0] == pytest.approx(hit + 0.75, abs=0.11)
    assert min(x for _, x in reversing) == pytest.approx(0.99 - 0.25, abs=0.02)  # backed up distance_m
    commanded, moved = backup.last_stall
    assert commanded == pytest.approx(0.2, abs=0.02) and moved < 0.25 * commanded
    assert trace[-1][1] > 0 or backup.backups == 2  # then forward again (and, still blocked, another back-up)
    free = StallBackUp(BackUpConfig())
    assert all(v > 0 for _, v, _ in _push(free, 8.0, blocked_after_m=100.0)) and free.backups == 0


def test_scraping_along_counts_as_a_stall():
    scraping = StallBackUp(BackUpConfig(stall_s=1.0, stall_ratio=0.25))
    assert any(v < 0 for _, v, _ in _push(scraping, 6.0, blocked_after_m=0.5, creep=0.1))
    slowed = StallBackUp(BackUpConfig(stall_s=1.0, stall_ratio=0.25))  # half the speed asked for: not a stall
    assert all(v > 0 for _, v, _ in _push(slowed, 6.0, blocked_after_m=0.5, creep=0.5))


def _backups_after_one_bump(config: BackUpConfig, max_acc: float = 0.5, v_cmd: float = 0.07) -> int:
    """Back-ups of a base with acceleration limits (the turtlebot's 0.5 m/s^2) told v_cmd at a wall that is gone
    once it backs up (as when the bump memory steers round it): one, unless driving on reads as a stall."""
    backup = StallBackUp(config)
    x = v = t = 0.0
    dt, wall = 0.02, 0.3
    while t < 8.0:
        back = backup.command(t)
        if back is not None:
            wall = math.inf
        target = back if back is not None else v_cmd
        backup.on_base_command(target)
        v += float(np.clip(target - v, -max_acc * dt, max_acc * dt))
        if v > 0 and x + v * dt > wall:
            v = 0.0  # pushing: the contact holds it
        x += v * dt
        backup.on_odometry(x, 0.0, 0.0, t)
        t += dt
    return backup.backups


def test_the_turn_from_reversing_to_driving_on_is_not_a_stall():
    assert _backups_after_one_bump(BackUpConfig()) == 1
    # judged over 0.6 s the ~0.35 s from -0.1 to +0.07 m/s reads as a stall: one robot backed up 12 times in a row
    assert _backups_after_one_bump(BackUpConfig(stall_s=0.6)) > 1


def test_no_backup_when_told_to_stand_or_without_odometry_and_bounded_when_blocked_behind():
    standing = StallBackUp(BackUpConfig(stall_s=0.5))
    assert all(v == 0.0 for _, v, _ in _push(standing, 4.0, blocked_after_m=0.0, v_cmd=0.0))  # a filter STOP
    blind = StallBackUp(BackUpConfig(stall_s=0.5))
    for k in range(60):  # forward commands, but no odometry at all: no verdict
        blind.on_base_command(0.2)
        assert blind.command(0.05 * k) is None
    boxed = StallBackUp(BackUpConfig(stall_s=0.5, timeout_s=2.0, distance_m=0.25))
    trace = _push(boxed, 6.0, blocked_after_m=0.0, behind_blocked=True)
    start = next(k for k, (_, v, _) in enumerate(trace) if v < 0)
    end = next(k for k in range(start, len(trace)) if trace[k][1] >= 0)
    assert trace[end][0] - trace[start][0] == pytest.approx(2.0, abs=0.06)  # gave up after timeout_s
    for bad in ({"stall_s": 0.0}, {"stall_ratio": 1.0}, {"distance_m": -0.1}, {"speed": 0.0}, {"timeout_s": 0.0},
                {"body_radius_m": 0.0}, {"bump_margin_m": -0.1}, {"max_tries": 0}):
        with pytest.raises(ValueError):
            BackUpConfig(**bad)


def _bearing(target) -> float:
    return math.atan2(target[1], target[0])


def test_a_stall_leaves_a_bump_that_headings_pass_clear_of():
    backup = StallBackUp(BackUpConfig(stall_s=1.0, distance_m=0.25, body_radius_m=0.2, bump_margin_m=0.1))
    _push(backup, 12.0, blocked_after_m=1.0)
    assert len(backup.bumps) == 1  # at the front of the body where it stalled: (0.99 + 0.2, 0)
    backup.on_odometry(0.75, 0.0, 0.0, 20.0)  # backed up, facing the bump 0.44 m ahead
    half = math.asin(0.3 / 0.44)
    left = backup.clear_heading(np.array([0.5, 0.05, 1.0, 0.0]))  # heading a little left of it: pass left
    assert _bearing(left) == pytest.approx(half, abs=0.02)
    assert np.hypot(*left[:2]) == pytest.approx(np.hypot(0.5, 0.05)) and left[2] == 1.0  # distance kept
    again = backup.clear_heading(np.array([0.5, -0.02]))  # the side stays chosen: left, not a flip-flop
    assert _bearing(again) == pytest.approx(half, abs=0.02)
    wide = np.array([0.3, 0.6])  # already clear of it: untouched
    assert backup.clear_heading(wide).tolist() == wide.tolist()
    backup.on_odometry(1.6, 0.0, 0.0, 21.0)  # past it, the bump behind: untouched
    assert backup.clear_heading(np.array([0.5, 0.0])).tolist() == [0.5, 0.0]
    backup.on_odometry(5.0, 0.0, 0.0, 22.0)  # far away: forgotten
    backup.clear_heading(np.array([0.5, 0.0]))
    assert len(backup.bumps) == 0


def test_stalling_at_the_same_bump_again_flips_the_side():
    bumps = BumpMemory(clearance_m=0.3)
    bumps.add(1.0, 0.0)
    pose = (0.5, 0.0, 0.0)
    assert _bearing(bumps.clear_heading(np.array([0.5, 0.01]), pose)) > 0  # left first
    bumps.add(1.05, 0.1)  # stalled beside it again
    assert len(bumps) == 1
    assert _bearing(bumps.clear_heading(np.array([0.5, 0.01]), pose)) < 0  # now right
    dead_ahead = BumpMemory(clearance_m=0.3)
    dead_ahead.add(1.0, 0.1)  # a little left of straight ahead, the robot heading straight at it: pass right
    assert _bearing(dead_ahead.clear_heading(np.array([0.5, 0.1]), pose)) < 0.0


def test_gives_up_after_max_tries_at_one_bump_until_moved():
    backup = StallBackUp(BackUpConfig(stall_s=1.0, distance_m=0.25, max_tries=2))
    _push(backup, 40.0, blocked_after_m=1.0)  # driving straight at the same wall again and again
    assert backup.backups == 2 and backup.gave_up_at == pytest.approx((0.99, 0.0), abs=0.01)
    assert backup.command(41.0) is None  # no more back-ups: the node stops the robot
    backup.on_odometry(0.5, 0.0, 0.0, 42.0)  # someone moved it
    assert backup.gave_up_at is None
