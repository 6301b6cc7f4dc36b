"""Bag replay: feed a recorded traversal through the planner and policy cores, faster than real time, and score it.

Time is the bag's stamps: the planner ticks every model step (0.25 s of bag time) on the context
built from the frames seen so far, and the policy turns each subgoal into a velocity command, as the
nodes would. The score says whether localisation tracked the route: the closest-node track, whether
the remaining route length shrank monotonically, relocalisation and lost events, and the commands.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import networkx as nx
import numpy as np

from gnm_nav.common.errors import DatasetError
from gnm_nav.gnm.preprocessing import preprocess_frame
from gnm_nav.graph.navigator import Navigator


@dataclass
class TickRecord:
    t: float  # seconds since the first frame
    closest: int | None
    distance: float
    subgoal: int | None
    remaining_s: float | None  # route length (edge weights) from the closest node to the goal
    relocalized: bool
    lost: bool
    goal_reached: bool
    v: float | None
    w: float | None


def remaining_route(graph: nx.DiGraph, goal: int) -> dict[int, float]:
    """Route length from every node that can reach the goal."""
    return nx.single_source_dijkstra_path_length(graph.reverse(copy=False), goal, weight="weight")


def run_replay(frames: Iterable[tuple[float, np.ndarray]], nav: Navigator, policy=None,
               progress: Callable[[int], None] | None = None) -> list[TickRecord]:
    """`frames`: (stamp, rgb) in bag order; `policy`: a gnm_nav.control.policy.GNMPolicy or None (planner only)."""
    goal = nav.planner.goal
    remaining = remaining_route(nav.graph.g, goal) if goal is not None else {}
    card = nav.card
    records: list[TickRecord] = []
    start: float | None = None
    next_tick: float | None = None
    for stamp, rgb in frames:
        start = stamp if start is None else start
        nav.on_frame(rgb, stamp)
        if progress is not None:
            progress(1)
        if next_tick is not None and stamp < next_tick:
            continue
        step = nav.tick()
        if step is None:
            continue
        # Keep the 4 Hz schedule of the node's timer whatever the camera rate (no drift to the frame grid).
        next_tick = next_tick + nav.period_s if next_tick is not None and next_tick + nav.period_s > stamp \
            else stamp + nav.period_s
        v = w = None
        if policy is not None and step.subgoal_image is not None and not step.plan.goal_reached:
            goal_img = preprocess_frame(step.subgoal_image, card.image_size, card.center_crop)
            out = policy.step(nav.context.model_input(), goal_img, stamp)
            v, w = out.v, out.w
        loc = step.localization
        records.append(TickRecord(stamp - start, loc.closest, loc.distance, step.plan.subgoal,
                                  remaining.get(loc.closest) if loc.closest is not None else None,
                                  loc.relocalized, loc.lost, step.plan.goal_reached, v, w))
        if step.plan.goal_reached:
            break
    if start is None:
        raise DatasetError("the bag has no images to replay")
    return records


def score(records: list[TickRecord], goal: int | None, wall_s: float, frames: int) -> dict[str, Any]:
    """Report figures; `progress_*` compare each tick's remaining route length with the previous one."""
    remaining = [r.remaining_s for r in records if r.remaining_s is not None]
    steps = np.diff(remaining) if len(remaining) > 1 else np.zeros(0)
    commands = [(r.v, r.w) for r in records if r.v is not None]
    vs = np.array([c[0] for c in commands]) if commands else np.zeros(0)
    ws = np.array([c[1] for c in commands]) if commands else np.zeros(0)
    duration = records[-1].t if records else 0.0
    reached = [r.t for r in records if r.goal_reached]
    return {
        "frames": frames,
        "ticks": len(records),
        "bag_duration_s": round(duration, 3),
        "wall_s": round(wall_s, 3),
        "speedup_x_real_time": round(duration / wall_s, 2) if wall_s > 0 else None,
        "goal_node": goal,
        "goal_reached": bool(reached),
        "time_to_goal_s": round(reached[0], 3) if reached else None,
        "localized_fraction": round(sum(r.closest is not None for r in records) / max(1, len(records)), 4),
        "start_remaining_s": remaining[0] if remaining else None,
        "end_remaining_s": remaining[-1] if remaining else None,
        "progress_monotonic_fraction": round(float(np.mean(steps <= 1e-9)), 4) if len(steps) else None,
        "progress_regressions": int(np.sum(steps > 1e-9)),
        "progress_max_regression_s": round(float(steps.max()), 3) if len(steps) and steps.max() > 0 else 0.0,
        "closest_node_changes": sum(1 for a, b in zip(records, records[1:]) if a.closest != b.closest),
        "relocalizations": sum(r.relocalized for r in records),
        "relocalization_times_s": [round(r.t, 3) for r in records if r.relocalized],
        "lost_ticks": sum(r.lost for r in records),
        "commands": len(commands),
        "commands_zero": int(np.sum((np.abs(vs) < 1e-9) & (np.abs(ws) < 1e-9))) if commands else 0,
        "v_mean": round(float(vs.mean()), 4) if commands else None,
        "w_abs_mean": round(float(np.abs(ws).mean()), 4) if commands else None,
    }


def plot_replay(records: list[TickRecord], out: Path, title: str) -> None:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gnm_nav.common.atomic import atomic_write_bytes

    t = np.array([r.t for r in records])
    fig, axes = plt.subplots(3, 1, figsize=(9, 8), dpi=100, sharex=True)
    closest = np.array([np.nan if r.closest is None else r.closest for r in records], dtype=float)
    subgoal = np.array([np.nan if r.subgoal is None else r.subgoal for r in records], dtype=float)
    axes[0].step(t, closest, where="post", label="closest node")
    axes[0].plot(t, subgoal, ".", markersize=3, label="subgoal node")
    reloc = [r.t for r in records if r.relocalized]
    for x in reloc:
        axes[0].axvline(x, color="tab:red", alpha=0.4)
    if reloc:
        axes[0].plot([], [], color="tab:red", alpha=0.4, label="relocalisation")
    axes[0].set_ylabel("node id")
    axes[0].legend(fontsize=8, loc="best")
    remaining = np.array([np.nan if r.remaining_s is None else r.remaining_s for r in records], dtype=float)
    axes[1].step(t, remaining, where="post", color="tab:green")
    axes[1].set_ylabel("route to goal [s]")
    v = np.array([np.nan if r.v is None else r.v for r in records], dtype=float)
    w = np.array([np.nan if r.w is None else r.w for r in records], dtype=float)
    axes[2].plot(t, v, label="v [m/s]")
    axes[2].plot(t, w, label="w [rad/s]")
    axes[2].set_ylabel("command")
    axes[2].set_xlabel("bag time [s]")
    axes[2].legend(fontsize=8, loc="best")
    axes[0].set_title(title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    atomic_write_bytes(out, buf.getvalue())


def replay_bag(frames: Iterable[tuple[float, np.ndarray]], nav: Navigator, policy, out_dir: Path,
               progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Run, score, and write report.json + replay.png into out_dir; returns the report."""
    from gnm_nav.common.atomic import atomic_write_json

    counted = 0

    def counting() -> Iterable[tuple[float, np.ndarray]]:
        nonlocal counted
        for item in frames:
            counted += 1
            yield item

    started = time.monotonic()
    records = run_replay(counting(), nav, policy, progress)
    report = score(records, nav.planner.goal, time.monotonic() - started, counted)
    report["track"] = [{"t": round(r.t, 3), "closest": r.closest,
                        "distance": round(float(r.distance), 3) if np.isfinite(r.distance) else None,
                        "subgoal": r.subgoal, "remaining_s": r.remaining_s, "relocalized": r.relocalized,
                        "lost": r.lost, "v": r.v, "w": r.w} for r in records]
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out_dir / "report.json", report)
    plot_replay(records, out_dir / "replay.png",
                f"replay: {report['ticks']} ticks, goal {report['goal_node']} "
                f"{'reached' if report['goal_reached'] else 'not reached'}, "
                f"{report['relocalizations']} relocalisations")
    return report
