"""A graph as the GeoJSON route graph of Nav2's Route Server, and back.

Nodes become Point features (`id`, `frame`, coordinates = the recorded odometry position, `metadata` with the
image path, stamp, session and yaw); edges become directional MultiLineString features (`id`, `startid`,
`endid`, `cost` = the temporal distance in seconds, `metadata.kind`). Edge ids follow the node ids, so every id
in the file is unique, as in Nav2's sample graphs. What the Route Server's loader needs is checked by
`route_graph_problems`, used on both sides: a file we write loads there, and a file edited there (QGIS is
Nav2's suggested editor) comes back only when it still describes an image graph.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import networkx as nx

from gnm_nav.common.errors import GraphError
from gnm_nav.graph.store import EDGE_KINDS, POSE_FRAME_KEY, TopoGraph

GEOJSON_FORMAT_VERSION = 1
DEFAULT_FRAME = "odom"  # a graph recorded from wheel odometry; the builder node records the odometry's own frame
EDITOR_EDGE_KIND = "manual"  # an edge drawn in an editor (no metadata.kind) is an operator's edge
_NODE_KEYS = {"image", "stamp", "pose"}  # stored in their own places; other node attributes travel in metadata


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _metadata_problem(value: Any, where: str) -> str | None:
    """The Route Server reads metadata values as numbers, booleans, strings, arrays of those, or objects."""
    if isinstance(value, dict):
        for key, item in value.items():
            problem = _metadata_problem(item, f"{where}.{key}")
            if problem:
                return problem
        return None
    items = value if isinstance(value, list) else [value]
    for item in items:
        if not (isinstance(item, (bool, str)) or _is_number(item)):
            return f"{where} holds {item!r}: metadata values must be numbers, booleans, strings or arrays of them"
    return None


def _claim_id(fid: Any, taken: set[int], where: str, what: str, problems: list[str]) -> None:
    """Record `fid` as taken, or the problem with it (not a non-negative integer, or used twice)."""
    if not _is_id(fid):
        problems.append(f"{where}: id {fid!r} is not a non-negative integer")
    elif fid in taken:
        problems.append(f"{what} id {fid} is used twice")
    else:
        taken.add(fid)


def route_graph_problems(doc: Any) -> list[str]:
    """What keeps `doc` from loading in Nav2's Route Server (empty when nothing): a FeatureCollection of Point
    nodes and MultiLineString/LineString edges, non-negative integer ids unique among nodes and among edges,
    node coordinates, edges joining existing nodes, numeric costs, plain metadata; at least one of each."""
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" or not isinstance(doc.get("features"), list):
        return ["not a GeoJSON FeatureCollection with a 'features' list"]
    problems: list[str] = []
    nodes: set[int] = set()
    edges: list[dict] = []
    edge_ids: set[int] = set()
    for i, feature in enumerate(doc["features"]):
        props = feature.get("properties") if isinstance(feature, dict) else None
        geometry = feature.get("geometry") if isinstance(feature, dict) else None
        if not isinstance(props, dict) or not isinstance(geometry, dict):
            problems.append(f"feature {i} has no properties or no geometry")
            continue
        kind = geometry.get("type")
        fid = props.get("id")
        if kind == "Point":
            coords = geometry.get("coordinates")
            _claim_id(fid, nodes, f"node feature {i}", "node", problems)
            if not (isinstance(coords, list) and len(coords) >= 2 and all(_is_number(c) for c in coords[:2])):
                problems.append(f"node {fid!r}: coordinates {coords!r} are not [x, y] numbers")
        elif kind in ("MultiLineString", "LineString"):
            _claim_id(fid, edge_ids, f"edge feature {i}", "edge", problems)
            if "cost" in props and not _is_number(props["cost"]):
                problems.append(f"edge {fid!r}: cost {props['cost']!r} is not a number")
            edges.append(props)
        else:
            continue  # the loader skips other geometries
        problem = _metadata_problem(props.get("metadata", {}), f"feature {fid!r} metadata")
        if problem:
            problems.append(problem)
    for props in edges:
        for end in ("startid", "endid"):
            if props.get(end) not in nodes:
                problems.append(f"edge {props.get('id')!r}: {end} {props.get(end)!r} is not a node")
    if not nodes or not edges:
        problems.append(f"the graph needs nodes and edges (has {len(nodes)} nodes, {len(edges)} edges)")
    return problems


def to_route_graph(graph: TopoGraph, frame: str | None = None, name: str = "graph") -> dict[str, Any]:
    """The graph as a Route Server GeoJSON document; GraphError when it has no poses to place its nodes by."""
    g = graph.g
    frame = frame or graph.meta.get(POSE_FRAME_KEY) or DEFAULT_FRAME
    missing = [n for n in graph.nodes() if "pose" not in g.nodes[n]]
    if missing:
        shown = ", ".join(str(n) for n in missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise GraphError(f"{len(missing)} of {len(graph)} nodes have no pose (nodes {shown}): a route graph places "
                         f"every node by coordinates, and only a graph recorded with odometry has them "
                         f"(graph_builder_node with odom, or `gnm-nav graph build --odom-topic`)")
    if g.number_of_edges() == 0:
        raise GraphError("the graph has no edges: Nav2's Route Server refuses a graph without edges")
    features: list[dict[str, Any]] = []
    for node in graph.nodes():
        data = g.nodes[node]
        x, y, yaw = data["pose"]
        metadata = {"image": data["image"], "stamp": data["stamp"], "yaw": yaw,
                    **{k: v for k, v in data.items() if k not in _NODE_KEYS}}
        features.append({"type": "Feature", "properties": {"id": node, "frame": frame, "metadata": metadata},
                         "geometry": {"type": "Point", "coordinates": [x, y]}})
    next_id = max(g.nodes) + 1
    for offset, (u, v) in enumerate(sorted(g.edges)):
        data = g.edges[u, v]
        line = [list(g.nodes[u]["pose"][:2]), list(g.nodes[v]["pose"][:2])]
        features.append({"type": "Feature",
                         "properties": {"id": next_id + offset, "startid": u, "endid": v, "cost": data["weight"],
                                        "metadata": {"kind": data["kind"]}},
                         "geometry": {"type": "MultiLineString", "coordinates": [line]}})
    doc = {"type": "FeatureCollection", "name": name,
           "gnm_nav": {"format_version": GEOJSON_FORMAT_VERSION, "graph_meta": dict(graph.meta)},
           "features": features}
    problems = route_graph_problems(doc)
    if problems:  # e.g. a node attribute the Route Server cannot read as metadata
        raise GraphError(f"the graph cannot be written as a route graph: {problems[0]}")
    return doc


def from_route_graph(doc: Any, images_root: str | Path) -> TopoGraph:
    """A TopoGraph from a Route Server GeoJSON document whose nodes name their images (as `to_route_graph`
    writes them), relative to `images_root`. GraphError names the first problem."""
    problems = route_graph_problems(doc)
    if problems:
        raise GraphError(f"not a valid route graph: {'; '.join(problems[:3])}")
    ours = doc.get("gnm_nav") if isinstance(doc.get("gnm_nav"), dict) else {}
    meta = dict(ours.get("graph_meta") or {})
    meta.setdefault("source", f"geojson:{doc.get('name', 'graph')}")
    g = nx.DiGraph()
    frames = set()
    for feature in doc["features"]:
        props, geometry = feature["properties"], feature["geometry"]
        if geometry["type"] != "Point":
            continue
        node, metadata = props["id"], dict(props.get("metadata") or {})
        for key, check in (("image", lambda v: isinstance(v, str) and v), ("stamp", _is_number),
                           ("yaw", _is_number)):
            if not check(metadata.get(key)):
                raise GraphError(f"node {node} has no usable metadata.{key} ({metadata.get(key)!r}): every node of an "
                                 f"image graph needs the image it was recorded with, its stamp and its heading")
        x, y = geometry["coordinates"][:2]
        yaw = metadata.pop("yaw")
        g.add_node(node, **metadata, pose=[float(x), float(y), float(yaw)])
        frames.add(props.get("frame", DEFAULT_FRAME))
    if len(frames) > 1:
        raise GraphError(f"nodes are in several frames ({', '.join(sorted(map(str, frames)))}): one graph, one frame")
    meta[POSE_FRAME_KEY] = frames.pop()
    for feature in doc["features"]:
        props, geometry = feature["properties"], feature["geometry"]
        if geometry["type"] == "Point":
            continue
        u, v = props["startid"], props["endid"]
        kind = (props.get("metadata") or {}).get("kind", EDITOR_EDGE_KIND)
        if "cost" not in props:
            raise GraphError(f"edge {props['id']} ({u} -> {v}) has no cost: the graph plans by temporal distance "
                             f"(seconds), so each edge needs one")
        if kind not in EDGE_KINDS:
            raise GraphError(f"edge {props['id']} has metadata.kind {kind!r}, expected one of {EDGE_KINDS}")
        if u == v:
            raise GraphError(f"edge {props['id']} joins node {u} to itself: self-loops are not allowed")
        if g.has_edge(u, v):
            raise GraphError(f"edges {u} -> {v} appear twice: one directed edge per pair of nodes")
        g.add_edge(u, v, weight=float(props["cost"]), kind=kind)
    graph = TopoGraph(g, Path(images_root), meta)
    graph.validate()  # costs, self-loops, images present and inside the image folder
    return graph
