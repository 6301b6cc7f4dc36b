"""How far a model reads each taught node from the node's own pose, in the world as taught and as changed.

The expert teaches routes (as `gnm-nav closed-loop` does); every third node's pose is rendered again in the world
as taught, with the furniture moved, relit, and both (the benchmark's `--changes`), and the model's distance from
that frame to the node's own image is read. A model that matches places across a change reads them all near;
docs/decisions.md quotes this for gnm_sim and gnm_relit. Usage:

    MUJOCO_GL=egl python tools/node_readings.py models/gnm_sim.onnx [--worlds 2000..2007 --routes 4]
"""
from __future__ import annotations

import argparse

import numpy as np

from gnm_nav.commands.evaluate import parse_worlds
from gnm_nav.evaluation.closed_loop import teach
from gnm_nav.evaluation.routes import plan_routes, repeat_world_spec
from gnm_nav.gnm.engine import GNMEngine
from gnm_nav.gnm.preprocessing import preprocess_frame
from gnm_nav.graph.localization import single_frame_obs
from gnm_nav.sim.env import SimEnv, load_profile
from gnm_nav.sim.expert import GridPlanner, Route
from gnm_nav.sim.world_changes import CHANGES
from gnm_nav.sim.worlds import resolve_world

ROBOT = "turtlebot"


def readings(model: str, worlds: str, routes: int, every: int = 3) -> dict[str, list[float]]:
    engine = GNMEngine(model)
    card, profile = engine.card, load_profile(ROBOT)
    tasks, _ = plan_routes(parse_worlds(worlds, routes), ROBOT, routes, 15.0, seed=0, skip_unusable=True)
    out: dict[str, list[float]] = {c: [] for c in CHANGES}
    for task in tasks:
        env = SimEnv(resolve_world(task.world), profile, seed=0)
        try:
            planner = GridPlanner(env.grid, profile.body_radius_m)
            route = Route(task.start, task.goal, planner.plan((task.start.x, task.start.y), task.goal))
            taught = teach(env, planner, route, np.random.default_rng([0, task.seed]))
            goal = taught.goal_pose
            for change in CHANGES:
                there = env if change == "none" else SimEnv(
                    repeat_world_spec(task, (goal.x, goal.y), change, ROBOT)[0], profile, seed=0)
                try:
                    for node in taught.graph.nodes()[::every]:
                        there.pose.x, there.pose.y, there.pose.yaw = taught.graph.g.nodes[node]["pose"]
                        obs = single_frame_obs(there.render(), card.context_size, card.image_size, card.center_crop)
                        image = preprocess_frame(taught.graph.image(node), card.image_size, card.center_crop)
                        out[change].append(float(engine.evaluate(obs, image[None])[0][0]))
                finally:
                    if there is not env:
                        there.close()
        finally:
            env.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--worlds", default="2000..2007", help="world seeds (the tuning set)")
    parser.add_argument("--routes", type=int, default=4)
    args = parser.parse_args()
    for change, values in readings(args.model, args.worlds, args.routes).items():
        v = np.asarray(values)
        print(f"{change:10s} nodes {len(v)}: median {np.median(v):.1f} steps (p25 {np.percentile(v, 25):.1f}, "
              f"p75 {np.percentile(v, 75):.1f}), within 4.5 steps {np.mean(v <= 4.5):.0%}")


if __name__ == "__main__":
    main()
