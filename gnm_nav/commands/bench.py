"""`gnm-nav bench AREA --out FILE.json`: speed and memory benchmarks, one module per area.

A bench module (gnm_nav.bench.<area>) defines HELP, add_arguments(parser) and run(args) -> dict;
this command writes the dict as JSON (atomically) and prints it as a short table.
"""
from __future__ import annotations

import argparse
import importlib
import platform

from gnm_nav.atomic import atomic_write_json

HELP = "speed and memory benchmarks (write JSON; compare variants in one run)"

AREAS = {
    "policy": "gnm_nav.bench.policy",
    "sim": "gnm_nav.bench.sim",
    "localize": "gnm_nav.bench.localize",
    "ldm": "gnm_nav.bench.ldm",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="area", metavar="AREA", required=True)
    for area, module_name in AREAS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(area, help=module.HELP, description=module.HELP)
        p.add_argument("--out", required=True, help="JSON file to write")
        module.add_arguments(p)
        p.set_defaults(func=_runner(module))


def _runner(module):
    def run(args: argparse.Namespace) -> int:
        results = {"area": args.area, "machine": platform.machine(), "python": platform.python_version()}
        results.update(module.run(args))
        atomic_write_json(args.out, results)
        width = max(len(k) for k in results)
        for key, value in results.items():
            shown = f"{value:.3f}" if isinstance(value, float) else value
            print(f"  {key:<{width}}  {shown}")
        print(f"wrote {args.out}")
        return 0

    return run
