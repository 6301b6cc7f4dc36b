"""Held-out evaluation of a trained LDM: does it allow what was driven and reject what was not?

- recorded: the commands actually driven, at their observations -> fraction allowed (should be
  close to the calibration quantile);
- perturbed commands: each recorded command moved to a grid action far from it (at least
  `min_shift` of the grid's half-span, normalised per axis) -> fraction rejected;
- perturbed observations: the recorded command at a corrupted context (heavy pixel noise;
  inverted, channel-swapped colours) -> fraction rejected.
"""
from __future__ import annotations

import numpy as np

from gnm_nav.gnm.preprocessing import IMAGENET_MEAN, IMAGENET_STD

OBSERVATION_PERTURBATIONS = ("noise", "inverted")


def perturb_frames(frames: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    """Preprocessed frames [..., 3, H, W] (ImageNet-normalised) -> the same frames corrupted."""
    mean = IMAGENET_MEAN[:, None, None]
    std = IMAGENET_STD[:, None, None]
    pixels = frames * std + mean  # back to [0, 1]
    if kind == "noise":
        pixels = np.clip(0.3 * pixels + 0.7 * rng.random(pixels.shape, dtype=np.float32), 0.0, 1.0)
    elif kind == "inverted":
        pixels = 1.0 - pixels[..., ::-1, :, :]
    else:
        raise ValueError(f"unknown perturbation {kind!r}; choose from {OBSERVATION_PERTURBATIONS}")
    return ((pixels - mean) / std).astype(np.float32)


def shifted_commands(actions: np.ndarray, candidates: np.ndarray, low: np.ndarray, high: np.ndarray,
                     rng: np.random.Generator, min_shift: float = 0.75) -> np.ndarray:
    """For each action, a random grid candidate at least min_shift half-spans away (max-norm)."""
    half = np.maximum((high - low) / 2, 1e-6)
    dist = np.abs((candidates[None, :, :] - actions[:, None, :]) / half).max(axis=2)  # [N, K]
    out = np.empty_like(actions)
    for i, row in enumerate(dist):
        far = np.flatnonzero(row >= min_shift)
        out[i] = candidates[rng.choice(far) if len(far) else int(np.argmax(row))]
    return out


def allowed_fraction(ldm: np.ndarray, threshold: float) -> float:
    return float(np.mean(ldm <= threshold)) if len(ldm) else float("nan")
