"""Projection of cartilage biomarkers onto the bone surface along the normals.

From each bone-surface vertex a cylinder of radius 0.729 mm (twice the OAI
DESS in-plane pixel) runs outward along the vertex normal, from the surface
to ``max_distance_mm``. The thickness (and T2 total, deep and superficial
when given) of the cartilage voxels whose centres fall inside the cylinder
is averaged. The cylinder goes outward only, so only the articular side of
a bone gathers values. A vertex whose cylinder contains no cartilage gets NaN.

Layers: a voxel with depth fraction below 0.5 is deep, above 0.5
superficial. A voxel exactly at 0.5 (the middle voxel of a column with an
odd number of voxels, where the distances to bone and to the articular
surface are equal) straddles the split and counts half in each layer.
Giving all of them to one layer moved about 5 % of the voxels and biased
that layer toward mid-depth T2 (by -0.3 to -0.5 ms on the smooth-profile
phantom knee, see docs/phantom.md).

Candidate voxels are found with a k-d tree of cartilage voxel centres in
LPS: balls spaced along each normal cover the cylinder, and the exact
cylinder test then keeps the voxels inside. All steps are vectorised over
vertex-voxel pairs; only vertices with cartilage within reach are queried.

References
----------
Morales AG et al. Uncovering associations between data-driven learned qMRI
biomarkers and chronic pain. Sci Rep 11:21989 (2021).
doi:10.1038/s41598-021-01111-x
"""

from __future__ import annotations

import logging

import numpy as np
import pyvista as pv
from scipy.spatial import cKDTree

from kneeviewer.biomarkers.layers import DEEP_SUPERFICIAL_SPLIT
from kneeviewer.errors import InputError
from kneeviewer.io.volume import Geometry

logger = logging.getLogger(__name__)

#: Cylinder radius: twice the OAI DESS in-plane pixel of 0.3646 mm.
CYLINDER_RADIUS_MM = 0.729

#: Vertices are queried in chunks of this many, to bound the memory of the candidate pairs.
_CHUNK_VERTICES = 4000


def project_cartilage(
    mesh: pv.PolyData,
    cartilage_mask: np.ndarray,
    geometry: Geometry,
    thickness_map_mm: np.ndarray,
    *,
    t2_map_ms: np.ndarray | None = None,
    depth_fraction: np.ndarray | None = None,
    radius_mm: float = CYLINDER_RADIUS_MM,
    max_distance_mm: float = 10.0,
) -> dict[str, np.ndarray]:
    """Average cartilage values in a cylinder along each vertex's outward normal.

    Parameters
    ----------
    mesh : pyvista.PolyData
        Bone surface in LPS mm with the outward unit point array ``Normals``
        (computed here when missing).
    cartilage_mask : ndarray of bool, shape ``geometry.shape``
        Cartilage of this bone.
    geometry : Geometry
        Grid of the mask and the maps.
    thickness_map_mm : ndarray, shape ``geometry.shape``
        Thickness per cartilage voxel in mm (NaN where unknown).
    t2_map_ms : ndarray, shape ``geometry.shape``, optional
        T2 per voxel in ms (NaN where the fit failed).
    depth_fraction : ndarray, shape ``geometry.shape``, optional
        Depth fraction (0 at bone, 1 at the articular surface) that splits T2
        into deep (below 0.5) and superficial (above 0.5). A voxel at exactly
        0.5 counts half in each layer. Without it the layer arrays are
        returned all NaN.
    radius_mm : float
        Cylinder radius.
    max_distance_mm : float
        Cylinder length, outward from the surface.

    Returns
    -------
    dict of str to ndarray of float32, shape (n_vertices,)
        ``thickness_mm``, plus ``t2_ms``, ``t2_deep_ms`` and
        ``t2_superficial_ms`` when T2 is given. NaN where the cylinder contains
        no voxel with a value.
    """
    cartilage = np.asarray(cartilage_mask).astype(bool, copy=False)
    for name, array in (("cartilage mask", cartilage), ("thickness map", thickness_map_mm), ("T2 map", t2_map_ms), ("depth fraction", depth_fraction)):
        if array is not None and np.shape(array) != geometry.shape:
            raise InputError(f"The {name} shape {np.shape(array)} does not match the image geometry {geometry.shape}.")
    if radius_mm <= 0 or max_distance_mm <= 0:
        raise InputError(f"Cylinder radius and length must be positive, got {radius_mm} mm and {max_distance_mm} mm.")

    if "Normals" not in mesh.point_data:
        mesh = mesh.compute_normals(cell_normals=False, point_normals=True, split_vertices=False, auto_orient_normals=True)
    vertices = np.asarray(mesh.points, dtype=float)
    normals = np.asarray(mesh.point_data["Normals"], dtype=float)
    normals = normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)

    voxel_index = np.argwhere(cartilage)
    fields = {"thickness_mm": np.asarray(thickness_map_mm, dtype=float)[cartilage]}
    weights: dict[str, np.ndarray] = {}
    if t2_map_ms is not None:
        t2 = np.asarray(t2_map_ms, dtype=float)[cartilage]
        fields["t2_ms"] = t2
        if depth_fraction is not None:
            fraction = np.asarray(depth_fraction, dtype=float)[cartilage]
        else:
            logger.warning("T2 was given without a depth fraction; t2_deep_ms and t2_superficial_ms are all NaN.")
            fraction = np.full(t2.shape, np.nan)
        # NaN fractions get weight 0 in both layers, so such voxels join neither.
        deep_weight, superficial_weight = _layer_weights(fraction)
        fields["t2_deep_ms"] = np.where(deep_weight > 0, t2, np.nan)
        fields["t2_superficial_ms"] = np.where(superficial_weight > 0, t2, np.nan)
        weights["t2_deep_ms"] = deep_weight
        weights["t2_superficial_ms"] = superficial_weight
    results = {name: np.full(len(vertices), np.nan, dtype=np.float32) for name in fields}
    if len(voxel_index) == 0 or len(vertices) == 0:
        return results

    centres_mm = geometry.index_to_lps(voxel_index)
    tree = cKDTree(centres_mm)
    vertex_index, voxel = _cylinder_pairs(tree, centres_mm, vertices, normals, radius_mm, max_distance_mm)
    for name, values in fields.items():
        weight = weights[name][voxel] if name in weights else None
        results[name] = _pair_means(vertex_index, values[voxel], len(vertices), weight)
    logger.debug(
        "Projected %d cartilage voxels onto %d vertices; %d vertices have a thickness.",
        len(centres_mm), len(vertices), int(np.isfinite(results["thickness_mm"]).sum()),
    )
    return results


def _cylinder_pairs(
    tree: cKDTree, centres_mm: np.ndarray, vertices: np.ndarray, normals: np.ndarray, radius_mm: float, length_mm: float
) -> tuple[np.ndarray, np.ndarray]:
    """Return (vertex, voxel) index pairs, shape (m,) each, with the voxel centre inside the vertex's cylinder."""
    # Balls of this radius every `step` along the axis cover the whole cylinder.
    step_mm = radius_mm
    ball_mm = float(np.hypot(radius_mm, step_mm / 2))
    offsets_mm = np.arange(step_mm / 2, length_mm + step_mm / 2, step_mm)

    # Skip vertices with no cartilage within reach of the cylinder.
    reach_mm = float(np.hypot(radius_mm, length_mm))
    nearest_mm, _ = tree.query(vertices, distance_upper_bound=reach_mm)
    candidates = np.flatnonzero(np.isfinite(nearest_mm))

    vertex_parts, voxel_parts = [], []
    for start in range(0, len(candidates), _CHUNK_VERTICES):
        chunk = candidates[start : start + _CHUNK_VERTICES]
        samples = vertices[chunk, np.newaxis, :] + normals[chunk, np.newaxis, :] * offsets_mm[np.newaxis, :, np.newaxis]
        hits = tree.query_ball_point(samples.reshape(-1, 3), ball_mm, return_sorted=False)
        counts = np.fromiter((len(hit) for hit in hits), dtype=np.int64, count=len(hits))
        if counts.sum() == 0:
            continue
        voxel = np.fromiter((index for hit in hits for index in hit), dtype=np.int64, count=int(counts.sum()))
        vertex = np.repeat(np.repeat(chunk, len(offsets_mm)), counts)

        # Exact cylinder test: axial position in [0, length], radial distance <= radius.
        relative = centres_mm[voxel] - vertices[vertex]
        axial = np.einsum("ij,ij->i", relative, normals[vertex])
        radial_sq = np.einsum("ij,ij->i", relative, relative) - axial**2
        inside = (axial >= 0) & (axial <= length_mm) & (radial_sq <= radius_mm**2)
        pair_key = np.unique(vertex[inside] * len(centres_mm) + voxel[inside])
        vertex_parts.append(pair_key // len(centres_mm))
        voxel_parts.append(pair_key % len(centres_mm))
    if not vertex_parts:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    return np.concatenate(vertex_parts), np.concatenate(voxel_parts)


def _layer_weights(fraction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the weight of each voxel in the deep and in the superficial layer, each of shape ``fraction.shape``.

    1 on the voxel's side of the split, 0.5 in both layers at exactly the
    split (to float precision), 0 for NaN fractions.
    """
    at_split = np.isclose(fraction, DEEP_SUPERFICIAL_SPLIT, rtol=0.0, atol=1e-6)
    deep = np.where(at_split, 0.5, (fraction < DEEP_SUPERFICIAL_SPLIT).astype(float))
    superficial = np.where(at_split, 0.5, (fraction > DEEP_SUPERFICIAL_SPLIT).astype(float))
    return deep, superficial


def _pair_means(vertex_index: np.ndarray, values: np.ndarray, n_vertices: int, weights: np.ndarray | None = None) -> np.ndarray:
    """Return the weighted mean of the finite values per vertex, shape (n_vertices,), NaN for vertices without one.

    ``weights`` (shape of ``values``) default to 1; pairs of weight 0 are left out.
    """
    finite = np.isfinite(values)
    if weights is None:
        weights = np.ones(values.shape)
    finite &= weights > 0
    sums = np.bincount(vertex_index[finite], weights=values[finite] * weights[finite], minlength=n_vertices)
    totals = np.bincount(vertex_index[finite], weights=weights[finite], minlength=n_vertices)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / totals
    return np.where(totals > 0, means, np.nan).astype(np.float32)
