"""GNM in plain torch: the reference state_dict layout, configurable sizes, post-processing, split == whole."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from gnm_nav.gnm.modeling import GNM, parameter_count

# shared/ lies beside the checkout, for sessions and CI alike
_CANDIDATES = [root / "shared/reference/gnm_state_dict_keys.tsv" for root in (Path(__file__).resolve().parents[2],
                                                                              Path("/work"))]
REFERENCE_TSV = next((p for p in _CANDIDATES if p.is_file()), _CANDIDATES[0])


def _reference_rows() -> list[tuple[str, list[int], str]]:
    rows = []
    for line in REFERENCE_TSV.read_text().splitlines()[1:]:
        key, shape, dtype = line.split("\t")
        rows.append((key, [int(d) for d in shape.strip("[]").split(",") if d.strip()], dtype))
    return rows


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny batches run fastest on one thread, and far faster on a busy 2-core machine; restored after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def model() -> GNM:
    torch.manual_seed(0)
    return GNM().eval()


@pytest.mark.skipif(not REFERENCE_TSV.is_file(), reason="reference key table not present")
def test_state_dict_matches_reference_keys_shapes_and_dtypes(model):
    mine = [(k, list(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in model.state_dict().items()]
    assert mine == _reference_rows()


def test_default_size_has_reference_parameter_count(model):
    assert len(model.state_dict()) == 638
    assert parameter_count(model) == 8_663_797


def test_sizes_are_configurable():
    small = GNM(context_size=3, len_traj_pred=8, learn_angle=False, obs_encoding_size=64, goal_encoding_size=32)
    sd = small.state_dict()
    assert sd["obs_mobilenet.0.0.weight"].shape == (32, 12, 3, 3)
    assert sd["goal_mobilenet.0.0.weight"].shape == (32, 15, 3, 3)
    assert sd["linear_layers.0.weight"].shape == (256, 96)
    assert sd["action_predictor.0.weight"].shape == (16, 32)
    dist, action = small(torch.randn(2, 12, 64, 85), torch.randn(2, 3, 64, 85))
    assert dist.shape == (2, 1) and action.shape == (2, 8, 2)


def test_forward_matches_reference_computation(model):
    """The reference forward: goal branch on cat(obs, goal), cumsum of xy deltas, unit (cos, sin)."""
    obs, goal = torch.randn(3, 18, 64, 85), torch.randn(3, 3, 64, 85)
    with torch.no_grad():
        dist, action = model(obs, goal)
        obs_enc = model.compress_observation(model.obs_mobilenet(obs).mean(dim=(2, 3)))
        goal_enc = model.compress_goal(model.goal_mobilenet(torch.cat([obs, goal], dim=1)).mean(dim=(2, 3)))
        z = model.linear_layers(torch.cat([obs_enc, goal_enc], dim=1))
        raw = model.action_predictor(z).reshape(3, 5, 4)
        expected_dist = model.dist_predictor(z)
    assert dist.shape == (3, 1) and action.shape == (3, 5, 4)
    torch.testing.assert_close(dist, expected_dist, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(action[..., :2], torch.cumsum(raw[..., :2], dim=1), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(action[..., 2:], F.normalize(raw[..., 2:], dim=-1), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(action[..., 2:].norm(dim=-1), torch.ones(3, 5))


def test_split_halves_equal_whole_network_with_broadcast_observation(model):
    obs, goals = torch.randn(1, 18, 64, 85), torch.randn(4, 3, 64, 85)
    with torch.no_grad():
        encoding = model.encode_observation(obs)
        dist, action = model.predict_from_encoding(obs, goals, encoding)
        dist_whole, action_whole = model(obs.expand(4, -1, -1, -1), goals)
    assert encoding.shape == (1, 1024)
    torch.testing.assert_close(dist, dist_whole, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(action, action_whole, rtol=1e-4, atol=1e-5)
