"""Name a world on the command line or in a parameter: a seed, FAMILY:SEED, a shipped name, or a spec file."""
from __future__ import annotations

from pathlib import Path

from gnm_nav.paths import config_dir
from gnm_nav.sim.world_gen import GENERATED_FAMILIES, generate_world
from gnm_nav.sim.world_spec import WorldSpec, WorldSpecError, load_world_spec


def worlds_dir() -> Path:
    return config_dir() / "worlds"


def shipped_worlds() -> list[str]:
    return sorted(p.stem for p in worlds_dir().glob("*.yaml"))


def resolve_world(text: str | int) -> WorldSpec:
    """'7' -> generated from seed 7 (family by seed); 'maze:7'; 'office_small' (config/worlds/); 'path/to.yaml'."""
    text = str(text).strip()
    if text.lstrip("-").isdigit():
        return generate_world(int(text))
    family, sep, seed = text.partition(":")
    if sep:
        if family not in GENERATED_FAMILIES or not seed.lstrip("-").isdigit():
            raise WorldSpecError(f"world {text!r}: expected FAMILY:SEED with FAMILY one of "
                                 f"{', '.join(GENERATED_FAMILIES)} and an integer seed")
        return generate_world(int(seed), family)
    path = Path(text).expanduser()
    if path.suffix in (".yaml", ".yml"):
        return load_world_spec(path)
    shipped = worlds_dir() / f"{text}.yaml"
    if shipped.is_file():
        return load_world_spec(shipped)
    raise WorldSpecError(f"unknown world {text!r}: give a seed, FAMILY:SEED ({', '.join(GENERATED_FAMILIES)}), "
                         f"a spec .yaml file, or a shipped world ({', '.join(shipped_worlds()) or 'none'})")
