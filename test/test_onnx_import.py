"""A GNM rebuilt from our ONNX export computes what the export computes, and trains from there."""
from __future__ import annotations

import json

import pytest
import torch

from gnm_nav.common.errors import ModelFileError
from gnm_nav.gnm.export import export_gnm, random_init_gnm
from gnm_nav.gnm.onnx_import import gnm_from_onnx, recentre_batchnorm


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A random GNM whose BatchNorms are far from identity (so folding them changes the weights), exported."""
    model = random_init_gnm(seed=3)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for bn in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):
            bn.running_mean.normal_(0, 0.5, generator=g)
            bn.running_var.uniform_(0.5, 2.0, generator=g)
            bn.weight.uniform_(0.5, 1.5, generator=g)
            bn.bias.normal_(0, 0.2, generator=g)
    path = tmp_path_factory.mktemp("onnx_import") / "gnm.onnx"
    export_gnm(model, path)
    return model, path


def _inputs(seed: int, n: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 18, 64, 85, generator=g), torch.randn(n, 3, 64, 85, generator=g)


def _max_diff(a, b) -> float:
    return max(float((x - y).abs().max()) for x, y in zip(a, b))


@torch.no_grad()
def test_unfolded_model_matches_the_original_and_recentring_keeps_it(exported):
    original, path = exported
    rebuilt = gnm_from_onnx(path)
    obs, goal = _inputs(1)
    expected = original(obs, goal)
    assert float(expected[1].abs().max()) > 0.1  # a real signal to compare
    assert _max_diff(rebuilt(obs, goal), expected) < 1e-5
    assert rebuilt.obs_mobilenet[0][0].weight.abs().sum() != original.obs_mobilenet[0][0].weight.abs().sum()

    recentre_batchnorm(rebuilt, obs, goal)
    assert _max_diff(rebuilt(obs, goal), expected) < 1e-5  # eval mode: the same function
    rebuilt.train()
    assert _max_diff(rebuilt(obs, goal), expected) < 1e-4  # train mode on that batch: the same too
    other = _inputs(2, n=8)
    unrecentred = gnm_from_onnx(path).train()
    # train mode without recentring normalises every layer to unit scale: far from the exported network
    assert _max_diff(unrecentred(*other), original(*other)) > 10 * _max_diff(rebuilt(*other), original(*other))


def test_refuses_what_is_not_a_gnm_export(exported, tmp_path):
    _, path = exported
    for f in path.parent.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    card = tmp_path / path.with_suffix(".json").name
    card.write_text(json.dumps({**json.loads(card.read_text()), "architecture": "ldm"}))
    with pytest.raises(ModelFileError, match="not a GNM"):
        gnm_from_onnx(tmp_path / path.name)
    with pytest.raises(ModelFileError, match="not found"):
        gnm_from_onnx(tmp_path / "missing.onnx")


@torch.no_grad()
def test_unfolds_an_export_whose_equal_tensors_the_exporter_merged(tmp_path):
    """Untrained BatchNorms fold to equal (zero) biases, which the exporter stores once behind Identity nodes."""
    original = random_init_gnm(seed=1)
    export_gnm(original, tmp_path / "fresh.onnx")
    obs, goal = _inputs(3)
    assert _max_diff(gnm_from_onnx(tmp_path / "fresh.onnx")(obs, goal), original(obs, goal)) < 1e-5
