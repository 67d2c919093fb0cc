"""Bone shape: distance from the bone surface to the bone's volumetric centroid.

The centroid is that of the shaft-cropped bone mask (see
:func:`kneeviewer.surface.crop.crop_shaft`), so that the length of shaft in
the field of view does not move it.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from kneeviewer.errors import InputError
from kneeviewer.io.volume import Geometry


def mask_centroid_mm(mask: np.ndarray, geometry: Geometry) -> np.ndarray:
    """Return the LPS centroid in mm, shape (3,), of the voxel centres of a mask.

    Raises
    ------
    InputError
        If the mask shape does not match the geometry or the mask is empty.
    """
    mask = np.asarray(mask).astype(bool, copy=False)
    if mask.shape != geometry.shape:
        raise InputError(f"Mask shape {mask.shape} does not match the image geometry {geometry.shape}.")
    if not mask.any():
        raise InputError("Cannot compute the centroid of an empty mask; check the label values of the schema.")
    centroid_index = np.asarray(ndimage.center_of_mass(mask))
    return geometry.index_to_lps(centroid_index)


def bone_shape_mm(points_mm: np.ndarray, centroid_mm: np.ndarray) -> np.ndarray:
    """Return the distance in mm, shape (n,), from each LPS point, shape (n, 3), to the centroid, shape (3,)."""
    points_mm = np.asarray(points_mm, dtype=float).reshape(-1, 3)
    return np.linalg.norm(points_mm - np.asarray(centroid_mm, dtype=float).reshape(1, 3), axis=1)
