"""Read the bone meshes of a finished results folder for rendering."""

from __future__ import annotations

from pathlib import Path

import pyvista as pv

from kneeviewer.errors import InputError
from kneeviewer.visual.arrays import BONES


def read_bone_meshes(results_dir: str | Path) -> dict[str, pv.PolyData]:
    """Read ``femur.vtp``, ``tibia.vtp`` and ``patella.vtp`` from a results folder.

    Bones whose file is absent are left out.

    Raises
    ------
    InputError
        If the folder is missing or holds none of the three meshes.
    """
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise InputError(f"Results folder not found: {results_dir}. Pass the --out folder of 'kneeviewer run'.")
    meshes = {}
    for bone in BONES:
        path = results_dir / f"{bone}.vtp"
        if path.exists():
            meshes[bone] = pv.read(path)
    if not meshes:
        raise InputError(
            f"No bone meshes (femur.vtp, tibia.vtp, patella.vtp) in {results_dir}. "
            "Pass the --out folder of a finished 'kneeviewer run'."
        )
    return meshes
