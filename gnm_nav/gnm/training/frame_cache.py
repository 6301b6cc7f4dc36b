"""Every dataset frame resized once to the model's input size (uint8), so training batches are array lookups.

The resize is the same PIL call deployment uses (gnm_nav.gnm.preprocessing), so a cached frame is
bit-identical to what the robot's model sees before normalisation.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from gnm_nav.common.atomic import atomic_write_json
from gnm_nav.data.gnm_format import GnmDataset
from gnm_nav.gnm.preprocessing import center_crop_4_3


class FrameCache:
    """frames[k] (uint8 [H, W, 3]) for the k-th frame of the concatenated trajectories; offsets index trajectories."""

    def __init__(self, frames: np.ndarray, offsets: dict[tuple[str, str], int]) -> None:
        self.frames = frames
        self.offsets = offsets

    def index(self, dataset: str, trajectory: str, i: int) -> int:
        return self.offsets[(dataset, trajectory)] + i


def _fingerprint(datasets: list[GnmDataset], image_size: tuple[int, int], center_crop: bool) -> str:
    h = hashlib.sha256(json.dumps([image_size, center_crop]).encode())
    for ds in datasets:
        for traj in ds.trajectories:
            h.update(f"{ds.name}/{traj.name}/{len(traj)}/{traj.image_path(len(traj) - 1).stat().st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def build_frame_cache(datasets: list[GnmDataset], cache_dir: Path, image_size: tuple[int, int] = (85, 64),
                      center_crop: bool = False) -> FrameCache:
    """Load (or build and save) the resized frames of all trajectories; rebuilt when the data changes."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    key = _fingerprint(datasets, image_size, center_crop)
    array_path, index_path = cache_dir / f"frames_{key}.npy", cache_dir / f"frames_{key}.json"
    offsets: dict[tuple[str, str], int] = {}
    total = 0
    for ds in datasets:
        for traj in ds.trajectories:
            offsets[(ds.name, traj.name)] = total
            total += len(traj)
    if array_path.is_file() and index_path.is_file():
        return FrameCache(np.load(array_path, mmap_mode="r"), offsets)
    width, height = image_size
    frames = np.empty((total, height, width, 3), np.uint8)
    with tqdm(total=total, desc="caching frames", unit="frame") as bar:
        for ds in datasets:
            for traj in ds.trajectories:
                start = offsets[(ds.name, traj.name)]
                for i in range(len(traj)):
                    rgb = traj.load_image(i)
                    if center_crop:
                        rgb = center_crop_4_3(rgb)
                    frames[start + i] = np.asarray(Image.fromarray(rgb).resize(image_size))
                    bar.update()
    tmp = array_path.with_suffix(f".{os.getpid()}.tmp.npy")  # two trainers building one cache must not collide
    np.save(tmp, frames)
    tmp.replace(array_path)
    atomic_write_json(index_path, {"frames": total, "image_size": list(image_size), "center_crop": center_crop})
    return FrameCache(frames, offsets)
