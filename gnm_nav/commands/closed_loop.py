"""`gnm-nav closed-loop MODEL`: the model drives alone on a fixed set of simulated routes, beside its open-loop card.

Open-loop figures (the held-out samples' waypoint and distance errors) need not predict driving: a model steers
well on the expert's states and still leaves the route once it is off them. This command runs the model the way
the benchmark's `vision_only_no_filter` mode does (evaluation.closed_loop: expert-taught graph, no odometry, no
filter) on routes in worlds no model was trained or tuned on, writes a JSON report with a picture of every route,
and with `--card` puts the figure into the model's card. `--compare` reads several cards and says which
open-loop figure ranks them as their closed-loop figures do.
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

HELP = "drive the model alone on fixed simulated routes (vision only); the figure into its card (--card)"
CARD_WORLDS = "3000..3019"  # the card's routes: worlds no training, tuning or benchmark run has used
CARD_ROUTES = 10
CARD_ROBOT = "turtlebot"  # the body every shipped GNM is held out of
COUNTS = {"test_samples"}  # entries of the open-loop report that are not figures of the model


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from gnm_nav.control.controller import CONTROLLERS
    from gnm_nav.sim.world_changes import CHANGES

    parser.add_argument("model", nargs="*", help="GNM ONNX file(s) with their cards")
    parser.add_argument("--worlds", default=CARD_WORLDS, help="world seeds or names (FIRST..LAST, comma-separated)")
    parser.add_argument("--routes", type=int, default=CARD_ROUTES)
    parser.add_argument("--robot", default=CARD_ROBOT, help="the body that drives (held out of training)")
    parser.add_argument("--min-route-m", type=float, default=15.0)
    parser.add_argument("--seed", type=int, default=0, help="seed of the routes and the repeat's start offsets")
    parser.add_argument("--changes", default="none", choices=CHANGES,
                        help="what changes in the world between the teach and the repeat, as gnm-nav eval --changes "
                             "(the card's figure: none)")
    parser.add_argument("--localization-mode", default="graph",
                        help="graph, belief or oracle: the planner's localiser (belief: with the model's fitted "
                             "distance likelihood, <model>.likelihood.json, else an uncalibrated one; oracle: a "
                             "diagnostic, the true pose picks the node and declares the goal, so the figure is the "
                             "policy's alone; the card's figure: graph)")
    parser.add_argument("--controller", default="smooth", choices=CONTROLLERS,
                        help="gnm_policy_node's controller (the card's figure: smooth, the default)")
    parser.add_argument("--use-odometry", action="store_true",
                        help="the stack with wheel odometry (the benchmark's ours_no_filter: graph recorded at the "
                             "odometry's poses, the planner's odometry prior, the policy's odometry steering; the "
                             "robot profile's odometry error, drawn anew for teach and repeat); the card's figure: "
                             "vision only")
    parser.add_argument("--odometry-steering", type=float, default=None,
                        help="with --use-odometry: gnm_policy_node's odometry_steering, the share of the heading "
                             "taken toward where the odometry puts the subgoal (default the node's)")
    parser.add_argument("--out", default="", help="report folder (default: out/closed_loop_<model name>)")
    parser.add_argument("--card", action="store_true", help="write the figure into each model's card")
    parser.add_argument("--compare", action="store_true",
                        help="no driving: each model's open-loop report on --data beside its card's closed-loop "
                             "figure, and which open-loop figure ranks the models as the closed loop does")
    parser.add_argument("--data", default="", help="with --compare: a GNM-format dataset root held out of training")
    parser.add_argument("--table", default="",
                        help="only write a Markdown table of earlier reports (summary.json or DAgger validation "
                             "JSON files, comma-separated)")
    parser.add_argument("--update", type=Path, default=None,
                        help="with --table: put it into this Markdown file, between `<!-- gnm-nav closed-loop "
                             "report: SECTION -->` and its end marker")
    parser.add_argument("--section", default="", help="with --update: the marker's name")
    parser.set_defaults(func=run)


def _route_record(drive, name: str, mode: str) -> dict[str, Any]:
    """A route as evaluation.report draws it (the expert's recording and the run)."""
    run = drive.run
    return {"route_id": name, "world": drive.task.world,
            "graph": {"expert_trajectory": drive.taught.expert_xy.round(3).tolist()},
            "runs": {mode: {**run.summary(), "trajectory": run.trajectory.round(3).tolist()}}}


def measure(model: Path, args: argparse.Namespace) -> dict[str, Any]:
    from tqdm import tqdm

    from gnm_nav.commands.evaluate import parse_worlds
    from gnm_nav.common.atomic import atomic_write_json
    from gnm_nav.evaluation.closed_loop import LoopConfig, drive_routes, summarise
    from gnm_nav.evaluation.report import overview_png, write_png, write_route
    from gnm_nav.evaluation.routes import plan_routes
    from gnm_nav.gnm.card import card_path_for
    from gnm_nav.gnm.engine import GNMEngine

    out = Path(args.out) if args.out and len(args.model) == 1 else (
        Path(args.out or "out") / f"closed_loop_{model.stem}")
    steering = {} if args.odometry_steering is None else {"odometry_steering": args.odometry_steering}
    config = LoopConfig(changes=args.changes, localization_mode=args.localization_mode, controller=args.controller,
                        use_odometry=args.use_odometry, **steering)
    engine = GNMEngine(model)
    tasks, skipped = plan_routes(parse_worlds(args.worlds, args.routes), args.robot, args.routes, args.min_route_m,
                                 seed=args.seed, skip_unusable=True)
    runs, pictures = [], []
    with tqdm(total=len(tasks), unit="route", desc=model.name) as bar:
        for drive in drive_routes(tasks, engine, args.robot, args.seed, config=config):
            runs.append(drive.run)
            pictures.append(write_route(out, _route_record(drive, drive.task.route_id, config.mode),
                                        [config.mode]))
            bar.update(1)
    write_png(out / "overview.png", overview_png(pictures))
    report = {"mode": config.mode, "command": "gnm-nav " + " ".join(getattr(args, "argv", [])), "robot": args.robot,
              "worlds": args.worlds, "min_route_m": args.min_route_m, "seed": args.seed, "changes": args.changes,
              "localization_mode": args.localization_mode, "controller": args.controller,
              "use_odometry": args.use_odometry, "odometry_steering": config.odometry_steering,
              "skipped_worlds": sorted(skipped), **summarise(runs)}
    atomic_write_json(out / "summary.json", {**report, "model": str(model),
                                             "runs": [{"route_id": t.route_id, **r.summary()}
                                                      for t, r in zip(tasks, runs)]})
    if args.card:
        path = card_path_for(model)
        card = json.loads(path.read_text(encoding="utf-8"))
        card["closed_loop"] = report
        atomic_write_json(path, card)
    print(f"{model.name}: {report['successes']}/{report['routes']} goals, route progress "
          f"{report['route_progress']:.0%}, {report['collisions_per_km']:.0f} collisions/km, "
          f"{report['stuck_events']} stuck ({args.robot}, worlds {args.worlds}) -> {out}"
          + (" and its card" if args.card else ""))
    return report


def open_loop_agreement(figures: list[tuple[dict[str, Any], float]]) -> dict[str, float]:
    """Spearman's rho between each open-loop figure and the closed-loop route progress over several models
    ((open-loop metrics, progress) per model); higher-is-better figures should come out positive."""
    from gnm_nav.common.stats import spearman

    names = set.intersection(*(set(k for k, v in m.items() if isinstance(v, (int, float)) and k not in COUNTS)
                               for m, _ in figures))
    progress = np.array([p for _, p in figures])
    if len(set(progress.tolist())) < 2:  # nothing to rank by
        return {name: float("nan") for name in sorted(names)}
    return {name: spearman(np.array([float(m[name]) for m, _ in figures]), progress) for name in sorted(names)}


def open_loop_figures(models: list[Path], data: Path, workdir: Path) -> list[dict[str, float]]:
    """Each model's held-out report (gnm-nav train's) on the same data, so the figures compare."""
    from gnm_nav.data.gnm_format import read_dataset
    from gnm_nav.gnm.onnx_import import gnm_from_onnx
    from gnm_nav.gnm.training.frame_cache import build_frame_cache
    from gnm_nav.gnm.training.train import TrainConfig, report_on

    datasets = read_dataset(data)
    cache = build_frame_cache(datasets, workdir / "cache")
    return [report_on(gnm_from_onnx(m).eval(), datasets, cache, TrainConfig(device="cpu")) for m in models]


def compare(models: list[Path], data: str, out: Path) -> int:
    from gnm_nav.common.atomic import atomic_write_json
    from gnm_nav.common.errors import GnmNavError
    from gnm_nav.gnm.card import card_path_for

    cards = [json.loads(card_path_for(m).read_text(encoding="utf-8")) for m in models]
    missing = [m.name for m, c in zip(models, cards) if not c.get("closed_loop")]
    if missing or len(cards) < 3 or not data:
        raise GnmNavError(f"--compare needs --data DIR and at least 3 models whose cards have a closed-loop figure "
                          f"(gnm-nav closed-loop --card first; without one: {missing or 'none'})")
    figures = open_loop_figures(models, Path(data), out)
    progress = [float(c["closed_loop"]["route_progress"]) for c in cards]
    rho = open_loop_agreement(list(zip(figures, progress)))
    atomic_write_json(out / "compare.json", {"models": [str(m) for m in models], "data": data,
                                             "closed_loop_progress": progress, "open_loop": figures, "rho": rho})
    for m, p in zip(models, progress):
        print(f"{m}: closed-loop route progress {p:.0%}")
    for name, r in sorted(rho.items(), key=lambda kv: -abs(kv[1]) if math.isfinite(kv[1]) else 0.0):
        print(f"  {name:38s} rho {r:+.2f} over {len(models)} models")
    print(f"-> {out / 'compare.json'}")
    return 0


def markdown(reports: list[tuple[str, dict[str, Any]]]) -> str:
    """One row per report: the model driving alone, its routes and figures (read from the reports' JSON)."""
    steering = any("subgoal_bearing_r" in r for _, r in reports)  # (reports from before the figure lack it)
    lines = ["| model | robot, worlds | goals | route progress | collisions/km | stuck events |"
             + (" steering to the subgoal: r, gain |" if steering else ""),
             "|---|---|---|---|---|---|" + ("---|" if steering else "")]
    for name, r in reports:
        lines.append(f"| `{Path(r['model']).name}` ({name}) | {r['robot']}, {r['worlds']} | "
                     f"{r['successes']}/{r['routes']} | {r['route_progress']:.0%} | {r['collisions_per_km']:.0f} | "
                     f"{r['stuck_events']} |" + (f" {_steering(r)} |" if steering else ""))
    return "\n".join(lines)


def _steering(report: dict[str, Any]) -> str:
    if "subgoal_bearing_r" not in report:
        return "-"
    return f"{report['subgoal_bearing_r']:.2f}, {report['subgoal_bearing_gain']:.2f}"


def table(files: list[Path], update: Path | None, section: str) -> int:
    from gnm_nav.common.errors import GnmNavError
    from gnm_nav.evaluation.report import update_document

    reports = []
    for f in files:
        try:
            reports.append((str(f), json.loads(f.read_text(encoding="utf-8"))))
        except (OSError, json.JSONDecodeError) as exc:
            raise GnmNavError(f"cannot read the report {f}: {exc}") from exc
    text = markdown(reports)
    print(text)
    if update is not None:
        if not section:
            raise GnmNavError("--update needs --section NAME")
        update_document(update, section, text, kind="closed-loop")
    return 0


def run(args: argparse.Namespace) -> int:
    from gnm_nav.commands.evaluate import check_worlds, parse_worlds
    from gnm_nav.common.errors import GnmNavError

    if args.table:
        return table([Path(f) for f in args.table.split(",") if f], args.update, args.section)
    if not args.model:
        raise GnmNavError("name a model (or --table REPORTS)")
    models = [Path(m) for m in args.model]
    for m in models:
        if not m.is_file():
            raise GnmNavError(f"model {m} not found")
    if args.compare:
        return compare(models, args.data, Path(args.out or "out/closed_loop_compare"))
    if args.routes < 1:
        raise GnmNavError("--routes must be at least 1")
    if args.odometry_steering is not None and not (args.use_odometry and 0.0 <= args.odometry_steering <= 1.0):
        raise GnmNavError("--odometry-steering needs --use-odometry and a share in [0, 1]")
    check_worlds(parse_worlds(args.worlds, args.routes))
    for m in models:
        measure(m, args)
    return 0
