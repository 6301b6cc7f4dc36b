"""Recording a graph while a person drives (ROS-free core of graph_builder_node and `gnm-nav graph build`).

A node is added every `record_interval_s` of stamp time, or every `record_distance_m` of travel when
poses (odometry) are given, linked to the previous node of the session by a temporal edge (weight =
elapsed seconds). Several sessions grow one graph: with a model, the first frame of a new session is
matched against the nodes that existed before it (it attaches where it starts), and so is the last
(it merges where it ends), adding `shortcut` edges both ways, so routes branch and merge.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from gnm_nav.graph.bank import NodeBank
from gnm_nav.graph.localization import Localizer, LocalizerConfig, bank_for_graph, single_frame_obs
from gnm_nav.graph.store import TopoGraph

MIN_EDGE_WEIGHT_S = 0.05  # a link between two views of one place still costs a little, so paths stay short
LINK_DISTANCE = 4.5  # model steps: a session attaches or merges only where the model is this sure (as the
# planner's odometry anchoring, odom_confirm_distance; see docs/decisions.md)


class SessionLinker:
    """Matches a single frame against a fixed set of nodes with the model (descriptor top-K, then distances)."""

    def __init__(self, engine, bank: NodeBank, graph: TopoGraph, link_distance: float = LINK_DISTANCE,
                 config: LocalizerConfig = LocalizerConfig()) -> None:
        card = engine.card
        self.card = card
        self.link_distance = link_distance
        self.localizer = Localizer(graph.g, bank, engine.evaluate, config, card.image_size, card.center_crop)

    @classmethod
    def for_graph(cls, engine, graph: TopoGraph, link_distance: float = LINK_DISTANCE) -> "SessionLinker | None":
        """A linker over the graph's current nodes, or None when there is nothing to link to."""
        if len(graph) == 0:
            return None
        bank = bank_for_graph(graph, engine.card.image_size, engine.card.center_crop)
        return cls(engine, bank, graph, link_distance)

    def match(self, rgb: np.ndarray) -> tuple[int, float] | None:
        obs = single_frame_obs(rgb, self.card.context_size, self.card.image_size, self.card.center_crop)
        node, dist, _, _ = self.localizer.relocalize(obs, rgb)
        if node is None or dist > self.link_distance:
            return None
        return node, dist

    def edge_weight_s(self, dist_steps: float) -> float:
        return max(MIN_EDGE_WEIGHT_S, dist_steps * self.card.context_spacing_s)


@dataclass
class SessionSummary:
    session: int
    nodes: list[int] = field(default_factory=list)
    attached_to: tuple[int, float] | None = None  # (existing node, predicted distance) at the start
    merged_into: tuple[int, float] | None = None  # ... and at the end


class GraphBuilder:
    def __init__(self, graph: TopoGraph, record_interval_s: float = 1.0, record_distance_m: float = 0.0,
                 linker: SessionLinker | None = None) -> None:
        if record_interval_s <= 0 or record_distance_m < 0:
            raise ValueError(f"record_interval_s must be > 0 and record_distance_m >= 0, "
                             f"got {record_interval_s}, {record_distance_m}")
        self.graph = graph
        self.record_interval_s = record_interval_s
        self.record_distance_m = record_distance_m
        self.linker = linker
        self.session: SessionSummary | None = None
        self._last: tuple[int, float, tuple[float, float, float] | None] | None = None  # node, stamp, pose
        self._last_rgb: np.ndarray | None = None

    def start_session(self) -> SessionSummary:
        sessions = [d.get("session", 0) for _, d in self.graph.g.nodes(data=True)]
        self.session = SessionSummary(max(sessions, default=-1) + 1)
        self._last = None
        return self.session

    def _due(self, stamp: float, pose: tuple[float, float, float] | None) -> bool:
        if self._last is None:
            return True
        _, last_stamp, last_pose = self._last
        if self.record_distance_m > 0 and pose is not None and last_pose is not None:
            return math.dist(pose[:2], last_pose[:2]) >= self.record_distance_m
        return stamp - last_stamp >= self.record_interval_s

    def offer(self, rgb: np.ndarray, stamp: float, pose: tuple[float, float, float] | None = None) -> int | None:
        """A camera frame; returns the new node id when it was recorded."""
        if self.session is None:
            self.start_session()
        assert self.session is not None
        self._last_rgb = rgb
        if self._last is not None and stamp <= self._last[1]:
            return None  # duplicate or out-of-order frame
        if not self._due(stamp, pose):
            return None
        node = self.graph.add_node(rgb, stamp, pose, session=self.session.session)
        if self._last is None:
            if self.linker is not None:
                self.session.attached_to = self._link(node, rgb)
        else:
            prev, prev_stamp, _ = self._last
            self.graph.add_edge(prev, node, max(MIN_EDGE_WEIGHT_S, stamp - prev_stamp), "temporal")
        self._last = (node, stamp, pose)
        self.session.nodes.append(node)
        return node

    def backfill_pose(self, pose_at: Callable[[float], tuple[float, float, float] | None]) -> int | None:
        """Give the newest node the pose at its stamp when it was recorded before that odometry arrived (a
        session's first frame often beats the first odometry message, and a node without a pose can never
        anchor the odometry); returns the node when it got one."""
        if self._last is None or self._last[2] is not None:
            return None
        node, stamp, _ = self._last
        pose = pose_at(stamp)
        if pose is None:
            return None
        self.graph.g.nodes[node]["pose"] = [float(p) for p in pose]
        self._last = (node, stamp, (float(pose[0]), float(pose[1]), float(pose[2])))
        return node

    def end_session(self) -> SessionSummary | None:
        """Close the session: merge its last node into the graph of earlier sessions when the model says so."""
        session, self.session = self.session, None
        if session is None:
            return None
        if self.linker is not None and self._last is not None and len(session.nodes) > 1:
            last_node = self._last[0]
            session.merged_into = self._link(last_node, self.graph.image(last_node))
        self._last = None
        return session

    def _link(self, node: int, rgb: np.ndarray) -> tuple[int, float] | None:
        assert self.linker is not None
        match = self.linker.match(rgb)
        if match is not None:
            other, dist = match
            weight = self.linker.edge_weight_s(dist)
            self.graph.add_edge(other, node, weight, "shortcut")
            self.graph.add_edge(node, other, weight, "shortcut")
        return match
