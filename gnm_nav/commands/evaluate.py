"""`gnm-nav eval`: closed-loop navigation in simulated worlds, our stack against the public code's behaviour.

For each route the expert drives once while graph_builder_node records the graph; then the robot is put
back near the start and the navigation stack (planner, policy, safety filter) drives to the goal node, all
as separate processes over DDS on a private domain. The anchor mode runs the same model the way the
public deployment code does (window localisation, its controller, no filter). Outputs in --out:
summary.json, routes/*.json|png, trajectories.png, work/ (graphs and node logs).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from gnm_nav.errors import GnmNavError, ModelFileError

HELP = "closed-loop navigation evaluation in simulation (ours vs the public code's behaviour)"
DEFAULT_FIRST_SEED = 1000  # world seeds from here are held out of training


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--worlds", default="",
                        help="comma-separated worlds (seed, FIRST..LAST seeds, FAMILY:SEED, shipped name, .yaml); "
                             f"routes cycle through them. Default: seeds {DEFAULT_FIRST_SEED}.. (held out of "
                             "training), one route each")
    parser.add_argument("--robot", default="turtlebot", help="robot profile (default turtlebot, held out of training)")
    parser.add_argument("--routes", type=int, default=20, help="number of routes")
    parser.add_argument("--only", default="",
                        help="run only these of the --routes routes: comma-separated indices, the first number of "
                             "the route ids (e.g. 1,2,14 to rerun failures on the same graphs with --graphs)")
    parser.add_argument("--model", default="gnm_sim.onnx", help="GNM ONNX model (a path or a name under models/)")
    parser.add_argument("--ldm", default="",
                        help="LDM safety filter model (default models/ldm_sim.onnx when it exists)")
    parser.add_argument("--no-filter", action="store_true", help="run our stack without the safety filter")
    parser.add_argument("--anchor", action=argparse.BooleanOptionalAction, default=True,
                        help="also run the anchor mode (the public deployment code's behaviour)")
    parser.add_argument("--graphs", type=Path, default=None,
                        help="reuse the graphs an earlier `gnm-nav eval --out DIR` built for the same routes "
                             "(same --seed, --worlds, --robot): models compared on the very same graphs, and faster")
    parser.add_argument("--build-only", action="store_true",
                        help="only build the graphs (for later runs with --graphs), navigate nothing")
    parser.add_argument("--min-route-m", type=float, default=15.0, help="shortest route (m, planned)")
    parser.add_argument("--timeout-s", type=float, default=None,
                        help="sim seconds allowed per navigation (default 60 + 3x the route at 60%% of max speed)")
    parser.add_argument("--real-time-factor", type=float, default=2.0,
                        help="sim speed-up (2 keeps up on 2 busy cores; each run reports the one it achieved)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the routes and start perturbations")
    parser.add_argument("--domain-id", type=int, default=None, help="ROS_DOMAIN_ID (default a random private one)")
    parser.add_argument("--log-level", default="info", help="node log level")
    parser.set_defaults(func=run)


def resolve_models(model: str, ldm: str, no_filter: bool) -> tuple[Path, Path | None, str]:
    """(GNM, LDM or None, a note on the filter). A missing GNM, or an asked-for LDM that is missing or was
    trained on another encoder, is an error; the shipped LDM is used only with the encoder it was made for."""
    from gnm_nav.ldm.export import EncoderMismatchError, check_encoder, load_ldm_card
    from gnm_nav.model_card import load_model_card
    from gnm_nav.paths import resolve_model_path

    gnm = resolve_model_path(model)
    if not gnm.is_file():
        raise ModelFileError(f"GNM model {gnm} not found (train one with `gnm-nav train gnm`, or pass --model)")
    if no_filter:
        return gnm, None, "safety filter off (--no-filter)"
    encoder_sha256 = load_model_card(gnm).sha256["obs"]
    if ldm:
        path = resolve_model_path(ldm)
        check_encoder(load_ldm_card(path), encoder_sha256, gnm.name)
        return gnm, path, f"safety filter {path.name}"
    shipped = resolve_model_path("ldm_sim.onnx")
    if not shipped.is_file():
        return gnm, None, "safety filter off: models/ldm_sim.onnx not found"
    try:
        check_encoder(load_ldm_card(shipped), encoder_sha256, gnm.name)
    except EncoderMismatchError:
        return gnm, None, f"safety filter off: {shipped.name} belongs to another encoder than {gnm.name} (pass --ldm)"
    return gnm, shipped, f"safety filter {shipped.name}"


def parse_worlds(text: str, routes: int) -> list[str]:
    """'1000..1004,maze:3,box_room' -> ['1000', ..., '1004', 'maze:3', 'box_room']; '' -> seeds 1000.., two per
    route (one route each, in order; seeds too small for the route length are skipped)."""
    worlds: list[str] = []
    for item in (w.strip() for w in text.split(",")):
        first, sep, last = item.partition("..")
        if sep:
            if not (first.isdigit() and last.isdigit() and int(first) <= int(last)):
                raise GnmNavError(f"--worlds: {item!r} is not a seed range FIRST..LAST")
            worlds += [str(s) for s in range(int(first), int(last) + 1)]
        elif item:
            worlds.append(item)
    return worlds or [str(DEFAULT_FIRST_SEED + i) for i in range(2 * routes)]


def select_routes(tasks: list, only: str) -> list:
    """The tasks whose index (the number their route id starts with) is listed in `only` ('' = all)."""
    if not only.strip():
        return tasks
    try:
        wanted = {int(item) for item in only.split(",") if item.strip()}
    except ValueError:
        raise GnmNavError(f"--only: {only!r} is not a comma-separated list of route indices") from None
    missing = sorted(i for i in wanted if not 0 <= i < len(tasks))
    if missing:
        raise GnmNavError(f"--only: no route {missing} among the {len(tasks)} routes (indices 0..{len(tasks) - 1})")
    return [t for i, t in enumerate(tasks) if i in wanted]


def run(args: argparse.Namespace) -> int:
    from gnm_nav.evaluation.campaign import run_campaign
    from gnm_nav.evaluation.report import table
    from gnm_nav.evaluation.routes import plan_routes
    from gnm_nav.evaluation.runner import ANCHOR, EvalConfig, ours

    if args.routes < 1:
        raise GnmNavError(f"--routes must be >= 1, got {args.routes}")
    if args.real_time_factor <= 0:
        raise GnmNavError(f"--real-time-factor must be > 0, got {args.real_time_factor}")
    gnm, ldm, filter_note = resolve_models(args.model, args.ldm, args.no_filter)
    worlds = parse_worlds(args.worlds, args.routes)
    tasks, skipped = plan_routes(worlds, args.robot, args.routes, args.min_route_m, args.seed,
                                 skip_unusable=not args.worlds)
    if skipped:
        print(f"skipped {len(skipped)} world(s) with no route of {args.min_route_m} m: {', '.join(skipped)}")
    tasks = select_routes(tasks, args.only)
    used = list(dict.fromkeys(t.world for t in tasks))
    modes = [] if args.build_only else [ours(ldm is not None)] + ([ANCHOR] if args.anchor else [])
    if args.graphs is not None and not (args.graphs / "routes").is_dir():
        raise GnmNavError(f"--graphs {args.graphs}: not the folder of an earlier `gnm-nav eval` (no routes/ in it)")
    cfg = EvalConfig(model=gnm, ldm=ldm, robot=args.robot, real_time_factor=args.real_time_factor,
                     timeout_s=args.timeout_s, log_level=args.log_level)
    print(f"gnm-nav eval: {len(tasks)} routes in {len(used)} worlds, robot {args.robot}, "
          f"model {gnm.name}, {filter_note}; modes: {', '.join(m.name for m in modes) or 'none (--build-only)'}"
          + (f"; graphs from {args.graphs}" if args.graphs else ""))
    settings = {"model": str(gnm), "ldm": str(ldm) if ldm else None, "robot": args.robot, "worlds": used,
                "min_route_m": args.min_route_m, "only": args.only, "real_time_factor": args.real_time_factor, "seed": args.seed,
                "command_line": "gnm-nav " + " ".join(getattr(args, "argv", []))}
    settings["graphs_from"] = str(args.graphs) if args.graphs else None
    result = run_campaign(tasks, modes, cfg, args.out, settings, args.domain_id, graphs_from=args.graphs)
    if modes:
        print(table(result, [m.name for m in modes]))
    else:
        print(f"built {result['routes_total'] - len(result['routes_not_built'])} graph(s) for `--graphs {args.out}`")
    if result.get("routes_not_built"):
        print(f"{len(result['routes_not_built'])} route(s) could not be built; see summary.json")
    print(f"wrote {args.out / 'summary.json'}, {args.out / 'trajectories.png'} and routes/ (logs under work/)")
    return 0
