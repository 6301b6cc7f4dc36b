"""Route planning on the graph and subgoal choice (the reference's close_threshold rule, on a real graph).

The path is the shortest by edge weight (temporal distance) from the closest node to the goal. The
subgoal is `lookahead` nodes along the path once the predicted distance to the closest node is
<= close_threshold, one fewer while the robot is still far from it (lookahead 1 is the reference's rule:
the closest node, then the next). If the closest node is not on the path (the robot took another branch
or was relocalised), the planner replans from it. Whether the goal is reached is graph.goal_checker's answer.
"""
from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

from gnm_nav.common.errors import GraphError

# Default of the planner node and replay. Graphs get a node per second of driving, ~0.2 m apart: the next node
# is too near to steer by, three along is not.
LOOKAHEAD = 3


@dataclass(frozen=True)
class PlanStep:
    subgoal: int | None  # node whose image the policy should drive to; None = no route (stop)
    path: tuple[int, ...]  # current path, closest node first
    goal_reached: bool  # the goal checker's verdict (the planner itself leaves it False)
    replanned: bool
    reason: str = ""  # why there is no subgoal


class Planner:
    def __init__(self, graph: nx.DiGraph, close_threshold: float = 3.0, lookahead: int = LOOKAHEAD) -> None:
        if lookahead < 1:
            raise ValueError(f"lookahead must be >= 1 node, got {lookahead}")
        self.graph = graph
        self.close_threshold = close_threshold
        self.lookahead = lookahead
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
        ahead = self.lookahead if distance <= self.close_threshold else self.lookahead - 1
        return PlanStep(self.path[min(ahead, len(self.path) - 1)], tuple(self.path), False, replanned)
