"""GNM -> ONNX: the whole network plus its two halves, checked against torch with ONNX Runtime.

Files written for OUT.onnx:
  OUT.onnx       whole network      obs_img [B,C,H,W], goal_img [B,3,H,W] -> dist [B,1], action [B,L,4]
  OUT.obs.onnx   observation branch obs_img [B,C,H,W] -> obs_encoding [B,E]
  OUT.goal.onnx  goal branch + heads obs_img [1,C,H,W], goal_img [N,3,H,W], obs_encoding [1,E] -> dist, action
  OUT.json       model card (gnm_nav.gnm.card)
The split lets the engine run the observation branch once for N goal images.
"""
from __future__ import annotations

import io
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from gnm_nav.common.atomic import atomic_write_bytes
from gnm_nav.common.errors import GnmNavError
from gnm_nav.gnm.card import ModelCard, part_path_for, save_model_card, sha256_file
from gnm_nav.gnm.modeling import GNM, parameter_count
from gnm_nav.gnm.preprocessing import DEFAULT_IMAGE_SIZE, IMAGENET_MEAN, IMAGENET_STD

DEFAULT_OPSET = 17
DEFAULT_CONTEXT_SPACING_S = 0.25  # training data is sampled at 4 Hz
# ORT and torch differ only by float32 summation order (different conv algorithms, the split stem
# conv): observed differences are ~1e-6 of the output scale (max |output|). A wrong weight or op
# gives O(1) relative differences, so 1e-4 of the output scale separates the two with a wide
# margin; the absolute floor only matters for outputs that are all ~0.
RELATIVE_TOLERANCE = 1e-4
ABSOLUTE_TOLERANCE_FLOOR = 1e-6


class ExportError(GnmNavError):
    """The exported ONNX graph is invalid or disagrees with the torch network."""


class _ObservationBranch(nn.Module):
    def __init__(self, model: GNM):
        super().__init__()
        self.model = model

    def forward(self, obs_img: torch.Tensor) -> torch.Tensor:
        return self.model.encode_observation(obs_img)


class _GoalBranch(nn.Module):
    def __init__(self, model: GNM):
        super().__init__()
        self.model = model

    def forward(self, obs_img: torch.Tensor, goal_img: torch.Tensor,
                obs_encoding: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.predict_from_encoding(obs_img, goal_img, obs_encoding)


@dataclass
class _Part:
    name: str
    module: nn.Module
    inputs: dict[str, list[int | str]]  # name -> shape, str = dynamic axis
    outputs: dict[str, list[int | str]]


@dataclass
class ExportReport:
    onnx_path: Path
    card: ModelCard
    max_abs_diff: dict[str, float]  # part -> max |onnxruntime - torch| over its outputs
    tolerance: dict[str, float]  # part -> the allowed difference
    files: dict[str, Path]
    seconds: float


def _parts(model: GNM, width: int, height: int) -> list[_Part]:
    c, e, length, k = model.obs_channels, model.obs_encoding_size, model.len_traj_pred, model.num_action_params
    return [
        _Part("whole", model,
              {"obs_img": ["batch", c, height, width], "goal_img": ["batch", 3, height, width]},
              {"dist": ["batch", 1], "action": ["batch", length, k]}),
        _Part("obs", _ObservationBranch(model).eval(),
              {"obs_img": ["batch", c, height, width]},
              {"obs_encoding": ["batch", e]}),
        _Part("goal", _GoalBranch(model).eval(),
              {"obs_img": [1, c, height, width], "goal_img": ["goals", 3, height, width], "obs_encoding": [1, e]},
              {"dist": ["goals", 1], "action": ["goals", length, k]}),
    ]


def _sample_inputs(part: _Part, generator: torch.Generator, batch: int) -> dict[str, torch.Tensor]:
    return {name: torch.randn(*[batch if isinstance(d, str) else d for d in shape], generator=generator)
            for name, shape in part.inputs.items()}


def _to_onnx_bytes(part: _Part, example: dict[str, torch.Tensor], opset: int) -> bytes:
    """Serialise one part. The TorchScript exporter is used because it takes ~1 s where the dynamo
    exporter takes ~20 s for this network; outputs are verified with ONNX Runtime either way."""
    dynamic_axes = {name: {i: d for i, d in enumerate(shape) if isinstance(d, str)}
                    for name, shape in {**part.inputs, **part.outputs}.items()}
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(part.module, tuple(example.values()), buffer,  # type: ignore[arg-type]  # (a file works)
                          input_names=list(part.inputs),
                          output_names=list(part.outputs), dynamic_axes=dynamic_axes, opset_version=opset,
                          do_constant_folding=True, dynamo=False)
    return buffer.getvalue()


def _verify(part: _Part, model_bytes: bytes, generator: torch.Generator) -> tuple[float, float]:
    """Max |ORT - torch| over all outputs on random inputs at a batch size unlike the export's, and its tolerance."""
    import onnx
    import onnxruntime as ort

    try:
        onnx.checker.check_model(onnx.load_from_string(model_bytes))
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"exported {part.name} graph is invalid: {exc}") from exc
    inputs = _sample_inputs(part, generator, batch=3)
    with torch.no_grad():
        expected = part.module(*inputs.values())
    expected = expected if isinstance(expected, tuple) else (expected,)
    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    actual = session.run(list(part.outputs), {k: v.numpy() for k, v in inputs.items()})
    diff = max(float(np.max(np.abs(a - e.numpy()))) for a, e in zip(actual, expected))
    scale = max(float(e.abs().max()) for e in expected)
    return diff, RELATIVE_TOLERANCE * scale + ABSOLUTE_TOLERANCE_FLOOR


def export_gnm(model: GNM, onnx_path: str | Path, *, context_spacing_s: float = DEFAULT_CONTEXT_SPACING_S,
               center_crop: bool = False, source_checkpoint: str | Path | None = None,
               opset: int = DEFAULT_OPSET, image_size: tuple[int, int] = DEFAULT_IMAGE_SIZE,
               training: dict[str, Any] | None = None, metrics: dict[str, Any] | None = None) -> ExportReport:
    """Export, verify against torch, then write the parts and (last) the card; nothing is written if a check fails."""
    started = time.perf_counter()
    onnx_path = Path(onnx_path)
    if onnx_path.suffix != ".onnx":
        raise ExportError(f"output {onnx_path} must end in .onnx (parts and card are named after it)")
    model = model.eval()
    width, height = image_size
    generator = torch.Generator().manual_seed(0)
    parts = _parts(model, width, height)
    serialised: dict[str, bytes] = {}
    diffs: dict[str, float] = {}
    tolerances: dict[str, float] = {}
    threads = torch.get_num_threads()
    # Tracing and checking run tiny batches: one thread is as fast, and far faster on a busy machine.
    torch.set_num_threads(1)
    try:
        for part in parts:
            serialised[part.name] = _to_onnx_bytes(part, _sample_inputs(part, generator, batch=2), opset)
            diffs[part.name], tolerances[part.name] = _verify(part, serialised[part.name], generator)
            if not diffs[part.name] <= tolerances[part.name]:
                raise ExportError(f"ONNX Runtime disagrees with torch on the {part.name} network: max abs "
                                  f"difference {diffs[part.name]:.3g} > tolerance {tolerances[part.name]:.3g}")
    finally:
        torch.set_num_threads(threads)
    files = {part.name: part_path_for(onnx_path, part.name) for part in parts}
    for name, data in serialised.items():
        atomic_write_bytes(files[name], data)
    source = Path(source_checkpoint) if source_checkpoint is not None else None
    card = ModelCard(
        architecture="gnm",
        **model.arch_config(),
        image_size=(width, height),
        context_spacing_s=float(context_spacing_s),
        center_crop=bool(center_crop),
        normalization={"mean": [round(float(x), 6) for x in IMAGENET_MEAN],
                       "std": [round(float(x), 6) for x in IMAGENET_STD]},
        inputs={p.name: p.inputs for p in parts},
        outputs={p.name: p.outputs for p in parts},
        files={name: path.name for name, path in files.items()},
        sha256={name: sha256_file(path) for name, path in files.items()},
        parameter_count=parameter_count(model),
        opset=opset,
        source_checkpoint=str(source.resolve()) if source else None,
        source_sha256=sha256_file(source) if source else None,
        training=training,
        metrics=metrics,
        directory=onnx_path.parent,
    )
    files["card"] = save_model_card(card, onnx_path)
    return ExportReport(onnx_path, card, diffs, tolerances, files, time.perf_counter() - started)


def random_init_gnm(seed: int = 0, **arch: Any) -> GNM:
    """An untrained GNM with reproducible weights (tests and benchmarks); the global RNG is left as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return GNM(**arch).eval()
