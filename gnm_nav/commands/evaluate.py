"""`gnm-nav eval`: closed-loop navigation in simulated worlds, every mode on the very same graphs and starts.

For each route the expert drives once while graph_builder_node records the graph (the teach); then, once per
mode, the robot is put back near the start, in the world as the repeat finds it (`--changes`) and with its own
wheel-odometry error (`--odom-noise`), and the mode's stack drives to the goal node, all as separate processes
over DDS on a private domain. Modes are named parameter sets (config/eval/*.yaml). Outputs in --out:
summary.json (one object per mode), routes/*.json|png, trajectories.png, work/ (graphs and node logs); running
the same command again continues an interrupted evaluation. `gnm-nav eval report DIR` prints its tables.
"""
from __future__ import annotations

import argparse
import hashlib
import math
from pathlib import Path

from gnm_nav.common.errors import GnmNavError, ModelFileError
from gnm_nav.common.paths import DEFAULT_GNM_MODEL

HELP = "closed-loop navigation benchmark in simulation: our stack, its ablations and baselines on the same graphs"
DEFAULT_FIRST_SEED = 1000  # world seeds from here are held out of training


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from gnm_nav.evaluation.modes import DEFAULT_MODES
    from gnm_nav.evaluation.routes import PRESETS, START_PERTURBATION
    from gnm_nav.sim.odometry_error import PRESETS as ODOMETRY_PRESETS
    from gnm_nav.sim.world_changes import CHANGES

    parser.add_argument("--out", type=Path, help="output folder (required; the same folder continues a run)")
    parser.add_argument("--modes", default=",".join(DEFAULT_MODES),
                        help="comma-separated modes (config/eval/*.yaml; a mode with the filter also as "
                             f"NAME_no_filter). Default {','.join(DEFAULT_MODES)}")
    parser.add_argument("--preset", choices=tuple(PRESETS), default="standard",
                        help="routes: standard (>= 15 m), long (40-80 m in large: worlds), branching (a trunk and a "
                             "branch recording, the goal on the branch)")
    parser.add_argument("--odom-noise", choices=tuple(ODOMETRY_PRESETS), default="typical",
                        help="wheel-odometry error of the simulated robot (default typical)")
    parser.add_argument("--changes", choices=CHANGES, default="none",
                        help="what changes in the world between the teach drive and the repeat (default none)")
    parser.add_argument("--start-perturbation", default=f"{START_PERTURBATION[0]},{START_PERTURBATION[1]}",
                        metavar="XY_M,YAW_RAD",
                        help="how far each repeat starts from where the graph's recording started: a random offset "
                             "within XY_M and a heading within +-YAW_RAD, the same for every mode (default "
                             f"{START_PERTURBATION[0]},{START_PERTURBATION[1]}; 0,0 starts exactly there)")
    parser.add_argument("--params", type=Path, default=None,
                        help="ROS 2 parameters file over the package defaults, for every mode (the modes' own "
                             "settings still apply on top)")
    parser.add_argument("--worlds", default="",
                        help="comma-separated worlds (seed, FIRST..LAST seeds, FAMILY:SEED, shipped name, .yaml); "
                             "routes cycle through them, skipping (and naming) worlds with no route of the preset's "
                             f"length. Default: seeds {DEFAULT_FIRST_SEED}.. (held out of training), one route "
                             "each; bare seeds become large: worlds with --preset long")
    parser.add_argument("--robot", default="turtlebot", help="robot profile (default turtlebot, held out of training)")
    parser.add_argument("--routes", type=int, default=20, help="number of routes")
    parser.add_argument("--only", default="",
                        help="run only these of the --routes routes: comma-separated indices, the first number of "
                             "the route ids (e.g. 1,2,14 to rerun failures on the same graphs with --graphs)")
    parser.add_argument("--model", default=DEFAULT_GNM_MODEL, help="GNM ONNX model (a path or a name under models/)")
    parser.add_argument("--ldm", default="",
                        help="LDM safety filter model (default the shipped one trained on the GNM's encoder)")
    parser.add_argument("--graphs", type=Path, default=None,
                        help="reuse the graphs an earlier `gnm-nav eval --out DIR` built for the same routes "
                             "(same --seed, --worlds, --robot, --preset): models compared on the very same graphs")
    parser.add_argument("--build-only", action="store_true",
                        help="only build the graphs (for later runs with --graphs), navigate nothing")
    parser.add_argument("--min-route-m", type=float, default=None,
                        help="shortest route (m, planned; default the preset's: 15, long 40)")
    parser.add_argument("--timeout-s", type=float, default=None,
                        help="sim seconds allowed per navigation (default 60 + 3x the route at 60%% of max speed)")
    parser.add_argument("--startup-timeout-s", type=float, default=120.0,
                        help="wall seconds a stack may take to come up and publish its first subgoal (a stack that "
                             "never does counts as a failure to start); raise it on slow machines")
    parser.add_argument("--real-time-factor", type=float, default=2.0,
                        help="sim speed-up (2 keeps up on 2 busy cores; each run reports the one it achieved)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the routes, starts, odometry errors and changes")
    parser.add_argument("--domain-id", type=int, default=None, help="ROS_DOMAIN_ID (default a random private one)")
    parser.add_argument("--log-level", default="info", help="node log level")
    parser.set_defaults(func=run)

    sub = parser.add_subparsers(dest="eval_command", metavar="report")
    p = sub.add_parser("report", help="print (or write into a Markdown file) the tables of an evaluation")
    p.add_argument("dir", type=Path, help="an evaluation's --out folder (or its summary.json)")
    p.add_argument("--markdown", action="store_true", help="a Markdown table instead of plain text")
    p.add_argument("--update", type=Path, default=None,
                   help="write the Markdown table into this file, between `<!-- gnm-nav eval report: SECTION -->` "
                        "and `<!-- end of gnm-nav eval report -->`")
    p.add_argument("--section", default="", help="the name in that marker (default the folder's name)")
    p.set_defaults(func=run_report)


def resolve_models(model: str, ldm: str, need_filter: bool) -> tuple[Path, Path | None, str]:
    """(GNM, LDM or None, a note on the filter). A missing GNM, or an asked-for LDM that is missing or was
    trained on another encoder, is an error; without one asked for, the shipped LDM trained on the GNM's encoder
    (the default one first), else no filter."""
    from gnm_nav.common.paths import DEFAULT_LDM_MODEL, models_dir, resolve_model_path
    from gnm_nav.gnm.card import load_model_card
    from gnm_nav.ldm.export import check_encoder, load_ldm_card

    gnm = resolve_model_path(model)
    if not gnm.is_file():
        raise ModelFileError(f"GNM model {gnm} not found (train one with `gnm-nav train gnm`, or pass --model)")
    if not need_filter:
        return gnm, None, "no mode uses the safety filter"
    encoder_sha256 = load_model_card(gnm).sha256["obs"]
    if ldm:
        path = resolve_model_path(ldm)
        check_encoder(load_ldm_card(path), encoder_sha256, gnm.name)
        return gnm, path, f"safety filter {path.name}"
    default = models_dir() / DEFAULT_LDM_MODEL
    shipped = [default, *sorted(p for p in models_dir().glob("ldm_*.onnx") if p != default)]
    for candidate in (p for p in shipped if p.is_file()):
        if load_ldm_card(candidate).encoder_sha256 == encoder_sha256:
            return gnm, candidate, f"safety filter {candidate.name}"
    return gnm, None, f"safety filter off: no shipped LDM was trained on {gnm.name}'s encoder (pass --ldm)"


def parse_worlds(text: str, routes: int, prefix: str = "") -> list[str]:
    """'1000..1004,maze:3,box_room' -> ['1000', ..., '1004', 'maze:3', 'box_room']; '' -> seeds 1000.., two per
    route (one route each, in order; seeds too small for the route length are skipped). `prefix` ('large:') goes
    before bare seeds."""
    worlds: list[str] = []
    for item in (w.strip() for w in text.split(",")):
        first, sep, last = item.partition("..")
        if sep:
            if not (first.isdigit() and last.isdigit() and int(first) <= int(last)):
                raise GnmNavError(f"--worlds: {item!r} is not a seed range FIRST..LAST")
            worlds += [str(s) for s in range(int(first), int(last) + 1)]
        elif item:
            worlds.append(item)
    worlds = worlds or [str(DEFAULT_FIRST_SEED + i) for i in range(2 * routes)]
    return [f"{prefix}{w}" if w.isdigit() else w for w in worlds]


def check_worlds(worlds: list[str]) -> None:
    """Every world must resolve (a seed out of range, a misspelt name or a broken spec: one clear error)."""
    from gnm_nav.sim.worlds import resolve_world

    for world in dict.fromkeys(worlds):
        try:
            resolve_world(world)
        except GnmNavError as exc:
            raise GnmNavError(f"--worlds: {exc}") from None


def parse_start_perturbation(text: str) -> tuple[float, float]:
    """`XY_M,YAW_RAD` as two finite, non-negative numbers."""
    try:
        xy, yaw = (float(item) for item in text.split(","))
    except ValueError:
        raise GnmNavError(f"--start-perturbation: {text!r} is not XY_M,YAW_RAD (e.g. 0.25,0.25)") from None
    if not (math.isfinite(xy) and math.isfinite(yaw) and xy >= 0 and 0 <= yaw <= math.pi):
        raise GnmNavError(f"--start-perturbation: {text!r}: needs 0 <= XY_M and 0 <= YAW_RAD <= pi")
    return xy, yaw


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


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run(args: argparse.Namespace) -> int:
    from gnm_nav.evaluation.campaign import run_campaign
    from gnm_nav.evaluation.modes import SIM_NODE, check_params_file, parse_modes
    from gnm_nav.evaluation.report import table
    from gnm_nav.evaluation.routes import START_PERTURBATION, plan_routes, preset
    from gnm_nav.evaluation.runner import EvalConfig

    if args.out is None:
        raise GnmNavError("--out is required (the folder to write, or of an interrupted run to continue)")
    if args.routes < 1:
        raise GnmNavError(f"--routes must be >= 1, got {args.routes}")
    if args.startup_timeout_s <= 0:
        raise GnmNavError(f"--startup-timeout-s must be > 0, got {args.startup_timeout_s}")
    if args.real_time_factor <= 0:
        raise GnmNavError(f"--real-time-factor must be > 0, got {args.real_time_factor}")
    perturb = parse_start_perturbation(args.start_perturbation)
    modes = [] if args.build_only else parse_modes(args.modes)
    route_preset = preset(args.preset)
    min_route_m = route_preset.min_route_m if args.min_route_m is None else args.min_route_m
    if args.params is not None and modes:
        check_params_file(args.params, {n for m in modes for n in m.nodes} | {SIM_NODE})
    gnm, ldm, filter_note = resolve_models(args.model, args.ldm, any(m.use_safety_filter for m in modes))
    missing_filter = [m.name for m in modes if m.use_safety_filter and ldm is None]
    if missing_filter:
        raise GnmNavError(f"--modes {','.join(missing_filter)} need the safety filter: {filter_note}")
    if args.graphs is not None and not (args.graphs / "routes").is_dir():
        raise GnmNavError(f"--graphs {args.graphs}: not the folder of an earlier `gnm-nav eval` (no routes/ in it)")
    worlds = parse_worlds(args.worlds, args.routes, route_preset.world_prefix)
    check_worlds(worlds)
    tasks, skipped = plan_routes(worlds, args.robot, args.routes, min_route_m, args.seed,
                                 skip_unusable=True, route_preset=args.preset)
    if skipped:
        print(f"skipped {len(skipped)} world(s) with no {args.preset} route of {min_route_m} m: {', '.join(skipped)}")
    tasks = select_routes(tasks, args.only)
    used = list(dict.fromkeys(t.world for t in tasks))
    cfg = EvalConfig(model=gnm, ldm=ldm, robot=args.robot, real_time_factor=args.real_time_factor,
                     timeout_s=args.timeout_s, log_level=args.log_level, odom_noise=args.odom_noise,
                     changes=args.changes, startup_timeout_s=args.startup_timeout_s, perturb_xy_m=perturb[0],
                     perturb_yaw_rad=perturb[1], params_file=args.params.resolve() if args.params else None)
    print(f"gnm-nav eval: {len(tasks)} {args.preset} routes in {len(used)} worlds, robot {args.robot}, model "
          f"{gnm.name}, {filter_note}; odometry noise {args.odom_noise}, changes {args.changes}; modes: "
          f"{', '.join(m.name for m in modes) or 'none (--build-only)'}"
          + (f"; start perturbation {perturb[0]} m, {perturb[1]} rad" if perturb != START_PERTURBATION else "")
          + (f"; graphs from {args.graphs}" if args.graphs else "")
          + (f"; params {args.params}" if args.params else ""))
    identity = {"model_sha256": _sha256(gnm), "ldm_sha256": _sha256(ldm) if ldm else None, "robot": args.robot,
                "preset": args.preset, "min_route_m": min_route_m, "odom_noise": args.odom_noise,
                "changes": args.changes, "seed": args.seed, "worlds": worlds, "routes": args.routes,
                "params": args.params.read_text(encoding="utf-8") if args.params else None,
                "timeout_s": args.timeout_s, "real_time_factor": args.real_time_factor,
                # the default is left out (None), so runs from before the option still continue
                "start_perturbation": None if perturb == START_PERTURBATION else list(perturb)}
    settings = {"model": str(gnm), "ldm": str(ldm) if ldm else None, "robot": args.robot, "worlds": used,
                "preset": args.preset, "min_route_m": min_route_m, "odom_noise": args.odom_noise,
                "changes": args.changes, "params_file": str(args.params) if args.params else None,
                "start_perturbation": list(perturb),
                "only": args.only, "real_time_factor": args.real_time_factor, "seed": args.seed,
                "modes": {m.name: m.to_dict() for m in modes}, "graphs_from": str(args.graphs) if args.graphs else None,
                "command_line": "gnm-nav " + " ".join(getattr(args, "argv", [])), "identity": identity}
    result = run_campaign(tasks, modes, cfg, args.out, settings, args.domain_id, graphs_from=args.graphs)
    if modes:
        print(table(result))
    else:
        print(f"built {result['routes_total'] - len(result['routes_not_built'])} graph(s) for `--graphs {args.out}`")
    if result.get("routes_not_built"):
        print(f"{len(result['routes_not_built'])} route(s) could not be built; see summary.json")
    print(f"wrote {args.out / 'summary.json'}, {args.out / 'trajectories.png'} and routes/ (logs under work/)")
    return 0


def run_report(args: argparse.Namespace) -> int:
    from gnm_nav.evaluation.report import load_summary, markdown, table, update_document

    result = load_summary(args.dir)
    if args.update is not None:
        name = args.section or (args.dir if args.dir.is_dir() else args.dir.parent).resolve().name
        update_document(args.update, name, markdown(result))
        print(f"updated the table {name!r} in {args.update}")
        return 0
    print(markdown(result) if args.markdown else table(result))
    return 0
