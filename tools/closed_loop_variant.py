"""`gnm-nav closed-loop` with one part of the stack changed, to tell which part a failure comes from.

Two diagnoses docs/decisions.md quotes ("Turned side twins"), neither of them a setting of the package:
- `--subgoal-horizon-s S`: the planner's subgoal S seconds of recording ahead instead of
  gnm_nav.graph.planning.SUBGOAL_HORIZON_S (is the subgoal too far for the action head, trained on goals 3-9 frames
  ahead?);
- `--still-context`: the policy sees its current frame in every context slot (does it fail by continuing the
  motion its history shows?).

Everything after the options is passed to `gnm-nav closed-loop`. Usage:

    python tools/closed_loop_variant.py --still-context -- MODEL --worlds 1441..1460 --routes 20 --changes both \
        --localization-mode oracle --out out/still
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

import gnm_nav.graph.navigator as navigator
from gnm_nav.cli import main
from gnm_nav.gnm.context_buffer import ContextBuffer


def _current_frame_only(model_input):
    """Wrap ContextBuffer.model_input so every context slot holds the current (last) frame."""
    def still(self: ContextBuffer) -> np.ndarray:
        stacked = model_input(self)
        return np.ascontiguousarray(np.tile(stacked[:, -3:], (1, stacked.shape[1] // 3, 1, 1)))
    return still


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subgoal-horizon-s", type=float, default=None)
    parser.add_argument("--still-context", action="store_true")
    parser.add_argument("closed_loop_args", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    if args.subgoal_horizon_s is not None:
        if not args.subgoal_horizon_s > 0:
            parser.error("--subgoal-horizon-s must be > 0")
        navigator.SUBGOAL_HORIZON_S = args.subgoal_horizon_s  # read when a Navigator is built
    if args.still_context:
        ContextBuffer.model_input = _current_frame_only(ContextBuffer.model_input)  # type: ignore[method-assign]
    rest = [a for a in args.closed_loop_args if a != "--"]
    sys.exit(main(["closed-loop", *rest]))
