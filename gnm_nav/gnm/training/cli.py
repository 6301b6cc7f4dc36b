"""`gnm-nav train gnm`: train (or fine-tune) the GNM on GNM-format datasets and export ONNX + model card."""
from __future__ import annotations

import argparse
import shlex
from pathlib import Path

RECENTRE_BATCH = 128  # training samples whose statistics the BatchNorms of an ONNX --init are recentred on
HELP = "train the GNM policy on GNM-format datasets (several robots), export ONNX with a model card"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="dataset roots (comma-separated), each with data_config.yaml")
    parser.add_argument("--out", required=True, help="ONNX file to write (model card and parts beside it)")
    parser.add_argument("--datasets", default="", help="only these dataset names (comma-separated; default all)")
    parser.add_argument("--init", default="",
                        help="start from these weights: a published GNM checkpoint or state_dict, a checkpoint.pt "
                             "of an earlier run, or one of our ONNX exports (card beside it)")
    parser.add_argument("--workdir", default="", help="checkpoints and frame cache (default: runs/<out name>)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--steps-per-epoch", type=int, default=0, help="0 = one pass over the training samples")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=7e-4)
    parser.add_argument("--dense-lr-scale", type=float, default=0.1,
                        help="learning rate of the dense layers relative to --lr (1 = the GNM paper; lower keeps "
                             "their ReLU units alive)")
    parser.add_argument("--mirror-prob", type=float, default=0.5,
                        help="share of training samples mirrored left-right (images and labels); 0 = off")
    parser.add_argument("--yaw-shift-prob", type=float, default=0.5,
                        help="share of training samples turned on the spot (frames shifted sideways, label "
                             "rotated); needs the dataset's field of view (data_config camera_hfov_deg or robot)")
    parser.add_argument("--max-yaw-shift-deg", type=float, default=15.0, help="largest such turn")
    parser.add_argument("--twin-goal-prob", type=float, default=0.5,
                        help="share of positive samples whose goal frame comes from the trajectory's relit twin "
                             "(gnm-nav sim collect --relit-share), where it has one; 0 = off")
    parser.add_argument("--side-context-prob", type=float, default=0.5,
                        help="share of samples whose context frames come from the trajectory's side twin, beside "
                             "its line (gnm-nav sim collect --side-share), where it has one; 0 = off")
    parser.add_argument("--side-goal-prob", type=float, default=0.0,
                        help="share of positive samples whose goal frame comes from the trajectory's side twin, "
                             "where it has one (the label then moves over onto the twin's line); 0 = off")
    parser.add_argument("--history-dropout", type=float, default=0.0,
                        help="share of training samples whose context frames are all the current frame, so that "
                             "where to go must come from the view and the goal, not the motion so far; 0 = off")
    parser.add_argument("--eval-samples", type=int, default=1024)
    parser.add_argument("--report-data", default="",
                        help="dataset roots held out of training altogether (comma-separated, e.g. a robot body "
                             "kept out): their report goes into the model card too")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"),
                        help="the forward pass under bf16 autocast (auto: on a GPU only); weights stay fp32")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--restart", action="store_true", help="ignore an existing checkpoint in --workdir")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from gnm_nav.common.errors import DatasetError
    from gnm_nav.data.gnm_format import read_dataset
    from gnm_nav.gnm.checkpoint import load_gnm
    from gnm_nav.gnm.export import export_gnm, random_init_gnm
    from gnm_nav.gnm.onnx_import import gnm_from_onnx, recentre_batchnorm
    from gnm_nav.gnm.training.frame_cache import build_frame_cache
    from gnm_nav.gnm.training.samples import GnmSampler
    from gnm_nav.gnm.training.train import BatchMaker, TrainConfig, format_metrics, report_on, train_gnm

    out = Path(args.out)
    workdir = Path(args.workdir) if args.workdir else Path("runs") / out.stem
    wanted = {n for n in args.datasets.split(",") if n}
    datasets = [ds for root in args.data.split(",") if root for ds in read_dataset(Path(root))
                if not wanted or ds.name in wanted]
    if not datasets:
        raise DatasetError(f"no datasets selected from {args.data} (asked for {sorted(wanted) or 'all'})")
    report_data = {root: read_dataset(Path(root)) for root in args.report_data.split(",") if root}
    torch.manual_seed(args.seed)
    from_onnx = Path(args.init).suffix == ".onnx"
    if from_onnx:
        model = gnm_from_onnx(args.init)
    else:
        model = load_gnm(args.init) if args.init else random_init_gnm(seed=args.seed)
    cache = build_frame_cache(datasets, workdir / "cache")
    if from_onnx:  # its BatchNorms were folded away: recentre them on this data so training starts where it left off
        batch = GnmSampler(datasets, "train", cache.offsets, model.context_size, model.len_traj_pred).sample(
            RECENTRE_BATCH, np.random.default_rng(args.seed))
        tensors = BatchMaker(cache, torch.device("cpu")).tensors(batch)
        recentre_batchnorm(model, tensors["obs"], tensors["goal"])
    config = TrainConfig(epochs=args.epochs, steps_per_epoch=args.steps_per_epoch, batch_size=args.batch_size,
                         lr=args.lr, seed=args.seed, eval_samples=args.eval_samples, device=args.device,
                         mirror_prob=args.mirror_prob, dense_lr_scale=args.dense_lr_scale,
                         yaw_shift_prob=args.yaw_shift_prob, max_yaw_shift_deg=args.max_yaw_shift_deg,
                         twin_goal_prob=args.twin_goal_prob, side_context_prob=args.side_context_prob,
                         side_goal_prob=args.side_goal_prob, history_dropout_prob=args.history_dropout,
                         context_size=model.context_size, len_traj_pred=model.len_traj_pred,
                         precision=args.precision)
    history = train_gnm(model, datasets, cache, config, workdir, resume=not args.restart)
    final = history[-1]
    reports = {root: report_on(model, sets, build_frame_cache(sets, workdir / "cache"), config)
               for root, sets in report_data.items()}
    training = {
        "command": "gnm-nav " + " ".join(shlex.quote(a) for a in args.argv),
        "datasets": {ds.name: {"root": str(ds.root), "trajectories": len(ds.trajectories),
                               "frames": sum(len(t) for t in ds.trajectories),
                               "metric_waypoint_spacing": ds.metric_waypoint_spacing} for ds in datasets},
        "init": args.init or None,
        "epochs": final.epoch,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "mirror_prob": args.mirror_prob,
        "yaw_shift_prob": args.yaw_shift_prob,
        "max_yaw_shift_deg": args.max_yaw_shift_deg,
        "twin_goal_prob": args.twin_goal_prob,
        "side_context_prob": args.side_context_prob,
        "side_goal_prob": args.side_goal_prob,
        "history_dropout": args.history_dropout,
        "dense_lr_scale": args.dense_lr_scale,
        "precision": args.precision,
        "train_loss": final.train_loss,
        "history": [{"epoch": r.epoch, "train_loss": r.train_loss, **r.metrics} for r in history],
        "held_out_data": reports,
    }
    model = model.cpu().to(memory_format=torch.contiguous_format)  # type: ignore[call-overload]  # (stubs)
    report = export_gnm(model.eval(), out,
                        source_checkpoint=args.init or None, training=training, metrics=final.metrics)
    print(f"trained {final.epoch} epochs on {len(datasets)} datasets "
          f"({sum(d['frames'] for d in training['datasets'].values())} frames); held-out: " +
          format_metrics(final.metrics))
    for root, metrics in reports.items():
        print(f"held out of training ({root}): {format_metrics(metrics)}")
    print(f"wrote {report.onnx_path} (+ parts and model card {out.with_suffix('.json').name})")
    return 0
