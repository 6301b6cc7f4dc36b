"""`python -m gnm_nav.launching SET [name:=value ...]`: start a launch file's node set without launch_ros.

SET is navigate | build_graph | sim | replay; the arguments are the launch file's (namespace, use_sim_time,
params_file, log_level, autostart, and the set's own such as graph_dir, goal_node, world). Nodes log to
--log-dir; Ctrl-C stops them all (the graph builder saves on the way out).
"""
from __future__ import annotations

import argparse
import inspect
import sys
import time
from pathlib import Path
from typing import Any

from gnm_nav.errors import GnmNavError
from gnm_nav.launching.node_sets import NODE_SETS, LaunchOptions
from gnm_nav.launching.processes import Launcher

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gnm_nav.launching", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("set", choices=sorted(NODE_SETS))
    parser.add_argument("arguments", nargs="*", help="name:=value launch arguments")
    parser.add_argument("--log-dir", type=Path, default=Path("log/gnm_nav"), help="per-node log files")
    args = parser.parse_args(argv)
    try:
        opts, kwargs = parse_arguments(args.set, args.arguments)
        specs = NODE_SETS[args.set](opts, **kwargs)
        with Launcher(args.log_dir, opts) as launcher:
            launcher.start(specs)
            print(f"started {', '.join(s.name for s in specs)}; logs in {args.log_dir}; Ctrl-C stops them")
            while True:
                launcher.check()
                time.sleep(0.5)
    except KeyboardInterrupt:
        print("stopped")
        return 0
    except GnmNavError as exc:
        print(f"gnm_nav.launching: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
