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

A trajectory with a relit twin (the same poses under other light, gnm_nav.sim.collect) may give a positive
sample's goal from the twin (`twin_goal_prob`): the context in one light, the goal in the other, as a graph
taught in one light is repeated in another. The labels do not change: the poses are the same.

A trajectory with a side twin (its poses moved sideways, gnm_nav.sim.side_twin) may give a sample's context from
the twin (`side_context_prob`) and, independently, a positive sample's goal (`side_goal_prob`). The label leads from
where the context was seen onto the line the goal was seen on: the goal line's future poses with the context's
offset from that line shrinking to nothing over RETURN_DISTANCE_M of its path (a path a robot can drive, and in
waypoint units the same for every body; docs/decisions.md, "Side twins"). So beside the line with the drive's goal
the label comes back; on the line with a goal seen from beside it, it moves over; with both from the twin it
follows the twin's line. The same context then leads to different places for different goals, which only the goal
tells apart. A side twin is never a drive itself. Lines, and the labels' headings, are the drive's: a twin may be
turned (its headings off the drive's by one angle, gnm_nav.sim.side_twin), and a label is always expressed in the
frame the context was seen in, so from a turned twin it turns back. A turned twin's context is its current frame
alone: its earlier frames would show the robot moving crabwise, off its heading, which no robot does and which
tells the turn without the goal.

A sample's history may be dropped (`history_dropout_prob`): every context frame is the current one, the labels
unchanged. The frames before the current one show how the robot has been moving, and the expert's next poses
continue that motion, so a network can fit the labels by extrapolating it without reading the goal; in closed
loop it then continues its own mistakes (the copycat problem of imitation from observation histories, Wen et al.,
NeurIPS 2020). Without the history, where to go can only come from the current view and the goal.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from gnm_nav.common.angles import left_of, wrap_angle
from gnm_nav.data.gnm_format import GnmDataset, Trajectory, is_side_twin, side_name, twin_of
from gnm_nav.gnm.preprocessing import DEFAULT_IMAGE_SIZE
from gnm_nav.robot_profile import load_robot_profile

MAX_DIST = 20
MIN_ACTION_DIST, MAX_ACTION_DIST = 2, 10  # exclusive bounds
RETURN_DISTANCE_M = 1.0  # a side sample's label comes back onto the drive's line over this much of its path


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


def rotate_labels(actions: np.ndarray, deltas: np.ndarray) -> np.ndarray:
    """Action labels [B, L, 4] as seen by robots turned left by deltas [B]: xy and (cos, sin) rotated by -delta."""
    c, s = np.cos(deltas)[:, None], np.sin(deltas)[:, None]
    out = actions.copy()
    for i in (0, 2):  # (x, y) and (cos yaw, sin yaw) turn alike
        out[..., i] = c * actions[..., i] + s * actions[..., i + 1]
        out[..., i + 1] = -s * actions[..., i] + c * actions[..., i + 1]
    return out


def rotate_label(action: np.ndarray, delta: float) -> np.ndarray:
    """One label [L, 4] turned by delta (rotate_labels)."""
    return rotate_labels(action[None], np.array([delta]))[0]


def action_label(traj: Trajectory, t: int, len_traj_pred: int, spacing_m: float) -> np.ndarray:
    """Poses t+1..t+len in the robot frame at t (x forward, y left), xy / spacing, yaw delta as (cos, sin).

    Past the end of the trajectory the last pose repeats (the robot has stopped).
    """
    idx = np.minimum(np.arange(t + 1, t + 1 + len_traj_pred), len(traj) - 1)
    return labels_between(np.asarray(traj.positions, np.float64), np.asarray(traj.yaws, np.float64),
                          np.array([t]), idx[None], np.array([spacing_m]))[0]


def labels_between(positions: np.ndarray, yaws: np.ndarray, now: np.ndarray, later: np.ndarray,
                   spacing_m: np.ndarray) -> np.ndarray:
    """Action labels [B, L, 4] float32: the poses at indices later [B, L] in the robot frame of the pose at now [B],
    xy / spacing_m [B], yaw delta as (cos, sin)."""
    return labels_from(positions[now], yaws[now], positions[later], yaws[later], spacing_m)


def labels_from(position: np.ndarray, yaw: np.ndarray, later_positions: np.ndarray, later_yaws: np.ndarray,
                spacing_m: np.ndarray) -> np.ndarray:
    """Action labels [B, L, 4] float32: poses (later_positions [B, L, 2], later_yaws [B, L]) in the robot frame of
    (position [B, 2], yaw [B]), xy / spacing_m [B], yaw delta as (cos, sin)."""
    yaw0 = yaw[:, None]
    c, s = np.cos(yaw0), np.sin(yaw0)
    delta = later_positions - position[:, None, :]
    local_x = c * delta[..., 0] + s * delta[..., 1]
    local_y = -s * delta[..., 0] + c * delta[..., 1]
    dyaw = later_yaws - yaw0
    scale = np.asarray(spacing_m, np.float64)[:, None]
    return np.stack([local_x / scale, local_y / scale, np.cos(dyaw), np.sin(dyaw)], axis=-1).astype(np.float32)


class GnmSampler:
    """Draws batches uniformly over (trajectory, time) from several datasets (several robots).

    split: "train", "test", or "all" (every trajectory: data held out of training altogether).
    Yaw shifts apply only to datasets whose field of view is known (camera_hfov_rad).

    A batch is built with array operations over the whole batch (no per-sample Python): the trajectories'
    poses are concatenated once, and every label is an indexed computation on them.
    """

    def __init__(self, datasets: list[GnmDataset], split: Literal["train", "test", "all"],
                 offsets: dict[tuple[str, str], int],
                 context_size: int = 5, len_traj_pred: int = 5, negative_prob: float = 1.0 / (MAX_DIST + 1),
                 mirror_prob: float = 0.0, yaw_shift_prob: float = 0.0, max_yaw_shift_rad: float = math.radians(15),
                 image_width: int = DEFAULT_IMAGE_SIZE[0], twin_goal_prob: float = 0.0,
                 side_context_prob: float = 0.0, side_goal_prob: float = 0.0,
                 history_dropout_prob: float = 0.0) -> None:
        self.datasets = datasets
        self.context_size = context_size
        self.len_traj_pred = len_traj_pred
        self.negative_prob = negative_prob
        shares = {"mirror_prob": mirror_prob, "yaw_shift_prob": yaw_shift_prob, "twin_goal_prob": twin_goal_prob,
                  "side_context_prob": side_context_prob, "side_goal_prob": side_goal_prob,
                  "history_dropout_prob": history_dropout_prob}
        for name, share in shares.items():
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {share}")
        if not 0.0 <= max_yaw_shift_rad < math.pi / 4:
            raise ValueError(f"max_yaw_shift_rad must be in [0, pi/4), got {max_yaw_shift_rad}")
        self.mirror_prob = mirror_prob
        self.yaw_shift_prob = yaw_shift_prob
        self.max_yaw_shift_rad = max_yaw_shift_rad
        self.twin_goal_prob = twin_goal_prob
        self.side_context_prob = side_context_prob
        self.side_goal_prob = side_goal_prob
        self.history_dropout_prob = history_dropout_prob
        # focal length in model pixels per dataset (None: field of view unknown, never shifted)
        hfovs = [camera_hfov_rad(ds) if yaw_shift_prob > 0 else None for ds in datasets]
        self.focal_px = [None if h is None else image_width / 2 / math.tan(h / 2) for h in hfovs]
        trajs = [(d, traj) for d, ds in enumerate(datasets)
                 for traj in (ds.trajectories if split == "all" else ds.split(split))]
        # per trajectory j: where its frames start in the frame cache and in the concatenated poses, its length,
        # its dataset's waypoint spacing and focal length (nan: never turned)
        lengths = np.array([len(traj) for _, traj in trajs], np.int64)
        self._cache_start = np.array([offsets[(datasets[d].name, traj.name)] for d, traj in trajs], np.int64)
        self._pose_start = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        self._length = lengths
        self._spacing = np.array([datasets[d].metric_waypoint_spacing for d, _ in trajs], np.float32)
        self._focal = np.array([np.nan if self.focal_px[d] is None else self.focal_px[d] for d, _ in trajs])
        # the frame-cache start of each trajectory's relit twin in this split (-1: none)
        names = [{traj.name for e, traj in trajs if e == d} for d in range(len(datasets))]
        twins = [twin_of(traj.name, names[d]) for d, traj in trajs]
        self._twin_start = np.array([-1 if twin is None else offsets[(datasets[d].name, twin)]
                                     for (d, _), twin in zip(trajs, twins)], np.int64)
        self.twins = int((self._twin_start >= 0).sum())
        # the index (in trajs) of each trajectory's side twin in this split (-1: none)
        where = {(d, traj.name): k for k, (d, traj) in enumerate(trajs)}
        self._side_j = np.array([where.get((d, side_name(traj.name)), -1) for d, traj in trajs], np.int64)
        self.side_twins = int((self._side_j >= 0).sum())
        self._positions = (np.concatenate([traj.positions for _, traj in trajs]).astype(np.float64)
                           if trajs else np.zeros((0, 2)))
        self._yaws = np.concatenate([traj.yaws for _, traj in trajs]).astype(np.float64) if trajs else np.zeros(0)
        # per trajectory: a side twin whose headings are turned off its drive's
        self._turned = np.zeros(len(trajs), bool)
        has_twin = np.flatnonzero(self._side_j >= 0)
        self._turned[self._side_j[has_twin]] = np.abs(wrap_angle(
            self._yaws[self._pose_start[self._side_j[has_twin]]] - self._yaws[self._pose_start[has_twin]])) > 1e-6
        # distance driven up to each pose (differences within one trajectory are its path length)
        steps = np.linalg.norm(np.diff(self._positions, axis=0), axis=1) if len(self._positions) else np.zeros(0)
        self._driven = np.concatenate([[0.0], np.cumsum(steps)])[:len(self._positions)]
        # every trainable (trajectory, time): a full context behind it and at least one frame ahead
        usable = np.maximum(lengths - 1 - context_size, 0)
        usable[[is_side_twin(traj.name) for _, traj in trajs]] = 0  # a side twin only lends its frames
        self._sample_traj = np.repeat(np.arange(len(trajs)), usable)
        self._sample_t = (np.arange(usable.sum()) - np.repeat(np.cumsum(usable) - usable, usable) + context_size
                          if usable.sum() else np.zeros(0, np.int64))
        if not len(self._sample_traj):
            raise ValueError(f"no {split} samples: trajectories must be longer than {context_size + 1} frames")

    def __len__(self) -> int:
        return len(self._sample_traj)

    def sample(self, batch_size: int, rng: np.random.Generator) -> Batch:
        n = batch_size
        picks = rng.integers(0, len(self), n)
        mirror = rng.random(n) < self.mirror_prob
        turn = rng.random(n) < self.yaw_shift_prob
        turn_by = rng.uniform(-self.max_yaw_shift_rad, self.max_yaw_shift_rad, n)
        negative = (rng.random(n) < self.negative_prob) & (len(self._length) > 1)
        other = (self._sample_traj[picks] + 1 + rng.integers(0, max(len(self._length) - 1, 1), n)) % len(self._length)
        goal_draw = rng.random(n)  # where in the goal's trajectory (a negative) or how far ahead (a positive)

        j, t = self._sample_traj[picks], self._sample_t[picks]
        seen_from = j.copy()  # the trajectory whose frames are the context: the drive's, or its side twin's
        goal_line = j.copy()  # the trajectory whose frame is a positive sample's goal: the same choice
        if self.side_context_prob > 0 and self.side_twins:  # (no draw otherwise: batches stay as they were)
            side = (rng.random(n) < self.side_context_prob) & (self._side_j[j] >= 0)
            seen_from[side] = self._side_j[j[side]]
        if self.side_goal_prob > 0 and self.side_twins:
            aside = (rng.random(n) < self.side_goal_prob) & (self._side_j[j] >= 0) & ~negative
            goal_line[aside] = self._side_j[j[aside]]
        context = self._cache_start[seen_from][:, None] + t[:, None] + np.arange(-self.context_size, 1)[None, :]
        still = self._turned[seen_from]
        if self.history_dropout_prob > 0:  # (no draw otherwise: batches stay as they were)
            still = still | (rng.random(n) < self.history_dropout_prob)
        context[still] = context[still, -1:]
        spacing = self._spacing[j]
        action = self._action_labels(j, t, spacing, seen_from, goal_line)
        action[mirror] = action[mirror] * np.array([1.0, -1.0, 1.0, -1.0], np.float32)  # y and sin(yaw) mirrored
        focal = self._focal[j]
        turned = turn & np.isfinite(focal)
        shift_px = np.zeros(n, np.int64)
        shift_px[turned] = np.round(focal[turned] * np.tan(turn_by[turned])).astype(np.int64)
        if turned.any():  # the turn the pixels make
            action[turned] = rotate_labels(action[turned], np.arctan(shift_px[turned] / focal[turned]))

        ahead = 1 + np.floor(goal_draw * np.minimum(MAX_DIST, self._length[j] - 1 - t)).astype(np.int64)
        goal = self._cache_start[goal_line] + t + ahead
        distance = ahead.astype(np.float32)
        mask = ((ahead > MIN_ACTION_DIST) & (ahead < MAX_ACTION_DIST)).astype(np.float32)
        goal[negative] = (self._cache_start[other[negative]]
                          + np.floor(goal_draw[negative] * self._length[other[negative]]).astype(np.int64))
        distance[negative], mask[negative] = MAX_DIST, 0.0
        if self.twin_goal_prob > 0 and self.twins:  # (no draw otherwise: batches without twins stay as they were)
            relit = (rng.random(n) < self.twin_goal_prob) & (self._twin_start[j] >= 0) & ~negative & (goal_line == j)
            goal[relit] = self._twin_start[j[relit]] + t[relit] + ahead[relit]
        return Batch(context, goal, distance, action, mask, spacing, mirror, shift_px)

    def _action_labels(self, j: np.ndarray, t: np.ndarray, spacing: np.ndarray, seen_from: np.ndarray,
                       goal_line: np.ndarray) -> np.ndarray:
        """action_label of many (trajectory, time) at once (past a trajectory's end its last pose repeats), seen from
        the poses of seen_from toward the line of goal_line (the drive or its side twin, of the same length): the
        goal line's poses ahead, each moved by the context's offset from that line at t shrunk linearly to 0 over
        RETURN_DISTANCE_M driven. The line's directions and the labels' headings are the drive's (j): a twin's may be
        turned."""
        ahead = np.minimum(t[:, None] + 1 + np.arange(self.len_traj_pred)[None, :], self._length[j][:, None] - 1)
        now, later = self._pose_start[goal_line] + t, self._pose_start[goal_line][:, None] + ahead
        heading_now = self._yaws[self._pose_start[j] + t]
        heading_later = self._yaws[self._pose_start[j][:, None] + ahead]
        seen = self._pose_start[seen_from] + t
        targets = self._positions[later]
        off = seen_from != goal_line
        if off.any():
            offset = ((self._positions[seen[off]] - self._positions[now[off]])
                      * left_of(heading_now[off])).sum(axis=1)  # + = left of the goal's line
            remaining = offset[:, None] * np.clip(
                1.0 - (self._driven[later[off]] - self._driven[now[off]][:, None]) / RETURN_DISTANCE_M, 0.0, 1.0)
            targets[off] += remaining[..., None] * left_of(heading_later[off])
        return labels_from(self._positions[seen], self._yaws[seen], targets, heading_later, spacing)
