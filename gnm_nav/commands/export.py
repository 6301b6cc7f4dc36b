"""`gnm-nav export`: a GNM checkpoint (or a seeded random init) -> ONNX files + model card, verified; with
--int8, an exported model -> its int8 quantisation for CPUs, calibrated on real frames, with its accuracy and
speed against the fp32 model in its card."""
from __future__ import annotations

import argparse
from pathlib import Path

from gnm_nav.common.errors import GnmNavError

HELP = "export a GNM checkpoint (published .pth or state_dict) to ONNX with a model card; --int8 quantises one"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", type=Path, help="training checkpoint (gnm.pth format or a state_dict)")
    source.add_argument("--random-init", action="store_true", help="export an untrained network (tests, benchmarks)")
    source.add_argument("--from", dest="from_onnx", type=Path,
                        help="with --int8: an exported fp32 model (FILE.onnx with its parts and card)")
    parser.add_argument("--int8", action="store_true",
                        help="write an int8 quantisation for CPU inference (needs --calibration-data)")
    parser.add_argument("--calibration-data", type=Path,
                        help="with --int8: GNM-format dataset root of the robot's camera (e.g. `gnm-nav sim collect`)")
    parser.add_argument("--calibration-samples", type=int, default=256, help="with --int8: calibration samples")
    parser.add_argument("--held-out-samples", type=int, default=256,
                        help="with --int8: samples from held-out trajectories the accuracy is measured on")
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
    if args.int8:
        return run_int8(args)
    if args.from_onnx is not None:
        raise GnmNavError("--from takes an exported model to quantise: it goes with --int8")
    return run_fp32(args, args.out)


def run_fp32(args: argparse.Namespace, out: Path) -> int:
    from gnm_nav.gnm.checkpoint import load_gnm
    from gnm_nav.gnm.export import export_gnm, random_init_gnm

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
    report = export_gnm(model, out, context_spacing_s=args.context_spacing, center_crop=args.center_crop,
                        source_checkpoint=args.checkpoint, opset=args.opset)
    print("ONNX Runtime vs torch on random inputs (max abs difference / tolerance):")
    for part, diff in report.max_abs_diff.items():
        print(f"  {part:<5}  {diff:.2e} / {report.tolerance[part]:.1e}  ok")
    print(f"exported {report.card.parameter_count:,} parameters in {report.seconds:.1f} s:")
    for part, path in report.files.items():
        print(f"  {part:<5}  {path}  ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


def run_int8(args: argparse.Namespace) -> int:
    import shlex
    import sys
    import tempfile

    from gnm_nav.common.paths import resolve_model_path
    from gnm_nav.data.gnm_format import read_dataset
    from gnm_nav.gnm.quantize import quantize_gnm

    if args.calibration_data is None:
        raise GnmNavError("--int8 needs --calibration-data: frames from the robot's camera set the int8 ranges")
    if min(args.calibration_samples, args.held_out_samples) < 1:
        raise GnmNavError("--calibration-samples and --held-out-samples must be >= 1")
    datasets = read_dataset(args.calibration_data)
    command = shlex.join(["gnm-nav", *sys.argv[1:]])
    with tempfile.TemporaryDirectory() as scratch:
        if args.from_onnx is not None:
            src = resolve_model_path(str(args.from_onnx))
        else:  # a checkpoint or a random init: export fp32 first, then quantise that
            src = Path(scratch) / "fp32.onnx"
            run_fp32(args, src)
        print(f"quantising {src.name} to int8, calibrated on {args.calibration_data} ...")
        card = quantize_gnm(src, args.out, datasets, args.calibration_samples, args.held_out_samples,
                            seed=args.seed, command=command)
    assert card.metrics is not None, "quantize_gnm measures the int8 model against fp32"
    accuracy, speed = card.metrics["vs_fp32"], card.metrics["speed_vs_fp32_cpu"]
    print(f"wrote {args.out} (+ parts and card)")
    print(f"  against fp32 on {accuracy['samples']} held-out samples: distance rank correlation "
          f"{accuracy['distance_spearman']:.3f}, mean distance difference "
          f"{accuracy['distance_mean_abs_diff_steps']:.2f}"
          f" steps, waypoint difference {accuracy['waypoint_mean_diff']:.3f} (waypoint units)")
    print(f"  speed, one step against {speed['candidates']} goals on {speed['threads']} CPU threads: fp32 "
          f"{speed['fp32_ms_p50']:.2f} ms, int8 {speed['int8_ms_p50']:.2f} ms ({speed['speedup']:.2f}x)")
    return 0
