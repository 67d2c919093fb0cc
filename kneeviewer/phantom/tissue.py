"""Tissue labels and partial-volume fractions of the phantom knee at arbitrary points.

Labels follow the voxel-centre rule: a voxel takes the structure that
contains its centre. This is the partial-volume fraction rounded at 0.5
(with the fraction linearised from the signed distance). It is unbiased for
thickness where surfaces cross the grid at varying offsets, because a plate
of thickness ``t`` crossed by voxels of size ``h`` at a random offset
contains on average ``t / h`` voxel centres. Image intensities
use the fractions themselves, ``clip(0.5 - sdf / h, 0, 1)``, so edges are
blurred over one voxel like in a real scan.

T2 through the cartilage follows ``anatomy.params.t2_profile`` as a
function of the relative depth ``s`` (0 at bone, 1 at the articular
surface), always with the mean over each half equal to that half's T2 field
(``T2_deep`` and ``T2_superficial``):

- ``"smooth"`` (default): ``T2_deep + w(s) (T2_superficial - T2_deep)``
  with ``w(s) = 1/2 - (pi/4) cos(pi s)``. T2 is flat next to the bone (deep
  radial zone), rises across mid-depth (transitional zone) and is flat again
  at the articular surface, as in measured cartilage T2 profiles; 24 to 56 ms
  at the nominal 30 and 50 ms.
- ``"linear"``: ``w(s) = 2 s - 1/2``, 20 to 60 ms.
- ``"step"``: constant in each half (not realistic; kept to measure it).

The profile is simulated as ``SUBLAYERS`` equal sublayers, each with the
mean T2 of the profile over its depth and its own partial-volume fraction,
so the mean of each half is exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kneeviewer.phantom.anatomy import LABELS, KneeAnatomy

#: Sublayers of constant T2 that approximate the depth profile; 8 keeps
#: each under 0.4 mm, below the MSME pixel.
SUBLAYERS = 8


@dataclass
class TissueSample:
    """Tissue at a set of points; ``n`` points, ``m`` cartilage sublayers.

    Attributes
    ----------
    label : ndarray of uint8, shape (n,)
        Structure label by the centre rule, 0 for background.
    bone_fraction : ndarray of float32, shape (n,)
        Partial-volume fraction of bone.
    marrow_fraction : ndarray of float32, shape (n,)
        Partial-volume fraction of bone deeper than the subchondral plate
        (the part of the bone that gives MSME signal).
    layer_fractions : ndarray of float32, shape (m, n)
        Partial-volume fractions of the cartilage sublayers, bone side first;
        the first half of the rows is the deep layer.
    layer_t2_ms : ndarray of float32, shape (m, n)
        T2 of each sublayer under the point (NaN without cartilage).
    t2_deep_ms, t2_superficial_ms : ndarray of float32, shape (n,)
        Mean T2 of the deep and superficial halves (NaN without cartilage).
    """

    label: np.ndarray
    bone_fraction: np.ndarray
    marrow_fraction: np.ndarray
    layer_fractions: np.ndarray
    layer_t2_ms: np.ndarray
    t2_deep_ms: np.ndarray
    t2_superficial_ms: np.ndarray

    @property
    def deep_fraction(self) -> np.ndarray:
        return self.layer_fractions[: len(self.layer_fractions) // 2].sum(axis=0)

    @property
    def superficial_fraction(self) -> np.ndarray:
        return self.layer_fractions[len(self.layer_fractions) // 2 :].sum(axis=0)

    @property
    def cartilage_fraction(self) -> np.ndarray:
        return self.layer_fractions.sum(axis=0)


def sample_tissue(anatomy: KneeAnatomy, points: np.ndarray, blur_mm: float) -> TissueSample:
    """Evaluate labels, fractions and T2 at LPS points, shape (n, 3), in mm.

    ``blur_mm`` is the width over which fractions go from 0 to 1 (about one
    voxel of the image being simulated).
    """
    points = np.asarray(points, dtype=float).reshape(-1, 3)
    count = len(points)
    params = anatomy.params
    bounds = np.linspace(0.0, 1.0, SUBLAYERS + 1)
    superficial_weight = _superficial_weight(params.t2_profile, bounds)
    sample = TissueSample(
        label=np.zeros(count, dtype=np.uint8),
        bone_fraction=np.zeros(count, dtype=np.float32),
        marrow_fraction=np.zeros(count, dtype=np.float32),
        layer_fractions=np.zeros((SUBLAYERS, count), dtype=np.float32),
        layer_t2_ms=np.full((SUBLAYERS, count), np.nan, dtype=np.float32),
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
        sample.marrow_fraction[candidates] += _inside_fraction(distance + params.subchondral_plate_mm, blur_mm)
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

        # Fraction of the voxel beyond each sublayer bound (0 at the bone, 1 at the articular surface).
        beyond = [_inside_fraction(-(depth - bound * thickness), blur_mm) for bound in bounds]
        deep_t2 = fields["t2_deep_ms"][on_plate]
        superficial_t2 = fields["t2_superficial_ms"][on_plate]
        for layer in range(SUBLAYERS):
            sample.layer_fractions[layer, indices] += beyond[layer] - beyond[layer + 1]
            weight = superficial_weight[layer]
            sample.layer_t2_ms[layer, indices] = (1.0 - weight) * deep_t2 + weight * superficial_t2
        sample.t2_deep_ms[indices] = deep_t2
        sample.t2_superficial_ms[indices] = superficial_t2

        in_cartilage = (depth > 0.0) & (depth < thickness)
        structure_labels = np.array([LABELS[plate.structure] for plate in bone.plates], dtype=np.uint8)
        sample.label[indices[in_cartilage]] = structure_labels[plate_index[in_cartilage]]
    np.clip(sample.bone_fraction, 0.0, 1.0, out=sample.bone_fraction)
    np.clip(sample.marrow_fraction, 0.0, 1.0, out=sample.marrow_fraction)
    return sample


def _inside_fraction(distance: np.ndarray, blur_mm: float) -> np.ndarray:
    """Linearised partial-volume fraction of the region ``sdf < 0``."""
    return np.clip(0.5 - distance / blur_mm, 0.0, 1.0).astype(np.float32)


def _superficial_weight(profile: str, bounds: np.ndarray) -> np.ndarray:
    """Mean weight ``w`` of the superficial T2 over each sublayer ``[bounds[k], bounds[k+1]]``, shape (m,)."""
    low, high = bounds[:-1], bounds[1:]
    if profile == "smooth":
        # Mean of 1/2 - (pi/4) cos(pi s) over [low, high].
        return 0.5 - (np.sin(np.pi * high) - np.sin(np.pi * low)) / (4.0 * (high - low))
    if profile == "linear":
        return 2.0 * (0.5 * (low + high)) - 0.5
    return (0.5 * (low + high) >= 0.5).astype(float)
