"""How likely is the model's predicted distance to a node, given how far the node truly is? Fitted on data.

The GNM's temporal distance is a noisy, biased reading (on a body it was not trained on, distances run high;
a node behind the robot reads neither as near nor as far as an unrelated place). The belief over graph nodes
(gnm_nav.graph.belief) needs that reading as a likelihood: p(predicted | true signed offset in model steps).
It is fitted from a GNM-format dataset of the robot's own camera: contexts from its trajectories, goals
`k` frames ahead or behind in the same trajectory (|k| <= MAX_OFFSET), and goals from other trajectories
("far"); per offset the median and a robust spread. A share of outliers (`outlier`) keeps one wild reading
from deciding. Stored as JSON beside the model (`<model>.likelihood.json`) with what it was fitted on.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gnm_nav.common.atomic import atomic_write_json
from gnm_nav.common.errors import ModelFileError

MAX_OFFSET = 20  # model steps (5 s at 4 Hz): the GNM's training goals lie at most this far ahead
MIN_SD = 0.75  # model steps: no offset is read more precisely than this (a few samples can look exact)
DISTANCE_RANGE = 40.0  # model steps: the outlier component is uniform over [0, DISTANCE_RANGE]
FORMAT_VERSION = 1


@dataclass(frozen=True)
class DistanceLikelihood:
    offsets: tuple[int, ...]  # true signed offset (model steps; negative = the node lies behind)
    mean: tuple[float, ...]  # predicted distance's centre at each offset
    sd: tuple[float, ...]  # and its spread
    far_mean: float  # an unrelated node (another trajectory, or beyond MAX_OFFSET)
    far_sd: float
    outlier: float = 0.05  # share of readings that say nothing (uniform over DISTANCE_RANGE)
    fitted_on: dict[str, Any] = field(default_factory=dict)  # data, samples, model sha256, command

    def __post_init__(self) -> None:
        n = len(self.offsets)
        if n < 2 or len(self.mean) != n or len(self.sd) != n or list(self.offsets) != sorted(self.offsets):
            raise ValueError("a distance likelihood needs sorted offsets with one mean and sd each")
        values = [*self.mean, *self.sd, self.far_mean, self.far_sd]
        if not all(math.isfinite(v) for v in values) or min(*self.sd, self.far_sd) <= 0:
            raise ValueError("a distance likelihood needs finite means and positive spreads")
        if not 0.0 <= self.outlier < 1.0:
            raise ValueError(f"outlier share must be in [0, 1), got {self.outlier}")

    @classmethod
    def uncalibrated(cls) -> "DistanceLikelihood":
        """For a model without a fitted likelihood: the reading taken at its word (the distance to a node ahead
        is its offset, a node behind reads as far), with a spread growing with the offset."""
        offsets = tuple(range(-MAX_OFFSET, MAX_OFFSET + 1))
        mean = tuple(float(k) if k >= 0 else 15.0 for k in offsets)
        sd = tuple(1.5 + 0.2 * abs(k) for k in offsets)
        return cls(offsets, mean, sd, far_mean=15.0, far_sd=5.0, fitted_on={"data": "none (uncalibrated)"})

    def centre(self, offset_steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(centre, spread) of the reading at each offset; a NaN offset or one beyond the fitted range means far."""
        offset = np.asarray(offset_steps, dtype=np.float64)
        far = ~np.isfinite(offset) | (offset < self.offsets[0]) | (offset > self.offsets[-1])
        safe = np.where(far, 0.0, offset)
        mean = np.where(far, self.far_mean, np.interp(safe, self.offsets, self.mean))
        sd = np.where(far, self.far_sd, np.interp(safe, self.offsets, self.sd))
        return mean, sd

    def log_pdf(self, predicted: np.ndarray, offset_steps: np.ndarray) -> np.ndarray:
        """log p(predicted | offset), elementwise; a NaN offset or one beyond the fitted range means far."""
        mean, sd = self.centre(offset_steps)
        return self.log_mixture(np.asarray(predicted, dtype=np.float64), mean, sd)

    def log_pdf_far(self, predicted: np.ndarray) -> np.ndarray:
        predicted = np.asarray(predicted, dtype=np.float64)
        return self.log_mixture(predicted, np.full_like(predicted, self.far_mean), np.full_like(predicted, self.far_sd))

    def log_mixture(self, x: np.ndarray, mean: np.ndarray, sd: np.ndarray) -> np.ndarray:
        """log of the reading model at a given centre and spread: Gaussian, plus the outlier share."""
        gauss = np.exp(-0.5 * ((x - mean) / sd) ** 2) / (sd * math.sqrt(2 * math.pi))
        return np.log((1 - self.outlier) * gauss + self.outlier / DISTANCE_RANGE)

    def to_dict(self) -> dict[str, Any]:
        return {"format_version": FORMAT_VERSION, **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str) -> "DistanceLikelihood":
        try:
            if data.get("format_version") != FORMAT_VERSION:
                raise ValueError(f"format_version {data.get('format_version')!r}, expected {FORMAT_VERSION}")
            return cls(tuple(int(k) for k in data["offsets"]), tuple(float(v) for v in data["mean"]),
                       tuple(float(v) for v in data["sd"]), float(data["far_mean"]), float(data["far_sd"]),
                       float(data.get("outlier", 0.05)), dict(data.get("fitted_on", {})))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ModelFileError(f"{where}: not a distance likelihood ({exc})") from None


def likelihood_path_for(model_path: str | Path) -> Path:
    """Where a model's fitted likelihood lives: beside it, `<stem>.likelihood.json`."""
    path = Path(model_path)
    return path.with_name(f"{path.stem}.likelihood.json")


def model_likelihood(model_path: str | Path) -> DistanceLikelihood | None:
    """The model's own fitted likelihood (`<stem>.likelihood.json` beside it), None when it has none; a file that
    is there but unreadable is a ModelFileError."""
    beside = likelihood_path_for(model_path)
    return load_likelihood(beside) if beside.is_file() else None


def save_likelihood(likelihood: DistanceLikelihood, path: str | Path) -> Path:
    atomic_write_json(Path(path), likelihood.to_dict())
    return Path(path)


def load_likelihood(path: str | Path) -> DistanceLikelihood:
    """ModelFileError naming the file when it is missing or malformed."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ModelFileError(f"no distance likelihood at {path} (fit one: gnm-nav graph fit-likelihood)") from None
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"{path}: unreadable distance likelihood ({exc})") from None
    if not isinstance(data, dict):
        raise ModelFileError(f"{path}: not a distance likelihood (expected a JSON object)")
    return DistanceLikelihood.from_dict(data, str(path))


def robust_spread(values: np.ndarray) -> float:
    """Standard deviation read from the median absolute deviation (outliers barely move it), floored at MIN_SD."""
    mad = float(np.median(np.abs(values - np.median(values))))
    return max(1.4826 * mad, MIN_SD)


def fit_likelihood(readings: dict[int, list[float]], far: list[float], outlier: float = 0.05,
                   fitted_on: dict[str, Any] | None = None, min_samples: int = 8) -> DistanceLikelihood:
    """From predicted distances grouped by true offset (and to unrelated goals): median and robust spread each.
    Offsets with fewer than min_samples readings are left out (interpolated between their neighbours)."""
    offsets = sorted(k for k, v in readings.items() if len(v) >= min_samples)
    if len(offsets) < 2 or len(far) < min_samples:
        raise ValueError(f"too few readings to fit a distance likelihood (offsets with >= {min_samples} readings: "
                         f"{len(offsets)}, far readings: {len(far)})")
    mean = tuple(float(np.median(readings[k])) for k in offsets)
    sd = tuple(robust_spread(np.asarray(readings[k])) for k in offsets)
    far_arr = np.asarray(far)
    return DistanceLikelihood(tuple(offsets), mean, sd, float(np.median(far_arr)), robust_spread(far_arr), outlier,
                              dict(fitted_on or {}))


def collect_readings(engine, datasets: list, contexts: int, rng: np.random.Generator,
                     far_per_context: int = 4, progress=None) -> tuple[dict[int, list[float]], list[float]]:
    """Predicted distances from `contexts` random contexts of the datasets' trajectories to goals at every offset
    within MAX_OFFSET frames of the context's last frame (one batched model call per context), and to
    `far_per_context` frames of other trajectories. The datasets' frame rate must be the model's step rate."""
    from gnm_nav.common.errors import DatasetError
    from gnm_nav.gnm.preprocessing import preprocess_frame, stack_frames

    card = engine.card
    for ds in datasets:
        rate = ds.config.get("frame_rate_hz")
        if rate is not None and abs(float(rate) * card.context_spacing_s - 1.0) > 1e-3:
            raise DatasetError(f"dataset {ds.name} has {rate} frames/s; the model steps every "
                               f"{card.context_spacing_s} s, so frame offsets are not model steps")
    pool = [t for ds in datasets for t in ds.trajectories if len(t) > card.context_size + 1]
    if len(pool) < 2:
        raise DatasetError("fitting a distance likelihood needs at least two trajectories (the far readings come "
                           "from another one)")
    size, crop = card.image_size, card.center_crop

    def frame(traj, i: int) -> np.ndarray:
        return preprocess_frame(traj.load_image(i), size, crop)

    readings: dict[int, list[float]] = {}
    far: list[float] = []
    for _ in range(contexts):
        ti = int(rng.integers(len(pool)))
        traj = pool[ti]
        t = int(rng.integers(card.context_size, len(traj)))
        obs = stack_frames([frame(traj, i) for i in range(t - card.context_size, t + 1)])
        offsets = [k for k in range(-MAX_OFFSET, MAX_OFFSET + 1) if 0 <= t + k < len(traj)]
        others = [pool[j] for j in rng.choice([j for j in range(len(pool)) if j != ti], far_per_context)]
        goals = [frame(traj, t + k) for k in offsets] + [frame(o, int(rng.integers(len(o)))) for o in others]
        dist, _ = engine.evaluate(obs, np.stack(goals))
        dist = np.asarray(dist, dtype=np.float64).reshape(-1)
        for k, d in zip(offsets, dist):
            readings.setdefault(k, []).append(float(d))
        far.extend(float(d) for d in dist[len(offsets):])
        if progress is not None:
            progress(1)
    return readings, far
