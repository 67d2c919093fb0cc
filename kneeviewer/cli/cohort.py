"""``kneeviewer cohort ...``: the cohort command group.

The subcommands live in their own modules: ``cohort phantom`` in
:mod:`kneeviewer.cli.cohort_phantom` and ``cohort stats`` in
:mod:`kneeviewer.cli.cohort_stats`. Each has ``register(subparsers)``.
"""

from __future__ import annotations

import argparse
import importlib

_SUBCOMMAND_MODULES = ("cohort_phantom", "cohort_stats")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``cohort`` command group."""
    parser = subparsers.add_parser("cohort", help="build a phantom cohort or compute cohort statistics")
    cohort_subparsers = parser.add_subparsers(dest="cohort_command", metavar="SUBCOMMAND")
    parser.set_defaults(func=lambda args: parser.print_help() or 2)
    for name in _SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(f"kneeviewer.cli.{name}")
        except ModuleNotFoundError as error:
            if error.name == f"kneeviewer.cli.{name}":
                continue
            raise
        module.register(cohort_subparsers)
