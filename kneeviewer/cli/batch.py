"""``kneeviewer batch``: the per-knee pipeline over a table of knees."""

from __future__ import annotations

import argparse
from pathlib import Path

from kneeviewer.errors import InputError
from kneeviewer.pipeline import PipelineParams
from kneeviewer.pipeline.batch import TABLE_COLUMNS, read_knee_table, run_batch


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``batch`` command."""
    parser = subparsers.add_parser(
        "batch",
        help="run the per-knee pipeline for every knee of a CSV table, in parallel",
        description=f"Run the pipeline for every row of a CSV table with the header {','.join(TABLE_COLUMNS)} "
        "(only knee_id and labels are required). Results go to OUT/<knee_id>; OUT/batch.csv lists each outcome. "
        "Knees finished earlier are skipped.",
    )
    parser.add_argument("--table", type=Path, required=True, help="CSV table of knees")
    parser.add_argument("--out", type=Path, required=True, help="folder for the results of every knee")
    parser.add_argument("--workers", type=int, default=2, help="knees processed at once (default: %(default)s)")
    parser.add_argument("--target-vertices", type=int, default=PipelineParams.target_vertices,
                        help="approximate vertex count of each bone mesh (default: %(default)s)")
    parser.add_argument("--render", action="store_true", help="also write thickness.png for every knee")
    parser.set_defaults(func=batch_command)


def batch_command(args: argparse.Namespace) -> int:
    """Run the batch and print a one-line tally; exit status 1 if any knee failed."""
    from kneeviewer.cli.progress_bar import ProgressBar

    if args.workers < 1:
        raise InputError(f"--workers {args.workers} must be at least 1.")
    knees = read_knee_table(args.table)
    params = PipelineParams(target_vertices=args.target_vertices, render=args.render)
    with ProgressBar("kneeviewer batch") as bar:
        outcomes = run_batch(knees, args.out, params, workers=args.workers, progress=bar)
    tally = {status: sum(o.status == status for o in outcomes) for status in ("done", "skipped", "failed")}
    print(f"{tally['done']} done, {tally['skipped']} skipped (finished earlier), {tally['failed']} failed; "
          f"see {args.out / 'batch.csv'}")
    return 1 if tally["failed"] else 0
