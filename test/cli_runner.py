"""A `gnm-nav SUBCOMMAND ARGV` run through its command module, as gnm_nav.cli runs it: a user error is one printed
line and exit code 2."""
from __future__ import annotations

import argparse
from types import ModuleType

from gnm_nav.common.errors import GnmNavError


def run_command(module: ModuleType, argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except GnmNavError as exc:
        print(f"error: {exc}")
        return 2
