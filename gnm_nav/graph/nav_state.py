"""NavState: where navigation stands after one planner tick, as one value: the localisation's state, node and
confidence, and how far along the goal and the mission the robot is. The planner publishes it on
gnm/nav_state (JSON in std_msgs/String: an ament_python package ships no message types) and /diagnostics reads
it, so a dashboard, a test or an evaluation needs no other topic to follow a run."""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass

from gnm_nav.common.errors import GnmNavError

STATES = ("initialising", "tracking", "lost", "relocalising", "arrived")  # LocalizationState's values


@dataclass(frozen=True)
class NavState:
    stamp: float  # the camera stamp of the tick's newest frame (s)
    state: str  # one of STATES
    node: int | None  # the node the robot is believed at (None: lost)
    confidence: float | None  # the belief's mass near `node` (None: the localiser keeps no belief)
    goal: int | None  # the goal node driven to now (None: no goal)
    nodes_to_goal: int | None  # nodes left on the path to the goal (0: at it; None: no path)
    goal_progress: float | None  # share of the path to the goal covered since it was set, 0..1 (None: no goal)
    waypoint: int  # index of the mission's goal driven to (the mission's length once complete)
    waypoints: int  # goals in the mission
    mission_progress: float | None  # (goals reached + goal_progress) / goals, 0..1 (None: no mission)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "NavState":
        """GnmNavError when `text` is not a NavState (another version, or not one at all)."""
        try:
            fields = json.loads(text)
            state = cls(**fields)
        except (ValueError, TypeError) as exc:
            raise GnmNavError(f"not a NavState: {exc}") from None
        if state.state not in STATES:
            raise GnmNavError(f"not a NavState: state {state.state!r} is not one of {STATES}")
        return state


class GoalProgress:
    """Remembers how long the path to each goal was when the robot first had one, to say how far along it is."""

    def __init__(self) -> None:
        self._goal: int | None = None
        self._initial: int | None = None

    def update(self, goal: int | None, nodes_to_goal: int | None, reached: bool) -> float | None:
        if goal != self._goal:
            self._goal, self._initial = goal, None
        if goal is None:
            return None
        if reached:
            return 1.0
        if nodes_to_goal is None:
            return 0.0 if self._initial is None else None
        if self._initial is None:
            self._initial = max(nodes_to_goal, 1)
        return min(1.0, max(0.0, 1.0 - nodes_to_goal / self._initial))


def mission_progress(waypoint: int, waypoints: int, goal_progress: float | None) -> float | None:
    if waypoints == 0:
        return None
    if waypoint >= waypoints:
        return 1.0
    part = goal_progress if goal_progress is not None and math.isfinite(goal_progress) else 0.0
    return (waypoint + part) / waypoints
