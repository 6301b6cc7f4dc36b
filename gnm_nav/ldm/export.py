"""LDM head <-> ONNX file + JSON card, and the ONNX Runtime scorer the filter runs.

The card (NAME.json beside NAME.onnx) holds what makes the numbers meaningful: the sha256 of the
GNM observation encoder the head was trained on (an encoding from any other encoder is
meaningless to it), the action grid, the calibrated threshold and its quantile, and the
evaluation metrics and command line of the training run.
"""
from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gnm_nav.common.atomic import atomic_write_bytes, atomic_write_json
from gnm_nav.common.errors import ModelFileError
from gnm_nav.gnm.card import card_path_for, sha256_file

LDM_CARD_FORMAT = "gnm_nav.ldm"
LDM_CARD_VERSION = 1
OPSET = 17


@dataclass(frozen=True)
class ActionGrid:
    """A regular (v, w) grid: the candidates the filter chooses among, and the backup's min over a'."""

    v_min: float
    v_max: float
    v_count: int
    w_min: float
    w_max: float
    w_count: int

    def __post_init__(self) -> None:
        if self.v_count < 1 or self.w_count < 1 or self.v_max < self.v_min or self.w_max < self.w_min:
            raise ValueError(f"invalid action grid {self}")

    def candidates(self) -> np.ndarray:
        """[v_count * w_count, 2] float32 (v, w) rows."""
        v, w = np.meshgrid(np.linspace(self.v_min, self.v_max, self.v_count),
                           np.linspace(self.w_min, self.w_max, self.w_count), indexing="ij")
        return np.stack([v.ravel(), w.ravel()], axis=1).astype(np.float32)

    @property
    def low(self) -> np.ndarray:
        return np.array([self.v_min, self.w_min], np.float32)

    @property
    def high(self) -> np.ndarray:
        return np.array([self.v_max, self.w_max], np.float32)


@dataclass(frozen=True)
class LdmCard:
    encoder_sha256: str  # sha256 of the GNM observation-encoder ONNX part the head was trained on
    encoder_model: str  # its file name when trained (informational)
    encoding_dim: int
    action_grid: ActionGrid
    threshold: float  # G <= threshold allows a command (nats)
    quantile: float  # fraction of held-out recorded commands the threshold allows
    file: str
    sha256: str
    metrics: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    command_line: str = ""
    inputs: dict[str, list] = field(default_factory=lambda: {"embedding": [1, "D"], "actions": ["K", 2]})
    outputs: dict[str, list] = field(default_factory=lambda: {"energy": ["K"], "ldm": ["K"]})
    format: str = LDM_CARD_FORMAT
    format_version: int = LDM_CARD_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "LdmCard":
        if data.get("format") != LDM_CARD_FORMAT:
            raise ValueError(f"format is {data.get('format')!r}, not {LDM_CARD_FORMAT!r} (is this a GNM card?)")
        if data.get("format_version") != LDM_CARD_VERSION:
            raise ValueError(f"format_version {data.get('format_version')} is not {LDM_CARD_VERSION}")
        values = dict(data)
        values["action_grid"] = ActionGrid(**values["action_grid"])
        return cls(**values)


def export_head(head, onnx_path: str | Path, card_fields: dict[str, Any]) -> LdmCard:
    """Export the torch head to ONNX (dynamic K), verify it against torch, write file + card atomically."""
    import onnxruntime as ort
    import torch

    onnx_path = Path(onnx_path)
    head = head.eval()
    embedding = torch.randn(1, int(card_fields["encoding_dim"])).abs()
    actions = torch.from_numpy(card_fields["action_grid"].candidates())
    buffer = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(head, (embedding, actions), buffer,  # type: ignore[arg-type]  # (stubs: a file works)
                          input_names=["embedding", "actions"],
                          output_names=["energy", "ldm"], dynamic_axes={"actions": {0: "K"}, "energy": {0: "K"},
                                                                        "ldm": {0: "K"}},
                          opset_version=OPSET, do_constant_folding=True, dynamo=False)
        expected = [t.numpy() for t in head(embedding, actions[:7])]
    model_bytes = buffer.getvalue()
    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    got = session.run(None, {"embedding": embedding.numpy(), "actions": actions[:7].numpy()})
    for name, want, have in zip(("energy", "ldm"), expected, got):
        if not np.allclose(want, have, rtol=1e-3, atol=1e-3):
            raise ModelFileError(f"ONNX export of the LDM head disagrees with torch on '{name}' "
                                 f"(max diff {np.abs(want - have).max():.3g})")
    atomic_write_bytes(onnx_path, model_bytes)
    card = LdmCard(file=onnx_path.name, sha256=sha256_file(onnx_path), **card_fields)
    atomic_write_json(card_path_for(onnx_path), card.to_dict())
    return card


def load_ldm_card(onnx_path: str | Path) -> LdmCard:
    """Read and check NAME.json beside NAME.onnx (the ONNX file must exist and match its sha256)."""
    onnx_path = Path(onnx_path)
    card_path = card_path_for(onnx_path)
    if not onnx_path.is_file():
        raise ModelFileError(f"LDM model {onnx_path} not found (train one with `gnm-nav train ldm`)")
    if not card_path.is_file():
        raise ModelFileError(f"LDM model card {card_path} not found beside {onnx_path.name}")
    try:
        card = LdmCard.from_dict(json.loads(card_path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError, TypeError, KeyError) as exc:
        raise ModelFileError(f"LDM model card {card_path} is not a valid LDM card: {exc}") from exc
    if sha256_file(onnx_path) != card.sha256:
        raise ModelFileError(f"LDM model {onnx_path} does not match the sha256 in {card_path.name}: "
                             "corrupt or replaced")
    return card


class EncoderMismatchError(ModelFileError):
    """The LDM was trained on another observation encoder: its G and threshold mean nothing here."""


def check_encoder(card: LdmCard, encoder_sha256: str, encoder_name: str) -> None:
    if card.encoder_sha256 != encoder_sha256:
        raise EncoderMismatchError(
            f"the LDM was trained for encoder sha256 {card.encoder_sha256[:12]}... ({card.encoder_model}), but "
            f"{encoder_name} has observation encoder sha256 {encoder_sha256[:12]}...; retrain the LDM for this "
            "encoder (`gnm-nav train ldm --encoder ...`)")


class LdmScorer:
    """E and G of K candidate actions at one observation encoding, on ONNX Runtime (CPU: the head is tiny)."""

    def __init__(self, onnx_path: str | Path) -> None:
        import onnxruntime as ort

        self.card = load_ldm_card(onnx_path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - ORT raises several types for an unreadable model
            raise ModelFileError(f"cannot load LDM model {onnx_path}: {exc}") from exc

    def score(self, embedding: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """embedding [1, D], actions [K, 2] -> (E [K], G [K]) float32."""
        energy, ldm = self._session.run(None, {"embedding": np.ascontiguousarray(embedding, np.float32).reshape(1, -1),
                                               "actions": np.ascontiguousarray(actions, np.float32)})
        return energy, ldm
