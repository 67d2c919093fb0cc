"""``kneeviewer stats lrt`` and ``kneeviewer figure``: regression tests on a table and cohort figures."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from kneeviewer.errors import InputError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``stats`` group (subcommand ``lrt``) and the ``figure`` command."""
    parser = subparsers.add_parser("stats", help="statistical tests on per-knee tables")
    stats_subparsers = parser.add_subparsers(dest="stats_command", metavar="SUBCOMMAND")
    parser.set_defaults(func=lambda args: parser.print_help() or 2)

    lrt = stats_subparsers.add_parser(
        "lrt",
        help="likelihood-ratio test of two nested logistic regressions",
        description="Fit OUTCOME ~ BASE and OUTCOME ~ BASE + ADDED (logistic, with intercept) on the same rows "
        "and print both log-likelihoods, the LR chi-squared statistic and its p-value.",
    )
    lrt.add_argument("--table", type=Path, required=True, help="CSV file with one row per knee")
    lrt.add_argument("--outcome", required=True, help="binary outcome column (1 pain, 0 no pain)")
    lrt.add_argument("--base", required=True, help="comma-separated predictor columns of the base model")
    lrt.add_argument("--added", required=True, help="comma-separated columns the full model adds")
    lrt.add_argument("--drop-missing", action="store_true", help="drop rows with a missing value in any used column")
    lrt.add_argument("--json", action="store_true", help="print llf_base, llf_full, lr_chi2 and lrt_p as JSON")
    lrt.set_defaults(func=run_lrt)

    figure = subparsers.add_parser(
        "figure",
        help="multi-panel figure of a bone's cohort statistics",
        description="Rows are Grad-CAM strategies, columns the mean Grad-CAM of the two groups (TP_pain and "
        "TN_nopain, or pain and no_pain with 'cohort stats --groups label') and -log10 p.",
    )
    figure.add_argument("--stats", type=Path, required=True, help="stats folder written by 'kneeviewer cohort stats'")
    figure.add_argument("--bone", choices=("femur", "tibia", "patella"), required=True)
    figure.add_argument("--out", type=Path, required=True, help="output file: .png, .svg or .pdf")
    figure.add_argument("--dpi", type=int, default=200, help="resolution of PNG output in dots per inch (default 200)")
    figure.add_argument(
        "--correction", choices=("none", "fdr", "fwe"), default="none", help="p-values shown: uncorrected, FDR or FWE (default none)"
    )
    figure.add_argument("--alpha", type=float, default=0.05, help="significance threshold marked on the p-value maps (default 0.05)")
    figure.set_defaults(func=run_figure)


def run_lrt(args: argparse.Namespace) -> int:
    """Fit the nested models of ``stats lrt`` and print the test."""
    import pandas as pd

    from kneeviewer.stats.regression import fit_nested_logit

    if not args.table.is_file():
        raise InputError(f"Table {args.table} not found; pass a CSV file with one row per knee.")
    table = pd.read_csv(args.table)
    base = [name.strip() for name in args.base.split(",") if name.strip()]
    added = [name.strip() for name in args.added.split(",") if name.strip()]
    result = fit_nested_logit(table, args.outcome, base, added, drop_missing=args.drop_missing)
    if args.json:
        print(json.dumps({"llf_base": result.base.llf, "llf_full": result.full.llf, "lr_chi2": result.lr_chi2, "lrt_p": result.lrt_p}))
    else:
        print(f"knees: {result.full.n_knees}")
        print(f"log-likelihood base: {result.base.llf:.4f}")
        print(f"log-likelihood full: {result.full.llf:.4f}")
        print(f"LR chi2 ({result.lr_df} df): {result.lr_chi2:.4f}")
        print(f"p-value: {result.lrt_p:.3g}")
    return 0


def run_figure(args: argparse.Namespace) -> int:
    """Write the cohort figure of one bone."""
    from kneeviewer.stats.figure import save_cohort_figure

    path = save_cohort_figure(args.stats, args.bone, args.out, dpi=args.dpi, correction=args.correction, alpha=args.alpha)
    print(f"wrote {path}")
    return 0
