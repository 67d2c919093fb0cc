"""Ground truth of the phantom knee on bone surfaces: meshes with per-vertex truth arrays."""

from __future__ import annotations

import numpy as np
import pyvista as pv

from kneeviewer.io.volume import Geometry
from kneeviewer.phantom.anatomy import BoneModel, surface_point
from kneeviewer.phantom.shapes import CylinderX, RoundedBox


def truth_arrays(bone: BoneModel, points_mm: np.ndarray) -> dict[str, np.ndarray]:
    """Evaluate the truth at bone-surface points, shape (n, 3), in LPS mm.

    Returns
    -------
    dict
        ``thickness_mm``, ``t2_ms`` (mean of the two halves, the mean along
        the normal), ``t2_deep_ms``, ``t2_superficial_ms`` (NaN where no
        cartilage lies on the point) and ``patch_mask`` (bool), each (n,).
    """
    fields = bone.plate_fields(points_mm)
    return {
        "thickness_mm": fields["thickness_mm"],
        "t2_ms": 0.5 * (fields["t2_deep_ms"] + fields["t2_superficial_ms"]),
        "t2_deep_ms": fields["t2_deep_ms"],
        "t2_superficial_ms": fields["t2_superficial_ms"],
        "patch_mask": fields["patch_mask"],
    }


def cartilage_volume_mm3(bone: BoneModel, structure: str, samples: int = 400) -> float:
    """Integrate the analytic volume of one cartilage structure on ``bone``, in mm^3.

    Midpoint quadrature over each plate's surface coordinates; on a cylinder
    of radius R the shell of thickness T has volume ``(T R + T^2 / 2) dalpha du``.
    """
    total = 0.0
    centres = (np.arange(samples) + 0.5) / samples * 2.0 - 1.0
    un, vn = np.meshgrid(centres, centres, indexing="ij")
    un, vn = un.ravel(), vn.ravel()
    for plate in bone.plates:
        if plate.structure != structure:
            continue
        keep = un**2 + vn**2 <= 1.0 if plate.ellipse else np.ones(un.shape, dtype=bool)
        u = plate.centre_uv[0] + plate.half_uv[0] * un[keep]
        v = plate.centre_uv[1] + plate.half_uv[1] * vn[keep]
        component = bone.components[plate.component]
        points = surface_point(component, u, v)
        nearest = np.full(len(points), plate.component)
        thickness = bone.plate_fields(points, nearest)["thickness_mm"]
        thickness = np.nan_to_num(thickness, nan=0.0)
        cell = (2.0 * plate.half_uv[0] / samples) * (2.0 * plate.half_uv[1] / samples)
        if isinstance(component, CylinderX):
            total += float(np.sum(thickness * component.radius_mm + 0.5 * thickness**2) * cell)
        elif isinstance(component, RoundedBox):
            total += float(np.sum(thickness) * cell)
    return total


def bone_surface(bone: BoneModel, field_of_view: Geometry, spacing_mm: float = 0.5) -> pv.PolyData:
    """Triangulate the analytic bone, cut to the image field of view, with truth point arrays.

    Marching cubes (VTK flying edges) of the signed distance sampled every
    ``spacing_mm``. The mesh is closed (flat caps where the field of view
    cuts the shafts), has triangles only and outward normals.
    """
    low, high = _clip_box(bone.bounds_mm(2.0 * spacing_mm), field_of_view, spacing_mm)
    counts = np.ceil((high - low) / spacing_mm).astype(int) + 1
    image = pv.ImageData(dimensions=tuple(counts), spacing=(spacing_mm,) * 3, origin=tuple(low))

    def distance_mm(points: np.ndarray) -> np.ndarray:
        return np.maximum(bone.sdf(points)[0], _box_sdf(points, field_of_view))

    distance = _distance_on_grid(distance_mm, low, counts, spacing_mm)
    image.point_data["sdf"] = distance.ravel(order="F").astype(np.float32)
    surface = image.contour([0.0], scalars="sdf", method="flying_edges")
    surface = surface.triangulate().clean()
    surface.point_data.remove("sdf")
    surface = surface.compute_normals(point_normals=True, cell_normals=False, auto_orient_normals=True, consistent_normals=True)
    for name, values in truth_arrays(bone, np.asarray(surface.points)).items():
        if name == "patch_mask":
            if bone.patches:
                surface.point_data[name] = values.astype(np.uint8)
            continue
        surface.point_data[name] = values.astype(np.float32)
    return surface


def _distance_on_grid(distance_mm, low: np.ndarray, counts: np.ndarray, spacing_mm: float, block: int = 4) -> np.ndarray:
    """Sample a signed distance on a regular grid, shape ``counts`` (x, y, z), exactly only near the surface.

    Blocks of ``block``^3 points whose centre is farther from the surface
    than the block's half-diagonal plus one step keep the centre's distance.
    The distance is 1-Lipschitz, so every point of such a block has the same
    sign as that value and lies more than one step from the surface. Marching
    cubes then finds no crossing there, and the mesh equals the fully sampled one.
    """
    block_counts = -(-counts // block)
    axes = [low[axis] + (np.arange(block_counts[axis]) * block + (block - 1) / 2.0) * spacing_mm for axis in range(3)]
    centres = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    centre_distance = distance_mm(centres).reshape(block_counts)
    far = np.abs(centre_distance) > np.sqrt(3.0) * (block - 1) / 2.0 * spacing_mm + spacing_mm

    distance = centre_distance
    near = ~far
    for axis in range(3):
        distance = np.repeat(distance, block, axis=axis)
        near = np.repeat(near, block, axis=axis)
    distance = np.ascontiguousarray(distance[: counts[0], : counts[1], : counts[2]])
    near = near[: counts[0], : counts[1], : counts[2]]
    ijk = np.argwhere(near)
    distance[near] = distance_mm(low + ijk * spacing_mm)
    return distance


def _box_sdf(points: np.ndarray, geometry: Geometry) -> np.ndarray:
    """Signed distance in mm to the box spanned by the voxel centres of ``geometry``."""
    centred = (geometry.lps_to_index(points) - (np.asarray(geometry.shape) - 1) / 2.0) * geometry.spacing_mm
    half = (np.asarray(geometry.shape) - 1) / 2.0 * geometry.spacing_mm
    q = np.abs(centred) - half
    return np.linalg.norm(np.maximum(q, 0.0), axis=1) + np.minimum(q.max(axis=1), 0.0)


def _clip_box(bounds: np.ndarray, geometry: Geometry, spacing_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """Intersect an LPS box with the axis-aligned box around the image field of view."""
    corners = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)]) * (np.asarray(geometry.shape) - 1)
    corners_mm = geometry.index_to_lps(corners)
    low = np.maximum(bounds[0], corners_mm.min(axis=0) - 2 * spacing_mm)
    high = np.minimum(bounds[1], corners_mm.max(axis=0) + 2 * spacing_mm)
    return low, high
