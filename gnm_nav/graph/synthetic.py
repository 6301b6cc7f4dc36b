"""Synthetic routes with known ground truth, for tests, benchmarks and demos without a robot.

A route is a long smooth random texture (a "corridor wall"); the camera view at position p is the
window of the texture starting at column p. Nearby positions give overlapping views, far ones
unrelated views, like driving past a textured scene. `pixel_distance_evaluator` is a stand-in for
the model with a known behaviour: its distance grows with the pixel difference between the current
frame and each goal image, so the node whose image equals the frame is at distance 0.
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from PIL import Image

VIEW_SIZE = (85, 64)  # (width, height): views are made at model resolution


def route_texture(length_px: int, seed: int, height: int = VIEW_SIZE[1], feature_px: int = 32) -> np.ndarray:
    """uint8 [height, length_px + view width, 3] smooth random colour texture."""
    rng = np.random.default_rng(seed)
    width = length_px + VIEW_SIZE[0]
    coarse = rng.integers(0, 256, size=(max(2, height // feature_px), max(2, width // feature_px), 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC), dtype=np.uint8)


def view(texture: np.ndarray, position_px: float) -> np.ndarray:
    """The camera frame at a (sub-pixel, linearly interpolated) position along the texture."""
    p0 = int(np.floor(position_px))
    frac = position_px - p0
    a = texture[:, p0:p0 + VIEW_SIZE[0]].astype(np.float32)
    if frac == 0.0:
        return a.astype(np.uint8)
    b = texture[:, p0 + 1:p0 + 1 + VIEW_SIZE[0]].astype(np.float32)
    return np.clip((1 - frac) * a + frac * b + 0.5, 0, 255).astype(np.uint8)


def route_views(count: int, spacing_px: int, seed: int) -> np.ndarray:
    """uint8 [count, 64, 85, 3]: node images every spacing_px along one route texture."""
    texture = route_texture(count * spacing_px, seed)
    return np.stack([view(texture, i * spacing_px) for i in range(count)])


def pixel_distance_evaluator(context_size: int = 5, scale: float = 12.0, max_dist: float = 20.0):
    """A model stand-in: dist = scale * mean |current frame - goal| (normalised units), clipped at max_dist."""

    def evaluate(obs_img: np.ndarray, goal_imgs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        current = obs_img[0, 3 * context_size:3 * context_size + 3]
        mad = np.abs(goal_imgs - current[None]).mean(axis=(1, 2, 3))
        dist = np.minimum(max_dist, scale * mad).astype(np.float32)
        actions = np.zeros((len(goal_imgs), 5, 4), dtype=np.float32)
        actions[..., 0] = np.linspace(0.2, 1.0, 5)[None]
        actions[..., 2] = 1.0
        return dist, actions

    return evaluate


class PixelDistanceEngine:
    """A GNMEngine stand-in with known behaviour (pixel_distance_evaluator) and a GNM-like card."""

    def __init__(self, context_size: int = 5, context_spacing_s: float = 0.25, scale: float = 12.0) -> None:
        self.card = SimpleNamespace(context_size=context_size, image_size=VIEW_SIZE,
                                    context_spacing_s=context_spacing_s, center_crop=False, len_traj_pred=5)
        self.evaluate = pixel_distance_evaluator(context_size, scale)
