"""Goal lists (missions): goals reached in order, each reported once, the mission's end is the only arrival;
a list naming an unknown node changes nothing; "you are at node N" re-localises around N."""
from __future__ import annotations

import pytest
from test_graph_odometry import line_navigator, run_script

from gnm_nav.common.errors import GnmNavError, GraphError
from gnm_nav.graph.mission import Mission
from gnm_nav.graph.nav_state import GoalProgress, NavState, mission_progress


def test_mission_moves_through_its_goals_once():
    mission = Mission((4, 9, 4))  # a patrol may come back to a node
    assert mission.current == 4 and not mission.complete and mission.describe() == "goal 1 of 3: node 4"
    events = [mission.reached() for _ in range(4)]
    assert [(e.index, e.node, e.next_goal) for e in events[:3]] == [(0, 4, 9), (1, 9, 4), (2, 4, None)]
    assert events[3] is None and mission.complete and mission.current is None
    assert mission.describe() == "all 3 goals reached"
    assert Mission().describe() == "no goal" and not Mission().complete and Mission().reached() is None


def drive_along(nav, view_of, last: int) -> list:
    """The camera moves along the route from node 0 to `last` (four model steps per node), then stays there."""
    script = [(0.0, view_of(k // 4)) for k in range(4 * last)] + [(0.0, view_of(last))] * 8
    return [s for s in run_script(nav, script) if s is not None]


@pytest.mark.parametrize("mode", ["graph", "window"])
def test_a_goal_list_is_driven_in_order_and_only_its_end_is_an_arrival(mode):
    nav, view_of, n = line_navigator(None, localization_mode=mode)
    nav.set_goals([12, 25, n - 1])
    steps = drive_along(nav, view_of, n - 1)
    events = [s.waypoint for s in steps if s.waypoint is not None]
    assert [(e.index, e.node) for e in events] == [(0, 12), (1, 25), (2, n - 1)]
    first_arrival = next(i for i, s in enumerate(steps) if s.plan.goal_reached)
    assert steps[first_arrival].waypoint.node == n - 1  # reaching 12 and 25 was not the mission's end
    assert all(s.plan.goal_reached for s in steps[first_arrival:])
    reached_12 = next(s for s in steps if s.waypoint is not None and s.waypoint.node == 12)
    assert 8 <= reached_12.closest <= 12  # reported on the way, near the node (the goal threshold's reach)
    assert nav.mission.complete and nav.planner.goal == n - 1


def test_a_list_with_an_unknown_node_changes_nothing():
    nav, _, n = line_navigator(None)
    nav.set_goals([3, 7])
    with pytest.raises(GraphError, match="goal node 99 does not exist"):
        nav.set_goals([5, 99])
    assert nav.mission.goals == (3, 7) and nav.planner.goal == 3
    nav.set_goal(None)
    assert nav.planner.goal is None and nav.mission.describe() == "no goal"


def test_localise_at_node_is_a_prior_on_where_the_robot_is():
    """The robot was carried from node 30 to node 5: told so, the belief restarts there."""
    nav, view_of, n = line_navigator(None)
    nav.set_goal(n - 1)
    assert run_script(nav, [(0.0, view_of(30))] * 8)[-1].closest == 30
    nav.set_start(5)
    assert nav.localizer._last_belief == 5 and nav.localizer.belief is None
    for k in range(8, 16):  # the stamps go on from the first frames
        nav.on_frame(view_of(5), 0.25 * k)
    assert nav.tick().closest in (4, 5, 6)
    with pytest.raises(GraphError, match="not in the graph"):
        nav.set_start(n + 3)


@pytest.mark.parametrize("mode", ["graph", "window"])
def test_each_tick_says_where_navigation_stands(mode):
    """NavState over a mission: tracking while a node is believed, progress toward each goal and the mission
    rising to 1, arrived at the end; it survives the JSON of gnm/nav_state unchanged."""
    nav, view_of, n = line_navigator(None, localization_mode=mode)
    nav.set_goals([12, n - 1])
    states = [s.state for s in drive_along(nav, view_of, n - 1)]
    assert {s.state for s in states[:-1]} <= {"tracking", "arrived"} and states[-1].state == "arrived"
    driving = [s for s in states if s.state == "tracking"]
    assert [s.waypoints for s in states] == [2] * len(states) and driving[0].waypoint == 0
    mission = [s.mission_progress for s in driving]
    assert mission == sorted(mission) and 0.0 <= mission[0] < 0.2 and mission[-1] > 0.8  # only forward
    first_goal = [s for s in driving if s.goal == 12]
    assert first_goal[-1].goal_progress > first_goal[0].goal_progress and first_goal[-1].nodes_to_goal <= 4
    end = states[-1]
    assert (end.goal, end.waypoint, end.goal_progress, end.mission_progress) == (None, 2, 1.0, 1.0)
    assert NavState.from_json(end.to_json()) == end and NavState.from_json(driving[3].to_json()) == driving[3]


def test_nav_state_refuses_what_is_not_one():
    with pytest.raises(GnmNavError, match="not a NavState"):
        NavState.from_json('{"state": "tracking"}')
    with pytest.raises(GnmNavError, match="state 'asleep'"):
        NavState.from_json(NavState(0.0, "asleep", None, None, None, None, None, 0, 0, None).to_json())
    assert mission_progress(0, 0, None) is None and mission_progress(1, 4, 0.5) == 0.375


def test_goal_progress_starts_from_the_first_path_to_each_goal():
    progress = GoalProgress()
    assert progress.update(7, None, False) == 0.0  # no route yet
    assert progress.update(7, 10, False) == 0.0 and progress.update(7, 5, False) == 0.5
    assert progress.update(7, 12, False) == 0.0  # driven away: clipped, never negative
    assert progress.update(7, None, False) is None  # the route was lost on the way: unknown
    assert progress.update(9, 4, False) == 0.0 and progress.update(9, 0, True) == 1.0  # a new goal starts afresh
    assert progress.update(None, None, False) is None


def test_a_tick_is_lost_only_on_the_way_to_a_goal():
    """`NavStep.lost` (the planner's gnm/localization_lost, the policy's cue to sweep): no node matches and a goal
    is still ahead; a robot without a goal, or one that has arrived, is never lost."""
    import numpy as np

    nav, view_of, n = line_navigator(None)
    nav.set_goal(None)
    noise = np.random.default_rng(0).integers(0, 255, view_of(0).shape, dtype=np.uint8)
    for k in range(8):
        nav.on_frame(noise, 0.25 * k)
    step = nav.tick()
    assert step.closest is None and not step.lost
    nav.set_goal(n - 1)
    nav.on_frame(noise, 2.0)
    step = nav.tick()
    assert step.closest is None and step.lost
    arrived = drive_along(nav, view_of, n - 1)[-1]
    assert arrived.plan.goal_reached and not arrived.lost
