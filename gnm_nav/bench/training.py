"""`gnm-nav bench training`: how many samples per second the GNM trainer's input pipeline delivers, and the
network's own training rate on this machine; the slower of the two bounds a training run.

The pipeline is timed in its parts (drawing labels, gathering frames, finishing on the device) and as the
trainer runs it (Prefetcher: drawing and gathering in a thread while the device finishes the batch before).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

HELP = "GNM training throughput: input pipeline samples/s (sample, gather, finish; prefetched) and network step"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, required=True, help="GNM-format data folder (as `train gnm --data`)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--batches", type=int, default=40, help="batches timed per measurement")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"),
                        help="the network step's forward pass under bf16 autocast (auto: on a GPU), as `train gnm`")
    parser.add_argument("--network-batches", type=int, default=5,
                        help="training steps of the network timed (0 = skip: slow on a CPU)")


def _rate(fn, batches: int, batch_size: int) -> float:
    fn()  # warm up (page cache, allocator)
    started = time.perf_counter()
    for _ in range(batches):
        fn()
    return batches * batch_size / (time.perf_counter() - started)


def run(args: argparse.Namespace) -> dict:
    import torch

    from gnm_nav.data.gnm_format import read_dataset
    from gnm_nav.gnm.modeling import GNM
    from gnm_nav.gnm.training.frame_cache import build_frame_cache
    from gnm_nav.gnm.training.samples import GnmSampler
    from gnm_nav.gnm.training.train import (
        BatchMaker,
        Prefetcher,
        gnm_optimizer,
        pick_device,
        train_step,
        use_bf16,
    )

    datasets = read_dataset(args.data)
    cache = build_frame_cache(datasets, args.data / ".cache")
    device = pick_device(args.device)
    sampler = GnmSampler(datasets, "train", cache.offsets, mirror_prob=0.5, yaw_shift_prob=0.5)
    maker = BatchMaker(cache, device)
    rng = np.random.default_rng(0)
    n, size = args.batches, args.batch_size
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    batch = sampler.sample(size, rng)
    host = maker.gather(batch)

    def finish() -> None:
        maker.finish(host)
        sync()

    def pipeline() -> None:
        maker.finish(maker.gather(sampler.sample(size, rng)))
        sync()

    def prefetched() -> None:
        with Prefetcher(sampler, maker, size, rng, n) as batches:
            for _ in batches:
                sync()

    results = {"device": str(device), "frames": len(cache.frames), "train_samples": len(sampler), "batch_size": size,
               "sample_per_s": _rate(lambda: sampler.sample(size, rng), n, size),
               "gather_per_s": _rate(lambda: maker.gather(batch), n, size),
               "finish_per_s": _rate(finish, n, size),
               "pipeline_per_s": _rate(pipeline, n, size),
               "prefetched_per_s": _rate(prefetched, 1, n * size)}
    if args.network_batches > 0:
        model = GNM().to(device)
        model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # (stubs lack memory_format)
        model.train()
        optimizer = gnm_optimizer(model, 7e-4, 0.1)
        fixed = maker.finish(host)
        bf16 = use_bf16(args.precision, device)
        results["precision"] = "bf16" if bf16 else "fp32"

        def step() -> None:
            train_step(model, optimizer, fixed, bf16)
            sync()

        results["network_step_per_s"] = _rate(step, args.network_batches, size)
    return results


ROWS = (("sample_per_s", "draw the labels (GnmSampler.sample)"), ("gather_per_s", "gather the frames (host)"),
        ("finish_per_s", "finish on the device (copy, mirror, turn, normalise)"),
        ("pipeline_per_s", "all three, one after the other"),
        ("prefetched_per_s", "as the trainer runs them (Prefetcher: draw and gather in a thread)"),
        ("network_step_per_s", "the network's training step (forward, backward, Adam)"))


def markdown(results: dict[str, Any]) -> str:
    """The bench's figures as a Markdown table (what `gnm-nav bench report` writes)."""
    lines = [f"{results['device']}, batch {results['batch_size']}, {results['frames']} frames; samples per second.", "",
             "| part | samples/s |", "|---|---|"]
    lines += [f"| {label} | {results[key]:,.0f} |" for key, label in ROWS if key in results]
    return "\n".join(lines)
