"""Robot bodies: speed limits, camera geometry and size, loaded from config/robots/*.yaml."""
from __future__ import annotations

import math
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path

import yaml

from gnm_nav.common.paths import config_dir


@dataclass(frozen=True)
class RobotProfile:
    """Everything the nodes and the simulator need to know about one robot body."""

    name: str
    max_v: float  # m/s, forward
    max_w: float  # rad/s
    max_acc_v: float  # m/s^2
    max_acc_w: float  # rad/s^2
    camera_topic: str
    camera_rate_hz: float
    camera_width: int
    camera_height: int
    camera_hfov_deg: float
    camera_height_m: float  # mount height above the floor
    camera_pitch_deg: float  # positive looks down
    body_radius_m: float
    description: str = ""
    odometry_noise: str = "typical"  # wheel-odometry error preset the simulator gives this body (sim/odometry_error)

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type in ("float", "int") and not (isinstance(value, (int, float)) and math.isfinite(value)):
                raise ValueError(f"robot profile {self.name!r}: field {f.name!r} must be a number, got {value!r}")
        for key in ("max_v", "max_w", "max_acc_v", "max_acc_w", "camera_rate_hz", "camera_width",
                    "camera_height", "camera_hfov_deg", "body_radius_m"):
            if getattr(self, key) <= 0:
                raise ValueError(f"robot profile {self.name!r}: field {key!r} must be > 0")
        from gnm_nav.sim.odometry_error import PRESETS

        if self.odometry_noise not in PRESETS:
            raise ValueError(f"robot profile {self.name!r}: field 'odometry_noise' must be one of {list(PRESETS)}, "
                             f"got {self.odometry_noise!r}")

    def to_dict(self) -> dict:
        return asdict(self)


def robots_dir() -> Path:
    return config_dir() / "robots"


def available_robots() -> list[str]:
    return sorted(p.stem for p in robots_dir().glob("*.yaml"))


def load_robot_profile(name_or_path: str | Path) -> RobotProfile:
    """Load a profile by name (config/robots/NAME.yaml) or by file path; unknown fields are errors."""
    path = Path(name_or_path)
    if not path.suffix:
        path = robots_dir() / f"{name_or_path}.yaml"
    if not path.is_file():
        raise FileNotFoundError(
            f"unknown robot profile {str(name_or_path)!r}: no file {path} (available: {', '.join(available_robots())})"
        )
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"robot profile {path}: expected a mapping at top level")
    known = {f.name for f in fields(RobotProfile)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"robot profile {path}: unknown field(s) {unknown}; known fields: {sorted(known)}")
    data.setdefault("name", path.stem)
    optional = {f.name for f in fields(RobotProfile) if f.default is not MISSING}
    missing = sorted(f.name for f in fields(RobotProfile) if f.name not in data and f.name not in optional)
    if missing:
        raise ValueError(f"robot profile {path}: missing field(s) {missing}")
    return RobotProfile(**data)
