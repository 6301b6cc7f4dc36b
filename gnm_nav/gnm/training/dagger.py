"""On-policy data for the GNM: DAgger in simulation (`gnm-nav train gnm-dagger`).

Behaviour cloning trains on the expert's states only, so the model never sees the states its own mistakes lead
to. Each round here runs the current model alone (evaluation.closed_loop: vision only, graphs taught by the
expert) on routes in training worlds with training bodies. Every `branch_every_s` of a run, the expert takes over
from the robot's true pose there, plans to the route's goal and drives `horizon_s` while the camera renders; the
branch becomes one trajectory of the GNM format: the context frames are the ones the model saw just before
(so the first training sample is exactly the model's situation) and the rest is the expert's continuation, whose
poses give the labels. The rounds' trajectories are aggregated in one dataset root (`dagger_<robot>`), the model
is fine-tuned from the current one on the earlier data plus all of it (`gnm-nav train gnm`), and the new model's
closed-loop figure on validation routes goes into the round's log. Rounds checkpoint and resume: a finished
route of a round is not driven again, a finished round not trained again.
"""
from __future__ import annotations

import argparse
import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gnm_nav.common.atomic import atomic_write_json
from gnm_nav.common.errors import GnmNavError
from gnm_nav.data.gnm_format import (
    FRAME_RATE_HZ,
    read_data_config,
    read_dataset,
    read_trajectory,
    remove_partial_trajectories,
    write_data_config,
    write_splits,
    write_trajectory,
)
from gnm_nav.evaluation.closed_loop import Drive, drive_routes, summarise

HELP = "DAgger in simulation: drive the GNM, let the expert show the way back from where it went, fine-tune, repeat"
DATASET_PREFIX = "dagger_"
TRAINING_BODIES = ("jackal", "locobot", "rc_car", "wheelchair", "wide_angle")  # turtlebot stays held out
TRAINING_WORLDS = "0..37"  # gnm-nav sim collect --worlds 48: the first 38 are its train split


@dataclass(frozen=True)
class BranchConfig:
    branch_every_s: float = 2.0  # one expert continuation per this much of the model's driving
    horizon_s: float = 8.0  # how long the expert drives from each branch (the labels reach 1.25 s ahead)


def dataset_name(robot: str) -> str:
    return f"{DATASET_PREFIX}{robot}"


def branch_trajectories(drive: Drive, context_size: int, config: BranchConfig,
                        rng: np.random.Generator) -> list[tuple[list[np.ndarray], np.ndarray, np.ndarray]]:
    """(frames, positions [T, 2], yaws [T]) of each branch of one run: the context_size frames the model saw
    before the branch, the frame at it, then the expert's continuation from the true pose there."""
    from gnm_nav.sim.expert import Route
    from gnm_nav.sim.rollout import expert_rollout

    seen, every = drive.run.seen, max(1, round(config.branch_every_s * FRAME_RATE_HZ))
    goal = drive.task.goal
    out = []
    for b in range(context_size, len(seen), every):
        here = seen[b].pose
        try:
            route = Route(here, goal, drive.planner.plan((here.x, here.y), goal))
            continuation = [(s.frame, s.state.pose) for s in expert_rollout(
                drive.env, drive.planner, route, rng, FRAME_RATE_HZ, config.horizon_s) if s.frame is not None]
        except GnmNavError:  # the simulator or the planner refused this pose (SimError, PlanningError): no branch
            continue
        past = seen[b - context_size:b + 1]
        frames = [s.frame for s in past] + [frame for frame, _ in continuation[1:]]
        poses = [s.pose for s in past] + [pose for _, pose in continuation[1:]]
        if len(frames) < context_size + 2:
            continue
        out.append((frames, np.array([(p.x, p.y) for p in poses]), np.array([p.yaw for p in poses])))
    return out


def _spacing(root: Path, robot: str, base: dict[str, float]) -> float:
    """metres per 4 Hz step: the earlier data's for this body (labels then share its scale), else measured."""
    if f"sim_{robot}" in base:
        return base[f"sim_{robot}"]
    metres = steps = 0.0
    for folder in sorted((root / dataset_name(robot)).iterdir()):
        if not folder.is_dir() or folder.name.startswith("."):
            continue
        traj = read_trajectory(folder)
        metres += float(np.linalg.norm(np.diff(traj.positions, axis=0), axis=1).sum())
        steps += len(traj) - 1
    return round(metres / steps, 4) if steps else 0.0


def write_metadata(root: Path, base_spacing: dict[str, float], rounds: int) -> None:
    """data_config.yaml and splits of the aggregated root: every tenth trajectory of a body held out as test."""
    config = read_data_config(root) if (root / "data_config.yaml").is_file() else {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith(DATASET_PREFIX)):
        robot = folder.name[len(DATASET_PREFIX):]
        names = sorted(t.name for t in folder.iterdir() if t.is_dir() and not t.name.startswith("."))
        config[folder.name] = {"metric_waypoint_spacing": _spacing(root, robot, base_spacing), "robot": robot,
                               "frame_rate_hz": FRAME_RATE_HZ, "source": "gnm_nav train gnm-dagger", "rounds": rounds}
        write_splits(root, folder.name, [n for i, n in enumerate(names) if i % 10], names[::10])
    write_data_config(root, config)


def _validation(model: Path, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """The model's closed-loop figure on the validation routes (cached in `out`)."""
    if out.is_file():
        return json.loads(out.read_text())
    from gnm_nav.commands.evaluate import parse_worlds
    from gnm_nav.evaluation.routes import plan_routes
    from gnm_nav.gnm.engine import GNMEngine

    engine = GNMEngine(model, providers="cpu")
    tasks, _ = plan_routes(parse_worlds(args.eval_worlds, args.eval_routes), args.eval_robot, args.eval_routes,
                           args.min_route_m, seed=args.seed, skip_unusable=True)
    runs = [d.run for d in drive_routes(tasks, engine, args.eval_robot, args.seed)]
    report = {"model": str(model), "robot": args.eval_robot, "worlds": args.eval_worlds, **summarise(runs),
              "runs": [r.summary() for r in runs]}
    atomic_write_json(out, report)
    return report


def _collect(round_dir: Path, r: int, model: Path, args: argparse.Namespace, data_root: Path) -> dict[str, Any]:
    """Drive the round's routes with the model and write their branches; each finished route leaves a record."""
    from tqdm import tqdm

    from gnm_nav.commands.evaluate import parse_worlds
    from gnm_nav.evaluation.routes import plan_routes
    from gnm_nav.gnm.engine import GNMEngine

    engine = GNMEngine(model, providers="cpu")
    robots = [r_ for r_ in args.robots.split(",") if r_]
    worlds = parse_worlds(args.worlds, args.routes)
    records = round_dir / "routes"
    records.mkdir(parents=True, exist_ok=True)
    branch = BranchConfig(args.branch_every_s, args.horizon_s)
    summaries = []
    for robot in robots:
        remove_partial_trajectories(data_root / dataset_name(robot))
    bar = tqdm(total=args.routes, unit="route", desc=f"round {r} drives")
    for j, robot in enumerate(robots):
        share = [i for i in range(args.routes) if i % len(robots) == j]
        if not share:
            continue
        # each body drives its share of the routes in worlds of its own, a different stretch every round
        mine = [worlds[(r * args.routes + i) % len(worlds)] for i in share]
        tasks, _ = plan_routes(mine, robot, len(share), args.min_route_m, seed=args.seed * 1000 + r,
                               skip_unusable=True)
        todo = [(i, t) for i, t in zip(share, tasks) if not (records / f"{i:03d}.json").is_file()]
        summaries += [json.loads((records / f"{i:03d}.json").read_text()) for i, _ in zip(share, tasks)
                      if (records / f"{i:03d}.json").is_file()]
        bar.update(len(share) - len(todo))
        for (i, _), drive in zip(todo, drive_routes([t for _, t in todo], engine, robot, args.seed * 1000 + r,
                                                      keep_frames=True)):
            rng = np.random.default_rng([args.seed, r, i])
            branches = branch_trajectories(drive, engine.card.context_size, branch, rng)
            for b, (frames, positions, yaws) in enumerate(branches):
                name = f"r{r:02d}_{i:03d}_{b:03d}"
                if not (data_root / dataset_name(robot) / name).exists():
                    write_trajectory(data_root / dataset_name(robot), name, frames, positions, yaws)
            record = {"route": i, "robot": robot, "world": drive.task.world, "branches": len(branches),
                      **drive.run.summary()}
            atomic_write_json(records / f"{i:03d}.json", record)
            summaries.append(record)
            bar.update(1)
    bar.close()
    return {"routes": len(summaries), "successes": sum(s["success"] for s in summaries),
            "route_progress": float(np.mean([s["route_progress"] for s in summaries])) if summaries else 0.0,
            "branches": sum(s["branches"] for s in summaries)}


def _fine_tune(round_dir: Path, model: Path, args: argparse.Namespace, data_root: Path) -> Path:
    """`gnm-nav train gnm` from the current model on the earlier data and every round's branches so far."""
    from gnm_nav.cli import main as gnm_nav

    out = round_dir / "gnm.onnx"
    if out.is_file():
        return out
    argv = ["train", "gnm", "--data", ",".join([*(d for d in args.data.split(",") if d), str(data_root)]),
            "--init", str(model), "--out", str(out), "--workdir", str(round_dir / "train"),
            "--epochs", str(args.epochs), "--steps-per-epoch", str(args.steps_per_epoch),
            "--batch-size", str(args.batch_size), "--lr", str(args.lr), "--device", args.device,
            "--eval-samples", str(args.eval_samples), "--seed", str(args.seed)]
    if args.report_data:
        argv += ["--report-data", args.report_data]
    if gnm_nav(argv) != 0:
        raise GnmNavError(f"fine-tuning round {round_dir.name} failed (see above)")
    return out


def _line(name: str, report: dict[str, Any]) -> str:
    return (f"{name}: {report['successes']}/{report['routes']} goals, route progress {report['route_progress']:.0%}, "
            f"{report['collisions_per_km']:.0f} collisions/km")


def _better(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return (a["success_rate"], a["route_progress"]) > (b["success_rate"], b["route_progress"])


def run(args: argparse.Namespace) -> int:
    from gnm_nav.gnm.card import card_path_for, part_path_for

    if args.rounds < 1 or args.routes < 1:
        raise GnmNavError("--rounds and --routes must be at least 1")
    if args.branch_every_s <= 0 or args.horizon_s <= 0:
        raise GnmNavError("--branch-every-s and --horizon-s must be > 0")
    workdir = Path(args.workdir)
    data_root = workdir / "data"
    data_root.mkdir(parents=True, exist_ok=True)
    base_spacing = {ds.name: ds.metric_waypoint_spacing for root in args.data.split(",") if root
                    for ds in read_dataset(Path(root))}
    model = Path(args.init)
    log: dict[str, Any] = {"command": "gnm-nav " + " ".join(getattr(args, "argv", [])), "init": str(model),
                           "branch": asdict(BranchConfig(args.branch_every_s, args.horizon_s)), "rounds": []}
    best = (model, _validation(model, args, workdir / "validation_init.json"))
    log["init_validation"] = {k: v for k, v in best[1].items() if k != "runs"}
    print(_line("the starting model", best[1]))
    for r in range(1, args.rounds + 1):
        round_dir = workdir / f"round_{r:02d}"
        collected = _collect(round_dir, r, model, args, data_root)
        write_metadata(data_root, base_spacing, r)
        model = _fine_tune(round_dir, model, args, data_root)
        report = _validation(model, args, round_dir / "validation.json")
        log["rounds"].append({"round": r, "model": str(model), "collected": collected,
                              "validation": {k: v for k, v in report.items() if k != "runs"}})
        atomic_write_json(workdir / "dagger.json", log)
        print(f"round {r}: the model drove {collected['successes']}/{collected['routes']} training routes "
              f"({collected['route_progress']:.0%} progress), {collected['branches']} branches; "
              + _line("then on validation", report))
        if _better(report, best[1]):
            best = (model, report)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for part in ("whole", "obs", "goal"):
        shutil.copyfile(part_path_for(best[0], part), part_path_for(out, part))
    card = json.loads(card_path_for(best[0]).read_text())
    card["files"] = {part: part_path_for(out, part).name for part in ("whole", "obs", "goal")}
    card["training"] = {**(card.get("training") or {}), "dagger": {**log, "chosen": str(best[0])}}
    atomic_write_json(card_path_for(out), card)
    print(f"wrote {out} (from {best[0]}; " + _line("validation", best[1]) + f"); log {workdir / 'dagger.json'}")
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--init", required=True, help="the model to start from (ONNX with its card)")
    parser.add_argument("--out", required=True, help="where the best round's model goes (ONNX, parts and card)")
    parser.add_argument("--workdir", required=True, help="rounds, aggregated data and logs (resumed when present)")
    parser.add_argument("--data", default="", help="the earlier training data (dataset roots, comma-separated)")
    parser.add_argument("--report-data", default="", help="held-out dataset roots for the open-loop report")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--routes", type=int, default=20, help="routes the model drives per round")
    parser.add_argument("--worlds", default=TRAINING_WORLDS, help="training worlds the rounds drive in")
    parser.add_argument("--robots", default=",".join(TRAINING_BODIES), help="training bodies, comma-separated")
    parser.add_argument("--min-route-m", type=float, default=10.0)
    parser.add_argument("--branch-every-s", type=float, default=BranchConfig.branch_every_s)
    parser.add_argument("--horizon-s", type=float, default=BranchConfig.horizon_s)
    parser.add_argument("--eval-worlds", default="2000..2007", help="validation worlds (the tuning seeds)")
    parser.add_argument("--eval-routes", type=int, default=8)
    parser.add_argument("--eval-robot", default="turtlebot", help="the validation body (held out of training)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--steps-per-epoch", type=int, default=400)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--eval-samples", type=int, default=512)
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(func=run)

