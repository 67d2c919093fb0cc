"""Per-vertex principal curvatures of a bone surface.

VTK's ``vtkCurvatures`` gives the mean curvature H and the Gaussian
curvature K of a triangle mesh. The principal curvatures follow as
``k1, k2 = H +- sqrt(H^2 - K)`` (``H^2 - K`` is clipped at 0 where noise
makes it negative). Both are smoothed by a few passes of averaging over
each vertex's one-ring, because discrete curvature is noisy at the scale of
single triangles.
"""

from __future__ import annotations

import numpy as np
import pyvista as pv
import scipy.sparse as sp


def vertex_adjacency(mesh: pv.PolyData) -> sp.csr_matrix:
    """Return the ``(n_points, n_points)`` 0/1 adjacency of mesh edges, with the diagonal set."""
    faces = mesh.triangulate().faces.reshape(-1, 4)[:, 1:]
    rows = np.concatenate([faces[:, 0], faces[:, 1], faces[:, 2], faces[:, 1], faces[:, 2], faces[:, 0]])
    cols = np.concatenate([faces[:, 1], faces[:, 2], faces[:, 0], faces[:, 0], faces[:, 1], faces[:, 2]])
    n = mesh.n_points
    adjacency = sp.coo_matrix((np.ones(rows.size), (rows, cols)), shape=(n, n)).tocsr()
    adjacency.data[:] = 1.0
    return (adjacency + sp.identity(n, format="csr")).tocsr()


def smooth_on_mesh(values: np.ndarray, adjacency: sp.csr_matrix, iterations: int) -> np.ndarray:
    """Average ``(n_points, ...)`` values over each one-ring ``iterations`` times."""
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    averaging = sp.diags(1.0 / degree) @ adjacency
    for _ in range(iterations):
        values = averaging @ values
    return values


def principal_curvatures(mesh: pv.PolyData, smoothing_iterations: int = 3) -> np.ndarray:
    """Return ``(n_points, 2)`` maximum and minimum principal curvatures in 1/mm.

    Parameters
    ----------
    mesh
        Triangle mesh in mm. Its outward normals fix the sign: convex
        regions have positive curvature.
    smoothing_iterations
        Passes of one-ring averaging applied to H and K before k1, k2.
    """
    mesh = mesh.triangulate()
    mean = np.asarray(mesh.curvature("mean"), dtype=float)
    gaussian = np.asarray(mesh.curvature("gaussian"), dtype=float)
    # vtkCurvatures returns huge values at degenerate vertices; bound them to the
    # curvature of a 0.5 mm sphere before smoothing so that one vertex cannot dominate.
    mean = np.clip(np.nan_to_num(mean), -2.0, 2.0)
    gaussian = np.clip(np.nan_to_num(gaussian), -4.0, 4.0)
    if smoothing_iterations > 0:
        stacked = smooth_on_mesh(np.column_stack([mean, gaussian]), vertex_adjacency(mesh), smoothing_iterations)
        mean, gaussian = stacked[:, 0], stacked[:, 1]
    root = np.sqrt(np.clip(mean**2 - gaussian, 0.0, None))
    return np.column_stack([mean + root, mean - root])


def curvature_features(curvatures: np.ndarray, length_mm: float = 10.0) -> np.ndarray:
    """Map ``(n, 2)`` principal curvatures (1/mm) to bounded, unitless features ``tanh(k * length_mm)``.

    The tanh keeps the features in (-1, 1), so that sharp ridges (osteophytes,
    mesh noise) saturate instead of dominating the matching. At a curvature
    of ``1 / length_mm`` the feature is about 0.76.
    """
    return np.tanh(np.asarray(curvatures, dtype=float) * length_mm)
