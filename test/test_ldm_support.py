"""Shared helpers for the LDM/safety-filter tests: a synthetic GNM-format dataset and one trained LDM.

Frames are drawn procedurally from the pose (colour bands that slide with heading and position), so
observations really depend on where the robot is and how it moved. The trained model is built
once per test process (both test modules use it) by the real `gnm-nav train ldm` command.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from gnm_nav.data.gnm_format import write_data_config, write_splits, write_trajectory

DATASET = "synth"
FRAME_SIZE = (64, 48)  # (width, height)
_TRAINED: dict[str, Path] = {}


def render(x: float, y: float, yaw: float) -> np.ndarray:
    w, h = FRAME_SIZE
    bearing = yaw + np.linspace(-0.6, 0.6, w)[None, :]
    rows = np.linspace(0.0, 1.0, h)[:, None]
    r = 0.5 + 0.5 * np.sin(3.0 * bearing + 0.8 * x) * np.ones_like(rows)
    g = 0.5 + 0.5 * np.cos(2.0 * bearing - 0.8 * y) * (rows > 0.4)
    b = rows * (0.5 + 0.5 * np.sin(bearing + 0.3 * (x + y)))
    return (np.stack(np.broadcast_arrays(r, g, b), axis=2) * 255).astype(np.uint8)


def drive(rng: np.random.Generator, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Forward driving at 0.3-0.5 m/s with gentle turns (|w| < 0.4 rad/s), sampled at 4 Hz."""
    x, y, yaw = rng.uniform(-1, 1), rng.uniform(-1, 1), rng.uniform(-math.pi, math.pi)
    phase = rng.uniform(0, 2 * math.pi)
    positions, yaws = [], []
    for t in range(steps):
        positions.append((x, y))
        yaws.append(yaw)
        v = 0.4 + 0.1 * math.sin(0.2 * t + phase)
        w = 0.35 * math.sin(0.15 * t + phase)
        x += v * 0.25 * math.cos(yaw)
        y += v * 0.25 * math.sin(yaw)
        yaw += w * 0.25
    return np.array(positions), np.array(yaws)


def make_dataset(root: Path, trajectories: int = 16, steps: int = 40, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    names = []
    for i in range(trajectories):
        positions, yaws = drive(rng, steps)
        frames = [render(px, py, yaw) for (px, py), yaw in zip(positions, yaws)]
        names.append(f"traj_{i}")
        write_trajectory(root / DATASET, names[-1], frames, positions, yaws)
    write_data_config(root, {DATASET: {"metric_waypoint_spacing": 0.1}})
    write_splits(root, DATASET, names[:-4], names[-4:])
    return root


def make_encoder(path: Path, data_root: Path, seed: int = 0) -> Path:
    """A random-weight GNM whose BatchNorm statistics are estimated on the synthetic frames, exported to ONNX.

    Freshly initialised BatchNorm statistics make a random GNM's encoding constant across images
    (per-dimension spread ~1e-8), so nothing could be learned from it; with statistics from the data
    the same random network gives informative random features, as a trained encoder would.
    """
    import torch

    from gnm_nav.data.gnm_format import read_dataset
    from gnm_nav.gnm.export import export_gnm, random_init_gnm
    from gnm_nav.gnm.preprocessing import preprocess_frame, stack_frames
    from gnm_nav.ldm.transitions import context_frame_indices

    obs = []
    for traj in read_dataset(data_root, DATASET)[0].trajectories[:3]:
        frames = [preprocess_frame(traj.load_image(i)) for i in range(len(traj))]
        obs += [stack_frames([frames[i] for i in row]) for row in context_frame_indices(len(traj), 5)]
    model = random_init_gnm(seed=seed)
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.momentum = None  # cumulative average over the one calibration batch
            module.reset_running_stats()
    model.train()
    with torch.no_grad():
        model.encode_observation(torch.from_numpy(np.concatenate(obs)))
    export_gnm(model.eval(), path)
    return path


def run_train(argv: list[str]) -> int:
    """`gnm-nav train ARGV` through the train command's own parser (the CLI's other commands are not needed)."""
    import argparse

    from gnm_nav.commands import train

    parser = argparse.ArgumentParser(prog="gnm-nav train")
    train.add_arguments(parser)
    args = parser.parse_args(argv)
    with torch_threads():
        return args.func(args)


@contextmanager
def torch_threads(n: int | None = None):
    """Run a block with n torch threads (None: as they are), then restore the count: `--threads` and
    torch.set_num_threads change it for the whole test process. One thread is fastest for these tiny
    networks on a busy 2-core machine (spinning worker threads only steal time)."""
    import torch

    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


TRAIN_SETTINGS = ["--epochs", "40", "--batch-size", "64", "--pca-dim", "8", "--state-components", "4",
                  "--grid", "7", "7", "--providers", "cpu", "--threads", "1"]


def trained_ldm(tmp_path_factory) -> tuple[Path, Path]:
    """(LDM head, its encoder) trained on the synthetic dataset; built once per test process."""
    if "model" not in _TRAINED:
        base = tmp_path_factory.mktemp("ldm")
        data = make_dataset(base / "data")
        encoder = make_encoder(base / "encoder.onnx", data)
        out = base / "ldm.onnx"
        assert run_train(["ldm", "--data", str(data), "--encoder", str(encoder), "--out", str(out)]
                         + TRAIN_SETTINGS) == 0
        _TRAINED["model"], _TRAINED["encoder"] = out, encoder
    return _TRAINED["model"], _TRAINED["encoder"]
