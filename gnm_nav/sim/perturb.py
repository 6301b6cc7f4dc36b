"""Disturbed expert drives, so that the recorded futures show the way back to the route (DART-style data).

Behaviour cloning from clean expert driving never shows the states a learned policy's own mistakes lead to: a
robot a little off the line, turned away, or drifting at a wall. A perturbed drive starts off the route and
turned, and takes more and stronger swerves, some of them toward the nearer obstacle; the expert then drives
back, and that return is what the drive's labels (its own future poses, as the GNM format requires) teach.
`gnm-nav sim collect --perturb PRESET --perturb-share S` perturbs a share S of the drives and records both in the
dataset's data_config.yaml.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from gnm_nav.common.angles import wrap_angle
from gnm_nav.common.pose import Pose2D
from gnm_nav.sim.expert import ExpertConfig, GridPlanner, Route


@dataclass(frozen=True)
class Perturbation:
    start_offset_m: float = 0.0  # the start moved sideways of the route by up to this (where the floor is free)
    start_heading_rad: float = 0.0  # and turned by up to this
    expert: ExpertConfig = ExpertConfig()  # the driving: swerves (rate, strength, duration, share toward obstacles)

    def as_config(self) -> dict[str, Any]:
        """What data_config.yaml records of it (plain lists and numbers)."""
        return json.loads(json.dumps(asdict(self)))


PERTURBATIONS = {
    "none": Perturbation(),
    # starts up to 0.4 m off and 0.6 rad turned; a swerve every 5 s on average, up to 0.9 of the turn rate for up
    # to 1.8 s, half of them toward the nearer obstacle
    "recovery": Perturbation(start_offset_m=0.4, start_heading_rad=0.6,
                             expert=replace(ExpertConfig(), swerve_rate_hz=0.2, swerve_strength=(0.5, 0.9),
                                            swerve_duration_s=(0.6, 1.8), toward_obstacles=0.5)),
}


def perturbed_route(route: Route, planner: GridPlanner, perturbation: Perturbation,
                    rng: np.random.Generator) -> Route:
    """The route with its start moved and turned (the path is the route's: the expert drives back onto it). An
    offset that would put the body where it does not fit is halved until it does (at worst: no offset)."""
    if perturbation.start_offset_m <= 0 and perturbation.start_heading_rad <= 0:
        return route
    start = route.start
    along = route.path[min(5, len(route.path) - 1)] - route.path[0]
    heading = math.atan2(along[1], along[0]) if np.any(along) else start.yaw
    offset = float(rng.uniform(-perturbation.start_offset_m, perturbation.start_offset_m))
    turn = float(rng.uniform(-perturbation.start_heading_rad, perturbation.start_heading_rad))
    for _ in range(4):
        x, y = start.x - offset * math.sin(heading), start.y + offset * math.cos(heading)
        r, c = planner.cell(x, y)
        if 0 <= r < planner.free.shape[0] and 0 <= c < planner.free.shape[1] and planner.free[r, c]:
            break
        offset /= 2.0
    else:
        x, y = start.x, start.y
    return replace(route, start=Pose2D(x, y, float(wrap_angle(start.yaw + turn))))
