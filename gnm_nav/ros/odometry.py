"""nav_msgs/Odometry -> the planar pose the core works with, and the pose at a camera frame's own time."""
from __future__ import annotations

import bisect
import math
import threading
from collections import deque

from gnm_nav.common.angles import quaternion_to_yaw

Pose2D = tuple[float, float, float]


def pose_2d(msg) -> Pose2D:
    """(x, y, yaw) of an Odometry message's pose."""
    q, p = msg.pose.pose.orientation, msg.pose.pose.position
    return float(p.x), float(p.y), quaternion_to_yaw(q.x, q.y, q.z, q.w)


class PoseHistory:
    """The last `span_s` seconds of odometry, so a camera frame handled late (a busy CPU queues frames)
    still gets the pose of its own stamp, not whatever odometry came in last. Thread-safe (odometry and
    camera callbacks may run on different executor threads)."""

    def __init__(self, span_s: float = 5.0) -> None:
        self.span_s = span_s
        self._stamps: deque[float] = deque()
        self._poses: deque[Pose2D] = deque()
        self._lock = threading.Lock()

    def add(self, stamp: float, pose: Pose2D) -> None:
        if not (math.isfinite(stamp) and all(math.isfinite(v) for v in pose)):
            return
        with self._lock:
            self._add(stamp, pose)

    def _add(self, stamp: float, pose: Pose2D) -> None:
        if self._stamps and stamp < self._stamps[-1]:  # time went backwards (a restarted sim, a looped bag)
            self._stamps.clear()
            self._poses.clear()
        self._stamps.append(stamp)
        self._poses.append(pose)
        while self._stamps[0] < stamp - self.span_s:
            self._stamps.popleft()
            self._poses.popleft()

    def at(self, stamp: float, max_age_s: float) -> Pose2D | None:
        """The pose stamped nearest to `stamp`, if within max_age_s of it."""
        with self._lock:
            return self._at(stamp, max_age_s)

    def _at(self, stamp: float, max_age_s: float) -> Pose2D | None:
        i = bisect.bisect_left(self._stamps, stamp)
        near = [j for j in (i - 1, i) if 0 <= j < len(self._stamps)]
        if not near:
            return None
        best = min(near, key=lambda j: abs(self._stamps[j] - stamp))
        return self._poses[best] if abs(self._stamps[best] - stamp) <= max_age_s else None
