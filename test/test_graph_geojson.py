"""GeoJSON route graphs for Nav2's Route Server: the layout its loader reads, a lossless round trip, clear
refusals (no poses, dangling edges, duplicate ids, edges without cost, nodes without images)."""
from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from test_graph_store import cli_graph, small_graph

from gnm_nav.common.errors import GraphError
from gnm_nav.graph.geojson import from_route_graph, route_graph_problems, to_route_graph
from gnm_nav.graph.store import POSE_FRAME_KEY, TopoGraph


def branching_graph() -> TopoGraph:
    graph = small_graph(6)
    graph.add_edge(5, 1, 2.5, "manual")
    graph.add_edge(1, 4, 3.0, "shortcut")
    graph.meta.update({"source": "test", POSE_FRAME_KEY: "odom"})
    return graph


def assert_nav2_route_graph(doc: dict) -> None:
    """The layout Nav2's GeoJSON graph loader reads (its docs and sample graphs), checked field by field."""
    assert doc["type"] == "FeatureCollection"
    nodes = {f["properties"]["id"]: f for f in doc["features"] if f["geometry"]["type"] == "Point"}
    edges = [f for f in doc["features"] if f["geometry"]["type"] == "MultiLineString"]
    assert len(nodes) + len(edges) == len(doc["features"]) and nodes and edges
    ids = [f["properties"]["id"] for f in doc["features"]]
    assert len(ids) == len(set(ids)) and all(isinstance(i, int) and i >= 0 for i in ids)  # unique, unsigned
    for node in nodes.values():
        assert node["type"] == "Feature" and isinstance(node["properties"]["frame"], str)
        x, y = node["geometry"]["coordinates"]
        assert np.isfinite([x, y]).all()
    for edge in edges:
        props = edge["properties"]
        assert edge["type"] == "Feature" and props["startid"] in nodes and props["endid"] in nodes
        assert isinstance(props["cost"], float) and props["cost"] > 0 and isinstance(props["metadata"]["kind"], str)
        (line,) = edge["geometry"]["coordinates"]  # one segment, from the start node to the end node
        ends = [nodes[props[key]]["geometry"]["coordinates"] for key in ("startid", "endid")]
        assert line == ends


def test_export_import_round_trip_through_the_cli(tmp_path, capsys):
    graph = branching_graph()
    graph.save(tmp_path / "g")
    out = tmp_path / "g" / "route.geojson"
    assert cli_graph(["export-geojson", str(tmp_path / "g"), "--out", str(out)]) == 0
    assert "6 nodes, 7 edges" in capsys.readouterr().out
    doc = json.loads(out.read_text())
    assert_nav2_route_graph(doc)
    assert route_graph_problems(doc) == []
    node2 = next(f for f in doc["features"] if f["properties"]["id"] == 2)
    assert node2["geometry"]["coordinates"] == [1.0, 0.0] and node2["properties"]["frame"] == "odom"
    assert node2["properties"]["metadata"] == {"image": "images/000002.png", "stamp": 2.0, "yaw": 0.0, "session": 0}
    edge = next(f["properties"] for f in doc["features"] if f["properties"].get("startid") == 1
                and f["properties"]["endid"] == 4)
    assert edge["cost"] == 3.0 and edge["metadata"] == {"kind": "shortcut"} and edge["id"] > 5

    # the images are found next to the file; --out gets its own copy of them
    assert cli_graph(["import-geojson", str(out), "--out", str(tmp_path / "back")]) == 0
    back = TopoGraph.load(tmp_path / "back")
    assert back.nodes() == graph.nodes()
    assert dict(back.g.nodes(data=True)) == dict(graph.g.nodes(data=True))
    assert sorted(back.g.edges(data=True)) == sorted(graph.g.edges(data=True))
    assert back.meta == graph.meta
    np.testing.assert_array_equal(back.image(3), graph.image(3))
    assert cli_graph(["import-geojson", str(out), "--out", str(tmp_path / "back")]) == 2  # no silent overwrite


def test_a_graph_without_poses_cannot_be_exported(tmp_path, capsys):
    small_graph(4, poses=False).save(tmp_path / "g")
    assert cli_graph(["export-geojson", str(tmp_path / "g"), "--out", str(tmp_path / "r.geojson")]) == 2
    assert "4 of 4 nodes have no pose" in capsys.readouterr().out and not (tmp_path / "r.geojson").exists()
    with pytest.raises(GraphError, match="no edges"):
        lone = small_graph(1)
        to_route_graph(lone)


def test_frame_is_the_recorded_one_or_the_option():
    graph = branching_graph()
    graph.meta[POSE_FRAME_KEY] = "map"
    assert to_route_graph(graph)["features"][0]["properties"]["frame"] == "map"
    assert to_route_graph(graph, frame="odom")["features"][0]["properties"]["frame"] == "odom"


def _feature(doc: dict, fid: int) -> dict:
    return next(f for f in doc["features"] if f["properties"]["id"] == fid)


@pytest.mark.parametrize("damage, message", [
    (lambda d: _feature(d, 7)["properties"].update(endid=99), "endid 99 is not a node"),
    (lambda d: _feature(d, 7)["properties"].update(id=8), "edge id 8 is used twice"),
    (lambda d: _feature(d, 3)["properties"].update(id=2), "node id 2 is used twice"),
    (lambda d: _feature(d, 3)["geometry"].update(coordinates=[1.0]), "coordinates"),
    (lambda d: _feature(d, 3)["properties"].update(id=-3), "not a non-negative integer"),
    (lambda d: _feature(d, 3)["properties"]["metadata"].update(extra=[[1, 2]]), "metadata values"),
    (lambda d: d["features"].clear(), "needs nodes and edges"),
    (lambda d: d.update(type="Feature"), "not a GeoJSON FeatureCollection"),
    (lambda d: _feature(d, 7)["properties"].pop("cost"), "has no cost"),
    (lambda d: _feature(d, 3)["properties"]["metadata"].pop("image"), "node 3 has no usable metadata.image"),
    (lambda d: _feature(d, 3)["properties"].update(frame="map"), "several frames"),
    (lambda d: _feature(d, 7)["properties"]["metadata"].update(kind="teleport"), "kind 'teleport'"),
    (lambda d: _feature(d, 7)["properties"].update(endid=_feature(d, 7)["properties"]["startid"]), "self-loops"),
    (lambda d: _feature(d, 7)["properties"].update(cost=-1.0), "positive finite 'weight'"),
    (lambda d: _feature(d, 3)["properties"]["metadata"].update(image="../../etc/passwd"), "outside"),
])
def test_import_names_what_is_wrong(tmp_path, damage, message):
    graph = branching_graph()
    graph.save(tmp_path / "g")
    doc = to_route_graph(graph)
    damaged = copy.deepcopy(doc)
    damage(damaged)
    with pytest.raises(GraphError, match=message):
        from_route_graph(damaged, tmp_path / "g")
    from_route_graph(doc, tmp_path / "g")  # the undamaged file imports


def test_edges_drawn_in_an_editor_are_manual_and_plan(tmp_path):
    """An operator adds an edge in QGIS (no metadata, as Nav2's sample edges): it comes back as a manual edge."""
    graph = branching_graph()
    graph.save(tmp_path / "g")
    doc = to_route_graph(graph)
    doc["features"].append({"type": "Feature", "properties": {"id": 500, "startid": 0, "endid": 5, "cost": 1.5},
                            "geometry": {"type": "MultiLineString", "coordinates": [[[0.0, 0.0], [2.5, 0.0]]]}})
    back = from_route_graph(doc, tmp_path / "g")
    assert back.g.edges[0, 5] == {"weight": 1.5, "kind": "manual"}


def test_corrupt_file_is_one_clear_error(tmp_path, capsys):
    (tmp_path / "bad.geojson").write_text("{ not json")
    assert cli_graph(["import-geojson", str(tmp_path / "bad.geojson"), "--out", str(tmp_path / "o")]) == 2
    assert "cannot read" in capsys.readouterr().out and not (tmp_path / "o").exists()
