"""Record an expert drive to a rosbag2: what a robot would have logged while a person drove it."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from gnm_nav.bag_io import BagWriter
from gnm_nav.sim.env import SimEnv, load_profile
from gnm_nav.sim.expert import GridPlanner, sample_route
from gnm_nav.sim.rollout import expert_rollout
from gnm_nav.sim.world_spec import WorldSpec

TOPICS = {"image": "/camera/image_raw", "odom": "/odom", "ground_truth": "/sim/ground_truth",
          "cmd_vel": "/cmd_vel", "collision": "/sim/collision"}
START_STAMP_S = 1000.0  # sim time starts here so stamps are clearly not wall-clock


@dataclass
class BagStats:
    images: int
    odometry: int
    seconds: float
    metres: float
    collisions: int


def record_expert_bag(out: Path, world: WorldSpec, robot: str, seed: int, storage: Literal["mcap", "sqlite3"] = "mcap",
                      min_route_m: float = 10.0, max_time_s: float = 300.0) -> BagStats:
    profile = load_profile(robot)
    rng = np.random.default_rng(seed)
    images = odometry = collisions = 0
    metres = 0.0
    last_xy = None
    t = 0.0
    with SimEnv(world, profile, seed=seed) as env, BagWriter(out, storage) as bag:
        planner = GridPlanner(env.grid, profile.body_radius_m)
        route = sample_route(planner, rng, min_route_m)
        for step in expert_rollout(env, planner, route, rng, profile.camera_rate_hz, max_time_s):
            t = START_STAMP_S + step.t
            s = step.state
            if step.frame is not None:
                bag.write_image(TOPICS["image"], t, step.frame, "camera")
                images += 1
            bag.write_odometry(TOPICS["odom"], t, s.odom.x, s.odom.y, s.odom.yaw, s.v, s.w, "odom", "base_link")
            bag.write_odometry(TOPICS["ground_truth"], t, s.pose.x, s.pose.y, s.pose.yaw, s.v, s.w, "map", "base_link")
            bag.write_twist_stamped(TOPICS["cmd_vel"], t, *step.cmd)
            bag.write_bool(TOPICS["collision"], t, s.collided)
            collisions += int(s.collided)
            odometry += 1
            if last_xy is not None:
                metres += math.hypot(s.pose.x - last_xy[0], s.pose.y - last_xy[1])
            last_xy = (s.pose.x, s.pose.y)
    return BagStats(images=images, odometry=odometry, seconds=t - START_STAMP_S, metres=metres, collisions=collisions)
