"""`gnm-nav bench ldm`: safety-filter cost per command (121 candidates) and per camera frame (embedding).

Without --model/--encoder it times freshly exported random-weight models of the shipped shapes
(a default GNM and an LDM head with an 11 x 11 grid): the cost does not depend on the weights.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

HELP = "LDM safety filter latency: per command (filter_ms_p50) and per camera frame (embed_ms_p50)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=None, help="LDM head .onnx (default: a random one, 11x11 grid)")
    parser.add_argument("--encoder", default=None, help="GNM .onnx whose encoder the LDM uses (default: random)")
    parser.add_argument("--providers", default="auto", help="ONNX Runtime providers for the encoder")
    parser.add_argument("--frames", type=int, default=50, help="camera frames to time")
    parser.add_argument("--commands-per-frame", type=int, default=5, help="commands filtered per camera frame")


def _random_models(folder: Path) -> tuple[Path, Path]:
    import torch

    from gnm_nav.gnm.card import load_model_card
    from gnm_nav.gnm.export import export_gnm, random_init_gnm
    from gnm_nav.ldm.export import ActionGrid, export_head
    from gnm_nav.ldm.model import LdmHead

    encoder = folder / "gnm.onnx"
    export_gnm(random_init_gnm(seed=0), encoder)
    torch.manual_seed(0)
    head = LdmHead(1024, 16)
    head.features.fit(np.random.default_rng(0).random((256, 1024), dtype=np.float32))
    grid = ActionGrid(0.0, 0.5, 11, -1.0, 1.0, 11)
    head.set_action_range(grid.low, grid.high)
    model = folder / "ldm.onnx"
    export_head(head, model, {"encoder_sha256": load_model_card(encoder).sha256["obs"], "encoder_model": encoder.name,
                              "encoding_dim": 1024, "action_grid": grid, "threshold": 0.0, "quantile": 0.95})
    return model, encoder


def run(args: argparse.Namespace) -> dict:
    from gnm_nav.gnm.context_buffer import ContextBuffer
    from gnm_nav.gnm.engine import GNMEngine
    from gnm_nav.ldm.export import LdmScorer
    from gnm_nav.ldm.filter import FilterSettings, SafetyFilter

    with tempfile.TemporaryDirectory() as tmp:
        if args.model is None or args.encoder is None:
            model, encoder = _random_models(Path(tmp))
        else:
            model, encoder = Path(args.model), Path(args.encoder)
        scorer = LdmScorer(model)
        engine = GNMEngine(encoder, providers=args.providers)
        card = engine.card
        buffer = ContextBuffer(card.context_size, card.context_spacing_s, card.image_size, card.center_crop)
        candidates = scorer.card.action_grid.candidates()
        # a threshold between the grid's G values, so the timed path includes the nearest-candidate search
        filt = SafetyFilter(scorer.score, candidates, 0.0, FilterSettings())
        rng = np.random.default_rng(0)
        width, height = 320, 240
        embed_ms: list[float] = []
        first_ms: list[float] = []
        next_ms: list[float] = []
        for i in range(args.frames + card.context_size + 1):
            rgb = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
            t0 = time.perf_counter()
            buffer.push(rgb, i * card.context_spacing_s)
            if not buffer.ready:
                continue
            embedding = engine.encode_observation(buffer.model_input())
            embed_ms.append((time.perf_counter() - t0) * 1e3)
            if i == card.context_size + 1:
                _, grid_g = scorer.score(embedding, candidates)
                filt.card_threshold = float(np.median(grid_g))
            filt.set_observation(embedding, float(i))
            for k in range(args.commands_per_frame):
                v, w = rng.uniform(candidates.min(0), candidates.max(0))
                t0 = time.perf_counter()
                filt.on_command(float(v), float(w), float(i))
                (first_ms if k == 0 else next_ms).append((time.perf_counter() - t0) * 1e3)
    every = np.array(first_ms + next_ms)
    return {
        "candidates": int(len(candidates)), "providers": ",".join(engine.providers),
        "frames": len(embed_ms), "commands": int(len(every)),
        "filter_ms_p50": float(np.percentile(every, 50)), "filter_ms_p95": float(np.percentile(every, 95)),
        "filter_ms_p50_first_after_frame": float(np.percentile(first_ms, 50)),
        "filter_ms_p50_cached_grid": float(np.percentile(next_ms, 50)) if next_ms else float("nan"),
        "embed_ms_p50": float(np.percentile(embed_ms, 50)), "embed_ms_p95": float(np.percentile(embed_ms, 95)),
    }
