"""Wheel odometry as a localisation prior: the odometry -> graph transform, dead reckoning through views the
model does not recognise, and look-alikes away from where the odometry puts the robot."""
from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest

from gnm_nav.graph.bank import NodeBank, normalise
from gnm_nav.graph.localization import Localizer, LocalizerConfig
from gnm_nav.graph.odometry import OdometryConfig, OdometryPrior, fit_rigid
from gnm_nav.graph.synthetic import route_views

N_NODES = 60
SPACING_M = 0.2
FRAME = (0.4, np.array([3.0, -1.0]))  # the navigating robot's odometry frame: rotated and shifted from the graph's


def to_odom(x: float, y: float, yaw: float) -> tuple[float, float, float]:
    """A pose of the graph's frame as the robot's odometry reports it."""
    angle, t = FRAME
    c, s = math.cos(-angle), math.sin(-angle)
    p = np.array([[c, -s], [s, c]]) @ (np.array([x, y]) - t)
    return float(p[0]), float(p[1]), yaw - angle


@pytest.fixture(scope="module")
def line():
    """A straight recorded route: node i at x = 0.2 i m, heading along x, with its image."""
    graph = nx.DiGraph()
    for i in range(N_NODES):
        graph.add_node(i, pose=[SPACING_M * i, 0.0, 0.0], session=0)
    nx.add_path(graph, range(N_NODES), weight=1.0, kind="temporal")
    return graph, NodeBank(range(N_NODES), route_views(N_NODES, 8, seed=2))


class Scripted:
    """A model stand-in whose distances to each node are set by the test (default: far)."""

    def __init__(self, bank: NodeBank) -> None:
        self.rows = normalise(bank.images)
        self.table: dict[int, float] = {}

    def __call__(self, obs, goals):
        ids = [int(np.argmin(np.abs(self.rows - g).reshape(len(self.rows), -1).sum(1))) for g in goals]
        return np.array([self.table.get(i, 15.0) for i in ids]), np.zeros((len(goals), 5, 4))


def test_fit_rigid_recovers_a_rotation_and_translation():
    rng = np.random.default_rng(0)
    src = rng.normal(size=(10, 2))
    c, s = math.cos(1.1), math.sin(1.1)
    dst = src @ np.array([[c, -s], [s, c]]).T + [2.0, -0.5] + rng.normal(scale=0.01, size=(10, 2))
    angle, t = fit_rigid(src, dst)
    assert angle == pytest.approx(1.1, abs=0.02) and t == pytest.approx([2.0, -0.5], abs=0.03)


def test_prediction_in_another_odometry_frame(line):
    graph, _ = line
    prior = OdometryPrior(graph, OdometryConfig(max_dead_reckoning_m=3.0))
    assert prior.predict() is None and prior.nearest() is None
    prior.observe(to_odom(1.0, 0.0, 0.0))
    prior.confirm(5, 1.0)
    # one anchor: the rotation from the headings, the place from the anchor
    prior.observe(to_odom(1.6, 0.0, 0.0))
    assert prior.nearest() == 8 and prior.travelled_m == pytest.approx(0.6)
    prior.observe(to_odom(2.0, 0.05, 0.0))
    prior.confirm(10, 1.0)
    prior.observe(to_odom(2.6, 0.0, 0.0))
    prior.confirm(13, 1.0)  # anchors 1.6 m apart: rotation fitted from positions
    prior.observe(to_odom(4.4, 0.0, 0.0))
    _, pose = prior.predict()
    assert pose == pytest.approx([4.4, 0.0, 0.0], abs=0.1)
    assert prior.nearest() == 22
    prior.confirm(40, 9.0)  # not sure enough to anchor
    assert prior.nearest() == 22
    prior.observe(to_odom(6.0, 0.0, 0.0))  # 3.4 m past the last anchor: too far to trust alone
    assert prior.nearest() is None and prior.offsets_m([30])[0] == pytest.approx(0.0, abs=0.15)


def test_a_start_hint_replaces_the_odometry_anchors_with_its_own(line):
    """A hint drops the anchors that placed the robot before and anchors the odometry at the hinted node (the
    robot's odometry there now), as weakly as a match can; the first confident match replaces that anchor."""
    graph, bank = line
    prior = OdometryPrior(graph)
    prior.observe(to_odom(1.0, 0.0, 0.0))
    prior.confirm(5, 1.0)
    assert prior.nearest() == 5
    Localizer(graph, bank, Scripted(bank), odometry=prior).hint(30)  # an operator: "it is at node 30 now"
    assert prior.nearest() == 30 and prior.predict()[1] == pytest.approx([6.0, 0.0, 0.0])
    prior.observe(to_odom(1.6, 0.0, 0.0))  # 0.6 m on, along the odometry's heading as the node's
    assert prior.nearest() == 33
    prior.confirm(8, 1.0)  # a match says the robot is at node 8 after all: the hint's anchor goes
    assert prior.nearest() == 8 and prior.predict()[1] == pytest.approx([1.6, 0.0, 0.0])
    prior.confirm(30, 4.0)  # and does not come back with a weaker match of its node
    prior.observe(to_odom(1.8, 0.0, 0.0))
    assert prior.nearest() in (9, 10, 28, 29, 30, 31)


def test_a_hint_before_any_odometry_anchors_at_the_first(line):
    graph, _ = line
    prior = OdometryPrior(graph)
    prior.assume(20)
    assert prior.predict() is None
    prior.observe(to_odom(0.0, 0.0, 0.0))
    assert prior.nearest() == 20
    prior.assume(999)  # not a node with a pose: nothing to anchor at
    assert prior.predict() is None


def test_from_a_start_hint_the_localiser_follows_the_odometry_until_a_view_matches(line):
    """A changed scene: no view matches at the start. With odometry the hint places the robot and the belief
    moves with the odometry (dead reckoning); without odometry the robot is lost until a view matches."""
    graph, bank = line
    model = Scripted(bank)
    obs = bank.images[0]
    prior = OdometryPrior(graph)
    localizer = Localizer(graph, bank, model, odometry=prior)
    prior.observe(to_odom(0.0, 0.0, 0.0))
    localizer.hint(0)
    first = localizer.step(obs, obs)
    assert (first.closest, first.dead_reckoning, first.lost) == (0, True, False)
    prior.observe(to_odom(1.0, 0.0, 0.0))
    followed = [localizer.step(obs, obs) for _ in range(4)][-1]
    assert followed.closest == 5 and followed.dead_reckoning
    model.table = {6: 1.0}  # a view matches again: the belief takes it and the odometry anchors there
    matched = [localizer.step(obs, obs) for _ in range(3)][-1]  # smoothed over ticks
    assert matched.closest == 6 and not matched.dead_reckoning and prior.travelled_m == 0.0
    blind = Localizer(graph, bank, Scripted(bank))
    blind.hint(0)
    assert blind.step(obs, obs).lost


def test_nodes_of_another_session_or_without_poses_are_not_judged(line):
    graph, _ = line
    g = graph.copy()
    g.add_node(100, pose=[1.0, 0.0, 0.0], session=1)
    g.add_node(101)
    prior = OdometryPrior(g)
    prior.observe((0.0, 0.0, 0.0))
    prior.confirm(5, 0.5)
    assert prior.penalty([100, 101]).tolist() == [0.0, 0.0]
    assert prior.penalty([50])[0] == pytest.approx(6.0 * (9.0 - 0.75))


def tracker(line, odometry: OdometryConfig | None) -> tuple[Localizer, Scripted]:
    """A localiser over the line with a scripted model, with odometry help (config) or without (None)."""
    graph, bank = line
    evaluator = Scripted(bank)
    prior = OdometryPrior(graph, odometry) if odometry is not None else None
    return Localizer(graph, bank, evaluator, LocalizerConfig(relocalize_top_k=N_NODES), odometry=prior), evaluator


def drive(localizer: Localizer, evaluator: Scripted, positions_m, blind=()) -> list:
    """Drive along the line; the model recognises the node under the robot, except on the blind stretch."""
    results = []
    for x in positions_m:
        node = int(round(x / SPACING_M))
        evaluator.table = {} if node in blind else {node: 1.0, node + 1: 2.5, node - 1: 2.5}
        if localizer.odometry is not None:
            localizer.odometry.observe(to_odom(x, 0.0, 0.0))
        results.append(localizer.step(None, np.zeros((64, 85, 3), np.uint8)))
    return results


@pytest.mark.parametrize("with_odometry", [True, False])
def test_odometry_carries_the_belief_through_a_view_the_model_does_not_know(line, with_odometry):
    localizer, evaluator = tracker(line, OdometryConfig() if with_odometry else None)
    positions = np.arange(1.0, 8.0, 0.05)  # 5 cm per tick; nodes 20-29 look like nothing the model knows
    results = drive(localizer, evaluator, positions, blind=range(20, 30))
    blind = [r for x, r in zip(positions, results) if 20 <= round(x / SPACING_M) < 30]
    if with_odometry:
        assert not any(r.lost for r in results)
        assert sum(r.dead_reckoning for r in blind) >= len(blind) - 3  # after lost_ticks far ticks
        truth = [round(x / SPACING_M) for x, r in zip(positions, results) if r.dead_reckoning]
        assert max(abs(r.closest - t) for r, t in zip([r for r in results if r.dead_reckoning], truth)) <= 1
        assert results[-1].closest == 39 and localizer.relocalizations == 1  # only the start
    else:
        assert any(r.lost for r in blind) and not any(r.dead_reckoning for r in results)


def test_dead_reckoning_ends_after_max_distance(line):
    localizer, evaluator = tracker(line, OdometryConfig(max_dead_reckoning_m=1.0))
    odometry = localizer.odometry
    results = drive(localizer, evaluator, np.arange(1.0, 5.0, 0.05), blind=range(20, N_NODES))
    reckoned = [r for r in results if r.dead_reckoning]
    assert reckoned and results[-1].lost and results[-1].closest is None
    assert odometry.travelled_m > 1.0


@pytest.mark.parametrize("with_odometry", [True, False])
def test_a_look_alike_away_from_the_odometry_does_not_take_the_belief(line, with_odometry):
    localizer, evaluator = tracker(line, OdometryConfig() if with_odometry else None)
    odometry = localizer.odometry
    drive(localizer, evaluator, np.arange(2.0, 4.0, 0.05))
    assert localizer.belief in (19, 20)  # hysteresis lags a node behind
    if odometry is not None:
        odometry.observe(to_odom(4.0, 0.0, 0.0))
    evaluator.table = {20: 2.5, 27: 0.5}  # 1.4 m ahead, inside the window, the model sees a better match
    beliefs = [localizer.step(None, np.zeros((64, 85, 3), np.uint8)).closest for _ in range(5)]
    assert beliefs[-1] == (20 if with_odometry else 27)


def line_navigator(odometry: OdometryConfig | None, **kwargs):
    """A Navigator on a straight 40-node route (node i at x = 0.2 i m) with a pixel-distance model stand-in."""
    from gnm_nav.graph.navigator import Navigator
    from gnm_nav.graph.store import TopoGraph
    from gnm_nav.graph.synthetic import PixelDistanceEngine, route_texture, view

    spacing_px, n = 8, 40
    texture = route_texture(n * spacing_px, seed=3)
    graph = TopoGraph()
    for i in range(n):
        graph.add_node(view(texture, i * spacing_px), stamp=float(i), pose=[SPACING_M * i, 0.0, 0.0], session=0)
        if i:
            graph.add_edge(i - 1, i, 1.0, "temporal")
    nav = Navigator(graph, PixelDistanceEngine(), odometry=odometry, **kwargs)
    nav.set_goal(n - 1)
    return nav, lambda node: view(texture, node * spacing_px), n


def run_script(nav, script) -> list:
    """(odometry x on the line, camera frame) per model step -> the navigator's steps."""
    steps = []
    for k, (x, rgb) in enumerate(script):
        nav.on_odom(to_odom(x, 0.0, 0.0))
        nav.on_frame(rgb, 0.25 * k)
        steps.append(nav.tick())
    return steps


@pytest.mark.parametrize("lookahead_m", [0.0, 0.6])
def test_steering_target_is_the_first_path_node_far_enough_ahead(lookahead_m):
    nav, view_of, _ = line_navigator(OdometryConfig(), steer_lookahead_m=lookahead_m, lookahead=1)
    steps = run_script(nav, [(SPACING_M * 10, view_of(10))] * 10)
    step = steps[-1]
    assert step.closest == 10 and step.plan.subgoal == 11
    x = step.subgoal_offset_m[0]
    assert x == pytest.approx(SPACING_M if lookahead_m == 0 else 0.6, abs=0.06)  # node 11, or node 13 (0.6 m)


@pytest.mark.parametrize("with_odometry", [True, False])
def test_a_goal_the_odometry_rules_out_is_not_declared(with_odometry):
    """Off the route (views the model does not know) until the robot is lost, then a view like the goal's
    while the odometry puts the robot 3 m short of it: with odometry the navigator drives on to the goal
    instead of ending the mission there."""
    nav, view_of, n = line_navigator(OdometryConfig(max_dead_reckoning_m=3.0) if with_odometry else None)
    unknown = np.full_like(view_of(0), 255)
    # (odometry x, what the camera shows): at node 5; 3.5 m of views the model does not know (lost after 3 m of
    # dead reckoning); the goal's view
    script = [(1.0, view_of(5))] * 8 + [(1.0 + 0.1 * k, unknown) for k in range(1, 36)] + [(4.5, view_of(n - 1))] * 12
    steps = run_script(nav, script)
    assert steps[-1].closest == n - 1
    if with_odometry:
        assert not any(s.plan.goal_reached for s in steps if s is not None)
        assert steps[-1].plan.subgoal == n - 1 and nav.goal_checker.vetoes >= 1
        # the confident match at the goal anchors the odometry too, so the fit splits the difference: still out
        assert all(s.goal_veto_m > 0.5 for s in steps[-10:])
    else:
        assert steps[-1].plan.goal_reached and steps[-1].goal_veto_m == 0.0


def test_arrival_needs_fresh_odometry_on_the_goal_and_the_belief_near_it(line):
    graph, _ = line
    odometry = OdometryPrior(graph, OdometryConfig(arrive_radius_m=0.3, max_dead_reckoning_m=3.0))
    for i in range(25, 31):  # confident matches along nodes 25..30 (5.0..6.0 m)
        odometry.observe(to_odom(SPACING_M * i, 0.0, 0.0))
        odometry.confirm(i, 0.5)
    odometry.observe(to_odom(7.7, 0.0, 0.0))  # 0.1 m short of node 39 (7.8 m), 1.7 m since the last anchor
    assert odometry.arrived(39, believed=37) == pytest.approx(0.1, abs=0.01)
    assert odometry.arrived(39, believed=30) is None  # the model puts the robot 1.8 m back: not near the goal
    assert odometry.arrived(39, believed=None) is None
    assert odometry.arrived(45, believed=44) is None  # 0.7 m short of node 45: beyond the radius
    odometry.observe(to_odom(10.5, 0.0, 0.0))
    odometry.observe(to_odom(7.7, 0.0, 0.0))  # back on the goal, but 7.3 m of dead reckoning since the anchor
    assert odometry.arrived(39, believed=37) is None
    off = OdometryPrior(graph, OdometryConfig(arrive_radius_m=0.0))
    off.observe(to_odom(7.8, 0.0, 0.0))
    off.confirm(39, 0.5)
    assert off.arrived(39, believed=39) is None  # 0 switches it off


@pytest.mark.parametrize("arrive_radius_m", [0.3, 0.0])
def test_the_odometry_declares_a_goal_the_model_does_not_see(arrive_radius_m):
    """Along the route with views the model knows, then the view stops changing (the robot arrives turned, the
    model keeps its belief a few nodes short) while the odometry reaches the goal node: reached by odometry,
    or (switched off) not at all."""
    nav, view_of, n = line_navigator(OdometryConfig(arrive_radius_m=arrive_radius_m))
    last_seen = n - 4
    script = [(SPACING_M * (k / 4), view_of(k // 4)) for k in range(4 * last_seen)]
    script += [(SPACING_M * last_seen + 0.05 * k, view_of(last_seen)) for k in range(1, 13)]  # to 7.8 m and on
    steps = [s for s in run_script(nav, script) if s is not None]
    reached = [s for s in steps if s.plan.goal_reached]
    if arrive_radius_m > 0:
        first = reached[0]
        assert first.goal_by_odometry_m is not None and first.goal_by_odometry_m <= 0.3
        assert first.plan.subgoal == n - 1 and nav.goal_checker.odometry_arrivals >= 1
        assert not any(s.plan.goal_reached for s in steps[:len(steps) - 12])  # not before the last stretch
    else:
        assert not reached and nav.goal_checker.odometry_arrivals == 0
