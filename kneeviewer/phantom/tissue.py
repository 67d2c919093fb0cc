"""Tissue labels and partial-volume fractions of the phantom knee at arbitrary points.

Labels follow the voxel-centre rule: a voxel takes the structure that
contains its centre. This is the partial-volume fraction rounded at 0.5
(with the fraction linearised from the signed distance). It is unbiased for
thickness where surfaces cross the grid at varying offsets, because a plate
of thickness ``t`` crossed by voxels of size ``h`` at a random offset
contains on average ``t / h`` voxel centres. Image intensities
use the fractions themselves, ``clip(0.5 - sdf / h, 0, 1)``, so edges are
blurred over one voxel like in a real scan.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kneeviewer.phantom.anatomy import LABELS, KneeAnatomy


@dataclass
class TissueSample:
    """Tissue at a set of points, every array of shape (n,).

    Attributes
    ----------
    label : ndarray of uint8
        Structure label by the centre rule, 0 for background.
    bone_fraction : ndarray of float32
        Partial-volume fraction of bone.
    deep_fraction, superficial_fraction : ndarray of float32
        Partial-volume fractions of the deep and superficial cartilage halves.
    t2_deep_ms, t2_superficial_ms : ndarray of float32
        T2 of the cartilage layers under the point (NaN without cartilage).
    """

    label: np.ndarray
    bone_fraction: np.ndarray
    deep_fraction: np.ndarray
    superficial_fraction: np.ndarray
    t2_deep_ms: np.ndarray
    t2_superficial_ms: np.ndarray

    @property
    def cartilage_fraction(self) -> np.ndarray:
        return self.deep_fraction + self.superficial_fraction


def sample_tissue(anatomy: KneeAnatomy, points: np.ndarray, blur_mm: float) -> TissueSample:
    """Evaluate labels, fractions and T2 at LPS points, shape (n, 3), in mm.

    ``blur_mm`` is the width over which fractions go from 0 to 1 (about one
    voxel of the image being simulated).
    """
    points = np.asarray(points, dtype=float).reshape(-1, 3)
    count = len(points)
    sample = TissueSample(
        label=np.zeros(count, dtype=np.uint8),
        bone_fraction=np.zeros(count, dtype=np.float32),
        deep_fraction=np.zeros(count, dtype=np.float32),
        superficial_fraction=np.zeros(count, dtype=np.float32),
        t2_deep_ms=np.full(count, np.nan, dtype=np.float32),
        t2_superficial_ms=np.full(count, np.nan, dtype=np.float32),
    )
    for bone in anatomy.bones.values():
        max_thickness = bone.max_thickness_mm()
        low, high = bone.bounds_mm(max_thickness + blur_mm)
        candidates = np.flatnonzero(np.all((points >= low) & (points <= high), axis=1))
        if candidates.size == 0:
            continue
        distance, nearest = bone.sdf(points[candidates])
        sample.bone_fraction[candidates] += _inside_fraction(distance, blur_mm)
        sample.label[candidates[distance <= 0.0]] = bone.label

        shell = (distance > -blur_mm) & (distance < max_thickness + blur_mm)
        if not np.any(shell):
            continue
        indices = candidates[shell]
        fields = bone.plate_fields(points[indices], nearest[shell])
        on_plate = fields["plate"] >= 0
        indices = indices[on_plate]
        depth = distance[shell][on_plate]
        thickness = fields["thickness_mm"][on_plate]
        plate_index = fields["plate"][on_plate]

        outer_bone = _inside_fraction(-depth, blur_mm)
        middle = _inside_fraction(-(depth - 0.5 * thickness), blur_mm)
        articular = _inside_fraction(-(depth - thickness), blur_mm)
        sample.deep_fraction[indices] += outer_bone - middle
        sample.superficial_fraction[indices] += middle - articular
        sample.t2_deep_ms[indices] = fields["t2_deep_ms"][on_plate]
        sample.t2_superficial_ms[indices] = fields["t2_superficial_ms"][on_plate]

        in_cartilage = (depth > 0.0) & (depth < thickness)
        structure_labels = np.array([LABELS[plate.structure] for plate in bone.plates], dtype=np.uint8)
        sample.label[indices[in_cartilage]] = structure_labels[plate_index[in_cartilage]]
    np.clip(sample.bone_fraction, 0.0, 1.0, out=sample.bone_fraction)
    return sample


def _inside_fraction(distance: np.ndarray, blur_mm: float) -> np.ndarray:
    """Linearised partial-volume fraction of the region ``sdf < 0``."""
    return np.clip(0.5 - distance / blur_mm, 0.0, 1.0).astype(np.float32)
