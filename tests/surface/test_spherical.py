"""Tests of the spherical maps on analytic surfaces and on a phantom bone."""

from __future__ import annotations

import numpy as np
import pytest
import pyvista as pv

from kneeviewer.errors import InputError
from kneeviewer.phantom import PhantomParams
from kneeviewer.phantom.anatomy import build_anatomy
from kneeviewer.phantom.imaging import dess_geometry
from kneeviewer.phantom.truth import bone_surface
from kneeviewer.surface.spherical import (
    MAP_SIZE,
    SphericalConfig,
    default_config,
    forward_map,
    group_minmax,
    inverse_map,
    round_trip_error,
    to_spherical,
    to_uint8,
)

CENTRE = np.array([5.0, -3.0, 2.0])


def _sphere_points(radius: float = 20.0, resolution: int = 180) -> np.ndarray:
    sphere = pv.Sphere(radius=radius, center=tuple(CENTRE), theta_resolution=resolution, phi_resolution=resolution)
    return np.asarray(sphere.points, dtype=float)


def _ellipsoid_points(resolution: int = 200) -> np.ndarray:
    unit = _sphere_points(1.0, resolution) - CENTRE
    return unit * np.array([30.0, 22.0, 15.0]) + CENTRE


def _field(theta: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """A smooth field on the sphere, continuous at the poles and across theta = +-pi."""
    return 2.0 + 0.5 * np.cos(theta) * np.cos(phi) + 0.3 * np.sin(2.0 * phi) + 0.2 * np.sin(theta) * np.cos(phi)


@pytest.fixture(scope="module")
def phantom_femur() -> pv.PolyData:
    anatomy = build_anatomy(PhantomParams(grid="coarse"))
    return bone_surface(anatomy.bones["femur"], dess_geometry("coarse"), 1.0)


def test_to_spherical_sphere_known_angles():
    theta = np.array([0.0, np.pi / 2, -np.pi / 2, 3.0, -1.0])
    phi = np.array([0.0, 0.3, -1.2, -np.pi / 2 + 0.01, 0.35])
    rho = np.array([10.0, 12.0, 15.0, 20.0, 7.0])
    local = np.column_stack([rho * np.cos(phi) * np.cos(theta), rho * np.cos(phi) * np.sin(theta), rho * np.sin(phi)])
    got_theta, got_phi, got_rho = to_spherical(local + CENTRE, CENTRE, "femur")
    assert np.allclose(got_theta, theta)
    assert np.allclose(got_phi, phi)
    assert np.allclose(got_rho, rho)


def test_to_spherical_tibia_flipped():
    superior = CENTRE + np.array([0.0, 0.0, 10.0])
    _, phi, _ = to_spherical(superior[None], CENTRE, "tibia")
    assert phi[0] == pytest.approx(-np.pi / 2)


def test_to_spherical_patella_posterior_down():
    posterior = CENTRE + np.array([0.0, 10.0, 0.0])
    _, phi, _ = to_spherical(posterior[None], CENTRE, "patella")
    assert phi[0] == pytest.approx(-np.pi / 2)


def test_bone_frames_are_rotations():
    for bone in ("femur", "tibia", "patella"):
        frame = default_config(bone).frame
        assert np.allclose(frame @ frame.T, np.eye(3)), bone
        assert np.linalg.det(frame) == pytest.approx(1.0), bone


def test_forward_map_sphere_matches_field():
    points = _sphere_points()
    theta, phi, _ = to_spherical(points, CENTRE, "femur")
    image = forward_map(points, _field(theta, phi), "femur", CENTRE)
    config = default_config("femur")
    column_theta, row_phi = config.pixel_centres()
    expected = _field(column_theta[None, :], row_phi[:, None])
    assert image.shape == (MAP_SIZE, MAP_SIZE)
    assert image.dtype == np.float32
    assert np.isfinite(image).all()
    # Interpolation error is largest in the pole row, where the chart stretches most.
    assert np.max(np.abs(image - expected)) < 0.01
    assert np.max(np.abs(image[10:] - expected[10:])) < 0.001


def test_ellipsoid_round_trip_smooth_field():
    points = _ellipsoid_points()
    theta, phi, _ = to_spherical(points, CENTRE, "femur")
    values = _field(theta, phi)
    image = forward_map(points, values, "femur", CENTRE)
    back = inverse_map(points, image, "femur", CENTRE)
    config = default_config("femur")
    inside = phi < config.phi_range[1] - 0.02
    assert np.nanmax(np.abs(back[inside] - values[inside])) < 0.01
    assert np.isfinite(back[inside]).all()


def test_inverse_map_nan_outside_phi_range():
    points = _sphere_points()
    image = np.ones((MAP_SIZE, MAP_SIZE), dtype=np.float32)
    back = inverse_map(points, image, "femur", CENTRE)
    _, phi, _ = to_spherical(points, CENTRE, "femur")
    assert np.isnan(back[phi > np.pi / 8 + 0.01]).all()
    assert np.allclose(back[phi < np.pi / 8 - 0.05], 1.0)


def test_nan_values_stay_nan():
    points = _sphere_points()
    theta, phi, _ = to_spherical(points, CENTRE, "femur")
    values = _field(theta, phi)
    hole = (theta > 0.5) & (theta < 1.5)
    values[hole] = np.nan
    image = forward_map(points, values, "femur", CENTRE)
    config = default_config("femur")
    column_theta, _ = config.pixel_centres()
    hole_columns = (column_theta > 0.6) & (column_theta < 1.4)
    # The pole itself is one vertex with a value, so rows within 0.05 rad of it may read it.
    assert np.isnan(image[3:, hole_columns]).all()
    back = inverse_map(points, image, "femur", CENTRE)
    deep_in_hole = (theta > 0.6) & (theta < 1.4) & (phi < 0.3)
    assert np.isnan(back[deep_in_hole]).all()


def test_theta_wrap_continuous():
    points = _sphere_points()
    theta, phi, _ = to_spherical(points, CENTRE, "femur")
    image = forward_map(points, _field(theta, phi), "femur", CENTRE)
    rows = slice(20, MAP_SIZE - 5)
    seam_step = np.abs(image[rows, 0] - image[rows, -1])
    interior_step = np.abs(image[rows, 1] - image[rows, 0])
    assert np.nanmax(seam_step) < 3.0 * np.nanmax(interior_step) + 1e-3
    near_seam = np.array([[np.pi - 1e-3, 0.0], [-np.pi + 1e-3, 0.0]])
    seam_points = CENTRE + 20.0 * np.column_stack([np.cos(near_seam[:, 0]), np.sin(near_seam[:, 0]), np.zeros(2)])
    seam_values = inverse_map(seam_points, image, "femur", CENTRE)
    assert seam_values[0] == pytest.approx(seam_values[1], abs=1e-3)


def test_round_trip_phantom_femur_thickness(phantom_femur):
    centre = np.asarray(phantom_femur.points).mean(axis=0)
    result = round_trip_error(phantom_femur.points, phantom_femur["thickness_mm"], "femur", centre)
    assert abs(result["difference"]) < 0.1
    assert result["n_compared"] > 1000
    assert result["n_lost"] < 0.05 * result["n_compared"]


def test_round_trip_reuses_given_map(phantom_femur):
    centre = np.asarray(phantom_femur.points).mean(axis=0)
    thickness = phantom_femur["thickness_mm"]
    image = forward_map(phantom_femur.points, thickness, "femur", centre)
    assert round_trip_error(phantom_femur.points, thickness, "femur", centre, image=image) == round_trip_error(
        phantom_femur.points, thickness, "femur", centre
    )


def test_group_minmax_and_uint8():
    first = np.array([[0.5, np.nan], [2.0, 1.0]])
    second = np.array([[3.0, 1.5], [np.nan, np.nan]])
    vmin, vmax = group_minmax([first, second])
    assert (vmin, vmax) == (0.5, 3.0)
    scaled = to_uint8(first, vmin, vmax)
    assert scaled.dtype == np.uint8
    assert scaled[0, 0] == 0
    assert scaled[0, 1] == 0
    assert to_uint8(second, vmin, vmax)[0, 0] == 255


def test_group_minmax_all_nan_rejected():
    with pytest.raises(InputError, match="empty"):
        group_minmax([np.full((2, 2), np.nan)])


def test_inverse_map_wrong_shape_rejected():
    with pytest.raises(InputError, match="224"):
        inverse_map(_sphere_points(10.0, 10), np.zeros((10, 10)), "femur", CENTRE)


def test_config_custom_range():
    config = SphericalConfig(phi_range=(-np.pi / 2, 0.0), size=64)
    points = _sphere_points(10.0, 60)
    image = forward_map(points, np.ones(len(points)), "femur", CENTRE, config=config)
    assert image.shape == (64, 64)


def test_forward_map_degenerate_all_nan():
    on_one_ray = np.array([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [3.0, 0.0, -3.0], [4.0, 0.0, -4.0]])
    image = forward_map(on_one_ray, np.ones(4), "femur", np.zeros(3))
    assert np.isnan(image).all()
