"""`gnm-nav bench policy`: one navigation step, anchor-style vs ours, interleaved in one run.

anchor-style: the public deployment's step: one batch of 10 localisation candidates through the
  whole network (the observation repeated 10 times) plus one batch-1 policy call on the subgoal.
ours: GNMEngine.evaluate(obs, 10 goals): the observation branch once, the goal branch batched;
  the subgoal's row also gives the policy's waypoints, so there is no second call.
Both use the same ONNX Runtime session settings, so the difference is the algorithm.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

HELP = "GNM step latency: anchor-style (10-candidate batch + policy call) vs ours (observation branch once)"
CANDIDATES = 10  # the anchor's localisation window: closest-4 .. closest+5
WARMUP_ITERS = 5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="ONNX model (with card and parts); default: a random-init GNM exported "
                                        "to a temporary folder")
    parser.add_argument("--iters", type=int, default=100, help="timed steps per variant (default 100)")
    parser.add_argument("--providers", default="auto", choices=("auto", "tensorrt", "cuda", "cpu"))
    parser.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads (default: engine default)")
    parser.add_argument("--skip-dds", action="store_true",
                        help="skip the camera -> cmd_vel_nav latency through a gnm_policy_node process")


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.iters < 1:
        raise ValueError("--iters must be >= 1")
    with tempfile.TemporaryDirectory(prefix="gnm_bench_") as tmp:
        model_path = Path(args.model) if args.model else _export_random_model(Path(tmp))
        results = {"load_avg_1min": os.getloadavg()[0]}  # the machine is shared: say how busy it was
        results.update(bench_policy_step(model_path, args.iters, args.providers, args.threads))
        if not args.skip_dds:
            from gnm_nav.bench.dds_latency import measure_camera_to_cmd_latency

            results.update(measure_camera_to_cmd_latency(model_path))
        return results


def _export_random_model(folder: Path) -> Path:
    from gnm_nav.gnm.export import export_gnm, random_init_gnm

    path = folder / "gnm_random.onnx"
    export_gnm(random_init_gnm(seed=0), path)
    return path


def bench_policy_step(model_path: Path, iters: int, providers: str = "auto",
                      threads: int | None = None) -> dict[str, Any]:
    """p50/p99 step latency of both variants, measured alternately so load changes hit both alike."""
    from tqdm import tqdm

    from gnm_nav.gnm.engine import GNMEngine

    engine = GNMEngine(model_path, providers=providers, threads=threads)
    whole = engine.open_session("whole")  # same settings as the engine's own sessions
    rng = np.random.default_rng(0)
    obs = rng.standard_normal(engine.obs_shape, dtype=np.float32)
    goals = rng.standard_normal((CANDIDATES, *engine.goal_shape), dtype=np.float32)
    subgoal = goals[CANDIDATES // 2:CANDIDATES // 2 + 1]

    def anchor_step() -> None:
        whole.run(None, {"obs_img": np.repeat(obs, CANDIDATES, axis=0), "goal_img": goals})
        whole.run(None, {"obs_img": obs, "goal_img": subgoal})

    def our_step() -> None:
        engine.evaluate(obs, goals)

    variants: dict[str, Callable[[], None]] = {"anchor_style": anchor_step, "ours": our_step}
    times: dict[str, list[float]] = {name: [] for name in variants}
    for i in tqdm(range(WARMUP_ITERS + iters), desc="bench policy", unit="step"):
        order = list(variants) if i % 2 == 0 else list(reversed(variants))
        for name in order:
            start = time.perf_counter()
            variants[name]()
            if i >= WARMUP_ITERS:
                times[name].append((time.perf_counter() - start) * 1e3)
    results: dict[str, Any] = {}
    for name, samples in times.items():
        results[f"{name}_ms_p50"] = float(np.percentile(samples, 50))
        results[f"{name}_ms_p99"] = float(np.percentile(samples, 99))
    results["speedup_p50"] = results["anchor_style_ms_p50"] / results["ours_ms_p50"]
    results["iters"] = iters
    results["candidates"] = CANDIDATES
    results["threads"] = engine.threads
    results["providers"] = ",".join(engine.providers)
    return results
