"""``kneeviewer phantom``: write the built-in phantom knee and its truth to a folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from kneeviewer.cli.progress_bar import ProgressBar


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``phantom`` command."""
    parser = subparsers.add_parser(
        "phantom",
        help="write a synthetic right knee (label map, DESS, MSME DICOM) with known thickness and T2",
        description="Write a phantom knee: labels.nrrd, dess.nii.gz, msme/ (7-echo DICOM series) and "
        "truth/ (bone meshes with true thickness and T2, phantom.json).",
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder (created if missing)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise (default 0)")
    parser.add_argument(
        "--snr", type=float, default=50.0,
        help="cartilage signal over noise SD per channel, on the DESS and the first MSME echo (default 50)",
    )
    parser.add_argument(
        "--grid", choices=("oai", "coarse"), default="oai",
        help="oai: 384 x 384 x 160 at 0.365 x 0.365 x 0.7 mm; coarse: half the voxels per axis (default oai)",
    )
    parser.add_argument("--random-shape", action="store_true", help="draw bone size and cartilage thickness from the seed")
    parser.set_defaults(func=run_phantom)


def run_phantom(args: argparse.Namespace) -> int:
    """Write the phantom knee and print the output folder."""
    from kneeviewer.phantom import PhantomParams, write_phantom

    from kneeviewer.errors import InputError
    from kneeviewer.io.paths import ensure_output_folder

    if args.seed < 0:
        raise InputError(f"--seed {args.seed} is invalid; use a whole number of 0 or more.")
    ensure_output_folder(args.out)
    params = PhantomParams(seed=args.seed, snr=args.snr, grid=args.grid, random_shape=args.random_shape)
    with ProgressBar("phantom") as bar:
        paths = write_phantom(args.out, params, progress=bar)
    print(f"Phantom knee written to {args.out}: {paths.labels.name}, {paths.dess.name}, {paths.msme.name}/, {paths.truth_dir.name}/")
    return 0
