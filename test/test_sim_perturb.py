"""Disturbed expert drives (DART-style recovery data): they start off the route and turned, swerve more (some
toward the nearer obstacle), still arrive, and their recorded futures hold the way back; collect records the
preset and the share of drives in data_config.yaml and keeps a resumed dataset to one preset."""
from __future__ import annotations

import argparse
import math

import numpy as np
import pytest

from gnm_nav.commands import sim as sim_command
from gnm_nav.common.errors import GnmNavError
from gnm_nav.common.pose import Pose2D
from gnm_nav.data.gnm_format import read_data_config
from gnm_nav.sim.env import SimEnv, load_profile
from gnm_nav.sim.expert import ExpertConfig, ExpertDriver, GridPlanner, sample_route
from gnm_nav.sim.perturb import PERTURBATIONS, perturbed_route
from gnm_nav.sim.rollout import expert_rollout
from gnm_nav.sim.world_gen import generate_world


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    sim_command.add_arguments(parser)
    args = parser.parse_args(list(argv))
    return args.func(args)


def _off_route(steps, path: np.ndarray) -> float:
    """The farthest the robot got from the route's path (m)."""
    xy = np.array([(s.state.pose.x, s.state.pose.y) for s in steps])
    return float(np.linalg.norm(xy[:, None, :] - path[None, :, :], axis=2).min(axis=1).max())


def test_perturbed_drives_leave_the_route_and_come_back():
    world = generate_world(4, "office")
    profile = load_profile("turtlebot")
    recovery = PERTURBATIONS["recovery"]
    clean_off, perturbed_off = [], []
    with SimEnv(world, profile, image_size=(32, 24)) as env:
        planner = GridPlanner(env.grid, profile.body_radius_m)
        for seed in range(3):
            route = sample_route(planner, np.random.default_rng(seed), min_length=8.0)
            moved = perturbed_route(route, planner, recovery, np.random.default_rng(seed))
            start, first = moved.start, route.start
            sideways = math.hypot(start.x - first.x, start.y - first.y)
            assert sideways <= recovery.start_offset_m + 1e-9
            assert abs(math.remainder(start.yaw - first.yaw, 2 * math.pi)) <= recovery.start_heading_rad + 1e-9
            r, c = planner.cell(start.x, start.y)
            assert planner.free[r, c] and np.array_equal(moved.path, route.path)
            for target, drive, config in ((clean_off, route, ExpertConfig()), (perturbed_off, moved, recovery.expert)):
                steps = list(expert_rollout(env, planner, drive, np.random.default_rng(seed), frame_rate_hz=1.0,
                                            max_time_s=4 * route.length / profile.max_v, config=config))
                last = steps[-1].state.pose
                assert math.hypot(last.x - route.goal[0], last.y - route.goal[1]) < 0.4  # it still arrives
                target.append(_off_route(steps, route.path))
    assert np.mean(perturbed_off) > np.mean(clean_off)  # ... after going further off the route
    assert perturbed_route(route, planner, PERTURBATIONS["none"], np.random.default_rng(0)) is route


def test_a_swerve_at_an_obstacle_turns_toward_the_wall_beside_the_robot():
    world = generate_world(4, "office")
    profile = load_profile("turtlebot")
    with SimEnv(world, profile, image_size=(32, 24)) as env:
        planner = GridPlanner(env.grid, profile.body_radius_m)
        route = sample_route(planner, np.random.default_rng(0), min_length=8.0)
        driver = ExpertDriver(planner, profile, route, np.random.default_rng(0))

        def clearance(x: float, y: float) -> float:
            r, c = planner.cell(x, y)
            inside = 0 <= r < planner.clearance.shape[0] and 0 <= c < planner.clearance.shape[1]
            return float(planner.clearance[r, c]) if inside else 0.0

        seen = {1.0: 0, -1.0: 0}
        rows, cols = np.nonzero(planner.free)
        for r, c in zip(rows[::7], cols[::7]):
            x, y = planner.origin[0] + (c + 0.5) * planner.res, planner.origin[1] + (r + 0.5) * planner.res
            north, south = clearance(x, y + 0.4), clearance(x, y - 0.4)
            if min(north, south) > 0.05 or max(north, south) < 0.6:
                continue  # not a wall on one side and open floor on the other
            wall_left = north < south  # facing +x, north is the robot's left
            assert driver._nearer_obstacle_side(Pose2D(x, y, 0.0)) == (1.0 if wall_left else -1.0)
            assert driver._nearer_obstacle_side(Pose2D(x, y, math.pi)) == (-1.0 if wall_left else 1.0)
            seen[1.0 if wall_left else -1.0] += 1
        assert min(seen.values()) > 0, seen


def test_collect_records_the_perturbation_and_keeps_a_dataset_to_one(tmp_path, capsys):
    out = tmp_path / "data"
    argv = ("collect", "--out", str(out), "--worlds", "1", "--robots", "turtlebot", "--frames", "40", "--seed", "5",
            "--min-route-m", "4", "--perturb", "recovery", "--perturb-share", "1.0")
    assert _run(*argv) == 0
    record = read_data_config(out)["sim_turtlebot"]["perturbation"]
    assert record["preset"] == "recovery" and record["share"] == 1.0
    assert record["settings"]["expert"]["toward_obstacles"] == 0.5 and record["settings"]["start_offset_m"] == 0.4
    with pytest.raises(GnmNavError, match="collected with perturbation recovery"):
        _run(*argv[:-4])  # resumed without it: refused, not mixed
    clean = tmp_path / "clean"
    assert _run("collect", "--out", str(clean), "--worlds", "1", "--robots", "turtlebot", "--frames", "16",
                "--seed", "5", "--min-route-m", "4") == 0
    assert read_data_config(clean)["sim_turtlebot"]["perturbation"] == {
        "preset": "none", "share": 0.0, "settings": PERTURBATIONS["none"].as_config()}
    with pytest.raises(GnmNavError, match="perturbed share"):
        _run(*argv[:-1], "1.5")
