"""Graph -> visualization_msgs/MarkerArray (ROS glue shared by the planner and graph builder nodes).

Nodes are drawn at their poses when every node has one, else on the route layout of
gnm_nav.graph.render (x = seconds along the route, one row per session).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from geometry_msgs.msg import Point
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker, MarkerArray

from gnm_nav.graph.render import graph_layout
from gnm_nav.graph.store import TopoGraph

EDGE_RGBA = {"temporal": (0.2, 0.4, 1.0, 0.8), "shortcut": (1.0, 0.6, 0.1, 0.8), "manual": (0.2, 0.8, 0.2, 0.8)}


def _point(xy: np.ndarray, z: float = 0.0) -> Point:
    return Point(x=float(xy[0]), y=float(xy[1]), z=z)


CLOSEST_NS = "closest"  # the marker of the node the robot is at (the builder: its session's newest node)

def graph_markers(graph: TopoGraph, frame_id: str, stamp, closest: int | None = None, goal: int | None = None,
                  path: Sequence[int] = (), layout: dict[int, np.ndarray] | None = None) -> MarkerArray:
    pos = layout if layout is not None else graph_layout(graph)[0]
    markers = MarkerArray()

    def marker(ns: str, kind: int, scale: float, rgba: tuple[float, float, float, float]) -> Marker:
        m = Marker(ns=ns, id=len(markers.markers), type=kind, action=Marker.ADD)
        m.header.frame_id = frame_id
        m.header.stamp = stamp
        m.pose.orientation.w = 1.0
        m.scale.x = m.scale.y = m.scale.z = scale
        m.color = ColorRGBA(r=rgba[0], g=rgba[1], b=rgba[2], a=rgba[3])
        markers.markers.append(m)
        return m

    clear = Marker(action=Marker.DELETEALL)
    clear.header.frame_id = frame_id
    markers.markers.append(clear)
    nodes = marker("nodes", Marker.SPHERE_LIST, 0.08, (0.1, 0.1, 0.1, 1.0))
    nodes.points = [_point(pos[n]) for n in graph.nodes()]
    for kind, rgba in EDGE_RGBA.items():
        edges = [(u, v) for u, v, d in graph.g.edges(data=True) if d["kind"] == kind]
        if edges:
            m = marker(f"edges_{kind}", Marker.LINE_LIST, 0.02, rgba)
            m.points = [_point(pos[n]) for edge in edges for n in edge]
    if len(path) > 1:
        m = marker("path", Marker.LINE_STRIP, 0.05, (0.9, 0.1, 0.6, 0.9))
        m.points = [_point(pos[n], 0.02) for n in path]
    for ns, node, rgba in ((CLOSEST_NS, closest, (1.0, 0.1, 0.1, 1.0)), ("goal", goal, (0.1, 0.9, 0.1, 1.0))):
        if node is not None and node in pos:
            m = marker(ns, Marker.SPHERE, 0.2, rgba)
            m.pose.position = _point(pos[node], 0.05)
    return markers
