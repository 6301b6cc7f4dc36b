"""Launch arguments (name:=value) -> a node set's options and keyword arguments: the package launcher and the
launch files read them the same way."""
from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from gnm_nav.common.errors import GnmNavError
from gnm_nav.launching.node_sets import NODE_SETS, LaunchOptions

OPTION_NAMES = ("namespace", "use_sim_time", "params_file", "log_level", "autostart")
NONE_DEFAULT_TYPES = {"goal_node": 0, "real_time_factor": 0.0, "spawn_pose": [], "params_file": ""}  # type by example


def _value(text: str, like: Any) -> Any:
    if isinstance(like, bool):
        if text.lower() not in ("true", "false"):
            raise GnmNavError(f"expected true or false, got {text!r}")
        return text.lower() == "true"
    if isinstance(like, int):
        return int(text)
    if isinstance(like, float):
        return float(text)
    if isinstance(like, list):
        return [float(v) for v in text.strip("[]").split(",")]
    return text


def parse_arguments(set_name: str, pairs: list[str]) -> tuple[LaunchOptions, dict[str, Any]]:
    """name:=value pairs -> (standard options, the node-set function's keyword arguments)."""
    if set_name not in NODE_SETS:
        raise GnmNavError(f"unknown node set {set_name!r}; one of {', '.join(NODE_SETS)}")
    signature = inspect.signature(NODE_SETS[set_name])
    accepted = {n: p.default for n, p in signature.parameters.items() if n != "opts"}
    defaults = LaunchOptions()
    options: dict[str, Any] = {}
    kwargs: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition(":=")
        if not sep:
            raise GnmNavError(f"argument {pair!r} is not name:=value")
        try:
            if name == "params_file":
                options[name] = Path(text) if text else None
            elif name in OPTION_NAMES:
                options[name] = _value(text, getattr(defaults, name))
            elif name in accepted:
                like = accepted[name]
                kwargs[name] = _value(text, NONE_DEFAULT_TYPES.get(name, "") if like is None else like)
            else:
                raise GnmNavError(f"set {set_name} takes no argument {name!r} (it takes "
                                  f"{', '.join([*OPTION_NAMES, *accepted])})")
        except ValueError as exc:
            raise GnmNavError(f"argument {name}: {exc}") from exc
    return LaunchOptions(**options), kwargs
