"""``kneeviewer t2``: fit a T2 map to a multi-echo DICOM series."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from kneeviewer.biomarkers.t2 import DEFAULT_MIN_R2, DEFAULT_T2_RANGE_MS, fit_t2, foreground_mask
from kneeviewer.cli.progress_bar import ProgressBar
from kneeviewer.errors import InputError
from kneeviewer.io.dicom import read_multi_echo
from kneeviewer.io.volume import Geometry, Volume, read_volume, write_volume
from kneeviewer.progress import sub_progress

#: Output extensions that SimpleITK writes, longest first so that ``.nii.gz`` wins over ``.gz``.
_EXTENSIONS = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``t2`` command."""
    parser = subparsers.add_parser(
        "t2",
        help="fit a T2 map (ms) to a multi-echo spin-echo DICOM series",
        description="Fit S(TE) = A exp(-TE/T2) + C per voxel by Levenberg-Marquardt and write the T2 map "
        "in ms (NaN where not fitted) and its R^2 map, on the series' own grid.",
    )
    parser.add_argument("--msme", type=Path, required=True, metavar="DIR", help="folder of the multi-echo DICOM series")
    parser.add_argument(
        "--out", type=Path, required=True, metavar="FILE",
        help="T2 map to write (.nii.gz, .nii, .nrrd or .mha); the R^2 map goes beside it as NAME_r2.EXT",
    )  # fmt: skip
    parser.add_argument("--series", metavar="UID", default=None, help="SeriesInstanceUID of the series to read when the folder contains several")
    parser.add_argument(
        "--mask", type=Path, default=None, metavar="FILE",
        help="mask image on the series' grid (nonzero = fit); default: voxels above Otsu's threshold of the first echo",
    )  # fmt: skip
    parser.add_argument(
        "--min-r2", type=float, default=DEFAULT_MIN_R2, metavar="X",
        help=f"reject fits with R^2 below X (default {DEFAULT_MIN_R2})",
    )  # fmt: skip
    parser.add_argument(
        "--t2-range", type=float, nargs=2, default=DEFAULT_T2_RANGE_MS, metavar=("MIN_MS", "MAX_MS"),
        help=f"reject T2 outside this range in ms (default {DEFAULT_T2_RANGE_MS[0]:g} {DEFAULT_T2_RANGE_MS[1]:g})",
    )  # fmt: skip
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Read the series, fit T2, write both maps and print a one-line summary."""
    out_path, r2_path = output_paths(args.out)
    with ProgressBar("t2", disable=True if args.no_progress else None) as bar:
        bar("read", 0.0, f"reading {args.msme}")
        series = read_multi_echo(args.msme, args.series)
        mask = _mask(args.mask, series.data[0], series.geometry)
        fit = fit_t2(
            series.data,
            series.echo_times_ms,
            mask,
            min_r2=args.min_r2,
            t2_range_ms=tuple(args.t2_range),
            progress=sub_progress(bar, 0.05, 0.95),
        )
        write_volume(Volume(fit.t2_ms, series.geometry), out_path)
        write_volume(Volume(fit.r2, series.geometry), r2_path)
        bar("write", 1.0, f"wrote {out_path.name}")

    counts = fit.counts
    median = float(np.nanmedian(fit.t2_ms)) if counts["fitted"] else float("nan")
    print(
        f"T2 fitted in {counts['fitted']} voxels (median {median:.1f} ms); failed {counts['failed']}, "
        f"implausible {counts['implausible']}, no signal {counts['no_signal']}, masked out {counts['masked_out']}; "
        f"wrote {out_path} and {r2_path}"
    )
    return 0


def output_paths(path: Path) -> tuple[Path, Path]:
    """Return the T2 map path and the R^2 map path beside it (``t2.nii.gz`` gives ``t2_r2.nii.gz``).

    Raises
    ------
    InputError
        If the extension is not one SimpleITK writes here.
    """
    name = path.name.lower()
    for extension in _EXTENSIONS:
        if name.endswith(extension):
            stem = path.name[: -len(extension)]
            return path, path.with_name(f"{stem}_r2{path.name[-len(extension):]}")
    raise InputError(f"Unsupported output file {path}; use a name ending in {', '.join(_EXTENSIONS)}.")


def _mask(path: Path | None, first_echo: np.ndarray, geometry: Geometry) -> np.ndarray:
    if path is None:
        return foreground_mask(first_echo)
    mask = read_volume(path)
    if mask.geometry.shape != geometry.shape:
        raise InputError(
            f"Mask {path} has shape {mask.geometry.shape} but the series has {geometry.shape}; "
            "pass a mask on the series' grid."
        )
    if not (
        np.allclose(mask.geometry.origin_mm, geometry.origin_mm, atol=0.01 * geometry.spacing_mm.min())
        and np.allclose(mask.geometry.direction, geometry.direction, atol=1e-3)
    ):
        raise InputError(
            f"Mask {path} lies at origin {np.round(mask.geometry.origin_mm, 2).tolist()} mm but the series at "
            f"{np.round(geometry.origin_mm, 2).tolist()} mm; pass a mask on the series' grid."
        )
    return mask.data != 0
