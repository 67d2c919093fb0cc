"""``kneeviewer cohort stats``: atlas, SPM, DL-guided thickness and regressions of a cohort."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from kneeviewer.errors import InputError

log = logging.getLogger(__name__)


def register(cohort_subparsers: argparse._SubParsersAction) -> None:
    """Add ``cohort stats`` to the cohort command group."""
    parser = cohort_subparsers.add_parser(
        "stats",
        help="atlas, point-wise SPM and nested regressions of a cohort",
        description="Predict the test knees with the given models, form the TP_pain and TN_nopain groups (or "
        "the pain and no_pain groups with --groups label), map "
        "Grad-CAM onto an atlas bone per bone type, compare the groups vertex by vertex and fit the nested "
        "logistic regressions with the DL-guided thickness.",
    )
    parser.add_argument("--cohort", type=Path, required=True, help="cohort folder (cohort.csv, images/, splits.csv)")
    parser.add_argument("--models", type=Path, nargs="+", required=True, help="model folders written by 'kneeviewer train'")
    parser.add_argument("--out", type=Path, required=True, help="stats folder to write")
    parser.add_argument("--bones", nargs="+", choices=("femur", "tibia", "patella"), default=None, help="bones (default: those of the models)")
    parser.add_argument("--reference", nargs="+", default=(), metavar="BONE=ROW", help="atlas knee per bone as image row, e.g. femur=12")
    parser.add_argument("--dl-strategy", default="thickness", help="Grad-CAM strategy that weights the DL-guided thickness (default thickness)")
    parser.add_argument("--threshold", type=float, default=0.5, help="probability at which a model predicts pain (default 0.5)")
    parser.add_argument(
        "--groups",
        choices=("correct", "label"),
        default="correct",
        help="'correct': TP_pain against TN_nopain, the knees every model classifies correctly (the study's); "
        "'label': all test knees with pain against all without, which keeps the false-positive rate when "
        "there is no pattern (default correct; see docs/statistics.md)",
    )
    parser.add_argument("--permutations", type=int, default=1000, help="permutations of the FWE correction (default 1000)")
    parser.add_argument("--samples", type=int, default=2500, help="vertices per mesh in the registration fit (default 2500)")
    parser.add_argument("--seed", type=int, default=0, help="seed of permutations and subsampling (default 0)")
    parser.set_defaults(func=run_cohort_stats_command)


def run_cohort_stats_command(args: argparse.Namespace) -> int:
    """Predict the test knees and run :func:`kneeviewer.stats.cohort.run_cohort_stats`."""
    from kneeviewer.cli.progress_bar import ProgressBar
    from kneeviewer.learning.evaluation import predict_probabilities
    from kneeviewer.learning.images import ImageStore
    from kneeviewer.learning.splits import load_splits, rows_of_split
    from kneeviewer.learning.training import load_model
    from kneeviewer.stats.cohort import run_cohort_stats

    store = ImageStore(args.cohort / "images")
    test_rows = rows_of_split(store.index, load_splits(args.cohort), "test", first_timepoint=True)
    if len(test_rows) == 0:
        raise InputError(f"The cohort {args.cohort} has no test knees; check splits.csv.")
    import pandas as pd

    probabilities = pd.DataFrame(index=test_rows)
    for model_dir in args.models:
        loaded = load_model(model_dir)
        probabilities[loaded.name] = predict_probabilities(loaded, store, test_rows)
    knees = store.index.loc[test_rows].copy()
    knees["results_dir"] = [str(store.results_dir(row)) for row in test_rows]
    bones = args.bones or sorted({name.split("_", 1)[0] for name in probabilities.columns})
    reference = {}
    for item in args.reference:
        bone, _, row = item.partition("=")
        if not row.isdigit() or int(row) not in knees.index:
            raise InputError(f"--reference {item!r} must be BONE=ROW with a test-knee image row; test rows are {list(knees.index)[:10]}...")
        reference[bone] = int(row)
    with ProgressBar("cohort stats") as progress:
        run_cohort_stats(
            knees,
            probabilities,
            args.out,
            bones=bones,
            reference=reference,
            dl_strategy=args.dl_strategy,
            threshold=args.threshold,
            grouping=args.groups,
            n_permutations=args.permutations,
            n_samples=args.samples,
            seed=args.seed,
            progress=progress,
        )
    for line in summary_lines(args.out, bones):
        print(line)
    print(f"wrote {args.out}")
    return 0


def summary_lines(stats_dir: Path, bones: list[str]) -> list[str]:
    """Return one line per bone: group sizes, FWE-significant vertices per strategy and the LRT p-value."""
    import json

    import pyvista as pv

    from kneeviewer.stats.figure import atlas_group_names, atlas_strategies, significant_vertices

    regression = json.loads((stats_dir / "regression.json").read_text())
    lines = []
    for bone in bones:
        atlas = pv.read(stats_dir / f"atlas_{bone}.vtp")
        first, second = atlas_group_names(atlas)
        sizes = f"{first} {int(atlas.field_data['n_tp'][0])}, {second} {int(atlas.field_data['n_tn'][0])}"
        parts = []
        for strategy in atlas_strategies(atlas):
            significant, tested = significant_vertices(atlas.point_data[f"p_fwe_{strategy}"], 0.05)
            parts.append(f"{strategy} {significant:,} of {tested:,} vertices FWE p < 0.05")
        lrt = regression.get(bone, {}).get("lrt_p")
        parts.append(f"LRT p = {lrt:.3g}" if lrt is not None else "no regression (see regression.json)")
        lines.append(f"{bone}: {sizes}; " + "; ".join(parts))
    return lines
