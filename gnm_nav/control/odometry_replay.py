"""Blind teach and repeat: drive the odometry poses recorded in a graph again by pure pursuit on the robot's own
wheel odometry, with no camera at all.

It is the floor a visual navigation stack must beat: it assumes the robot starts exactly where the recording
started, facing the same way, so every start offset, every percent of odometry drift and every metre of route
adds to where it ends. The recorded poses must share one odometry frame (a graph recorded in one run).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import networkx as nx
import numpy as np

from gnm_nav.common.angles import wrap_angle
from gnm_nav.common.errors import GraphError

Pose = tuple[float, float, float]


@dataclass(frozen=True)
class ReplayConfig:
    lookahead_m: float = 0.5  # pure pursuit: steer at the first recorded point at least this far ahead
    arrive_radius_m: float = 0.2  # the end of the recording this near (by odometry): arrived
    search_ahead: int = 30  # recorded points searched ahead of the last progress for the nearest one

    def __post_init__(self) -> None:
        if not (self.lookahead_m > 0 and self.arrive_radius_m > 0 and self.search_ahead >= 1):
            raise ValueError(f"invalid replay configuration: {self}")


@dataclass(frozen=True)
class ReplayStep:
    carrot: np.ndarray  # [x, y] in the base frame: where to steer
    arrived: bool
    progress: float  # share of the recorded path passed


def recorded_path(graph: nx.DiGraph, start_node: int, goal_node: int) -> np.ndarray:
    """The recorded poses [N, 3] of the nodes on the shortest (temporal) path from start to goal. A few nodes
    without a pose (a frame recorded before the first odometry message) are left out; a path mostly without
    poses is refused."""
    for node in (start_node, goal_node):
        if node not in graph:
            raise GraphError(f"node {node} is not in the graph")
    try:
        nodes = nx.shortest_path(graph, start_node, goal_node, weight="weight")
    except nx.NetworkXNoPath:
        raise GraphError(f"no path from node {start_node} to node {goal_node} in the graph") from None
    posed = [n for n in nodes if graph.nodes[n].get("pose") is not None]
    if len(posed) < max(2, len(nodes) / 2):
        raise GraphError(f"{len(nodes) - len(posed)} of the {len(nodes)} nodes on the path have no odometry pose: "
                         "record the graph with odometry to replay it blind")
    return np.array([graph.nodes[n]["pose"] for n in posed], dtype=np.float64)


def _to_frame(origin: Pose, point: np.ndarray) -> np.ndarray:
    """Points given in the world, expressed in the frame of `origin` (x forward, y left)."""
    c, s = math.cos(origin[2]), math.sin(origin[2])
    d = np.asarray(point, dtype=np.float64) - np.array(origin[:2])
    return np.stack([c * d[..., 0] + s * d[..., 1], -s * d[..., 0] + c * d[..., 1]], axis=-1)


class OdometryReplay:
    """Fed odometry poses; says where to steer until the end of the recording is reached."""

    def __init__(self, recorded: np.ndarray, config: ReplayConfig = ReplayConfig()) -> None:
        recorded = np.asarray(recorded, dtype=np.float64).reshape(-1, 3)
        if len(recorded) < 2 or not np.all(np.isfinite(recorded)):
            raise GraphError("a replay needs at least two recorded poses, all finite")
        self.config = config
        self._recorded = recorded
        self._path: np.ndarray | None = None  # [N, 2] in the odometry frame of this run
        self._arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(recorded[:, :2], axis=0), axis=1))])
        self._index = 0

    def _start(self, odom: Pose) -> None:
        """The robot is taken to stand where the recording started: the recording's frame is placed on it."""
        x0, y0, yaw0 = self._recorded[0]
        local = _to_frame((x0, y0, yaw0), self._recorded[:, :2])
        c, s = math.cos(odom[2]), math.sin(odom[2])
        self._path = np.stack([odom[0] + c * local[:, 0] - s * local[:, 1],
                               odom[1] + s * local[:, 0] + c * local[:, 1]], axis=1)

    def step(self, odom: Pose) -> ReplayStep:
        if self._path is None:
            self._start(odom)
        assert self._path is not None
        here = np.array(odom[:2])
        end = min(len(self._path), self._index + self.config.search_ahead)
        window = np.linalg.norm(self._path[self._index:end] - here, axis=1)
        self._index += int(np.argmin(window))
        last = len(self._path) - 1
        ahead = np.flatnonzero(np.linalg.norm(self._path[self._index:] - here, axis=1) >= self.config.lookahead_m)
        target = self._path[self._index + int(ahead[0])] if ahead.size else self._path[last]
        to_end = float(np.linalg.norm(self._path[last] - here))
        heading_to_end = abs(float(wrap_angle(math.atan2(*(self._path[last] - here)[::-1]) - odom[2])))
        passed_end = self._index >= last - 1 and heading_to_end > math.pi / 2  # the end point is behind
        arrived = to_end <= self.config.arrive_radius_m or (passed_end and to_end <= self.config.lookahead_m)
        total = self._arc[-1]
        return ReplayStep(_to_frame(odom, target), arrived, float(self._arc[self._index] / total) if total > 0 else 1.0)
