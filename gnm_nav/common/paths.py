"""Where the package's shipped files (config, models, launch) live, installed or in a checkout."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

DEFAULT_GNM_MODEL = "gnm_relit.onnx"
"""The shipped GNM every node and command uses unless told otherwise (docs/decisions.md, "The default models")."""
DEFAULT_LDM_MODEL = "ldm_relit.onnx"
"""The shipped LDM, trained on DEFAULT_GNM_MODEL's encoder."""


@lru_cache(maxsize=1)
def share_dir() -> Path:
    """The package share directory: the ament install location, else the source checkout."""
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "package.xml").is_file():
        return checkout
    try:
        from ament_index_python.packages import get_package_share_directory

        return Path(get_package_share_directory("gnm_nav"))
    except (ImportError, LookupError) as exc:
        raise FileNotFoundError("cannot find the gnm_nav share directory (config/, models/)") from exc


def config_dir() -> Path:
    return share_dir() / "config"


def models_dir() -> Path:
    return share_dir() / "models"


def resolve_model_path(path: str | Path) -> Path:
    """A model path as given, or relative to the shipped models/ folder."""
    candidate = Path(path).expanduser()
    if candidate.is_file() or candidate.is_absolute():
        return candidate
    shipped = models_dir() / candidate
    return shipped if shipped.is_file() else candidate
