"""The policy's supervisor without DDS: which of model / sweep / back-up / stop / idle, from typed inputs."""
from __future__ import annotations

import pytest

from gnm_nav.control.recovery import BackUpConfig, HeadingSweep, StallBackUp, SweepConfig
from gnm_nav.control.supervisor import Decision, Inputs, Mode, PolicySupervisor, Reason

TIMEOUT = 1.0


def inputs(now: float = 10.0, **changes) -> Inputs:
    """Everything fresh at `now`, then the changes."""
    base = dict(now=now, camera_time=now - 0.1, context_fill=1.0, subgoal_time=now - 0.2, lost_time=None,
                goal_reached=False)
    return Inputs(**{**base, **changes})


@pytest.mark.parametrize("changes, reason", [
    ({"camera_time": None}, Reason.NO_CAMERA),
    ({"camera_time": 8.0}, Reason.CAMERA_STALE),
    ({"context_fill": 0.4}, Reason.FILLING_CONTEXT),
    ({"subgoal_time": None}, Reason.NO_SUBGOAL),
    ({"subgoal_time": 8.5}, Reason.SUBGOAL_STALE),
    ({"camera_time": None, "subgoal_time": None}, Reason.NO_CAMERA),  # the camera first: without it, nothing
])
def test_a_missing_or_stale_input_stops_the_robot(changes, reason):
    supervisor = PolicySupervisor(TIMEOUT)
    decision = supervisor.step(inputs(**changes))
    assert (decision.mode, decision.reason, decision.v, decision.w) == (Mode.STOP, reason, 0.0, 0.0)
    assert supervisor.watch(inputs(**changes)) == decision


def test_fresh_inputs_drive_with_the_model_and_the_watchdog_leaves_it_alone():
    supervisor = PolicySupervisor(TIMEOUT)
    assert supervisor.step(inputs()).mode is Mode.MODEL
    assert supervisor.watch(inputs()) is None


def test_staleness_is_said_with_its_figures():
    decision = PolicySupervisor(TIMEOUT).step(inputs(camera_time=8.0))
    assert decision.message == "camera is stale (2.0 s > source_timeout 1.0 s)"


def test_at_the_goal_the_robot_idles_instead_of_stopping_on_a_fault():
    supervisor = PolicySupervisor(TIMEOUT)
    assert supervisor.step(inputs(subgoal_time=None, goal_reached=True)).mode is Mode.IDLE
    # a stale camera is a fault even at the goal
    assert supervisor.step(inputs(camera_time=5.0, subgoal_time=None, goal_reached=True)).mode is Mode.STOP


def test_a_lost_robot_sweeps_after_a_while_but_never_blind():
    sweep = HeadingSweep(SweepConfig(after_s=1.0, turn_rate=0.3))
    supervisor = PolicySupervisor(TIMEOUT, sweep=sweep)
    lost = dict(subgoal_time=None, lost_time=None)
    decisions = [supervisor.step(inputs(now=10.0 + 0.1 * k, **{**lost, "lost_time": 10.0 + 0.1 * k}))
                 for k in range(20)]
    assert decisions[0].mode is Mode.STOP  # lost, but not long enough yet
    sweeping = [d for d in decisions if d.mode is Mode.SWEEP]
    assert sweeping and sweeping[0].reason is Reason.LOST and sweeping[0].w == pytest.approx(-0.3)  # right first
    blind = supervisor.step(inputs(now=12.0, camera_time=10.0, subgoal_time=None, lost_time=12.0))
    assert blind.mode is Mode.STOP and blind.reason is Reason.CAMERA_STALE
    # a fresh subgoal ends the sweep: the model drives again
    assert supervisor.step(inputs(now=12.1)).mode is Mode.MODEL


def _stall(backup: StallBackUp, supervisor: PolicySupervisor, t0: float, seconds: float) -> list[Decision]:
    """The base told 0.2 m/s forward, the odometry not moving."""
    decisions = []
    t = t0
    while t < t0 + seconds:
        backup.on_base_command(0.2)
        backup.on_odometry(0.0, 0.0, 0.0, t)
        decisions.append(supervisor.step(inputs(now=t)))
        t += 0.05
    return decisions


def test_pushing_without_moving_backs_up_then_gives_up_at_the_same_place():
    backup = StallBackUp(BackUpConfig(stall_s=0.5, timeout_s=0.5, max_tries=1))
    supervisor = PolicySupervisor(TIMEOUT, backup=backup)
    first = _stall(backup, supervisor, 10.0, 1.0)
    backing = [d for d in first if d.mode is Mode.BACKUP]
    assert backing and backing[0].reason is Reason.STALLED and backing[0].v == pytest.approx(-0.1)
    assert "the odometry moved 0.00 m" in backing[0].message
    later = _stall(backup, supervisor, 11.5, 2.0)  # stalls again at the same bump: max_tries spent
    assert later[-1].mode is Mode.STOP and later[-1].reason is Reason.STUCK
