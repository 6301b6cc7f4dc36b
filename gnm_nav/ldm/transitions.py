"""Logged driving -> LDM transitions (observation context, action (v, w), next context).

Contexts are indexed per trajectory by n = 0 .. T-1+C (C = context_size). Context n holds the frames
clip(n-C .. n, 0, T-1), oldest first. That treats the robot as standing still before its recording
starts and after it ends: context 0 is the first frame repeated, context T-1+C the last frame
repeated, and the extra transitions in between carry the action (0, 0). Logged data rarely contains
stopping, and the filter must always be able to allow a stop.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gnm_nav.common.angles import wrap_angle
from gnm_nav.common.errors import DatasetError


def pose_actions(positions: np.ndarray, yaws: np.ndarray, dt: float) -> np.ndarray:
    """[T,2] positions + [T] yaws sampled every dt -> [T-1, 2] (v m/s, w rad/s) in the robot frame.

    v is the forward component of the displacement over one step (negative when reversing); the
    sideways component is not an action a differential-drive robot can command, so it is dropped.
    """
    if dt <= 0:
        raise ValueError(f"dt must be > 0, got {dt}")
    delta = np.diff(positions, axis=0)
    forward = delta[:, 0] * np.cos(yaws[:-1]) + delta[:, 1] * np.sin(yaws[:-1])
    turn = wrap_angle(np.diff(yaws))
    return np.stack([forward / dt, turn / dt], axis=1).astype(np.float32)


def context_frame_indices(num_frames: int, context_size: int) -> np.ndarray:
    """[T+C, C+1] frame indices of every context of a T-frame trajectory, oldest frame first."""
    if num_frames < 1:
        raise DatasetError("a trajectory needs at least one frame")
    n = np.arange(num_frames + context_size)[:, None]
    offsets = np.arange(-context_size, 1)[None, :]
    return np.clip(n + offsets, 0, num_frames - 1)


@dataclass
class TrajectoryTransitions:
    """Transitions of one trajectory, as indices into its contexts (embedded once each)."""

    context: np.ndarray  # [N] context index of s
    action: np.ndarray  # [N, 2] (v, w)
    next_context: np.ndarray  # [N] context index of s'


def trajectory_transitions(positions: np.ndarray, yaws: np.ndarray, context_size: int,
                           dt: float) -> TrajectoryTransitions:
    """All transitions of one trajectory including the stationary padding at both ends."""
    num_frames = positions.shape[0]
    moving = pose_actions(positions, yaws, dt) if num_frames > 1 else np.zeros((0, 2), np.float32)
    last = num_frames - 1 + context_size
    # driving n -> n+1, then standing at the end n -> n+1, then the two self-loops of a stopped robot
    context = np.concatenate([np.arange(last), [0, last]])
    action = np.concatenate([moving, np.zeros((context_size + 2, 2), np.float32)])
    next_context = np.concatenate([np.arange(1, last + 1), [0, last]])
    return TrajectoryTransitions(context=context, action=action, next_context=next_context)
