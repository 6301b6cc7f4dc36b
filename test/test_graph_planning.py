"""Planning on a branched graph: shortest route by weight, subgoal rule, replanning, bad goals; the goal checker."""
from __future__ import annotations

import networkx as nx
import pytest

from gnm_nav.common.errors import GraphError
from gnm_nav.graph.goal_checker import GoalChecker
from gnm_nav.graph.planning import SUBGOAL_HORIZON_S, Planner


@pytest.fixture
def branched() -> nx.DiGraph:
    """0-1-2 then two branches to 9: a long one 3..7 (5 x 1 s) and a short one 10-11 (2 x 1 s), plus a dead end 20."""
    g = nx.DiGraph()
    nx.add_path(g, [0, 1, 2, 3, 4, 5, 6, 7, 9], weight=1.0, kind="temporal")
    nx.add_path(g, [2, 10, 11, 9], weight=1.0, kind="temporal")
    g.add_edge(5, 20, weight=1.0, kind="temporal")
    return g


HORIZON_S = 2.25  # seconds of recording: between two and three of these graphs' 1 s edges


def test_shortest_route_by_weight(branched):
    planner = Planner(branched, HORIZON_S)
    planner.set_goal(9)
    assert planner.plan(0) == [0, 1, 2, 10, 11, 9]
    branched.edges[2, 10]["weight"] = 10.0  # the short branch becomes expensive
    assert planner.plan(0) == [0, 1, 2, 3, 4, 5, 6, 7, 9]


def test_subgoal_is_next_node_once_close(branched):
    planner = Planner(branched, horizon_s=1.0, close_threshold=3.0)  # a node per horizon: the reference's rule
    planner.set_goal(9)
    far = planner.update(1, distance=6.0)
    assert far.subgoal == 1 and far.path == (1, 2, 10, 11, 9) and not far.replanned
    near = planner.update(1, distance=2.0)
    assert near.subgoal == 2
    assert planner.update(2, distance=1.0).subgoal == 10  # took the branch point, heads down the short branch


def test_subgoal_lies_at_the_horizon(branched):
    default = Planner(branched)
    default.set_goal(9)
    assert default.horizon_s == SUBGOAL_HORIZON_S and default.update(1, distance=2.0).subgoal == 11  # 3 nodes
    branched.edges[2, 10]["weight"] = 1.1  # a node recorded a camera frame late: still three along
    assert default.update(1, distance=2.0).subgoal == 11
    branched.edges[2, 10]["weight"] = 1.0
    planner = Planner(branched, HORIZON_S, close_threshold=3.0)
    planner.set_goal(9)
    assert planner.update(1, distance=2.0).subgoal == 10  # 2 s of recording ahead; 11 lies 3 s ahead
    assert planner.update(1, distance=6.0).subgoal == 2  # one node fewer while still far from the closest node
    assert planner.update(11, distance=2.0).subgoal == 9  # never beyond the goal
    for u, v in branched.edges:  # recorded twice as densely: the same horizon spans twice the nodes
        branched.edges[u, v]["weight"] = 0.5
    planner.set_goal(9)
    assert planner.update(0, distance=2.0).subgoal == 11  # 0 -> 1 -> 2 -> 10 -> 11: 2 s
    branched.edges[11, 9]["weight"] = 5.0  # a node further off than the horizon: still the next one
    assert planner.update(11, distance=2.0).subgoal == 9
    with pytest.raises(ValueError, match="horizon"):
        Planner(branched, horizon_s=0.0)


def test_replans_when_the_robot_leaves_the_path(branched):
    planner = Planner(branched, horizon_s=1.0)
    planner.set_goal(9)
    planner.update(0, 1.0)
    off = planner.update(4, 1.0)  # the robot went down the long branch anyway
    assert off.replanned and off.path == (4, 5, 6, 7, 9) and off.subgoal == 5 and planner.replans == 1
    stuck = planner.update(20, 1.0)  # a dead end: no route, no subgoal
    assert stuck.subgoal is None and "no route from node 20" in stuck.reason


def test_goal_reached_only_when_close_to_the_goal():
    checker = GoalChecker(threshold=3.0)
    assert not checker.check(9, closest=9, distance=5.0).reached
    assert checker.check(9, closest=9, distance=1.0).reached
    # the last nodes of a recording look alike: the model putting the goal itself near is enough
    assert checker.check(9, closest=11, distance=1.0, scored={11: 1.0, 9: 2.0}).reached
    assert not checker.check(9, closest=11, distance=1.0, scored={11: 1.0, 9: 4.0}).reached
    assert not checker.check(None, closest=9, distance=0.0).reached and not checker.check(9, None, 0.0).reached


def test_the_planner_leaves_the_goal_to_the_checker(branched):
    planner = Planner(branched, HORIZON_S)
    planner.set_goal(9)
    at_goal = planner.update(9, distance=0.5)
    assert at_goal.subgoal == 9 and not at_goal.goal_reached


def test_bad_goal_and_no_goal(branched):
    planner = Planner(branched, HORIZON_S)
    assert planner.update(0, 1.0).subgoal is None
    with pytest.raises(GraphError, match="goal node 99 does not exist"):
        planner.set_goal(99)
    with pytest.raises(GraphError, match="goal node '3' does not exist"):
        planner.set_goal("3")  # type: ignore[arg-type]
    planner.set_goal(9)
    assert planner.update(None, float("inf")).reason == "not localised"
