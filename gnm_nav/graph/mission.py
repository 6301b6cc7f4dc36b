"""A mission: goal nodes driven to in order, as Nav2's waypoint follower and VT&R's goal lists do. One goal
is a mission of one; the mission is complete when its last goal is reached."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WaypointReached:
    index: int  # position of the reached goal in the mission
    node: int
    next_goal: int | None  # the goal driven to now; None = the mission is complete


class Mission:
    def __init__(self, goals: tuple[int, ...] = ()) -> None:
        self.goals = tuple(goals)
        self.index = 0  # the goal being driven to; len(goals) once complete

    @property
    def current(self) -> int | None:
        return self.goals[self.index] if self.index < len(self.goals) else None

    @property
    def complete(self) -> bool:
        return bool(self.goals) and self.index >= len(self.goals)

    def reached(self) -> WaypointReached | None:
        """The current goal was reached: move on to the next. None when there was nothing left to reach."""
        index, node = self.index, self.current
        if node is None:
            return None
        self.index += 1
        return WaypointReached(index, node, self.current)

    def describe(self) -> str:
        """One phrase for logs and diagnostics."""
        if not self.goals:
            return "no goal"
        if self.complete:
            if len(self.goals) > 1:
                return f"all {len(self.goals)} goals reached"
            return f"goal node {self.goals[0]} reached"
        if len(self.goals) == 1:
            return f"goal node {self.current}"
        return f"goal {self.index + 1} of {len(self.goals)}: node {self.current}"
