"""`gnm-nav sim collect | record-bag | render-map | export-sdf | make-world`: simulator data tools."""
from __future__ import annotations

import argparse
from pathlib import Path

from gnm_nav.common.errors import GnmNavError

HELP = ("simulator tools: collect GNM datasets, record rosbags, render maps, save world specs, export SDF, "
        "measure the odometry error presets")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="sim_command", metavar="SUBCOMMAND", required=True)

    p = sub.add_parser("collect", help="expert-driven GNM-format dataset (4 Hz jpg + traj_data.pkl), resumable")
    p.add_argument("--out", required=True, type=Path, help="dataset root to write (or resume)")
    p.add_argument("--worlds", type=int, default=4, help="number of generated worlds (seeds SEED..SEED+N-1)")
    p.add_argument("--robots", default="", help="comma-separated robot profiles (default: all in config/robots)")
    p.add_argument("--frames", type=int, default=2000, help="total frames to collect, split evenly over jobs")
    p.add_argument("--seed", type=int, default=0, help="first world seed, and seed of the expert's routes")
    p.add_argument("--workers", type=int, default=1, help="worker processes, each with its own renderer")
    p.add_argument("--min-route-m", type=float, default=8.0, help="shortest route the expert is sent on (m)")
    p.add_argument("--perturb", default="none", choices=("none", "recovery"),
                   help="disturb drives so their futures show the way back: recovery = starts off the route and "
                        "turned, more and stronger swerves, half toward the nearer obstacle (gnm_nav/sim/perturb.py)")
    p.add_argument("--perturb-share", type=float, default=0.5,
                   help="share of the drives disturbed (the rest clean); recorded in data_config.yaml")
    p.add_argument("--relit-share", type=float, default=0.0,
                   help="share of the drives that also get a relit twin, <traj>_relit: the same poses under other "
                        "light and wall finishes, so training can match a place across light (gnm-nav train gnm "
                        "--twin-goal-prob); twins are extra frames, not part of --frames")
    p.add_argument("--side-share", type=float, default=0.0,
                   help="share of the drives that also get a side twin, <traj>_side: every pose moved 0.1-0.4 m "
                        "sideways, so training can show the way back onto a line from beside it (gnm-nav train gnm "
                        "--side-context-prob); extra frames, and may be added to a dataset collected without them")
    p.add_argument("--side-turn-deg", type=float, default=0.0,
                   help="turn each side twin's headings by one angle per drive, drawn within +-this (0-45), so "
                        "training also shows the view turned off the line and the turn back to it")
    p.set_defaults(func=run_collect)

    p = sub.add_parser("record-bag", help="expert drives one route; camera, odom, ground truth, cmd_vel to rosbag2")
    p.add_argument("--out", required=True, type=Path, help="bag directory to create")
    p.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap")
    p.add_argument("--world", default="0", help="seed, FAMILY:SEED, shipped world name or spec .yaml")
    p.add_argument("--robot", default="turtlebot", help="robot profile name or .yaml path")
    p.add_argument("--seed", type=int, default=0, help="seed of the route and the driver's noise")
    p.add_argument("--min-route-m", type=float, default=10.0, help="shortest route (m)")
    p.add_argument("--max-time", type=float, default=300.0, help="stop recording after this many seconds")
    p.set_defaults(func=run_record_bag)

    p = sub.add_parser("render-map", help="top-down PNG of a world, optionally with trajectories drawn on it")
    p.add_argument("--world", required=True, help="seed, FAMILY:SEED, shipped world name or spec .yaml")
    p.add_argument("--out", required=True, type=Path, help="PNG file to write")
    p.add_argument("--trajectory", action="append", default=[], type=Path,
                   help="GNM trajectory folder (traj_data.pkl) or bag directory (uses its ground truth); repeatable")
    p.add_argument("--px-per-m", type=float, default=40.0)
    p.set_defaults(func=run_render_map)

    p = sub.add_parser("export-sdf", help="write a world as an SDF file for Gazebo (gz sim)")
    p.add_argument("--world", required=True, help="seed, FAMILY:SEED, shipped world name or spec .yaml")
    p.add_argument("--out", required=True, type=Path, help=".sdf file to write")
    p.set_defaults(func=run_export_sdf)

    p = sub.add_parser("odom-drift", help="how far each wheel-odometry error preset drifts over a drive")
    p.add_argument("--preset", action="append", default=[], help="preset(s) to measure (default all)")
    p.add_argument("--distance-m", type=float, default=10.0, help="length of each drive (m)")
    p.add_argument("--runs", type=int, default=200, help="drives per preset, each with its own systematic errors")
    p.set_defaults(func=run_odom_drift)

    p = sub.add_parser("make-world", help="generate a world from a seed and save its spec as YAML")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--family", choices=("office", "hall", "maze"), default=None)
    p.add_argument("--out", required=True, type=Path, help="spec .yaml to write")
    p.set_defaults(func=run_make_world)


def _robots(text: str) -> list[str]:
    from gnm_nav.robot_profile import available_robots

    names = [r.strip() for r in text.split(",") if r.strip()] or available_robots()
    return list(dict.fromkeys(names))


def run_collect(args: argparse.Namespace) -> int:
    from gnm_nav.sim.collect import collect

    if args.worlds < 1 or args.frames < 1 or args.workers < 1:
        raise GnmNavError("--worlds, --frames and --workers must be >= 1")
    robots = _robots(args.robots)
    s = collect(args.out, args.worlds, robots, args.frames, args.seed, args.workers, args.min_route_m,
                perturb=args.perturb, perturb_share=args.perturb_share, relit_share=args.relit_share,
                side_share=args.side_share, side_turn_deg=args.side_turn_deg)
    print(f"dataset: {s.frames} frames, {s.metres:.0f} m in {s.trajectories} trajectories ({s.twins} twins) "
          f"({s.new_frames} frames new, {s.skipped} trajectories reused from an earlier run); "
          f"worlds: {len(s.worlds)} ({', '.join(s.worlds)}); robots: {', '.join(s.robots)}; "
          f"{s.seconds:.0f} s ({s.new_frames / max(s.seconds, 1e-9):.0f} new frames/s) -> {args.out}")
    return 0


def run_record_bag(args: argparse.Namespace) -> int:
    from gnm_nav.sim.bag_recorder import record_expert_bag
    from gnm_nav.sim.worlds import resolve_world

    world = resolve_world(args.world)
    stats = record_expert_bag(args.out, world, args.robot, args.seed, args.storage, args.min_route_m, args.max_time)
    print(f"recorded {stats.images} images, {stats.odometry} odometry messages, {stats.seconds:.1f} s of driving, "
          f"{stats.metres:.1f} m, {stats.collisions} collisions in world {world.name} with {args.robot} "
          f"-> {args.out} ({args.storage})")
    return 0


def _load_track(path: Path):
    import numpy as np

    from gnm_nav.bag_io import bag_topics, iter_odometry
    from gnm_nav.data.gnm_format import TRAJ_DATA, read_trajectory

    if (path / TRAJ_DATA).is_file():
        return read_trajectory(path).positions
    topics = bag_topics(path)
    topic = next((t for t in ("/sim/ground_truth", "sim/ground_truth") if t in topics), None)
    if topic is None:
        raise GnmNavError(f"{path}: neither a trajectory folder nor a bag with /sim/ground_truth "
                          f"(topics: {', '.join(topics)})")
    return np.array([(x, y) for _, x, y, _ in iter_odometry(path, topic)])


def run_render_map(args: argparse.Namespace) -> int:
    import cv2

    from gnm_nav.common.atomic import atomic_write_bytes
    from gnm_nav.sim.map_render import render_map
    from gnm_nav.sim.worlds import resolve_world

    world = resolve_world(args.world)
    tracks = [_load_track(t) for t in args.trajectory]
    img = render_map(world, tracks, args.px_per_m)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    if not ok:
        raise GnmNavError("PNG encoding failed")
    atomic_write_bytes(args.out, buf.tobytes())
    print(f"map of {world.name} ({world.family}, {img.shape[1]}x{img.shape[0]} px, {len(tracks)} trajectories) "
          f"-> {args.out}")
    return 0


def run_odom_drift(args: argparse.Namespace) -> int:
    from gnm_nav.sim.odometry_error import PRESETS, drift_statistics, odometry_preset

    if args.runs < 1 or not args.distance_m > 0:
        raise GnmNavError("--runs must be >= 1 and --distance-m > 0")
    for name in args.preset:
        odometry_preset(name)
    print(f"odometry error after {args.distance_m:g} m of indoor-like driving (a 90-degree turn every 2.5 m), "
          f"{args.runs} runs each:")
    for name in args.preset or list(PRESETS):
        d = drift_statistics(name, args.runs, args.distance_m)
        print(f"  {name:<8} position {d.position_error_pct_p50:.1f}% of the distance "
              f"(p90 {d.position_error_pct_p90:.1f}%), "
              f"heading {d.heading_error_deg_p50:.1f} deg (p90 {d.heading_error_deg_p90:.1f})")
    return 0


def run_make_world(args: argparse.Namespace) -> int:
    from gnm_nav.sim.world_gen import generate_world
    from gnm_nav.sim.world_spec import save_world_spec

    world = generate_world(args.seed, args.family)
    save_world_spec(world, args.out)
    print(f"world {world.name}: {len(world.walls)} walls, {len(world.obstacles) + len(world.pillars)} obstacles, "
          f"{world.bounds[2] - world.bounds[0]:.1f} x {world.bounds[3] - world.bounds[1]:.1f} m -> {args.out}")
    return 0


def run_export_sdf(args: argparse.Namespace) -> int:
    from gnm_nav.common.atomic import atomic_write_text
    from gnm_nav.sim.sdf import world_to_sdf
    from gnm_nav.sim.worlds import resolve_world

    world = resolve_world(args.world)
    atomic_write_text(args.out, world_to_sdf(world))
    spawn = ", ".join(f"{v:.2f}" for v in world.spawn) if world.spawn else "none"
    print(f"SDF world {world.name}: {len(world.walls)} walls, {len(world.obstacles) + len(world.pillars)} obstacles, "
          f"{len(world.lights)} lights; spawn (x, y, yaw) = ({spawn}) -> {args.out}")
    return 0
