"""Train the GNM on GNM-format datasets (several robots at once), with checkpoints, resume and a held-out report.

Labels and loss follow the reference (gnm_samples); optimiser Adam(lr 7e-4, betas 0.9/0.98) as in
the GNM paper, except that the dense layers learn at a tenth of that by default (gnm_optimizer).
Batches come from a uint8 frame cache (frame_cache), are drawn and gathered ahead in a thread (Prefetcher) and
normalised in torch on the device.
"""
from __future__ import annotations

import math
import queue
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator, Literal

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from gnm_nav.common.errors import CheckpointError, DatasetError
from gnm_nav.common.stats import pearson, slope_through_origin, spearman
from gnm_nav.data.gnm_format import GnmDataset
from gnm_nav.gnm.checkpoint import load_resume_state
from gnm_nav.gnm.preprocessing import IMAGENET_MEAN, IMAGENET_STD
from gnm_nav.gnm.training.frame_cache import FrameCache
from gnm_nav.gnm.training.samples import MAX_DIST, Batch, GnmSampler

DIST_WEIGHT = 0.5 * 1e-2
VARIANT_METRICS = ("distance_spearman", "distance_mae_steps", "waypoint_lateral_r", "waypoint_lateral_gain")
ACTION_WEIGHT = 0.5
PROGRESS_EVERY = 20  # steps between progress-bar loss updates (each waits for the device)


@dataclass
class TrainConfig:
    epochs: int = 10
    steps_per_epoch: int = 0  # 0 = one pass over the train samples
    batch_size: int = 64
    lr: float = 7e-4
    seed: int = 0
    eval_samples: int = 1024
    device: str = "auto"
    context_size: int = 5
    len_traj_pred: int = 5
    mirror_prob: float = 0.5  # training samples mirrored left-right (gnm_samples); held-out ones never
    dense_lr_scale: float = 0.1  # learning rate of the dense (Linear) layers relative to lr; 1 = the paper
    yaw_shift_prob: float = 0.5  # training samples turned on the spot (gnm_samples); held-out ones never
    max_yaw_shift_deg: float = 15.0
    twin_goal_prob: float = 0.5  # positive samples whose goal comes from the relit twin, where there is one
    side_context_prob: float = 0.5  # samples whose context comes from the side twin, where there is one
    side_goal_prob: float = 0.0  # positive samples whose goal comes from the side twin, where there is one
    history_dropout_prob: float = 0.0  # training samples whose context frames are all the current one
    precision: str = "auto"  # auto (bf16 on a GPU, fp32 on a CPU) | fp32 | bf16: the forward pass under autocast


@dataclass
class EpochRecord:
    epoch: int
    train_loss: float
    metrics: dict = field(default_factory=dict)
    seconds: float = 0.0


PRECISIONS = ("auto", "fp32", "bf16")


def use_bf16(precision: str, device: torch.device) -> bool:
    """Whether the forward pass runs under bf16 autocast (the weights, the optimiser and the loss stay fp32)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    return precision == "bf16" or (precision == "auto" and device.type == "cuda")


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda asked for, but torch sees no CUDA device")
    return torch.device(name)


@dataclass
class HostBatch:
    """A batch gathered on the host: its frames (uint8 [B, K, H, W, 3]) and labels as tensors, pinned when they go
    to a GPU, so `BatchMaker.finish` copies them without waiting for the device."""

    tensors: dict[str, torch.Tensor]
    any_mirror: bool
    any_shift: bool


class BatchMaker:
    """Frame-cache indices -> normalised tensors on the device (channels_last, as the model's weights), in two
    halves: `gather` (the host's array work, which a Prefetcher runs ahead in a thread) and `finish` (asynchronous
    copies to the device, then float, mirror, turn and normalise there: nothing in it waits for the device)."""

    def __init__(self, cache: FrameCache, device: torch.device) -> None:
        self.cache = cache
        self.device = device
        # (x / 255 - mean) / std as one subtraction and one product on the uint8 values
        self.mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 1, 3, 1, 1) * 255.0
        self.inv_std = 1.0 / (torch.tensor(IMAGENET_STD, device=device).view(1, 1, 3, 1, 1) * 255.0)
        self.pin = device.type == "cuda"

    def frames(self, indices: np.ndarray) -> torch.Tensor:
        """[B, K] cache indices -> uint8 [B, K, H, W, 3] on the host."""
        flat = torch.from_numpy(np.ascontiguousarray(self.cache.frames[indices.reshape(-1)]))
        return flat.view(*indices.shape, *flat.shape[1:])

    def gather(self, batch: Batch) -> HostBatch:
        tensors = {"obs": self.frames(batch.context), "goal": self.frames(batch.goal[:, None]),
                   "distance": torch.from_numpy(batch.distance), "action": torch.from_numpy(batch.action),
                   "mask": torch.from_numpy(batch.action_mask), "spacing": torch.from_numpy(batch.spacing_m),
                   "mirror": torch.from_numpy(batch.mirror), "shift": torch.from_numpy(batch.shift_px)}
        if self.pin:
            tensors = {k: v.pin_memory() for k, v in tensors.items()}
        return HostBatch(tensors, bool(batch.mirror.any()), bool(batch.shift_px.any()))

    def finish(self, host: HostBatch) -> dict[str, torch.Tensor]:
        t = {k: v.to(self.device, non_blocking=True) for k, v in host.tensors.items()}
        mirror, shift = t.pop("mirror"), t.pop("shift")
        mirror_rows = mirror if host.any_mirror else None
        t["obs"] = self.from_frames(t["obs"], mirror_rows, shift if host.any_shift else None)
        t["goal"] = self.from_frames(t["goal"], mirror_rows, None)
        return t

    def tensors(self, batch: Batch) -> dict[str, torch.Tensor]:
        return self.finish(self.gather(batch))

    def images(self, indices: np.ndarray, mirror: np.ndarray, shift_px: np.ndarray | None = None) -> torch.Tensor:
        """[B, K] cache indices -> [B, 3K, H, W] float32 (see from_frames)."""
        to = lambda a: torch.from_numpy(a).to(self.device)  # noqa: E731
        return self.from_frames(self.frames(indices).to(self.device), to(mirror) if mirror.any() else None,
                                to(shift_px) if shift_px is not None and shift_px.any() else None)

    def from_frames(self, frames: torch.Tensor, mirror: torch.Tensor | None,
                    shift: torch.Tensor | None) -> torch.Tensor:
        """uint8 [B, K, H, W, 3] on the device -> [B, 3K, H, W] float32; rows where mirror is set flipped
        left-right, then rows shifted right by shift (left if negative), the uncovered edge filled with the edge
        column. Whole-batch operations (no host-side row lists), so nothing waits for the device."""
        b, k = frames.shape[:2]
        x = frames.permute(0, 1, 4, 2, 3)  # still uint8: flipping and shifting move a quarter of the bytes
        if mirror is not None:
            x = torch.where(mirror.view(b, 1, 1, 1, 1), x.flip(-1), x)
        if shift is not None:
            width = x.shape[-1]
            src = (torch.arange(width, device=x.device)[None, :] - shift[:, None]).clamp_(0, width - 1)
            x = x.gather(-1, src[:, None, None, None, :].expand_as(x))
        x = x.float().sub_(self.mean).mul_(self.inv_std).reshape(b, 3 * k, x.shape[-2], x.shape[-1])
        return x.contiguous(memory_format=torch.channels_last)


class Prefetcher:
    """`count` batches, each drawn and gathered on the host in a background thread while the model trains on
    the one before (numpy's indexing and copies release the GIL); the same batches, in the same order, as
    drawing them in the loop. Use as a context manager: leaving it stops the thread."""

    def __init__(self, sampler: GnmSampler, maker: BatchMaker, batch_size: int, rng: np.random.Generator,
                 count: int, depth: int = 3) -> None:
        self._maker = maker
        self._count = count
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, args=(sampler, batch_size, rng), daemon=True)
        self._thread.start()

    def _produce(self, sampler: GnmSampler, batch_size: int, rng: np.random.Generator) -> None:
        try:
            for _ in range(self._count):
                if not self._put(self._maker.gather(sampler.sample(batch_size, rng))):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            self._put(exc)

    def _put(self, item: HostBatch | BaseException) -> bool:
        """Queue item unless the consumer has left (False then): a full queue never holds the thread past that."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        for _ in range(self._count):
            item = self._queue.get()
            if isinstance(item, BaseException):
                raise item
            yield self._maker.finish(item)

    def __enter__(self) -> "Prefetcher":
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def gnm_loss(dist: torch.Tensor, action: torch.Tensor, b: dict[str, torch.Tensor]) -> torch.Tensor:
    """0.5e-2 * MSE(distance) + 0.5 * MSE(action) over the samples whose action counts."""
    dist_loss = F.mse_loss(dist.squeeze(-1), b["distance"])
    per_sample = ((action - b["action"]) ** 2).mean(dim=(1, 2))
    action_loss = (per_sample * b["mask"]).sum() / b["mask"].sum().clamp(min=1.0)
    return DIST_WEIGHT * dist_loss + ACTION_WEIGHT * action_loss


def train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, b: dict[str, torch.Tensor],
               bf16: bool) -> torch.Tensor:
    """One optimiser step on a finished batch (forward under bf16 autocast when asked; loss and weights fp32);
    returns the loss, detached and still on the device."""
    with torch.autocast(b["obs"].device.type, dtype=torch.bfloat16, enabled=bf16):
        dist, action = model(b["obs"], b["goal"])
    loss = gnm_loss(dist.float(), action.float(), b)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach()


def gnm_optimizer(model: torch.nn.Module, lr: float, dense_lr_scale: float) -> torch.optim.Adam:
    """Adam with the dense layers in a group of their own at lr * dense_lr_scale.

    The dense layers take non-negative ReLU features with a fan-in of 1-2 thousand, so Adam's
    per-weight steps of about lr all push a unit the same way and at lr 7e-4 switch most units off
    for good within tens of steps (the shipped model kept 36 of its 1024 observation units). The
    BatchNorm-ed convolutions do not suffer from this, so they keep the full rate.
    """
    if dense_lr_scale <= 0:
        raise ValueError(f"dense_lr_scale must be > 0, got {dense_lr_scale}")
    dense = {id(p) for m in model.modules() if isinstance(m, torch.nn.Linear) for p in m.parameters()}
    return torch.optim.Adam([
        {"params": [p for p in model.parameters() if id(p) not in dense], "lr": lr},
        {"params": [p for p in model.parameters() if id(p) in dense], "lr": lr * dense_lr_scale},
    ], lr=lr, betas=(0.9, 0.98))


@torch.no_grad()
def evaluate(model: torch.nn.Module, maker: BatchMaker, batches: list[Batch],
             goal_swap: bool = True) -> dict[str, float]:
    """Held-out report: distance rank correlation, negatives told apart, waypoint error in metres, the
    correlation of predicted with true lateral waypoint offsets (steering), how many dense units live, and (with
    goal_swap, a second forward pass) whether the steering reads the goal."""
    model.eval()
    preds, labels, wp_err, losses, lateral, swapped = [], [], [], [], [], []
    alive: dict[torch.nn.Module, torch.Tensor] = {}  # per ReLU (the dense layers'): units active on some sample

    def record(module: torch.nn.Module, _inputs, out: torch.Tensor) -> None:
        active = (out > 0).flatten(1).any(0)
        alive[module] = alive[module] | active if module in alive else active

    hooks = [m.register_forward_hook(record) for m in model.modules() if isinstance(m, torch.nn.ReLU)]
    try:
        for batch in batches:
            b = maker.tensors(batch)
            dist, action = model(b["obs"], b["goal"])
            losses.append(float(gnm_loss(dist, action, b)))
            preds.append(dist.squeeze(-1).cpu().numpy())
            labels.append(batch.distance)
            err = torch.linalg.norm((action[..., :2] - b["action"][..., :2]) * b["spacing"][:, None, None],
                                    dim=-1).mean(1)
            wp_err.append(err[b["mask"] > 0].cpu().numpy())
            counted = b["mask"] > 0
            lateral.append(torch.stack([action[counted, :, 1], b["action"][counted, :, 1]], -1)
                           .reshape(-1, 2).cpu().numpy())
            if goal_swap:
                other_goal = model(b["obs"], b["goal"].roll(1, 0))[1]  # each sample with its neighbour's goal
                swapped.append(other_goal[counted, :, 1].reshape(-1).cpu().numpy())
    finally:  # the model goes back to training without the hooks, whatever happened
        for h in hooks:
            h.remove()
    pred, label, err = np.concatenate(preds), np.concatenate(labels), np.concatenate(wp_err)
    lateral_pairs = np.concatenate(lateral)
    positive = label < MAX_DIST
    model.train()
    return {
        "test_loss": float(np.mean(losses)),
        "distance_spearman": spearman(pred[positive], label[positive]),
        "distance_mae_steps": float(np.mean(np.abs(pred[positive] - label[positive]))),
        "negative_minus_positive_distance": (float(pred[~positive].mean() - pred[positive].mean())
                                             if (~positive).any() else float("nan")),
        "waypoint_error_m": float(err.mean()) if err.size else float("nan"),
        # does the model steer? ~0 when the action head only learned "drive straight" (a low error can hide that)
        "waypoint_lateral_r": pearson(lateral_pairs[:, 0], lateral_pairs[:, 1]),
        # how far it steers: the least-squares slope of predicted on true lateral offsets (< 1: it turns less than
        # the expert, as a regression to the mean does; 1 with r 1 would be exact)
        "waypoint_lateral_gain": slope_through_origin(lateral_pairs[:, 0], lateral_pairs[:, 1]),
        # share of the dense layers' ReLU units active on at least one held-out sample (dead units never learn)
        "dense_units_alive": (float(sum(int(a.sum()) for a in alive.values()) / sum(a.numel() for a in alive.values()))
                              if alive else float("nan")),
        "test_samples": int(len(label)),
        # does it steer toward the goal? the same lateral offsets predicted with another sample's goal: near 1 when
        # the steering comes from the context alone (then in closed loop it does not turn toward its subgoal)
        **({"goal_swap_lateral_r": pearson(lateral_pairs[:, 0], np.concatenate(swapped))} if goal_swap else {}),
    }


def format_metrics(metrics: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.3f}" for k, v in metrics.items() if isinstance(v, float))


def held_out_batches(sampler: GnmSampler, config: TrainConfig) -> list[Batch]:
    """The same eval_samples every epoch and every run (fixed seed), so reports compare."""
    rng = np.random.default_rng(12345)
    return [sampler.sample(min(config.batch_size, config.eval_samples), rng)
            for _ in range(max(1, config.eval_samples // config.batch_size))]


def report_on(model: torch.nn.Module, datasets: list[GnmDataset], cache: FrameCache,
              config: TrainConfig) -> dict[str, float]:
    """Held-out report on datasets kept out of training altogether (another robot body, other worlds); where they
    hold relit or side twins, also the figures with every goal seen in the other light (relit_*) and every context
    seen from beside the line (side_*)."""
    maker = BatchMaker(cache, next(model.parameters()).device)
    sampler = GnmSampler(datasets, "all", cache.offsets, config.context_size, config.len_traj_pred)
    metrics = evaluate(model, maker, held_out_batches(sampler, config))
    return {**metrics, **variant_figures("relit", model, maker, relit_batches(datasets, "all", cache, config)),
            **variant_figures("side", model, maker, side_batches(datasets, "all", cache, config)),
            **variant_figures("still", model, maker, still_batches(datasets, "all", cache, config)),
            **side_offset_figures(model, maker, side_pairs(datasets, "all", cache, config)),
            **side_offset_figures(model, maker, side_pairs(datasets, "all", cache, config, "goal"), "goal")}


def relit_batches(datasets: list[GnmDataset], split: Literal["train", "test", "all"], cache: FrameCache,
                  config: TrainConfig) -> list[Batch]:
    """The split's held-out batches with every positive goal taken from its relit twin (is a place still near
    when the goal was seen in other light?); none when the split holds no twins."""
    relit = GnmSampler(datasets, split, cache.offsets, config.context_size, config.len_traj_pred, twin_goal_prob=1.0)
    return held_out_batches(relit, config) if relit.twins else []


def side_batches(datasets: list[GnmDataset], split: Literal["train", "test", "all"], cache: FrameCache,
                 config: TrainConfig) -> list[Batch]:
    """The split's held-out batches with every context seen from the side twin, where there is one (does the model
    lead back onto the line from beside it?); none when the split holds no side twins."""
    side = GnmSampler(datasets, split, cache.offsets, config.context_size, config.len_traj_pred,
                      side_context_prob=1.0)
    return held_out_batches(side, config) if side.side_twins else []


def still_batches(datasets: list[GnmDataset], split: Literal["train", "test", "all"], cache: FrameCache,
                  config: TrainConfig) -> list[Batch]:
    """The split's held-out batches with every context frame the current one: how much of the steering comes from
    the view and the goal, not from continuing the motion the history shows."""
    still = GnmSampler(datasets, split, cache.offsets, config.context_size, config.len_traj_pred,
                       history_dropout_prob=1.0)
    return held_out_batches(still, config)


SIDE_MOVES = {"context": "side_offset", "goal": "side_goal_offset"}  # what a side pair moves -> its figures' name


def side_pairs(datasets: list[GnmDataset], split: Literal["train", "test", "all"], cache: FrameCache,
               config: TrainConfig, moved: Literal["context", "goal"] = "context") -> list[tuple[Batch, Batch]]:
    """The split's held-out positive samples twice: as drawn, and with the context (or the goal) seen from the side
    twin instead, the rest the same (side_offset_figures; a turned twin's context is its current frame alone, as in
    training); none when the split holds no side twins."""
    plain = GnmSampler(datasets, split, cache.offsets, config.context_size, config.len_traj_pred, negative_prob=0.0)
    side = GnmSampler(datasets, split, cache.offsets, config.context_size, config.len_traj_pred, negative_prob=0.0,
                      side_context_prob=float(moved == "context"), side_goal_prob=float(moved == "goal"))
    if not side.side_twins:
        return []
    return [(plain.sample(config.batch_size, np.random.default_rng([12345, k])),
             side.sample(config.batch_size, np.random.default_rng([12345, k])))
            for k in range(max(1, config.eval_samples // config.batch_size))]


@torch.no_grad()
def side_offset_figures(model: torch.nn.Module, maker: BatchMaker, pairs: list[tuple[Batch, Batch]],
                        moved: Literal["context", "goal"] = "context") -> dict[str, float]:
    """Over side_pairs: the correlation (`<name>_r`) and slope (`<name>_gain`: the share of the move it asks for) of
    the change in the last waypoint's predicted lateral offset against the change in its label. With the context
    moved (side_offset_*): does the model see that it stands beside the line and come back? With the goal moved
    (side_goal_offset_*): does it read where its goal is and go there, from the same view? The side_* figures mix
    the first in with the path's own curves; these pair it out. None without pairs from a side twin."""
    if not pairs:
        return {}
    model.eval()
    predicted, labelled = [], []
    for a, b in pairs:
        paired = (a.action_mask > 0) & ((a.context != b.context).any(axis=1) | (a.goal != b.goal))
        lateral_a, lateral_b = (model(t["obs"], t["goal"])[1][:, -1, 1].cpu().numpy()
                                for t in (maker.tensors(a), maker.tensors(b)))
        predicted.append((lateral_b - lateral_a)[paired])
        labelled.append((b.action[:, -1, 1] - a.action[:, -1, 1])[paired])
    model.train()
    change, wanted = np.concatenate(predicted), np.concatenate(labelled)
    if len(change) < 3:
        return {}
    name = SIDE_MOVES[moved]
    return {f"{name}_r": pearson(change, wanted), f"{name}_gain": slope_through_origin(change, wanted)}


def variant_figures(prefix: str, model: torch.nn.Module, maker: BatchMaker, batches: list[Batch]) -> dict[str, float]:
    """VARIANT_METRICS of held-out samples changed one way (turned, relit, side, still), named `<prefix>_*`; none
    without them."""
    if not batches:
        return {}
    figures = evaluate(model, maker, batches, goal_swap=False)
    return {f"{prefix}_{k}": v for k, v in figures.items() if k in VARIANT_METRICS}


def train_gnm(model: torch.nn.Module, datasets: list[GnmDataset], cache: FrameCache, config: TrainConfig,
              workdir: Path, resume: bool = True) -> list[EpochRecord]:
    """Train in place; a checkpoint after every epoch makes an interrupted run resumable."""
    device = pick_device(config.device)
    model.to(device)
    model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # (stubs lack memory_format)
    bf16 = use_bf16(config.precision, device)
    try:
        train = GnmSampler(datasets, "train", cache.offsets, config.context_size, config.len_traj_pred,
                           mirror_prob=config.mirror_prob, yaw_shift_prob=config.yaw_shift_prob,
                           max_yaw_shift_rad=math.radians(config.max_yaw_shift_deg),
                           twin_goal_prob=config.twin_goal_prob, side_context_prob=config.side_context_prob,
                           side_goal_prob=config.side_goal_prob, history_dropout_prob=config.history_dropout_prob)
    except ValueError as exc:
        raise DatasetError(f"nothing to train on: {exc}") from None
    try:
        test = GnmSampler(datasets, "test", cache.offsets, config.context_size, config.len_traj_pred)
    except ValueError as exc:
        raise DatasetError(f"no held-out data to report on: {exc}") from exc
    maker = BatchMaker(cache, device)
    eval_batches = held_out_batches(test, config)
    # the same held-out samples turned on the spot by up to max_yaw_shift_deg: is a view a few degrees off
    # the recorded one still near, and does the model turn back? (datasets of unknown field of view: unturned)
    turned = GnmSampler(datasets, "test", cache.offsets, config.context_size, config.len_traj_pred,
                        yaw_shift_prob=1.0, max_yaw_shift_rad=math.radians(config.max_yaw_shift_deg))
    turned_batches = held_out_batches(turned, config) if any(f is not None for f in turned.focal_px) else []
    relit_eval = relit_batches(datasets, "test", cache, config)
    side_eval = side_batches(datasets, "test", cache, config)
    still_eval = still_batches(datasets, "test", cache, config)
    side_eval_pairs = side_pairs(datasets, "test", cache, config)
    side_goal_pairs = side_pairs(datasets, "test", cache, config, "goal")
    optimizer = gnm_optimizer(model, config.lr, config.dense_lr_scale)
    steps = config.steps_per_epoch or max(1, math.ceil(len(train) / config.batch_size))
    checkpoint_path = workdir / "checkpoint.pt"
    history: list[EpochRecord] = []
    start_epoch = 0
    if resume and checkpoint_path.is_file():
        state = load_resume_state(checkpoint_path, map_location=device)
        try:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            history = [EpochRecord(**r) for r in state["history"]]
            start_epoch = int(state["epoch"])
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise CheckpointError(f"{checkpoint_path} was written for another model or other settings ({first}); "
                                  "start over with --restart") from None
        for group, rate in zip(optimizer.param_groups, (config.lr, config.lr * config.dense_lr_scale)):
            group["lr"] = rate  # these settings, not the checkpoint's
        print(f"resuming from {checkpoint_path} after epoch {start_epoch}")
    rng = np.random.default_rng(config.seed + start_epoch)
    model.train()
    for epoch in range(start_epoch, config.epochs):
        t0 = time.monotonic()
        total = torch.zeros((), device=device)  # summed on the device: reading it each step would wait for it
        with Prefetcher(train, maker, config.batch_size, rng, steps) as batches:
            bar = tqdm(batches, total=steps, desc=f"epoch {epoch + 1}/{config.epochs}", unit="batch")
            for step, b in enumerate(bar):
                total += train_step(model, optimizer, b, bf16)
                if (step + 1) % PROGRESS_EVERY == 0 or step + 1 == steps:
                    bar.set_postfix(loss=f"{float(total) / (step + 1):.4f}")
        metrics = evaluate(model, maker, eval_batches)
        metrics.update(variant_figures("turned", model, maker, turned_batches))
        metrics.update(variant_figures("relit", model, maker, relit_eval))
        metrics.update(variant_figures("side", model, maker, side_eval))
        metrics.update(variant_figures("still", model, maker, still_eval))
        metrics.update(side_offset_figures(model, maker, side_eval_pairs))
        metrics.update(side_offset_figures(model, maker, side_goal_pairs, "goal"))
        record = EpochRecord(epoch + 1, float(total) / steps, metrics, time.monotonic() - t0)
        history.append(record)
        print(f"epoch {record.epoch}: train loss {record.train_loss:.4f}, {format_metrics(record.metrics)}")
        workdir.mkdir(parents=True, exist_ok=True)
        tmp = checkpoint_path.with_suffix(".tmp")
        torch.save({"epoch": epoch + 1, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "history": [asdict(r) for r in history], "config": asdict(config)}, tmp)
        tmp.replace(checkpoint_path)
    return history
