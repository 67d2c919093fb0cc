"""A small results folder with known arrays, written by the app tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyvista as pv


def write_sphere_results(folder: Path) -> Path:
    """Write a small results folder: three spheres with known arrays, a spherical map and a summary.

    ``thickness_mm`` on the femur rises with z from 0 to 4 mm and is NaN on
    the lateral half (x < 0); ``t2_ms`` is 35 ms everywhere; the tibia has
    ``gradcam_pain`` from 0 to 1.
    """
    folder.mkdir(parents=True, exist_ok=True)
    centres = {"femur": (0.0, 0.0, 12.0), "tibia": (0.0, 0.0, -10.0), "patella": (0.0, -14.0, 14.0)}
    for bone, centre in centres.items():
        mesh = pv.Sphere(radius=8.0, center=centre, theta_resolution=24, phi_resolution=24)
        z = mesh.points[:, 2]
        thickness = 4.0 * (z - z.min()) / (z.max() - z.min())
        if bone == "femur":
            thickness[mesh.points[:, 0] < 0] = np.nan
        mesh.point_data["thickness_mm"] = thickness.astype(np.float32)
        mesh.point_data["t2_ms"] = np.full(mesh.n_points, 35.0, dtype=np.float32)
        mesh.point_data["medial"] = (mesh.points[:, 0] > 0).astype(np.uint8)
        if bone == "tibia":
            mesh.point_data["gradcam_pain"] = np.linspace(0.0, 1.0, mesh.n_points, dtype=np.float32)
        mesh.save(folder / f"{bone}.vtp")
    grid = np.linspace(0.0, 4.0, 224, dtype=np.float32)
    np.savez(folder / "spherical_maps.npz", **{"femur/thickness_mm": np.tile(grid, (224, 1))})
    summary = {
        "side": "right",
        "inputs": {},
        "parameters": {"bones": list(centres)},
        "bones": {
            "femur": {
                "mean_thickness_mm": 2.0,
                "median_thickness_mm": 2.1,
                "compartments": {"medial": {"mean_thickness_mm": 1.5}, "lateral": {"mean_thickness_mm": None}},
            }
        },
    }
    (folder / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    return folder
