"""Entry point of the ``kneeviewer`` command.

Each command group lives in its own module with a ``register(subparsers)``
function that adds its parser and sets ``func``. Commands that are not
installed yet (a module missing) are skipped so that the rest still works.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from pathlib import Path

from kneeviewer import __version__
from kneeviewer.errors import Cancelled, KneeViewerError

log = logging.getLogger("kneeviewer")

#: Modules under kneeviewer.cli that register commands, in help order.
COMMAND_MODULES = (
    "run",
    "batch",
    "t2",
    "phantom",
    "render",
    "gui",
    "cohort",
    "learning",
    "stats",
)

#: Commands whose finished stages or knees stay on disk when interrupted.
_STAGED_COMMANDS = ("run", "batch", "cohort", "demo", "open")


class OneLineErrorParser(argparse.ArgumentParser):
    """Argument parser that reports a usage error in one line, without the usage block."""

    def error(self, message: str):
        """Print ``message`` with a pointer to ``--help`` and exit with status 2."""
        self.exit(2, f"{self.prog}: error: {message}; see '{self.prog} --help'.\n")


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every available command."""
    parser = OneLineErrorParser(
        prog="kneeviewer",
        description="Knee MRI biomarkers on bone surfaces, chronic-pain models and cohort statistics. "
        "Without a command, opens the desktop viewer.",
    )
    parser.add_argument("--version", action="version", version=f"kneeviewer {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages to stderr")
    parser.add_argument("--log-file", type=Path, default=None, help="also write the log to this file")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    register_modules(subparsers, COMMAND_MODULES)
    return parser


def register_modules(subparsers: argparse._SubParsersAction, names: tuple[str, ...]) -> None:
    """Call ``register(subparsers)`` of each ``kneeviewer.cli.<name>`` module that is installed."""
    for name in names:
        try:
            module = importlib.import_module(f"kneeviewer.cli.{name}")
        except ModuleNotFoundError as error:
            if error.name == f"kneeviewer.cli.{name}":
                continue
            raise
        module.register(subparsers)


def configure_logging(verbose: bool, log_file: Path | None) -> None:
    """Send kneeviewer's log to stderr (warnings, or everything with -v) and optionally to a file."""
    root = logging.getLogger("kneeviewer")
    root.setLevel(logging.DEBUG)
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.DEBUG if verbose else logging.WARNING)
    console.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    root.addHandler(console)
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_file, encoding="utf-8")
        handler.setLevel(logging.DEBUG)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)


def main(argv: list[str] | None = None) -> int:
    """Run the ``kneeviewer`` command line and return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.verbose, args.log_file)
    func = getattr(args, "func", None)
    if func is None:
        try:
            from kneeviewer.cli.gui import open_default_window
        except ImportError:
            parser.print_help()
            return 0
        func = open_default_window
    try:
        return int(func(args) or 0)
    except Cancelled as error:
        print(f"kneeviewer: {error}", file=sys.stderr)
        return 130
    except KneeViewerError as error:
        print(f"kneeviewer: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        kept = "; finished stages are kept on disk" if args.command in _STAGED_COMMANDS else ""
        print(f"kneeviewer: interrupted{kept}.", file=sys.stderr)
        return 130
    except MemoryError:
        print("kneeviewer: error: out of memory. Lower --target-vertices or close other programs.", file=sys.stderr)
        return 1
    except Exception as error:  # noqa: BLE001 - last resort so that users never see a traceback
        log.debug("Unexpected error", exc_info=True)
        hint = f" The full traceback is in {args.log_file}." if args.log_file else " Run again with -v --log-file FILE for details."
        print(f"kneeviewer: internal error: {type(error).__name__}: {error}.{hint}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
