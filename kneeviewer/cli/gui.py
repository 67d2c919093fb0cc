"""GUI commands: ``kneeviewer demo``, ``kneeviewer open PATH...`` and ``kneeviewer`` alone."""

from __future__ import annotations

import argparse
from pathlib import Path

from kneeviewer.visual.camera import VIEWS


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``demo`` and ``open`` commands."""
    demo = subparsers.add_parser(
        "demo",
        help="open the viewer on the built-in phantom knee and run the pipeline",
        description="Open the desktop viewer, write the phantom knee (once) and run the pipeline on it.",
    )
    _add_window_options(demo)
    demo.set_defaults(func=run_demo)

    open_parser = subparsers.add_parser(
        "open",
        help="open the viewer on a label map, DICOM folders or a results folder",
        description="Open the desktop viewer on the given inputs: a finished results folder, or a label map "
        "with optional DESS and MSME DICOM folders (a multi-echo folder is taken as MSME). "
        "A label map starts the pipeline at once.",
    )
    open_parser.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="label map file, DICOM folder or results folder")
    _add_window_options(open_parser)
    open_parser.set_defaults(func=run_open)


def _add_window_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--screenshot", type=Path, default=None, metavar="FILE.png",
        help="save an image of the window once the results are shown, then exit (status 1 if the run fails)",
    )
    parser.add_argument("--view", default=None, choices=list(VIEWS), help="initial camera preset (default: anterior)")
    parser.add_argument("--array", default=None, help="initial point array to colour by, e.g. t2_ms (default: thickness_mm)")
    parser.add_argument(
        "--work-dir", type=Path, default=None,
        help="folder for runs started from the window, the demo knee and the log file (default: per-user data folder)",
    )


def run_demo(args: argparse.Namespace) -> int:
    """Open the window on the phantom knee."""
    check_display()
    from kneeviewer.app.application import run_window

    return run_window(demo=True, screenshot=args.screenshot, work_dir=args.work_dir, view=args.view, array=args.array)


def run_open(args: argparse.Namespace) -> int:
    """Open the window on the given paths."""
    check_display()
    from kneeviewer.app.application import run_window

    return run_window(paths=list(args.paths), screenshot=args.screenshot, work_dir=args.work_dir, view=args.view, array=args.array)


def check_display() -> None:
    """Raise InputError when Qt has no screen to draw on (Linux without X11 or Wayland)."""
    import os
    import sys

    from kneeviewer.errors import InputError

    if not sys.platform.startswith("linux"):
        return
    if os.environ.get("QT_QPA_PLATFORM", "").split(":")[0] in ("offscreen", "minimal", "vnc", "eglfs", "linuxfb"):
        return
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return
    raise InputError(
        "No display found (neither DISPLAY nor WAYLAND_DISPLAY is set). Run the app on a desktop, "
        "under xvfb-run, or use 'kneeviewer render' to make figures without a window."
    )


def open_default_window(args: argparse.Namespace) -> int:
    """Open an empty main window (``kneeviewer`` without a command)."""
    check_display()
    from kneeviewer.app.application import run_window

    return run_window()
