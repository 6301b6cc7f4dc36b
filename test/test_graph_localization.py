"""Localisation on routes with known truth (a model stand-in with known behaviour), and the real-engine wiring."""
from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from gnm_nav.gnm.preprocessing import preprocess_frame, to_model_input
from gnm_nav.graph.bank import NodeBank, descriptors, normalise, to_model_resolution
from gnm_nav.graph.localization import Localizer, LocalizerConfig
from gnm_nav.graph.synthetic import pixel_distance_evaluator, route_texture, view

SPACING_PX = 8
N_NODES = 60


@pytest.fixture(scope="module")
def route():
    texture = route_texture(N_NODES * SPACING_PX, seed=1)
    graph = nx.DiGraph()
    nx.add_path(graph, range(N_NODES), weight=1.0, kind="temporal")
    bank = NodeBank(range(N_NODES), np.stack([view(texture, i * SPACING_PX) for i in range(N_NODES)]))
    return texture, graph, bank


class CountingEvaluator:
    def __init__(self) -> None:
        self.inner = pixel_distance_evaluator()
        self.batches: list[int] = []

    def __call__(self, obs, goals):
        self.batches.append(len(goals))
        return self.inner(obs, goals)


def noisy(texture, position_px: float, rng) -> np.ndarray:
    frame = view(texture, position_px).astype(np.int16) + rng.integers(-6, 7, size=(64, 85, 3))
    return np.clip(frame, 0, 255).astype(np.uint8)


def step(localizer: Localizer, rgb: np.ndarray):
    return localizer.step(to_model_input([rgb] * 6), rgb)


def test_bank_matches_preprocessing_and_descriptors_rank_the_place(route):
    texture, _, bank = route
    frame = np.asarray(np.random.default_rng(0).integers(0, 256, (120, 160, 3)), dtype=np.uint8)
    np.testing.assert_allclose(normalise(to_model_resolution(frame)[None])[0], preprocess_frame(frame), atol=1e-6)
    assert bank.images.dtype == np.uint8 and bank.images.shape == (N_NODES, 64, 85, 3)
    d = descriptors(bank.images[:3])
    np.testing.assert_allclose(np.linalg.norm(d, axis=1), 1.0, atol=1e-4)
    assert 23 in bank.nearest_by_descriptor(view(texture, 23 * SPACING_PX + 2), 3)


def test_tracks_a_traversal_with_one_batched_call_per_tick(route):
    texture, graph, bank = route
    evaluator = CountingEvaluator()
    localizer = Localizer(graph, bank, evaluator, LocalizerConfig(relocalize_top_k=12))
    rng = np.random.default_rng(0)
    first = step(localizer, noisy(texture, 5 * SPACING_PX, rng))
    assert first.relocalized and first.closest == 5 and evaluator.batches == [12]  # global start: top-K in one call
    errors = []
    for k in range(1, 100):
        position = 5 * SPACING_PX + 3.0 * k
        result = step(localizer, noisy(texture, position, rng))
        errors.append(result.closest - position / SPACING_PX)
        assert not result.relocalized and not result.lost
    assert max(abs(e) for e in errors) <= 1.0  # within one node of the truth, every tick
    assert len(evaluator.batches) == 100 and max(evaluator.batches[1:]) <= 16  # window: closest +-8 hops, capped


def equidistant_position(texture, bank: NodeBank, a: int, b: int) -> float:
    """Where (by bisection) the evaluator finds nodes a and b equally far: only noise can tell them apart."""
    evaluate = pixel_distance_evaluator()
    lo, hi = a * SPACING_PX, b * SPACING_PX
    for _ in range(20):
        mid = 0.5 * (lo + hi)
        d, _ = evaluate(to_model_input([view(texture, mid)] * 6), bank.goal_tensor([a, b]))
        lo, hi = (mid, hi) if d[0] < d[1] else (lo, mid)
    return 0.5 * (lo + hi)


def count_switches(config: LocalizerConfig, route, ticks: int = 40) -> int:
    texture, graph, bank = route
    localizer = Localizer(graph, bank, pixel_distance_evaluator(), config)
    rng = np.random.default_rng(3)
    midway = equidistant_position(texture, bank, 20, 21)
    track = [step(localizer, noisy(texture, midway, rng)).closest for _ in range(ticks)]
    assert set(track) <= {20, 21}
    return sum(a != b for a, b in zip(track, track[1:]))


def test_no_flicker_while_standing_still(route):
    assert count_switches(LocalizerConfig(), route) == 0
    assert count_switches(LocalizerConfig(switch_margin=0.0, smoothing=1.0), route) > 3  # what hysteresis prevents


def test_kidnapped_robot_is_lost_then_relocalised(route):
    texture, graph, bank = route
    config = LocalizerConfig()
    localizer = Localizer(graph, bank, pixel_distance_evaluator(), config)
    rng = np.random.default_rng(5)
    for k in range(5):
        assert step(localizer, noisy(texture, 10 * SPACING_PX + k, rng)).closest == 10
    track = [step(localizer, noisy(texture, 45 * SPACING_PX + 1, rng)) for _ in range(config.lost_ticks)]
    assert [r.closest for r in track[:-1]] == [10] * (config.lost_ticks - 1)  # not fooled by a single far tick
    assert track[-1].relocalized and track[-1].closest == 45
    # A view from nowhere on the route: lost, no node claimed.
    nowhere = np.full((64, 85, 3), 255, dtype=np.uint8)
    results = [step(localizer, nowhere) for _ in range(config.lost_ticks)]
    assert results[-1].lost and results[-1].closest is None and localizer.belief is None


def test_start_hint_beats_a_far_look_alike_but_not_a_clear_match(route):
    """A robot put back at the start of its recording, where a far node looks like the start (the first match of
    two fresh evaluation routes went there): the hint scores the start's window and prefers it."""
    from gnm_nav.common.errors import GraphError

    texture, graph, bank = route
    images = bank.images.copy()
    images[40] = view(texture, 2 * SPACING_PX + 3)  # node 40 shows the very view of the start
    look_alike = NodeBank(range(N_NODES), images)
    frame = view(texture, 2 * SPACING_PX + 3)
    config = LocalizerConfig(relocalize_top_k=1)  # the descriptors rank the look-alike first (and only)
    blind = Localizer(graph, look_alike, pixel_distance_evaluator(), config)
    assert step(blind, frame).closest == 40
    hinted = Localizer(graph, look_alike, pixel_distance_evaluator(), config)
    hinted.hint(0)
    first = step(hinted, frame)
    assert first.relocalized and first.closest == 2 and 40 in first.distances
    wrong = Localizer(graph, bank, pixel_distance_evaluator(), config)
    wrong.hint(0)  # a wrong estimate: the robot is at node 45, which matches clearly, so it is found there
    assert step(wrong, view(texture, 45 * SPACING_PX)).closest == 45
    with pytest.raises(GraphError, match="start node 99"):
        hinted.hint(99)


def test_window_is_bounded_on_branchy_graphs(route):
    _, _, bank = route
    star = nx.DiGraph()
    nx.add_star(star, range(N_NODES))
    localizer = Localizer(star, bank, pixel_distance_evaluator(), LocalizerConfig(max_window=10))
    assert len(localizer.window(0)) == 10 and localizer.window(0)[0] == 0


def test_real_engine_window_and_relocalisation(route, gnm_model_path):
    """Wiring with the real (random-init) ONNX model: shapes, one evaluate per tick, finite outputs."""
    from gnm_nav.gnm.engine import GNMEngine

    texture, graph, bank = route
    engine = GNMEngine(gnm_model_path, providers="cpu")
    calls: list[int] = []

    def evaluate(obs, goals):
        calls.append(len(goals))
        return engine.evaluate(obs, goals)

    localizer = Localizer(graph, bank, evaluate, LocalizerConfig(relocalize_top_k=6, accept_distance=1e9))
    frame = view(texture, 30 * SPACING_PX)
    first = step(localizer, frame)
    assert first.relocalized and first.closest in bank and calls == [6]
    second = step(localizer, frame)
    assert calls[1] == len(localizer.window(first.closest)) or second.relocalized
    assert all(np.isfinite(v) for v in second.distances.values())
    assert all(a.shape == (5, 4) for a in second.actions.values())


def test_bank_cache_and_goal_images(tmp_path, route):
    from gnm_nav.common.errors import GraphError
    from gnm_nav.graph.localization import bank_for_graph
    from gnm_nav.graph.navigator import Navigator
    from gnm_nav.graph.planning import SUBGOAL_HORIZON_S
    from gnm_nav.graph.store import TopoGraph
    from gnm_nav.graph.synthetic import PixelDistanceEngine

    texture, _, bank = route
    graph = TopoGraph()
    for i in range(12):
        graph.add_node(bank.images[i], stamp=float(i))
        if i:
            graph.add_edge(i - 1, i, 1.0, "temporal")
    graph.save(tmp_path)
    first = bank_for_graph(graph, (85, 64))
    cached = list((tmp_path / ".cache").glob("bank-*.npz"))
    assert len(cached) == 1
    again = bank_for_graph(TopoGraph.load(tmp_path), (85, 64))
    np.testing.assert_array_equal(again.images, first.images)
    np.testing.assert_array_equal(again.descs, first.descs)
    graph.add_node(bank.images[12], stamp=12.0)
    graph.save(tmp_path)
    assert len(bank_for_graph(graph, (85, 64))) == 13
    assert len(list((tmp_path / ".cache").glob("bank-*.npz"))) == 1  # the stale bank was replaced

    nav = Navigator(graph, PixelDistanceEngine())
    assert nav.planner.horizon_s == SUBGOAL_HORIZON_S
    assert Navigator(graph, PixelDistanceEngine(), lookahead=2).planner.horizon_s == 2.0  # 0.1's count of nodes
    assert nav.goal_from_image(view(texture, 7 * SPACING_PX + 1))[0] == 7 and nav.planner.goal == 7
    with pytest.raises(GraphError, match="matches no graph node"):
        nav.goal_from_image(np.full((64, 85, 3), 255, dtype=np.uint8))


def test_after_losing_track_a_far_look_alike_needs_a_closer_match(route):
    """Lost near node 10: an equally good match 30 hops away is refused, one nearby accepted, and a far
    one that is clearly better still wins (a kidnapped robot is found); goal images match without the prior."""
    _, graph, bank = route
    rows = normalise(bank.images)
    table = {}

    def scripted(obs, goals):
        ids = [int(np.argmin(np.abs(rows - g).reshape(len(rows), -1).sum(1))) for g in goals]
        return np.array([table.get(i, 15.0) for i in ids]), np.zeros((len(goals), 5, 4))

    localizer = Localizer(graph, bank, scripted, LocalizerConfig(relocalize_top_k=N_NODES))
    localizer.belief = 10
    localizer.reset()  # lost at node 10
    frame = bank.images[0]
    table.update({45: 6.0})
    assert localizer.relocalize(None, frame)[0] is None  # 6 + min(0.25 * 27, 4) > 8
    assert localizer.relocalize(None, frame, prior=False)[0] == 45
    table.update({16: 6.5})
    assert localizer.relocalize(None, frame)[0] == 16  # within the window: no penalty
    table.update({45: 2.0})
    assert localizer.relocalize(None, frame)[0] == 45  # 2 + 4 beats 6.5
