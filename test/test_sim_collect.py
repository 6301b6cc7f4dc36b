"""`gnm-nav sim collect` and `record-bag` end to end, read back with the core dataset reader and rosbags."""
from __future__ import annotations

import argparse
import shutil

import numpy as np
import pytest

from gnm_nav.bag_io import bag_topics, iter_images, iter_odometry
from gnm_nav.commands import sim as sim_command
from gnm_nav.common.errors import GnmNavError
from gnm_nav.data.gnm_format import read_dataset
from gnm_nav.sim.env import load_profile


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    sim_command.add_arguments(parser)
    args = parser.parse_args(list(argv))
    return args.func(args)


def test_collect_reads_back_and_resumes(tmp_path, capsys):
    out = tmp_path / "data"
    argv = ("collect", "--out", str(out), "--worlds", "2", "--robots", "rc_car,turtlebot", "--frames", "96",
            "--seed", "3", "--min-route-m", "4")
    assert _run(*argv) == 0
    summary = capsys.readouterr().out
    assert "robots: rc_car, turtlebot" in summary and "worlds: 2" in summary
    datasets = {d.name: d for d in read_dataset(out)}
    assert set(datasets) == {"sim_rc_car", "sim_turtlebot"}
    for ds in datasets.values():
        frames = sum(len(t) for t in ds.trajectories)
        assert frames >= 2 * 96 // 4
        steps = np.concatenate([np.linalg.norm(np.diff(t.positions, axis=0), axis=1) for t in ds.trajectories])
        assert ds.metric_waypoint_spacing == pytest.approx(steps.mean(), rel=1e-3)
        assert 0 < ds.metric_waypoint_spacing <= load_profile(ds.config["robot"]).max_v / 4 + 1e-6
        train, test = ds.split("train"), ds.split("test")
        assert train and test and not {t.name for t in train} & {t.name for t in test}
        img = ds.trajectories[0].load_image(0)
        assert img.shape == (120, 160, 3)
    before = {t.name: t.positions.copy() for d in datasets.values() for t in d.trajectories}
    # an interrupted run: one trajectory missing, one half-written temp folder -> rerun completes it identically
    victim = datasets["sim_rc_car"].trajectories[0]
    shutil.rmtree(victim.path)
    (victim.path.parent / f".{victim.name}.x.tmp").mkdir()
    assert _run(*argv, "--workers", "2") == 0  # resumed in worker processes: same content as in-process
    resumed = capsys.readouterr().out
    assert f"frames new, {len(before) - 1} trajectories reused" in resumed
    after = {t.name: t.positions for d in read_dataset(out) for t in d.trajectories}
    assert after.keys() == before.keys()
    assert np.allclose(after[victim.name], before[victim.name])
    assert not list(victim.path.parent.glob(".*.tmp"))


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_record_bag_reads_back(tmp_path, storage, capsys):
    bag = tmp_path / "drive"
    assert _run("record-bag", "--out", str(bag), "--storage", storage, "--world", "box_room", "--robot", "jackal",
                "--min-route-m", "3", "--max-time", "8") == 0
    assert "recorded" in capsys.readouterr().out
    topics = bag_topics(bag)
    assert topics["/camera/image_raw"] == "sensor_msgs/msg/Image"
    assert topics["/cmd_vel"] == "geometry_msgs/msg/TwistStamped"
    assert topics["/sim/ground_truth"] == "nav_msgs/msg/Odometry" and "/odom" in topics
    images = list(iter_images(bag, "/camera/image_raw"))
    truth = list(iter_odometry(bag, "/sim/ground_truth"))
    assert len(images) >= 10 and images[0][1].shape == (120, 160, 3)
    stamps = np.array([s for s, _ in images])
    assert np.allclose(np.diff(stamps), 0.1, atol=0.051)  # jackal camera at 10 Hz on a 20 Hz control clock
    assert np.hypot(truth[-1][1] - truth[0][1], truth[-1][2] - truth[0][2]) > 1.0  # it drove somewhere
    png = tmp_path / "map.png"
    assert _run("render-map", "--world", "box_room", "--out", str(png), "--trajectory", str(bag)) == 0
    assert png.stat().st_size > 1000


def test_collect_rejects_unknown_robot(tmp_path):
    with pytest.raises(GnmNavError, match="unknown robot profile 'segway'"):
        _run("collect", "--out", str(tmp_path), "--robots", "segway", "--frames", "10")


def test_relit_twins_see_the_same_poses_in_other_light_and_share_their_drives_split(tmp_path, capsys):
    from gnm_nav.data.gnm_format import RELIT_SUFFIX, twin_name

    out = tmp_path / "relit"
    argv = ("collect", "--out", str(out), "--worlds", "2", "--robots", "locobot", "--frames", "64", "--seed", "3",
            "--min-route-m", "3", "--relit-share", "1.0")
    assert _run(*argv) == 0
    assert "(2 twins)" in capsys.readouterr().out
    (ds,) = read_dataset(out)
    assert ds.config["relit_share"] == 1.0
    by_name = {t.name: t for t in ds.trajectories}
    drives = [n for n in by_name if not n.endswith(RELIT_SUFFIX)]
    assert drives and all(twin_name(n) in by_name for n in drives)
    for name in drives:
        drive, twin = by_name[name], by_name[twin_name(name)]
        np.testing.assert_array_equal(drive.positions, twin.positions)
        np.testing.assert_array_equal(drive.yaws, twin.yaws)
        assert np.abs(drive.load_image(3).astype(int) - twin.load_image(3)).mean() > 1  # other light, same place
    for split in ("train", "test"):
        names = {t.name for t in ds.split(split)}
        assert all((twin_name(n) in names) == (n in names) for n in drives)  # a twin goes where its drive goes
    # a resumed run renders a lost twin again, the same, and drives nothing new
    lost = out / ds.name / twin_name(drives[0])
    before = (lost / "3.jpg").read_bytes()
    shutil.rmtree(lost)
    assert _run(*argv) == 0
    assert "(0 frames new" in capsys.readouterr().out and (lost / "3.jpg").read_bytes() == before
    with pytest.raises(GnmNavError, match="relit share 1.0"):
        _run(*argv[:-1], "0.5")


def test_side_twins_see_the_drive_from_beside_its_line_in_free_space(tmp_path, capsys):
    from gnm_nav.data.gnm_format import SIDE_SUFFIX, side_name
    from gnm_nav.sim.occupancy import occupancy_grid
    from gnm_nav.sim.side_twin import SIDE_OFFSET_RANGE_M
    from gnm_nav.sim.world_gen import generate_world

    out = tmp_path / "side"
    argv = ("collect", "--out", str(out), "--worlds", "2", "--robots", "locobot", "--frames", "64", "--seed", "3",
            "--min-route-m", "3")
    assert _run(*argv) == 0  # first without side twins: they can be added later
    assert _run(*argv, "--side-share", "1.0") == 0
    assert "(0 frames new" in capsys.readouterr().out.splitlines()[-1]
    (ds,) = read_dataset(out)
    assert ds.config["side_share"] == 1.0
    radius = load_profile("locobot").body_radius_m
    by_name = {t.name: t for t in ds.trajectories}
    drives = [n for n in by_name if not n.endswith(SIDE_SUFFIX)]
    assert drives and all(side_name(n) in by_name for n in drives)
    for name in drives:
        drive, twin = by_name[name], by_name[side_name(name)]
        np.testing.assert_array_equal(drive.yaws, twin.yaws)
        offset = twin.positions - drive.positions
        lateral = -np.sin(drive.yaws) * offset[:, 0] + np.cos(drive.yaws) * offset[:, 1]
        np.testing.assert_allclose(np.hypot(*offset.T), np.abs(lateral), atol=1e-9)  # sideways only
        assert SIDE_OFFSET_RANGE_M[0] <= np.abs(lateral).max() <= SIDE_OFFSET_RANGE_M[1]
        grid = occupancy_grid(generate_world(int(name.split("_")[1])))  # worlds are named <family>_<seed>
        assert all(grid.clearance_at(x, y) >= radius for x, y in twin.positions)  # the body fits where it looks
        assert np.abs(drive.load_image(3).astype(int) - twin.load_image(3)).mean() > 1  # another view
    for split in ("train", "test"):
        names = {t.name for t in ds.split(split)}
        assert all((side_name(n) in names) == (n in names) for n in drives)
    with pytest.raises(GnmNavError, match="side share 1.0"):
        _run(*argv, "--side-share", "0.5")
    with pytest.raises(GnmNavError, match="turned by up to 0.0 degrees"):
        _run(*argv, "--side-share", "1.0", "--side-turn-deg", "20")


def test_turned_side_twins_turn_every_heading_of_a_drive_by_one_angle(tmp_path):
    from gnm_nav.common.angles import wrap_angle
    from gnm_nav.data.gnm_format import SIDE_SUFFIX, side_name

    out = tmp_path / "turned"
    argv = ("collect", "--out", str(out), "--worlds", "1", "--robots", "locobot", "--frames", "64", "--seed", "5",
            "--min-route-m", "3", "--side-share", "1.0", "--side-turn-deg", "30")
    assert _run(*argv) == 0
    (ds,) = read_dataset(out)
    assert ds.config["side_turn_deg"] == 30.0
    by_name = {t.name: t for t in ds.trajectories}
    drives = [n for n in by_name if not n.endswith(SIDE_SUFFIX)]
    turns = []
    for name in drives:
        drive, twin = by_name[name], by_name[side_name(name)]
        turn = wrap_angle(twin.yaws - drive.yaws)
        np.testing.assert_allclose(turn, turn[0], atol=1e-5)  # one angle per drive
        turns.append(turn[0])
        lateral = -np.sin(drive.yaws) * (twin.positions - drive.positions)[:, 0] + np.cos(drive.yaws) * (
            twin.positions - drive.positions)[:, 1]
        np.testing.assert_allclose(np.hypot(*(twin.positions - drive.positions).T), np.abs(lateral), atol=1e-6)
    assert 0 < np.abs(turns).max() <= np.radians(30) + 1e-6
    with pytest.raises(GnmNavError, match="turned by up to 30.0 degrees"):
        _run(*argv[:-1], "10")
    with pytest.raises(GnmNavError, match=r"\[0, 45\] degrees"):
        _run(*argv[:-1], "50")
