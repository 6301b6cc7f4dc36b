"""Draw a graph to PNG: nodes at their poses (or a graph layout), edges coloured by kind, a few thumbnails."""
from __future__ import annotations

import io
from pathlib import Path

import networkx as nx
import numpy as np

from gnm_nav.common.atomic import atomic_write_bytes
from gnm_nav.graph.store import TopoGraph

EDGE_COLOURS = {"temporal": "tab:blue", "shortcut": "tab:orange", "manual": "tab:green"}


def graph_layout(graph: TopoGraph) -> tuple[dict[int, np.ndarray], str]:
    """Positions by pose when every node has one, else a route layout.

    Route layout: one row per recording session; x = seconds since the session's first node, shifted
    to the x of the earlier node it attached to, so branches and merges show as links between rows.
    """
    g = graph.g
    if len(g) and all("pose" in d for _, d in g.nodes(data=True)):
        return {n: np.array(d["pose"][:2], dtype=float) for n, d in g.nodes(data=True)}, "pose"
    sessions: dict[int, list[int]] = {}
    for n in sorted(g.nodes):
        sessions.setdefault(g.nodes[n].get("session", 0), []).append(n)
    pos: dict[int, np.ndarray] = {}
    for row, nodes in enumerate(sorted(sessions.values(), key=min)):
        nodes.sort(key=lambda n: (g.nodes[n]["stamp"], n))
        first = nodes[0]
        anchors = [pos[m][0] for m in nx.all_neighbors(g, first) if m in pos]
        x0 = anchors[0] if anchors else 0.0
        for n in nodes:
            pos[n] = np.array([x0 + g.nodes[n]["stamp"] - g.nodes[first]["stamp"], -float(row)])
    return pos, "route"


def thumbnail_nodes(graph: TopoGraph, count: int) -> list[int]:
    """Evenly spread nodes, always including the first and the last."""
    nodes = graph.nodes()
    if len(nodes) <= count:
        return nodes
    return [nodes[int(i)] for i in np.linspace(0, len(nodes) - 1, count).round()]


def render_graph(graph: TopoGraph, out: str | Path, thumbnails: int = 6) -> Path:
    """Write a PNG of the graph with `thumbnails` node images."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage


    pos, layout = graph_layout(graph)
    fig, ax = plt.subplots(figsize=(9, 7), dpi=100)
    arrows = graph.g.number_of_edges() <= 500  # one arrow patch per edge is slow on big graphs
    for kind, colour in EDGE_COLOURS.items():
        edges = [(u, v) for u, v, d in graph.g.edges(data=True) if d["kind"] == kind]
        if edges:
            nx.draw_networkx_edges(graph.g, pos, edgelist=edges, edge_color=colour, ax=ax, arrows=arrows,
                                   arrowsize=6, width=1.2, style="dashed" if kind == "shortcut" else "solid",
                                   node_size=12)
            ax.plot([], [], color=colour, label=f"{kind} ({len(edges)})")
    nx.draw_networkx_nodes(graph.g, pos, node_size=12, node_color="black", ax=ax)
    for k, node in enumerate(thumbnail_nodes(graph, thumbnails)):
        img = graph.image(node)
        offset = (0.0, 38.0 if k % 2 == 0 else -38.0)  # alternate above/below so neighbours do not overlap
        box = AnnotationBbox(OffsetImage(img, zoom=44.0 / max(img.shape[:2])), tuple(pos[node]), xybox=offset,
                             xycoords="data", boxcoords="offset points", pad=0.15, arrowprops={"arrowstyle": "-"})
        ax.add_artist(box)
        ax.annotate(str(node), (float(pos[node][0]), float(pos[node][1])),
                    fontsize=7, color="black", xytext=(3, -9), textcoords="offset points")
    ax.set_title(f"{len(graph)} nodes, {graph.g.number_of_edges()} edges (layout: {layout})")
    if layout == "pose":
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_xlabel("x [m]")
        ax.set_ylabel("y [m]")
    else:
        ax.set_xlabel("temporal distance along the route [s]")
        ax.set_ylabel("recording session (rows)")
        ax.set_yticks([])
    ax.margins(0.15)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    atomic_write_bytes(out, buf.getvalue())
    return Path(out)
