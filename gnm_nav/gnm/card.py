"""The JSON model card that travels beside every exported ONNX file.

It records everything a consumer needs to feed the network correctly (image size, context size
and spacing, normalisation, crop), which files make up the model and their sha256 (so a
truncated or swapped file is caught at load time), and where the weights came from.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gnm_nav.common.atomic import atomic_write_json
from gnm_nav.common.errors import ModelFileError

CARD_FORMAT_VERSION = 1
# Model parts: the whole network, the observation branch, and goal branch + trunk + heads.
PARTS = ("whole", "obs", "goal")


@dataclass(frozen=True)
class ModelCard:
    architecture: str
    context_size: int
    len_traj_pred: int
    learn_angle: bool
    obs_encoding_size: int
    goal_encoding_size: int
    image_size: tuple[int, int]  # (width, height)
    context_spacing_s: float
    center_crop: bool
    normalization: dict[str, list[float]]  # {"mean": [r, g, b], "std": [r, g, b]} on [0, 1] pixels
    inputs: dict[str, dict[str, list[int | str]]]  # part -> input name -> shape (str = dynamic axis)
    outputs: dict[str, dict[str, list[int | str]]]
    files: dict[str, str]  # part -> file name, relative to the card's folder
    sha256: dict[str, str]  # part -> sha256 hex digest of its file
    parameter_count: int
    opset: int
    source_checkpoint: str | None = None
    source_sha256: str | None = None
    training: dict[str, Any] | None = None  # filled by a training run (dataset, epochs, losses...)
    metrics: dict[str, Any] | None = None  # filled by an evaluation run
    closed_loop: dict[str, Any] | None = None  # the model driving alone on fixed routes (gnm-nav closed-loop --card)
    format_version: int = CARD_FORMAT_VERSION
    directory: Path = field(default=Path("."), compare=False)  # where the card was read from; not serialised

    @property
    def obs_channels(self) -> int:
        return 3 * (self.context_size + 1)

    def path_of(self, part: str) -> Path:
        """Absolute-or-relative path of a model part ('whole', 'obs', 'goal')."""
        if part not in self.files:
            raise ModelFileError(f"model card in {self.directory} lists no '{part}' part (has: {sorted(self.files)})")
        return self.directory / self.files[part]

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        del data["directory"]
        data["image_size"] = list(self.image_size)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], directory: Path) -> "ModelCard":
        names = {f.name for f in dataclasses.fields(cls)} - {"directory"}
        required = {f.name for f in dataclasses.fields(cls)
                     if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
        missing = sorted(required - data.keys())
        if missing:
            raise ValueError(f"missing fields {missing}")
        if data.get("format_version", CARD_FORMAT_VERSION) != CARD_FORMAT_VERSION:
            raise ValueError(f"format_version {data['format_version']} is not {CARD_FORMAT_VERSION}")
        values = {k: v for k, v in data.items() if k in names}
        width, height = values["image_size"]
        values["image_size"] = (int(width), int(height))
        return cls(**values, directory=directory)


def card_path_for(onnx_path: str | Path) -> Path:
    """FILE.onnx -> FILE.json."""
    return Path(onnx_path).with_suffix(".json")


def part_path_for(onnx_path: str | Path, part: str) -> Path:
    """FILE.onnx -> FILE.onnx (whole), FILE.obs.onnx, FILE.goal.onnx."""
    onnx_path = Path(onnx_path)
    return onnx_path if part == "whole" else onnx_path.with_suffix(f".{part}.onnx")


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_model_card(card: ModelCard, onnx_path: str | Path) -> Path:
    """Write the card beside its ONNX file (atomically) and return the card's path."""
    path = card_path_for(onnx_path)
    atomic_write_json(path, card.to_dict())
    return path


def load_model_card(onnx_path: str | Path, verify_files: bool = True) -> ModelCard:
    """Read FILE.json beside FILE.onnx; with verify_files, check every listed part exists with its sha256."""
    path = card_path_for(onnx_path)
    if not path.is_file():
        raise ModelFileError(f"model card {path} not found (every model needs its JSON card beside the .onnx; "
                             "re-export with `gnm-nav export`)")
    try:
        card = ModelCard.from_dict(json.loads(path.read_text(encoding="utf-8")), path.parent)
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError, TypeError, KeyError) as exc:
        raise ModelFileError(f"model card {path} is corrupt: {exc}") from exc
    if verify_files:
        for part in card.files:
            part_path = card.path_of(part)
            if not part_path.is_file():
                raise ModelFileError(f"model file {part_path} listed in {path} is missing")
            actual = sha256_file(part_path)
            if actual != card.sha256.get(part):
                raise ModelFileError(f"model file {part_path} does not match its card {path} "
                                     f"(sha256 {actual[:12]}..., card says {str(card.sha256.get(part))[:12]}...): "
                                     "corrupt or replaced; re-export it")
    return card
