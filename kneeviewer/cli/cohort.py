"""``kneeviewer cohort ...``: the cohort command group.

The subcommands live in their own modules: ``cohort phantom`` in
:mod:`kneeviewer.cli.cohort_phantom` and ``cohort stats`` in
:mod:`kneeviewer.cli.cohort_stats`. Each has ``register(subparsers)``.
"""

from __future__ import annotations

import argparse

_SUBCOMMAND_MODULES = ("cohort_phantom", "cohort_stats")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``cohort`` command group."""
    parser = subparsers.add_parser("cohort", help="build a phantom cohort or compute cohort statistics")
    cohort_subparsers = parser.add_subparsers(dest="cohort_command", metavar="SUBCOMMAND")
    parser.set_defaults(func=lambda args: parser.print_help() or 2)
    from kneeviewer.cli.main import register_modules

    register_modules(cohort_subparsers, _SUBCOMMAND_MODULES)
