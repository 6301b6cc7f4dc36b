"""`gnm-nav bench stack`: latency inside the running stack, not of the parts in isolation.

The real node processes (the simulator rendering at its camera rate in real time, planner, policy, safety
filter) drive one route, as in `gnm-nav eval`, once per mode on the very same graph, so a lever (an int8
model, a setting) is measured before and after in one run. The evaluation's monitor times each camera frame
to the first command that answers it (commands carry their frame's stamp) at the base (`cmd_vel`, after the
filter) and at the policy (`cmd_vel_nav`); the planner reports its tick times on /diagnostics.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from gnm_nav.common.paths import DEFAULT_GNM_MODEL

HELP = "latency inside the running stack: camera -> cmd_vel and planner tick p50/p99, per mode on one graph"
FIGURES = {  # name in the results -> (node in the run's latency_ms, key)
    "camera_to_cmd_ms_p50": ("stack", "camera_to_cmd_ms_p50"),
    "camera_to_cmd_ms_p99": ("stack", "camera_to_cmd_ms_p99"),
    "camera_to_policy_ms_p50": ("stack", "camera_to_policy_ms_p50"),
    "camera_to_policy_ms_p99": ("stack", "camera_to_policy_ms_p99"),
    "planner_tick_ms_p50": ("topological_planner_node", "tick_ms_p50"),
    "planner_tick_ms_p99": ("topological_planner_node", "tick_ms_p99"),
    "policy_step_ms_p50": ("gnm_policy_node", "inference_ms_p50"),
    "policy_step_ms_p99": ("gnm_policy_node", "inference_ms_p99"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--modes", default="ours",
                        help="comma-separated evaluation modes (config/eval/*.yaml), each run on the same graph "
                             "(e.g. ours,ours_int8: before and after); default ours")
    parser.add_argument("--world", default="2005",
                        help="world (a seed or a name; default 2005, a tuning world whose 16 m route the stack drives "
                             "to its goal)")
    parser.add_argument("--robot", default="turtlebot", help="robot profile (default turtlebot)")
    parser.add_argument("--model", default=DEFAULT_GNM_MODEL, help="GNM model of the modes that do not name theirs")
    parser.add_argument("--ldm", default="", help="LDM model (default the shipped one, when it fits the GNM)")
    parser.add_argument("--seconds", type=float, default=90.0,
                        help="sim seconds each mode drives at most (the route's end comes first on a short route)")
    parser.add_argument("--real-time-factor", type=float, default=1.0,
                        help="sim speed (default 1: the camera at its real rate, as on the robot)")
    parser.add_argument("--graphs", type=Path, default=None,
                        help="reuse the graph an earlier `gnm-nav eval --out DIR` built for this route (default: "
                             "the one an earlier bench in --work built)")
    parser.add_argument("--work", type=Path, default=Path("out/bench_stack_work"),
                        help="folder for the graph, the route record and the nodes' logs, laid out as an "
                             "evaluation's (default out/bench_stack_work)")
    parser.add_argument("--seed", type=int, default=0, help="route seed")


def run(args: argparse.Namespace) -> dict[str, Any]:
    from gnm_nav.commands.evaluate import resolve_models
    from gnm_nav.common.atomic import atomic_write_json
    from gnm_nav.evaluation.campaign import private_domain_id
    from gnm_nav.evaluation.modes import parse_modes
    from gnm_nav.evaluation.monitor import StackMonitor
    from gnm_nav.evaluation.routes import PRESETS, plan_routes
    from gnm_nav.evaluation.runner import EvalConfig, evaluate_route

    if args.seconds <= 0 or args.real_time_factor <= 0:
        raise ValueError("--seconds and --real-time-factor must be > 0")
    modes = parse_modes(args.modes)
    gnm, ldm, note = resolve_models(args.model, args.ldm, any(m.use_safety_filter for m in modes))
    (task,), _ = plan_routes([args.world], args.robot, 1, PRESETS["standard"].min_route_m, args.seed)
    cfg = EvalConfig(model=gnm, ldm=ldm, robot=args.robot, real_time_factor=args.real_time_factor,
                     timeout_s=args.seconds)
    domain = private_domain_id()
    load_before = os.getloadavg()[0]
    route_file = args.work / "routes" / f"{task.route_id}.json"
    graphs = args.graphs or (args.work if route_file.is_file() else None)
    monitor = StackMonitor(domain_id=domain)
    try:
        record = evaluate_route(task, modes, cfg, args.work / "work" / task.route_id, monitor, domain, graphs)
    finally:
        monitor.close()
    if "error" in record:
        raise RuntimeError(record["error"])
    atomic_write_json(route_file, record)  # its graph serves the next bench on this route
    results: dict[str, Any] = {"world": task.world, "route_m": round(task.planned_length_m, 1), "robot": args.robot,
                               "model": gnm.name, "filter": note, "real_time_factor_asked": args.real_time_factor,
                               "cpus": os.cpu_count(), "load_avg_1min_before": load_before}
    results["modes"] = [m.name for m in modes]
    for mode in modes:
        run_record = record["runs"][mode.name]
        latency = run_record.get("latency_ms", {})
        results[f"{mode.name}.reason"] = run_record.get("reason", "")
        results[f"{mode.name}.real_time_factor"] = run_record.get("real_time_factor", float("nan"))
        results[f"{mode.name}.time_s"] = run_record.get("time_s", float("nan"))  # sim seconds the figures cover
        for name, (node, key) in FIGURES.items():
            results[f"{mode.name}.{name}"] = latency.get(node, {}).get(key, float("nan"))
    return results


def _pair(results: dict[str, Any], mode: str, figure: str) -> str:
    p50, p99 = results.get(f"{mode}.{figure}_p50"), results.get(f"{mode}.{figure}_p99")
    if p50 is None or p50 != p50:  # missing or NaN
        return "-"
    return f"{p50:.0f} / {p99:.0f}"


def _seconds(value: float | None) -> str:
    return "-" if value is None or value != value else f"{value:.0f}"


def markdown(results: dict[str, Any]) -> str:
    """The bench's figures as a Markdown table, one row per mode (what `gnm-nav bench report` writes)."""
    lines = [f"World {results['world']}, route {results['route_m']} m, {results['robot']}, {results['cpus']} CPUs, "
             f"sim at {results['real_time_factor_asked']:g}x real time; ms, p50 / p99.", "",
             "| mode | camera → cmd_vel | camera → policy | planner tick | policy step | real-time factor "
             "| driven (sim s) | run ended |",
             "|---|---|---|---|---|---|---|---|"]
    for mode in results["modes"]:
        lines.append(f"| {mode} | {_pair(results, mode, 'camera_to_cmd_ms')} | "
                     f"{_pair(results, mode, 'camera_to_policy_ms')} | {_pair(results, mode, 'planner_tick_ms')} | "
                     f"{_pair(results, mode, 'policy_step_ms')} | {results[f'{mode}.real_time_factor']:.2f} | "
                     f"{_seconds(results.get(f'{mode}.time_s'))} | {results[f'{mode}.reason']} |")
    return "\n".join(lines)
