"""Bone meshes and the shaft crop on analytic masks."""

from __future__ import annotations

import numpy as np
import pytest

from kneeviewer.errors import InputError
from kneeviewer.io.volume import Geometry
from kneeviewer.surface.crop import crop_shaft
from kneeviewer.surface.mesh import bone_mesh

SPACING_MM = np.array([0.365, 0.365, 0.7])


def _rotation(degrees_x: float, degrees_z: float) -> np.ndarray:
    ax, az = np.deg2rad(degrees_x), np.deg2rad(degrees_z)
    about_x = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    about_z = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return about_z @ about_x


def _geometry(shape, direction) -> Geometry:
    centre_index = (np.array(shape) - 1) / 2
    origin = -(direction * SPACING_MM) @ centre_index
    return Geometry(shape, SPACING_MM, origin, direction)


def _voxel_centres_mm(geometry: Geometry) -> np.ndarray:
    index = np.indices(geometry.shape).reshape(3, -1).T
    return geometry.index_to_lps(index).reshape(*geometry.shape, 3)


@pytest.fixture(scope="module")
def sphere_case():
    geometry = _geometry((60, 60, 32), _rotation(15.0, 10.0))
    radius_mm = 8.0
    mask = np.linalg.norm(_voxel_centres_mm(geometry), axis=-1) < radius_mm
    mesh = bone_mesh(mask, geometry, "patella", target_vertices=3000)
    return mesh, radius_mm


def _outward_score(mesh) -> float:
    offsets = mesh.points - mesh.points.mean(axis=0)
    return float(np.mean(np.einsum("ij,ij->i", mesh.point_data["Normals"], offsets)))


def test_mesh_sphere_closed(sphere_case):
    mesh, _ = sphere_case
    assert mesh.n_open_edges == 0
    assert mesh.is_all_triangles


def test_mesh_sphere_outward_normals(sphere_case):
    mesh, _ = sphere_case
    assert _outward_score(mesh) > 0


def test_mesh_sphere_vertex_count(sphere_case):
    mesh, _ = sphere_case
    assert 0.75 * 3000 <= mesh.n_points <= 1.25 * 3000


def test_mesh_sphere_radius(sphere_case):
    mesh, radius_mm = sphere_case
    distance = np.linalg.norm(mesh.points, axis=1)
    # Within one in-plane voxel; the blur shrinks a sphere by about sigma^2 / R (under 0.05 mm here).
    assert abs(distance.mean() - radius_mm) < 0.365
    assert distance.std() < 0.2


def test_mesh_mirrored_outward_normals():
    direction = _rotation(15.0, 10.0) @ np.diag([-1.0, 1.0, 1.0])
    assert np.linalg.det(direction) < 0
    geometry = _geometry((60, 60, 32), direction)
    points = _voxel_centres_mm(geometry)
    # An off-centre ellipsoid so a mirrored winding would show.
    mask = np.sum(((points - [1.0, 0.5, 0.0]) / [8.0, 6.0, 7.0]) ** 2, axis=-1) < 1
    mesh = bone_mesh(mask, geometry, "patella", target_vertices=2000)
    assert mesh.n_open_edges == 0
    assert _outward_score(mesh) > 0


def test_mesh_keeps_largest_component():
    geometry = _geometry((60, 60, 32), np.eye(3))
    points = _voxel_centres_mm(geometry)
    mask = np.linalg.norm(points, axis=-1) < 6.0
    mask |= np.linalg.norm(points - [0.0, 8.5, 0.0], axis=-1) < 1.5
    mesh = bone_mesh(mask, geometry, "patella", target_vertices=1500)
    assert mesh.points[:, 1].max() < 6.5


def test_mesh_empty_mask_raises():
    geometry = _geometry((10, 10, 10), np.eye(3))
    with pytest.raises(InputError, match="empty"):
        bone_mesh(np.zeros(geometry.shape, dtype=bool), geometry, "femur")


def _long_bone(geometry: Geometry, articular_end: str) -> tuple[np.ndarray, float]:
    """A wide epiphysis (40 mm mediolateral) at one end of a narrow 12 mm shaft."""
    points = _voxel_centres_mm(geometry)
    x, y, z = points[..., 0], points[..., 1], points[..., 2]
    sign = 1.0 if articular_end == "inferior" else -1.0
    height = sign * z  # distance above the articular end, up to a constant
    end = height.min()
    epiphysis = (np.abs(x) <= 20.0) & (np.abs(y) <= 10.0) & (height <= end + 15.0)
    shaft = (np.abs(x) <= 6.0) & (np.abs(y) <= 6.0)
    mask = epiphysis | shaft
    width_mm = float(np.ptp(x[mask]))
    return mask, width_mm


def _z_extent(mask: np.ndarray, geometry: Geometry) -> float:
    return float(np.ptp(geometry.index_to_lps(np.argwhere(mask))[:, 2]))


@pytest.mark.parametrize(("bone", "articular_end"), [("femur", "inferior"), ("tibia", "superior")])
def test_crop_length_equals_width(bone, articular_end):
    # The z axis is the coarse 0.7 mm axis here, so "within a voxel" means 0.7 mm.
    geometry = Geometry((120, 40, 140), [0.365, 0.365, 0.7], [-22.0, -7.3, -49.0], np.eye(3))
    mask, width_mm = _long_bone(geometry, articular_end)
    cropped = crop_shaft(mask, geometry, bone)
    assert _z_extent(mask, geometry) > width_mm + 20.0
    assert abs(_z_extent(cropped, geometry) - width_mm) <= 0.7


def test_crop_keeps_articular_end():
    geometry = Geometry((120, 40, 140), [0.365, 0.365, 0.7], [-22.0, -7.3, -49.0], np.eye(3))
    mask, _ = _long_bone(geometry, "inferior")
    cropped = crop_shaft(mask, geometry, "femur")
    z = geometry.index_to_lps(np.argwhere(cropped))[:, 2]
    z_all = geometry.index_to_lps(np.argwhere(mask))[:, 2]
    assert z.min() == z_all.min()


def test_crop_patella_unchanged():
    geometry = Geometry((20, 20, 20), [0.5, 0.5, 0.5], [0, 0, 0])
    mask = np.zeros(geometry.shape, dtype=bool)
    mask[2:18, 8:12, 2:18] = True
    assert np.array_equal(crop_shaft(mask, geometry, "patella"), mask)


def test_crop_unknown_bone_raises():
    geometry = Geometry((5, 5, 5), [1, 1, 1], [0, 0, 0])
    with pytest.raises(InputError, match="Unknown bone"):
        crop_shaft(np.ones(geometry.shape, dtype=bool), geometry, "fibula")


def test_mesh_cropped_femur_height():
    geometry = Geometry((120, 40, 140), [0.365, 0.365, 0.7], [-22.0, -7.3, -49.0], np.eye(3))
    mask, width_mm = _long_bone(geometry, "inferior")
    mesh = bone_mesh(mask, geometry, "femur", target_vertices=3000)
    height_mm = np.ptp(mesh.points[:, 2])
    # The surface lies half a voxel beyond the voxel centres at each end.
    assert abs(height_mm - (width_mm + 0.7)) <= 1.0
