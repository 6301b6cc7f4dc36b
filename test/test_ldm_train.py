"""LDM training on generated GNM-format data: transitions, embedding cache, the trained model, resume."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from test_ldm_support import TRAIN_SETTINGS, make_dataset, run_train, trained_ldm

from gnm_nav.common.errors import CheckpointError
from gnm_nav.data.gnm_format import read_dataset
from gnm_nav.gnm.card import load_model_card
from gnm_nav.ldm.embeddings import EmbeddingCache
from gnm_nav.ldm.export import LdmScorer, load_ldm_card
from gnm_nav.ldm.transitions import context_frame_indices, pose_actions, trajectory_transitions


def test_pose_actions_are_robot_frame_velocities():
    # a circle driven at v=0.5 m/s, w=0.4 rad/s, heading not aligned with the x axis
    t = np.arange(10) * 0.25
    yaw = 1.0 + 0.4 * t
    radius = 0.5 / 0.4
    pos = np.stack([radius * np.sin(yaw), -radius * np.cos(yaw)], axis=1)
    actions = pose_actions(pos, yaw, 0.25)
    chord = 2 * radius * math.sin(0.4 * 0.25 / 2) / 0.25 * math.cos(0.4 * 0.25 / 2)  # forward part of the chord
    np.testing.assert_allclose(actions[:, 0], chord, rtol=1e-5)
    np.testing.assert_allclose(actions[:, 1], 0.4, rtol=1e-5)
    reverse = pose_actions(pos[::-1], yaw[::-1], 0.25)
    assert (reverse[:, 0] < 0).all()


def test_transitions_pad_both_ends_with_stops():
    contexts = context_frame_indices(4, 2)
    assert contexts[0].tolist() == [0, 0, 0] and contexts[-1].tolist() == [3, 3, 3]
    assert contexts[3].tolist() == [1, 2, 3]
    pos = np.stack([np.arange(4) * 0.1, np.zeros(4)], axis=1)
    tr = trajectory_transitions(pos, np.zeros(4), 2, 0.25)
    moving = tr.action[:, 0] > 0
    assert moving.sum() == 3 and np.allclose(tr.action[moving, 0], 0.4)
    stops = ~moving
    assert np.all(tr.action[stops] == 0) and stops.sum() == 2 + 2  # context_size end steps + two self-loops
    assert (tr.next_context[stops][-2:] == tr.context[stops][-2:]).all()  # the self-loops


def test_embedding_cache_is_keyed_by_encoder(tmp_path):
    root = make_dataset(tmp_path / "data", trajectories=1, steps=3)
    traj = read_dataset(root)[0].trajectories[0]
    z = np.random.default_rng(0).random((8, 4), dtype=np.float32)
    EmbeddingCache(tmp_path / "cache", "a" * 64, 5).save("synth", traj, z)
    np.testing.assert_array_equal(EmbeddingCache(tmp_path / "cache", "a" * 64, 5).load("synth", traj), z)
    assert EmbeddingCache(tmp_path / "cache", "b" * 64, 5).load("synth", traj) is None
    assert EmbeddingCache(tmp_path / "cache", "a" * 64, 4).load("synth", traj) is None
    EmbeddingCache(tmp_path / "cache", "a" * 64, 5).path("synth", traj.name).write_bytes(b"garbage")
    assert EmbeddingCache(tmp_path / "cache", "a" * 64, 5).load("synth", traj) is None


def test_trained_model_card_and_held_out_separation(tmp_path_factory):
    model, encoder = trained_ldm(tmp_path_factory)
    card = load_ldm_card(model)
    assert card.encoder_sha256 == load_model_card(encoder).sha256["obs"]
    assert card.quantile == 0.95 and math.isfinite(card.threshold)
    assert card.action_grid.v_count == 7 and card.action_grid.v_min <= 0.0 < card.action_grid.v_max
    assert card.command_line  # the process command line that made it
    m = card.metrics
    assert m["calibration_overlaps_evaluation"] is False
    assert m["recorded_allowed"] >= 0.75
    assert m["ood_observation_rejected_noise"] >= 0.9
    assert m["ood_observation_rejected"] > 1.0 - m["recorded_allowed"]
    assert m["perturbed_command_rejected"] > 1.0 - m["recorded_allowed"]
    # the LDM's own condition on held-out transitions, and the grid it is judged on
    assert 0.0 <= m["backup_violated"] <= 0.25 and m["backup_tolerance_nats"] == 0.5
    assert m["backup_excess_p95_nats"] >= 0.0 and 0.0 <= m["critic_below_energy"] <= 1.0
    grid = card.action_grid
    assert m["grid_resolution"]["v"] == pytest.approx((grid.v_max - grid.v_min) / (grid.v_count - 1))


def test_exported_head_ranks_recorded_commands_above_far_ones(tmp_path_factory):
    """At a training observation, the recorded command has lower G than commands far outside the data."""
    from gnm_nav.gnm.engine import GNMEngine
    from gnm_nav.gnm.preprocessing import to_model_input

    model, encoder = trained_ldm(tmp_path_factory)
    scorer = LdmScorer(model)
    engine = GNMEngine(encoder, providers="cpu")
    data = model.parent / "data"
    traj = read_dataset(data)[0].trajectories[0]
    recorded = pose_actions(traj.positions, traj.yaws, 0.25)
    far = np.array([[0.0, 2.0], [0.0, -2.0], [-1.0, 0.0], [2.0, 0.0]], np.float32)
    wins = 0
    steps = range(6, 30, 4)
    for i in steps:
        obs = to_model_input([traj.load_image(int(k)) for k in range(i - 5, i + 1)])
        energy, ldm = scorer.score(engine.encode_observation(obs), np.vstack([recorded[i:i + 1], far]))
        assert (ldm >= energy - 1e-4).all()  # G >= E by construction
        wins += int(ldm[0] < ldm[1:].min())
    assert wins == len(steps)


def test_resume_checks_settings_and_reuses_cache(tmp_path_factory, capsys):
    model, encoder = trained_ldm(tmp_path_factory)
    data = model.parent / "data"
    out = model.parent / "resumed.onnx"
    args = ["ldm", "--data", str(data), "--encoder", str(encoder), "--out", str(out),
            "--work-dir", str(model.with_suffix(".work"))]
    assert run_train(args + TRAIN_SETTINGS + ["--resume"]) == 0  # the finished run resumes to export
    assert "resuming at stage done" in capsys.readouterr().out
    assert json.loads(out.with_suffix(".json").read_text())["threshold"] == load_ldm_card(model).threshold
    with pytest.raises(CheckpointError, match="other settings"):
        run_train(args + TRAIN_SETTINGS + ["--pca-dim", "6", "--resume"])


def test_bad_settings_are_one_clear_error(tmp_path):
    from gnm_nav.ldm.train import LdmSettingsError

    with pytest.raises(LdmSettingsError, match="--quantile must be in"):
        run_train(["ldm", "--data", str(tmp_path), "--encoder", "x.onnx", "--out", str(tmp_path / "a.onnx"),
                   "--quantile", "1.5"])
    with pytest.raises(LdmSettingsError, match="--out must be a .onnx"):
        run_train(["ldm", "--data", str(tmp_path), "--encoder", "x.onnx", "--out", str(tmp_path / "a.json")])
