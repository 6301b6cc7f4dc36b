"""Name a world on the command line or in a parameter: a seed, FAMILY:SEED, a shipped name, or a spec file."""
from __future__ import annotations

from pathlib import Path

from gnm_nav.common.paths import config_dir
from gnm_nav.sim.world_gen import GENERATED_FAMILIES, LARGE_SCALE, generate_world
from gnm_nav.sim.world_spec import WorldSpec, WorldSpecError, load_world_spec


def worlds_dir() -> Path:
    return config_dir() / "worlds"


def shipped_worlds() -> list[str]:
    return sorted(p.stem for p in worlds_dir().glob("*.yaml"))


def resolve_world(text: str | int) -> WorldSpec:
    """'7' -> generated from seed 7 (family by seed); 'maze:7'; 'large:7' or 'large:maze:7' (twice the side
    lengths); 'office_small' (config/worlds/); 'path/to.yaml'."""
    text = str(text).strip()
    scale = 1.0
    if text.startswith("large:"):
        text, scale = text[len("large:"):], LARGE_SCALE
    if text.isdigit():
        return generate_world(int(text), scale=scale)
    family, sep, seed = text.partition(":")
    if sep or scale != 1.0:
        if family not in GENERATED_FAMILIES or not seed.isdigit():
            raise WorldSpecError(f"world {text!r}: expected SEED, FAMILY:SEED or large:SEED / large:FAMILY:SEED "
                                 f"with FAMILY one of {', '.join(GENERATED_FAMILIES)} and a seed >= 0")
        return generate_world(int(seed), family, scale)
    path = Path(text).expanduser()
    if path.suffix in (".yaml", ".yml"):
        return load_world_spec(path)
    shipped = worlds_dir() / f"{text}.yaml"
    if shipped.is_file():
        return load_world_spec(shipped)
    raise WorldSpecError(f"unknown world {text!r}: give a seed, FAMILY:SEED ({', '.join(GENERATED_FAMILIES)}), "
                         f"a spec .yaml file, or a shipped world ({', '.join(shipped_worlds()) or 'none'})")
