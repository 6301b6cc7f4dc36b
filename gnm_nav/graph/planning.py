"""Route planning on the graph and subgoal choice (the reference's close_threshold rule, on a real graph).

The path is the shortest by edge weight (temporal distance) from the closest node to the goal. The
subgoal is the node along the path whose recorded time from the closest node is nearest `horizon_s` (at
least the next one; a recording's node spacing jitters by a camera frame) once the predicted distance to the
closest node is <= close_threshold, and the node before it while the robot is still far from the closest
node (with a horizon of one node spacing this is the reference's rule: the closest node, then the next). The
horizon is in time, not nodes, so a graph recorded more densely (`record_interval_s`) gets a subgoal more
nodes along, as far ahead. If the closest node is not on the path (the robot took another branch or was
relocalised), the planner replans from it. Whether the goal is reached is graph.goal_checker's answer.
"""
from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np

from gnm_nav.common.errors import GraphError

# Seconds of recording from the closest node to the subgoal: three nodes on a graph with a node per second
# (docs/decisions.md).
SUBGOAL_HORIZON_S = 3.0


@dataclass(frozen=True)
class PlanStep:
    subgoal: int | None  # node whose image the policy should drive to; None = no route (stop)
    path: tuple[int, ...]  # current path, closest node first
    goal_reached: bool  # the goal checker's verdict (the planner itself leaves it False)
    replanned: bool
    reason: str = ""  # why there is no subgoal


def node_spacing_s(graph: nx.DiGraph) -> float:
    """Typical seconds of recording between neighbouring nodes: the median edge weight (1 without edges)."""
    weights = [float(w) for _, _, w in graph.edges(data="weight")]
    return float(np.median(weights)) if weights else 1.0


class Planner:
    def __init__(self, graph: nx.DiGraph, horizon_s: float = SUBGOAL_HORIZON_S,
                 close_threshold: float = 3.0) -> None:
        if not horizon_s > 0:
            raise ValueError(f"the subgoal horizon must be > 0 s, got {horizon_s}")
        self.graph = graph
        self.horizon_s = horizon_s
        self.close_threshold = close_threshold
        self.goal: int | None = None
        self.path: list[int] = []
        self.replans = 0

    def check_node(self, node: int) -> None:
        """GraphError unless `node` is a node of the graph."""
        if isinstance(node, bool) or not isinstance(node, int) or node not in self.graph:
            raise GraphError(f"goal node {node!r} does not exist in the graph "
                             f"({self.graph.number_of_nodes()} nodes, ids {min(self.graph)}..{max(self.graph)})")

    def set_goal(self, goal: int | None) -> None:
        """Validated goal node (None clears it); the next update plans toward it."""
        if goal is not None:
            self.check_node(goal)
        self.goal = goal
        self.path = []

    def plan(self, start: int) -> list[int]:
        if self.goal is None:
            raise GraphError("no goal node is set")
        try:
            return nx.shortest_path(self.graph, start, self.goal, weight="weight")
        except nx.NetworkXNoPath:
            raise GraphError(f"no route from node {start} to goal node {self.goal}") from None

    def update(self, closest: int | None, distance: float) -> PlanStep:
        """`distance`: predicted temporal distance (model steps) from the robot to `closest`."""
        if self.goal is None:
            return PlanStep(None, (), False, False, "no goal")
        if closest is None:
            return PlanStep(None, tuple(self.path), False, False, "not localised")
        replanned = False
        if closest not in self.path:
            replanned = bool(self.path)  # the first plan is not a replan
            try:
                self.path = self.plan(closest)
            except GraphError as exc:
                self.path = []
                return PlanStep(None, (), False, False, str(exc))
            self.replans += replanned
        else:
            self.path = self.path[self.path.index(closest):]
        ahead = self._at_horizon()
        if distance > self.close_threshold:
            ahead = max(ahead - 1, 0)
        return PlanStep(self.path[ahead], tuple(self.path), False, replanned)

    def _at_horizon(self) -> int:
        """Index on the path of the node whose recorded time from the closest one is nearest horizon_s (at least
        the next; the nearer of two equally near)."""
        best, best_gap, elapsed = min(1, len(self.path) - 1), float("inf"), 0.0
        for k in range(1, len(self.path)):
            elapsed += float(self.graph.edges[self.path[k - 1], self.path[k]]["weight"])
            gap = abs(elapsed - self.horizon_s)
            if gap >= best_gap:
                break
            best, best_gap = k, gap
        return best
