"""Seeded fuzzing of what arrives from outside: camera messages (raw and compressed) and velocity commands into
the safety filter. Every input either decodes/filters to a sane result or is refused with the package's own
error; nothing crashes, nothing non-finite or out of bounds comes out. The counts are quoted in the README."""
from __future__ import annotations

import math

import cv2
import numpy as np

from gnm_nav.common.errors import ImageDecodeError
from gnm_nav.image_codec import SUPPORTED_ENCODINGS, decode_compressed, decode_raw
from gnm_nav.ldm.export import ActionGrid
from gnm_nav.ldm.filter import FilterSettings, SafetyFilter

RAW_CASES = 2000
COMPRESSED_CASES = 1000
COMMAND_CASES = 5000


def _raw_case(rng: np.random.Generator) -> tuple[str, int, int, int, bytes]:
    encoding = str(rng.choice([*SUPPORTED_ENCODINGS, "32FC1", "", "RGB8", "yuv422\0"]))
    height, width = (int(x) for x in rng.choice([0, 1, 2, 3, 7, 64, 65535, -1, 1 << 31], 2))
    width = int(rng.integers(0, 40)) if rng.random() < 0.7 else width
    height = int(rng.integers(0, 40)) if rng.random() < 0.7 else height
    step = int(rng.choice([0, 1, 3 * max(width, 0), 4 * max(width, 0) + 3, 2 * max(width, 0), 1 << 40, -8]))
    size = int(rng.choice([0, 1, max(step, 0) * max(height, 0), 97])) if abs(step * height) < 1 << 20 else 64
    return encoding, height, width, step, rng.bytes(min(size, 1 << 16))


def test_malformed_raw_images_decode_or_are_refused():
    rng = np.random.default_rng(2024)
    decoded = refused = 0
    for _ in range(RAW_CASES):
        case = _raw_case(rng)
        try:
            rgb = decode_raw(*case)
        except ImageDecodeError:
            refused += 1
            continue
        assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3 and rgb.shape[:2] == (case[1], case[2])
        decoded += 1
    assert decoded > 50 and refused > 1000  # both sides exercised


def test_malformed_compressed_images_decode_or_are_refused():
    rng = np.random.default_rng(7)
    good = [cv2.imencode(ext, rng.integers(0, 256, (24, 32, 3), dtype=np.uint8))[1].tobytes()
            for ext in (".png", ".jpg")]
    refused = 0
    for _ in range(COMPRESSED_CASES):
        data = bytearray(good[int(rng.integers(0, 2))])
        how = rng.integers(0, 4)
        if how == 0:  # truncated
            data = data[: int(rng.integers(0, len(data)))]
        elif how == 1:  # bytes flipped, the header included
            for i in rng.integers(0, min(len(data), 64), int(rng.integers(1, 8))):
                data[i] = int(rng.integers(0, 256))
        elif how == 2:  # noise
            data = bytearray(rng.bytes(int(rng.integers(0, 512))))
        else:  # the body flipped
            for i in rng.integers(0, len(data), int(rng.integers(1, 32))):
                data[i] = int(rng.integers(0, 256))
        try:
            rgb = decode_compressed(str(rng.choice(["png", "jpeg", "rgb8; jpeg compressed bgr8"])), bytes(data))
        except ImageDecodeError:
            refused += 1
            continue
        assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3
    assert refused > COMPRESSED_CASES // 4


def test_random_and_absurd_commands_come_out_finite_and_within_the_limits():
    grid = ActionGrid(0.0, 0.6, 7, -1.0, 1.0, 5).candidates()
    rng = np.random.default_rng(11)

    def scorer(embedding: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        g = 10 * np.abs(actions[:, 0] - 0.3) + 5 * np.abs(actions[:, 1]) + float(embedding[0, 0])
        return g - 0.5, g

    f = SafetyFilter(scorer, grid, 2.05, FilterSettings(source_timeout=1.0, stop_pub_timeout=0.5,
                                                        fallback_timeout=0.3))
    specials = np.array([0.0, -0.0, 1e-300, -0.05, 0.3, 0.61, 1e6, 1e308, -1e308, 3.5e38, np.inf, -np.inf, np.nan])
    pairs = [(float(v), float(w)) for v in specials for w in specials]  # every pair of them, then random ones
    pairs += [tuple(float(rng.choice(specials)) if rng.random() < 0.3 else float(rng.normal(0, 10) ** 3)
                    for _ in range(2)) for _ in range(COMMAND_CASES - len(pairs))]
    t = 0.0
    for v, w in pairs:
        if rng.random() < 0.9:  # a live camera, now and then late
            f.set_observation(np.array([[float(rng.choice([0.0, 1.0, 5.0, np.nan]))]]), t)
        t += float(rng.choice([0.0, 0.05, 0.1, 0.7]))
        decision = f.on_command(v, w, t)
        if decision is None or decision.output is None:  # dropped (non-finite), or silent after a stale stop
            assert decision is not None or not (math.isfinite(v) and math.isfinite(w))
            continue
        ov, ow = decision.output
        assert math.isfinite(ov) and math.isfinite(ow), (v, w, decision)
        assert -0.1 - 1e-9 <= ov <= 0.6 + 1e-9 and abs(ow) <= 1.0 + 1e-9, (v, w, decision)
