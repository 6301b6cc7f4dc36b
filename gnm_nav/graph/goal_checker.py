"""Is the goal reached? One answer, from the model and the odometry together (as Nav2's goal checker plugin).

The model: its predicted distance to the goal node is under `threshold`, whether the goal is the closest node
or scored beside it (the last nodes of a recording show the same view, and which of them is "closest" is a
coin toss). The odometry, where the graph has poses, checks that both ways: a goal the model sees where the
odometry puts the robot beyond its tolerance from the goal node is a look-alike (vetoed: one look-alike
view must not end a mission; a kidnapped robot re-anchors the odometry at its first confident match and is
believed after that); a goal the model does not see where the freshly anchored odometry puts the robot on it
(and the localiser near it) is reached.
"""
from __future__ import annotations

from dataclasses import dataclass

from gnm_nav.graph.odometry import OdometryPrior

# Graphs get a node per second of driving, ~0.2 m apart. The model rarely puts even the node the robot stands on
# under 3 steps once it arrives a little turned or aside, so the goal counts from 6 (tuned on routes outside the
# evaluation; docs/decisions.md).
GOAL_THRESHOLD = 6.0


@dataclass(frozen=True)
class GoalCheck:
    reached: bool
    by_odometry_m: float | None = None  # reached by the odometry, which put the robot this near the goal node
    veto_m: float = 0.0  # > 0: the model saw the goal, the odometry put the robot this far beyond its tolerance


class GoalChecker:
    def __init__(self, threshold: float = GOAL_THRESHOLD, odometry: OdometryPrior | None = None) -> None:
        self.threshold = threshold
        self.odometry = odometry
        self.vetoes = 0  # checks where the model saw the goal but the odometry ruled it out
        self.odometry_arrivals = 0  # goals declared by the odometry where the model did not see them

    def check(self, goal: int | None, closest: int | None, distance: float,
              scored: dict[int, float] | None = None) -> GoalCheck:
        """`distance`: the model's to `closest`; `scored`: its distances to the other nodes it scored this tick."""
        if goal is None or closest is None:
            return GoalCheck(False)
        model_distance = distance if closest == goal else (scored or {}).get(goal, float("inf"))
        seen = model_distance < self.threshold
        if self.odometry is None:
            return GoalCheck(seen)
        if seen:
            off = self.odometry.disagreement_m(goal)
            if off > 0:
                self.vetoes += 1
                return GoalCheck(False, veto_m=off)
            return GoalCheck(True)
        arrived_m = self.odometry.arrived(goal, closest)
        if arrived_m is None:
            return GoalCheck(False)
        self.odometry_arrivals += 1
        return GoalCheck(True, by_odometry_m=arrived_m)
