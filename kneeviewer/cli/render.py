"""``kneeviewer render``: the 3D view's figure as a PNG, without a window."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from kneeviewer.visual.camera import VIEWS

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``render`` command."""
    parser = subparsers.add_parser(
        "render",
        help="render the bones of a results folder coloured by a biomarker to a PNG",
        description="Render femur, tibia and patella of a finished results folder, coloured by one "
        "point array, with a legend, off screen (no display needed).",
    )
    parser.add_argument("--results", type=Path, required=True, help="results folder written by 'kneeviewer run'")
    parser.add_argument("--array", default="thickness_mm", help="point array to colour by (default: thickness_mm)")
    parser.add_argument("--view", default="anterior", choices=list(VIEWS), help="camera preset (default: anterior)")
    parser.add_argument("--out", type=Path, required=True, help="PNG file to write")
    parser.add_argument(
        "--size", type=int, nargs=2, metavar=("WIDTH", "HEIGHT"), default=(1200, 900),
        help="window size in pixels before scaling (default: 1200 900)",
    )
    parser.add_argument("--scale", type=int, default=1, help="image size multiplier applied to --size (default: 1)")
    parser.add_argument("--transparent", action="store_true", help="write a transparent background")
    parser.add_argument(
        "--clim", type=float, nargs=2, metavar=("LOW", "HIGH"), default=None,
        help="colour range in the array's unit (default: 2nd to 98th percentile over the bones)",
    )
    parser.add_argument("--cmap", default=None, help="matplotlib colour map name (default: per array, e.g. viridis)")
    parser.add_argument("--title", default=None, help="text drawn at the top left")
    parser.set_defaults(func=run_render)


def run_render(args: argparse.Namespace) -> int:
    """Render the figure that ``args`` describe and return the exit status."""
    from kneeviewer.errors import InputError
    from kneeviewer.visual.render import render_bones
    from kneeviewer.visual.results import read_bone_meshes

    if args.cmap is not None:
        import matplotlib

        if args.cmap not in matplotlib.colormaps:
            raise InputError(f"Unknown colour map '{args.cmap}'. Use a matplotlib name such as viridis, magma or coolwarm.")
    if min(args.size) < 16:
        raise InputError(f"--size must be at least 16 x 16 pixels, got {args.size[0]} x {args.size[1]}.")
    if args.clim is not None and not args.clim[1] > args.clim[0]:
        raise InputError(f"--clim needs LOW < HIGH, got {args.clim[0]} and {args.clim[1]}.")
    from kneeviewer.io.paths import check_output_file

    check_output_file(args.out, (".png",))
    if args.scale < 1:
        raise InputError(f"--scale {args.scale} is invalid; use a whole number of 1 or more.")
    meshes = read_bone_meshes(args.results)
    out = render_bones(
        meshes,
        args.array,
        args.out,
        view=args.view,
        clim=tuple(args.clim) if args.clim else None,
        cmap=args.cmap,
        scale=args.scale,
        window_size=tuple(args.size),
        transparent=args.transparent,
        title=args.title,
    )
    log.info("Wrote %s", out)
    print(f"Wrote {out}")
    return 0
