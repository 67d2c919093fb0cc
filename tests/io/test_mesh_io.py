"""Mesh files: round trips through VTP, VTK, PLY and STL with point arrays."""

from __future__ import annotations

import numpy as np
import pytest
import pyvista as pv

from kneeviewer.errors import InputError
from kneeviewer.io.mesh import read_mesh, write_mesh


@pytest.fixture
def mesh() -> pv.PolyData:
    sphere = pv.Sphere(radius=5.0, theta_resolution=16, phi_resolution=12).triangulate()
    sphere.clear_data()
    sphere = sphere.compute_normals(cell_normals=False, split_vertices=False)
    sphere.point_data["thickness_mm"] = np.linspace(0.5, 3.0, sphere.n_points).astype(np.float32)
    values = np.full(sphere.n_points, np.nan, dtype=np.float32)
    values[::3] = 40.0
    sphere.point_data["t2_ms"] = values
    return sphere


@pytest.mark.parametrize("suffix", [".vtp", ".vtk", ".ply"])
def test_round_trip_keeps_arrays(mesh, tmp_path, suffix):
    path = write_mesh(mesh, tmp_path / f"bone{suffix}")
    loaded = read_mesh(path)
    assert loaded.n_points == mesh.n_points
    assert loaded.n_cells == mesh.n_cells
    assert np.allclose(loaded.points, mesh.points, atol=1e-5)
    assert np.allclose(loaded.point_data["thickness_mm"], mesh.point_data["thickness_mm"])
    assert np.array_equal(np.isnan(loaded.point_data["t2_ms"]), np.isnan(mesh.point_data["t2_ms"]))
    assert np.allclose(loaded.point_data["Normals"], mesh.point_data["Normals"], atol=1e-6)


def test_ply_keeps_faces(mesh, tmp_path):
    loaded = read_mesh(write_mesh(mesh, tmp_path / "bone.ply"))
    assert np.array_equal(loaded.faces, mesh.faces)


def test_stl_keeps_geometry(mesh, tmp_path):
    loaded = read_mesh(write_mesh(mesh, tmp_path / "bone.stl"))
    assert loaded.n_cells == mesh.n_cells
    assert loaded.bounds == pytest.approx(mesh.bounds, abs=1e-4)


def test_read_missing_file_raises(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_mesh(tmp_path / "absent.vtp")


@pytest.mark.parametrize("suffix", [".vtp", ".ply", ".stl", ".vtk"])
def test_read_garbage_raises(tmp_path, suffix):
    path = tmp_path / f"broken{suffix}"
    path.write_bytes(b"this is not a mesh\n" * 4)
    with pytest.raises(InputError, match=str(path.name)):
        read_mesh(path)


def test_unsupported_extension_raises(mesh, tmp_path):
    with pytest.raises(InputError, match="unsupported extension"):
        write_mesh(mesh, tmp_path / "bone.obj")


def test_read_sample_femur_mesh(knee_sample_dir):
    loaded = read_mesh(knee_sample_dir / "femur_meshes" / "femur_1.vtk")
    assert loaded.n_points > 1000
