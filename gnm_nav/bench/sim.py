"""`gnm-nav bench sim`: simulator environment steps per second per core, and data-collection throughput.

One step = kinematics + collision check + MuJoCo render at the given size + resize to the 85x64 model input,
in one process with llvmpipe limited to one thread (LP_NUM_THREADS=1), i.e. per core.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

MODEL_INPUT = (85, 64)
SIZES = ((160, 120), (85, 64))


HELP = "simulator steps/s per core (physics + render + resize) and collection frames/s"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--steps", type=int, default=600, help="timed steps per image size")
    parser.add_argument("--world", default="office_11", help="world to step in (see gnm-nav sim render-map)")
    parser.add_argument("--robot", default="turtlebot")
    parser.add_argument("--collect-frames", type=int, default=0,
                        help="also time a real `sim collect` of this many frames with --collect-workers workers")
    parser.add_argument("--collect-workers", type=int, default=2)


def _steps_per_s(world, profile, size: tuple[int, int], steps: int) -> float:
    import cv2
    import numpy as np

    from gnm_nav.sim.env import SimEnv

    rng = np.random.default_rng(0)
    with SimEnv(world, profile, image_size=size) as env:
        for _ in range(20):  # warm-up: first frames upload textures
            env.render()
        start = time.perf_counter()
        for _ in range(steps):
            r = env.step(float(rng.uniform(0, profile.max_v)), float(rng.uniform(-1, 1) * profile.max_w), 0.05)
            if r.collided:
                env.reset()
            frame = env.render()
            if size != MODEL_INPUT:
                frame = cv2.resize(frame, MODEL_INPUT, interpolation=cv2.INTER_AREA)
        return steps / (time.perf_counter() - start)


def run(args: argparse.Namespace) -> dict:
    os.environ.setdefault("LP_NUM_THREADS", "1")  # one llvmpipe thread: the figure is per core
    from gnm_nav.sim.env import load_profile
    from gnm_nav.sim.worlds import resolve_world

    world = resolve_world(args.world)
    profile = load_profile(args.robot)
    results: dict = {"world": world.name, "robot": profile.name, "lp_num_threads": os.environ["LP_NUM_THREADS"]}
    for w, h in SIZES:
        results[f"steps_per_s_per_core_{w}x{h}"] = _steps_per_s(world, profile, (w, h), args.steps)
    if args.collect_frames > 0:
        from gnm_nav.sim.collect import collect

        with tempfile.TemporaryDirectory() as tmp:
            s = collect(Path(tmp), n_worlds=2, robots=["turtlebot", "jackal"], frames=args.collect_frames, seed=0,
                        workers=args.collect_workers, progress_bar=False)
        rate = s.new_frames / s.seconds
        results[f"collect_frames_per_s_{args.collect_workers}_workers"] = rate
        results["collect_50k_frames_minutes_estimate"] = 50_000 / rate / 60.0
    return results
