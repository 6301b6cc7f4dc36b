"""A drive's side twin: the same drive seen from beside its line, so the model can learn to come back to it.

On a taught route the robot is rarely on the recorded line: a node match anchors the odometry as if it stood
on the node while it stands 0.11 m aside (p50; p90 0.30 m, docs/decisions.md "Where the carrot's offset comes
from"), and the expert's own drives never show the view from beside the line toward a goal on it. The side
twin renders every pose of a drive moved sideways by one offset (less where the body would not fit there);
the trainer pairs its frames, as the context, with the drive's own goals and future poses as labels
(gnm_nav.gnm.training.samples, `side_context_prob`), so the waypoints lead back onto the line.

A twin may also be turned (`side_turn_deg`): every heading off the drive's by one angle drawn per drive. The model's
heading errors are what its goal must correct: a turned view with the drive's goal can only be told apart from
the drive's own view by comparing it with the goal (or the scene's lines). Pixel-shifted frames teach the same
answer but leak it through their filled edge band (docs/decisions.md, "Steering that does not read its goal").
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from gnm_nav.common.angles import left_of

# |offset| drawn per drive: the lateral errors the closed loop shows (p50 0.11 m, p90 0.30 m) and a little more
SIDE_OFFSET_RANGE_M = (0.1, 0.4)
_SHRINK = (1.0, 0.75, 0.5, 0.25, 0.0)  # where the full offset does not fit the body, the first of these that does


def draw_side_offset(rng: np.random.Generator) -> float:
    """A signed sideways offset (metres, + = left of the direction of travel)."""
    low, high = SIDE_OFFSET_RANGE_M
    return float(rng.uniform(low, high) * rng.choice((-1.0, 1.0)))


def draw_side_turn(rng: np.random.Generator, max_turn_rad: float) -> float:
    """A signed heading offset (radians, + = turned left), uniform within +-max_turn_rad (0: never turned)."""
    return float(rng.uniform(-max_turn_rad, max_turn_rad)) if max_turn_rad > 0 else 0.0


def side_poses(positions: np.ndarray, yaws: np.ndarray, offset_m: float,
               clearance_at: Callable[[float, float], float], body_radius_m: float) -> np.ndarray:
    """Positions [T, 2] moved `offset_m` to the left of each pose's heading (headings unchanged); at a pose
    where the body would not fit there, the largest fraction of the offset that fits (0: the pose itself)."""
    normal = left_of(yaws)
    out = np.array(positions, np.float64, copy=True)
    for i in range(len(out)):
        for fraction in _SHRINK:
            x, y = positions[i] + fraction * offset_m * normal[i]
            if fraction == 0.0 or clearance_at(float(x), float(y)) >= body_radius_m:
                out[i] = (x, y)
                break
    return out
