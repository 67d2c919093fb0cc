"""Checks of output paths given by users, before any work starts."""

from __future__ import annotations

from pathlib import Path

from kneeviewer.errors import InputError


def ensure_output_folder(path: str | Path, option: str = "--out") -> Path:
    """Create the output folder ``path`` if needed and return it.

    Raises
    ------
    InputError
        If ``path`` is an existing file or cannot be created.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"{option} {path} is a file; give a folder for the results.")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"Cannot create the folder {path} given with {option}: {error.strerror}.") from error
    return path


def check_output_file(path: str | Path, suffixes: tuple[str, ...], option: str = "--out") -> Path:
    """Check that ``path`` names a file with one of ``suffixes`` whose folder exists or can be made.

    Raises
    ------
    InputError
        If ``path`` is a folder, has another extension, or its folder cannot be created.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{option} {path} is a folder; give a file name ending in {' or '.join(suffixes)}.")
    if not path.name.lower().endswith(suffixes):
        raise InputError(f"{option} {path} must end in {' or '.join(suffixes)}.")
    ensure_output_folder(path.parent, option)
    return path
