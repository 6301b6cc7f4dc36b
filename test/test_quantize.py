"""int8 quantisation of an exported GNM: real ONNX Runtime static quantisation of every part, calibrated on
a GNM-format dataset, a card that verifies and records its accuracy and speed against fp32, clear errors."""
from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from cli_runner import run_command

from gnm_nav.commands import export as export_command
from gnm_nav.data.gnm_format import write_data_config, write_trajectory
from gnm_nav.gnm.card import PARTS, load_model_card, part_path_for
from gnm_nav.gnm.engine import GNMEngine
from gnm_nav.graph.synthetic import route_texture, view


@pytest.fixture(scope="module")
def camera_data(tmp_path_factory):
    """Three drives along textured routes, as a camera would see them (GNM layout, 4 Hz)."""
    root = tmp_path_factory.mktemp("calib")
    for k in range(3):
        texture = route_texture(40 * 8, seed=30 + k)
        frames = [view(texture, i * 8) for i in range(30)]
        positions = np.stack([np.arange(30) * 0.1, np.zeros(30)], axis=1)
        write_trajectory(root / "cam", f"drive{k}", frames, positions, np.zeros(30))
    write_data_config(root, {"cam": {"metric_waypoint_spacing": 0.1}})
    return root


def _export(argv: list[str]) -> int:
    return run_command(export_command, argv)


def test_int8_export_quantises_every_part_and_records_its_figures(tmp_path, gnm_model_path, camera_data, capsys):
    out = tmp_path / "gnm_int8.onnx"
    assert _export(["--from", str(gnm_model_path), "--int8", "--calibration-data", str(camera_data),
                    "--calibration-samples", "8", "--held-out-samples", "8", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "distance rank correlation" in printed and "int8" in printed
    card = load_model_card(out)  # verifies every part's sha256
    assert json.loads(out.with_suffix(".json").read_text())["files"] == {
        "whole": "gnm_int8.onnx", "obs": "gnm_int8.obs.onnx", "goal": "gnm_int8.goal.onnx"}
    for part in PARTS:
        ops = {n.op_type for n in onnx.load(str(part_path_for(out, part))).graph.node}
        assert {"QuantizeLinear", "DequantizeLinear"} <= ops, part
        assert part_path_for(out, part).stat().st_size < 0.5 * part_path_for(gnm_model_path, part).stat().st_size
    quantization = card.training["quantization"]
    assert quantization["from_model"] == gnm_model_path.name and quantization["calibration"]["samples"] == 8
    assert quantization["held_out"]["trajectories"] == 1  # the accuracy is measured on a drive never calibrated on
    accuracy, speed = card.metrics["vs_fp32"], card.metrics["speed_vs_fp32_cpu"]
    assert accuracy["samples"] == 8 and -1.0 <= accuracy["distance_spearman"] <= 1.0
    assert np.isfinite([accuracy["distance_mean_abs_diff_steps"], accuracy["waypoint_mean_diff"],
                        speed["fp32_ms_p50"], speed["int8_ms_p50"]]).all()
    engine = GNMEngine(out, providers="cpu")  # the engine runs it like any model
    goals = np.zeros((3, *engine.goal_shape), np.float32)
    dist, action = engine.evaluate(np.zeros(engine.obs_shape, np.float32), goals)
    assert dist.shape == (3,) and np.isfinite(action).all()
    assert not list(tmp_path.glob(".*"))  # no scratch left behind


def test_int8_needs_frames_and_an_exported_model(tmp_path, gnm_model_path, capsys):
    assert _export(["--from", str(gnm_model_path), "--int8", "--out", str(tmp_path / "q.onnx")]) == 2
    assert "--int8 needs --calibration-data" in capsys.readouterr().out
    assert _export(["--from", str(gnm_model_path), "--out", str(tmp_path / "q.onnx")]) == 2
    assert "it goes with --int8" in capsys.readouterr().out
    (tmp_path / "empty").mkdir()
    assert _export(["--from", str(gnm_model_path), "--int8", "--calibration-data", str(tmp_path / "empty"),
                    "--out", str(tmp_path / "q.onnx")]) == 2
    assert "no GNM datasets" in capsys.readouterr().out
    assert not (tmp_path / "q.onnx").exists() and not (tmp_path / "q.json").exists()

