"""Benchmark kneeviewer's CPD correspondence against plain pycpd on one real femur pair.

Both register ``femur_2`` onto ``femur_1`` of the knee sample from the same
random vertex subsample: pycpd with ``RigidRegistration`` then
``DeformableRegistration`` (beta 2, alpha 2, w 0.1, its default tolerance),
kneeviewer with :func:`kneeviewer.stats.correspondence.register_surfaces`
(same beta and lambda, 400 control points, curvature features). Accuracy is
the mean symmetric vertex-to-nearest-vertex distance between the warped
moving mesh and the fixed mesh, in mm.

Usage::

    python benchmarks/bench_correspondence.py [--data ../shared/data/knee-sample] [--samples 1500] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import pyvista as pv
from pycpd import DeformableRegistration, RigidRegistration

from kneeviewer.stats.correspondence import mean_symmetric_distance, register_surfaces

REPOSITORY = Path(__file__).resolve().parents[1]


def run_pycpd(moving: pv.PolyData, fixed: pv.PolyData, n_samples: int, seed: int) -> np.ndarray:
    """Register with plain pycpd on the same normalised subsample; return the warped moving vertices (mm)."""
    rng = np.random.default_rng(seed)
    moving_index = np.sort(rng.choice(moving.n_points, size=min(n_samples, moving.n_points), replace=False))
    fixed_index = np.sort(rng.choice(fixed.n_points, size=min(n_samples, fixed.n_points), replace=False))
    fixed_points = np.asarray(fixed.points, float)[fixed_index]
    centre = fixed_points.mean(axis=0)
    scale = float(np.sqrt(np.mean(np.sum((fixed_points - centre) ** 2, axis=1))))
    x = (fixed_points - centre) / scale
    y_all = (np.asarray(moving.points, float) - centre) / scale
    shift = x.mean(axis=0) - y_all[moving_index].mean(axis=0)
    rigid = RigidRegistration(X=x, Y=y_all[moving_index] + shift, w=0.1)
    rigid_y, _ = rigid.register()
    deformable = DeformableRegistration(X=x, Y=rigid_y, alpha=2.0, beta=2.0, w=0.1)
    deformable.register()
    rigid_all = rigid.transform_point_cloud(Y=y_all + shift)
    # pycpd evaluates its deformation only at the fitted points; evaluate the same
    # Gaussian sum at every vertex, in chunks to bound memory.
    warped = np.empty_like(rigid_all)
    for start in range(0, len(rigid_all), 5000):
        chunk = rigid_all[start : start + 5000]
        d2 = np.sum((chunk[:, None, :] - rigid_y[None, :, :]) ** 2, axis=2)
        warped[start : start + 5000] = chunk + np.exp(-d2 / (2.0 * deformable.beta**2)) @ deformable.W
    return warped * scale + centre


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPOSITORY.parent / "shared" / "data" / "knee-sample")
    parser.add_argument("--samples", type=int, default=1500, help="vertices per mesh in the fit (default 1500)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    fixed = pv.read(args.data / "femur_meshes" / "femur_1.vtk")
    moving = pv.read(args.data / "femur_meshes" / "femur_2.vtk")
    print(f"femur_2 ({moving.n_points} vertices) onto femur_1 ({fixed.n_points}), {args.samples} samples")
    print(f"before registration: {mean_symmetric_distance(moving.points, fixed.points):.3f} mm")

    results = {}
    for name in ("kneeviewer", "pycpd"):
        times, distances = [], []
        for repeat in range(args.repeats):
            start = time.perf_counter()
            if name == "kneeviewer":
                correspondence = register_surfaces(moving, fixed, n_samples=args.samples, seed=repeat)
                warped = correspondence.warp(np.asarray(moving.points, float))
            else:
                warped = run_pycpd(moving, fixed, args.samples, seed=repeat)
            times.append(time.perf_counter() - start)
            distances.append(mean_symmetric_distance(warped, fixed.points))
        results[name] = (statistics.median(times), statistics.median(distances))
        print(f"{name:10s} median time {results[name][0]:.2f} s, median surface distance {results[name][1]:.3f} mm ({args.repeats} runs)")
    print(f"time ratio pycpd / kneeviewer: {results['pycpd'][0] / results['kneeviewer'][0]:.2f}")


if __name__ == "__main__":
    main()
