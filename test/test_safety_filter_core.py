"""The ROS-free filter core on a scorer with a known answer: G = 10 |v - 0.3| + 5 |w| (+ a per-frame offset)."""
from __future__ import annotations

import math

import numpy as np
from pytest import approx

from gnm_nav.ldm.export import ActionGrid
from gnm_nav.ldm.filter import FilterSettings, SafetyFilter, SafetyState

GRID = ActionGrid(0.0, 0.6, 7, -1.0, 1.0, 5).candidates()  # v step 0.1, w step 0.5


def scorer(embedding: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    g = 10 * np.abs(actions[:, 0] - 0.3) + 5 * np.abs(actions[:, 1]) + float(embedding[0, 0])
    return g - 0.5, g


def make(threshold: float = 2.05, offset: float = 0.0, **settings) -> SafetyFilter:
    f = SafetyFilter(scorer, GRID, threshold, FilterSettings(source_timeout=1.0, stop_pub_timeout=0.5,
                                                             fallback_timeout=0.3, **settings))
    f.set_observation(np.array([[offset]]), 0.0)
    return f


def test_pass_and_nearest_allowed_candidate():
    f = make()
    d = f.on_command(0.35, 0.1, 0.1)
    assert d.state is SafetyState.PASS and d.output == approx((0.35, 0.1), abs=1e-6)
    assert d.ldm == approx(1.0, abs=1e-5) and d.energy == approx(0.5, abs=1e-5)
    d = f.on_command(0.6, 0.0, 0.2)  # G = 3 > 2; nearest allowed on v: 0.5 (G = 2)
    assert d.state is SafetyState.MODIFIED and d.output == approx((0.5, 0.0), abs=1e-6)
    assert d.allowed_fraction == np.mean(scorer(np.zeros((1, 1)), GRID)[1] <= 2.05)
    d = f.on_command(0.3, 0.8, 0.3)  # turning too fast: the nearest allowed keeps v and cuts w
    assert d.state is SafetyState.MODIFIED and d.output == approx((0.3, 0.0), abs=1e-6)


def test_margin_and_offset_change_what_is_allowed():
    f = make(margin=0.6)
    assert f.on_command(0.6, 0.0, 0.1).output == approx((0.4, 0.0), abs=1e-6)  # replacements need G <= 1.45
    f.settings.threshold_offset = 1.0
    assert f.on_command(0.6, 0.0, 0.2).state is SafetyState.PASS


def test_slow_reversing_passes_even_where_nothing_is_allowed():
    f = make(offset=5.0, stop_turn_rate=0.0, reverse_pass_speed=0.1)  # nothing allowed: the robot is held
    assert f.on_command(0.3, 0.0, 0.1).state is SafetyState.FALLBACK
    d = f.on_command(-0.1, 0.0, 0.2)  # a stall back-up: the camera cannot judge it, it retraces the way in
    assert d.state is SafetyState.PASS and d.output == approx((-0.1, 0.0), abs=1e-6) and math.isfinite(d.ldm)
    assert f.on_command(0.3, 0.0, 0.3).state is SafetyState.FALLBACK  # forward again: held afresh
    assert f.on_command(-0.2, 0.0, 0.35).state is SafetyState.FALLBACK  # faster reversing is judged
    judged = make(offset=5.0, stop_turn_rate=0.0, reverse_pass_speed=0.0)
    assert judged.on_command(-0.05, 0.0, 0.1).state is SafetyState.FALLBACK


def test_fallback_then_stop_then_recovery():
    f = make(offset=5.0, stop_turn_rate=0.0)  # every candidate has G >= 5 > 2; no turning on the spot
    d = f.on_command(0.3, 0.0, 0.1)
    # the least-G candidate (0.3, 0) halved
    assert d.state is SafetyState.FALLBACK and d.output == approx((0.15, 0.0), abs=1e-6)
    assert f.on_command(0.3, 0.0, 0.35).state is SafetyState.FALLBACK
    d = f.on_command(0.3, 0.0, 0.5)
    assert d.state is SafetyState.STOP and d.output == approx((0.0, 0.0), abs=1e-6)
    f.set_observation(np.array([[0.0]]), 0.6)  # a new frame where the command is fine again
    assert f.on_command(0.3, 0.0, 0.7).state is SafetyState.PASS
    assert f.on_command(0.3, 0.0, 0.8).state is SafetyState.PASS


def test_held_robot_turns_on_the_spot_its_commands_way_then_stops():
    f = make(offset=5.0, stop_turn_rate=0.5)  # one full turn takes 4 pi s

    def command(v: float, w: float, now: float, offset: float = 5.0):
        f.set_observation(np.array([[offset]]), now)  # a fresh frame for each command
        return f.on_command(v, w, now)

    assert command(0.3, 0.0, 0.1).state is SafetyState.FALLBACK
    d = command(0.3, -0.4, 0.5)  # held past fallback_timeout: turn the way the command turns
    assert d.state is SafetyState.TURN and d.output == approx((0.0, -0.5), abs=1e-6)
    d = command(0.3, 0.4, 3.0)  # keeps its way round, whatever the command does meanwhile
    assert d.state is SafetyState.TURN and d.output == approx((0.0, -0.5), abs=1e-6)
    d = command(0.3, 0.4, 0.1 + 0.3 + 4 * math.pi + 0.1)  # a full turn found nothing: stop
    assert d.state is SafetyState.STOP and d.output == approx((0.0, 0.0), abs=1e-6)
    assert command(0.3, 0.0, 20.1, offset=0.0).state is SafetyState.PASS  # a view it knows: driving again
    command(0.3, 0.0, 20.2)
    d = command(0.3, 0.0, 20.6)  # the next hold turns anew; a straight command: the least-G candidate's way
    assert d.state is SafetyState.TURN and d.output == approx((0.0, 0.5), abs=1e-6)


def test_stale_camera_publishes_zero_then_goes_quiet():
    f = make()
    d = f.on_command(0.3, 0.0, 1.5)  # camera 1.5 s old > source_timeout
    assert d.state is SafetyState.STALE and d.output == approx((0.0, 0.0), abs=1e-6)
    assert f.on_command(0.3, 0.0, 1.9).output == approx((0.0, 0.0), abs=1e-6)
    assert f.on_command(0.3, 0.0, 2.1).output is None
    f.set_observation(np.array([[0.0]]), 2.2)
    assert f.on_command(0.3, 0.0, 2.3).state is SafetyState.PASS


def test_stale_command_stream_and_monitor_mode_and_disabled():
    f = make()
    assert f.on_tick(5.0) is None  # no command ever: nothing to stop
    f.on_command(0.3, 0.0, 0.1)
    assert f.on_tick(0.9) is None
    assert f.on_tick(1.2).output == approx((0.0, 0.0), abs=1e-6)
    assert f.on_tick(1.6).output == approx((0.0, 0.0), abs=1e-6)
    assert f.on_tick(1.8).output is None and f.last_state is SafetyState.STALE
    m = make(offset=5.0, monitor=True)
    d = m.on_command(0.3, 0.0, 0.1)
    assert d.state is SafetyState.FALLBACK and d.output == approx((0.3, 0.0), abs=1e-6)
    off = make(offset=5.0, enabled=False)
    d = off.on_command(0.3, 0.0, 5.0)
    assert d.state is SafetyState.DISABLED and d.output == approx((0.3, 0.0), abs=1e-6)


def test_non_finite_commands_are_dropped_and_counted():
    f = make()
    assert f.on_command(math.nan, 0.0, 0.1) is None
    assert f.on_command(0.1, -math.inf, 0.1) is None
    assert f.nan_dropped == 2 and f.last_state is None


def test_grid_is_scored_once_per_frame():
    calls = []

    def counting(embedding, actions):
        calls.append(len(actions))
        return scorer(embedding, actions)

    f = SafetyFilter(counting, GRID, 2.0)
    f.set_observation(np.zeros((1, 1)), 0.0)
    for t in (0.1, 0.2, 0.3):
        f.on_command(0.6, 0.0, t)
    assert calls == [len(GRID), 1, 1, 1]


def test_absurd_commands_never_pass_and_every_output_is_within_the_grid():
    f = make()
    for v, w in [(1e308, 0.0), (3.5e38, 0.0), (0.3, -1e30), (-0.05, 1e6), (-1e300, 1e300), (0.61, 0.0)]:
        d = f.on_command(v, w, 0.1)
        assert d.state is SafetyState.MODIFIED, (v, w)  # not allowed: the nearest allowed candidate instead
        assert all(math.isfinite(x) for x in d.output) and 0.0 <= d.output[0] <= 0.6 and abs(d.output[1]) <= 1.0
        assert d.ldm == math.inf
    assert f.on_command(-0.05, 0.5, 0.2).state is SafetyState.PASS  # a slow reverse within the turn limits passes
    monitor = make(monitor=True)
    assert monitor.on_command(5.0, -7.0, 0.1).output == approx((0.6, -1.0))  # monitor mode passes, bounded


def test_a_nan_score_means_not_allowed():
    f = SafetyFilter(lambda e, a: (np.full(len(a), np.nan), np.where(a[:, 0] > 0.45, np.nan, 1.0)), GRID, 2.0,
                     FilterSettings())
    f.set_observation(np.zeros((1, 1)), 0.0)
    d = f.on_command(0.5, 0.0, 0.1)
    assert d.state is SafetyState.MODIFIED and d.output[0] <= 0.4 + 1e-6


def test_a_stopped_robot_stays_stopped():
    f = make(offset=5.0)  # nothing is allowed: any motion would be held, then turned
    for k in range(16):  # past fallback_timeout: a held robot would be turning by now
        d = f.on_command(0.0, 0.0, 0.05 * k)
        assert d.state is SafetyState.PASS and d.output == (0.0, 0.0)
    assert f.on_command(0.3, 0.0, 0.8).state is SafetyState.FALLBACK  # motion asked for: the hold starts now
    assert f.on_command(0.0, 0.0, 0.85).output == (0.0, 0.0)
    assert f.on_command(0.3, 0.0, 0.95).state is SafetyState.FALLBACK  # the zero ended the hold: it starts afresh
