"""Simulated test doubles: a GNM stand-in that knows the truth, and a small taught route to drive it on."""
from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import numpy as np


class OracleEngine:
    """Distances and waypoints from the truth: the robot's pose in `env`, each goal image's node place (its pose in
    the graph, or `places` where the graph holds odometry poses; found by the nearest preprocessed node image).
    steer=False: waypoints straight ahead at the true distance, a model that cannot steer."""

    def __init__(self, env, graph, places: np.ndarray | None = None, steer: bool = True) -> None:
        from gnm_nav.gnm.preprocessing import preprocess_frame

        self.card = SimpleNamespace(context_size=5, image_size=(85, 64), context_spacing_s=0.25, center_crop=False,
                                    len_traj_pred=5, path_of=lambda part: Path(f"/nonexistent/oracle.{part}.onnx"))
        self.env = env
        self.step_m = env.profile.max_v * self.card.context_spacing_s  # one model step at full speed
        nodes = graph.nodes()
        xy = places if places is not None else [graph.g.nodes[n]["pose"][:2] for n in nodes]
        self.nodes = [(preprocess_frame(graph.image(n), (85, 64)), xy[i]) for i, n in enumerate(nodes)]
        self.steer = steer

    def evaluate(self, obs: np.ndarray, goals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pose = self.env.pose
        dist, actions = [], []
        for goal in goals:
            gx, gy = min(self.nodes, key=lambda item: float(np.abs(item[0] - goal).mean()))[1]
            dx, dy = gx - pose.x, gy - pose.y
            c, s = math.cos(pose.yaw), math.sin(pose.yaw)
            local = np.array([c * dx + s * dy, -s * dx + c * dy])
            d = float(np.hypot(*local))
            local = local if self.steer else np.array([d, 0.0])
            dist.append(d / (0.8 * self.step_m))  # the expert drives at ~0.8 of full speed
            heading = math.atan2(local[1], local[0])
            ks = np.arange(1, 6)
            reach = np.minimum(1.0, ks * self.step_m / max(d, 1e-6))[:, None] * local[None] / self.step_m
            actions.append(np.column_stack([reach, np.full(5, math.cos(heading)), np.full(5, math.sin(heading))]))
        return np.asarray(dist, np.float32), np.asarray(actions, np.float32)


@contextmanager
def taught_room(config=None) -> Iterator[SimpleNamespace]:
    """box_room for the locobot and a route of 3-5 m across it, taught by the expert (env, planner, route, taught;
    config: the loop's LoopConfig, default its defaults)."""
    from gnm_nav.common.pose import Pose2D
    from gnm_nav.evaluation.closed_loop import LoopConfig, teach
    from gnm_nav.sim.env import SimEnv, load_profile
    from gnm_nav.sim.expert import GridPlanner, Route
    from gnm_nav.sim.worlds import resolve_world

    profile = load_profile("locobot")
    env = SimEnv(resolve_world("box_room"), profile, seed=0)
    planner = GridPlanner(env.grid, profile.body_radius_m)
    rng = np.random.default_rng(3)
    for _ in range(200):
        start, goal = planner.random_free_point(rng), planner.random_free_point(rng)
        path = planner.plan(tuple(start), tuple(goal))
        if 3.0 <= float(np.linalg.norm(np.diff(path, axis=0), axis=1).sum()) <= 5.0:
            break
    d = path[min(5, len(path) - 1)] - path[0]
    route = Route(Pose2D(float(start[0]), float(start[1]), math.atan2(d[1], d[0])), tuple(goal), path)
    try:
        taught = teach(env, planner, route, np.random.default_rng(0), config or LoopConfig())
        yield SimpleNamespace(env=env, planner=planner, route=route, taught=taught)
    finally:
        env.close()
