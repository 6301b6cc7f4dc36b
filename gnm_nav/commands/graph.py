"""`gnm-nav graph …`: build a graph from a bag, import a topomap folder, add shortcuts, summarise, render."""
from __future__ import annotations

import argparse
import bisect
import time
from pathlib import Path

from gnm_nav.common.errors import DatasetError, GraphError
from gnm_nav.common.paths import DEFAULT_GNM_MODEL

HELP = ("topological graphs: build from a bag, import a topomap folder, add shortcuts, info, render to PNG, "
        "export/import Nav2 route graphs (GeoJSON)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="graph_command", metavar="SUBCOMMAND", required=True)

    p = sub.add_parser("import-topomap", help="import a folder of 0.png … N.png (one linear route)")
    p.add_argument("src", help="topomap folder")
    p.add_argument("--out", required=True, help="graph directory to write")
    p.add_argument("--force", action="store_true", help="replace an existing graph in --out")
    p.set_defaults(func=run_import)

    p = sub.add_parser("info", help="nodes, edges, components, branches, route length")
    p.add_argument("graph", help="graph directory")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run_info)

    p = sub.add_parser("render", help="draw the graph to a PNG (pose layout when nodes have poses)")
    p.add_argument("graph", help="graph directory")
    p.add_argument("--out", required=True, help="PNG file to write")
    p.add_argument("--thumbnails", type=int, default=6, help="node images drawn on the plot")
    p.set_defaults(func=run_render)

    p = sub.add_parser("export-geojson", help="write the graph as a Nav2 Route Server GeoJSON route graph")
    p.add_argument("graph", help="graph directory (nodes need odometry poses)")
    p.add_argument("--out", required=True, help="GeoJSON file to write")
    p.add_argument("--frame", help="frame of the node coordinates (default: the frame the graph was recorded in, "
                                   "else odom)")
    p.set_defaults(func=run_export_geojson)

    p = sub.add_parser("import-geojson", help="a graph directory from a route graph written by export-geojson "
                                              "(edges edited in QGIS, say)")
    p.add_argument("src", help="GeoJSON route graph")
    p.add_argument("--images", help="folder the nodes' image paths are relative to (default: the file's folder)")
    p.add_argument("--out", required=True, help="graph directory to write")
    p.add_argument("--force", action="store_true", help="replace an existing graph in --out")
    p.set_defaults(func=run_import_geojson)

    p = sub.add_parser("build", help="record a graph from a rosbag2 (a new session; --append grows an existing graph)")
    p.add_argument("--bag", required=True, help="rosbag2 folder (sqlite3 or MCAP)")
    p.add_argument("--image-topic", required=True, help="sensor_msgs/Image or CompressedImage topic")
    p.add_argument("--out", required=True, help="graph directory")
    p.add_argument("--append", action="store_true", help="add this bag as a new session of the graph in --out")
    p.add_argument("--odom-topic", help="nav_msgs/Odometry topic: stores poses and enables --record-distance")
    p.add_argument("--record-interval", type=float, default=1.0, help="seconds of bag time between nodes")
    p.add_argument("--record-distance", type=float, default=0.0,
                   help="metres of travel between nodes (needs --odom-topic; 0 = use the interval)")
    p.add_argument("--model", default=DEFAULT_GNM_MODEL, help="GNM ONNX model (links sessions, shortcuts)")
    p.add_argument("--link-distance", type=float, default=3.0,
                   help="max predicted distance (model steps) to attach/merge a session with earlier nodes")
    p.add_argument("--no-link", action="store_true",
                   help="with --append: record the session without linking it to earlier ones (no model needed)")
    p.add_argument("--shortcuts", action="store_true", help="run the shortcut pass after recording")
    p.add_argument("--providers", default="auto", help="ONNX Runtime providers: auto|tensorrt|cuda|cpu")
    p.set_defaults(func=run_build)

    p = sub.add_parser("fit-likelihood", help="fit the model's distance likelihood (localization_mode belief) on "
                                              "a GNM-format dataset of the robot's own camera")
    p.add_argument("--data", required=True, help="GNM-format dataset root of the robot's camera at the model's "
                                                 "step rate (e.g. `gnm-nav sim collect --robots ROBOT`)")
    p.add_argument("--model", default=DEFAULT_GNM_MODEL, help="GNM ONNX model")
    p.add_argument("--out", help="JSON file to write (default: <model>.likelihood.json beside the model, where the "
                                 "planner looks)")
    p.add_argument("--contexts", type=int, default=400, help="contexts drawn (each read against up to 41 "
                                                             "offsets and 4 unrelated frames)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--providers", default="auto", help="ONNX Runtime providers: auto|tensorrt|cuda|cpu")
    p.set_defaults(func=run_fit_likelihood)

    p = sub.add_parser("shortcuts", help="add edges between nodes the model predicts near each other")
    p.add_argument("graph", help="graph directory (updated in place)")
    p.add_argument("--model", default=DEFAULT_GNM_MODEL, help="GNM ONNX model")
    p.add_argument("--max-distance", type=float, default=3.0, help="predicted distance threshold (model steps)")
    p.add_argument("--per-node", type=int, default=2, help="at most this many shortcuts from each node")
    p.add_argument("--providers", default="auto", help="ONNX Runtime providers: auto|tensorrt|cuda|cpu")
    p.set_defaults(func=run_shortcuts)


def load_engine(model: str, providers: str = "auto"):
    from gnm_nav.common.paths import resolve_model_path
    from gnm_nav.gnm.engine import GNMEngine

    return GNMEngine(resolve_model_path(model), providers=providers)


def _check_out(out: Path, force: bool) -> None:
    from gnm_nav.graph.store import GRAPH_FILE

    if (out / GRAPH_FILE).exists() and not force:
        raise GraphError(f"{out} already holds a graph; pass --force to replace it or choose another --out")
    if out.exists() and not out.is_dir():
        raise GraphError(f"--out {out} exists and is not a directory")


def _print_summary(graph) -> None:
    from gnm_nav.graph.stats import graph_summary

    summary = graph_summary(graph)
    width = max(len(k) for k in summary)
    for key, value in summary.items():
        print(f"  {key:<{width}}  {value}")


def run_import(args: argparse.Namespace) -> int:
    from gnm_nav.graph.topomap import import_topomap

    out = Path(args.out)
    _check_out(out, args.force)
    graph = import_topomap(args.src)
    graph.save(out)
    print(f"imported {len(graph)} images from {args.src} as a linear route into {out}")
    _print_summary(graph)
    return 0


def run_info(args: argparse.Namespace) -> int:
    import json

    from gnm_nav.graph.stats import graph_summary
    from gnm_nav.graph.store import TopoGraph

    graph = TopoGraph.load(args.graph)
    if args.json:
        print(json.dumps(graph_summary(graph), indent=2))
    else:
        print(f"graph {args.graph}")
        _print_summary(graph)
    return 0


def run_render(args: argparse.Namespace) -> int:
    from gnm_nav.graph.render import render_graph
    from gnm_nav.graph.store import TopoGraph

    graph = TopoGraph.load(args.graph)
    render_graph(graph, args.out, thumbnails=args.thumbnails)
    print(f"wrote {args.out} ({len(graph)} nodes, {graph.g.number_of_edges()} edges)")
    return 0


def run_export_geojson(args: argparse.Namespace) -> int:
    from gnm_nav.common.atomic import atomic_write_json
    from gnm_nav.graph.geojson import to_route_graph
    from gnm_nav.graph.store import TopoGraph

    graph = TopoGraph.load(args.graph)
    doc = to_route_graph(graph, args.frame, name=Path(args.graph).resolve().name)
    atomic_write_json(args.out, doc)
    nodes = sum(1 for f in doc["features"] if f["geometry"]["type"] == "Point")
    frame = doc["features"][0]["properties"]["frame"]
    print(f"wrote {args.out}: {nodes} nodes, {len(doc['features']) - nodes} edges, coordinates in frame {frame!r}")
    sessions = {graph.g.nodes[n].get("session", 0) for n in graph.nodes()}
    if len(sessions) > 1:
        print(f"  note: {len(sessions)} recording sessions; each session's poses are in the odometry frame of its "
              f"own drive unless they were recorded in one shared frame")
    return 0


def run_import_geojson(args: argparse.Namespace) -> int:
    import json

    from gnm_nav.graph.geojson import from_route_graph

    src = Path(args.src)
    try:
        doc = json.loads(src.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GraphError(f"cannot read {src} as JSON: {exc}") from exc
    out = Path(args.out)
    images = Path(args.images) if args.images else src.resolve().parent
    _check_out(out, args.force)
    graph = from_route_graph(doc, images)
    graph.save(out)
    print(f"imported {len(graph)} nodes and {graph.g.number_of_edges()} edges from {src} into {out}")
    _print_summary(graph)
    return 0


class PoseLookup:
    """Odometry poses by stamp: the nearest one within `max_gap_s`."""

    def __init__(self, samples: list[tuple[float, float, float, float]], max_gap_s: float = 0.5) -> None:
        samples = sorted(samples)
        self.stamps = [s[0] for s in samples]
        self.poses = [s[1:] for s in samples]
        self.max_gap_s = max_gap_s

    def __call__(self, stamp: float) -> tuple[float, float, float] | None:
        i = bisect.bisect_left(self.stamps, stamp)
        best = min((j for j in (i - 1, i) if 0 <= j < len(self.stamps)),
                   key=lambda j: abs(self.stamps[j] - stamp), default=None)
        if best is None or abs(self.stamps[best] - stamp) > self.max_gap_s:
            return None
        return self.poses[best]


def run_build(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from gnm_nav.bag_io import iter_images, iter_odometry
    from gnm_nav.graph.builder import GraphBuilder, SessionLinker
    from gnm_nav.graph.store import GRAPH_FILE, TopoGraph

    out = Path(args.out)
    if args.record_distance > 0 and not args.odom_topic:
        raise DatasetError("--record-distance needs --odom-topic (poses come from odometry)")
    if args.append and (out / GRAPH_FILE).exists():
        graph = TopoGraph.load(out)
    else:
        _check_out(out, force=False)
        graph = TopoGraph(meta={"source": f"bag:{Path(args.bag).name}"})
    link = len(graph) > 0 and not args.no_link
    engine = load_engine(args.model, args.providers) if (link or args.shortcuts) else None
    linker = SessionLinker.for_graph(engine, graph, args.link_distance) if link else None
    poses = PoseLookup(list(iter_odometry(args.bag, args.odom_topic))) if args.odom_topic else None
    builder = GraphBuilder(graph, args.record_interval, args.record_distance, linker)
    session = builder.start_session()
    started = time.monotonic()
    frames, first, last = 0, None, None
    with tqdm(iter_images(args.bag, args.image_topic), desc="frames", unit="frame") as bar:
        for stamp, rgb in bar:
            frames += 1
            first = stamp if first is None else first
            last = stamp
            builder.offer(rgb, stamp, poses(stamp) if poses is not None else None)
            bar.set_postfix(nodes=len(session.nodes))
    builder.end_session()
    if not session.nodes:
        raise DatasetError(f"bag {args.bag} has no images on {args.image_topic}")
    shortcuts = []
    if args.shortcuts:
        from gnm_nav.graph.shortcuts import ShortcutConfig, add_shortcuts

        with tqdm(total=len(graph), desc="shortcuts", unit="node") as bar:
            shortcuts = add_shortcuts(graph, engine, ShortcutConfig(max_distance=args.link_distance),
                                      progress=bar.update)
    graph.save(out)
    elapsed = time.monotonic() - started
    bag_s = (last - first) if first is not None and last is not None else 0.0
    print(f"session {session.session}: {frames} frames ({bag_s:.1f} s of bag) -> {len(session.nodes)} nodes "
          f"in {elapsed:.1f} s ({bag_s / max(elapsed, 1e-6):.1f}x real time)")
    if session.attached_to:
        print(f"  attached at start to node {session.attached_to[0]} (predicted distance {session.attached_to[1]:.1f})")
    if session.merged_into:
        print(f"  merged at end into node {session.merged_into[0]} (predicted distance {session.merged_into[1]:.1f})")
    if linker is not None and not (session.attached_to or session.merged_into):
        print("  not linked to earlier sessions (no earlier node within --link-distance)")
    if args.shortcuts:
        print(f"  added {len(shortcuts)} shortcut edges")
    print(f"wrote {out}")
    _print_summary(graph)
    return 0


def run_shortcuts(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from gnm_nav.graph.shortcuts import ShortcutConfig, add_shortcuts
    from gnm_nav.graph.store import TopoGraph

    graph = TopoGraph.load(args.graph)
    engine = load_engine(args.model, args.providers)
    config = ShortcutConfig(max_distance=args.max_distance, per_node=args.per_node)
    with tqdm(total=len(graph), desc="shortcuts", unit="node") as bar:
        added = add_shortcuts(graph, engine, config, progress=bar.update)
    graph.save(args.graph)
    print(f"added {len(added)} shortcut edges to {args.graph} "
          f"({graph.g.number_of_edges()} edges now; threshold {args.max_distance} steps, <= {args.per_node} per node)")
    return 0


def run_fit_likelihood(args: argparse.Namespace) -> int:
    import shlex
    import sys

    import numpy as np
    from tqdm import tqdm

    from gnm_nav.common.paths import resolve_model_path
    from gnm_nav.data.gnm_format import read_dataset
    from gnm_nav.graph.likelihood import collect_readings, fit_likelihood, likelihood_path_for, save_likelihood

    if args.contexts < 1:
        raise ValueError("--contexts must be >= 1")
    model = resolve_model_path(args.model)
    engine = load_engine(args.model, args.providers)
    datasets = read_dataset(Path(args.data))
    with tqdm(total=args.contexts, desc="readings", unit="context") as bar:
        readings, far = collect_readings(engine, datasets, args.contexts, np.random.default_rng(args.seed),
                                         progress=bar.update)
    fitted_on = {"data": str(args.data), "datasets": sorted(ds.name for ds in datasets), "contexts": args.contexts,
                 "seed": args.seed, "model": model.name, "model_sha256": dict(engine.card.sha256),
                 "command": "gnm-nav " + shlex.join(sys.argv[1:])}
    likelihood = fit_likelihood(readings, far, fitted_on=fitted_on)
    out = Path(args.out) if args.out else likelihood_path_for(model)
    save_likelihood(likelihood, out)
    ahead = {k: m for k, m in zip(likelihood.offsets, likelihood.mean) if k in (0, 4, 8, 12, 16, 20, -8)}
    print(f"wrote {out}: predicted distance (median, model steps) at true offset "
          + ", ".join(f"{k:+d}: {m:.1f}" for k, m in ahead.items())
          + f"; unrelated frames {likelihood.far_mean:.1f} (spread {likelihood.far_sd:.1f})")
    return 0
