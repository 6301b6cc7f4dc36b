"""Graph directory: round trip, validation errors, crash safety, topomap import, info and render."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from cli_runner import run_command
from PIL import Image

from gnm_nav.commands import graph as graph_command
from gnm_nav.common.errors import GraphError
from gnm_nav.graph.stats import graph_summary
from gnm_nav.graph.store import FORMAT_VERSION, TopoGraph
from gnm_nav.graph.synthetic import route_views
from gnm_nav.graph.topomap import import_topomap

ROOT = Path(__file__).resolve().parent.parent


def small_graph(n: int = 5, poses: bool = True) -> TopoGraph:
    graph = TopoGraph()
    for i, img in enumerate(route_views(n, 8, seed=3)):
        graph.add_node(img, stamp=float(i), pose=(i * 0.5, 0.0, 0.0) if poses else None, session=0)
        if i:
            graph.add_edge(i - 1, i, 1.0, "temporal")
    return graph


def test_round_trip_keeps_nodes_edges_images(tmp_path):
    graph = small_graph()
    graph.add_edge(4, 1, 2.5, "manual")
    graph.save(tmp_path / "g")
    loaded = TopoGraph.load(tmp_path / "g")
    assert loaded.nodes() == graph.nodes()
    assert sorted(loaded.g.edges(data=True)) == sorted(graph.g.edges(data=True))
    assert loaded.g.nodes[2]["pose"] == [1.0, 0.0, 0.0]
    np.testing.assert_array_equal(loaded.image(3), graph.image(3))
    data = json.loads((tmp_path / "g" / "graph.json").read_text())
    assert data["format_version"] == FORMAT_VERSION and {"nodes", "edges"} <= data.keys()
    # Saving to another directory carries the images along; appending keeps the old ones.
    loaded.add_node(route_views(1, 8, seed=9)[0], stamp=9.0)
    loaded.save(tmp_path / "copy")
    again = TopoGraph.load(tmp_path / "copy")
    assert len(again) == 6 and again.g.nodes[5]["image"].startswith("images/")


def _corrupt(directory: Path, how: str) -> None:
    path = directory / "graph.json"
    data = json.loads(path.read_text())
    if how == "json":
        path.write_text(path.read_text()[:40])
    elif how == "version":
        data["format_version"] = 99
        path.write_text(json.dumps(data))
    elif how == "image":
        (directory / data["nodes"][2]["image"]).unlink()
    elif how == "empty":
        data["nodes"], data["edges"] = [], []
        path.write_text(json.dumps(data))
    elif how == "weight":
        data["edges"][0]["weight"] = -1
        path.write_text(json.dumps(data))
    elif how == "inf_weight":
        path.write_text(json.dumps(data).replace('"weight": 1.0', '"weight": Infinity', 1))
    elif how == "pose":
        data["nodes"][1]["pose"] = ["a", "b", "c"]
        path.write_text(json.dumps(data))
    elif how == "nan_pose":
        data["nodes"][1]["pose"] = [0.0, float("nan"), 0.0]
        path.write_text(json.dumps(data))
    elif how == "nan_stamp":
        data["nodes"][1]["stamp"] = float("nan")
        path.write_text(json.dumps(data))
    elif how == "outside":
        data["nodes"][1]["image"] = "../../etc/passwd"
        path.write_text(json.dumps(data))


@pytest.mark.parametrize("how, message", [("json", "not valid JSON"), ("version", "format_version 99"),
                                          ("image", "image of node 2 is missing"), ("empty", "empty"),
                                          ("weight", "positive finite 'weight'"),
                                          ("inf_weight", "positive finite 'weight', got inf"),
                                          ("pose", r"'pose' must be \[x, y, yaw\] of finite numbers, got \['a'"),
                                          ("nan_pose", "of finite numbers, got \\[0.0, nan"),
                                          ("nan_stamp", "no finite numeric 'stamp'"),
                                          ("outside", "lies outside the graph directory")])
def test_bad_graph_directory_names_the_problem(tmp_path, how, message):
    small_graph().save(tmp_path)
    _corrupt(tmp_path, how)
    with pytest.raises(GraphError, match=message):
        TopoGraph.load(tmp_path)


def test_missing_directory(tmp_path):
    with pytest.raises(GraphError, match="not a graph directory"):
        TopoGraph.load(tmp_path / "nothing")


_SAVER = """
import sys, numpy as np
from gnm_nav.graph.store import TopoGraph
graph = TopoGraph.load(sys.argv[1])
rng = np.random.default_rng(0)
while True:
    for _ in range(50):
        prev = graph.nodes()[-1]
        node = graph.add_node(rng.integers(0, 256, (120, 160, 3), dtype=np.uint8), stamp=float(len(graph)))
        graph.add_edge(prev, node, 1.0, "temporal")
    graph.save(sys.argv[1])
    print(len(graph), flush=True)
"""


def test_kill_during_save_never_leaves_an_unreadable_graph(tmp_path):
    directory = tmp_path / "g"
    small_graph().save(directory)
    rng = np.random.default_rng(1)
    saved = 5
    for _ in range(4):
        proc = subprocess.Popen([sys.executable, "-c", _SAVER, str(directory)], stdout=subprocess.PIPE, text=True,
                                cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert proc.stdout is not None
        saved = int(proc.stdout.readline())  # at least one save completed
        time.sleep(float(rng.uniform(0.0, 0.3)))  # then kill at a random point of a later save
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        graph = TopoGraph.load(directory)
        assert len(graph) >= saved
        graph.image(graph.nodes()[-1])  # the newest node's image is readable too


def test_the_next_save_removes_what_killed_saves_left(tmp_path):
    directory = tmp_path / "g"
    graph = small_graph()
    graph.save(directory)
    orphans = [directory / ".graph.json.k3j9x.tmp", directory / "images" / ".000003.png.a8b2c.tmp"]
    for orphan in orphans:
        orphan.write_bytes(b"half a file")
    keep = directory / "notes.tmp"  # not one of ours: left alone
    keep.write_text("mine")
    graph.save(directory)
    assert not any(o.exists() for o in orphans) and keep.exists()
    assert len(TopoGraph.load(directory)) == len(graph)


def cli_graph(argv: list[str]) -> int:
    """`gnm-nav graph ARGV`."""
    return run_command(graph_command, argv)


def write_topomap(folder: Path, count: int) -> np.ndarray:
    folder.mkdir(parents=True)
    views = route_views(count, 8, seed=5)
    for i, img in enumerate(views):
        Image.fromarray(img).save(folder / f"{i}.png")
    (folder / "notes.txt").write_text("not an image")
    return views


def test_import_topomap_is_a_linear_route_in_numeric_order(tmp_path):
    views = write_topomap(tmp_path / "topomap", 12)  # 10.png and 11.png sort after 9.png, not after 1.png
    graph = import_topomap(tmp_path / "topomap")
    assert graph.nodes() == list(range(12))
    assert sorted(graph.g.edges) == [(i, i + 1) for i in range(11)]
    np.testing.assert_array_equal(graph.image(10), views[10])
    with pytest.raises(GraphError, match="no numbered images"):
        import_topomap(tmp_path)


def test_cli_import_info_render(tmp_path, capsys):
    write_topomap(tmp_path / "topomap", 12)
    out = tmp_path / "graph"
    assert cli_graph(["import-topomap", str(tmp_path / "topomap"), "--out", str(out)]) == 0
    assert cli_graph(["import-topomap", str(tmp_path / "topomap"), "--out", str(out)]) == 2  # no overwrite
    capsys.readouterr()
    assert cli_graph(["info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["nodes"] == 12 and info["edges"] == 11 and info["components"] == 1 and info["route_length_s"] == 11.0
    assert cli_graph(["render", str(out), "--out", str(tmp_path / "g.png")]) == 0
    with Image.open(tmp_path / "g.png") as img:
        assert img.size[0] > 400
    assert cli_graph(["info", str(tmp_path / "topomap")]) == 2


def test_summary_counts_branches_and_render_by_pose(tmp_path):
    graph = small_graph(6)
    side = graph.add_node(route_views(1, 8, seed=11)[0], stamp=7.0, pose=(1.0, 1.0, 1.57), session=1)
    graph.add_edge(2, side, 1.5, "temporal")
    graph.add_edge(side, 5, 1.0, "shortcut")
    summary = graph_summary(graph)
    assert summary["branches"] == 1 and summary["merges"] == 1 and summary["sessions"] == 2
    assert summary["edges_shortcut"] == 1 and summary["route_length_m"] == pytest.approx(2.5 + np.hypot(0, 1.0))
    graph.save(tmp_path / "g")
    from gnm_nav.graph.render import render_graph

    render_graph(TopoGraph.load(tmp_path / "g"), tmp_path / "pose.png")
    assert (tmp_path / "pose.png").stat().st_size > 10_000


def test_forced_import_replaces_the_images_of_an_old_graph(tmp_path):
    write_topomap(tmp_path / "topomap", 3)
    small_graph(5).save(tmp_path / "g")
    assert cli_graph(["import-topomap", str(tmp_path / "topomap"), "--out", str(tmp_path / "g"), "--force"]) == 0
    graph = TopoGraph.load(tmp_path / "g")
    assert len(graph) == 3
    np.testing.assert_array_equal(graph.image(1), import_topomap(tmp_path / "topomap").image(1))
