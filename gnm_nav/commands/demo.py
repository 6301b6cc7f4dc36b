"""`gnm-nav demo`: the closed-loop demo in a bundled world with the shipped models.

The expert drives one route while graph_builder_node records the graph; then the robot is put back near
the start and the navigation stack (planner, policy, and the safety filter when a shipped LDM was trained on
the model's encoder) drives it to the goal node, every node a separate process over DDS. Prints the outcome and
writes a report folder (summary.json, the trajectory PNG, the graph and every node's log).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from gnm_nav.common.paths import DEFAULT_GNM_MODEL

HELP = "run the closed-loop demo (bundled world: build a graph with the expert, then navigate it)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default=Path("out/demo"), type=Path, help="report folder")
    parser.add_argument("--world", default="office_11", help="world (a bundled name in config/worlds, or any world)")
    parser.add_argument("--robot", default="turtlebot", help="robot profile")
    parser.add_argument("--min-route-m", type=float, default=8.0, help="shortest route (m)")
    parser.add_argument("--model", default=DEFAULT_GNM_MODEL,
                        help=f"GNM model (default the shipped models/{DEFAULT_GNM_MODEL})")
    parser.add_argument("--anchor", action="store_true", help="also run the anchor mode (public code's behaviour)")
    parser.add_argument("--real-time-factor", type=float, default=1.0, help="sim speed-up")
    parser.add_argument("--seed", type=int, default=0, help="seed of the route")
    parser.add_argument("--domain-id", type=int, default=None, help="ROS_DOMAIN_ID (default a random private one)")
    parser.set_defaults(func=run)


def _latency_line(latency: dict[str, dict[str, float]]) -> str:
    parts = []
    for node, values in sorted(latency.items()):
        shown = ", ".join(f"{k.replace('_ms', '')} {v:.1f}" for k, v in sorted(values.items()))
        parts.append(f"{node}: {shown} ms")
    return "\n  ".join(parts) or "(no diagnostics received)"


def run(args: argparse.Namespace) -> int:
    import shutil

    from gnm_nav.commands.evaluate import resolve_models
    from gnm_nav.evaluation.campaign import run_campaign
    from gnm_nav.evaluation.modes import load_mode
    from gnm_nav.evaluation.routes import plan_routes
    from gnm_nav.evaluation.runner import EvalConfig

    gnm, ldm, filter_note = resolve_models(args.model, "", True)
    task = plan_routes([args.world], args.robot, 1, args.min_route_m, args.seed)[0][0]
    modes = [load_mode("ours" if ldm is not None else "ours_no_filter"),
             *([load_mode("anchor")] if args.anchor else [])]
    cfg = EvalConfig(model=gnm, ldm=ldm, robot=args.robot, real_time_factor=args.real_time_factor)
    for earlier in (args.out / "routes", args.out / "work", args.out / "summary.json"):  # the demo always runs afresh
        if earlier.is_dir():
            shutil.rmtree(earlier)
        elif earlier.exists():
            earlier.unlink()
    print(f"gnm-nav demo: world {args.world}, robot {args.robot}, a {task.planned_length_m:.1f} m route; "
          f"model {gnm.name}, {filter_note}.\n"
          "1) the expert drives the route while graph_builder_node records the graph\n"
          "2) the robot is put back near the start; planner + policy"
          f"{' + safety filter' if ldm else ''} drive it to the goal node (separate processes over DDS)")
    started = time.monotonic()
    settings = {"model": str(gnm), "ldm": str(ldm) if ldm else None, "robot": args.robot, "worlds": [args.world],
                "odom_noise": cfg.odom_noise, "changes": cfg.changes, "modes": {m.name: m.to_dict() for m in modes},
                "command_line": "gnm-nav " + " ".join(getattr(args, "argv", [])), "identity": {"demo": True}}
    result = run_campaign([task], modes, cfg, args.out, settings, args.domain_id)
    if result.get("routes_not_built"):
        print(f"the graph could not be built: {next(iter(result['routes_not_built'].values()))}")
        return 1
    record = json.loads((args.out / "routes" / f"{task.route_id}.json").read_text(encoding="utf-8"))
    graph = record["graph"]
    print(f"graph: {graph['nodes']} nodes from a {graph['expert_path_length_m']:.1f} m expert drive")
    for name, run_ in record["runs"].items():
        outcome = "SUCCESS" if run_["success"] else f"FAILED ({run_['reason']})"
        print(f"{name}: {outcome}")
        if "time_s" in run_:
            print(f"  time {run_['time_s']:.1f} s (sim), path {run_['path_length_m']:.1f} m "
                  f"(shortest {run_['shortest_path_m']:.1f} m), SPL {run_['spl']:.2f}, "
                  f"{run_['collisions']} collision(s), {run_['interventions']} filter intervention(s), "
                  f"ends {run_['final_distance_m']:.2f} m from the goal")
            print(f"  latency p50/p99: {_latency_line(run_.get('latency_ms', {}))}")
    print(f"report: {args.out} (summary.json, routes/{task.route_id}.png, work/ with the graph and node logs); "
          f"{time.monotonic() - started:.0f} s")
    return 0  # the demo ran: its outcome is the summary above, as with `gnm-nav eval`
