"""What the policy node does at each moment, decided in one place from typed inputs: drive with the model,
sweep on the spot to find the graph again, back up off an obstacle, stop, or idle at the goal. ROS-free: the
node maps messages to `Inputs` and the `Decision` to a command; its log lines and diagnostics are derived
from the decision (`Decision.message`), never read back to decide anything.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from gnm_nav.control.recovery import HeadingSweep, StallBackUp


class Mode(Enum):
    MODEL = "model"  # the GNM's command toward the subgoal
    SWEEP = "sweep"  # lost: turning on the spot, nearest headings first
    BACKUP = "backup"  # stalled against something: reversing
    STOP = "stop"  # zero: an input is missing or stale, or the recoveries are spent
    IDLE = "idle"  # zero: the goal is reached, nothing is expected


class Reason(Enum):
    DRIVING = "driving"
    NO_CAMERA = "no camera image yet"
    CAMERA_STALE = "camera is stale"
    FILLING_CONTEXT = "filling the temporal context"
    NO_SUBGOAL = "no subgoal yet"
    SUBGOAL_STALE = "subgoal is stale"
    GOAL_REACHED = "goal reached: waiting for a new goal"
    LOST = "lost: turning on the spot to find the graph again"
    STALLED = "stalled against an obstacle: backing up"
    STUCK = "stuck: the back-ups did not get past the obstacle here; stopped until the robot is moved"
    MODEL_ERROR = "the model's output cannot be used"


SUBGOAL_MISSING = (Reason.NO_SUBGOAL, Reason.SUBGOAL_STALE)


@dataclass(frozen=True)
class Inputs:
    """What the node knows, on its clock (seconds); None = never received."""

    now: float
    camera_time: float | None  # the newest camera frame the context took
    context_fill: float  # share of the temporal context filled (1 = ready)
    subgoal_time: float | None
    lost_time: float | None  # when the planner last said the robot is lost
    goal_reached: bool  # the planner says the goal is reached


@dataclass(frozen=True)
class Decision:
    mode: Mode
    reason: Reason
    v: float = 0.0  # the command for SWEEP and BACKUP (MODEL's comes from the model, STOP and IDLE are zero)
    w: float = 0.0
    detail: str = ""  # figures behind the reason, for people

    @property
    def message(self) -> str:
        return f"{self.reason.value} ({self.detail})" if self.detail else self.reason.value


class PolicySupervisor:
    def __init__(self, source_timeout: float, sweep: HeadingSweep | None = None,
                 backup: StallBackUp | None = None) -> None:
        self.source_timeout = source_timeout
        self.sweep = sweep
        self.backup = backup

    def blocker(self, i: Inputs) -> Decision | None:
        """Why the model cannot drive now (a STOP), or None."""
        timeout = self.source_timeout
        if i.camera_time is None:
            return Decision(Mode.STOP, Reason.NO_CAMERA)
        if i.now - i.camera_time > timeout:
            return Decision(Mode.STOP, Reason.CAMERA_STALE,
                            detail=f"{i.now - i.camera_time:.1f} s > source_timeout {timeout} s")
        if i.context_fill < 1.0:
            return Decision(Mode.STOP, Reason.FILLING_CONTEXT, detail=f"{i.context_fill:.0%}")
        if i.subgoal_time is None:
            return Decision(Mode.STOP, Reason.NO_SUBGOAL)
        if i.now - i.subgoal_time > timeout:
            return Decision(Mode.STOP, Reason.SUBGOAL_STALE,
                            detail=f"{i.now - i.subgoal_time:.1f} s > source_timeout {timeout} s")
        return None

    def halt(self, blocked: Decision, i: Inputs) -> Decision:
        """The model cannot drive: idle at the goal, sweep when only the subgoal is missing because the planner
        says the robot is lost (a stale camera always stops), else stop."""
        subgoal_missing = blocked.reason in SUBGOAL_MISSING
        if subgoal_missing and i.goal_reached:
            return Decision(Mode.IDLE, Reason.GOAL_REACHED)
        lost = subgoal_missing and i.lost_time is not None and i.now - i.lost_time <= self.source_timeout
        w = self.sweep.command(lost, i.now) if self.sweep is not None else None
        if w is None:
            return blocked
        return Decision(Mode.SWEEP, Reason.LOST, w=w)

    def step(self, i: Inputs) -> Decision:
        """At a camera frame: what to command now."""
        blocked = self.blocker(i)
        if blocked is not None:
            return self.halt(blocked, i)
        if self.sweep is not None:
            self.sweep.reset()
        if self.backup is not None:
            v = self.backup.command(i.now)
            if self.backup.gave_up_at is not None:
                return Decision(Mode.STOP, Reason.STUCK, detail=f"{self.backup.config.max_tries} back-ups")
            if v is not None:
                commanded, moved = self.backup.last_stall or (0.0, 0.0)
                return Decision(Mode.BACKUP, Reason.STALLED, v=v, detail=(
                    f"told to go {commanded:.2f} m forward in {self.backup.config.stall_s} s, the odometry moved "
                    f"{moved:.2f} m; back-up {self.backup.backups} of {self.backup.config.distance_m} m"))
        return Decision(Mode.MODEL, Reason.DRIVING)

    def watch(self, i: Inputs) -> Decision | None:
        """Between camera frames: a halt when an input went stale, else None (the next frame decides)."""
        blocked = self.blocker(i)
        return None if blocked is None else self.halt(blocked, i)
