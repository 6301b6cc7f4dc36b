"""The pose at a frame's own stamp, from a short history of odometry."""
from __future__ import annotations

import math

from gnm_nav.ros.odometry import PoseHistory


def test_nearest_pose_within_max_age():
    h = PoseHistory(span_s=1.0)
    assert h.at(0.0, 1.0) is None
    for k in range(40):  # 2 s at 20 Hz; x = the message's number
        h.add(k * 0.05, (float(k), 0.0, 0.0))
    assert h.at(1.52, 0.1) == (30.0, 0.0, 0.0)
    assert h.at(1.53, 0.1) == (31.0, 0.0, 0.0)
    assert h.at(0.5, 0.1) is None  # older than the span: forgotten
    assert h.at(2.5, 0.1) is None  # newer than anything heard
    assert h.at(2.0, 0.1) == (39.0, 0.0, 0.0)


def test_non_finite_poses_are_ignored_and_time_going_back_starts_over():
    h = PoseHistory()
    h.add(1.0, (1.0, 0.0, 0.0))
    h.add(1.1, (math.nan, 0.0, 0.0))
    h.add(math.inf, (2.0, 0.0, 0.0))
    assert h.at(1.1, 0.2) == (1.0, 0.0, 0.0)
    h.add(0.2, (5.0, 0.0, 0.0))  # a restarted sim clock
    assert h.at(1.0, 0.2) is None and h.at(0.2, 0.0) == (5.0, 0.0, 0.0)
