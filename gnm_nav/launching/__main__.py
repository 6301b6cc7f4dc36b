"""`python -m gnm_nav.launching SET [name:=value ...]`: start a launch file's node set without launch_ros.

SET is navigate | build_graph | sim | replay; the arguments are the launch file's (namespace, use_sim_time,
params_file, log_level, autostart, and the set's own such as graph_dir, goal_node, world). Nodes log to
--log-dir; Ctrl-C stops them all (the graph builder saves on the way out).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from gnm_nav.common.errors import GnmNavError
from gnm_nav.launching.arguments import parse_arguments
from gnm_nav.launching.node_sets import NODE_SETS
from gnm_nav.launching.processes import Launcher


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
