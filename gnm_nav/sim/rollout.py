"""Drive the expert along a route in a SimEnv, sampling camera frames at a fixed rate (data collection, bags)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from gnm_nav.sim.env import SimEnv, StepResult
from gnm_nav.sim.expert import ExpertConfig, ExpertDriver, GridPlanner, Route

CONTROL_DT = 0.05


@dataclass
class RolloutStep:
    t: float  # seconds since the start of the route
    state: StepResult  # the robot at time t (collided: the step that led here hit something)
    frame: np.ndarray | None  # the camera image at t, on frame ticks only
    cmd: tuple[float, float]  # the expert's (v, w), applied from t to t + control_dt


def expert_rollout(env: SimEnv, planner: GridPlanner, route: Route, rng: np.random.Generator,
                   frame_rate_hz: float, max_time_s: float, control_dt: float = CONTROL_DT,
                   config: ExpertConfig = ExpertConfig()) -> Iterator[RolloutStep]:
    """Reset to the route start, then step until the goal is reached or time runs out.

    Frames are rendered at t=0 and every round(1/(frame_rate_hz*control_dt)) control steps after.
    """
    env.reset((route.start.x, route.start.y, route.start.yaw))
    driver = ExpertDriver(planner, env.profile, route, rng, config)
    frame_every = max(1, int(round(1.0 / (frame_rate_hz * control_dt))))
    state = StepResult(pose=env.pose, odom=env.odom, v=0.0, w=0.0, collided=False)
    k = 0
    while k * control_dt <= max_time_s and not driver.done(state.pose):
        frame = env.render() if k % frame_every == 0 else None
        cmd = driver.command(state.pose, control_dt, state.collided)
        yield RolloutStep(t=k * control_dt, state=state, frame=frame, cmd=cmd)
        state = env.step(*cmd, control_dt)
        k += 1
