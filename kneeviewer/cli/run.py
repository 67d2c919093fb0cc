"""``kneeviewer run``: the per-knee pipeline from the command line."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from kneeviewer.errors import InputError
from kneeviewer.pipeline import KneeInputs, PipelineParams, demo_inputs, run_knee

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``run`` command."""
    parser = subparsers.add_parser(
        "run",
        help="run the per-knee pipeline: thickness, T2, bone surfaces, spherical maps",
        description="Compute cartilage thickness, T2 and bone shape on the femur, tibia and patella surfaces "
        "of one knee, and their 224 x 224 spherical maps. Finished stages are kept in OUT/stages and reused.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--labels", type=Path, help="label map on the DESS grid (NRRD, NIfTI or MHA)")
    source.add_argument("--demo", action="store_true", help="run on the built-in phantom knee (written into OUT/demo-input)")
    parser.add_argument("--dess", type=Path, help="DESS image: a file or a DICOM folder (optional, for checks and display)")
    parser.add_argument("--msme", type=Path, help="folder of the multi-echo spin-echo DICOM series for T2 (optional)")
    parser.add_argument("--msme-series", metavar="UID", help="SeriesInstanceUID to use when the MSME folder contains several series")
    parser.add_argument("--schema", type=Path, help="label schema TOML file (default: the built-in schema of the knee sample)")
    parser.add_argument("--side", choices=("left", "right"), help="knee side; a left knee is mirrored to right-knee convention "
                        "(default: DICOM laterality, else right with a warning)")
    parser.add_argument("--out", type=Path, required=True, help="results folder")
    parser.add_argument("--target-vertices", type=int, default=PipelineParams.target_vertices,
                        help="approximate vertex count of each bone mesh (default: %(default)s)")
    parser.add_argument("--radius-mm", type=float, default=PipelineParams.projection_radius_mm,
                        help="projection cylinder radius in mm (default: %(default)s)")
    parser.add_argument("--no-render", action="store_true", help="do not write thickness.png")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run_command)


def run_command(args: argparse.Namespace) -> int:
    """Run the pipeline for the knee given on the command line."""
    from kneeviewer.cli.progress_bar import ProgressBar

    if args.target_vertices < 500:
        raise InputError(f"--target-vertices {args.target_vertices} is too small; use at least 500.")
    if not 0 < args.radius_mm <= 10:
        raise InputError(f"--radius-mm {args.radius_mm} is outside (0, 10] mm.")
    if args.demo:
        inputs = demo_inputs(args.out / "demo-input")
    else:
        inputs = KneeInputs(labels=args.labels, dess=args.dess, msme=args.msme, schema=args.schema,
                            side=args.side, msme_series=args.msme_series)
    params = PipelineParams(target_vertices=args.target_vertices, projection_radius_mm=args.radius_mm,
                            render=not args.no_render)
    with ProgressBar("kneeviewer run", disable=args.quiet or None) as bar:
        results = run_knee(inputs, args.out, params, progress=bar)
    for bone, figures in results.summary["bones"].items():
        mean = figures.get("mean_thickness_mm")
        text = f"{mean:.2f} mm" if mean is not None else "no cartilage"
        print(f"{bone:8s} mean thickness {text}, {figures['n_vertices']} vertices")
    print(f"Results written to {args.out}")
    return 0
