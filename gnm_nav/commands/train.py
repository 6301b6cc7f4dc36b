"""`gnm-nav train MODEL ...`: training jobs, one trainer module per model kind.

A trainer module defines HELP, add_arguments(parser) (setting func=run) and run(args) -> int, and
keeps torch imports inside its functions so that `gnm-nav --help` stays fast.
"""
from __future__ import annotations

import argparse
import importlib

HELP = ("train models (gnm: the navigation policy; gnm-dagger: it again, on the states it drives into; ldm: the "
        "safety filter's Lyapunov density model)")

TRAINERS = {"gnm": "gnm_nav.gnm.training.cli", "gnm-dagger": "gnm_nav.gnm.training.dagger",
            "ldm": "gnm_nav.ldm.train"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="model", metavar="MODEL", required=True)
    for name, module_name in TRAINERS.items():
        module = importlib.import_module(module_name)
        module.add_arguments(sub.add_parser(name, help=module.HELP, description=module.HELP))
