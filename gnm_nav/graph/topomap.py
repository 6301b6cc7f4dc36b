"""Import the public deployment's topomap format: a folder of `0.png … N.png` is one linear route."""
from __future__ import annotations

import re
from pathlib import Path

from gnm_nav.common.errors import GraphError
from gnm_nav.graph.store import TopoGraph, read_rgb

# The reference saves one frame per second of driving, so adjacent nodes are 1 s apart.
ANCHOR_NODE_SPACING_S = 1.0
_NUMBERED = re.compile(r"^(\d+)\.(png|jpg|jpeg)$", re.IGNORECASE)


def numbered_images(src: Path) -> list[Path]:
    """Image files named by an integer, in numeric (not lexical) order: 2.png comes before 10.png."""
    if not src.is_dir():
        raise GraphError(f"topomap folder {src} does not exist")
    found = [(int(m.group(1)), p) for p in src.iterdir() if (m := _NUMBERED.match(p.name))]
    if not found:
        raise GraphError(f"{src} holds no numbered images (expected 0.png … N.png)")
    found.sort()
    for (a, pa), (b, pb) in zip(found, found[1:]):
        if a == b:
            raise GraphError(f"{src}: two images share number {a}: {pa.name}, {pb.name}")
    return [p for _, p in found]


def import_topomap(src: str | Path) -> TopoGraph:
    """A linear route graph: node i = i-th image in numeric order, temporal edges i -> i+1."""
    graph = TopoGraph(meta={"source": f"topomap:{Path(src).name}"})
    previous: int | None = None
    for i, path in enumerate(numbered_images(Path(src))):
        node = graph.add_node(read_rgb(path), stamp=i * ANCHOR_NODE_SPACING_S, session=0)
        if previous is not None:
            graph.add_edge(previous, node, ANCHOR_NODE_SPACING_S, "temporal")
        previous = node
    return graph
