"""The trainer's held-out report of several ONNX models on one dataset, side by side, written as JSON.

`gnm-nav train gnm --report-data` gives this for the model it trains; this gives it for models already trained,
on data they were not trained on (for example `data/turtlebot_turn`, whose side twins are turned), so their
figures compare. docs/decisions.md quotes it ("Turned side twins"). Usage:

    python tools/held_out_report.py MODEL.onnx [MODEL.onnx ...] --data DIR --out FILE.json
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gnm_nav.commands.closed_loop import open_loop_figures
from gnm_nav.common.atomic import atomic_write_json

SHOWN = ("waypoint_lateral_r", "goal_swap_lateral_r", "still_waypoint_lateral_r", "side_offset_r", "side_offset_gain",
         "side_goal_offset_gain")

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", type=Path)
    parser.add_argument("--data", required=True, type=Path, help="a GNM-format dataset root")
    parser.add_argument("--out", required=True, type=Path, help="JSON file to write")
    args = parser.parse_args()
    figures = open_loop_figures(args.models, args.data, args.out.parent / f".{args.out.stem}_work")
    atomic_write_json(args.out, {"command": " ".join(["python tools/held_out_report.py", *sys.argv[1:]]),
                                 "data": str(args.data), "models": {str(m): f for m, f in zip(args.models, figures)}})
    for model, report in zip(args.models, figures):
        print(f"{model}: " + ", ".join(f"{k} {report[k]:.3f}" for k in SHOWN if k in report))
    print(f"-> {args.out}")
