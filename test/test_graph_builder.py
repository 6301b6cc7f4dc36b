"""Graph building: the recording core (interval/distance, sessions that attach and merge) and `graph build` on a bag."""
from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
from cli_runner import run_command

from gnm_nav.bag_io import BagWriter
from gnm_nav.commands import graph as graph_command
from gnm_nav.common.errors import DatasetError
from gnm_nav.graph.builder import GraphBuilder, SessionLinker
from gnm_nav.graph.planning import Planner
from gnm_nav.graph.store import TopoGraph
from gnm_nav.graph.synthetic import PixelDistanceEngine, route_texture, view

SPACING_PX = 8


def test_nodes_every_interval_or_distance():
    texture = route_texture(400, seed=2)
    graph = TopoGraph()
    builder = GraphBuilder(graph, record_interval_s=1.0)
    added = [builder.offer(view(texture, k), stamp=k * 0.1) for k in range(35)]  # 10 Hz for 3.4 s
    assert [n for n in added if n is not None] == [0, 1, 2, 3]
    assert graph.g.edges[0, 1] == {"weight": pytest.approx(1.0), "kind": "temporal"}
    assert builder.offer(view(texture, 3), stamp=0.5) is None  # out-of-order stamp is ignored
    builder.end_session()

    by_distance = GraphBuilder(TopoGraph(), record_interval_s=1.0, record_distance_m=0.5)
    added = [by_distance.offer(view(texture, k), stamp=k * 0.1, pose=(k * 0.1, 0.0, 0.0)) for k in range(21)]
    assert len([n for n in added if n is not None]) == 5  # at 0, 0.5, 1.0, 1.5, 2.0 m


def test_second_session_attaches_and_merges_so_routes_branch():
    engine = PixelDistanceEngine()
    main_route = route_texture(40 * SPACING_PX, seed=1)
    detour = route_texture(10 * SPACING_PX, seed=7)
    graph = TopoGraph()
    first = GraphBuilder(graph, record_interval_s=1.0)
    for i in range(40):
        first.offer(view(main_route, i * SPACING_PX), stamp=float(i))
    first.end_session()

    second = GraphBuilder(graph, record_interval_s=1.0, linker=SessionLinker.for_graph(engine, graph))
    frames = [view(main_route, 10 * SPACING_PX + 1)] + [view(detour, i * SPACING_PX) for i in range(4)]
    frames.append(view(main_route, 30 * SPACING_PX + 2))
    for k, rgb in enumerate(frames):
        second.offer(rgb, stamp=100.0 + k)
    session = second.end_session()
    assert session is not None and session.session == 1 and len(session.nodes) == 6
    assert session.attached_to is not None and session.attached_to[0] == 10
    assert session.merged_into is not None and session.merged_into[0] == 30
    first_new, last_new = session.nodes[0], session.nodes[-1]
    assert graph.g.edges[10, first_new]["kind"] == "shortcut" and graph.g.has_edge(last_new, 30)
    # The detour (about 5 s) is shorter than the recorded route from 10 to 30 (20 s): the planner takes it.
    planner = Planner(graph.g)
    planner.set_goal(30)
    assert planner.plan(10) == [10, *session.nodes, 30]

    unrelated = GraphBuilder(graph, linker=SessionLinker.for_graph(engine, graph))
    unrelated.offer(255 - view(detour, 3), stamp=500.0)
    assert unrelated.end_session().attached_to is None


def write_route_bag(path, texture, seconds: float, rate_hz: float = 10.0, speed_px_s: float = 8.0) -> None:
    with BagWriter(path, storage="mcap") as bag:
        for k in range(int(seconds * rate_hz)):
            t = 50.0 + k / rate_hz
            bag.write_image("camera/image_raw", t, view(texture, k / rate_hz * speed_px_s))
            bag.write_odometry("odom", t, k / rate_hz * 0.2, 0.0, 0.0, 0.2, 0.0)


def run_graph(argv: list[str]) -> int:
    return run_command(graph_command, argv)


def test_build_from_bag_with_odometry(tmp_path, capsys):
    bag = tmp_path / "route_bag"
    write_route_bag(bag, route_texture(200, seed=4), seconds=6.0)
    out = tmp_path / "graph"
    assert run_graph(["build", "--bag", str(bag), "--image-topic", "camera/image_raw", "--out", str(out),
                      "--odom-topic", "odom", "--record-distance", "0.3"]) == 0
    printed = capsys.readouterr().out
    assert "real time" in printed and "wrote" in printed
    graph = TopoGraph.load(out)
    assert len(graph) == 4  # 1.2 m of travel (0.2 m/s for 6 s) every 0.3 m, the last 0.3 m not reached
    assert graph.g.nodes[1]["pose"] == pytest.approx([0.3, 0.0, 0.0])
    data = json.loads((out / "graph.json").read_text())
    assert data["source"] == "bag:route_bag"
    # An existing graph is not overwritten without --append; a missing topic names the problem.
    assert run_graph(["build", "--bag", str(bag), "--image-topic", "camera/image_raw", "--out", str(out)]) == 2
    with pytest.raises(DatasetError, match="no topic 'camera/missing'"):
        args = argparse.ArgumentParser()
        graph_command.add_arguments(args)
        parsed = args.parse_args(["build", "--bag", str(bag), "--image-topic", "camera/missing",
                                  "--out", str(tmp_path / "other")])
        parsed.func(parsed)


def test_append_session_with_real_model(tmp_path, gnm_model_path, capsys):
    """The model wiring of --append: a second bag is linked by the (random-init) model or reported unlinked."""
    texture = route_texture(200, seed=4)
    out = tmp_path / "graph"
    for name in ("a", "b"):
        write_route_bag(tmp_path / name, texture, seconds=3.0)
    assert run_graph(["build", "--bag", str(tmp_path / "a"), "--image-topic", "camera/image_raw",
                      "--out", str(out)]) == 0
    assert run_graph(["build", "--bag", str(tmp_path / "b"), "--image-topic", "camera/image_raw", "--out", str(out),
                      "--append", "--model", str(gnm_model_path), "--providers", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "session 1:" in printed
    graph = TopoGraph.load(out)
    assert len(graph) == 6 and {d["session"] for _, d in graph.g.nodes(data=True)} == {0, 1}
    assert np.isfinite([d["weight"] for _, _, d in graph.g.edges(data=True)]).all()


def test_shortcuts_link_two_recordings_of_one_route():
    from gnm_nav.graph.shortcuts import ShortcutConfig, add_shortcuts

    texture = route_texture(20 * SPACING_PX, seed=8)
    graph = TopoGraph()
    for offset in (0, 2):  # two unlinked drives along the same route, 2 px apart
        builder = GraphBuilder(graph, record_interval_s=1.0)
        for i in range(20):
            builder.offer(view(texture, i * SPACING_PX + offset), stamp=float(i))
        builder.end_session()
    calls = []
    engine = PixelDistanceEngine()
    evaluate = engine.evaluate
    engine.evaluate = lambda obs, goals: calls.append(len(goals)) or evaluate(obs, goals)
    added = add_shortcuts(graph, engine, ShortcutConfig(max_distance=2.0, per_node=1, candidates=6))
    assert len(calls) == 40 and max(calls) <= 6  # one batched call per node
    assert {(u % 20, v % 20) for u, v, _ in added} == {(i, i) for i in range(20)}  # each to its twin
    assert all(graph.g.edges[u, v]["kind"] == "shortcut" and (u < 20) != (v < 20) for u, v, _ in added)
    assert len(added) == 40  # per_node=1: one from each node


def test_shortcuts_command_with_real_model(tmp_path, gnm_model_path, capsys):
    graph = TopoGraph()
    builder = GraphBuilder(graph)
    texture = route_texture(10 * SPACING_PX, seed=6)
    for i in range(8):
        builder.offer(view(texture, i * SPACING_PX), stamp=float(i))
    graph.save(tmp_path / "g")
    assert run_graph(["shortcuts", str(tmp_path / "g"), "--model", str(gnm_model_path), "--providers", "cpu",
                      "--max-distance", "1e9", "--per-node", "1"]) == 0
    assert "shortcut edges" in capsys.readouterr().out
    kinds = [d["kind"] for _, _, d in TopoGraph.load(tmp_path / "g").g.edges(data=True)]
    assert kinds.count("temporal") == 7 and kinds.count("shortcut") == 8  # threshold open: one from every node
