"""Closed-loop evidence in simulation: a deliberately degraded controller, with and without the filter.

The controller is the simulator's expert (the one that drove the training data) with a constant
turn bias and Gaussian noise added to its commands. Each route is driven twice from the same start
with the same noise: once raw, once through the SafetyFilter (camera frames at 4 Hz, embedded once
each, commands at 20 Hz). Reported per arm: collisions per 100 m and the fraction of routes completed.

    python -m gnm_nav.ldm.sim_eval --model LDM.onnx --encoder GNM.onnx [--world-seed 0 --routes 6]
"""
from __future__ import annotations

import argparse
import json
import math
import sys

import numpy as np

from gnm_nav.data.gnm_format import FRAME_RATE_HZ


def drive(env, planner, route, seed: int, bias_w: float, noise: float, max_time: float, safety=None,
          encoder=None, buffer=None) -> dict:
    """One route; safety (a SafetyFilter) filters every command when given."""
    from gnm_nav.sim.expert import ExpertDriver
    from gnm_nav.sim.rollout import CONTROL_DT

    rng = np.random.default_rng(seed)
    env.reset((route.start.x, route.start.y, route.start.yaw))
    driver = ExpertDriver(planner, env.profile, route, np.random.default_rng(seed))
    frame_every = int(round(1.0 / (FRAME_RATE_HZ * CONTROL_DT)))
    pose, collided, was_colliding = env.pose, False, False
    collisions, metres, k = 0, 0.0, 0
    states: dict[str, int] = {}
    if buffer is not None:
        buffer.reset()
    while k * CONTROL_DT <= max_time and not driver.done(pose):
        t = k * CONTROL_DT
        v, w = driver.command(pose, CONTROL_DT, collided)
        w += bias_w + noise * float(rng.normal())
        if safety is not None:
            if k % frame_every == 0 and buffer.push(env.render(), t) and buffer.ready:
                safety.set_observation(encoder.encode_observation(buffer.model_input()), t)
            decision = safety.on_command(v, w, t)
            v, w = decision.output if decision is not None and decision.output is not None else (0.0, 0.0)
            states[decision.state.value] = states.get(decision.state.value, 0) + 1
        result = env.step(v, w, CONTROL_DT)
        metres += math.hypot(result.pose.x - pose.x, result.pose.y - pose.y)
        collided = result.collided
        collisions += int(collided and not was_colliding)
        was_colliding = collided
        pose = result.pose
        k += 1
    return {"completed": bool(driver.done(pose)), "collisions": collisions, "metres": metres, "states": states}


def summarise(runs: list[dict]) -> dict:
    metres = sum(r["metres"] for r in runs)
    collisions = sum(r["collisions"] for r in runs)
    states: dict[str, int] = {}
    for r in runs:
        for key, n in r["states"].items():
            states[key] = states.get(key, 0) + n
    total = sum(states.values())
    return {"routes": len(runs), "completed": float(np.mean([r["completed"] for r in runs])),
            "metres": metres, "collisions": collisions,
            "collisions_per_100m": 100.0 * collisions / metres if metres > 0 else float("nan"),
            "state_fractions": {k: n / total for k, n in sorted(states.items())} if total else {}}


def evaluate(model: str, encoder_path: str, world_seed: int, robot: str, routes: int, bias_w: float, noise: float,
             seed: int, min_route_m: float) -> dict:
    from gnm_nav.gnm.context_buffer import ContextBuffer
    from gnm_nav.gnm.engine import GNMEngine
    from gnm_nav.ldm.export import LdmScorer, check_encoder
    from gnm_nav.ldm.filter import SafetyFilter
    from gnm_nav.sim.env import SimEnv, load_profile
    from gnm_nav.sim.expert import GridPlanner, sample_route
    from gnm_nav.sim.world_gen import generate_world

    scorer = LdmScorer(model)
    engine = GNMEngine(encoder_path, providers="cpu")
    check_encoder(scorer.card, engine.card.sha256["obs"], encoder_path)
    card = engine.card
    buffer = ContextBuffer(card.context_size, card.context_spacing_s, card.image_size, card.center_crop)
    profile = load_profile(robot)
    raw, filtered = [], []
    with SimEnv(generate_world(world_seed), profile, seed=seed) as env:
        planner = GridPlanner(env.grid, profile.body_radius_m)
        rng = np.random.default_rng([seed, world_seed])
        for i in range(routes):
            route = sample_route(planner, rng, min_route_m)
            max_time = 2.5 * route.length / profile.max_v + 20.0
            raw.append(drive(env, planner, route, seed + i, bias_w, noise, max_time))
            safety = SafetyFilter(scorer.score, scorer.card.action_grid.candidates(), scorer.card.threshold)
            filtered.append(drive(env, planner, route, seed + i, bias_w, noise, max_time, safety, engine, buffer))
    return {"world_seed": world_seed, "robot": robot, "bias_w": bias_w, "noise": noise,
            "without_filter": summarise(raw), "with_filter": summarise(filtered)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="LDM head .onnx")
    parser.add_argument("--encoder", required=True, help="the GNM .onnx it was trained for")
    parser.add_argument("--world-seed", type=int, default=0)
    parser.add_argument("--robot", default="locobot")
    parser.add_argument("--routes", type=int, default=6)
    parser.add_argument("--bias-w", type=float, default=0.4, help="rad/s added to every turn command")
    parser.add_argument("--noise", type=float, default=0.3, help="rad/s std of noise added to turn commands")
    parser.add_argument("--min-route-m", type=float, default=6.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    report = evaluate(args.model, args.encoder, args.world_seed, args.robot, args.routes, args.bias_w, args.noise,
                      args.seed, args.min_route_m)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
