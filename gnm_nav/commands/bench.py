"""`gnm-nav bench AREA --out FILE.json`: speed and memory benchmarks, one module per area.

A bench module (gnm_nav.bench.<area>) defines HELP, add_arguments(parser) and run(args) -> dict;
this command writes the dict as JSON (atomically) and prints it as a short table. An area whose module
also has markdown(results) can put its table into a Markdown file: `gnm-nav bench report FILE.json
--update README.md --section NAME` (between `<!-- gnm-nav bench report: NAME -->` and its end marker).
"""
from __future__ import annotations

import argparse
import importlib
import json
import platform
from pathlib import Path

from gnm_nav.common.atomic import atomic_write_json

HELP = "speed and memory benchmarks (write JSON; compare variants in one run)"

AREAS = {
    "policy": "gnm_nav.bench.policy",
    "sim": "gnm_nav.bench.sim",
    "localize": "gnm_nav.bench.localize",
    "ldm": "gnm_nav.bench.ldm",
    "stack": "gnm_nav.bench.stack",
    "training": "gnm_nav.bench.training",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="area", metavar="AREA", required=True)
    for area, module_name in AREAS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(area, help=module.HELP, description=module.HELP)
        p.add_argument("--out", required=True, help="JSON file to write")
        module.add_arguments(p)
        p.set_defaults(func=_runner(module))
    p = sub.add_parser("report", help="print a bench's JSON as a Markdown table (or write it into a file)")
    p.add_argument("file", type=Path, help="the JSON a bench wrote")
    p.add_argument("--update", type=Path, default=None,
                   help="write the table into this Markdown file between `<!-- gnm-nav bench report: SECTION -->` "
                        "and `<!-- end of gnm-nav bench report -->`")
    p.add_argument("--section", default="", help="the name in that marker (default the file's name)")
    p.set_defaults(func=run_report)


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


def bench_markdown(results: dict) -> str:
    """A bench's results as Markdown, by the module of its area (GnmNavError when the area has no table)."""
    from gnm_nav.common.errors import GnmNavError

    module_name = AREAS.get(str(results.get("area")))
    module = importlib.import_module(module_name) if module_name else None
    if module is None or not hasattr(module, "markdown"):
        raise GnmNavError(f"bench area {results.get('area')!r} has no report table")
    return module.markdown(results)


def run_report(args: argparse.Namespace) -> int:
    from gnm_nav.common.errors import GnmNavError
    from gnm_nav.evaluation.report import update_document

    try:
        results = json.loads(args.file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise GnmNavError(f"cannot read {args.file} as a bench's JSON: {exc}") from exc
    text = bench_markdown(results)
    if args.update is None:
        print(text)
        return 0
    name = args.section or args.file.stem
    update_document(args.update, name, text, kind="bench")
    print(f"updated the bench table {name!r} in {args.update}")
    return 0
