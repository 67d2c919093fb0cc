"""Shaft crop of the femur and the tibia.

The study crops each long bone so that the box around it is cubic: the
length kept along the superior-inferior (LPS z) axis equals the bone's
mediolateral (LPS x) width, measured from the articular end. The femur keeps
its distal end (lowest z), the tibia its proximal end (highest z). The
patella is not cropped. Widths and lengths are measured between voxel
centres in LPS mm, so a rotated or mirrored grid crops the same anatomy.
"""

from __future__ import annotations

import logging

import numpy as np

from kneeviewer.errors import InputError
from kneeviewer.io.volume import Geometry

logger = logging.getLogger(__name__)

CROPPED_BONES: tuple[str, ...] = ("femur", "tibia")


def crop_shaft(mask: np.ndarray, geometry: Geometry, bone: str) -> np.ndarray:
    """Return a copy of a bone mask with the shaft cut to the mediolateral width.

    Parameters
    ----------
    mask : ndarray of bool, shape ``geometry.shape``
        Mask of one bone.
    geometry : Geometry
        Grid of the mask.
    bone : {"femur", "tibia", "patella"}
        Which bone. The femur keeps voxels whose LPS z lies within the
        mediolateral width of its lowest voxel, and the tibia those within
        that width of its highest voxel. The patella is returned uncropped.

    Returns
    -------
    ndarray of bool, shape ``geometry.shape``

    Raises
    ------
    InputError
        If ``bone`` is unknown, the shape does not match or the mask is empty.
    """
    if bone not in (*CROPPED_BONES, "patella"):
        raise InputError(f"Unknown bone '{bone}'; expected femur, tibia or patella.")
    mask = np.asarray(mask).astype(bool, copy=False)
    if mask.shape != geometry.shape:
        raise InputError(f"Mask shape {mask.shape} does not match the image geometry {geometry.shape}.")
    if not mask.any():
        raise InputError(f"The {bone} mask is empty; check the label values of the schema.")
    cropped = mask.copy()
    if bone not in CROPPED_BONES:
        return cropped

    index = np.argwhere(mask)
    points_mm = geometry.index_to_lps(index)
    width_mm = float(np.ptp(points_mm[:, 0]))
    z_mm = points_mm[:, 2]
    if bone == "femur":
        keep = z_mm <= z_mm.min() + width_mm
    else:
        keep = z_mm >= z_mm.max() - width_mm
    dropped = index[~keep]
    cropped[dropped[:, 0], dropped[:, 1], dropped[:, 2]] = False
    logger.debug("Cropped the %s shaft to %.1f mm (mediolateral width); %d voxels removed.", bone, width_mm, len(dropped))
    return cropped
