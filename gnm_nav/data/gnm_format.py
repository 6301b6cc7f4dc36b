"""The public GNM training-data layout, read and written.

    <root>/data_config.yaml                      dataset_name -> {metric_waypoint_spacing, robot, ...}
    <root>/<dataset>/<traj>/{0..T-1}.jpg         frames at 4 Hz
    <root>/<dataset>/<traj>/traj_data.pkl        {"position": [T,2], "yaw": [T]} (extra keys tolerated)
    <root>/splits/<dataset>/{train,test}/traj_names.txt

RECON/SCAND/GoStanford/SACSoN converted by the public scripts have exactly this layout, so the same
reader serves our simulated data and theirs. Two additions, ignored by readers that do not know them: a trajectory
`<traj>_relit` beside `<traj>` is its twin, the same poses seen under other light, and `<traj>_side` its side
twin, the poses moved sideways, off the drive's line (gnm_nav.sim.collect). A side twin is not a drive of its own.
"""
from __future__ import annotations

import os
import pickle
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Sequence

import cv2
import numpy as np
import yaml

from gnm_nav.common.atomic import atomic_write_text
from gnm_nav.common.errors import DatasetError
from gnm_nav.data.array_pickle import load_array_pickle

FRAME_RATE_HZ = 4.0
TRAJ_DATA = "traj_data.pkl"
DATA_CONFIG = "data_config.yaml"
JPEG_QUALITY = 90
RELIT_SUFFIX = "_relit"
SIDE_SUFFIX = "_side"


def twin_name(trajectory: str) -> str:
    """The name of a trajectory's relit twin (the same poses under other light)."""
    return trajectory + RELIT_SUFFIX


def side_name(trajectory: str) -> str:
    """The name of a trajectory's side twin (its poses moved sideways, gnm_nav.sim.side_twin)."""
    return trajectory + SIDE_SUFFIX


def is_side_twin(trajectory: str) -> bool:
    return trajectory.endswith(SIDE_SUFFIX)


def twin_of(trajectory: str, names: set[str]) -> str | None:
    """The twin of `trajectory` among `names` (either way round), None when it has none there."""
    other = (trajectory[:-len(RELIT_SUFFIX)] if trajectory.endswith(RELIT_SUFFIX) else twin_name(trajectory))
    return other if other in names else None


@dataclass
class Trajectory:
    """One continuous drive: T frames with the pose of each (odometry frame, metres and radians)."""

    name: str
    path: Path
    positions: np.ndarray  # [T, 2] float64
    yaws: np.ndarray  # [T] float64

    def __len__(self) -> int:
        return int(self.positions.shape[0])

    def image_path(self, i: int) -> Path:
        if not 0 <= i < len(self):
            raise IndexError(f"trajectory {self.name}: frame {i} out of range 0..{len(self) - 1}")
        return self.path / f"{i}.jpg"

    def load_image(self, i: int) -> np.ndarray:
        path = self.image_path(i)
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise DatasetError(f"trajectory {self.name}: cannot read image {path}")
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


@dataclass
class GnmDataset:
    """All trajectories of one named dataset (one robot/source) with its step size in metres."""

    name: str
    root: Path
    metric_waypoint_spacing: float
    trajectories: list[Trajectory]
    config: dict = field(default_factory=dict)

    def split(self, which: Literal["train", "test"]) -> list[Trajectory]:
        """Trajectories listed in splits/<name>/<which>/traj_names.txt (in file order)."""
        if which not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {which!r}")
        path = split_file(self.root, self.name, which)
        if not path.is_file():
            raise DatasetError(f"dataset {self.name!r}: no split file {path}")
        by_name = {t.name: t for t in self.trajectories}
        names = [n.strip() for n in path.read_text().splitlines() if n.strip()]
        missing = [n for n in names if n not in by_name]
        if missing:
            raise DatasetError(f"dataset {self.name!r}: split {which} names unknown trajectories {missing[:5]}")
        return [by_name[n] for n in names]


def split_file(root: Path, dataset: str, which: str) -> Path:
    return Path(root) / "splits" / dataset / which / "traj_names.txt"


def read_data_config(root: Path) -> dict[str, dict]:
    path = Path(root) / DATA_CONFIG
    if not path.is_file():
        return {}
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise DatasetError(f"{path}: expected a mapping dataset_name -> settings")
    return data


def write_data_config(root: Path, config: dict[str, dict]) -> None:
    atomic_write_text(Path(root) / DATA_CONFIG, yaml.safe_dump(config, sort_keys=True))


def write_splits(root: Path, dataset: str, train: Sequence[str], test: Sequence[str]) -> None:
    for which, names in (("train", train), ("test", test)):
        atomic_write_text(split_file(root, dataset, which), "".join(f"{n}\n" for n in names))


def read_trajectory(path: Path) -> Trajectory:
    """Load and validate one trajectory folder."""
    path = Path(path)
    pkl = path / TRAJ_DATA
    if not pkl.is_file():
        raise DatasetError(f"trajectory {path}: missing {TRAJ_DATA}")
    try:
        with open(pkl, "rb") as f:
            data = load_array_pickle(f)
    except Exception as exc:  # any unpickling failure means the file is not usable
        raise DatasetError(f"trajectory {path}: cannot read {TRAJ_DATA}: {exc}") from exc
    if not isinstance(data, dict) or "position" not in data or "yaw" not in data:
        raise DatasetError(f"trajectory {path}: {TRAJ_DATA} must be a dict with 'position' and 'yaw'")
    positions = np.asarray(data["position"], dtype=np.float64)
    yaws = np.asarray(data["yaw"], dtype=np.float64).reshape(-1)
    if positions.ndim != 2 or positions.shape[1] < 2:
        raise DatasetError(f"trajectory {path}: position must be [T,2], got shape {positions.shape}")
    positions = positions[:, :2]
    if positions.shape[0] != yaws.shape[0]:
        raise DatasetError(f"trajectory {path}: {positions.shape[0]} positions but {yaws.shape[0]} yaws")
    if not (np.isfinite(positions).all() and np.isfinite(yaws).all()):
        raise DatasetError(f"trajectory {path}: position/yaw contain NaN or Inf")
    n_images = sum(1 for p in path.glob("*.jpg") if p.stem.isdigit())
    if n_images != positions.shape[0]:
        raise DatasetError(f"trajectory {path}: {n_images} images but {positions.shape[0]} positions")
    missing = [i for i in range(n_images) if not (path / f"{i}.jpg").is_file()]
    if missing:
        raise DatasetError(f"trajectory {path}: images are not numbered 0..{n_images - 1} (missing {missing[:5]})")
    return Trajectory(name=path.name, path=path, positions=positions, yaws=yaws)


def read_dataset(root: Path, name: str | None = None) -> list[GnmDataset]:
    """All datasets under root (or just `name`). Dataset folders are those with trajectory subfolders."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset root {root} does not exist")
    config = read_data_config(root)
    if name is not None:
        names = [name]
        if not (root / name).is_dir():
            raise DatasetError(f"dataset {name!r} not found under {root}")
    else:
        names = sorted(p.name for p in root.iterdir()
                       if p.is_dir() and p.name != "splits" and not p.name.startswith(".")
                       and any((t / TRAJ_DATA).is_file() for t in p.iterdir() if t.is_dir()))
        if not names:
            raise DatasetError(f"no GNM datasets under {root} (expected <dataset>/<traj>/{TRAJ_DATA})")
    datasets = []
    for ds_name in names:
        ds_config = dict(config.get(ds_name) or {})
        if "metric_waypoint_spacing" not in ds_config:
            raise DatasetError(f"dataset {ds_name!r}: no metric_waypoint_spacing in {root / DATA_CONFIG}; add "
                               f"'{ds_name}: {{metric_waypoint_spacing: METRES_PER_STEP}}' (mean distance between "
                               f"consecutive {FRAME_RATE_HZ:g} Hz frames)")
        trajs = [read_trajectory(t) for t in sorted((root / ds_name).iterdir())
                 if t.is_dir() and not t.name.startswith(".")]
        datasets.append(GnmDataset(name=ds_name, root=root,
                                   metric_waypoint_spacing=float(ds_config["metric_waypoint_spacing"]),
                                   trajectories=trajs, config=ds_config))
    return datasets


def write_trajectory(dataset_dir: Path, traj_name: str, frames: Sequence[np.ndarray],
                     positions: np.ndarray, yaws: np.ndarray) -> Path:
    """Write a whole trajectory into a hidden temp folder, then rename it into place.

    An interrupted write leaves only a dot-folder that readers skip, never a partial trajectory.
    """
    dataset_dir = Path(dataset_dir)
    positions = np.asarray(positions, dtype=np.float64).reshape(-1, 2)
    yaws = np.asarray(yaws, dtype=np.float64).reshape(-1)
    if not (len(frames) == positions.shape[0] == yaws.shape[0]):
        raise DatasetError(f"trajectory {traj_name}: {len(frames)} frames, {positions.shape[0]} positions, "
                           f"{yaws.shape[0]} yaws; they must match")
    if not (np.isfinite(positions).all() and np.isfinite(yaws).all()):
        raise DatasetError(f"trajectory {traj_name}: position/yaw contain NaN or Inf")
    final = dataset_dir / traj_name
    if final.exists():
        raise DatasetError(f"trajectory {final} already exists")
    dataset_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{traj_name}.", suffix=".tmp", dir=dataset_dir))
    try:
        for i, rgb in enumerate(frames):
            if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
                raise DatasetError(f"trajectory {traj_name}: frame {i} must be HxWx3 uint8 RGB, "
                                   f"got {rgb.dtype} {rgb.shape}")
            ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                                   [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            if not ok:
                raise DatasetError(f"trajectory {traj_name}: cannot encode frame {i} as JPEG")
            (tmp / f"{i}.jpg").write_bytes(buf.tobytes())
        with open(tmp / TRAJ_DATA, "wb") as f:
            pickle.dump({"position": positions, "yaw": yaws}, f)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def remove_partial_trajectories(dataset_dir: Path) -> int:
    """Delete temp folders left by interrupted writes; returns how many were removed."""
    count = 0
    for p in Path(dataset_dir).glob(".*.tmp"):
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
            count += 1
    return count
