"""Projection of cartilage values onto bone meshes: a slab on a block, and the real sample knee."""

from __future__ import annotations

import numpy as np
import pytest

from kneeviewer.biomarkers.layers import cartilage_depth_fraction
from kneeviewer.biomarkers.thickness import thickness_map_mm
from kneeviewer.io.labels import default_schema
from kneeviewer.io.volume import Geometry, read_volume
from kneeviewer.surface.mesh import bone_mesh
from kneeviewer.surface.projection import project_cartilage

SLAB_MM = 2.0
DEEP_T2_MS, SUPERFICIAL_T2_MS = 30.0, 50.0


def _dess_geometry(shape) -> Geometry:
    # i posterior, j superior, k left (sagittal slices), rotated 10 degrees about x.
    angle = np.deg2rad(10.0)
    about_x = np.array([[1, 0, 0], [0, np.cos(angle), -np.sin(angle)], [0, np.sin(angle), np.cos(angle)]])
    direction = about_x @ np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    spacing = np.array([0.365, 0.365, 0.7])
    origin = -(direction * spacing) @ ((np.array(shape) - 1) / 2)
    return Geometry(shape, spacing, origin, direction)


@pytest.fixture(scope="module")
def slab_case():
    """A 2 mm cartilage slab on the top (+z) face of a block bone, centred over 10 x 10 mm."""
    geometry = _dess_geometry((64, 64, 40))
    index = np.indices(geometry.shape).reshape(3, -1).T
    points = geometry.index_to_lps(index).reshape(*geometry.shape, 3)
    x, y, z = points[..., 0], points[..., 1], points[..., 2]
    bone = (np.abs(x) < 8.0) & (np.abs(y) < 8.0) & (z > -7.0) & (z < 0.0)
    cartilage = (np.abs(x) < 5.0) & (np.abs(y) < 5.0) & (z >= 0.0) & (z < SLAB_MM)
    t2_ms = np.where(z < SLAB_MM / 2, DEEP_T2_MS, SUPERFICIAL_T2_MS)
    mesh = bone_mesh(bone, geometry, "patella", target_vertices=4000)
    thickness = thickness_map_mm(cartilage, geometry)
    depth = cartilage_depth_fraction(cartilage, bone, geometry)
    values = project_cartilage(mesh, cartilage, geometry, thickness, t2_map_ms=t2_ms, depth_fraction=depth)
    return mesh, values


def _top_centre(mesh) -> np.ndarray:
    x, y, z = mesh.points.T
    return (np.abs(x) < 3.5) & (np.abs(y) < 3.5) & (z > -0.5)


def test_projection_slab_thickness(slab_case):
    mesh, values = slab_case
    under = values["thickness_mm"][_top_centre(mesh)]
    # Tolerance 0.15 mm on the mean; the slab is 2 mm thick.
    assert np.all(np.isfinite(under))
    assert abs(under.mean() - SLAB_MM) < 0.15


def test_projection_nan_away_from_slab(slab_case):
    mesh, values = slab_case
    x, y, z = mesh.points.T
    bottom = z < -6.0
    top_rim = (z > -0.5) & ((np.abs(x) > 6.5) | (np.abs(y) > 6.5))
    assert np.all(np.isnan(values["thickness_mm"][bottom]))
    assert np.all(np.isnan(values["thickness_mm"][top_rim]))


def test_projection_t2_layers(slab_case):
    mesh, values = slab_case
    centre = _top_centre(mesh)
    # Tolerance 2 ms: voxels on the digitised mid-plane may fall in the other layer.
    assert abs(np.nanmean(values["t2_deep_ms"][centre]) - DEEP_T2_MS) < 2.0
    assert abs(np.nanmean(values["t2_superficial_ms"][centre]) - SUPERFICIAL_T2_MS) < 2.0
    assert abs(np.nanmean(values["t2_ms"][centre]) - 0.5 * (DEEP_T2_MS + SUPERFICIAL_T2_MS)) < 3.0


def test_projection_output_arrays(slab_case):
    mesh, values = slab_case
    assert set(values) == {"thickness_mm", "t2_ms", "t2_deep_ms", "t2_superficial_ms"}
    for array in values.values():
        assert array.shape == (mesh.n_points,)
        assert array.dtype == np.float32


#: pymskt 0.1.22 per-bone "mean thickness where > 0" on dess_labels.nrrd (README of the sample).
PYMSKT_MEAN_THICKNESS_MM = {"femur": 2.21, "tibia": 2.42, "patella": 1.58}


@pytest.mark.sample_data
def test_projection_sample_knee_near_pymskt(knee_sample_dir):
    labels = read_volume(knee_sample_dir / "dess_labels.nrrd")
    schema = default_schema()
    for bone, reference_mm in PYMSKT_MEAN_THICKNESS_MM.items():
        cartilage = schema.cartilage_mask(labels.data, bone)
        thickness = thickness_map_mm(cartilage, labels.geometry)
        mesh = bone_mesh(schema.mask(labels.data, bone), labels.geometry, bone)
        projected = project_cartilage(mesh, cartilage, labels.geometry, thickness)["thickness_mm"]
        covered = np.isfinite(projected)
        assert covered.mean() > 0.05, bone
        # Target: within 0.25 mm of pymskt, which measures along normals instead of per slice.
        assert abs(float(projected[covered].mean()) - reference_mm) < 0.25, bone


def test_projection_without_depth_nan_layers():
    geometry = Geometry((30, 30, 30), [0.5, 0.5, 0.5], [-7.25, -7.25, -7.25])
    index = np.indices(geometry.shape).reshape(3, -1).T
    z = geometry.index_to_lps(index)[:, 2].reshape(geometry.shape)
    bone = (z > -5.0) & (z < 0.0)
    cartilage = (z >= 0.0) & (z < 2.0)
    mesh = bone_mesh(bone, geometry, "patella", target_vertices=1500)
    thickness = np.where(cartilage, 2.0, np.nan)
    values = project_cartilage(mesh, cartilage, geometry, thickness, t2_map_ms=np.full(geometry.shape, 40.0))
    assert np.nanmax(values["t2_ms"]) == pytest.approx(40.0)
    assert np.all(np.isnan(values["t2_deep_ms"]))
    assert np.all(np.isnan(values["t2_superficial_ms"]))
