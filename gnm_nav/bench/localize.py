"""Localisation cost vs graph size: per-tick window scoring and global relocalisation on 100 … 10,000 nodes.

Graphs are synthetic routes (gnm_nav.graph.synthetic) with a branch every 50 nodes; node images
are held as the planner holds them (uint8 at model resolution + descriptors). Reported per size N:
window_ms_p50_N (one tick: window scoring in one batched model call), relocalize_ms_p50_N
(descriptor top-K over all N nodes + one batched model call), descriptor_build_s_N (the vectorised
fast path over all node images), rss_mb_N (process resident memory with that graph loaded).
"""
from __future__ import annotations

import argparse
import gc
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HELP = "localisation: window tick and global relocalisation cost, memory, on 100/1,000/10,000-node graphs"
SPACING_PX = 8


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from gnm_nav.graph.localization import LocalizerConfig

    parser.add_argument("--model", help="GNM ONNX model (default: a seeded random-init GNM exported to a temp dir)")
    parser.add_argument("--providers", default="auto", help="ONNX Runtime providers: auto|tensorrt|cuda|cpu")
    parser.add_argument("--sizes", default="100,1000,10000", help="comma-separated graph sizes")
    parser.add_argument("--ticks", type=int, default=15, help="timed window ticks per size")
    parser.add_argument("--relocalizations", type=int, default=7, help="timed relocalisations per size")
    parser.add_argument("--top-k", type=int, default=LocalizerConfig.relocalize_top_k,
                        help="relocalisation candidates scored by the model")


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def synthetic_graph(n: int):
    """A route of n nodes with a side branch every 50 nodes (nx.DiGraph), its node images, and a texture to view it."""
    import networkx as nx

    from gnm_nav.graph.synthetic import route_texture, view

    texture = route_texture(n * SPACING_PX, seed=n)
    images = np.stack([view(texture, i * SPACING_PX) for i in range(n)])
    g = nx.DiGraph()
    nx.add_path(g, range(n), weight=1.0, kind="temporal")
    for i in range(0, n - 60, 50):
        g.add_edge(i + 40, i + 10, weight=1.0, kind="shortcut")  # branches: the window is not just a line
    return g, images, texture


def _export_random_model(directory: Path) -> Path:
    """Exported in a child process, so torch does not count in this process's memory figures."""
    path = directory / "gnm_random.onnx"
    code = ("import sys; from gnm_nav.gnm.export import export_gnm, random_init_gnm; "
            "export_gnm(random_init_gnm(seed=0), sys.argv[1])")
    subprocess.run([sys.executable, "-c", code, str(path)], check=True)
    return path


def run(args: argparse.Namespace) -> dict:
    from gnm_nav.gnm.engine import GNMEngine
    from gnm_nav.gnm.preprocessing import to_model_input
    from gnm_nav.graph.bank import NodeBank
    from gnm_nav.graph.localization import Localizer, LocalizerConfig
    from gnm_nav.graph.synthetic import view

    results: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        model = Path(args.model) if args.model else _export_random_model(Path(tmp))
        engine = GNMEngine(model, providers=args.providers)
        results["model"] = str(args.model or "random-init GNM")
        results["providers"] = ",".join(engine.providers)
        results["model_setup_s"] = round(time.perf_counter() - started, 2)
        results["rss_mb_model_only"] = round(rss_mb(), 1)
        results["relocalize_top_k"] = args.top_k
        config = LocalizerConfig(relocalize_top_k=args.top_k, accept_distance=float("inf"),
                                 lost_distance=float("inf"))
        rng = np.random.default_rng(0)
        for n in (int(s) for s in args.sizes.split(",")):
            graph, images, texture = synthetic_graph(n)
            started = time.perf_counter()
            bank = NodeBank(range(n), images)
            results[f"descriptor_build_s_{n}"] = round(time.perf_counter() - started, 3)
            localizer = Localizer(graph, bank, engine.evaluate, config)
            position = float(rng.integers(0, n)) * SPACING_PX
            frame = view(texture, position + 2)
            obs = to_model_input([frame] * (engine.card.context_size + 1))
            localizer.step(obs, frame)  # global start (warm-up)
            window = []
            for _ in range(args.ticks):
                t0 = time.perf_counter()
                localizer.step(obs, frame)
                window.append((time.perf_counter() - t0) * 1e3)
            reloc = []
            for _ in range(args.relocalizations):
                frame = view(texture, float(rng.integers(0, n)) * SPACING_PX + 3)
                t0 = time.perf_counter()
                localizer.relocalize(obs, frame)
                reloc.append((time.perf_counter() - t0) * 1e3)
            assert localizer.belief is not None, "the bench's frames are views of the graph: it localises"
            results[f"window_nodes_{n}"] = len(localizer.window(localizer.belief))
            results[f"window_ms_p50_{n}"] = round(float(np.percentile(window, 50)), 2)
            results[f"relocalize_ms_p50_{n}"] = round(float(np.percentile(reloc, 50)), 2)
            results[f"rss_mb_{n}"] = round(rss_mb(), 1)
            results[f"bank_mb_{n}"] = round((bank.images.nbytes + bank.descs.nbytes) / 2**20, 1)
            del graph, images, texture, bank, localizer
            gc.collect()
    return results
