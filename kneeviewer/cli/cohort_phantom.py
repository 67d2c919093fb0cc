"""``kneeviewer cohort phantom``: build a phantom cohort with a planted pain pattern."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kneeviewer.cli.progress_bar import ProgressBar


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``phantom`` subcommand to the ``cohort`` group."""
    parser = subparsers.add_parser(
        "phantom",
        help="build a phantom cohort (knees, truth masks, cohort.csv, splits, images)",
        description="Draw a phantom cohort with OAI-like demographics and radiographic grades, whose chronic pain "
        "depends on a planted cartilage pattern, run every knee and write the training images.",
    )
    parser.add_argument("--out", type=Path, required=True, help="cohort folder; finished knees in it are kept and skipped")
    parser.add_argument("--patients", type=int, required=True, help="number of patients (one right knee each)")
    parser.add_argument("--timepoints", type=int, default=1, help="yearly timepoints per patient (default 1)")
    parser.add_argument(
        "--effect",
        choices=("strong", "weak", "none"),
        default="strong",
        help="strength of the planted pattern: 10 (strong, the default) or 2 (weak) on the pain logit per mm of "
        "change, or none (nothing planted)",
    )
    parser.add_argument(
        "--risk-pattern",
        choices=("swelling", "thinning"),
        default="swelling",
        help="cartilage change in the medial condyle's risk zone: 'swelling' makes it thicker (as in early OA), "
        "'thinning' thinner. Default swelling, the one the pain Grad-CAM can localise (docs/learning.md)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of every draw (default 0)")
    parser.add_argument("--grid", choices=("coarse", "oai"), default="coarse", help="phantom image grid (default coarse)")
    parser.add_argument("--workers", type=int, default=1, help="knees built in parallel (Dask on 127.0.0.1; default 1)")
    parser.add_argument("--target-vertices", type=int, default=2000, help="approximate vertices per bone mesh (default 2000)")
    parser.add_argument(
        "--source",
        choices=("pipeline", "analytic"),
        default="pipeline",
        help="'pipeline' runs phantom images through the knee pipeline; 'analytic' meshes the phantom's "
        "truth fields directly (much faster, no image noise)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Build the cohort and print where it is."""
    from kneeviewer.phantom.cohort import CohortParams, build_cohort

    params = CohortParams(
        n_patients=args.patients,
        n_timepoints=args.timepoints,
        effect=args.effect,
        risk_pattern=args.risk_pattern,
        seed=args.seed,
        grid=args.grid,
        target_vertices=args.target_vertices,
        source=args.source,
    )
    with ProgressBar("cohort") as bar:
        table = build_cohort(args.out, params, workers=args.workers, progress=bar)
    print(f"Wrote {len(table)} knees, {int(table['pain'].sum())} with chronic pain, to {args.out}", file=sys.stdout)
    return 0
