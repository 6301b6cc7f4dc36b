"""Bag replay: a generated traversal of a recorded route is tracked to the goal; the CLI writes report + PNG."""
from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from gnm_nav.bag_io import BagWriter, iter_images
from gnm_nav.commands import replay as replay_command
from gnm_nav.common.errors import DatasetError
from gnm_nav.control.controller import Limits, make_controller
from gnm_nav.control.policy import GNMPolicy
from gnm_nav.graph.builder import GraphBuilder
from gnm_nav.graph.navigator import Navigator
from gnm_nav.graph.replay import replay_bag
from gnm_nav.graph.store import TopoGraph
from gnm_nav.graph.synthetic import PixelDistanceEngine, route_texture, view

SPEED_PX_S = 8.0  # one node per second of driving, as recorded every 1 s
ROUTE_S = 20


@pytest.fixture(scope="module")
def route(tmp_path_factory):
    """A graph recorded along a route, and a bag of a second, noisy traversal of it with a kidnapping."""
    root = tmp_path_factory.mktemp("replay")
    texture = route_texture(int(ROUTE_S * SPEED_PX_S) + 8, seed=12)
    graph = TopoGraph()
    builder = GraphBuilder(graph, record_interval_s=1.0)
    for k in range(ROUTE_S * 10 + 1):
        builder.offer(view(texture, k / 10 * SPEED_PX_S), stamp=k / 10)
    builder.end_session()
    graph.save(root / "graph")
    rng = np.random.default_rng(0)
    bag = root / "traversal"
    with BagWriter(bag, storage="sqlite3") as writer:
        for k in range(ROUTE_S * 10 + 1):
            t = k / 10
            position = (t if t < 6 else t + 11) * SPEED_PX_S  # at 6 s carried 11 nodes ahead (past the window)
            frame = view(texture, min(position, ROUTE_S * SPEED_PX_S)).astype(np.int16)
            frame += rng.integers(-5, 6, size=frame.shape)
            writer.write_image("camera/image_raw", 1000.0 + t, np.clip(frame, 0, 255).astype(np.uint8))
    return root / "graph", bag


def test_replay_tracks_the_route_to_the_goal(route, tmp_path):
    graph_dir, bag = route
    engine = PixelDistanceEngine()
    nav = Navigator(TopoGraph.load(graph_dir), engine, goal_threshold=3.0)  # the stand-in's steps are sharper
    nav.set_goal(ROUTE_S)
    controller = make_controller("smooth", Limits(0.3, 1.0, 0.5, 2.0), 1.0 / engine.card.context_spacing_s)
    report = replay_bag(iter_images(bag, "camera/image_raw"), nav, GNMPolicy(engine, controller, 0.3), tmp_path)
    assert report["goal_reached"] and report["localized_fraction"] == 1.0
    assert report["start_remaining_s"] >= ROUTE_S - 2 and report["end_remaining_s"] <= 1.0
    assert report["progress_monotonic_fraction"] >= 0.95 and report["progress_max_regression_s"] <= 1.0
    assert report["relocalizations"] == 2 and 6.0 <= report["relocalization_times_s"][1] <= 7.5  # start + kidnap
    assert report["commands"] >= 25 and report["v_mean"] > 0
    assert report["speedup_x_real_time"] > 1.0
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["ticks"] == len(saved["track"]) == report["ticks"]
    assert (tmp_path / "replay.png").stat().st_size > 10_000


def run_replay_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    replay_command.add_arguments(parser)
    args = parser.parse_args(argv)
    return args.func(args)


def test_replay_cli_with_real_model(route, tmp_path, gnm_model_path, capsys):
    graph_dir, bag = route
    out = tmp_path / "out"
    assert run_replay_cli(["--bag", str(bag), "--graph", str(graph_dir), "--out", str(out),
                           "--model", str(gnm_model_path), "--providers", "cpu", "--goal-node", "5"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["goal_node"] == 5 and report["ticks"] > 0 and (out / "replay.png").is_file()
    assert "x real time" in capsys.readouterr().out
    with pytest.raises(DatasetError, match="no topic 'camera/other'"):
        run_replay_cli(["--bag", str(bag), "--graph", str(graph_dir), "--out", str(out), "--image-topic",
                        "camera/other", "--model", str(gnm_model_path)])
