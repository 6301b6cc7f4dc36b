"""int8 static quantisation of an exported GNM for CPU inference, calibrated on real camera frames.

Every part (whole, obs, goal) is quantised by ONNX Runtime (QDQ, int8 weights per output channel, uint8
activations with MinMax ranges from calibration samples: contexts and goals drawn from a GNM-format
dataset of the robot's own camera). The card of the int8 model records where it came from, how it was
calibrated, how far its outputs are from the fp32 model's on held-out samples of the same data (rank
correlation of the predicted distances, their mean difference, the waypoint difference), and its speed
against the fp32 model on this machine's CPU, measured by the command that made it.
"""
from __future__ import annotations

import dataclasses
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from gnm_nav.common.errors import DatasetError, ModelFileError
from gnm_nav.common.stats import spearman
from gnm_nav.data.gnm_format import GnmDataset
from gnm_nav.gnm.card import (
    PARTS,
    ModelCard,
    card_path_for,
    load_model_card,
    part_path_for,
    save_model_card,
    sha256_file,
)
from gnm_nav.gnm.preprocessing import preprocess_frame

MAX_GOAL_STEPS = 20  # goals up to this many frames ahead, as the GNM's training samples
CANDIDATES = 10  # the speed check times one step against this many goals (a planner window, the filter's grid)


@dataclass
class Samples:
    """Preprocessed model inputs: contexts [N, 3*(ctx+1), H, W] and goals [N, 3, H, W], float32."""

    obs: np.ndarray
    goal: np.ndarray

    def __len__(self) -> int:
        return len(self.obs)


def draw_samples(datasets: list[GnmDataset], card: ModelCard, count: int, rng: np.random.Generator,
                 trajectories: set[str] | None = None) -> Samples:
    """`count` (context, goal) pairs from the datasets' trajectories (only those named, when given): a context
    of ctx+1 consecutive frames and a goal 1..20 frames ahead in the same trajectory."""
    pool = [t for ds in datasets for t in ds.trajectories
            if len(t) > card.context_size + 1 and (trajectories is None or t.name in trajectories)]
    if not pool:
        raise DatasetError(f"no trajectory longer than {card.context_size + 1} frames to draw samples from")
    size = card.image_size
    obs, goal = [], []
    for _ in range(count):
        traj = pool[int(rng.integers(len(pool)))]
        t = int(rng.integers(card.context_size, len(traj) - 1))
        g = min(len(traj) - 1, t + int(rng.integers(1, MAX_GOAL_STEPS + 1)))
        frames = [preprocess_frame(traj.load_image(i), size, card.center_crop)
                  for i in range(t - card.context_size, t + 1)]
        obs.append(np.concatenate(frames, axis=0))
        goal.append(preprocess_frame(traj.load_image(g), size, card.center_crop))
    return Samples(np.stack(obs).astype(np.float32), np.stack(goal).astype(np.float32))


def split_trajectories(datasets: list[GnmDataset], held_out_share: float,
                       rng: np.random.Generator) -> tuple[set[str], set[str]]:
    """(calibration, held-out) trajectory names: the accuracy is measured on drives calibration never saw."""
    names = sorted({t.name for ds in datasets for t in ds.trajectories})
    if len(names) < 2:
        raise DatasetError("calibration data needs at least two trajectories (one is held out for the accuracy)")
    order = [names[i] for i in rng.permutation(len(names))]
    held = max(1, int(round(held_out_share * len(names))))
    return set(order[held:]), set(order[:held])


def _part_inputs(part: str, samples: Samples, encode) -> Iterator[dict[str, np.ndarray]]:
    """The inputs each part sees at run time, one sample at a time (the goal part with its obs encoding)."""
    for i in range(len(samples)):
        obs, goal = samples.obs[i:i + 1], samples.goal[i:i + 1]
        if part == "whole":
            yield {"obs_img": obs, "goal_img": goal}
        elif part == "obs":
            yield {"obs_img": obs}
        else:
            yield {"obs_img": obs, "goal_img": goal, "obs_encoding": encode(obs)}


def _calibration_reader(inputs: Iterator[dict[str, np.ndarray]]):
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(inputs, None)

    return Reader()


def quantize_parts(src: Path, out: Path, calibration: Samples, encode) -> None:
    """Write out's three int8 parts from src's fp32 parts; `encode(obs)` gives the fp32 obs encoding."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    for part in PARTS:
        quantize_static(str(part_path_for(src, part)), str(part_path_for(out, part)),
                        _calibration_reader(_part_inputs(part, calibration, encode)),
                        quant_format=QuantFormat.QDQ, per_channel=True, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax)


def accuracy_vs(reference, candidate, samples: Samples) -> dict[str, float]:
    """How far the candidate engine's outputs are from the reference's on the same inputs (one goal each)."""
    ref = [reference.evaluate(samples.obs[i:i + 1], samples.goal[i:i + 1]) for i in range(len(samples))]
    out = [candidate.evaluate(samples.obs[i:i + 1], samples.goal[i:i + 1]) for i in range(len(samples))]
    d_ref = np.array([d[0] for d, _ in ref])
    d_out = np.array([d[0] for d, _ in out])
    a_ref = np.stack([a[0] for _, a in ref])
    a_out = np.stack([a[0] for _, a in out])
    return {"distance_spearman": spearman(d_ref, d_out),
            "distance_mean_abs_diff_steps": float(np.mean(np.abs(d_ref - d_out))),
            "waypoint_mean_diff": float(np.mean(np.linalg.norm(a_ref[..., :2] - a_out[..., :2], axis=-1))),
            "samples": len(samples)}


def speed_vs(reference, candidate, samples: Samples, iterations: int = 200) -> dict[str, float]:
    """Median wall ms of one step (an observation against CANDIDATES goals) for both engines, interleaved."""
    obs, goals = samples.obs[:1], np.repeat(samples.goal[:1], CANDIDATES, axis=0)
    times: dict[str, list[float]] = {"fp32": [], "int8": []}
    engines = {"fp32": reference, "int8": candidate}
    for i in range(iterations + 10):
        for name in (("fp32", "int8") if i % 2 == 0 else ("int8", "fp32")):
            started = time.perf_counter()
            engines[name].evaluate(obs, goals)
            if i >= 10:  # warm-up left out
                times[name].append((time.perf_counter() - started) * 1e3)
    fp32, int8 = (float(np.median(times[k])) for k in ("fp32", "int8"))
    return {"fp32_ms_p50": fp32, "int8_ms_p50": int8, "speedup": fp32 / int8, "candidates": CANDIDATES,
            "threads": reference.threads, "iterations": iterations}


def quantize_gnm(src: Path, out: Path, datasets: list[GnmDataset], calibration_samples: int = 256,
                 held_out_samples: int = 256, held_out_share: float = 0.25, seed: int = 0,
                 command: str = "") -> ModelCard:
    """Quantise the GNM at `src` (fp32, with its card) into `out` (+ parts and card); returns the new card."""
    from gnm_nav.gnm.engine import GNMEngine

    src_card = load_model_card(src)
    if src_card.architecture != "gnm":
        raise ModelFileError(f"{src} is a '{src_card.architecture}' model, not a GNM")
    rng = np.random.default_rng(seed)
    calib_names, held_names = split_trajectories(datasets, held_out_share, rng)
    calibration = draw_samples(datasets, src_card, calibration_samples, rng, calib_names)
    held_out = draw_samples(datasets, src_card, held_out_samples, rng, held_names)
    reference = GNMEngine(src, providers="cpu")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # Everything is made and measured in a scratch folder beside `out`, then moved in, the card last: an
    # interrupted run leaves no model without its figures.
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.stem}.") as scratch:
        staged = Path(scratch) / out.name
        quantize_parts(src, staged, calibration, reference.encode_observation)
        card = dataclasses.replace(
            src_card, files={p: part_path_for(out, p).name for p in PARTS},
            sha256={p: sha256_file(part_path_for(staged, p)) for p in PARTS}, directory=out.parent)
        save_model_card(card, staged)  # the engine reads the card to load the parts
        candidate = GNMEngine(staged, providers="cpu")
        quantization: dict[str, Any] = {
            "method": "onnxruntime static quantisation, QDQ, int8 weights per channel, uint8 activations, MinMax",
            "from_model": src.name, "from_sha256": dict(src_card.sha256), "fp32_metrics": src_card.metrics,
            "command": command,
            "calibration": {"datasets": sorted({ds.name for ds in datasets}), "root": str(datasets[0].root),
                            "samples": calibration_samples, "trajectories": len(calib_names)},
            "held_out": {"trajectories": len(held_names), "samples": held_out_samples},
        }
        metrics = {"vs_fp32": accuracy_vs(reference, candidate, held_out),
                   "speed_vs_fp32_cpu": speed_vs(reference, candidate, held_out)}
        card = dataclasses.replace(card, training={**(src_card.training or {}), "quantization": quantization},
                                   metrics=metrics)
        save_model_card(card, staged)
        for part in PARTS:
            part_path_for(staged, part).replace(part_path_for(out, part))
        card_path_for(staged).replace(card_path_for(out))
    return card
