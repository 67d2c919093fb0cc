"""Synthetic cohorts for the statistics tests: bumpy ellipsoid 'bones' with planted Grad-CAM."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyvista as pv

#: Direction (unit vector) of the centre of the planted Grad-CAM region.
PLANTED_DIRECTION = np.array([0.0, 0.0, -1.0])
#: Angular radius of the planted region, degrees.
PLANTED_RADIUS_DEG = 35.0


def bumpy_bone(resolution: int = 40) -> pv.PolyData:
    """Return an ellipsoid (semi-axes 30, 22, 18 mm) with three smooth bumps, so that curvature varies."""
    sphere = pv.Sphere(radius=1.0, theta_resolution=resolution, phi_resolution=resolution)
    unit = np.asarray(sphere.points, dtype=float)
    radius = 1.0
    for centre, height in (((1, 0, 0), 0.25), ((0, 0.7, 0.7), 0.2), ((-0.6, -0.6, 0.5), 0.15)):
        c = np.asarray(centre, float) / np.linalg.norm(centre)
        radius = radius + height * np.exp(-np.sum((unit - c) ** 2, axis=1) / 0.15)
    points = unit * radius[:, None] * np.array([30.0, 22.0, 18.0])
    mesh = pv.PolyData(points, sphere.faces)
    return mesh.compute_normals(auto_orient_normals=True, point_normals=True, cell_normals=False)


def smooth_warp(points: np.ndarray, amplitude_mm: float, seed: int) -> np.ndarray:
    """Apply a smooth random displacement (sum of three Gaussian bumps, width 20 mm) to ``(n, 3)`` points."""
    rng = np.random.default_rng(seed)
    out = points.copy()
    for _ in range(3):
        centre = points[rng.integers(len(points))]
        shift = rng.normal(0.0, amplitude_mm, 3)
        out += shift * np.exp(-np.sum((points - centre) ** 2, axis=1) / (2 * 20.0**2))[:, None]
    return out


def rotation_z(degrees: float) -> np.ndarray:
    """Return the rotation matrix about z by ``degrees``."""
    a = np.deg2rad(degrees)
    return np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]])


def planted_mask(points: np.ndarray) -> np.ndarray:
    """Return the vertices within :data:`PLANTED_RADIUS_DEG` of :data:`PLANTED_DIRECTION` seen from the centre."""
    unit = (points - points.mean(axis=0)) / np.linalg.norm(points - points.mean(axis=0), axis=1, keepdims=True)
    return unit @ PLANTED_DIRECTION > np.cos(np.deg2rad(PLANTED_RADIUS_DEG))


def write_synthetic_cohort(
    root: Path, n_per_group: int = 8, n_outside: int = 40, effect: float = 0.5, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write a cohort of knee results folders and return ``(knees, probabilities)``.

    Every knee has ``femur.vtp``: the bumpy bone, warped by up to about 2 mm,
    rotated by up to 5 degrees and shifted by up to 3 mm, with
    ``thickness_mm`` (NaN on the upper half) and ``gradcam_thickness`` =
    noise, plus ``effect`` inside the planted region for TP_pain knees.
    ``n_outside`` further knees are misclassified by one model and fall out
    of the groups; they only enter the regressions.
    """
    rng = np.random.default_rng(seed)
    base = bumpy_bone(30)
    rows, probability_rows = [], []
    n_knees = 2 * n_per_group + n_outside
    for number in range(n_knees):
        pain = number % 2
        misclassified = number >= 2 * n_per_group
        points = smooth_warp(np.asarray(base.points), 1.0, seed=seed * 1000 + number)
        truth = planted_mask(np.asarray(base.points))
        points = points @ rotation_z(rng.uniform(-5, 5)).T + rng.uniform(-3, 3, 3)
        mesh = pv.PolyData(points, base.faces)
        gradcam = np.clip(0.3 + 0.1 * rng.standard_normal(mesh.n_points), 0, None)
        if pain and not misclassified:
            gradcam[truth] += effect
        knee_offset_mm = rng.normal(0.0, 0.3) - 0.15 * pain
        thickness = 2.0 + knee_offset_mm + 0.3 * rng.standard_normal(mesh.n_points) - 0.3 * pain * truth * gradcam
        thickness[np.asarray(base.points)[:, 2] > 0] = np.nan
        mesh.point_data["thickness_mm"] = thickness
        mesh.point_data["gradcam_thickness"] = gradcam
        folder = root / f"knee{number:02d}"
        folder.mkdir(parents=True)
        mesh.save(folder / "femur.vtp")
        (folder / "summary.json").write_text(json.dumps({"bones": {"femur": {"centroid_mm": [float(v) for v in points.mean(axis=0)]}}}))
        rows.append({"age": rng.uniform(50, 75), "sex": "F" if rng.random() < 0.5 else "M", "bmi": rng.uniform(22, 34), "pain": pain, "results_dir": str(folder)})
        correct = 0.8 if pain else 0.2
        probability_rows.append({"femur_thickness": correct, "femur_shape": (1 - correct) if misclassified else correct})
    knees = pd.DataFrame(rows)
    return knees, pd.DataFrame(probability_rows, index=knees.index)
