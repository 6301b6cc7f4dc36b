"""Wheel odometry as a prior for localisation: where in the graph the robot must be, between image matches.

Graph nodes carry the pose the recording robot's odometry gave (`pose`, one frame per recording session).
Whenever the localiser is sure of a node (its predicted distance is at most `confirm_distance`), the pair
(node pose, current odometry) is an anchor; a rigid transform odometry -> that session's frame is fitted to the
recent anchors, so the current odometry predicts the robot's pose among the session's nodes. The prediction
drifts with the distance driven since the last anchor, and so does the tolerance around it. The localiser
uses it twice: a node far from the prediction must be that much closer in the model's eyes to be believed
(look-alikes across a wall lose), and while the images match nothing the belief follows the odometry for up to
`max_dead_reckoning_m` (the robot keeps its place in the graph through a view the model does not recognise).
The policy may also steer partly toward where the odometry puts a node a little along the path (`carrot`, see
gnm_nav.control.controller.steer_toward). Odometry can veto a goal the model sees (`disagreement_m`), and declare one
the model does not (`arrived`): freshly anchored, with the model's belief near the goal too, it puts the robot on the
goal node (the model often never scores the last node of a recording close once it arrives a little turned).
A start hint is an anchor too (`assume`): a robot told where it stands can follow the odometry from there before
any image matches (a changed scene may not match for metres), until the first confident match replaces it.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np

from gnm_nav.common.angles import wrap_angle

Pose = tuple[float, float, float]  # x, y, yaw


@dataclass(frozen=True)
class OdometryConfig:
    confirm_distance: float = 4.5  # model steps; a believed node this close anchors the odometry (an unseen body's
    # distances run high: 4.1 at 0.25 m from the start node of a tuning route, which then never anchored at 3)
    tolerance_m: float = 0.75  # distance from the prediction that costs nothing
    drift: float = 0.15  # the tolerance grows by this many metres per metre driven since the last anchor
    penalty: float = 6.0  # model steps per metre beyond the tolerance
    max_dead_reckoning_m: float = 6.0  # follow the odometry alone at most this far past the last anchor (long
    # look-alike corridors outlast 3 m; wheel odometry drifts ~1-2% of that)
    anchors: int = 12  # recent anchors the transform is fitted to
    arrive_radius_m: float = 0.3  # the odometry puts the robot this near the goal node: reached (0 = model only)

    def __post_init__(self) -> None:
        if (self.confirm_distance < 0 or self.tolerance_m < 0 or self.drift < 0 or self.penalty < 0
                or self.max_dead_reckoning_m < 0 or self.anchors < 1 or self.arrive_radius_m < 0):
            raise ValueError(f"invalid odometry configuration: {self}")


@dataclass(frozen=True)
class _Anchor:
    node: int
    graph_pose: np.ndarray  # [3] node pose in its session's frame
    odom_pose: np.ndarray  # [3] the robot's odometry when the node was confirmed
    distance: float  # the model's distance at the time (smaller = the robot was nearer the node)
    assumed: bool = False  # a start hint's, not a match's: the first confident match replaces it


def fit_rigid(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray]:
    """Least-squares rotation angle and translation with dst ~ R(angle) src + t (2-D Kabsch, no reflection)."""
    cs, cd = src.mean(axis=0), dst.mean(axis=0)
    a, b = src - cs, dst - cd
    angle = math.atan2(float(np.sum(a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0])), float(np.sum(a * b)))
    c, s = math.cos(angle), math.sin(angle)
    return angle, cd - np.array([[c, -s], [s, c]]) @ cs


class OdometryPrior:
    """Fed the newest odometry and the localiser's confident beliefs; predicts the robot's pose in the graph."""

    MIN_SPREAD_M = 1.5  # anchors this far apart fix the rotation by their positions; closer, by their headings
    ARRIVE_BELIEF_M = 1.5  # `arrived` needs the model's belief at most this far from the goal node

    def __init__(self, graph: nx.DiGraph, config: OdometryConfig = OdometryConfig()) -> None:
        self.config = config
        self._session = {n: d.get("session", 0) for n, d in graph.nodes(data=True) if d.get("pose") is not None}
        self._pose = {n: np.asarray(graph.nodes[n]["pose"], dtype=np.float64) for n in self._session}
        self._anchors: list[_Anchor] = []
        self._odom: np.ndarray | None = None
        self.travelled_m = 0.0  # odometry path length since the last anchor
        self._fit: tuple[int, float, np.ndarray] | None = None  # session, angle, translation
        self._assumed: int | None = None  # a start hint waiting for the first odometry to anchor at

    @property
    def usable(self) -> bool:
        """The graph has poses and odometry is arriving."""
        return bool(self._pose) and self._odom is not None

    @property
    def pose(self) -> np.ndarray | None:
        """The newest odometry [x, y, yaw] in its own frame (None before any)."""
        return self._odom

    def observe(self, pose: Pose) -> None:
        odom = np.asarray(pose, dtype=np.float64)
        if self._odom is not None:
            self.travelled_m += float(np.hypot(*(odom[:2] - self._odom[:2])))
        self._odom = odom
        self._anchor_assumed()

    def assume(self, node: int) -> None:
        """The robot is told it stands at `node` (a start hint): drop the anchors and anchor there, now or at the
        next odometry, as weakly as a match can (confirm_distance), until the first confident match replaces it."""
        self.forget()
        self._assumed = node if node in self._pose else None
        self._anchor_assumed()

    def _anchor_assumed(self) -> None:
        if self._assumed is not None and self._odom is not None:
            self._anchor(self._assumed, self.config.confirm_distance, assumed=True)
            self._assumed = None

    def confirm(self, node: int, distance: float) -> None:
        """The localiser is sure of `node` (model distance `distance`): anchor the odometry there."""
        if self._odom is None or node not in self._pose or distance > self.config.confirm_distance:
            return
        if any(a.assumed for a in self._anchors):
            self._anchors, self._fit = [a for a in self._anchors if not a.assumed], None
        self._anchor(node, distance)

    def _anchor(self, node: int, distance: float, assumed: bool = False) -> None:
        if self._odom is None:
            return
        if self._anchors and self._session[self._anchors[-1].node] != self._session[node]:
            self._anchors = []  # another recording session: another odometry frame
        same = [i for i, a in enumerate(self._anchors) if a.node == node]
        if same and self._anchors[same[0]].distance <= distance:
            self.travelled_m = 0.0  # seen it again, no nearer than before: keep the better anchor
            return
        if same:
            del self._anchors[same[0]]
        self._anchors = [*self._anchors, _Anchor(node, self._pose[node], self._odom.copy(), distance, assumed)]
        self._anchors = self._anchors[-self.config.anchors:]
        self.travelled_m = 0.0
        self._fit = None

    def forget(self) -> None:
        """Drop the anchors (a kidnapped robot, a new graph): predictions wait for a fresh confident match."""
        self._anchors, self._fit, self.travelled_m, self._assumed = [], None, 0.0, None

    def _transform(self) -> tuple[int, float, np.ndarray] | None:
        if not self._anchors:
            return None
        if self._fit is None:
            g = np.stack([a.graph_pose for a in self._anchors])
            o = np.stack([a.odom_pose for a in self._anchors])
            if np.ptp(o[:, :2], axis=0).max() >= self.MIN_SPREAD_M:
                angle, t = fit_rigid(o[:, :2], g[:, :2])
            else:  # too close together to fix a rotation: headings say it, the newest anchor places it
                angle = math.atan2(float(np.mean(np.sin(g[:, 2] - o[:, 2]))), float(np.mean(np.cos(g[:, 2] - o[:, 2]))))
                c, s = math.cos(angle), math.sin(angle)
                t = g[-1, :2] - np.array([[c, -s], [s, c]]) @ o[-1, :2]
            self._fit = (self._session[self._anchors[-1].node], angle, t)
        return self._fit

    def predict(self) -> tuple[int, np.ndarray] | None:
        """(session, predicted [x, y, yaw] in its frame), or None without anchors or odometry."""
        fit = self._transform()
        if fit is None or self._odom is None:
            return None
        session, angle, t = fit
        c, s = math.cos(angle), math.sin(angle)
        xy = np.array([[c, -s], [s, c]]) @ self._odom[:2] + t
        return session, np.array([xy[0], xy[1], wrap_angle(float(self._odom[2]) + angle)])

    def trusted_prediction(self) -> tuple[int, np.ndarray] | None:
        """predict(), while the odometry may be followed alone: at most max_dead_reckoning_m past the last anchor."""
        return self.predict() if self.travelled_m <= self.config.max_dead_reckoning_m else None

    @property
    def tolerance_m(self) -> float:
        return self.config.tolerance_m + self.config.drift * self.travelled_m

    def offsets_m(self, nodes: list[int]) -> np.ndarray:
        """Metres from the prediction to each node (nan: no prediction, no pose, or another session)."""
        pred = self.predict()
        out = np.full(len(nodes), np.nan)
        if pred is None:
            return out
        session, p = pred
        for i, n in enumerate(nodes):
            if self._session.get(n) == session:
                out[i] = float(np.hypot(*(self._pose[n][:2] - p[:2])))
        return out

    def penalty(self, nodes: list[int]) -> np.ndarray:
        """Model steps added to each node's distance for being away from where the odometry puts the robot."""
        off = self.offsets_m(nodes)
        return np.where(np.isnan(off), 0.0, self.config.penalty * np.maximum(off - self.tolerance_m, 0.0))

    def disagreement_m(self, node: int) -> float:
        """Metres beyond its tolerance that the odometry puts the robot from `node` (0: agrees, or cannot tell)."""
        off = float(self.offsets_m([node])[0])
        return 0.0 if math.isnan(off) else max(off - self.tolerance_m, 0.0)

    def arrived(self, goal: int, believed: int | None) -> float | None:
        """Metres from where the odometry puts the robot to `goal` when that is within arrive_radius_m, the odometry
        may be trusted (anchored at most max_dead_reckoning_m ago) and the localiser's node `believed` lies within
        ARRIVE_BELIEF_M of the goal in the same session; None otherwise."""
        pred = self.trusted_prediction()
        if (self.config.arrive_radius_m <= 0 or pred is None or believed is None or goal not in self._pose
                or not pred[0] == self._session[goal] == self._session.get(believed)
                or float(np.hypot(*(self._pose[believed][:2] - self._pose[goal][:2]))) > self.ARRIVE_BELIEF_M):
            return None
        off = float(np.hypot(*(self._pose[goal][:2] - pred[1][:2])))
        return off if off <= self.config.arrive_radius_m else None

    def carrot(self, path: Sequence[int], min_range_m: float) -> np.ndarray | None:
        """[x, y] in the robot's base frame now (metres, x ahead, y left) of the first node along `path` at least
        min_range_m away, or of the last one there is when none is (pure pursuit's carrot); None while the
        odometry may not be trusted or no node of `path` lies in the predicted session."""
        pred = self.trusted_prediction()
        if pred is None:
            return None
        session, p = pred
        c, s = math.cos(p[2]), math.sin(p[2])
        carrot = None
        for node in path:
            if self._session.get(node) != session:
                continue
            d = self._pose[node][:2] - p[:2]
            carrot = np.array([c * d[0] + s * d[1], -s * d[0] + c * d[1]])
            if float(np.hypot(*carrot)) >= min_range_m:
                break
        return carrot

    def nearest(self) -> int | None:
        """The node where the odometry alone puts the robot (position, then heading), while it may be trusted."""
        pred = self.trusted_prediction()
        if pred is None:
            return None
        session, p = pred
        nodes = [n for n, s in self._session.items() if s == session]
        poses = np.stack([self._pose[n] for n in nodes])
        heading = np.abs([wrap_angle(float(y) - float(p[2])) for y in poses[:, 2]])
        cost = np.hypot(poses[:, 0] - p[0], poses[:, 1] - p[1]) + 0.3 * heading  # 0.3 m per radian of heading
        best = int(np.argmin(cost))
        return nodes[best] if float(np.hypot(*(poses[best, :2] - p[:2]))) <= self.tolerance_m else None

    def within_tolerance(self) -> list[int]:
        """Nodes near the prediction (candidates a relocalisation must score whatever their descriptors say)."""
        pred = self.predict()
        if pred is None:
            return []
        nodes = list(self._session)
        off = self.offsets_m(nodes)
        return [n for n, d in zip(nodes, off) if not np.isnan(d) and d <= self.tolerance_m]
