"""`gnm-nav`: one command-line tool; each subcommand lives in gnm_nav.commands.<module>.

A command module defines HELP, add_arguments(parser) (which sets `func` on the parser or on its
own subparsers) and keeps heavy imports (torch, onnxruntime, mujoco) inside its functions so
that `gnm-nav --help` stays fast.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

from gnm_nav.common.errors import GnmNavError

COMMANDS = {
    "export": "gnm_nav.commands.export",
    "graph": "gnm_nav.commands.graph",
    "sim": "gnm_nav.commands.sim",
    "train": "gnm_nav.commands.train",
    "eval": "gnm_nav.commands.evaluate",
    "closed-loop": "gnm_nav.commands.closed_loop",
    "replay": "gnm_nav.commands.replay",
    "bench": "gnm_nav.commands.bench",
    "demo": "gnm_nav.commands.demo",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gnm-nav", description="gnm_nav tools: export, graph, sim, train, eval, closed-loop, replay, bench, demo")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        module.add_arguments(sub.add_parser(name, help=module.HELP, description=module.HELP))
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.argv = argv  # recorded in model cards and reports, so results say how they were made
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    if not hasattr(args, "func"):
        build_parser().parse_args([args.command, "--help"])
    try:
        return int(args.func(args) or 0)
    except GnmNavError as exc:
        print(f"gnm-nav {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"gnm-nav {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
