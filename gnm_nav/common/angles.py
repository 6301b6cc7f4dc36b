"""Angles wrapped to [-pi, pi) (the sim, the graph's odometry, the LDM data, recovery), yaw <-> quaternion (messages,
bags, the renderer) and the unit vector to a heading's left (side twins and their labels): one definition each."""
from __future__ import annotations

import math
from typing import TypeVar

import numpy as np

Angle = TypeVar("Angle", float, np.ndarray)


def wrap_angle(a: Angle) -> Angle:
    """Works on floats and on numpy arrays (elementwise)."""
    return (a + math.pi) % (2 * math.pi) - math.pi


def left_of(yaws: np.ndarray) -> np.ndarray:
    """Unit vectors [..., 2] pointing left of headings yaws [...] (the heading turned +90 degrees)."""
    yaws = np.asarray(yaws, np.float64)
    return np.stack([-np.sin(yaws), np.cos(yaws)], axis=-1)


def yaw_to_quaternion(yaw: float) -> tuple[float, float, float, float]:
    """(x, y, z, w) of a rotation about +z."""
    return 0.0, 0.0, math.sin(yaw / 2.0), math.cos(yaw / 2.0)


def quaternion_to_yaw(x: float, y: float, z: float, w: float) -> float:
    return math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))
