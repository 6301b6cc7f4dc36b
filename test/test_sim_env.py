"""SimEnv with real MuJoCo rendering: determinism, motion, walls, bad input, and the expert driver."""
from __future__ import annotations

import math

import numpy as np
import pytest

from gnm_nav.sim.env import SimEnv, SimError, load_profile
from gnm_nav.sim.expert import GridPlanner, PlanningError, sample_route
from gnm_nav.sim.rollout import expert_rollout
from gnm_nav.sim.world_gen import generate_world
from gnm_nav.sim.worlds import resolve_world


@pytest.fixture(scope="module")
def room_env():
    env = SimEnv(resolve_world("box_room"), load_profile("turtlebot"), image_size=(40, 30), odom_noise="none")
    yield env
    env.close()


def test_same_seed_identical_frames():
    prof = load_profile("jackal")
    runs = []
    for _ in range(2):
        with SimEnv(generate_world(3, "office"), prof, image_size=(48, 36), seed=7) as env:
            frames = [env.render()]
            for _ in range(3):
                env.step(0.5, 0.3, 0.25)
                frames.append(env.render())
            runs.append(frames)
    for a, b in zip(*runs):
        assert a.shape == (36, 48, 3) and np.array_equal(a, b)
    assert not np.array_equal(runs[0][0], runs[0][-1])  # the view changes as it moves


def test_moves_as_commanded(room_env):
    env = room_env
    env.reset((1.5, 2.5, 0.0))
    prof = env.profile
    for _ in range(40):  # 2 s at 0.2 m/s: ramps up at max_acc_v, then cruises
        r = env.step(0.2, 0.0, 0.05)
    ramp = 0.2 / prof.max_acc_v
    expected = 0.2 * (2.0 - ramp) + 0.5 * prof.max_acc_v * ramp ** 2
    assert r.pose.x - 1.5 == pytest.approx(expected, abs=0.02)
    assert r.pose.y == pytest.approx(2.5, abs=1e-6) and r.v == pytest.approx(0.2)
    assert r.odom.x == pytest.approx(r.pose.x - 1.5, abs=1e-6)  # noise-free odometry matches
    for _ in range(40):  # speed limit: asks for 5 m/s, gets max_v
        r = env.step(0.0, 5.0, 0.05)
    assert r.w == pytest.approx(prof.max_w)


def test_wall_stops_robot_and_reports_collision(room_env):
    env = room_env
    env.reset((3.0, 1.0, 0.0))  # facing the partition wall at x = 4.925 .. 5.075
    collided = []
    for _ in range(200):
        r = env.step(0.3, 0.0, 0.1)
        collided.append(r.collided)
        assert r.pose.x <= 4.925 - env.profile.body_radius_m + 0.05  # never into the wall
    assert any(collided) and collided[-1] and r.v == 0.0
    assert r.pose.x > 4.5  # it did drive up to the wall
    r = env.step(-0.2, 0.0, 0.5)  # backing away is allowed
    assert not r.collided and r.pose.x < 4.925 - env.profile.body_radius_m


def test_bad_input(room_env):
    with pytest.raises(SimError, match="must be finite"):
        room_env.step(float("nan"), 0.0, 0.1)
    with pytest.raises(SimError, match="inside or too close to an obstacle"):
        room_env.reset((5.0, 1.0, 0.0))
    with pytest.raises(SimError, match="outside the world bounds"):
        room_env.reset((50.0, 1.0, 0.0))
    with pytest.raises(SimError, match="unknown robot profile 'hovercraft'"):
        load_profile("hovercraft")


def test_unreachable_spawn_pocket():
    from gnm_nav.sim.world_spec import Box

    world = resolve_world("box_room")
    # a closed 1.2 m box around (2.5, 2.5): free inside, but cut off from the rest of the room
    for cx, cy, sx, sy in ((2.5, 1.8, 1.4, 0.1), (2.5, 3.2, 1.4, 0.1), (1.8, 2.5, 0.1, 1.4), (3.2, 2.5, 0.1, 1.4)):
        world.walls.append(Box(center=[cx, cy], size=[sx, sy], height=1.0, material="wall"))
    env = SimEnv(world, load_profile("rc_car"), render=False)
    with pytest.raises(SimError, match="enclosed pocket"):
        env.reset((2.5, 2.5, 0.0))
    planner = GridPlanner(env.grid, 0.2)
    with pytest.raises(PlanningError, match="not reachable"):
        planner.plan((1.0, 1.0), (2.5, 2.5))


@pytest.mark.parametrize("family, robot", [("office", "wheelchair"), ("maze", "rc_car")])
def test_expert_reaches_goal_without_collisions(family, robot):
    world = generate_world(2, family)
    prof = load_profile(robot)
    with SimEnv(world, prof, image_size=(32, 24)) as env:
        rng = np.random.default_rng(1)
        planner = GridPlanner(env.grid, prof.body_radius_m)
        route = sample_route(planner, rng, min_length=10.0)
        assert route.length >= 10.0
        steps = list(expert_rollout(env, planner, route, rng, frame_rate_hz=1.0,
                                    max_time_s=4 * route.length / prof.max_v))
    last = steps[-1].state.pose
    assert math.hypot(last.x - route.goal[0], last.y - route.goal[1]) < 0.4
    assert sum(s.state.collided for s in steps) == 0
    frames = [s.frame for s in steps if s.frame is not None]
    assert len(frames) == pytest.approx(steps[-1].t + 1, abs=1.5) and frames[0].shape == (24, 32, 3)
    yaw_rates = np.array([s.cmd[1] for s in steps])
    assert np.abs(np.diff(yaw_rates)).max() > 0.0 and np.abs(yaw_rates).max() <= prof.max_w + 1e-9


def test_no_gl_backend_is_a_clear_error():
    import os
    import subprocess
    import sys

    code = ("import gnm_nav.sim.render as r; r.GL_BACKENDS = ()\n"
            "try:\n    r._import_mujoco()\nexcept r.RenderError as e:\n    print('ERR', e)\n")
    env = {**os.environ, "MUJOCO_GL": "nosuchgl"}
    env.pop("GNM_NAV_MUJOCO_GL_OK", None)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120).stdout
    assert out.startswith("ERR no headless OpenGL for MuJoCo (nosuchgl:") and "MUJOCO_GL=egl or osmesa" in out


def test_expert_backs_off_after_a_bump_and_still_arrives():
    from gnm_nav.sim.expert import BACK_OFF_S, ExpertDriver

    world = resolve_world("box_room")
    prof = load_profile("turtlebot")
    env = SimEnv(world, prof, render=False)
    planner = GridPlanner(env.grid, prof.body_radius_m)
    rng = np.random.default_rng(0)
    route = sample_route(planner, rng, min_length=6.0)
    env.reset((route.start.x, route.start.y, route.start.yaw))
    driver = ExpertDriver(planner, prof, route, rng)
    dt, bumped = 0.05, []
    for k in range(2000):
        v, w = driver.command(env.pose, dt, collided=(k == 40))  # a bump, as if from an unseen obstacle
        if 40 <= k < 40 + int(BACK_OFF_S / dt):
            bumped.append(v)
        env.step(v, w, dt)
        if driver.done(env.pose):
            break
    assert bumped and all(v < 0 for v in bumped) and driver.replans >= 1
    assert driver.done(env.pose)
