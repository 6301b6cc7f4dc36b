"""Summary figures of a graph for `gnm-nav graph info` and the planner's diagnostics."""
from __future__ import annotations

import math
from typing import Any

import networkx as nx

from gnm_nav.graph.store import EDGE_KINDS, TopoGraph


def graph_summary(graph: TopoGraph) -> dict[str, Any]:
    g = graph.g
    temporal = [(u, v, d) for u, v, d in g.edges(data=True) if d["kind"] == "temporal"]
    summary: dict[str, Any] = {
        "nodes": g.number_of_nodes(),
        "edges": g.number_of_edges(),
        **{f"edges_{kind}": sum(1 for _, _, d in g.edges(data=True) if d["kind"] == kind) for kind in EDGE_KINDS},
        "components": nx.number_weakly_connected_components(g) if len(g) else 0,
        # A branch point is where a robot can choose between routes, a merge where routes join.
        "branches": sum(1 for n in g if g.out_degree(n) > 1),
        "merges": sum(1 for n in g if g.in_degree(n) > 1),
        "sessions": len({d.get("session", 0) for _, d in g.nodes(data=True)}),
        "route_length_s": round(sum(d["weight"] for _, _, d in temporal), 3),
        "with_pose": sum(1 for _, d in g.nodes(data=True) if "pose" in d),
    }
    if summary["with_pose"]:
        poses = g.nodes
        summary["route_length_m"] = round(sum(
            math.dist(poses[u]["pose"][:2], poses[v]["pose"][:2])
            for u, v, _ in temporal if "pose" in poses[u] and "pose" in poses[v]), 3)
    return summary
