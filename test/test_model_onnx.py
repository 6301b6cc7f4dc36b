"""ONNX export and inference: ONNX Runtime == torch (whole and split), GNMEngine semantics,
model card round-trip and corruption errors, the `gnm-nav export` command, the policy bench."""
from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from test_model_gnm import one_torch_thread  # noqa: F401 - autouse fixture

from gnm_nav import cli
from gnm_nav.common.errors import ModelFileError
from gnm_nav.gnm.card import ModelCard, card_path_for, load_model_card, part_path_for, sha256_file
from gnm_nav.gnm.engine import GNMEngine, NonFiniteOutputError
from gnm_nav.gnm.export import random_init_gnm
from gnm_nav.gnm.modeling import GNM


def assert_close(actual: np.ndarray, expected: np.ndarray) -> None:
    """Equal up to float32 summation order: 1e-4 of the output scale (see gnm_nav.gnm.export)."""
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-4 * float(np.abs(expected).max()) + 1e-6)


@pytest.fixture(scope="module")
def torch_model() -> GNM:
    return random_init_gnm(seed=0)  # the weights of the gnm_model_path fixture


@pytest.fixture(scope="module")
def engine(gnm_model_path) -> GNMEngine:
    return GNMEngine(gnm_model_path, providers="cpu")


@pytest.fixture(scope="module")
def inputs() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    return (rng.standard_normal((1, 18, 64, 85), dtype=np.float32),
            rng.standard_normal((6, 3, 64, 85), dtype=np.float32))


def _torch(fn, *arrays):
    with torch.no_grad():
        out = fn(*[torch.from_numpy(a) for a in arrays])
    return [o.numpy() for o in out] if isinstance(out, tuple) else out.numpy()


def _session(path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def test_whole_network_onnx_equals_torch(gnm_model_path, torch_model, inputs):
    obs, goals = inputs
    batch_obs = np.repeat(obs, len(goals), axis=0) + np.float32(0.1) * goals[:, :1]  # distinct rows
    dist, action = _session(gnm_model_path).run(["dist", "action"], {"obs_img": batch_obs, "goal_img": goals})
    want_dist, want_action = _torch(torch_model, batch_obs, goals)
    assert dist.shape == (6, 1) and action.shape == (6, 5, 4)
    assert_close(dist, want_dist)
    assert_close(action, want_action)


def test_split_onnx_parts_equal_torch(gnm_model_path, torch_model, inputs):
    obs, goals = inputs
    (encoding,) = _session(part_path_for(gnm_model_path, "obs")).run(["obs_encoding"], {"obs_img": obs})
    assert_close(encoding, _torch(torch_model.encode_observation, obs))
    dist, action = _session(part_path_for(gnm_model_path, "goal")).run(
        ["dist", "action"], {"obs_img": obs, "goal_img": goals, "obs_encoding": encoding})
    want_dist, want_action = _torch(torch_model, np.repeat(obs, len(goals), axis=0), goals)
    assert_close(dist, want_dist)
    assert_close(action, want_action)


def test_engine_evaluate_equals_whole_network(engine, inputs):
    obs, goals = inputs
    dist, action = engine.evaluate(obs, goals)
    many_dist, many_action = engine.evaluate_many(np.repeat(obs, len(goals), axis=0), goals)
    assert dist.shape == (6,) and action.shape == (6, 5, 4) and dist.dtype == np.float32
    assert_close(dist, many_dist)
    assert_close(action, many_action)
    reused = engine.evaluate(obs, goals, obs_encoding=engine.encode_observation(obs))
    np.testing.assert_array_equal(reused[0], dist)
    assert engine.encode_observation(obs).shape == (1, 1024)
    assert engine.providers == ["CPUExecutionProvider"]
    assert engine.card.context_size == 5 and engine.obs_shape == (1, 18, 64, 85)


def test_engine_rejects_bad_shapes_and_flags_non_finite_output(engine, inputs):
    obs, goals = inputs
    with pytest.raises(ValueError, match=r"obs_img must have shape \[1, 18, 64, 85\]"):
        engine.evaluate(np.repeat(obs, 2, axis=0), goals)
    with pytest.raises(ValueError, match="goal_imgs must have shape"):
        engine.evaluate(obs, goals[:, :, :32])
    nan_obs = obs.copy()
    nan_obs[0, 0, 0, 0] = np.nan
    with pytest.raises(NonFiniteOutputError, match="NaN/Inf"):
        engine.evaluate(nan_obs, goals)


def test_unavailable_gpu_provider_falls_back_with_a_warning(gnm_model_path, caplog, capfd):
    with caplog.at_level(logging.INFO, logger="gnm_nav.gnm.engine"):
        quiet = GNMEngine(gnm_model_path, providers="auto")
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("CPUExecutionProvider" in r.getMessage() for r in caplog.records)  # logs what really runs
    assert "CUDA" not in capfd.readouterr().err  # auto does not make ONNX Runtime spam load errors
    if quiet.providers != ["CPUExecutionProvider"]:
        pytest.skip("a GPU provider works here")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="gnm_nav.gnm.engine"):
        fallback = GNMEngine(gnm_model_path, providers="cuda")
    assert fallback.providers == ["CPUExecutionProvider"]
    assert any("cuda requested" in r.getMessage() and "CPU" in r.getMessage() for r in caplog.records)


def test_model_card_describes_the_export(gnm_model_path):
    card = load_model_card(gnm_model_path)
    assert card.image_size == (85, 64) and card.context_spacing_s == 0.25 and card.center_crop is False
    assert card.parameter_count == 8_663_797 and card.obs_encoding_size == 1024
    assert card.inputs["goal"]["obs_img"] == [1, 18, 64, 85]
    assert card.outputs["whole"]["action"] == ["batch", 5, 4]
    assert card.normalization == {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
    for part in ("whole", "obs", "goal"):
        assert card.sha256[part] == sha256_file(part_path_for(gnm_model_path, part))
    assert card.training is None and card.metrics is None
    raw = json.loads(card_path_for(gnm_model_path).read_text())
    assert card.to_dict() == raw
    assert ModelCard.from_dict(raw, card.directory) == card


@pytest.fixture
def model_copy(gnm_model_path, tmp_path) -> Path:
    for part in ("whole", "obs", "goal"):
        shutil.copy(part_path_for(gnm_model_path, part), tmp_path)
    shutil.copy(card_path_for(gnm_model_path), tmp_path)
    return tmp_path / gnm_model_path.name


def test_corrupt_card_or_files_raise_model_file_errors(model_copy):
    goal_part = part_path_for(model_copy, "goal")
    data = bytearray(goal_part.read_bytes())
    data[len(data) // 2] ^= 0xFF
    goal_part.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match=f"{goal_part.name} does not match its card"):
        GNMEngine(model_copy)
    goal_part.unlink()
    with pytest.raises(ModelFileError, match=f"{goal_part.name} listed in .* is missing"):
        load_model_card(model_copy)
    card = card_path_for(model_copy)
    card.write_text('{"architecture": "gnm"')
    with pytest.raises(ModelFileError, match="is corrupt"):
        load_model_card(model_copy)
    card.write_text(json.dumps({"architecture": "gnm"}))
    with pytest.raises(ModelFileError, match="missing fields"):
        load_model_card(model_copy)
    card.unlink()
    with pytest.raises(ModelFileError, match="card .* not found"):
        GNMEngine(model_copy)
    with pytest.raises(ModelFileError, match="nope.onnx not found"):
        GNMEngine(model_copy.parent / "nope.onnx")


def test_export_command_end_to_end_from_a_checkpoint(tmp_path, capsys):
    torch.manual_seed(2)
    model = GNM(context_size=3, obs_encoding_size=64, goal_encoding_size=64).eval()
    checkpoint = tmp_path / "small.pth"
    torch.save({"model": model.state_dict(), "epoch": 1}, checkpoint)
    out = tmp_path / "out" / "small.onnx"
    assert cli.main(["export", "--checkpoint", str(checkpoint), "--out", str(out),
                     "--context-spacing", "0.5", "--center-crop"]) == 0
    printed = capsys.readouterr().out
    assert "max abs difference" in printed and "exported" in printed
    card = load_model_card(out)
    assert card.context_size == 3 and card.context_spacing_s == 0.5 and card.center_crop is True
    assert card.source_sha256 == sha256_file(checkpoint) and card.source_checkpoint == str(checkpoint.resolve())
    obs = np.random.default_rng(0).standard_normal((1, 12, 64, 85), dtype=np.float32)
    goals = np.random.default_rng(1).standard_normal((3, 3, 64, 85), dtype=np.float32)
    dist, action = GNMEngine(out, providers="cpu").evaluate(obs, goals)
    want_dist, want_action = _torch(model, np.repeat(obs, 3, axis=0), goals)
    assert_close(dist, want_dist[:, 0])
    assert_close(action, want_action)


def test_export_command_random_init(tmp_path, capsys):
    out = tmp_path / "random.onnx"
    assert cli.main(["export", "--random-init", "--seed", "4", "--out", str(out)]) == 0
    assert "random init (seed 4)" in capsys.readouterr().out
    card = load_model_card(out)
    assert card.source_checkpoint is None and card.parameter_count == 8_663_797


def test_failed_verification_writes_nothing(tmp_path, monkeypatch):
    from gnm_nav.gnm import export as onnx_export

    monkeypatch.setattr(onnx_export, "RELATIVE_TOLERANCE", -1.0)
    with pytest.raises(onnx_export.ExportError, match="ONNX Runtime disagrees with torch"):
        onnx_export.export_gnm(GNM(obs_encoding_size=32, goal_encoding_size=32), tmp_path / "bad.onnx")
    assert list(tmp_path.iterdir()) == []


def test_export_command_errors_are_one_line(tmp_path, capsys):
    assert cli.main(["export", "--checkpoint", str(tmp_path / "missing.pth"), "--out", str(tmp_path / "x.onnx")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing.pth not found" in err[0]
    assert not (tmp_path / "x.onnx").exists()


def test_policy_bench_reports_both_variants(gnm_model_path):
    from gnm_nav.bench.policy import bench_policy_step

    results = bench_policy_step(gnm_model_path, iters=2, providers="cpu")
    assert results["providers"] == "CPUExecutionProvider"
    for key in ("anchor_style_ms_p50", "anchor_style_ms_p99", "ours_ms_p50", "ours_ms_p99", "speedup_p50"):
        assert results[key] > 0


def test_a_card_that_disagrees_with_its_model_is_refused_at_load(model_copy):
    card = card_path_for(model_copy)
    data = json.loads(card.read_text())
    data["context_size"] = 3  # the network takes 5 + 1 frames
    card.write_text(json.dumps(data))
    with pytest.raises(ModelFileError, match="input obs_img is .* but the model card .* says .*card and model differ"):
        GNMEngine(model_copy)
