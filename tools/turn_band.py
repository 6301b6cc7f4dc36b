"""How much of a model's answer to a virtual yaw turn comes from the turn's edge band rather than the view.

The trainer turns a sample on the spot by shifting its frames sideways and filling the uncovered edge with the
edge column (gnm_nav.gnm.training.train.BatchMaker). A network can learn to read that band instead of the
view. On held-out positive samples this compares the change in the predicted lateral waypoint for a whole shift
of `--pixels` with the change for the band alone (the same edge columns overwritten, the view not moved), both
ways; docs/decisions.md quotes it. Usage:

    python tools/turn_band.py models/gnm_relit.onnx [more.onnx ...] [--data data/turtlebot_relit --pixels 8]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from gnm_nav.data.gnm_format import read_dataset
from gnm_nav.gnm.onnx_import import gnm_from_onnx
from gnm_nav.gnm.training.frame_cache import build_frame_cache
from gnm_nav.gnm.training.samples import GnmSampler
from gnm_nav.gnm.training.train import BatchMaker, TrainConfig, held_out_batches


def band_only(frames: torch.Tensor, pixels: int) -> torch.Tensor:
    """uint8 [B, K, H, W, 3] with the `pixels` columns on the left (pixels > 0) or right (< 0) overwritten by the
    next column in, as a shift of that many pixels would fill them, the view itself not moved."""
    out = frames.clone()
    if pixels > 0:
        out[:, :, :, :pixels] = out[:, :, :, pixels:pixels + 1]
    else:
        out[:, :, :, pixels:] = out[:, :, :, pixels - 1:pixels]
    return out


def lateral(model: torch.nn.Module, obs: torch.Tensor, goal: torch.Tensor) -> np.ndarray:
    """The last predicted waypoint's lateral offset of each sample."""
    return model(obs, goal)[1][:, -1, 1].numpy()


@torch.no_grad()
def responses(model: torch.nn.Module, maker: BatchMaker, batches: list, pixels: int) -> dict[str, float]:
    """Mean change of the last predicted lateral waypoint (waypoint units) for the shift and for its band alone,
    each way, and the band's share of the shift's answer."""
    change: dict[str, list[np.ndarray]] = {"shift": [], "band": []}
    for batch in batches:
        frames = maker.frames(batch.context)
        goal = maker.tensors(batch)["goal"]
        n = len(batch.goal)
        base = lateral(model, maker.from_frames(frames, None, None), goal)
        for sign in (1, -1):  # a shift right is a left turn: its label turns right (negative lateral)
            shifted = lateral(model, maker.from_frames(frames, None, torch.full((n,), sign * pixels)), goal)
            banded = lateral(model, maker.from_frames(band_only(frames, sign * pixels), None, None), goal)
            change["shift"].append(-sign * (shifted - base))
            change["band"].append(-sign * (banded - base))
    shift, band = (float(np.concatenate(v).mean()) for v in (change["shift"], change["band"]))
    return {"shift_response": shift, "band_response": band, "band_share": band / shift if shift else float("nan")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--data", default="data/turtlebot_relit")
    parser.add_argument("--pixels", type=int, default=8, help="the shift (8 px of 85: about 10 degrees)")
    parser.add_argument("--samples", type=int, default=512)
    args = parser.parse_args()
    datasets = read_dataset(Path(args.data))
    cache = build_frame_cache(datasets, Path(args.data) / ".cache")
    maker = BatchMaker(cache, torch.device("cpu"))
    sampler = GnmSampler(datasets, "all", cache.offsets, negative_prob=0.0)
    batches = held_out_batches(sampler, TrainConfig(eval_samples=args.samples))
    for path in args.models:
        figures = responses(gnm_from_onnx(path).eval(), maker, batches, args.pixels)
        print(f"{Path(path).name}: a {args.pixels} px shift turns the lateral waypoint by "
              f"{figures['shift_response']:.3f} units, its edge band alone by {figures['band_response']:.3f} "
              f"({figures['band_share']:.0%} of it)")


if __name__ == "__main__":
    main()
