"""The world spec: a small YAML-able description of an indoor world, the single source for MJCF and occupancy.

Geometry is boxes (with an optional yaw) and upright cylinders on the floor, plus materials and
lights, so the renderer, the collision checker and the planner's occupancy grid can never disagree.
Loading is strict: an unknown or misspelt field is an error naming it (with its path in the file).
"""
from __future__ import annotations

import dataclasses
import math
import numbers
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gnm_nav.common.atomic import atomic_write_text
from gnm_nav.common.errors import GnmNavError

TEXTURE_KINDS = ("plain", "wood", "tiles", "carpet", "concrete", "plaster", "brick", "stripes", "cardboard", "metal",
                 "checker")
FAMILIES = ("office", "hall", "maze", "custom")


class WorldSpecError(GnmNavError):
    """A world spec file is malformed (unknown field, wrong type, bad value)."""


@dataclass
class Material:
    """A surface look: base colour and a procedural texture pattern (see sim/textures.py)."""

    rgb: list[float]
    texture: str = "plain"
    texture_scale_m: float = 1.0  # metres covered by one texture tile
    specular: float = 0.1
    emission: float = 0.0  # > 0 for lamp panels that should glow


@dataclass
class Box:
    """A wall, floor zone or obstacle block: centre (x, y) on the floor, full size (sx, sy) in plan."""

    center: list[float]
    size: list[float]
    height: float
    material: str
    yaw: float = 0.0
    z: float = 0.0  # bottom of the box above the floor
    solid: bool = True  # False: purely visual (floor zones, ceiling lamps): ignored by collision and planning


@dataclass
class Cylinder:
    center: list[float]
    radius: float
    height: float
    material: str
    z: float = 0.0
    solid: bool = True


@dataclass
class Light:
    pos: list[float]
    diffuse: list[float]
    directional: bool = False
    dir: list[float] = field(default_factory=lambda: [0.0, 0.0, -1.0])


@dataclass
class WorldSpec:
    """One world. bounds = [xmin, ymin, xmax, ymax] of the free-space area (outside counts as occupied)."""

    name: str
    family: str
    seed: int
    bounds: list[float]
    wall_height: float
    floor_material: str
    ceiling_material: str | None
    materials: dict[str, Material]
    walls: list[Box] = field(default_factory=list)
    obstacles: list[Box] = field(default_factory=list)
    pillars: list[Cylinder] = field(default_factory=list)
    decor: list[Box] = field(default_factory=list)
    lights: list[Light] = field(default_factory=list)
    ambient: list[float] = field(default_factory=lambda: [0.3, 0.3, 0.3])
    spawn: list[float] | None = None  # [x, y, yaw] default spawn pose

    def __post_init__(self) -> None:
        validate(self)

    def boxes(self) -> list[Box]:
        return [*self.walls, *self.obstacles, *self.decor]

    def solid_boxes(self) -> list[Box]:
        return [b for b in self.boxes() if b.solid]

    def solid_cylinders(self) -> list[Cylinder]:
        return [c for c in self.pillars if c.solid]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _check_len(where: str, value: list[float], n: int) -> None:
    if len(value) != n or not all(math.isfinite(v) for v in value):
        raise WorldSpecError(f"world spec: field {where!r} must be a list of {n} finite numbers, got {value!r}")


def validate(spec: WorldSpec) -> None:
    """Cross-field checks that a type check cannot do (materials exist, sizes positive, bounds ordered)."""
    if spec.family not in FAMILIES:
        raise WorldSpecError(f"world spec: field 'family' must be one of {FAMILIES}, got {spec.family!r}")
    _check_len("bounds", spec.bounds, 4)
    if spec.bounds[2] <= spec.bounds[0] or spec.bounds[3] <= spec.bounds[1]:
        raise WorldSpecError(f"world spec: field 'bounds' must be [xmin, ymin, xmax, ymax], got {spec.bounds}")
    if spec.wall_height <= 0:
        raise WorldSpecError("world spec: field 'wall_height' must be > 0")
    _check_len("ambient", spec.ambient, 3)
    for name, mat in spec.materials.items():
        _check_len(f"materials.{name}.rgb", mat.rgb, 3)
        if mat.texture not in TEXTURE_KINDS:
            raise WorldSpecError(f"world spec: field 'materials.{name}.texture' must be one of {TEXTURE_KINDS}, "
                                 f"got {mat.texture!r}")
        if mat.texture_scale_m <= 0:
            raise WorldSpecError(f"world spec: field 'materials.{name}.texture_scale_m' must be > 0")
    used: list[tuple[str, str]] = [("floor_material", spec.floor_material)]
    if spec.ceiling_material is not None:
        used.append(("ceiling_material", spec.ceiling_material))
    for group in ("walls", "obstacles", "decor", "pillars"):
        for i, item in enumerate(getattr(spec, group)):
            where = f"{group}[{i}]"
            used.append((f"{where}.material", item.material))
            _check_len(f"{where}.center", item.center, 2)
            if isinstance(item, Box):
                _check_len(f"{where}.size", item.size, 2)
                if min(item.size) <= 0:
                    raise WorldSpecError(f"world spec: field '{where}.size' must be positive, got {item.size}")
            elif item.radius <= 0:
                raise WorldSpecError(f"world spec: field '{where}.radius' must be > 0")
            if item.height <= 0:
                raise WorldSpecError(f"world spec: field '{where}.height' must be > 0")
    for where, material in used:
        if material not in spec.materials:
            raise WorldSpecError(f"world spec: field {where!r} names unknown material {material!r} "
                                 f"(defined: {', '.join(sorted(spec.materials))})")
    for i, light in enumerate(spec.lights):
        _check_len(f"lights[{i}].pos", light.pos, 3)
        _check_len(f"lights[{i}].diffuse", light.diffuse, 3)
        _check_len(f"lights[{i}].dir", light.dir, 3)
    if spec.spawn is not None:
        _check_len("spawn", spec.spawn, 3)


def _convert(tp: Any, value: Any, where: str) -> Any:
    """Build `tp` from plain YAML data, rejecting unknown fields and wrong types with the field's path."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _convert(inner, value, where)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise WorldSpecError(f"world spec: field {where!r} must be a mapping, got {type(value).__name__}")
        hints = typing.get_type_hints(tp)
        known = {f.name for f in dataclasses.fields(tp)}
        unknown = sorted(set(value) - known)
        if unknown:
            prefix = f"{where}." if where else ""
            raise WorldSpecError(f"world spec: unknown field {prefix}{unknown[0]!r} "
                                 f"(known fields{' of ' + where if where else ''}: {', '.join(sorted(known))})")
        required = [f.name for f in dataclasses.fields(tp)
                    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        missing = [n for n in required if n not in value]
        if missing:
            prefix = f"{where}." if where else ""
            raise WorldSpecError(f"world spec: missing field {prefix}{missing[0]!r}")
        kwargs = {k: _convert(hints[k], v, f"{where}.{k}" if where else k) for k, v in value.items()}
        return typing.cast(Any, tp)(**kwargs)
    if origin is list:
        if not isinstance(value, list):
            raise WorldSpecError(f"world spec: field {where!r} must be a list, got {type(value).__name__}")
        (inner,) = typing.get_args(tp)
        return [_convert(inner, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise WorldSpecError(f"world spec: field {where!r} must be a mapping, got {type(value).__name__}")
        _, inner = typing.get_args(tp)
        return {str(k): _convert(inner, v, f"{where}.{k}") for k, v in value.items()}
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise WorldSpecError(f"world spec: field {where!r} must be a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise WorldSpecError(f"world spec: field {where!r} must be an integer, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise WorldSpecError(f"world spec: field {where!r} must be true or false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise WorldSpecError(f"world spec: field {where!r} must be a string, got {value!r}")
        return value
    raise TypeError(f"unsupported spec field type {tp}")  # programming error in the dataclasses above


def spec_from_dict(data: Any) -> WorldSpec:
    return _convert(WorldSpec, data, "")


def load_world_spec(path: str | Path) -> WorldSpec:
    path = Path(path)
    if not path.is_file():
        raise WorldSpecError(f"world spec file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise WorldSpecError(f"world spec {path}: not a text file (binary content)") from None
    except yaml.YAMLError as exc:
        raise WorldSpecError(f"world spec {path}: not valid YAML: {exc}") from exc
    try:
        return spec_from_dict(data)
    except WorldSpecError as exc:
        raise WorldSpecError(f"{path}: {exc}") from exc


def _rounded(obj: Any) -> Any:
    """Round floats so saved specs stay small and diff-friendly."""
    if isinstance(obj, bool):
        return obj
    if isinstance(obj, numbers.Integral):
        return int(obj)
    if isinstance(obj, numbers.Real):
        return round(float(obj), 4)
    if isinstance(obj, list):
        return [_rounded(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _rounded(v) for k, v in obj.items()}
    return obj


def _without_defaults(obj: Any) -> Any:
    """A dataclass as a dict, leaving out fields that equal their default (smaller, more readable files)."""
    out = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if f.default is not dataclasses.MISSING and value == f.default:
            continue
        if f.default_factory is not dataclasses.MISSING and value == f.default_factory():
            continue
        if dataclasses.is_dataclass(value):
            value = _without_defaults(value)
        elif isinstance(value, list):
            value = [_without_defaults(v) if dataclasses.is_dataclass(v) else v for v in value]
        elif isinstance(value, dict):
            value = {k: _without_defaults(v) if dataclasses.is_dataclass(v) else v for k, v in value.items()}
        out[f.name] = _rounded(value)
    return out


def _flow(value: Any) -> str:
    """One-line YAML for any value (dumped inside a list so scalars get no document-end marker)."""
    return yaml.safe_dump([value], default_flow_style=True, width=10_000).strip()[1:-1]


def dump_world_spec(spec: WorldSpec) -> str:
    """YAML text with one line per material, wall, obstacle and light."""
    lines = []
    for key, value in _without_defaults(spec).items():
        if isinstance(value, dict) and value:
            lines.append(f"{key}:")
            lines += [f"  {k}: {_flow(v)}" for k, v in value.items()]
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            lines.append(f"{key}:")
            lines += [f"  - {_flow(v)}" for v in value]
        else:
            lines.append(f"{key}: {_flow(value)}")
    return "\n".join(lines) + "\n"


def save_world_spec(spec: WorldSpec, path: str | Path) -> None:
    atomic_write_text(path, dump_world_spec(spec))
