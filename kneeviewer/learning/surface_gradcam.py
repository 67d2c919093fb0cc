"""Grad-CAM of every test knee, read back onto its bone surface.

For each model and knee, the 224 x 224 Grad-CAM (each map scaled to
[0, 1], see :func:`kneeviewer.learning.gradcam.gradcam`) is read onto the
vertices of ``<bone>.vtp`` in the knee's results folder. The inverse
spherical map uses the same centre as the forward map, and the values are
stored as the point array ``gradcam_<strategy>``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from kneeviewer.errors import InputError
from kneeviewer.learning.gradcam import gradcam
from kneeviewer.learning.images import ImageStore
from kneeviewer.learning.splits import load_splits, rows_of_split
from kneeviewer.learning.training import load_model, prepare_inputs
from kneeviewer.progress import CancelCheck, ProgressCallback, check_cancel, report

log = logging.getLogger(__name__)


def bone_centre_mm(results_dir: Path, bone: str, mesh=None) -> np.ndarray:
    """Return the centre of a bone's spherical map, shape (3,), LPS mm.

    Read from the mesh's ``centroid_mm`` field data when present, else from
    ``summary["bones"][bone]["centroid_mm"]``.
    """
    if mesh is not None and "centroid_mm" in mesh.field_data:
        return np.asarray(mesh.field_data["centroid_mm"], dtype=float).reshape(3)
    summary_path = Path(results_dir) / "summary.json"
    try:
        summary = json.loads(summary_path.read_text())
        return np.asarray(summary["bones"][bone]["centroid_mm"], dtype=float).reshape(3)
    except (OSError, KeyError, ValueError) as error:
        raise InputError(f"No centroid_mm for the {bone} in {summary_path}; rerun the knee pipeline.") from error


def write_gradcam_to_surface(results_dir: Path, bone: str, strategy: str, cam: np.ndarray) -> np.ndarray:
    """Read a (224, 224) Grad-CAM onto ``<bone>.vtp`` as ``gradcam_<strategy>`` and save the mesh.

    Returns
    -------
    ndarray, (n_vertices,)
        The per-vertex values written, in [0, 1]; NaN where the inverse map
        has none (outside the map's elevation range).
    """
    import pyvista as pv

    from kneeviewer.surface.spherical import inverse_map

    mesh_path = Path(results_dir) / f"{bone}.vtp"
    if not mesh_path.is_file():
        raise InputError(f"Bone mesh {mesh_path} not found; run the knee pipeline first.")
    mesh = pv.read(mesh_path)
    centre = bone_centre_mm(results_dir, bone, mesh)
    values = np.asarray(inverse_map(np.asarray(mesh.points, dtype=float), cam, bone, centre), dtype=np.float32)
    # The cubic inverse map overshoots by up to about 0.1 next to steep edges;
    # Grad-CAM is non-negative and scaled to [0, 1], so clip (NaN stays NaN).
    values = np.clip(values, 0.0, 1.0)
    mesh.point_data[f"gradcam_{strategy}"] = values
    mesh.save(mesh_path)
    return values


def gradcam_cohort(
    cohort_dir: Path,
    model_dirs: Sequence[Path],
    test_only: bool = True,
    chunk: int = 16,
    progress: ProgressCallback | None = None,
    should_cancel: CancelCheck | None = None,
) -> int:
    """Compute Grad-CAM of every model for the test knees (or all knees) and write it to their meshes.

    Returns
    -------
    int
        Number of meshes written.
    """
    cohort_dir = Path(cohort_dir)
    store = ImageStore(cohort_dir / "images")
    if test_only:
        rows = rows_of_split(store.index, load_splits(cohort_dir), "test")
    else:
        rows = store.index.index.to_numpy()
    written = 0
    total = max(len(model_dirs) * len(rows), 1)
    for model_dir in model_dirs:
        loaded = load_model(model_dir)
        images = store.images(loaded.bone, loaded.strategy)
        for start in range(0, len(rows), chunk):
            check_cancel(should_cancel, "gradcam")
            part = rows[start : start + chunk]
            cams = gradcam(loaded.model, prepare_inputs(images[part], loaded.config.image_px))
            for row, cam in zip(part, cams, strict=True):
                write_gradcam_to_surface(store.results_dir(int(row)), loaded.bone, loaded.strategy, cam)
                written += 1
            report(progress, "gradcam", written / total, f"{loaded.name}: {min(start + chunk, len(rows))} of {len(rows)} knees")
    log.info("Wrote %d Grad-CAM surfaces", written)
    return written
