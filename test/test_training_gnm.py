"""GNM training: labels as in the reference, a loss that learns, checkpoints that resume."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from gnm_nav.data.gnm_format import read_dataset, write_data_config, write_splits, write_trajectory
from gnm_nav.gnm.checkpoint import load_gnm
from gnm_nav.gnm.modeling import GNM
from gnm_nav.gnm.training.frame_cache import build_frame_cache
from gnm_nav.gnm.training.samples import MAX_DIST, RETURN_DISTANCE_M, GnmSampler, action_label
from gnm_nav.gnm.training.train import BatchMaker, TrainConfig, gnm_loss, report_on, train_gnm


def _arc(n: int, speed: float, turn: float, x0: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    yaw = np.arange(n) * turn
    step = np.stack([np.cos(yaw), np.sin(yaw)], 1) * speed
    pos = np.cumsum(np.vstack([[x0, 0.0], step[:-1]]), axis=0)
    return pos, yaw


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """Two robots, 4 trajectories each; frames are pose-dependent colour patterns."""
    root = tmp_path_factory.mktemp("gnm_data")
    config = {}
    for robot, spacing in (("bot_a", 0.1), ("bot_b", 0.3)):
        names = []
        for k in range(4):
            pos, yaw = _arc(24, spacing, 0.05 * (k - 1.5), x0=k)
            frames = []
            for (x, _), th in zip(pos, yaw):
                img = np.zeros((48, 64, 3), np.uint8)
                img[..., 0] = int(x * 40) % 256
                img[..., 1] = np.linspace(0, 255, 64, dtype=np.uint8)[None, :] * (k + 1) // 4
                img[..., 2] = int((th + 2) * 50) % 256
                frames.append(img)
            write_trajectory(root / robot, f"traj_{k}", frames, pos, yaw)
            names.append(f"traj_{k}")
        write_splits(root, robot, names[:3], names[3:])
        config[robot] = {"metric_waypoint_spacing": spacing}
    write_data_config(root, config)
    return root


def _with_twin(data: Path, root: Path, name_of, positions_of, turn_rad: float = 0.0):
    """A copy of `data` where bot_a's first training drive has a twin (named by name_of, at positions_of(drive),
    its headings turned by turn_rad, its frames inverted) in the same split; returns (root, the drive)."""
    import shutil

    shutil.copytree(data, root, ignore=shutil.ignore_patterns(".cache"))
    traj = read_dataset(root)[0].split("train")[0]
    frames = [255 - traj.load_image(i) for i in range(len(traj))]
    write_trajectory(root / "bot_a", name_of(traj.name), frames, positions_of(traj), traj.yaws + turn_rad)
    split = root / "splits" / "bot_a" / "train" / "traj_names.txt"
    split.write_text(split.read_text() + name_of(traj.name) + "\n")
    return root, traj


def test_action_label_in_robot_frame():
    pos, yaw = _arc(10, 0.25, 0.0)
    traj = type("T", (), {"positions": pos, "yaws": yaw, "__len__": lambda self: 10})()
    label = action_label(traj, 2, 5, spacing_m=0.25)
    np.testing.assert_allclose(label[:, 0], [1, 2, 3, 4, 5], atol=1e-6)  # straight ahead: one unit per step
    np.testing.assert_allclose(label[:, 1:], [[0, 1, 0]] * 5, atol=1e-6)
    # Rotate the world: the label must not change (it is in the robot's own frame).
    rot = np.array([[0, -1], [1, 0]])
    traj.positions, traj.yaws = pos @ rot.T, yaw + math.pi / 2
    np.testing.assert_allclose(action_label(traj, 2, 5, spacing_m=0.25), label, atol=1e-6)
    # Past the end, the last pose repeats.
    np.testing.assert_allclose(action_label(traj, 8, 5, spacing_m=0.25)[1:, 0], [1, 1, 1, 1], atol=1e-6)


def test_sampler_labels_negatives_and_masks(tiny_data):
    datasets = read_dataset(tiny_data)
    cache = build_frame_cache(datasets, tiny_data / ".cache")
    sampler = GnmSampler(datasets, "train", cache.offsets)
    batch = sampler.sample(2000, np.random.default_rng(0))
    negative = batch.distance == MAX_DIST
    assert 0.02 < negative.mean() < 0.12  # ~1/21 negatives (plus rare true 20-step goals)
    assert np.all(batch.action_mask[negative] == 0)
    positive = ~negative
    assert batch.distance[positive].min() >= 1
    expected_mask = (batch.distance > 2) & (batch.distance < 10)
    np.testing.assert_array_equal(batch.action_mask[positive] > 0, expected_mask[positive])
    # Context is 6 consecutive frames of one trajectory; a positive goal lies `distance` frames after the last.
    np.testing.assert_array_equal(np.diff(batch.context, axis=1), 1)
    np.testing.assert_array_equal(batch.goal[positive], batch.context[positive, -1] + batch.distance[positive])
    assert set(np.unique(batch.spacing_m)) == {np.float32(0.1), np.float32(0.3)}
    # "all" (data held out of training altogether) samples every trajectory of both splits
    test = GnmSampler(datasets, "test", cache.offsets)
    assert len(GnmSampler(datasets, "all", cache.offsets)) == len(sampler) + len(test) > len(sampler)


def test_a_relit_twin_gives_goals_in_other_light_with_the_same_labels(tiny_data, tmp_path):
    """twin_goal_prob: a positive sample's goal from the twin (same index, so the same place and label); negatives
    and trajectories without a twin are untouched, and a sampler without twins draws as before."""
    from gnm_nav.data.gnm_format import twin_name

    root, traj = _with_twin(tiny_data, tmp_path / "twins", twin_name, lambda t: t.positions)  # "other light"
    datasets = read_dataset(root)
    cache = build_frame_cache(datasets, root / ".cache")
    plain = GnmSampler(datasets, "train", cache.offsets)
    relit = GnmSampler(datasets, "train", cache.offsets, twin_goal_prob=1.0)
    assert (plain.twins, relit.twins) == (2, 2)  # the drive and its twin, each the other's
    a, b = plain.sample(3000, np.random.default_rng(1)), relit.sample(3000, np.random.default_rng(1))
    for field in ("context", "distance", "action", "action_mask"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    start, twin_start = cache.index("bot_a", traj.name, 0), cache.index("bot_a", twin_name(traj.name), 0)
    positive, now = b.distance < MAX_DIST, b.context[:, -1]
    twinned = np.zeros(len(now), bool)
    for lo, other in ((start, twin_start), (twin_start, start)):
        mine = positive & (now >= lo) & (now < lo + len(traj))
        assert mine.sum() > 20
        np.testing.assert_array_equal(b.goal[mine], a.goal[mine] - lo + other)
        twinned |= mine
    np.testing.assert_array_equal(b.goal[~twinned], a.goal[~twinned])  # negatives, drives without a twin
    # the held-out report adds the figures across light where the data has twins
    small = TrainConfig(batch_size=8, eval_samples=16)
    assert {"relit_distance_spearman", "relit_waypoint_lateral_r"} <= set(report_on(GNM(), datasets, cache, small))
    # without twins in the data the option changes nothing, not even the random stream
    bare = read_dataset(tiny_data)
    bare_cache = build_frame_cache(bare, tiny_data / ".cache")
    assert not any(k.startswith("relit_") for k in report_on(GNM(), bare, bare_cache, small))
    np.testing.assert_array_equal(GnmSampler(bare, "train", bare_cache.offsets, twin_goal_prob=1.0).sample(
        64, np.random.default_rng(2)).goal, GnmSampler(bare, "train", bare_cache.offsets).sample(
        64, np.random.default_rng(2)).goal)
    with pytest.raises(ValueError, match="twin_goal_prob"):
        GnmSampler(datasets, "train", cache.offsets, twin_goal_prob=1.5)


def test_loss_decreases_and_training_resumes(tiny_data, tmp_path):
    torch.manual_seed(0)
    datasets = read_dataset(tiny_data)
    cache = build_frame_cache(datasets, tiny_data / ".cache")
    model = GNM()
    maker = BatchMaker(cache, torch.device("cpu"))
    fixed = maker.tensors(GnmSampler(datasets, "train", cache.offsets).sample(16, np.random.default_rng(1)))
    opt = torch.optim.Adam(model.parameters(), lr=7e-4, betas=(0.9, 0.98))
    model.train()
    first = None
    for _ in range(25):
        loss = gnm_loss(*model(fixed["obs"], fixed["goal"]), fixed)
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first

    config = TrainConfig(epochs=1, steps_per_epoch=2, batch_size=8, eval_samples=16)
    history = train_gnm(GNM(), datasets, cache, config, tmp_path)
    assert [r.epoch for r in history] == [1]
    assert {"distance_spearman", "waypoint_error_m", "test_loss"} <= set(history[0].metrics)
    assert 0.0 < history[0].metrics["dense_units_alive"] <= 1.0
    assert not any(k.startswith("turned_") for k in history[0].metrics)  # no field of view: nothing to turn
    for ds in datasets:
        ds.config["camera_hfov_deg"] = 70.0
    config.epochs, config.dense_lr_scale = 2, 0.5
    resumed = train_gnm(GNM(), datasets, cache, config, tmp_path)
    assert [r.epoch for r in resumed] == [1, 2]
    assert {"turned_distance_spearman", "turned_waypoint_lateral_r"} <= set(resumed[1].metrics)
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)  # what we write, a weights-only load reads
    assert state["epoch"] == 2
    assert [g["lr"] for g in state["optimizer"]["param_groups"]] == pytest.approx([7e-4, 3.5e-4])  # this run's rates
    # a run's checkpoint is also a starting point for another (--init), like published weights
    assert load_gnm(tmp_path / "checkpoint.pt").state_dict().keys() == GNM().state_dict().keys()


class _Planted:
    """A pickle that runs a command when loaded by a plain torch.load(weights_only=False)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        import os

        return os.system, (f"touch {self.marker}",)


def test_resume_never_runs_a_planted_checkpoint_and_refuses_a_foreign_one(tiny_data, tmp_path):
    from gnm_nav.common.errors import CheckpointError

    datasets = read_dataset(tiny_data)
    cache = build_frame_cache(datasets, tiny_data / ".cache")
    config = TrainConfig(epochs=1, steps_per_epoch=1, batch_size=4, eval_samples=8)
    marker = tmp_path / "ran"
    torch.save({"epoch": 0, "model": _Planted(marker)}, tmp_path / "checkpoint.pt")
    with pytest.raises(CheckpointError, match="not a resume checkpoint of gnm-nav"):
        train_gnm(GNM(), datasets, cache, config, tmp_path)
    assert not marker.exists()
    # our own checkpoint of another network shape: one clear line, not a traceback from load_state_dict
    small = GNM(obs_encoding_size=256, goal_encoding_size=256)
    torch.save({"epoch": 1, "model": small.state_dict(), "optimizer": {}, "history": []}, tmp_path / "checkpoint.pt")
    with pytest.raises(CheckpointError, match="written for another model or other settings"):
        train_gnm(GNM(), datasets, cache, config, tmp_path)


class _Scripted(torch.nn.Module):
    """Answers every batch with the given actions (a stand-in for a model that steers, or one that does not)."""

    def __init__(self, actions: torch.Tensor) -> None:
        super().__init__()
        self.actions = actions

    def forward(self, obs, goal):
        return torch.full((obs.shape[0], 1), 5.0), self.actions


def test_held_out_report_tells_a_steering_model_from_a_straight_driving_one(tiny_data):
    from gnm_nav.gnm.training.train import evaluate

    datasets = read_dataset(tiny_data)
    cache = build_frame_cache(datasets, tiny_data / ".cache")
    maker = BatchMaker(cache, torch.device("cpu"))
    batch = GnmSampler(datasets, "train", cache.offsets).sample(256, np.random.default_rng(2))
    truth = torch.from_numpy(batch.action)
    assert truth[..., 1].std() > 0.05  # the arcs turn: there is steering to learn
    steering = evaluate(_Scripted(truth), maker, [batch])
    straight = truth.clone()
    straight[..., 1] = 0.01 * torch.randn(straight[..., 1].shape, generator=torch.Generator().manual_seed(0))
    not_steering = evaluate(_Scripted(straight), maker, [batch])
    assert steering["waypoint_lateral_r"] == pytest.approx(1.0, abs=1e-5)
    assert abs(not_steering["waypoint_lateral_r"]) < 0.3
    assert not_steering["waypoint_error_m"] < 0.05  # the error alone barely shows the difference
    halved = truth.clone()
    halved[..., 1] *= 0.5  # steers the right way, half as far: r cannot tell, the gain can
    timid = evaluate(_Scripted(halved), maker, [batch])
    assert timid["waypoint_lateral_r"] == pytest.approx(1.0, abs=1e-5)
    assert timid["waypoint_lateral_gain"] == pytest.approx(0.5, abs=1e-4)
    assert steering["waypoint_lateral_gain"] == pytest.approx(1.0, abs=1e-4)
    assert abs(not_steering["waypoint_lateral_gain"]) < 0.1


class _GoalReader(torch.nn.Module):
    """Steers by its goal image alone (its lateral offsets are the goal's mean pixel): a model that reads the goal."""

    def forward(self, obs, goal):
        lateral = goal.mean(dim=(1, 2, 3))[:, None].expand(-1, 5)
        ones = torch.ones_like(lateral)
        return torch.full((obs.shape[0], 1), 5.0), torch.stack([ones, lateral, ones, torch.zeros_like(lateral)], -1)


def test_held_out_report_tells_a_model_that_steers_by_its_goal_from_one_that_ignores_it(tiny_data):
    """goal_swap_lateral_r: the lateral offsets predicted again with another sample's goal; 1 for a model whose
    steering comes from the context alone, low for one that steers by the goal."""
    from gnm_nav.gnm.training.train import evaluate

    datasets = read_dataset(tiny_data)
    cache = build_frame_cache(datasets, tiny_data / ".cache")
    maker = BatchMaker(cache, torch.device("cpu"))
    batch = GnmSampler(datasets, "train", cache.offsets).sample(256, np.random.default_rng(2))
    blind = evaluate(_Scripted(torch.from_numpy(batch.action)), maker, [batch])
    assert blind["waypoint_lateral_r"] == pytest.approx(1.0, abs=1e-5)  # it fits the labels...
    assert blind["goal_swap_lateral_r"] == pytest.approx(1.0, abs=1e-5)  # ...without reading the goal
    assert abs(evaluate(_GoalReader(), maker, [batch])["goal_swap_lateral_r"]) < 0.5


def test_a_goal_seen_from_beside_the_line_leads_the_label_over_to_the_twins_line(tiny_data, tmp_path):
    """side_goal_prob: a positive sample's goal comes from the side twin at the same time ahead; on the line, the
    label moves over onto the twin's line (the mirror of coming back); seen from the twin, it follows the twin's
    line. The same context then has labels that differ by where its goal was seen: only the goal tells them apart.
    Negatives keep their goals from other trajectories."""
    from gnm_nav.data.gnm_format import side_name

    def left_of(t):
        return np.stack([-np.sin(t.yaws), np.cos(t.yaws)], 1)

    root, traj = _with_twin(tiny_data, tmp_path / "side", side_name, lambda t: t.positions + 0.3 * left_of(t))
    datasets = read_dataset(root)
    cache = build_frame_cache(datasets, root / ".cache")
    start, twin_start = cache.index("bot_a", traj.name, 0), cache.index("bot_a", side_name(traj.name), 0)

    def draw(**kw):
        return GnmSampler(datasets, "train", cache.offsets, **kw).sample(3000, np.random.default_rng(1))

    plain, over, both = draw(), draw(side_goal_prob=1.0), draw(side_context_prob=1.0, side_goal_prob=1.0)
    mine = (plain.context[:, -1] >= start) & (plain.context[:, -1] < start + len(traj))
    positive = plain.distance < MAX_DIST
    moved = mine & positive
    assert moved.sum() > 20
    np.testing.assert_array_equal(over.goal[moved], plain.goal[moved] - start + twin_start)
    np.testing.assert_array_equal(over.goal[~moved], plain.goal[~moved])
    np.testing.assert_array_equal(over.context, plain.context)
    whole = moved & (plain.context[:, -1] - start + 5 < len(traj))
    left = left_of(traj)
    twin_line = traj.positions + 0.3 * left
    driven = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(twin_line, axis=0), axis=1))])
    for i in np.flatnonzero(whole)[:30]:
        t = plain.context[i, -1] - start
        k = np.arange(1, 6)
        over_by = 0.3 * np.clip(driven[t + k] - driven[t], 0.0, 1.0)  # over 0.3 m in 1 m of the twin's line
        target = traj.positions[t + k] + over_by[:, None] * left[t + k]
        rel = target - traj.positions[t]
        c, s_ = np.cos(traj.yaws[t]), np.sin(traj.yaws[t])
        expected = np.stack([c * rel[:, 0] + s_ * rel[:, 1], -s_ * rel[:, 0] + c * rel[:, 1]], 1) / 0.1
        np.testing.assert_allclose(over.action[i, :, :2], expected, atol=1e-3)
    assert (over.action[whole, -1, 1] > plain.action[whole, -1, 1] + 1.2).all()  # 0.15 m to the left by the 5th
    # context and goal both from the twin: the twin's own line (parallel to the drive's, longer on this arc's
    # outside), its own headings
    for i in np.flatnonzero(whole)[:30]:
        t = plain.context[i, -1] - start
        rel = twin_line[t + np.arange(1, 6)] - twin_line[t]
        c, s_ = np.cos(traj.yaws[t]), np.sin(traj.yaws[t])
        expected = np.stack([c * rel[:, 0] + s_ * rel[:, 1], -s_ * rel[:, 0] + c * rel[:, 1]], 1) / 0.1
        np.testing.assert_allclose(both.action[i, :, :2], expected, atol=1e-3)
    np.testing.assert_allclose(both.action[whole, :, 2:], plain.action[whole, :, 2:], atol=1e-5)
    # the paired figure: the same context with the goal seen from the twin; a model blind to its goal asks for none
    # of the move over
    from gnm_nav.gnm.training.train import side_offset_figures, side_pairs

    config = TrainConfig(batch_size=32, eval_samples=256)
    pairs = side_pairs(datasets, "all", cache, config, "goal")
    assert all((a.context == b.context).all() and (a.goal != b.goal).any() for a, b in pairs)
    blind = side_offset_figures(_Scripted(torch.zeros(32, 5, 4)), BatchMaker(cache, torch.device("cpu")), pairs,
                                "goal")
    assert blind["side_goal_offset_gain"] == 0.0
    assert {"side_goal_offset_r", "side_goal_offset_gain"} <= set(report_on(GNM(), datasets, cache, config))
    with pytest.raises(ValueError, match="side_goal_prob"):
        GnmSampler(datasets, "train", cache.offsets, side_goal_prob=2.0)


def test_history_dropout_shows_only_the_current_frame_and_keeps_the_labels(tiny_data):
    """history_dropout_prob: that share of samples has every context frame the current one (no motion to
    extrapolate); goals and labels are those of the same draw without it."""
    datasets = read_dataset(tiny_data)
    cache = build_frame_cache(datasets, tiny_data / ".cache")
    plain = GnmSampler(datasets, "train", cache.offsets)
    dropped = GnmSampler(datasets, "train", cache.offsets, history_dropout_prob=0.3)
    a, b = plain.sample(2000, np.random.default_rng(4)), dropped.sample(2000, np.random.default_rng(4))
    np.testing.assert_array_equal(a.goal, b.goal)
    np.testing.assert_array_equal(a.action, b.action)
    np.testing.assert_array_equal(b.context[:, -1], a.context[:, -1])
    still = (b.context == b.context[:, -1:]).all(axis=1)
    assert 0.25 < still.mean() < 0.35
    np.testing.assert_array_equal(a.context[~still], b.context[~still])
    report = report_on(GNM(), datasets, cache, TrainConfig(batch_size=32, eval_samples=64))
    assert {"still_waypoint_lateral_r", "still_waypoint_lateral_gain", "goal_swap_lateral_r"} <= set(report)
    with pytest.raises(ValueError, match="history_dropout_prob"):
        GnmSampler(datasets, "train", cache.offsets, history_dropout_prob=1.5)


def test_mirrored_samples_flip_images_and_negate_lateral_labels(tiny_data):
    datasets = read_dataset(tiny_data)
    cache = build_frame_cache(datasets, tiny_data / ".cache")
    maker = BatchMaker(cache, torch.device("cpu"))
    plain = GnmSampler(datasets, "train", cache.offsets).sample(64, np.random.default_rng(3))
    mirrored = GnmSampler(datasets, "train", cache.offsets, mirror_prob=0.5).sample(64, np.random.default_rng(3))
    assert not plain.mirror.any() and 10 < mirrored.mirror.sum() < 54
    same = (plain.context == mirrored.context).all(1) & (plain.goal == mirrored.goal)
    assert same.sum() > 32  # the draws that pick frames are the same; only the mirroring differs
    m, k = same & mirrored.mirror, same & ~mirrored.mirror
    sign = np.array([1.0, -1.0, 1.0, -1.0], np.float32)  # x, y, cos(yaw), sin(yaw)
    np.testing.assert_allclose(mirrored.action[m], plain.action[m] * sign)
    np.testing.assert_allclose(mirrored.action[k], plain.action[k])
    a, b = maker.tensors(plain), maker.tensors(mirrored)
    for key in ("obs", "goal"):
        assert torch.equal(b[key][torch.from_numpy(m)], a[key][torch.from_numpy(m)].flip(-1))
        assert torch.equal(b[key][torch.from_numpy(k)], a[key][torch.from_numpy(k)])
    with pytest.raises(ValueError, match="mirror_prob"):
        GnmSampler(datasets, "train", cache.offsets, mirror_prob=1.5)


def test_train_cli_continues_from_one_of_our_onnx_exports_and_reports_on_held_out_data(tiny_data, tmp_path):
    from gnm_nav.cli import main as cli_main
    from gnm_nav.gnm.export import export_gnm, random_init_gnm

    start = tmp_path / "start.onnx"
    export_gnm(random_init_gnm(seed=1), start)
    out = tmp_path / "more.onnx"
    rc = cli_main(["train", "gnm", "--data", str(tiny_data), "--init", str(start), "--out", str(out),
                   "--workdir", str(tmp_path / "run"), "--epochs", "1", "--steps-per-epoch", "2",
                   "--batch-size", "8", "--eval-samples", "16", "--datasets", "bot_a", "--report-data", str(tiny_data)])
    assert rc == 0
    card = json.loads(out.with_suffix(".json").read_text())
    assert list(card["training"]["datasets"]) == ["bot_a"]
    held_out = card["training"]["held_out_data"][str(tiny_data)]  # all 8 trajectories of both robots
    assert held_out["test_samples"] == 16 and math.isfinite(held_out["distance_spearman"])
    assert card["training"]["init"] == str(start) and card["training"]["epochs"] == 1
    assert card["sha256"]["whole"] != json.loads(start.with_suffix(".json").read_text())["sha256"]["whole"]


def test_dense_layers_learn_at_their_own_rate():
    from gnm_nav.gnm.training.train import gnm_optimizer

    model = GNM()
    conv_group, dense_group = gnm_optimizer(model, 7e-4, 0.1).param_groups
    assert conv_group["lr"] == pytest.approx(7e-4) and dense_group["lr"] == pytest.approx(7e-5)
    dense = {id(p) for m in model.modules() if isinstance(m, torch.nn.Linear) for p in m.parameters()}
    assert {id(p) for p in dense_group["params"]} == dense
    assert len(conv_group["params"]) + len(dense_group["params"]) == len(list(model.parameters()))
    assert id(model.dist_predictor[0].weight) in dense and id(model.obs_mobilenet[0][0].weight) not in dense
    with pytest.raises(ValueError, match="dense_lr_scale"):
        gnm_optimizer(model, 7e-4, 0.0)


def test_held_out_report_counts_dead_dense_units(tiny_data):
    from gnm_nav.gnm.training.train import evaluate

    datasets = read_dataset(tiny_data)
    cache = build_frame_cache(datasets, tiny_data / ".cache")
    maker = BatchMaker(cache, torch.device("cpu"))
    batches = [GnmSampler(datasets, "test", cache.offsets).sample(16, np.random.default_rng(4))]
    model = GNM()
    torch.nn.init.zeros_(model.compress_observation[0].bias)
    healthy = evaluate(model, maker, batches)["dense_units_alive"]
    with torch.no_grad():
        model.compress_observation[0].bias.fill_(-1e4)  # all 1024 observation units switched off for good
    dead = evaluate(model, maker, batches)["dense_units_alive"]
    units = 1024 + 1024 + 1024 + 256 + 32  # obs encoding, goal encoding (2 layers), trunk (2 layers)
    assert healthy > 0.2 and dead < healthy and dead <= (units - 1024) / units + 1e-9


def test_turned_samples_shift_the_observation_and_rotate_the_label(tiny_data):
    from gnm_nav.gnm.training.samples import rotate_label

    # a left turn by delta: what was straight ahead is now to the right, and so is the heading
    turned = rotate_label(np.array([[1.0, 0.0, 1.0, 0.0]], np.float32), 0.1)
    np.testing.assert_allclose(turned, [[math.cos(0.1), -math.sin(0.1), math.cos(0.1), -math.sin(0.1)]], atol=1e-6)

    datasets = read_dataset(tiny_data)
    cache = build_frame_cache(datasets, tiny_data / ".cache")
    unknown_fov = GnmSampler(datasets, "train", cache.offsets, yaw_shift_prob=1.0).sample(32, np.random.default_rng(5))
    assert not unknown_fov.shift_px.any()  # no field of view, no turning
    for ds in datasets:
        ds.config["camera_hfov_deg"] = 70.0
    plain = GnmSampler(datasets, "train", cache.offsets).sample(64, np.random.default_rng(5))
    turn = GnmSampler(datasets, "train", cache.offsets, yaw_shift_prob=1.0, max_yaw_shift_rad=math.radians(15))
    shifted = turn.sample(64, np.random.default_rng(5))
    for key in ("context", "goal", "distance"):
        np.testing.assert_array_equal(getattr(plain, key), getattr(shifted, key))
    focal = 85 / 2 / math.tan(math.radians(35))
    assert (shifted.shift_px != 0).mean() > 0.8
    assert np.abs(shifted.shift_px).max() <= round(focal * math.tan(math.radians(15)))
    for b in range(64):
        turned = rotate_label(plain.action[b], math.atan(shifted.shift_px[b] / focal))
        np.testing.assert_allclose(shifted.action[b], turned, atol=1e-5)
    maker = BatchMaker(cache, torch.device("cpu"))
    a, t = maker.tensors(plain), maker.tensors(shifted)
    torch.testing.assert_close(a["goal"], t["goal"])  # only the observation turns
    for b in np.flatnonzero(shifted.shift_px)[:8]:
        s = int(shifted.shift_px[b])
        src = np.clip(np.arange(85) - s, 0, 84)
        torch.testing.assert_close(t["obs"][b], a["obs"][b][..., torch.from_numpy(src)])
    with pytest.raises(ValueError, match="yaw_shift_prob"):
        GnmSampler(datasets, "train", cache.offsets, yaw_shift_prob=2.0)


def test_a_shifted_frame_looks_like_the_camera_turned(tmp_path):
    """The shift's sign and size against the simulator: turning the robot left moves the scene right."""
    from gnm_nav.gnm.training.frame_cache import FrameCache
    from gnm_nav.sim.env import SimEnv, load_profile
    from gnm_nav.sim.worlds import resolve_world

    profile = load_profile("turtlebot")
    focal = 85 / 2 / math.tan(math.radians(profile.camera_hfov_deg) / 2)
    delta = 0.15
    frames = []
    with SimEnv(resolve_world("1000"), profile, image_size=(85, 64)) as env:
        for yaw in (0.12, 0.12 + delta):
            env.reset([0.75, 1.25, yaw])
            frames.append(env.render())
    maker = BatchMaker(FrameCache(np.stack(frames), {}), torch.device("cpu"))
    s = round(focal * math.tan(delta))
    turned = maker.images(np.array([[1]]), np.array([False]))[..., s:-s]  # the columns a shift can fill
    error = {shift: float((maker.images(np.array([[0]]), np.array([False]), np.array([shift]))[..., s:-s] - turned)
                          .abs().mean()) for shift in (s, 0, -s)}
    assert error[s] < 0.5 * error[0] and error[s] < 0.5 * error[-s], error


def test_training_on_trajectories_too_short_is_one_clear_error(tmp_path, capsys):
    from gnm_nav.cli import main as cli_main

    pos, yaw = _arc(4, 0.2, 0.0)
    frames = [np.zeros((48, 64, 3), np.uint8)] * 4
    for k in range(3):
        write_trajectory(tmp_path / "data" / "bot", f"t{k}", frames, pos, yaw)
    write_splits(tmp_path / "data", "bot", ["t0", "t1"], ["t2"])
    write_data_config(tmp_path / "data", {"bot": {"metric_waypoint_spacing": 0.2}})
    rc = cli_main(["train", "gnm", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "m.onnx"),
                   "--workdir", str(tmp_path / "run"), "--epochs", "1", "--steps-per-epoch", "1"])
    assert rc == 2 and "nothing to train on" in capsys.readouterr().err


def _where(cache, datasets, index: int):
    """(trajectory, time) of a frame-cache index."""
    for ds in datasets:
        for traj in ds.trajectories:
            start = cache.offsets[(ds.name, traj.name)]
            if start <= index < start + len(traj):
                return ds, traj, index - start
    raise AssertionError(f"cache index {index} is in no trajectory")


def test_batched_labels_are_each_samples_own(tiny_data):
    """The sampler builds a whole batch with array operations: every row's label is still action_label of the
    trajectory and time its context ends at, its positive goal in the same trajectory `distance` frames on, its
    negative goal in another trajectory."""
    datasets = read_dataset(tiny_data)
    cache = build_frame_cache(datasets, tiny_data / ".cache")
    batch = GnmSampler(datasets, "train", cache.offsets).sample(400, np.random.default_rng(7))
    for b in range(len(batch.distance)):
        ds, traj, t = _where(cache, datasets, int(batch.context[b, -1]))
        assert t >= 5 and _where(cache, datasets, int(batch.context[b, 0]))[1] is traj
        np.testing.assert_allclose(batch.action[b], action_label(traj, t, 5, ds.metric_waypoint_spacing), atol=1e-6)
        assert batch.spacing_m[b] == np.float32(ds.metric_waypoint_spacing)
        goal_traj = _where(cache, datasets, int(batch.goal[b]))[1]
        assert (goal_traj is not traj) == (batch.distance[b] == MAX_DIST and batch.action_mask[b] == 0)


def test_prefetched_batches_are_the_drawn_ones_and_errors_reach_the_loop(tiny_data):
    from gnm_nav.gnm.training.train import Prefetcher

    datasets = read_dataset(tiny_data)
    cache = build_frame_cache(datasets, tiny_data / ".cache")
    sampler = GnmSampler(datasets, "train", cache.offsets, mirror_prob=0.5)
    maker = BatchMaker(cache, torch.device("cpu"))
    rng = np.random.default_rng(9)
    expected = [maker.tensors(sampler.sample(8, rng)) for _ in range(5)]
    with Prefetcher(sampler, maker, 8, np.random.default_rng(9), 5, depth=2) as batches:
        got = list(batches)
    assert len(got) == 5
    for a, b in zip(expected, got):
        assert all(torch.equal(a[key], b[key]) for key in a)
    with Prefetcher(sampler, maker, 8, np.random.default_rng(9), 1000, depth=2) as batches:
        next(iter(batches))  # leaving early stops the thread (it waits on a full queue)

    class Broken:
        def sample(self, batch_size, rng):
            raise ValueError("no frames")

    with pytest.raises(ValueError, match="no frames"), Prefetcher(Broken(), maker, 8, rng, 3) as batches:
        list(batches)


def test_training_bench_times_the_pipeline_and_the_network(tiny_data, tmp_path, capsys):
    """`gnm-nav bench training` writes every figure of its table (it measures speed; nothing here asserts one)."""
    from cli_runner import run_command

    from gnm_nav.commands import bench as bench_command

    out = tmp_path / "training.json"
    assert run_command(bench_command, ["training", "--out", str(out), "--data", str(tiny_data), "--batch-size", "8",
                                       "--batches", "2", "--network-batches", "1", "--device", "cpu"]) == 0
    results = json.loads(out.read_text())
    table = bench_command.bench_markdown(results)
    for key in ("sample_per_s", "gather_per_s", "finish_per_s", "pipeline_per_s", "prefetched_per_s",
                "network_step_per_s"):
        assert results[key] > 0, key
    assert table.count("\n| ") == 7 and "cpu, batch 8" in table


def test_bf16_forward_trains_and_precision_is_checked(tiny_data, tmp_path):
    """--precision bf16 runs the forward pass under autocast (on a GPU by default; here on the CPU), the loss and
    the weights staying fp32; an unknown precision is refused."""
    from gnm_nav.gnm.training.train import use_bf16

    datasets = read_dataset(tiny_data)
    cache = build_frame_cache(datasets, tiny_data / ".cache")
    torch.manual_seed(0)
    model = GNM()
    history = train_gnm(model, datasets, cache, TrainConfig(epochs=1, steps_per_epoch=2, batch_size=8,
                                                            eval_samples=16, precision="bf16"), tmp_path)
    assert math.isfinite(history[0].train_loss) and next(model.parameters()).dtype == torch.float32
    assert use_bf16("auto", torch.device("cuda")) and not use_bf16("auto", torch.device("cpu"))
    with pytest.raises(ValueError, match="precision must be one of"):
        use_bf16("fp8", torch.device("cpu"))


def test_a_side_twin_lends_its_frames_as_context_and_the_labels_lead_back_to_the_line(tiny_data, tmp_path):
    """side_context_prob: the context comes from the side twin at the same time, the goal from the drive, and the
    labels lead back across the offset onto the drive's line; a side twin is never drawn as a drive."""
    from gnm_nav.data.gnm_format import side_name

    def left_of(t):
        return np.stack([-np.sin(t.yaws), np.cos(t.yaws)], 1)

    root, traj = _with_twin(tiny_data, tmp_path / "side", side_name, lambda t: t.positions + 0.3 * left_of(t))
    left = left_of(traj)  # bot_a, spacing 0.1 m
    datasets = read_dataset(root)
    cache = build_frame_cache(datasets, root / ".cache")
    plain = GnmSampler(datasets, "train", cache.offsets)
    side = GnmSampler(datasets, "train", cache.offsets, side_context_prob=1.0)
    assert side.side_twins == 1
    start, twin_start = cache.index("bot_a", traj.name, 0), cache.index("bot_a", side_name(traj.name), 0)
    a, b = plain.sample(3000, np.random.default_rng(1)), side.sample(3000, np.random.default_rng(1))
    np.testing.assert_array_equal(a.goal, b.goal)
    np.testing.assert_array_equal(a.distance, b.distance)
    # the twin is not a drive: no sample of its own (its goals would be its own shifted line)
    assert not ((a.context[:, -1] >= twin_start) & (a.context[:, -1] < twin_start + len(traj))).any()
    mine = (a.context[:, -1] >= start) & (a.context[:, -1] < start + len(traj))
    assert mine.sum() > 20
    np.testing.assert_array_equal(b.context[mine], a.context[mine] - start + twin_start)
    np.testing.assert_array_equal(b.context[~mine], a.context[~mine])
    # seen from 0.3 m to the drive's left, the label comes back over RETURN_DISTANCE_M (1 m, 10 steps of 0.1 m):
    # 0.03 m (0.3 units) closer to the line at each waypoint, the same forward progress
    whole = mine & (a.context[:, -1] - start + 5 < len(traj))  # (past the end the last pose repeats)
    assert RETURN_DISTANCE_M == 1.0 and whole.sum() > 20
    for i in np.flatnonzero(whole)[:30]:
        t = a.context[i, -1] - start
        k = np.arange(1, 6)
        target = traj.positions[t + k] + (0.3 * (1 - 0.1 * k))[:, None] * left[t + k]  # 0.1 m driven per step
        rel = target - (traj.positions[t] + 0.3 * left[t])
        c, s_ = np.cos(traj.yaws[t]), np.sin(traj.yaws[t])
        expected = np.stack([c * rel[:, 0] + s_ * rel[:, 1], -s_ * rel[:, 0] + c * rel[:, 1]], 1) / 0.1
        np.testing.assert_allclose(b.action[i, :, :2], expected, atol=1e-3)
    assert (b.action[whole, -1, 1] < a.action[whole, -1, 1] - 1.2).all()  # 0.15 m back to the right by the 5th
    np.testing.assert_array_equal(b.action[whole, :, 2:], a.action[whole, :, 2:])  # the drive's headings
    report = report_on(GNM(), datasets, cache, TrainConfig(batch_size=32, eval_samples=256))
    assert {"side_waypoint_lateral_r", "side_waypoint_lateral_gain", "side_offset_r", "side_offset_gain"} <= set(report)
    assert np.isfinite(report["side_offset_gain"])  # (its r is nan here: every twin stands 0.3 m aside)
    with pytest.raises(ValueError, match="side_context_prob"):
        GnmSampler(datasets, "train", cache.offsets, side_context_prob=-0.1)


def test_a_turned_side_twin_shows_only_its_current_frame_and_its_label_turns_back(tiny_data, tmp_path):
    """A side twin turned off the drive's headings: its context is the current frame alone (its history would move
    crabwise), and its labels are those of the unturned twin seen in the turned frame: the same way back, turned
    the other way, headings the drive's."""
    from gnm_nav.data.gnm_format import side_name

    def beside(t):
        return t.positions + 0.3 * np.stack([-np.sin(t.yaws), np.cos(t.yaws)], 1)

    datasets, samplers = {}, {}
    for turn in (0.0, 0.3):
        root, traj = _with_twin(tiny_data, tmp_path / f"turn{turn}", side_name, beside, turn)
        datasets[turn] = read_dataset(root)
        cache = build_frame_cache(datasets[turn], root / ".cache")
        samplers[turn] = GnmSampler(datasets[turn], "train", cache.offsets, side_context_prob=1.0)
    twin_start = cache.index("bot_a", side_name(traj.name), 0)
    flat, turned = (samplers[t].sample(3000, np.random.default_rng(1)) for t in (0.0, 0.3))
    mine = (flat.context[:, -1] >= twin_start) & (flat.context[:, -1] < twin_start + len(traj))
    assert mine.sum() > 20
    np.testing.assert_array_equal(turned.context[mine], np.repeat(flat.context[mine, -1:], 6, axis=1))
    np.testing.assert_array_equal(turned.context[~mine], flat.context[~mine])
    c, s_ = math.cos(0.3), math.sin(0.3)
    x, y, cy, sy = (flat.action[mine, :, k] for k in range(4))
    np.testing.assert_allclose(turned.action[mine, :, 0], c * x + s_ * y, atol=1e-4)
    np.testing.assert_allclose(turned.action[mine, :, 1], -s_ * x + c * y, atol=1e-4)
    np.testing.assert_allclose(turned.action[mine, :, 2], c * cy + s_ * sy, atol=1e-5)  # cos(yaw - 0.3)
    np.testing.assert_allclose(turned.action[mine, :, 3], c * sy - s_ * cy, atol=1e-5)  # sin(yaw - 0.3)
    np.testing.assert_array_equal(turned.action[~mine], flat.action[~mine])
    assert (turned.action[mine, 0, 1] < flat.action[mine, 0, 1]).all()  # turned left, the way back lies more right
