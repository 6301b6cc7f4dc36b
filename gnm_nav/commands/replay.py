"""`gnm-nav replay`: feed a recorded traversal through the planner and policy, score it (report.json + PNG)."""
from __future__ import annotations

import argparse
from pathlib import Path

from gnm_nav.common.paths import DEFAULT_GNM_MODEL

HELP = "replay a rosbag2 through the planner + policy cores faster than real time and score localisation"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bag", required=True, help="rosbag2 folder (sqlite3 or MCAP)")
    parser.add_argument("--graph", required=True, help="graph directory to localise in")
    parser.add_argument("--out", required=True, help="output directory (report.json, replay.png)")
    parser.add_argument("--image-topic", default="camera/image_raw", help="camera topic in the bag")
    parser.add_argument("--goal-node", type=int, help="goal node (default: the highest node id, the route's end)")
    parser.add_argument("--model", default=DEFAULT_GNM_MODEL, help="GNM ONNX model")
    parser.add_argument("--providers", default="auto", help="ONNX Runtime providers: auto|tensorrt|cuda|cpu")
    parser.add_argument("--robot-profile", default="locobot", help="robot profile giving the controller's limits")
    parser.add_argument("--controller", default="smooth", help="smooth | gnm")
    parser.add_argument("--no-policy", action="store_true", help="planner only: no velocity commands")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from gnm_nav.bag_io import bag_topics, iter_images
    from gnm_nav.commands.graph import load_engine
    from gnm_nav.common.errors import DatasetError
    from gnm_nav.control.controller import Limits, make_controller
    from gnm_nav.control.policy import GNMPolicy
    from gnm_nav.graph.navigator import Navigator
    from gnm_nav.graph.replay import replay_bag
    from gnm_nav.graph.store import TopoGraph
    from gnm_nav.robot_profile import load_robot_profile

    topics = bag_topics(args.bag)
    if args.image_topic not in topics:
        raise DatasetError(f"bag {args.bag} has no topic {args.image_topic!r}; topics present: "
                           f"{', '.join(sorted(topics)) or 'none'}")
    graph = TopoGraph.load(args.graph)
    engine = load_engine(args.model, args.providers)
    nav = Navigator(graph, engine)
    nav.set_goal(args.goal_node if args.goal_node is not None else max(graph.g.nodes))
    policy = None
    if not args.no_policy:
        profile = load_robot_profile(args.robot_profile)
        limits = Limits(profile.max_v, profile.max_w, profile.max_acc_v, profile.max_acc_w)
        controller = make_controller(args.controller, limits, 1.0 / engine.card.context_spacing_s)
        policy = GNMPolicy(engine, controller, limits.max_v)
    with tqdm(desc="frames", unit="frame") as bar:
        report = replay_bag(iter_images(args.bag, args.image_topic), nav, policy, Path(args.out), bar.update)
    print(f"replayed {report['frames']} frames ({report['bag_duration_s']:.1f} s of bag) in {report['wall_s']:.1f} s "
          f"({report['speedup_x_real_time']}x real time)")
    for key in ("goal_node", "goal_reached", "time_to_goal_s", "localized_fraction", "start_remaining_s",
                "end_remaining_s", "progress_monotonic_fraction", "progress_regressions", "relocalizations",
                "lost_ticks", "commands", "v_mean"):
        print(f"  {key:<28} {report[key]}")
    print(f"wrote {Path(args.out) / 'report.json'} and {Path(args.out) / 'replay.png'}")
    return 0
