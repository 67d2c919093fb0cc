"""Stage functions of the per-knee pipeline.

Each ``compute_*`` function writes its outputs into the temporary folder it
is given and returns extra facts for the stage manifest. They are called by
:func:`kneeviewer.pipeline.knee.run_knee`, which handles caching, progress
and cancellation around them.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyvista as pv
from scipy import ndimage

from kneeviewer.io.labels import BONE_CARTILAGE
from kneeviewer.io.volume import Geometry
from kneeviewer.pipeline.sparse import load_sparse_field, save_sparse_field
from kneeviewer.progress import ProgressCallback, check_cancel, report

if TYPE_CHECKING:
    from kneeviewer.pipeline.knee import _Runner

log = logging.getLogger(__name__)

#: Point arrays that get a spherical map when present on a mesh.
SPHERICAL_ARRAYS: tuple[str, ...] = ("thickness_mm", "bone_shape_mm", "t2_ms", "t2_deep_ms", "t2_superficial_ms")

#: Below this share of cartilage voxels with a T2 fit, the MSME probably does not match the label map.
LOW_T2_COVERAGE = 0.5

#: Shafts that are cropped to the mediolateral width.
_CROPPED_BONES = ("femur", "tibia")


def bone_region(runner: _Runner, bone: str, margin: int = 4) -> tuple[Geometry, tuple[slice, ...]]:
    """Sub-grid around a bone and its cartilage, and the slices that cut it from the full grid.

    Every per-bone computation runs on this box instead of the whole DESS
    grid, which is mostly background.
    """
    regions = runner.regions
    if bone not in regions:
        knee = runner.loaded()
        labels = knee.labels.data
        if runner.label_objects is None:
            # One pass over the grid gives the bounding box of every label value.
            runner.label_objects = ndimage.find_objects(np.clip(labels, 0, None).astype(np.int64, copy=False))
        objects = runner.label_objects
        values = list(knee.schema.values(bone))
        for structure in BONE_CARTILAGE[bone]:
            values += list(knee.schema.values(structure))
        boxes = [objects[v - 1] for v in values if v - 1 < len(objects) and objects[v - 1] is not None]
        low = np.min([[s.start for s in box] for box in boxes], axis=0) - margin
        high = np.max([[s.stop for s in box] for box in boxes], axis=0) + margin
        regions[bone] = _sub_grid(knee.labels.geometry, low, high)
    return regions[bone]


def _sub_grid(geometry: Geometry, low: np.ndarray, high: np.ndarray) -> tuple[Geometry, tuple[slice, ...]]:
    """Cut the box ``[low, high)`` out of a grid, clipped to it; return its geometry and index slices."""
    low = np.maximum(np.asarray(low), 0)
    high = np.minimum(np.asarray(high), np.asarray(geometry.shape))
    sub = Geometry(shape=tuple(int(n) for n in high - low), spacing_mm=geometry.spacing_mm,
                   origin_mm=geometry.index_to_lps(low), direction=geometry.direction)
    return sub, tuple(slice(int(a), int(b)) for a, b in zip(low, high))


def _cartilage_union(runner: _Runner) -> np.ndarray:
    knee = runner.loaded()
    mask = np.zeros(knee.labels.data.shape, dtype=bool)
    for bone in runner.params.bones:
        mask |= knee.schema.cartilage_mask(knee.labels.data, bone)
    return mask


def compute_thickness(runner: _Runner, folder: Path, progress: ProgressCallback | None) -> dict:
    """Cartilage thickness of every bone's cartilage by the sagittal skeleton method."""
    from kneeviewer.biomarkers.thickness import thickness_map_mm

    knee = runner.loaded()
    bones = runner.params.bones
    facts: dict = {}
    for index, bone in enumerate(bones):
        check_cancel(runner.should_cancel, f"thickness of the {bone} cartilage")
        report(progress, "thickness", index / len(bones), f"{bone} cartilage")
        geometry, box = bone_region(runner, bone)
        mask = knee.schema.cartilage_mask(knee.labels.data[box], bone)
        thickness = thickness_map_mm(mask, geometry, should_cancel=runner.should_cancel)
        save_sparse_field(folder / f"thickness_{bone}.npz", thickness)
        facts[bone] = {"cartilage_voxels": int(mask.sum())}
    return {"bones": facts}


def _bounding_geometry(mask: np.ndarray, geometry: Geometry, margin: int = 3) -> tuple[Geometry, tuple[slice, ...]]:
    """Sub-grid of ``geometry`` around the voxels of ``mask``."""
    occupied = np.argwhere(mask)
    return _sub_grid(geometry, occupied.min(axis=0) - margin, occupied.max(axis=0) + margin + 1)


def compute_t2(runner: _Runner, folder: Path, progress: ProgressCallback | None) -> dict:
    """T2 of every cartilage voxel from the MSME series resampled onto the DESS grid."""
    from kneeviewer.biomarkers.resample import resample_to_geometry
    from kneeviewer.biomarkers.t2 import fit_t2

    knee = runner.loaded()
    cartilage = _cartilage_union(runner)
    sub_geometry, box = _bounding_geometry(cartilage, knee.labels.geometry)
    report(progress, "t2", 0.05, "resampling the MSME echoes onto the DESS grid")
    resampled = resample_to_geometry(knee.msme, sub_geometry)
    check_cancel(runner.should_cancel, "T2 fit")
    report(progress, "t2", 0.3, f"fitting {int(cartilage.sum())} cartilage voxels")
    sub_mask = cartilage[box] & np.all(np.isfinite(resampled.data), axis=0)
    fit = fit_t2(resampled.data, resampled.echo_times_ms, mask=sub_mask,
                 min_r2=runner.params.t2_min_r2, t2_range_ms=runner.params.t2_range_ms,
                 should_cancel=runner.should_cancel)
    t2 = np.full(cartilage.shape, np.nan, dtype=np.float32)
    r2 = np.full(cartilage.shape, np.nan, dtype=np.float32)
    t2[box] = fit.t2_ms
    r2[box] = fit.r2
    save_sparse_field(folder / "t2_ms.npz", t2)
    save_sparse_field(folder / "t2_r2.npz", r2)
    counts_by_bone = {}
    for bone in runner.params.bones:
        bone_cartilage = knee.schema.cartilage_mask(knee.labels.data, bone)
        fitted = int(np.count_nonzero(np.isfinite(t2[bone_cartilage])))
        counts_by_bone[bone] = {"cartilage_voxels": int(bone_cartilage.sum()), "fitted": fitted,
                                "not_fitted": int(bone_cartilage.sum()) - fitted}
    total = int(cartilage.sum())
    fitted_share = float(np.count_nonzero(np.isfinite(t2[cartilage]))) / max(total, 1)
    if fitted_share < LOW_T2_COVERAGE:
        log.warning(
            "Only %.0f%% of the cartilage voxels got a T2 fit. Check that the MSME series %s shows the same knee "
            "and session as the label map, and that it covers the cartilage.",
            100 * fitted_share, runner.inputs.msme,
        )
    facts = {"fitted_share": fitted_share, "counts": {k: int(v) for k, v in fit.counts.items()}, "by_bone": counts_by_bone,
             "echo_times_ms": [float(t) for t in knee.msme.echo_times_ms]}
    (folder / "t2_counts.json").write_text(json.dumps(facts, indent=2), encoding="utf-8")
    return facts


def compute_surfaces(runner: _Runner, folder: Path, progress: ProgressCallback | None) -> dict:
    """Shaft crop and triangulated surface of every bone, with its volumetric centroid."""
    from kneeviewer.biomarkers.shape import mask_centroid_mm
    from kneeviewer.surface.crop import crop_shaft
    from kneeviewer.surface.mesh import bone_mesh

    knee = runner.loaded()
    bones = runner.params.bones
    facts: dict = {}
    for index, bone in enumerate(bones):
        check_cancel(runner.should_cancel, f"{bone} surface")
        report(progress, "surfaces", index / len(bones), f"{bone} surface")
        geometry, box = bone_region(runner, bone)
        mask = knee.schema.mask(knee.labels.data[box], bone)
        if runner.params.crop_shaft and bone in _CROPPED_BONES:
            mask = crop_shaft(mask, geometry, bone)
        centroid = mask_centroid_mm(mask, geometry)
        mesh = bone_mesh(mask, geometry, bone, target_vertices=runner.params.target_vertices,
                         smoothing_iterations=runner.params.smoothing_iterations, crop=False)
        mesh.save(folder / f"{bone}.vtp")
        facts[bone] = {"centroid_mm": [float(c) for c in centroid], "n_vertices": int(mesh.n_points),
                       "bone_voxels": int(mask.sum())}
    (folder / "surfaces.json").write_text(json.dumps(facts, indent=2), encoding="utf-8")
    return facts


def read_surface_facts(surfaces_dir: Path) -> dict:
    """Centroids and vertex counts written by :func:`compute_surfaces`."""
    return json.loads((surfaces_dir / "surfaces.json").read_text(encoding="utf-8"))


def compute_projection(runner: _Runner, folder: Path, progress: ProgressCallback | None,
                       thickness_dir: Path, t2_dir: Path | None, surfaces_dir: Path) -> dict:
    """Thickness, T2 (total, deep, superficial) and bone shape on every bone surface."""
    from kneeviewer.biomarkers.layers import cartilage_depth_fraction
    from kneeviewer.biomarkers.shape import bone_shape_mm
    from kneeviewer.surface.compartments import compartment_labels
    from kneeviewer.surface.projection import project_cartilage

    knee = runner.loaded()
    surface_facts = read_surface_facts(surfaces_dir)
    t2_field = load_sparse_field(t2_dir / "t2_ms.npz") if t2_dir is not None else None
    bones = runner.params.bones
    for index, bone in enumerate(bones):
        check_cancel(runner.should_cancel, f"projection onto the {bone}")
        report(progress, "projection", index / len(bones), f"projecting onto the {bone}")
        mesh = pv.read(surfaces_dir / f"{bone}.vtp")
        geometry, box = bone_region(runner, bone)
        labels = knee.labels.data[box]
        cartilage = knee.schema.cartilage_mask(labels, bone)
        thickness = load_sparse_field(thickness_dir / f"thickness_{bone}.npz")
        depth = None
        t2_box = None
        if t2_field is not None:
            depth = cartilage_depth_fraction(cartilage, knee.schema.mask(labels, bone), geometry)
            t2_box = t2_field[box]
        arrays = project_cartilage(
            mesh, cartilage, geometry, thickness,
            t2_map_ms=t2_box, depth_fraction=depth,
            radius_mm=runner.params.projection_radius_mm,
            max_distance_mm=runner.params.max_projection_distance_mm,
        )
        for name, values in arrays.items():
            mesh.point_data[name] = np.asarray(values, dtype=np.float32)
        centroid = np.asarray(surface_facts[bone]["centroid_mm"])
        mesh.point_data["bone_shape_mm"] = bone_shape_mm(np.asarray(mesh.points), centroid).astype(np.float32)
        medial = np.asarray(compartment_labels(np.asarray(mesh.points), bone, centroid)) == "medial"
        mesh.point_data["medial"] = medial.astype(np.uint8)
        mesh.field_data["centroid_mm"] = centroid
        mesh.save(folder / f"{bone}.vtp")
    return {}


def compute_spherical(runner: _Runner, folder: Path, progress: ProgressCallback | None, projection_dir: Path) -> dict:
    """224 x 224 spherical maps of every projected array, and the round-trip check of each."""
    from kneeviewer.surface.spherical import forward_map, round_trip_error

    maps: dict[str, np.ndarray] = {}
    checks: dict = {}
    bones = runner.params.bones
    for index, bone in enumerate(bones):
        check_cancel(runner.should_cancel, f"spherical maps of the {bone}")
        report(progress, "spherical", index / len(bones), f"{bone} maps")
        mesh = pv.read(projection_dir / f"{bone}.vtp")
        points = np.asarray(mesh.points)
        centroid = np.asarray(mesh.field_data["centroid_mm"])
        for name in SPHERICAL_ARRAYS:
            if name not in mesh.point_data:
                continue
            values = np.asarray(mesh.point_data[name], dtype=float)
            maps[f"{bone}/{name}"] = np.asarray(forward_map(points, values, bone, centroid), dtype=np.float32)
            if name in ("thickness_mm", "t2_ms") and np.isfinite(values).any():
                check = round_trip_error(points, values, bone, centroid, image=maps[f"{bone}/{name}"])
                checks[f"{bone}/{name}"] = {key: float(value) for key, value in check.items()}
    np.savez_compressed(folder / "spherical_maps.npz", **maps)
    (folder / "round_trip.json").write_text(json.dumps(checks, indent=2), encoding="utf-8")
    return {"round_trip": checks}
