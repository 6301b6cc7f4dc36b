"""The simulated wheel odometry: error presets calibrated per 10 m, systematic errors drawn once per run, ground
truth untouched, bad presets refused."""
from __future__ import annotations

import math

import pytest

from gnm_nav.common.errors import GnmNavError
from gnm_nav.sim.env import SimEnv, load_profile
from gnm_nav.sim.odometry_error import PRESETS, OdometryErrorModel, WheelOdometry, drift_statistics, odometry_preset
from gnm_nav.sim.worlds import resolve_world


def test_typical_preset_drifts_a_few_percent_and_degrees_per_10_m():
    """Pins the calibration (docs/decisions.md): published orders of magnitude for small indoor wheeled robots."""
    typical = drift_statistics("typical", runs=120)
    assert 1.5 <= typical.position_error_pct_p50 <= 4.0
    assert 1.5 <= typical.heading_error_deg_p50 <= 5.0
    poor = drift_statistics("poor", runs=120)
    assert poor.position_error_pct_p50 > 2 * typical.position_error_pct_p50
    assert poor.heading_error_deg_p50 > 2 * typical.heading_error_deg_p50
    none = drift_statistics("none", runs=5)
    assert none.position_error_pct_p90 == 0.0 and none.heading_error_deg_p90 == 0.0


def test_systematic_errors_are_drawn_once_per_run():
    model = odometry_preset("typical")
    a, b, other = WheelOdometry(model, (3, 1)), WheelOdometry(model, (3, 1)), WheelOdometry(model, (4, 1))
    assert (a.scale, a.curvature) == (b.scale, b.curvature) != (other.scale, other.curvature)
    for _ in range(100):
        pa, pb = a.integrate(0.01, 0.0, 0.05), b.integrate(0.01, 0.0, 0.05)
    assert (pa == pb).all()
    a.reset()
    assert not a.pose.any() and a.scale == b.scale  # a reset zeroes the pose, the robot keeps its errors


def test_a_straight_drive_reads_as_an_arc_with_unequal_wheels():
    odom = WheelOdometry(OdometryErrorModel(curvature_sd=0.01), seed=0)
    for _ in range(1000):
        pose = odom.integrate(0.01, 0.0, 0.05)
    assert pose[2] == pytest.approx(10.0 * odom.curvature)  # 10 m straight: heading off by curvature x distance
    assert abs(pose[1]) > 0.01


def test_sim_odometry_uses_the_profile_preset_and_leaves_ground_truth_exact():
    world, profile = resolve_world("box_room"), load_profile("turtlebot")
    assert profile.odometry_noise == "typical"
    last = {}
    for preset in ("", "none"):  # '' = the profile's
        with SimEnv(world, profile, render=False, seed=1, odom_noise=preset) as env:
            env.reset((1.5, 2.5, 0.0))
            for _ in range(60):
                last[preset] = env.step(0.25, 0.1, 0.05)
    noisy, exact = last[""], last["none"]
    assert noisy.pose == exact.pose  # the body moves the same: only what the odometry reports differs
    assert exact.odom.x == pytest.approx(exact.pose.x - 1.5, abs=1e-6)
    assert math.hypot(noisy.odom.x - exact.odom.x, noisy.odom.y - exact.odom.y) > 1e-4


def test_bad_presets_and_models_are_refused():
    with pytest.raises(GnmNavError, match="unknown odometry noise preset 'wet'"):
        odometry_preset("wet")
    with pytest.raises(GnmNavError, match="scale_sd must be a finite number"):
        OdometryErrorModel(scale_sd=-0.1)
    with pytest.raises(GnmNavError, match="unknown odometry noise preset"):
        SimEnv(resolve_world("box_room"), load_profile("turtlebot"), render=False, odom_noise="slippery")
    assert set(PRESETS) == {"none", "typical", "poor"}


def test_a_profile_naming_an_unknown_preset_is_refused(tmp_path):
    from gnm_nav.robot_profile import load_robot_profile, robots_dir

    path = tmp_path / "bot.yaml"
    path.write_text((robots_dir() / "turtlebot.yaml").read_text() + "odometry_noise: icy\n")
    with pytest.raises(ValueError, match="odometry_noise"):
        load_robot_profile(path)


def test_the_cli_shows_what_each_preset_does(capsys):
    from gnm_nav.cli import main as cli_main

    assert cli_main(["sim", "odom-drift", "--runs", "5", "--preset", "typical", "--preset", "none"]) == 0
    out = capsys.readouterr().out
    assert "typical  position" in out and "none     position 0.0%" in out and "poor" not in out
    assert cli_main(["sim", "odom-drift", "--preset", "wet"]) == 2
