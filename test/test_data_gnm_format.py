"""GNM dataset format: write/read round trip, public-dataset variants, and malformed trajectories."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

from gnm_nav.data.gnm_format import (
    DatasetError,
    read_dataset,
    read_trajectory,
    remove_partial_trajectories,
    write_data_config,
    write_splits,
    write_trajectory,
)


def _frames(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [np.full((24, 32, 3), 40 * i % 255, np.uint8) + rng.integers(0, 5, (24, 32, 3), dtype=np.uint8)
            for i in range(n)]


def test_round_trip_with_splits(tmp_path):
    pos = np.cumsum(np.full((5, 2), 0.1), axis=0)
    yaw = np.linspace(0, 1, 5)
    write_trajectory(tmp_path / "ds", "t0", _frames(5), pos, yaw)
    write_trajectory(tmp_path / "ds", "t1", _frames(3), pos[:3], yaw[:3])
    write_data_config(tmp_path, {"ds": {"metric_waypoint_spacing": 0.14, "robot": "turtlebot"}})
    write_splits(tmp_path, "ds", ["t0"], ["t1"])
    (ds,) = read_dataset(tmp_path)
    assert ds.name == "ds" and ds.metric_waypoint_spacing == pytest.approx(0.14)
    assert [t.name for t in ds.split("train")] == ["t0"] and [t.name for t in ds.split("test")] == ["t1"]
    t0 = ds.split("train")[0]
    assert len(t0) == 5 and np.allclose(t0.positions, pos) and np.allclose(t0.yaws, yaw)
    img = t0.load_image(4)
    assert img.shape == (24, 32, 3) and img.dtype == np.uint8
    assert abs(int(img.mean()) - 160) < 8  # jpeg keeps the brightness of frame 4
    with pytest.raises(IndexError):
        t0.image_path(5)
    with pytest.raises(DatasetError, match="already exists"):
        write_trajectory(tmp_path / "ds", "t0", _frames(5), pos, yaw)


def test_public_layout_lists_and_extra_keys(tmp_path):
    traj = tmp_path / "recon" / "jackal_2019_0"
    traj.mkdir(parents=True)
    for i, f in enumerate(_frames(3)):
        import cv2

        cv2.imwrite(str(traj / f"{i}.jpg"), f)
    with open(traj / "traj_data.pkl", "wb") as fh:
        pickle.dump({"position": [[0, 0], [0.1, 0], [0.2, 0]], "yaw": [0.0, 0.0, 0.1], "extra": 1}, fh)
    write_data_config(tmp_path, {"recon": {"metric_waypoint_spacing": 0.25}})
    (ds,) = read_dataset(tmp_path, "recon")
    assert len(ds.trajectories[0]) == 3 and ds.trajectories[0].positions.dtype == np.float64


@pytest.mark.parametrize("problem, match", [
    ("missing_pkl", "missing traj_data.pkl"),
    ("length", "3 images but 2 positions"),
    ("nan", "NaN"),
])
def test_malformed_trajectories(tmp_path, problem, match):
    path = write_trajectory(tmp_path, "t", _frames(3), np.zeros((3, 2)), np.zeros(3))
    if problem == "missing_pkl":
        (path / "traj_data.pkl").unlink()
    else:
        pos = np.zeros((2, 2)) if problem == "length" else np.array([[0, 0], [np.nan, 0], [0, 0]])
        with open(path / "traj_data.pkl", "wb") as fh:
            pickle.dump({"position": pos, "yaw": np.zeros(len(pos))}, fh)
    with pytest.raises(DatasetError, match=match):
        read_trajectory(path)


def test_interrupted_write_leaves_no_trajectory(tmp_path):
    frames = _frames(2) + [np.zeros((2, 2), np.float32)]  # the third frame cannot be encoded -> write fails
    with pytest.raises(DatasetError, match="frame 2 must be HxWx3 uint8"):
        write_trajectory(tmp_path, "t", frames, np.zeros((3, 2)), np.zeros(3))
    assert list(tmp_path.iterdir()) == []
    (tmp_path / ".t.abc.tmp").mkdir()  # a crash (SIGKILL) would leave such a folder: readers skip, collect removes
    assert remove_partial_trajectories(tmp_path) == 1


def test_missing_spacing_is_explained(tmp_path):
    write_trajectory(tmp_path / "scand", "t", _frames(2), np.zeros((2, 2)), np.zeros(2))
    with pytest.raises(DatasetError, match="no metric_waypoint_spacing.*scand: {metric_waypoint_spacing"):
        read_dataset(tmp_path)
    with pytest.raises(DatasetError, match="no GNM datasets"):
        read_dataset(tmp_path / "scand")


def test_traj_data_pickle_cannot_run_code(tmp_path):
    """A traj_data.pkl is read with an allow-list: a malicious one is refused and never executed."""
    import os

    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    traj = tmp_path / "traj"
    traj.mkdir()
    (traj / "traj_data.pkl").write_bytes(pickle.dumps({"position": Evil(), "yaw": [0.0]}))
    with pytest.raises(DatasetError, match="system"):
        read_trajectory(traj)
    assert not marker.exists()
    # Arrays pickled with any protocol still load.
    for protocol in (2, 4, 5):
        record = {"position": np.zeros((1, 2)), "yaw": np.zeros(1, np.float32), "extra": {"k": [1, 2.5]}}
        (traj / "traj_data.pkl").write_bytes(pickle.dumps(record, protocol=protocol))
        (traj / "0.jpg").write_bytes(b"")
        assert len(read_trajectory(traj)) == 1
