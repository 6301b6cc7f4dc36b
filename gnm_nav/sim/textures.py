"""Small procedural surface textures (PNG bytes) so floors and walls have the detail a real camera sees.

Each pattern is a deterministic function of the material (kind, colour): the same spec always renders the
same pixels. Textures are tiny (128 px) because the robot camera is low-resolution anyway.
"""
from __future__ import annotations

import zlib

import cv2
import numpy as np

from gnm_nav.sim.world_spec import Material

SIZE = 128


def _smooth_noise(rng: np.random.Generator, cells: int, size: int = SIZE) -> np.ndarray:
    """Value noise in [-1, 1] that tiles seamlessly (wrap-around upsampling of a coarse grid)."""
    coarse = rng.uniform(-1.0, 1.0, (cells, cells)).astype(np.float32)
    tiled = np.tile(coarse, (3, 3))
    big = cv2.resize(tiled, (3 * size, 3 * size), interpolation=cv2.INTER_CUBIC)
    return np.clip(big[size:2 * size, size:2 * size], -1.0, 1.0)


def _pattern(kind: str, rng: np.random.Generator) -> np.ndarray:
    """Brightness multiplier map (about 1.0 on average) for one texture kind."""
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    fine = rng.uniform(-1.0, 1.0, (SIZE, SIZE)).astype(np.float32)
    if kind == "plain":
        return 1.0 + 0.02 * fine
    if kind == "plaster":
        return 1.0 + 0.05 * _smooth_noise(rng, 8) + 0.03 * fine
    if kind == "concrete":
        return 1.0 + 0.12 * _smooth_noise(rng, 6) + 0.06 * _smooth_noise(rng, 32) + 0.05 * fine
    if kind == "carpet":
        return 1.0 + 0.08 * _smooth_noise(rng, 16) + 0.12 * fine
    if kind == "metal":
        return 1.0 + 0.06 * np.sin(y * 0.9 + 2 * _smooth_noise(rng, 4)) + 0.03 * fine
    if kind == "wood":  # planks along x: per-plank tone, grain streaks, dark seams
        planks = 4
        plank = (y // (SIZE / planks)).astype(int)
        tone = rng.uniform(0.8, 1.15, planks)[plank]
        grain = 0.08 * np.sin(x * 0.15 + 6 * _smooth_noise(rng, 4) + plank * 1.7)
        seam = np.where((y % (SIZE / planks)) < 2, 0.55, 1.0)
        return tone * (1.0 + grain + 0.03 * fine) * seam
    if kind == "tiles":
        n = 4
        tile = (y // (SIZE / n)).astype(int) * n + (x // (SIZE / n)).astype(int)
        tone = rng.uniform(0.9, 1.08, n * n)[tile]
        grout = ((y % (SIZE / n)) < 2) | ((x % (SIZE / n)) < 2)
        return np.where(grout, 0.6, tone * (1.0 + 0.03 * fine))
    if kind == "checker":
        return np.where(((y // 32) + (x // 32)) % 2 == 0, 1.1, 0.85)
    if kind == "brick":
        rows = 8
        row = (y // (SIZE / rows)).astype(int)
        shifted = x + (row % 2) * (SIZE / 4)
        brick = row * 4 + (shifted // (SIZE / 2)).astype(int) % 2
        tone = rng.uniform(0.8, 1.15, rows * 4)[brick]
        mortar = ((y % (SIZE / rows)) < 2) | ((shifted % (SIZE / 2)) < 2)
        return np.where(mortar, 1.5, tone * (1.0 + 0.06 * fine))
    if kind == "stripes":
        return np.where((x // 16) % 2 == 0, 1.08, 0.92) * (1.0 + 0.02 * fine)
    if kind == "cardboard":
        tape = np.abs(y - SIZE / 2) < 6
        return np.where(tape, 1.25, 1.0 + 0.05 * _smooth_noise(rng, 12) + 0.04 * fine)
    raise ValueError(f"unknown texture kind {kind!r}")


def texture_png(material: Material) -> bytes:
    """PNG bytes of the material's texture (colour baked in; the MuJoCo material stays white)."""
    key = f"{material.texture}:{[round(c, 4) for c in material.rgb]}".encode()
    rng = np.random.default_rng(zlib.crc32(key))
    pattern = _pattern(material.texture, rng)
    rgb = np.clip(pattern[..., None] * np.asarray(material.rgb, dtype=np.float32)[None, None, :] * 255.0, 0, 255)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb.astype(np.uint8), cv2.COLOR_RGB2BGR))
    if not ok:
        raise RuntimeError("PNG encoding failed")  # cv2 always encodes a valid uint8 image
    return buf.tobytes()
