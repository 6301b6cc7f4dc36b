"""A planar pose: the simulator's ground truth and odometry, route starts, the evaluation's perturbed starts."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Pose2D:
    x: float  # m
    y: float  # m
    yaw: float  # rad
