"""Anchor mode: the public deployment code's localisation rule (window closest-4..closest+5 capped at the
goal, argmin, advance past a node closer than close_threshold, no hysteresis or relocalisation)."""
from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from gnm_nav.common.errors import GraphError
from gnm_nav.graph.localization import WindowLocalizer


class Line:
    """A robot at position `pos` (in node units) on a linear route; the model predicts 4 steps per node."""

    def __init__(self) -> None:
        self.pos = 0.0
        self.calls: list[list[int]] = []

    def goal_tensor(self, nodes):
        self.calls.append(list(nodes))
        return np.array(nodes, dtype=np.float32).reshape(-1, 1)

    def evaluate(self, obs, goals):
        dist = np.abs(goals[:, 0] - self.pos) * 4.0
        return dist.astype(np.float32), np.zeros((len(goals), 5, 4), np.float32)


def _route(n: int = 20) -> nx.DiGraph:
    g = nx.DiGraph()
    nx.add_path(g, range(n))
    return g


def test_window_is_closest_minus_4_to_plus_5_capped_at_goal():
    line = Line()
    loc = WindowLocalizer(_route(), line, line.evaluate, close_threshold=3.0)
    loc.set_goal(12)
    line.pos = 0.2
    loc.step(None)
    assert line.calls[-1] == list(range(0, 6))  # starts at node 0: [0, 0+5]
    line.pos = 7.0  # closest=7 -> within 3 steps -> advance to 8
    for _ in range(3):
        loc.step(None)
    assert loc.index == 8
    loc.step(None)
    assert line.calls[-1] == list(range(4, 13))  # [8-4, min(8+5, goal 12)]


def test_advances_past_a_close_node_and_reaches_the_goal_by_index():
    line = Line()
    loc = WindowLocalizer(_route(), line, line.evaluate, close_threshold=3.0)
    loc.set_goal(5)
    line.pos = 2.0  # exactly at node 2 (distance 0 <= 3) -> localised to node 3
    assert loc.step(None).closest == 3
    line.pos = 4.0  # at node 4 -> advance -> 5 == goal
    assert loc.step(None).closest == 5


def test_no_relocalisation_outside_the_window():
    line = Line()
    loc = WindowLocalizer(_route(), line, line.evaluate, close_threshold=0.5)
    loc.set_goal(19)
    line.pos = 15.0  # the robot is really at node 15, far outside the window around node 0
    assert loc.step(None).closest == 5  # the best the window [0, 5] offers; the public code cannot jump
    assert loc.step(None).closest == 10


def test_navigator_rejects_unknown_mode(gnm_model_path, tmp_path):
    from gnm_nav.gnm.engine import GNMEngine
    from gnm_nav.graph.navigator import Navigator
    from gnm_nav.graph.store import TopoGraph

    graph = TopoGraph()
    for i in range(3):
        graph.add_node(np.full((64, 85, 3), 40 * i, np.uint8), float(i))
    for i in range(2):
        graph.add_edge(i, i + 1, 1.0, "temporal")
    engine = GNMEngine(gnm_model_path, providers="cpu")
    with pytest.raises(GraphError, match="localization_mode"):
        Navigator(graph, engine, localization_mode="nearest")
    nav = Navigator(graph, engine, localization_mode="window")
    nav.set_goal(2)
    frame = np.zeros((120, 160, 3), np.uint8)
    step = None
    for k in range(12):
        nav.on_frame(frame, k * 0.25)
        step = nav.tick() or step
    assert step is not None and step.plan.subgoal == step.closest
    assert step.plan.goal_reached == (step.closest == 2)
