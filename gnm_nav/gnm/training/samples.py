"""Training samples and labels of the GNM, as in the paper and its public training code.

A sample is (context of 6 frames 1 step apart, goal frame, distance label, action label, action
mask). The goal is d in [1, max_dist] steps ahead in the same trajectory, or with probability
1/(max_dist+1) a frame from another trajectory (a negative, labelled max_dist, action masked).
Actions are the next len_traj_pred poses in the current robot frame, xy divided by the dataset's
metric_waypoint_spacing, yaw as (cos, sin); the action loss counts only 2 < d < 10.

Training samples may be mirrored left-right (images flipped, lateral offset and yaw negated): the
mirror of a drive is a drive too, and it makes "which side is the goal on" the only way to tell
left from right, instead of something each world's look lets the network memorise.

They may also be turned on the spot, virtually: the observation frames shifted sideways by the pixels a
yaw of delta moves the scene (pinhole camera of the dataset's field of view, edge columns repeated)
and the action label rotated by -delta. Expert drives hold their heading close to the path, so
without this the network never sees a view a few degrees off the recorded one and reads it as far
away (3 degrees took the predicted distance to the start node from 2.7 to 9 steps) and does not turn back.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from gnm_nav.data.gnm_format import GnmDataset, Trajectory
from gnm_nav.gnm.preprocessing import DEFAULT_IMAGE_SIZE
from gnm_nav.robot_profile import load_robot_profile

MAX_DIST = 20
MIN_ACTION_DIST, MAX_ACTION_DIST = 2, 10  # exclusive bounds


@dataclass(frozen=True)
class SampleIndex:
    """Where a trainable context ends: dataset, trajectory, current frame."""

    dataset: int
    trajectory: int
    t: int


@dataclass
class Batch:
    context: np.ndarray  # [B, ctx+1] frame-cache indices, oldest first
    goal: np.ndarray  # [B] frame-cache index
    distance: np.ndarray  # [B] float32
    action: np.ndarray  # [B, len_traj_pred, 4] float32
    action_mask: np.ndarray  # [B] float32
    spacing_m: np.ndarray  # [B] float32: metres per action unit of each sample's dataset
    mirror: np.ndarray  # [B] bool: flip this sample's images left-right (its action label already is)
    shift_px: np.ndarray  # [B] int: shift the observation frames right by this (a left turn; label already turned)


def camera_hfov_rad(ds: GnmDataset) -> float | None:
    """Horizontal field of view: data_config's camera_hfov_deg, else its robot profile's; None = unknown."""
    deg = ds.config.get("camera_hfov_deg")
    if deg is None and ds.config.get("robot"):
        try:
            deg = load_robot_profile(str(ds.config["robot"])).camera_hfov_deg
        except FileNotFoundError:
            return None
    return math.radians(float(deg)) if deg is not None else None


def rotate_label(action: np.ndarray, delta: float) -> np.ndarray:
    """The action label [L, 4] as seen by the robot turned left by delta: xy and (cos, sin) rotated by -delta."""
    c, s = math.cos(delta), math.sin(delta)
    out = action.copy()
    for i in (0, 2):  # (x, y) and (cos yaw, sin yaw) turn alike
        out[:, i] = c * action[:, i] + s * action[:, i + 1]
        out[:, i + 1] = -s * action[:, i] + c * action[:, i + 1]
    return out


def action_label(traj: Trajectory, t: int, len_traj_pred: int, spacing_m: float) -> np.ndarray:
    """Poses t+1..t+len in the robot frame at t (x forward, y left), xy / spacing, yaw delta as (cos, sin).

    Past the end of the trajectory the last pose repeats (the robot has stopped).
    """
    idx = np.minimum(np.arange(t + 1, t + 1 + len_traj_pred), len(traj) - 1)
    yaw0 = traj.yaws[t]
    c, s = np.cos(yaw0), np.sin(yaw0)
    delta = traj.positions[idx] - traj.positions[t]
    local_x = c * delta[:, 0] + s * delta[:, 1]
    local_y = -s * delta[:, 0] + c * delta[:, 1]
    dyaw = traj.yaws[idx] - yaw0
    return np.stack([local_x / spacing_m, local_y / spacing_m, np.cos(dyaw), np.sin(dyaw)], axis=1).astype(np.float32)


class GnmSampler:
    """Draws batches uniformly over (trajectory, time) from several datasets (several robots).

    split: "train", "test", or "all" (every trajectory: data held out of training altogether).
    Yaw shifts apply only to datasets whose field of view is known (camera_hfov_rad).
    """

    def __init__(self, datasets: list[GnmDataset], split: Literal["train", "test", "all"],
                 offsets: dict[tuple[str, str], int],
                 context_size: int = 5, len_traj_pred: int = 5, negative_prob: float = 1.0 / (MAX_DIST + 1),
                 mirror_prob: float = 0.0, yaw_shift_prob: float = 0.0, max_yaw_shift_rad: float = math.radians(15),
                 image_width: int = DEFAULT_IMAGE_SIZE[0]) -> None:
        self.datasets = datasets
        self.trajs = [ds.trajectories if split == "all" else ds.split(split) for ds in datasets]
        self.offsets = offsets
        self.context_size = context_size
        self.len_traj_pred = len_traj_pred
        self.negative_prob = negative_prob
        if not 0.0 <= mirror_prob <= 1.0:
            raise ValueError(f"mirror_prob must be in [0, 1], got {mirror_prob}")
        self.mirror_prob = mirror_prob
        if not 0.0 <= yaw_shift_prob <= 1.0 or not 0.0 <= max_yaw_shift_rad < math.pi / 4:
            raise ValueError(f"yaw_shift_prob must be in [0, 1] and max_yaw_shift_rad in [0, pi/4), "
                             f"got {yaw_shift_prob}, {max_yaw_shift_rad}")
        self.yaw_shift_prob = yaw_shift_prob
        self.max_yaw_shift_rad = max_yaw_shift_rad
        # focal length in model pixels per dataset (None: field of view unknown, never shifted)
        hfovs = [camera_hfov_rad(ds) if yaw_shift_prob > 0 else None for ds in datasets]
        self.focal_px = [None if h is None else image_width / 2 / math.tan(h / 2) for h in hfovs]
        self._all_trajs = [(d, k) for d, trajs in enumerate(self.trajs) for k in range(len(trajs))]
        self._traj_position = {dk: i for i, dk in enumerate(self._all_trajs)}
        self.index = [SampleIndex(d, k, t) for d, trajs in enumerate(self.trajs) for k, traj in enumerate(trajs)
                      for t in range(context_size, len(traj) - 1)]
        if not self.index:
            raise ValueError(f"no {split} samples: trajectories must be longer than {context_size + 1} frames")

    def __len__(self) -> int:
        return len(self.index)

    def _cache_index(self, d: int, k: int, i: int) -> int:
        return self.offsets[(self.datasets[d].name, self.trajs[d][k].name)] + i

    def sample(self, batch_size: int, rng: np.random.Generator) -> Batch:
        picks = rng.integers(0, len(self.index), batch_size)
        ctx = self.context_size + 1
        context = np.empty((batch_size, ctx), np.int64)
        goal = np.empty(batch_size, np.int64)
        distance = np.empty(batch_size, np.float32)
        action = np.empty((batch_size, self.len_traj_pred, 4), np.float32)
        mask = np.empty(batch_size, np.float32)
        spacing = np.empty(batch_size, np.float32)
        mirror = rng.random(batch_size) < self.mirror_prob
        turn = rng.random(batch_size) < self.yaw_shift_prob
        turn_by = rng.uniform(-self.max_yaw_shift_rad, self.max_yaw_shift_rad, batch_size)
        shift_px = np.zeros(batch_size, np.int64)
        for b, p in enumerate(picks):
            s = self.index[p]
            traj = self.trajs[s.dataset][s.trajectory]
            context[b] = [self._cache_index(s.dataset, s.trajectory, s.t - self.context_size + j) for j in range(ctx)]
            spacing[b] = self.datasets[s.dataset].metric_waypoint_spacing
            action[b] = action_label(traj, s.t, self.len_traj_pred, spacing[b])
            if mirror[b]:
                action[b, :, 1] *= -1.0  # y left -> right
                action[b, :, 3] *= -1.0  # sin(yaw)
            focal = self.focal_px[s.dataset]
            if turn[b] and focal is not None:
                shift_px[b] = round(focal * math.tan(turn_by[b]))
                action[b] = rotate_label(action[b], math.atan(shift_px[b] / focal))  # the turn the pixels make
            if len(self._all_trajs) > 1 and rng.random() < self.negative_prob:
                d2, k2 = self._other_trajectory(s, rng)
                goal[b] = self._cache_index(d2, k2, int(rng.integers(0, len(self.trajs[d2][k2]))))
                distance[b], mask[b] = MAX_DIST, 0.0
                continue
            d = int(rng.integers(1, min(MAX_DIST, len(traj) - 1 - s.t) + 1))
            goal[b] = self._cache_index(s.dataset, s.trajectory, s.t + d)
            distance[b] = d
            mask[b] = float(MIN_ACTION_DIST < d < MAX_ACTION_DIST)
        return Batch(context, goal, distance, action, mask, spacing, mirror, shift_px)

    def _other_trajectory(self, s: SampleIndex, rng: np.random.Generator) -> tuple[int, int]:
        """A uniformly drawn trajectory other than the sample's own (there are at least two)."""
        own = self._traj_position[(s.dataset, s.trajectory)]
        return self._all_trajs[(own + 1 + int(rng.integers(0, len(self._all_trajs) - 1))) % len(self._all_trajs)]
