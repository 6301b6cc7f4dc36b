"""Waypoint controllers: the public formula reproduced exactly, the smooth default within limits."""
import math

import numpy as np
import pytest

from gnm_nav.controller import GnmController, Limits, SmoothController, make_controller, waypoints_to_metres

LIMITS = Limits(max_v=0.2, max_w=0.4, max_acc_v=0.5, max_acc_w=1.0)


def test_gnm_formula():
    c = make_controller("gnm", LIMITS, frame_rate=4.0)
    v, w = c.command(np.array([0.04, 0.004]), 0.0)
    assert v == pytest.approx(0.16) and w == pytest.approx(math.atan(0.1) * 4)
    v, w = c.command(np.array([0.1, 0.1]), 0.0)  # clipped
    assert (v, w) == (pytest.approx(0.2), pytest.approx(0.4))
    v, w = c.command(np.array([0.0, 0.05]), 0.0)  # turn in place
    assert v == 0.0 and w == pytest.approx(0.4)
    assert c.command(np.array([-0.1, 0.0]), 0.0)[0] == 0.0  # never backwards


def test_waypoint_scaling_by_robot_speed():
    actions = np.array([[1.0, 2.0, 1.0, 0.0]] * 5)
    metres = waypoints_to_metres(actions, max_v=0.2, frame_rate=4.0)
    np.testing.assert_allclose(metres[0], [0.05, 0.1, 1.0, 0.0])


def test_smooth_respects_speed_and_acceleration_limits():
    c = SmoothController(LIMITS, horizon_s=0.75)
    t, v_prev, w_prev = 0.0, 0.0, 0.0
    rng = np.random.default_rng(0)
    for _ in range(200):
        t += 0.1
        v, w = c.command(rng.uniform(-1, 1, 2), t)
        assert 0.0 <= v <= LIMITS.max_v + 1e-9 and abs(w) <= LIMITS.max_w + 1e-9
        assert abs(v - v_prev) <= LIMITS.max_acc_v * 0.1 + 1e-9
        assert abs(w - w_prev) <= LIMITS.max_acc_w * 0.1 + 1e-9
        v_prev, w_prev = v, w


def test_smooth_reaches_straight_ahead_speed_and_turns_toward_target():
    c = SmoothController(LIMITS, horizon_s=0.75)
    for i in range(20):
        v, w = c.command(np.array([1.0, 0.0]), i * 0.1)
    assert v == pytest.approx(0.2) and w == pytest.approx(0.0)
    c.reset()
    for i in range(20):
        v, w = c.command(np.array([-0.01, 0.3]), i * 0.1)
    assert v == pytest.approx(0.0, abs=1e-6) and w == pytest.approx(0.4)


@pytest.mark.parametrize("cls", ["gnm", "smooth"])
def test_stale_or_nan_waypoint_gives_zero(cls):
    c = make_controller(cls, LIMITS, frame_rate=4.0, stale_after_s=1.0)
    assert c.command(np.array([0.05, 0.0]), now_s=5.0, waypoint_stamp=3.5) == (0.0, 0.0)
    assert c.command(np.array([np.nan, 0.0]), now_s=5.0) == (0.0, 0.0)
    c.command(np.array([0.05, 0.0]), now_s=4.9, waypoint_stamp=4.5)
    assert c.command(np.array([0.05, 0.0]), now_s=5.0, waypoint_stamp=4.5)[0] > 0


def test_unknown_controller():
    with pytest.raises(ValueError, match="controller must be one of"):
        make_controller("pid", LIMITS, 4.0)
    assert isinstance(make_controller("gnm", LIMITS, 4.0), GnmController)
