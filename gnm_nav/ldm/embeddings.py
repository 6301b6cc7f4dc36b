"""Observation contexts -> frozen GNM encodings, cached on disk per encoder.

Embedding is the slow part of LDM training (one encoder pass per context), and the same dataset is
trained on many times, so every trajectory's encodings are cached in
`<cache_dir>/<encoder sha256[:16]>/<dataset>/<trajectory>.npz`. Each file also records the full
sha256, the frame count and the context size, and is rebuilt when any of them differs: a cache
made with another encoder is never used.
"""
from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from gnm_nav.common.atomic import atomic_write_bytes
from gnm_nav.data.gnm_format import Trajectory
from gnm_nav.gnm.preprocessing import preprocess_frame, stack_frames
from gnm_nav.ldm.transitions import context_frame_indices


class ObservationEncoder(Protocol):
    def encode_observation(self, obs_img: np.ndarray) -> np.ndarray: ...


def encode_contexts(encoder: ObservationEncoder, frames: Sequence[np.ndarray], contexts: np.ndarray,
                    batch_size: int = 32) -> np.ndarray:
    """Preprocessed frames [3,H,W] + context index rows [N, C+1] -> encodings [N, D] float32 (batched)."""
    out = []
    for start in range(0, len(contexts), batch_size):
        rows = contexts[start:start + batch_size]
        batch = np.concatenate([stack_frames([frames[i] for i in row]) for row in rows], axis=0)
        out.append(np.asarray(encoder.encode_observation(batch), dtype=np.float32).reshape(len(rows), -1))
    return np.concatenate(out, axis=0)


def embed_trajectory(encoder: ObservationEncoder, trajectory: Trajectory, context_size: int,
                     image_size: tuple[int, int], center_crop: bool, batch_size: int = 32) -> np.ndarray:
    """[T+C, D] encodings of every context of a trajectory (see transitions.context_frame_indices)."""
    frames = [preprocess_frame(trajectory.load_image(i), image_size, center_crop) for i in range(len(trajectory))]
    return encode_contexts(encoder, frames, context_frame_indices(len(trajectory), context_size), batch_size)


class EmbeddingCache:
    """Per-trajectory .npz files under a folder keyed by the encoder's sha256, written atomically."""

    def __init__(self, cache_dir: Path, encoder_sha256: str, context_size: int) -> None:
        self.encoder_sha256 = encoder_sha256
        self.context_size = context_size
        self.root = Path(cache_dir) / encoder_sha256[:16]

    def path(self, dataset: str, trajectory: str) -> Path:
        return self.root / dataset / f"{trajectory}.npz"

    def load(self, dataset: str, trajectory: Trajectory) -> np.ndarray | None:
        """The cached encodings, or None when absent, unreadable or made for something else."""
        path = self.path(dataset, trajectory.name)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                if (str(data["encoder_sha256"]) != self.encoder_sha256
                        or int(data["num_frames"]) != len(trajectory)
                        or int(data["context_size"]) != self.context_size):
                    return None
                return np.asarray(data["embeddings"], dtype=np.float32)
        except (OSError, KeyError, ValueError, zipfile.BadZipFile):
            return None

    def save(self, dataset: str, trajectory: Trajectory, embeddings: np.ndarray) -> None:
        buf = io.BytesIO()
        np.savez(buf, embeddings=embeddings.astype(np.float32), encoder_sha256=np.array(self.encoder_sha256),
                 num_frames=np.array(len(trajectory)), context_size=np.array(self.context_size))
        atomic_write_bytes(self.path(dataset, trajectory.name), buf.getvalue())
