"""The Bayes belief over graph nodes: a fitted distance likelihood, tracking, losing and finding the robot again,
following the odometry where the images say nothing, and the fitting command on a real dataset on disk."""
from __future__ import annotations

import json

import networkx as nx
import numpy as np
import pytest

from gnm_nav.common.errors import GraphError, ModelFileError
from gnm_nav.gnm.preprocessing import to_model_input
from gnm_nav.graph.bank import NodeBank
from gnm_nav.graph.belief import BeliefConfig, BeliefLocalizer, LocalizationState, recorded_speed
from gnm_nav.graph.likelihood import (
    DistanceLikelihood,
    collect_readings,
    fit_likelihood,
    load_likelihood,
    model_likelihood,
    save_likelihood,
)
from gnm_nav.graph.odometry import OdometryConfig, OdometryPrior
from gnm_nav.graph.synthetic import PixelDistanceEngine, route_texture, view

SPACING_PX = 8
N_NODES = 60
STEP_S = 0.25
NODE_S = 1.0  # recorded seconds between nodes: 4 model steps


@pytest.fixture(scope="module")
def route():
    texture = route_texture(N_NODES * SPACING_PX, seed=1)
    graph = nx.DiGraph()
    nx.add_path(graph, range(N_NODES), weight=NODE_S, kind="temporal")
    for i in range(N_NODES):
        graph.nodes[i]["pose"] = [0.2 * i, 0.0, 0.0]
        graph.nodes[i]["session"] = 0
    bank = NodeBank(range(N_NODES), np.stack([view(texture, i * SPACING_PX) for i in range(N_NODES)]))
    return texture, graph, bank


@pytest.fixture(scope="module")
def likelihood(route):
    """Fitted on the route itself: the stand-in model's readings at known offsets (one node = 4 model steps)."""
    texture, graph, bank = route
    evaluate = PixelDistanceEngine().evaluate
    readings: dict[int, list[float]] = {}
    far: list[float] = []
    other = route_texture(N_NODES * SPACING_PX, seed=7)
    for px in range(3 * SPACING_PX, (N_NODES - 3) * SPACING_PX, 3):
        obs = to_model_input([view(texture, px)] * 6)
        nodes = list(range(N_NODES))
        dist, _ = evaluate(obs, bank.goal_tensor(nodes))
        for n, d in zip(nodes, dist):
            offset_steps = round((n - px / SPACING_PX) * NODE_S / STEP_S)
            if abs(offset_steps) <= 20:
                readings.setdefault(offset_steps, []).append(float(d))
        far_dist, _ = evaluate(obs, NodeBank([0], view(other, px)[None]).goal_tensor([0]))
        far.append(float(far_dist[0]))
    return fit_likelihood(readings, far)


def noisy(texture, position_px: float, rng) -> np.ndarray:
    frame = view(texture, position_px).astype(np.int16) + rng.integers(-6, 7, size=(64, 85, 3))
    return np.clip(frame, 0, 255).astype(np.uint8)


def make(route, likelihood, odometry=None, raise_by: float = 0.0, **config) -> BeliefLocalizer:
    """raise_by: every reading of the stand-in model this much higher (a changed scene, an unfamiliar viewpoint)."""
    _, graph, bank = route
    inner = PixelDistanceEngine().evaluate

    def evaluate(obs, goals):
        dist, actions = inner(obs, goals)
        return dist + raise_by, actions

    return BeliefLocalizer(graph, bank, evaluate, likelihood, STEP_S, BeliefConfig(relocalize_top_k=12, **config),
                           odometry=odometry)


def tick(localizer: BeliefLocalizer, rgb: np.ndarray, stamp: float):
    return localizer.step(to_model_input([rgb] * 6), rgb, stamp)


def test_likelihood_fitted_on_known_readings_peaks_at_the_true_offset_and_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    readings = {k: list(2.0 + 1.2 * max(k, 0) + (8 if k < 0 else 0) + rng.normal(0, 1.0, 60)) for k in range(-20, 21)}
    far = list(rng.normal(18.0, 2.0, 200))
    lik = fit_likelihood(readings, far, fitted_on={"data": "synthetic"})
    assert abs(lik.mean[lik.offsets.index(10)] - 14.0) < 0.5 and 0.75 <= lik.sd[lik.offsets.index(10)] < 1.5
    assert abs(lik.far_mean - 18.0) < 0.6
    offsets = np.arange(-20, 21)
    assert offsets[np.argmax(lik.log_pdf(np.full(41, 8.0), offsets))] == 5  # 2 + 1.2 * 5
    assert lik.log_pdf(np.array([18.0]), np.array([np.nan]))[0] == lik.log_pdf_far(np.array([18.0]))[0]
    assert np.isfinite(lik.log_pdf(np.array([1e6]), np.array([0.0]))).all()  # an outlier costs, finitely
    assert model_likelihood(tmp_path / "m.onnx") is None  # a model without one
    path = save_likelihood(lik, tmp_path / "m.likelihood.json")
    assert load_likelihood(path) == lik and model_likelihood(tmp_path / "m.onnx") == lik  # found beside its model
    with pytest.raises(ValueError, match="too few readings"):
        fit_likelihood({0: [1.0] * 3}, far)
    for text, why in (("[1]", "JSON object"), ('{"format_version": 1, "offsets": [0, 1]}', "not a distance"),
                      ("{nope", "unreadable"), ('{"format_version": 9}', "format_version")):
        (tmp_path / "bad.json").write_text(text)
        with pytest.raises(ModelFileError, match=why):
            load_likelihood(tmp_path / "bad.json")
    with pytest.raises(ModelFileError, match="fit-likelihood"):
        load_likelihood(tmp_path / "missing.json")


@pytest.mark.parametrize("raise_by", [0.0, 8.0])
def test_tracks_a_traversal_within_a_node_with_one_batched_call_per_tick(route, likelihood, raise_by):
    """Also when every reading runs 8 steps high: the shape of the readings over the nodes still places the robot."""
    texture, _, _ = route
    localizer = make(route, likelihood, raise_by=raise_by)
    rng = np.random.default_rng(0)
    assert localizer.state is LocalizationState.INITIALISING
    for k in range(4):  # standing at node 5: found within a second
        first = tick(localizer, noisy(texture, 5 * SPACING_PX, rng), k * STEP_S - 1.0)
        if first.state == "tracking":
            break
    assert first.state == "tracking" and abs(first.closest - 5) <= 1 and first.confidence >= 0.5
    assert raise_by > 0 or k == 0  # readings at their fitted level: at the first tick
    errors = []
    for k in range(1, 120):  # 1.5 nodes per second at 4 Hz, the recording's pace was 1 node per second
        position = 5 * SPACING_PX + 3.0 * k
        result = tick(localizer, noisy(texture, position, rng), k * STEP_S)
        errors.append(result.closest - position / SPACING_PX)
        assert result.state == "tracking" and not result.lost and len(result.distances) <= 16
    assert max(abs(e) for e in errors) <= 1.0


def test_a_kidnapped_robot_is_lost_then_found_where_it_is(route, likelihood):
    texture, _, _ = route
    localizer = make(route, likelihood)
    rng = np.random.default_rng(1)
    for k in range(8):
        tick(localizer, noisy(texture, 10 * SPACING_PX + k, rng), k * STEP_S)
    assert localizer.most_likely in (10, 11) and localizer.relocalizations == 1  # the start was a global search
    states, closest = [], []
    for k in range(8, 40):  # carried to node 45: the views around the old place stop matching
        result = tick(localizer, noisy(texture, 45 * SPACING_PX, rng), k * STEP_S)
        states.append(result.state)
        closest.append(result.closest)
    lost = states.index("lost")
    assert 3 <= lost <= 24 and closest[lost] is None  # not at once (an occlusion looks the same at first)
    assert all(c is not None and c <= 13 for c in closest[:lost])  # never a guess at another place meanwhile
    assert set(states[lost + 3:]) == {"tracking"} and all(abs(c - 45) <= 1 for c in closest[lost + 3:])
    assert localizer.relocalizations == 2


def test_a_start_hint_is_a_prior_and_an_unknown_node_is_refused(route, likelihood):
    texture, _, _ = route
    localizer = make(route, likelihood)
    localizer.hint(30)
    assert localizer.most_likely == 30 and localizer.state is LocalizationState.INITIALISING
    result = tick(localizer, noisy(texture, 31 * SPACING_PX, np.random.default_rng(2)), 0.0)
    assert abs(result.closest - 31) <= 1
    with pytest.raises(GraphError, match="not in the graph"):
        localizer.hint(999)


def test_where_the_images_say_nothing_the_belief_follows_the_odometry(route, likelihood):
    texture, graph, _ = route
    assert recorded_speed(graph) == pytest.approx(0.2)  # 0.2 m per recorded second
    odometry = OdometryPrior(graph, OdometryConfig())
    localizer = make(route, likelihood, odometry=odometry)
    rng = np.random.default_rng(3)
    x = 0.2 * 10
    odometry.observe((x, 0.0, 0.0))
    for k in range(6):
        tick(localizer, noisy(texture, 10 * SPACING_PX, rng), k * STEP_S)
    assert localizer.most_likely == 10
    elsewhere = route_texture(N_NODES * SPACING_PX, seed=9)  # a view the model matches to nothing (occluded)
    for k in range(6, 16):  # 10 ticks of 0.1 m: 1 m = 5 nodes
        x += 0.1
        odometry.observe((x, 0.0, 0.0))
        result = tick(localizer, view(elsewhere, k * SPACING_PX), k * STEP_S)
        assert result.state == "tracking"
    assert abs(localizer.most_likely - 15) <= 1


def test_arrival_is_a_state_cleared_by_the_next_goal(route, likelihood):
    texture, _, _ = route
    localizer = make(route, likelihood)
    tick(localizer, noisy(texture, 20 * SPACING_PX, np.random.default_rng(4)), 0.0)
    localizer.mark_arrived()
    assert tick(localizer, noisy(texture, 20 * SPACING_PX, np.random.default_rng(5)), 0.25).state == "arrived"
    localizer.mark_arrived(False)
    assert localizer.state is LocalizationState.TRACKING
    before = localizer.belief.copy()
    localizer._update([20, 21], np.array([np.nan, np.inf]))  # readings the model could not give change nothing
    np.testing.assert_array_equal(localizer.belief, before)


def test_readings_are_collected_from_a_dataset_on_disk(tmp_path):
    from gnm_nav.data.gnm_format import read_dataset, write_data_config, write_trajectory

    texture = route_texture(40 * SPACING_PX, seed=3)
    root = tmp_path / "data"
    for t in range(2):
        frames = [view(texture, (t * 15 + i) * 2) for i in range(30)]
        write_trajectory(root / "sim_bot", f"traj_{t}", frames, np.c_[np.arange(30) * 0.05, np.zeros(30)],
                         np.zeros(30))
    write_data_config(root, {"sim_bot": {"metric_waypoint_spacing": 0.05, "frame_rate_hz": 4.0}})
    readings, far = collect_readings(PixelDistanceEngine(), read_dataset(root), 12, np.random.default_rng(0))
    assert set(readings) <= set(range(-20, 21)) and 0 in readings and len(far) == 12 * 4
    assert np.median(readings[0]) < np.median(far)
    write_data_config(root, {"sim_bot": {"metric_waypoint_spacing": 0.05, "frame_rate_hz": 10.0}})
    with pytest.raises(Exception, match="frames/s"):
        collect_readings(PixelDistanceEngine(), read_dataset(root), 2, np.random.default_rng(0))


def test_uncalibrated_likelihood_is_valid_json(tmp_path):
    lik = DistanceLikelihood.uncalibrated()
    assert json.loads(json.dumps(lik.to_dict()))["fitted_on"]["data"].startswith("none")
