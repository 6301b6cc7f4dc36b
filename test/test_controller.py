"""Waypoint controllers: the public formula reproduced exactly, the smooth default within limits."""
import math

import numpy as np
import pytest

from gnm_nav.control.controller import (
    STEER_MIN_RANGE_M,
    GnmController,
    Limits,
    SmoothController,
    make_controller,
    steer_toward,
    waypoints_to_metres,
)

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


def test_steer_toward_turns_the_model_waypoint_part_way_and_keeps_its_reach():
    model = np.array([0.4, 0.0, 1.0, 0.0])
    target = np.array([1.0, 1.0])  # 45 degrees left
    half, error = steer_toward(model, target, 0.5)
    assert error == pytest.approx(math.pi / 4) and math.atan2(half[1], half[0]) == pytest.approx(math.pi / 8)
    assert math.hypot(half[0], half[1]) == pytest.approx(0.4) and half[2:].tolist() == [1.0, 0.0]
    full, _ = steer_toward(model, target, 1.0)
    assert math.atan2(full[1], full[0]) == pytest.approx(math.pi / 4)
    # no target, no weight, or a target the robot is on: the model's waypoint as it is
    for t, w in ((None, 0.5), (target, 0.0), (np.array([STEER_MIN_RANGE_M / 2, 0.0]), 1.0)):
        assert steer_toward(model, t, w) == (model, 0.0)


def test_a_target_behind_keeps_the_way_round_the_robot_already_turns():
    model = np.array([0.4, 0.0, 1.0, 0.0])
    just_right = np.array([-1.0, -0.01])  # behind, a hair to the right: the short way is right
    assert steer_toward(model, just_right, 1.0)[1] == pytest.approx(-math.pi + 0.01, abs=1e-3)
    assert steer_toward(model, just_right, 1.0, turn_sign=-1.0)[1] < 0
    # turning left already: keep turning left rather than flip with every centimetre the target moves
    error = steer_toward(model, just_right, 1.0, turn_sign=1.0)[1]
    assert error == pytest.approx(math.pi + 0.01, abs=1e-3)
    assert steer_toward(model, np.array([1.0, -1.0]), 1.0, turn_sign=1.0)[1] == pytest.approx(-math.pi / 4)


def test_policy_steers_toward_the_subgoal_odometry_place_by_its_weight():
    from gnm_nav.control.policy import GNMPolicy
    from gnm_nav.graph.synthetic import PixelDistanceEngine

    engine = PixelDistanceEngine()  # its waypoints run straight ahead
    obs, goal = np.zeros((1, 18, 64, 85), np.float32), np.zeros((3, 64, 85), np.float32)
    limits = Limits(max_v=0.3, max_w=1.0, max_acc_v=10.0, max_acc_w=10.0)

    def turn(weight: float, offset) -> float:
        policy = GNMPolicy(engine, make_controller("smooth", limits, 4.0), 0.3, odometry_steering=weight)
        policy.step(obs, goal, 0.0, offset)
        return policy.step(obs, goal, 1.0, offset).w

    left = np.array([1.0, 1.0])
    assert turn(0.5, None) == pytest.approx(0.0) and turn(0.0, left) == pytest.approx(0.0)
    assert 0.0 < turn(0.5, left) < turn(1.0, left)
    with pytest.raises(ValueError, match="odometry_steering"):
        GNMPolicy(engine, make_controller("smooth", limits, 4.0), 0.3, odometry_steering=1.5)


def test_a_degraded_policy_turns_off_by_its_bias_and_noise_within_the_limit():
    """Evaluation only (TurnDegradation): the weaker policy the safety filter is measured on."""
    from gnm_nav.control.policy import GNMPolicy, TurnDegradation
    from gnm_nav.graph.synthetic import PixelDistanceEngine

    engine = PixelDistanceEngine()  # its waypoints run straight ahead: the clean policy turns 0
    obs, goal = np.zeros((1, 18, 64, 85), np.float32), np.zeros((3, 64, 85), np.float32)
    limits = Limits(max_v=0.3, max_w=1.0, max_acc_v=10.0, max_acc_w=10.0)

    def turns(degradation: TurnDegradation, steps: int = 200) -> np.ndarray:
        policy = GNMPolicy(engine, make_controller("smooth", limits, 4.0), 0.3, degradation=degradation)
        return np.array([policy.step(obs, goal, 0.25 * k, None).w for k in range(steps)])

    assert np.all(turns(TurnDegradation()) == 0.0)
    biased = turns(TurnDegradation(bias=0.4))
    assert biased[1:] == pytest.approx(0.4)
    noisy = turns(TurnDegradation(bias=0.4, noise=0.3, seed=3))
    assert 0.3 < noisy.mean() < 0.5 and 0.2 < noisy.std() < 0.4 and np.abs(noisy).max() <= 1.0
    assert np.array_equal(noisy, turns(TurnDegradation(bias=0.4, noise=0.3, seed=3)))  # seeded: same in every mode
    assert np.abs(turns(TurnDegradation(bias=0.9, noise=0.5))).max() <= 1.0  # never beyond the robot's limit
