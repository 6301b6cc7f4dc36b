"""`gnm-nav export`: a GNM checkpoint (or a seeded random init) -> ONNX files + model card, verified."""
from __future__ import annotations

import argparse
from pathlib import Path

from gnm_nav.errors import GnmNavError

HELP = "export a GNM checkpoint (published .pth or state_dict) to ONNX with a model card"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", type=Path, help="training checkpoint (gnm.pth format or a state_dict)")
    source.add_argument("--random-init", action="store_true", help="export an untrained network (tests, benchmarks)")
    parser.add_argument("--out", type=Path, required=True, help="output FILE.onnx (parts and FILE.json go beside it)")
    parser.add_argument("--seed", type=int, default=0, help="seed of --random-init (default 0)")
    parser.add_argument("--context-spacing", type=float, default=0.25,
                        help="seconds between context frames the model was trained with (default 0.25 = 4 Hz)")
    parser.add_argument("--center-crop", action="store_true",
                        help="record that frames must be centre-cropped to 4:3 before resizing")
    parser.add_argument("--len-traj-pred", type=int, default=None,
                        help="waypoints per prediction, if the checkpoint's shapes are ambiguous")
    parser.add_argument("--no-learn-angle", action="store_true", help="the action head predicts xy only")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gnm_nav.checkpoint import load_gnm
    from gnm_nav.onnx_export import export_gnm, random_init_gnm

    if args.context_spacing <= 0:
        raise GnmNavError(f"--context-spacing must be > 0 seconds, got {args.context_spacing}")
    arch: dict[str, object] = {}
    if args.len_traj_pred is not None:
        arch["len_traj_pred"] = args.len_traj_pred
    if args.no_learn_angle:
        arch["learn_angle"] = False
    if args.random_init:
        model = random_init_gnm(args.seed, **arch)
        source = f"random init (seed {args.seed})"
    else:
        model = load_gnm(args.checkpoint, **arch)
        source = str(args.checkpoint)
    print(f"loaded GNM from {source}: {', '.join(f'{k}={v}' for k, v in model.arch_config().items())}")
    report = export_gnm(model, args.out, context_spacing_s=args.context_spacing, center_crop=args.center_crop,
                        source_checkpoint=args.checkpoint, opset=args.opset)
    print("ONNX Runtime vs torch on random inputs (max abs difference / tolerance):")
    for part, diff in report.max_abs_diff.items():
        print(f"  {part:<5}  {diff:.2e} / {report.tolerance[part]:.1e}  ok")
    print(f"exported {report.card.parameter_count:,} parameters in {report.seconds:.1f} s:")
    for part, path in report.files.items():
        print(f"  {part:<5}  {path}  ({path.stat().st_size / 1e6:.1f} MB)")
    return 0
