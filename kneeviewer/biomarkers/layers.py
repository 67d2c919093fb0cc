"""Deep and superficial cartilage layers from a depth fraction.

The depth fraction of a cartilage voxel is ``d_bone / (d_bone + d_articular)``
with ``d_bone`` its distance to the nearest bone voxel and ``d_articular``
its distance to the nearest voxel that is neither cartilage nor bone (the
joint space or other tissue). Both come from 3D spacing-aware Euclidean
distance transforms, so the fraction follows the cartilage normal without an
explicit surface. It is 0 at the bone and 1 at the articular surface. Deep
is a fraction below 0.5, superficial 0.5 or more in the masks below. The
projection onto the bone (:func:`kneeviewer.surface.projection.project_cartilage`)
counts a voxel at exactly 0.5 half in each layer.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from kneeviewer.errors import InputError
from kneeviewer.io.volume import Geometry

#: Fraction below which a voxel belongs to the deep (bone-side) layer.
DEEP_SUPERFICIAL_SPLIT = 0.5

#: Bone context kept around the cartilage before the distance transforms, in mm.
_MARGIN_MM = 10.0


def cartilage_depth_fraction(cartilage_mask: np.ndarray, bone_mask: np.ndarray, geometry: Geometry) -> np.ndarray:
    """Compute the relative depth of every cartilage voxel between bone (0) and articular surface (1).

    Parameters
    ----------
    cartilage_mask, bone_mask : ndarray of bool, shape ``geometry.shape``
        Cartilage of one bone and that bone.
    geometry : Geometry
        Grid of both masks; its spacing makes the distances anisotropic-aware.

    Returns
    -------
    ndarray of float32, shape ``geometry.shape``
        Depth fraction in [0, 1], NaN outside the cartilage and where no bone
        lies within 10 mm of the cartilage. Both distances
        are measured to the boundary between voxels, half the smallest
        spacing short of the neighbour's centre. That shift rescales the
        fraction but does not move the 0.5 split.
    """
    cartilage = np.asarray(cartilage_mask).astype(bool, copy=False)
    bone = np.asarray(bone_mask).astype(bool, copy=False)
    for name, mask in (("cartilage", cartilage), ("bone", bone)):
        if mask.shape != geometry.shape:
            raise InputError(f"The {name} mask shape {mask.shape} does not match the image geometry {geometry.shape}.")
    fraction = np.full(cartilage.shape, np.nan, dtype=np.float32)
    if not cartilage.any():
        return fraction

    # Work in the cartilage's bounding box plus a margin to keep the transforms small.
    index = np.argwhere(cartilage)
    margin = np.ceil(_MARGIN_MM / geometry.spacing_mm).astype(int)
    lower = np.maximum(index.min(axis=0) - margin, 0)
    upper = np.minimum(index.max(axis=0) + margin + 1, cartilage.shape)
    box = tuple(slice(a, b) for a, b in zip(lower, upper))
    cartilage_box, bone_box = cartilage[box], bone[box] & ~cartilage[box]

    if bone_box.any():
        to_bone_mm = ndimage.distance_transform_edt(~bone_box, sampling=geometry.spacing_mm)
    else:
        to_bone_mm = np.full(cartilage_box.shape, np.inf)
    # scipy counts nothing beyond the array border as background, so the box edge is not articular space.
    to_articular_mm = ndimage.distance_transform_edt(cartilage_box | bone_box, sampling=geometry.spacing_mm)

    half_voxel_mm = 0.5 * float(geometry.spacing_mm.min())
    deep_mm = to_bone_mm[cartilage_box] - half_voxel_mm
    superficial_mm = to_articular_mm[cartilage_box] - half_voxel_mm
    with np.errstate(invalid="ignore", divide="ignore"):
        values = deep_mm / (deep_mm + superficial_mm)
    values = np.where(np.isfinite(values), values, np.nan)
    fraction[box][cartilage_box] = np.clip(values, 0.0, 1.0)
    return fraction


def deep_layer(depth_fraction: np.ndarray) -> np.ndarray:
    """Return the boolean mask of deep cartilage voxels (fraction below 0.5)."""
    return np.asarray(depth_fraction) < DEEP_SUPERFICIAL_SPLIT


def superficial_layer(depth_fraction: np.ndarray) -> np.ndarray:
    """Return the boolean mask of superficial cartilage voxels (fraction 0.5 or more)."""
    return np.asarray(depth_fraction) >= DEEP_SUPERFICIAL_SPLIT
