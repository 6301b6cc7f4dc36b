"""The graph directory: `graph.json` (networkx node-link data) + `images/`, saved atomically, loaded with validation.

Nodes are ints with `image` (path relative to the directory), `stamp` (s) and optional `pose`
[x, y, yaw]. Edges are directed (an image route is driven forwards) with `weight` = temporal
distance in seconds and `kind` in EDGE_KINDS. Saving writes new images first and graph.json last
through an atomic replace, so a crash at any moment leaves the previous graph.json, whose images
all exist (images are append-only and named by node id).
"""
from __future__ import annotations

import io
import json
import math
import shutil
from pathlib import Path
from typing import Any, Iterable

import networkx as nx
import numpy as np
from PIL import Image

from gnm_nav.common.atomic import atomic_write_bytes, atomic_write_json, remove_orphan_temp_files
from gnm_nav.common.errors import GraphError

FORMAT_VERSION = 1
GRAPH_FILE = "graph.json"
IMAGES_DIR = "images"
EDGE_KINDS = ("temporal", "shortcut", "manual")
POSE_FRAME_KEY = "pose_frame"  # top-level key: the frame node poses were recorded in (the odometry's frame_id)


def encode_png(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def read_rgb(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))
    except (OSError, ValueError) as exc:
        raise GraphError(f"cannot read graph image {path}: {exc}") from exc


class TopoGraph:
    """A topological graph of images; images recorded but not yet saved are kept in memory until save()."""

    def __init__(self, graph: nx.DiGraph | None = None, root: Path | None = None, meta: dict | None = None) -> None:
        self.g = graph if graph is not None else nx.DiGraph()
        self.root = root
        self.meta: dict[str, Any] = dict(meta or {})
        self._pending: dict[int, np.ndarray] = {}

    # --- building -------------------------------------------------------------------------
    def next_id(self) -> int:
        return max(self.g.nodes, default=-1) + 1

    def add_node(self, rgb: np.ndarray, stamp: float, pose: Iterable[float] | None = None, **attrs: Any) -> int:
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"node image must be HxWx3 uint8 RGB, got {rgb.dtype} {rgb.shape}")
        node = self.next_id()
        data: dict[str, Any] = {"image": f"{IMAGES_DIR}/{node:06d}.png", "stamp": float(stamp), **attrs}
        if pose is not None:
            data["pose"] = [float(p) for p in pose]
        self.g.add_node(node, **data)
        self._pending[node] = np.ascontiguousarray(rgb)
        return node

    def add_edge(self, u: int, v: int, weight: float, kind: str) -> None:
        if kind not in EDGE_KINDS:
            raise ValueError(f"edge kind must be one of {EDGE_KINDS}, got {kind!r}")
        for n in (u, v):
            if n not in self.g:
                raise GraphError(f"edge {u}->{v}: node {n} does not exist")
        if u == v:
            raise GraphError(f"edge {u}->{v}: self-loops are not allowed")
        if not np.isfinite(weight) or weight <= 0:
            raise GraphError(f"edge {u}->{v}: weight must be a positive temporal distance, got {weight}")
        # Keep the strongest evidence: an existing shorter edge is not lengthened by a new one.
        if self.g.has_edge(u, v) and self.g.edges[u, v]["weight"] <= weight:
            return
        self.g.add_edge(u, v, weight=float(weight), kind=kind)

    # --- access ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.g.number_of_nodes()

    def nodes(self) -> list[int]:
        return sorted(self.g.nodes)

    def image(self, node: int) -> np.ndarray:
        if node not in self.g:
            raise GraphError(f"node {node} does not exist (graph has {len(self)} nodes)")
        if node in self._pending:
            return self._pending[node]
        if self.root is None:
            raise GraphError(f"node {node} has no image in memory and the graph has no directory")
        return read_rgb(self.root / self.g.nodes[node]["image"])

    # --- persistence ----------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        data = nx.node_link_data(self.g, edges="edges")
        return {"format_version": FORMAT_VERSION, **self.meta, **data}

    def save(self, directory: str | Path) -> Path:
        """Write new images, then graph.json atomically; the graph then lives in `directory`."""
        out = Path(directory)
        (out / IMAGES_DIR).mkdir(parents=True, exist_ok=True)
        for folder in (out, out / IMAGES_DIR):  # what saves killed mid-write left behind
            remove_orphan_temp_files(folder)
        for node in self.nodes():
            rel = self.g.nodes[node]["image"]
            target = out / rel
            # A file already there is an orphan of an interrupted save or of a replaced graph: overwrite it.
            if node in self._pending:
                atomic_write_bytes(target, encode_png(self._pending[node]))
            elif self.root is not None and self.root.resolve() != out.resolve():
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_name(f".{target.name}.tmp")
                shutil.copyfile(self.root / rel, tmp)
                tmp.replace(target)
        atomic_write_json(out / GRAPH_FILE, self.to_json())
        self.root = out
        self._pending.clear()
        return out

    @classmethod
    def load(cls, directory: str | Path, allow_empty: bool = False) -> "TopoGraph":
        root = Path(directory)
        path = root / GRAPH_FILE
        if not path.is_file():
            raise GraphError(f"{root} is not a graph directory: {GRAPH_FILE} not found")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise GraphError(f"{path} is corrupt (not valid JSON): {exc}") from exc
        if not isinstance(data, dict):
            raise GraphError(f"{path} is corrupt: expected a JSON object, got {type(data).__name__}")
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise GraphError(f"{path} has format_version {version!r}; this gnm_nav reads version {FORMAT_VERSION}")
        meta = {k: v for k, v in data.items()
                if k not in ("format_version", "directed", "multigraph", "graph", "nodes", "edges", "links")}
        try:
            g = nx.node_link_graph(data, directed=True, multigraph=False, edges="edges")
        except (KeyError, TypeError, nx.NetworkXError) as exc:
            raise GraphError(f"{path} is corrupt (not networkx node-link data): {exc!r}") from exc
        graph = cls(nx.DiGraph(g), root, meta)
        graph.validate(allow_empty=allow_empty)
        return graph

    def validate(self, allow_empty: bool = False) -> None:
        """Raise GraphError naming the first problem: empty graph, bad attributes, missing images, bad edges."""
        where = self.root / GRAPH_FILE if self.root is not None else "graph"
        if len(self) == 0 and not allow_empty:
            raise GraphError(f"{where}: the graph is empty (no nodes)")
        for node, data in self.g.nodes(data=True):
            if isinstance(node, bool) or not isinstance(node, int):
                raise GraphError(f"{where}: node id {node!r} is not an integer")
            image = data.get("image")
            if not isinstance(image, str) or not image:
                raise GraphError(f"{where}: node {node} has no 'image'")
            if self.root is not None and not (self.root / image).resolve().is_relative_to(self.root.resolve()):
                raise GraphError(f"{where}: node {node} image {image!r} lies outside the graph directory")
            stamp = data.get("stamp")
            if isinstance(stamp, bool) or not isinstance(stamp, (int, float)) or not math.isfinite(stamp):
                raise GraphError(f"{where}: node {node} has no finite numeric 'stamp' (got {stamp!r})")
            pose = data.get("pose")
            if pose is not None and not (isinstance(pose, list) and len(pose) == 3 and all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in pose)):
                raise GraphError(f"{where}: node {node} 'pose' must be [x, y, yaw] of finite numbers, got {pose!r}")
            if node not in self._pending and self.root is not None and not (self.root / image).is_file():
                raise GraphError(f"{where}: image of node {node} is missing: {self.root / image}")
        for u, v, data in self.g.edges(data=True):
            weight = data.get("weight")
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 < weight < math.inf:
                raise GraphError(f"{where}: edge {u}->{v} needs a positive finite 'weight', got {weight!r}")
            if data.get("kind") not in EDGE_KINDS:
                raise GraphError(f"{where}: edge {u}->{v} has kind {data.get('kind')!r}, expected one of {EDGE_KINDS}")
