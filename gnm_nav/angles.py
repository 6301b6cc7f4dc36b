"""Angles wrapped to [-pi, pi): one definition for the sim, the graph's odometry, the LDM data and recovery."""
from __future__ import annotations

import math
from typing import TypeVar

import numpy as np

Angle = TypeVar("Angle", float, np.ndarray)


def wrap_angle(a: Angle) -> Angle:
    """Works on floats and on numpy arrays (elementwise)."""
    return (a + math.pi) % (2 * math.pi) - math.pi
