"""`gnm-nav train ldm`: fit the safety filter's Lyapunov density model on GNM-format datasets.

Stages (each resumable from WORK_DIR/checkpoint.pt with --resume):
1. embed every observation context with the frozen GNM encoder (cached per encoder sha256);
2. fit the feature map and the density model E on training trajectories;
3. fit G by the LDM backup (checkpointed every --checkpoint-every steps);
4. calibrate the threshold on held-out trajectories (a quantile of G on recorded commands),
   evaluate on other held-out trajectories, export NAME.onnx + NAME.json.
"""
from __future__ import annotations

import argparse
import io
import math
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gnm_nav.common.atomic import atomic_write_bytes
from gnm_nav.common.errors import CheckpointError, DatasetError, GnmNavError

HELP = "train the LDM safety filter (density + Lyapunov density model) on GNM-format datasets"
CHECKPOINT = "checkpoint.pt"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="GNM-format dataset root (data_config.yaml, <dataset>/<traj>/)")
    parser.add_argument("--dataset", default=None, help="train on this dataset only (default: all under --data)")
    parser.add_argument("--encoder", required=True, help="GNM model .onnx whose observation encoder embeds images")
    parser.add_argument("--out", required=True, help="output LDM head models/NAME.onnx (card NAME.json beside it)")
    parser.add_argument("--work-dir", default=None, help="embedding cache and checkpoints (default: OUT.work/)")
    parser.add_argument("--resume", action="store_true", help="continue from WORK_DIR/checkpoint.pt")
    parser.add_argument("--epochs", type=int, default=30, help="passes over the training transitions per stage")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--pca-dim", type=int, default=16, help="PCA dimensions kept from the encoding")
    parser.add_argument("--state-components", type=int, default=8, help="Gaussian mixture components of p(z)")
    parser.add_argument("--action-components", type=int, default=5, help="mixture components of p(a|z)")
    parser.add_argument("--grid", type=int, nargs=2, default=[11, 11], metavar=("NV", "NW"),
                        help="candidate grid size (v x w)")
    parser.add_argument("--v-range", type=float, nargs=2, default=None, metavar=("LO", "HI"),
                        help="candidate v range m/s (default: from the data, including 0)")
    parser.add_argument("--w-range", type=float, nargs=2, default=None, metavar=("LO", "HI"),
                        help="candidate w range rad/s (default: symmetric, from the data)")
    parser.add_argument("--quantile", type=float, default=0.95,
                        help="fraction of held-out recorded commands the threshold allows")
    parser.add_argument("--checkpoint-every", type=int, default=500, help="LDM backup steps between checkpoints")
    parser.add_argument("--providers", default="auto", help="ONNX Runtime providers for the encoder")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch CPU threads (0: torch's default; 1 is best for small datasets on busy machines)")
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(func=run)


@dataclass
class Corpus:
    """Every context's encoding, and transitions as indices into them, split by trajectory."""

    encodings: np.ndarray  # [S, D]
    context: np.ndarray  # [N]
    action: np.ndarray  # [N, 2]
    next_context: np.ndarray  # [N]
    role: np.ndarray  # [N] 0 train, 1 calibration, 2 evaluation
    context_frames: list  # per context: (trajectory, frame indices) for re-rendering perturbed views


TRAIN, CALIBRATE, EVALUATE = 0, 1, 2


class LdmSettingsError(GnmNavError):
    """A training option is out of range."""


def check_settings(args: argparse.Namespace) -> None:
    problems = []
    if not 0.0 < args.quantile < 1.0:
        problems.append(f"--quantile must be in (0, 1), got {args.quantile}")
    if min(args.grid) < 2:
        problems.append(f"--grid needs at least 2 values per axis, got {args.grid}")
    for name in ("epochs", "batch_size", "pca_dim", "state_components", "action_components", "checkpoint_every"):
        if getattr(args, name) < 1:
            problems.append(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    for name in ("v_range", "w_range"):
        value = getattr(args, name)
        if value is not None and not value[0] < value[1]:
            problems.append(f"--{name.replace('_', '-')} needs LO < HI, got {value}")
    if Path(args.out).suffix != ".onnx":
        problems.append(f"--out must be a .onnx path, got {args.out}")
    if problems:
        raise LdmSettingsError("; ".join(problems))


def trajectory_roles(datasets) -> list[tuple]:
    """(dataset name, trajectory, role): the datasets' test splits when given, else every 5th trajectory
    held out; held-out trajectories alternate between calibration and evaluation."""
    out = []
    for ds in datasets:
        try:
            train, test = ds.split("train"), ds.split("test")
        except DatasetError:
            train = [t for i, t in enumerate(ds.trajectories) if i % 5 != 4]
            test = [t for i, t in enumerate(ds.trajectories) if i % 5 == 4]
        out += [(ds.name, t, TRAIN) for t in train]
        out += [(ds.name, t, CALIBRATE if i % 2 == 0 else EVALUATE) for i, t in enumerate(test)]
    roles = {r for _, _, r in out}
    if TRAIN not in roles or CALIBRATE not in roles:
        raise DatasetError("LDM training needs at least one training and one held-out trajectory "
                           "(give splits/<dataset>/{train,test}/traj_names.txt or at least 5 trajectories)")
    return out


def build_corpus(engine, encoder_sha256: str, roles: list[tuple], cache_dir: Path, dt: float) -> Corpus:
    from tqdm import tqdm

    from gnm_nav.ldm.embeddings import EmbeddingCache, embed_trajectory
    from gnm_nav.ldm.transitions import context_frame_indices, trajectory_transitions

    card = engine.card
    cache = EmbeddingCache(cache_dir, encoder_sha256, card.context_size)
    encodings, contexts, actions, nexts, role_of, frames = [], [], [], [], [], []
    offset = 0
    for ds_name, traj, role in tqdm(roles, desc="embed", unit="traj"):
        z = cache.load(ds_name, traj)
        if z is None:
            z = embed_trajectory(engine, traj, card.context_size, card.image_size, card.center_crop)
            cache.save(ds_name, traj, z)
        tr = trajectory_transitions(traj.positions, traj.yaws, card.context_size, dt)
        encodings.append(z)
        contexts.append(tr.context + offset)
        nexts.append(tr.next_context + offset)
        actions.append(tr.action)
        role_of.append(np.full(len(tr.context), role))
        frames += [(traj, row) for row in context_frame_indices(len(traj), card.context_size)]
        offset += len(z)
    return Corpus(np.concatenate(encodings), np.concatenate(contexts), np.concatenate(actions).astype(np.float32),
                  np.concatenate(nexts), np.concatenate(role_of), frames)


def default_grid(actions: np.ndarray, counts: list[int], v_range, w_range):
    from gnm_nav.ldm.export import ActionGrid

    if v_range is None:
        v_lo, v_hi = np.percentile(actions[:, 0], [1, 99])
        v_range = (min(0.0, 1.25 * v_lo), max(0.05, 1.25 * v_hi))
    if w_range is None:
        w_max = max(0.1, 1.25 * float(np.percentile(np.abs(actions[:, 1]), 99)))
        w_range = (-w_max, w_max)
    return ActionGrid(float(v_range[0]), float(v_range[1]), counts[0], float(w_range[0]), float(w_range[1]), counts[1])


def run(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm

    from gnm_nav.data.gnm_format import FRAME_RATE_HZ, read_dataset
    from gnm_nav.gnm.engine import GNMEngine
    from gnm_nav.ldm.backup import BackupSchedule, LdmFitter, TransitionTensors
    from gnm_nav.ldm.density import fit_density
    from gnm_nav.ldm.export import export_head
    from gnm_nav.ldm.model import LdmHead

    check_settings(args)
    out = Path(args.out)
    work = Path(args.work_dir) if args.work_dir else out.with_suffix(".work")
    engine = GNMEngine(args.encoder, providers=args.providers)
    encoder_sha256 = engine.card.sha256["obs"]
    corpus = build_corpus(engine, encoder_sha256, trajectory_roles(read_dataset(Path(args.data), args.dataset)),
                          work / "embeddings", 1.0 / FRAME_RATE_HZ)
    train = corpus.role == TRAIN
    grid = default_grid(corpus.action[train], args.grid, args.v_range, args.w_range)
    candidates = grid.candidates()
    steps = args.epochs * math.ceil(int(train.sum()) / args.batch_size)
    config = {"encoder_sha256": encoder_sha256, "grid": grid.__dict__, "pca_dim": args.pca_dim, "steps": steps,
              "state_components": args.state_components, "action_components": args.action_components,
              "transitions": int(len(corpus.context)), "seed": args.seed, "batch_size": args.batch_size}

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    min_std = 0.5 * 2.0 / max(1, max(args.grid) - 1)  # half a grid step, in normalised action units
    head = LdmHead(corpus.encodings.shape[1], args.pca_dim, args.state_components, args.action_components, min_std)
    fitter = LdmFitter(head.features.output_dim, 2, seed=args.seed)
    stage = "density"
    ckpt_path = work / CHECKPOINT
    if args.resume:
        if not ckpt_path.is_file():
            raise CheckpointError(f"--resume: no checkpoint at {ckpt_path}")
        from gnm_nav.gnm.checkpoint import load_resume_state

        state = load_resume_state(ckpt_path)
        if state.get("config") != config:
            raise CheckpointError(f"--resume: {ckpt_path} was made with other settings or data "
                                  f"({state.get('config')} != {config}); drop --resume to start over")
        head.load_state_dict(state["head"])
        fitter.load_state_dict(state["fitter"])
        stage = state["stage"]
        print(f"resuming at stage {stage}, LDM step {fitter.step}/{steps}")

    def save(stage_name: str) -> None:
        buf = io.BytesIO()
        torch.save({"config": config, "stage": stage_name, "head": head.state_dict(), "fitter": fitter.state_dict()},
                   buf)
        atomic_write_bytes(ckpt_path, buf.getvalue())

    z = torch.from_numpy(corpus.encodings)
    train_contexts = np.unique(np.concatenate([corpus.context[train], corpus.next_context[train]]))
    if stage == "density":
        head.features.fit(corpus.encodings[train_contexts])
    with torch.no_grad():
        u = head.features(z)
    a = torch.from_numpy(corpus.action)
    if stage == "density":
        head.set_action_range(grid.low, grid.high)
        with tqdm(total=steps, desc="density", unit="step") as bar:
            fit_density(head.density, u[corpus.context[train]].numpy(),
                        head.normalise_actions(a[train]).numpy(), steps, args.batch_size, seed=args.seed,
                        progress=lambda loss: (bar.update(1), bar.n % 50 or bar.set_postfix(nll=f"{loss:.2f}")))
        with torch.no_grad():
            head.set_energy_scale(head.energy_features(u[corpus.context[train]], a[train]).numpy())
        stage = "ldm"
        save(stage)

    cand = torch.from_numpy(candidates)
    with torch.no_grad():
        e_sa = (head.energy_features(u[corpus.context], a) - head.energy_loc) / head.energy_scale
        k = len(candidates)
        e_grid = (head.energy_features(u.repeat_interleave(k, 0), cand.repeat(len(u), 1)).view(len(u), k)
                  - head.energy_loc) / head.energy_scale
    idx = np.flatnonzero(train)
    next_index = torch.from_numpy(corpus.next_context[idx])
    data = TransitionTensors(states=u, state_index=torch.from_numpy(corpus.context[idx]),
                             actions=head.normalise_actions(a[idx]), next_index=next_index,
                             energy=e_sa[idx], next_energy=e_grid[next_index])
    if stage == "ldm":
        with tqdm(total=steps, initial=fitter.step, desc="ldm backup", unit="step") as bar:
            def on_step(step: int, loss: float, gamma: float) -> None:
                bar.update(1)
                if step % 50 == 0:
                    bar.set_postfix(loss=f"{loss:.4f}", gamma=f"{gamma:.3f}")
                if step % args.checkpoint_every == 0:
                    save("ldm")
            fitter.fit(data, head.normalise_actions(cand), BackupSchedule(steps=steps, batch_size=args.batch_size),
                       on_step)
        save("done")
    head.critic.load_state_dict(fitter.critic.state_dict())

    report, threshold = calibrate_and_evaluate(head, engine, corpus, u, grid, args.quantile, args.seed)
    card = export_head(head, out, {
        "encoder_sha256": encoder_sha256, "encoder_model": Path(args.encoder).name,
        "encoding_dim": int(corpus.encodings.shape[1]), "action_grid": grid, "threshold": threshold,
        "quantile": args.quantile, "metrics": report,
        "training": {k: v for k, v in config.items() if k != "encoder_sha256"} | {"data": str(args.data)},
        "command_line": shlex.join(["gnm-nav"] + sys.argv[1:]),
    })
    print("evaluation (held-out):")
    for key, value in report.items():
        print(f"  {key:<36} {value:.3f}" if isinstance(value, float) else f"  {key:<36} {value}")
    print(f"wrote {out} and {out.with_suffix('.json').name}: threshold {card.threshold:.3f} nats "
          f"(q={args.quantile}), grid {grid.v_count}x{grid.w_count}, encoder {encoder_sha256[:12]}...")
    return 0


BACKUP_TOLERANCE_NATS = 0.5  # a next state's best G may exceed G(s, a) by this much before it counts as a violation


def lyapunov_report(head, u, actions: np.ndarray, u_next, candidates: np.ndarray) -> dict:
    """How well the learned G keeps the LDM's defining condition on held-out transitions (Kang et al. 2022):
    G(s, a) >= E(s, a) and G(s, a) >= min over a' of G(s', a'), the a' from the candidate grid. G is max(E, critic)
    at run time, so G >= E always holds; its critic alone is reported. A violated backup means G promises a way
    on from s that the next state does not offer."""
    import torch

    with torch.no_grad():
        a = torch.from_numpy(actions.astype(np.float32))
        energy, g = head.score_features(u, a)
        critic = head.critic_features(u, a)
        k = len(candidates)
        grid = torch.from_numpy(candidates.astype(np.float32)).repeat(len(u_next), 1)
        _, g_next = head.score_features(u_next.repeat_interleave(k, dim=0), grid)
        best_next = g_next.view(len(u_next), k).min(dim=1).values
    excess = (best_next - g).numpy()
    return {"backup_violated": float(np.mean(excess > BACKUP_TOLERANCE_NATS)),
            "backup_tolerance_nats": BACKUP_TOLERANCE_NATS,
            "backup_excess_p95_nats": float(np.percentile(np.maximum(excess, 0.0), 95)),
            "critic_below_energy": float(torch.mean((critic < energy).float()))}


def calibrate_and_evaluate(head, engine, corpus: Corpus, u, grid, quantile: float, seed: int) -> tuple[dict, float]:
    """Threshold = quantile of G over calibration transitions; metrics on evaluation transitions (the
    calibration ones when there is a single held-out trajectory, flagged in the report)."""
    import torch

    from gnm_nav.gnm.preprocessing import preprocess_frame
    from gnm_nav.ldm.embeddings import encode_contexts
    from gnm_nav.ldm.evaluate import OBSERVATION_PERTURBATIONS, allowed_fraction, perturb_frames, shifted_commands

    rng = np.random.default_rng(seed)
    cal = np.flatnonzero(corpus.role == CALIBRATE)
    ev = np.flatnonzero(corpus.role == EVALUATE)
    overlap = len(ev) == 0
    if overlap:
        ev = cal

    def ldm_at(rows_u: torch.Tensor, actions: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return head.score_features(rows_u, torch.from_numpy(actions.astype(np.float32)))[1].numpy()

    g_cal = ldm_at(u[corpus.context[cal]], corpus.action[cal])
    threshold = float(np.quantile(g_cal, quantile))
    g_ev = ldm_at(u[corpus.context[ev]], corpus.action[ev])
    shifted = shifted_commands(corpus.action[ev], grid.candidates(), grid.low, grid.high, rng)
    report: dict = {
        "calibration_transitions": int(len(cal)), "evaluation_transitions": int(len(ev)),
        "calibration_overlaps_evaluation": overlap, "threshold": threshold,
        "recorded_allowed": allowed_fraction(g_ev, threshold),
        "perturbed_command_rejected": 1.0 - allowed_fraction(ldm_at(u[corpus.context[ev]], shifted), threshold),
        **lyapunov_report(head, u[corpus.context[ev]], corpus.action[ev], u[corpus.next_context[ev]],
                          grid.candidates()),
        "grid_resolution": {"v": (grid.v_max - grid.v_min) / max(grid.v_count - 1, 1),
                            "w": (grid.w_max - grid.w_min) / max(grid.w_count - 1, 1)},
    }
    sample = rng.choice(ev, size=min(64, len(ev)), replace=False)
    card = engine.card
    rejected = []
    for kind in OBSERVATION_PERTURBATIONS:
        views = []
        for ctx in corpus.context[sample]:
            traj, rows = corpus.context_frames[ctx]
            views.append([perturb_frames(preprocess_frame(traj.load_image(int(i)), card.image_size, card.center_crop),
                                         kind, rng) for i in rows])
        frames = [f for view in views for f in view]
        index_rows = np.arange(len(frames)).reshape(len(views), -1)
        with torch.no_grad():
            u_bad = head.features(torch.from_numpy(encode_contexts(engine, frames, index_rows)))
        frac = 1.0 - allowed_fraction(ldm_at(u_bad, corpus.action[sample]), threshold)
        report[f"ood_observation_rejected_{kind}"] = frac
        rejected.append(frac)
    report["ood_observation_rejected"] = float(np.mean(rejected))
    return report, threshold
