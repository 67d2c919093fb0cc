"""DL-guided cartilage thickness: thickness averaged with Grad-CAM weights.

For one knee and bone, with per-vertex thickness ``t_v`` (mm, NaN without
cartilage), Grad-CAM ``g_v`` and vertex area ``a_v`` (mm^2, one third of
the area of every incident triangle):

    w_v = (g_v - min g) / (max g - min g)          (min and max over the knee's finite g)
    DL-guided thickness = sum(a_v w_v t_v) / sum(a_v w_v)

with the sums over vertices where both ``t_v`` and ``g_v`` are finite. The
vertex area makes the mean a surface integral, so it does not depend on how
densely the mesh is sampled in one region (decimated bone meshes are not
uniform). The result is NaN when no cartilage vertex has a positive weight.
"""

from __future__ import annotations

import numpy as np
import pyvista as pv

from kneeviewer.errors import InputError


def vertex_areas(mesh: pv.PolyData) -> np.ndarray:
    """Return ``(n_points,)`` vertex areas in mm^2: one third of each incident triangle's area."""
    mesh = mesh.triangulate()
    faces = mesh.faces.reshape(-1, 4)[:, 1:]
    points = np.asarray(mesh.points, dtype=float)
    edge1 = points[faces[:, 1]] - points[faces[:, 0]]
    edge2 = points[faces[:, 2]] - points[faces[:, 0]]
    triangle_area = 0.5 * np.linalg.norm(np.cross(edge1, edge2), axis=1)
    areas = np.zeros(mesh.n_points)
    for corner in range(3):
        np.add.at(areas, faces[:, corner], triangle_area / 3.0)
    return areas


def minmax_scale(values: np.ndarray) -> np.ndarray:
    """Scale finite values to [0, 1] by their own minimum and maximum; NaN stays NaN.

    A constant map gets weight 1 everywhere, so that the weighted mean falls
    back to the plain mean instead of being undefined.
    """
    values = np.asarray(values, dtype=float)
    finite = np.isfinite(values)
    scaled = np.full_like(values, np.nan)
    if not finite.any():
        return scaled
    low, high = values[finite].min(), values[finite].max()
    scaled[finite] = 1.0 if high == low else (values[finite] - low) / (high - low)
    return scaled


def dl_guided_thickness(thickness_mm: np.ndarray, gradcam: np.ndarray, areas_mm2: np.ndarray | None = None) -> float:
    """Return the Grad-CAM-weighted mean thickness of one knee and bone, in mm.

    Parameters
    ----------
    thickness_mm
        ``(n_vertices,)`` thickness, NaN where there is no cartilage.
    gradcam
        ``(n_vertices,)`` Grad-CAM of the knee (any scale; min-max scaled here).
    areas_mm2
        ``(n_vertices,)`` vertex areas; None weights every vertex equally.
    """
    thickness_mm = np.asarray(thickness_mm, dtype=float)
    gradcam = np.asarray(gradcam, dtype=float)
    if thickness_mm.shape != gradcam.shape:
        raise InputError(f"Thickness {thickness_mm.shape} and Grad-CAM {gradcam.shape} must have one value per vertex.")
    weight = minmax_scale(gradcam)
    if areas_mm2 is not None:
        weight = weight * np.asarray(areas_mm2, dtype=float)
    use = np.isfinite(thickness_mm) & np.isfinite(weight)
    total = weight[use].sum()
    if total <= 0:
        return float("nan")
    return float(np.sum(weight[use] * thickness_mm[use]) / total)


def compartment_thickness(
    thickness_mm: np.ndarray, labels: np.ndarray, areas_mm2: np.ndarray | None = None
) -> dict[str, float]:
    """Return the area-weighted mean thickness (mm) per compartment label, NaN where none has cartilage.

    Parameters
    ----------
    thickness_mm
        ``(n_vertices,)`` thickness, NaN without cartilage.
    labels
        ``(n_vertices,)`` compartment names such as ``"medial"`` and ``"lateral"``.
    areas_mm2
        ``(n_vertices,)`` vertex areas, or None for equal weights.
    """
    thickness_mm = np.asarray(thickness_mm, dtype=float)
    areas = np.ones_like(thickness_mm) if areas_mm2 is None else np.asarray(areas_mm2, dtype=float)
    means = {}
    for name in np.unique(labels):
        use = (labels == name) & np.isfinite(thickness_mm)
        total = areas[use].sum()
        means[str(name)] = float(np.sum(areas[use] * thickness_mm[use]) / total) if total > 0 else float("nan")
    return means
