"""Curvature, CPD registration and resampling onto a reference surface."""

from __future__ import annotations

import numpy as np
import pytest
import pyvista as pv
from pycpd import DeformableRegistration, RigidRegistration
from synthetic_cohort import bumpy_bone, rotation_z, smooth_warp

from kneeviewer.stats.correspondence import (
    deformable_cpd,
    mean_symmetric_distance,
    register_surfaces,
    resample_to_reference,
    rigid_cpd,
)
from kneeviewer.stats.curvature import principal_curvatures


def test_sphere_principal_curvatures():
    sphere = pv.Sphere(radius=10.0, theta_resolution=60, phi_resolution=60)
    curvatures = principal_curvatures(sphere)
    # Discrete curvature on this tessellation is within 5 % of 1/r, biased high.
    assert np.median(curvatures[:, 0]) == pytest.approx(0.1, rel=0.05)
    assert np.median(curvatures[:, 1]) == pytest.approx(0.1, rel=0.05)
    assert np.all(curvatures[:, 0] >= curvatures[:, 1])


def _point_sets(seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(150, 3))
    y = x[:120] + 0.2 * np.sin(2 * x[:120]) + 0.05 * rng.normal(size=(120, 3))
    return x, y


def test_rigid_cpd_matches_pycpd():
    x, y = _point_sets()
    y = 1.1 * y @ rotation_z(20).T + 0.3
    _, (scale, rotation, translation) = RigidRegistration(X=x, Y=y, w=0.1, max_iterations=100, tolerance=1e-6).register()
    ours = rigid_cpd(x, y, outlier_weight=0.1, max_iterations=100, tolerance=1e-6)
    assert ours[0] == pytest.approx(scale, abs=1e-6)
    assert np.allclose(ours[1], rotation, atol=1e-5)
    assert np.allclose(ours[2], np.ravel(translation), atol=1e-5)


def test_deformable_cpd_matches_pycpd():
    x, y = _point_sets()
    pycpd_moved, _ = DeformableRegistration(X=x, Y=y, alpha=2.0, beta=1.0, w=0.1, max_iterations=10, tolerance=0).register()
    weights, _, _ = deformable_cpd(x, y, y.copy(), beta=1.0, lambda_=2.0, outlier_weight=0.1, max_iterations=10, tolerance=0)
    kernel = np.exp(-np.sum((y[:, None] - y[None]) ** 2, axis=2) / 2.0)
    ours = y + kernel @ weights
    # float32 posteriors limit the agreement to about 1e-6 of the point spread.
    assert np.abs(ours - pycpd_moved).max() < 1e-4


def test_known_warp_recovered():
    fixed = bumpy_bone(40)
    truth = np.asarray(fixed.points)
    moved = smooth_warp(truth, 4.0, seed=5) @ rotation_z(10).T + np.array([4.0, -3.0, 2.0])
    correspondence = register_surfaces(pv.PolyData(moved, fixed.faces), fixed, n_samples=800)
    error = np.linalg.norm(correspondence.warp(moved) - truth, axis=1).mean()
    rigid_error = np.linalg.norm(correspondence.rigid_points(moved) - truth, axis=1).mean()
    # Mean vertex error in mm on a 60 x 44 x 36 mm shape after a 4 mm warp, 10 degrees
    # and 5.4 mm of motion. CPD lets points slide along the surface, so the error stays
    # above the surface distance (biased high).
    assert error < 2.6
    assert error < rigid_error


def test_femur_pair_surface_distance(knee_sample_dir):
    folder = knee_sample_dir / "femur_meshes"
    fixed = pv.read(folder / "femur_1.vtk")
    moving = pv.read(folder / "femur_2.vtk")
    correspondence = register_surfaces(moving, fixed, n_samples=600, n_control=200)
    before = mean_symmetric_distance(moving.points, fixed.points)
    rigid = mean_symmetric_distance(correspondence.rigid_points(moving.points), fixed.points)
    after = mean_symmetric_distance(correspondence.warp(moving.points), fixed.points)
    assert after < rigid
    assert rigid < before
    assert after < 1.2


def test_resample_identity_and_far_points():
    points = np.array([[0.0, 0, 0], [10, 0, 0], [0, 10, 0]])
    values = np.array([1.0, 2.0, np.nan])
    reference = np.array([[0.0, 0, 0], [10, 0, 0], [100, 100, 100]])
    resampled = resample_to_reference(values, points, reference, n_neighbours=1)
    assert resampled[0] == 1.0
    assert resampled[1] == 2.0
    assert np.isnan(resampled[2])
