"""Knee side: reading laterality and mirroring left knees to right-knee convention.

The method was developed on right knees. A left knee is mirrored across the
patient's sagittal plane (LPS x becomes -x) so that every knee is processed
in right-knee convention; in LPS space the medial side of a right knee is
then toward +x. Mirroring changes only the geometry, never the voxel data,
so no interpolation is involved; the index-to-LPS matrix then has a negative
determinant, which mesh code accounts for when it orients normals.
"""

from __future__ import annotations

import numpy as np

from kneeviewer.errors import InputError
from kneeviewer.io.volume import Geometry, MultiEchoVolume, Volume

SIDES = ("left", "right")
_MIRROR = np.diag([-1.0, 1.0, 1.0])


def normalise_side(side: str | None) -> str | None:
    """Return ``"left"``, ``"right"`` or None from user input or DICOM laterality (``L``/``R``)."""
    if side is None:
        return None
    text = str(side).strip().lower()
    if text in ("l", "left"):
        return "left"
    if text in ("r", "right"):
        return "right"
    if text == "":
        return None
    raise InputError(f"Invalid knee side {side!r}; use 'left' or 'right'.")


def mirror_geometry(geometry: Geometry) -> Geometry:
    """Mirror a geometry across the LPS x = 0 plane."""
    return Geometry(
        shape=geometry.shape,
        spacing_mm=geometry.spacing_mm,
        origin_mm=_MIRROR @ geometry.origin_mm,
        direction=_MIRROR @ geometry.direction,
    )


def mirror_points(points_mm: np.ndarray) -> np.ndarray:
    """Mirror LPS points, shape (..., 3), across the x = 0 plane."""
    points_mm = np.array(points_mm, dtype=float, copy=True)
    points_mm[..., 0] *= -1.0
    return points_mm


def to_right_convention(image: Volume | MultiEchoVolume, side: str) -> Volume | MultiEchoVolume:
    """Return ``image`` in right-knee convention: mirrored if ``side`` is left, unchanged if right."""
    side = normalise_side(side)
    if side is None:
        raise InputError("Knee side is unknown; pass --side left or --side right.")
    if side == "right":
        return image
    if isinstance(image, MultiEchoVolume):
        return MultiEchoVolume(image.data, image.echo_times_ms, mirror_geometry(image.geometry), dict(image.metadata))
    return Volume(image.data, mirror_geometry(image.geometry))
