"""DAgger in simulation (gnm.training.dagger): branches from the model's own states, labelled by the expert, and
`gnm-nav train gnm-dagger` rounds that aggregate, fine-tune, report and resume."""
from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
from sim_doubles import OracleEngine, taught_room


@pytest.fixture(scope="module")
def drive():
    """A run of the truth-knowing stand-in over the taught room route, with the frames it saw."""
    from gnm_nav.evaluation.closed_loop import Drive, repeat
    from gnm_nav.sim.expert import Route

    with taught_room() as room:
        # start turned away and aside, so the run holds states the expert never drove
        start = type(room.route.start)(room.route.start.x, room.route.start.y, room.route.start.yaw + 0.9)
        run = repeat(room.env, room.taught, OracleEngine(room.env, room.taught.graph), start, keep_frames=True)
        task = SimpleNamespace(goal=room.route.goal)
        yield Drive(task, room.env, room.planner, room.taught, run), Route


def test_each_branch_is_the_context_the_model_saw_then_the_experts_continuation(drive):
    from gnm_nav.gnm.training.dagger import BranchConfig, branch_trajectories

    d, _ = drive
    seen = d.run.seen
    branches = branch_trajectories(d, 5, BranchConfig(branch_every_s=1.0, horizon_s=3.0), np.random.default_rng(0))
    assert len(branches) == len(range(5, len(seen), 4)) >= 3  # one every second of the run (4 frames)
    for k, (frames, positions, yaws) in enumerate(branches):
        b = 5 + 4 * k
        assert len(frames) == len(positions) == len(yaws) >= 7
        for i in range(6):  # the context and the branch frame are the run's own, at the poses they were seen
            assert frames[i] is seen[b - 5 + i].frame
            assert positions[i] == pytest.approx([seen[b - 5 + i].pose.x, seen[b - 5 + i].pose.y])
        # the continuation starts where the model was and drives toward the goal
        assert math.dist(positions[6], positions[5]) < 0.2
        goal = np.asarray(d.task.goal)
        assert np.linalg.norm(positions[-1] - goal) <= np.linalg.norm(positions[5] - goal) + 0.05


def test_a_branch_labels_the_models_situation_with_the_experts_next_poses(drive):
    from gnm_nav.gnm.training.dagger import BranchConfig, branch_trajectories
    from gnm_nav.gnm.training.samples import labels_between

    d, _ = drive
    frames, positions, yaws = branch_trajectories(d, 5, BranchConfig(2.0, 3.0), np.random.default_rng(0))[0]
    label = labels_between(positions, yaws, np.array([5]), np.arange(6, 11)[None], np.array([0.05]))[0]
    c, s = math.cos(yaws[5]), math.sin(yaws[5])
    dx, dy = positions[6] - positions[5]
    assert label[0, :2] == pytest.approx([(c * dx + s * dy) / 0.05, (-s * dx + c * dy) / 0.05], abs=1e-4)


def test_gnm_dagger_rounds_aggregate_fine_tune_report_and_resume(gnm_model_path, tmp_path):
    from gnm_nav.cli import main
    from gnm_nav.data.gnm_format import read_data_config, read_dataset
    from gnm_nav.gnm.card import load_model_card

    work, out = tmp_path / "work", tmp_path / "dagger.onnx"
    argv = ["train", "gnm-dagger", "--init", str(gnm_model_path), "--out", str(out), "--workdir", str(work),
            "--rounds", "1", "--routes", "1", "--robots", "locobot", "--worlds", "box_room", "--min-route-m", "3",
            "--eval-worlds", "box_room", "--eval-routes", "1", "--eval-robot", "locobot", "--branch-every-s", "3",
            "--horizon-s", "2", "--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "4",
            "--eval-samples", "8", "--device", "cpu"]
    assert main(argv) == 0
    log = json.loads((work / "dagger.json").read_text())
    assert [r["round"] for r in log["rounds"]] == [1] and log["rounds"][0]["collected"]["routes"] == 1
    assert {"success_rate", "route_progress", "collisions_per_km"} <= set(log["rounds"][0]["validation"])
    branches = log["rounds"][0]["collected"]["branches"]
    datasets = read_dataset(work / "data")
    assert [ds.name for ds in datasets] == ["dagger_locobot"] and len(datasets[0].trajectories) == branches >= 1
    config = read_data_config(work / "data")["dagger_locobot"]
    assert config["robot"] == "locobot" and config["metric_waypoint_spacing"] > 0
    card = load_model_card(out)
    assert card.training["dagger"]["rounds"][0]["round"] == 1 and card.files["whole"] == "dagger.onnx"
    model_time = (work / "round_01" / "gnm.onnx").stat().st_mtime_ns
    assert main(argv) == 0  # resumed: nothing driven or trained again
    assert len(read_dataset(work / "data")[0].trajectories) == branches
    assert (work / "round_01" / "gnm.onnx").stat().st_mtime_ns == model_time


def test_gnm_dagger_refuses_bad_settings(gnm_model_path, tmp_path, capsys):
    from gnm_nav.cli import main

    base = ["train", "gnm-dagger", "--init", str(gnm_model_path), "--out", str(tmp_path / "o.onnx"), "--workdir",
            str(tmp_path / "w")]
    assert main([*base, "--rounds", "0"]) == 2
    assert main([*base, "--horizon-s", "0"]) == 2
    assert main([*base, "--data", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert "--rounds" in err and "--horizon-s" in err and "nowhere" in err
