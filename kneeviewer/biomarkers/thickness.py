"""Cartilage thickness by the sagittal medial-line method.

In every sagittal slice the cartilage mask is reduced to its 2D
morphological skeleton (the medial line of the plate), and the local
thickness at a skeleton pixel is the width of the plate there. Every
cartilage voxel then receives the thickness of the nearest skeleton pixel of
its slice (a spacing-aware 2D Euclidean distance transform of the skeleton),
so that the projection onto the bone surface can average thickness over any
voxel.

Bias of the textbook estimate and how this module avoids it
------------------------------------------------------------
The study reads ``2 x EDT`` at the skeleton, where ``EDT`` is
``scipy.ndimage.distance_transform_edt`` of the mask. That distance ends at
the nearest *background pixel centre*, half a pixel beyond the boundary, and
the skeleton of a plate an even number of pixels thick sits half a pixel off
the true medial line. On a grid-aligned plate ``2 x EDT`` is therefore one
pixel too thick for odd widths and exact for even widths. On oblique plates
the staircase boundary pulls it back down. Measured on slabs 1 to 3 mm
thick at 0.365 mm pixels, rotated 3 to 45 degrees about the slice axis, its
mean error is +0.03 mm with a mean absolute error of 0.14 mm. The tests in
``tests/biomarkers/test_thickness.py`` check a subset of these slabs.

This module measures to the boundary between voxels instead. The mask is
smoothed with a Gaussian of one in-plane pixel so that its 0.5 level line
runs midway between inside and outside pixel centres without the staircase.
At each skeleton pixel the thickness is the distance to the nearest point of
that line plus the distance to the line on the opposite side, found by
marching along the same direction. The sum does not depend on where the
skeleton pixel sits across the plate. On the same oblique slabs the mean
error is +0.01 mm and the mean absolute error 0.06 mm. Plates under about
three pixels (1 mm) err by up to half a pixel either way, and parts that
the blur removes (one or two pixels wide) are measured on the unsmoothed
mask.

References
----------
Morales AG et al. Uncovering associations between data-driven learned qMRI
biomarkers and chronic pain. Sci Rep 11:21989 (2021).
doi:10.1038/s41598-021-01111-x
"""

from __future__ import annotations

import logging

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree
from skimage.measure import find_contours
from skimage.morphology import skeletonize

from kneeviewer.errors import InputError
from kneeviewer.io.volume import Geometry
from kneeviewer.progress import CancelCheck, ProgressCallback, check_cancel, report

logger = logging.getLogger(__name__)

#: Background pixels kept around the cartilage of one slice before the
#: distance transforms, so that the neighbours of a skeleton pixel exist.
_SLICE_MARGIN_PX = 3

#: Width of the Gaussian that removes the staircase of the digitised
#: boundary, in units of the smaller in-plane pixel size.
_SMOOTHING_SIGMA_PIXELS = 1.0

#: Step of the march to the opposite boundary, in units of the smaller pixel size.
_MARCH_STEP_PIXELS = 0.1


def thickness_map_mm(
    cartilage_mask: np.ndarray,
    geometry: Geometry,
    *,
    progress: ProgressCallback | None = None,
    should_cancel: CancelCheck | None = None,
) -> np.ndarray:
    """Compute the cartilage thickness of every cartilage voxel, slice by sagittal slice.

    Parameters
    ----------
    cartilage_mask : ndarray of bool, shape ``geometry.shape``
        Cartilage of one bone, in ``(i, j, k)`` order.
    geometry : Geometry
        Grid of the mask. The sagittal slice axis is
        ``geometry.axis_closest_to(0)``; the two other axes give the in-plane
        spacing used by the distance transform.
    progress, should_cancel : callable, optional
        Progress callback and cancel check (see :mod:`kneeviewer.progress`).

    Returns
    -------
    ndarray of float32, shape ``geometry.shape``
        Thickness in mm: the local thickness of the nearest medial-line
        pixel of the same slice for every cartilage voxel, NaN elsewhere.

    Raises
    ------
    InputError
        If the mask shape does not match the geometry.
    """
    mask = np.asarray(cartilage_mask).astype(bool, copy=False)
    if mask.shape != geometry.shape:
        raise InputError(
            f"Cartilage mask shape {mask.shape} does not match the image geometry {geometry.shape}. "
            "Pass the mask of the same label map."
        )
    slice_axis = geometry.axis_closest_to(0)
    in_plane_axes = [axis for axis in range(3) if axis != slice_axis]
    pixel_mm = geometry.spacing_mm[in_plane_axes]

    thickness = np.full(mask.shape, np.nan, dtype=np.float32)
    # Move the slice axis first so that one slice is a 2D (a, b) array view.
    mask_slices = np.moveaxis(mask, slice_axis, 0)
    thickness_slices = np.moveaxis(thickness, slice_axis, 0)
    occupied = np.flatnonzero(mask_slices.reshape(mask_slices.shape[0], -1).any(axis=1))
    for done, index in enumerate(occupied):
        check_cancel(should_cancel, "thickness")
        thickness_slices[index] = _slice_thickness_mm(mask_slices[index], pixel_mm)
        report(progress, "thickness", (done + 1) / len(occupied), f"sagittal slice {done + 1} of {len(occupied)}")
    logger.debug("Thickness computed on %d sagittal slices (slice axis %d).", len(occupied), slice_axis)
    return thickness


def _slice_thickness_mm(mask_2d: np.ndarray, pixel_mm: np.ndarray) -> np.ndarray:
    """Thickness map of one slice, shape of ``mask_2d``, NaN outside the mask."""
    result = np.full(mask_2d.shape, np.nan, dtype=np.float32)
    rows, columns = np.nonzero(mask_2d)
    lower = np.maximum([rows.min() - _SLICE_MARGIN_PX, columns.min() - _SLICE_MARGIN_PX], 0)
    upper = np.array([rows.max(), columns.max()]) + _SLICE_MARGIN_PX + 1
    window = (slice(lower[0], upper[0]), slice(lower[1], upper[1]))
    # Pad so that the margin exists even at the image border.
    crop = np.pad(mask_2d[window], _SLICE_MARGIN_PX)

    skeleton = skeletonize(crop)
    if not skeleton.any():
        return result
    skeleton_index = np.argwhere(skeleton)
    local_thickness_mm = _medial_thickness_mm(skeleton_index, crop, pixel_mm)

    # Every cartilage pixel takes the value of its nearest skeleton pixel.
    skeleton_values = np.zeros(crop.shape, dtype=np.float32)
    skeleton_values[skeleton] = local_thickness_mm
    _, nearest = ndimage.distance_transform_edt(~skeleton, sampling=pixel_mm, return_indices=True)
    filled = skeleton_values[nearest[0], nearest[1]]

    inner = filled[_SLICE_MARGIN_PX:-_SLICE_MARGIN_PX, _SLICE_MARGIN_PX:-_SLICE_MARGIN_PX]
    result_window = result[window]
    inside = mask_2d[window]
    result_window[inside] = inner[inside]
    return result


def _boundary_points_mm(image: np.ndarray, pixel_mm: np.ndarray) -> np.ndarray:
    """Return points every 0.1 pixel or closer along the 0.5 level line of a slice image, shape (n, 2), in mm."""
    pieces = []
    for contour in find_contours(image, 0.5):
        segment = np.diff(contour, axis=0)
        count = np.maximum(np.ceil(np.sqrt((segment**2).sum(axis=1)) / 0.1).astype(int), 1)
        start = np.repeat(contour[:-1], count, axis=0)
        fraction = (np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)) / np.repeat(count, count)
        pieces.append(start + fraction[:, np.newaxis] * np.repeat(segment, count, axis=0))
        pieces.append(contour[-1:])
    if not pieces:
        return np.empty((0, 2))
    return np.concatenate(pieces) * pixel_mm


def _medial_thickness_mm(skeleton_index: np.ndarray, mask_2d: np.ndarray, pixel_mm: np.ndarray) -> np.ndarray:
    """Return the local thickness in mm at skeleton pixels, shape (n,).

    The thickness is measured on the smoothed mask. Thin parts that the blur
    pushes below the 0.5 level (plates under about two pixels) are measured
    on the unsmoothed mask instead, whose bilinear 0.5 level line runs
    midway between inside and outside pixel centres.
    """
    sigma_px = _SMOOTHING_SIGMA_PIXELS * pixel_mm.min() / pixel_mm
    smooth = ndimage.gaussian_filter(mask_2d.astype(np.float32), sigma_px)
    thickness, valid = _width_across_mm(skeleton_index, smooth, pixel_mm)
    if not valid.all():
        fallback, _ = _width_across_mm(skeleton_index[~valid], mask_2d.astype(np.float32), pixel_mm)
        thickness[~valid] = fallback
    return thickness


def _width_across_mm(
    skeleton_index: np.ndarray, image: np.ndarray, pixel_mm: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Return the width in mm of the ``image >= 0.5`` region across each skeleton pixel, and where it is valid.

    The width is the distance to the nearest point of the 0.5 level line plus
    the distance to that line straight across, on the opposite side. Where
    no opposite crossing is found, twice the nearest distance is used. A
    result is invalid where the skeleton pixel itself lies below 0.5.
    """
    rows = np.arange(len(skeleton_index))
    inside = image[skeleton_index[:, 0], skeleton_index[:, 1]] >= 0.5
    boundary = _boundary_points_mm(image, pixel_mm)
    if len(boundary) == 0 or not inside.any():
        return np.zeros(len(skeleton_index), dtype=np.float32), np.zeros(len(skeleton_index), dtype=bool)
    centres = skeleton_index * pixel_mm
    near_distance, near_index = cKDTree(boundary).query(centres)
    toward_near = (boundary[near_index] - centres) / np.maximum(near_distance, 1e-9)[:, np.newaxis]

    # March from the skeleton pixel away from the nearest boundary until the image drops below 0.5.
    step_mm = _MARCH_STEP_PIXELS * pixel_mm.min()
    max_mm = 2.0 * near_distance[inside].max() + 3.0 * pixel_mm.max()
    t_mm = np.arange(0.0, max_mm, step_mm)
    samples_mm = centres[:, np.newaxis, :] - toward_near[:, np.newaxis, :] * t_mm[np.newaxis, :, np.newaxis]
    samples_px = (samples_mm / pixel_mm).reshape(-1, 2).T
    values = ndimage.map_coordinates(image, samples_px, order=1, mode="constant", cval=0.0).reshape(len(centres), -1)
    outside = values < 0.5
    has_crossing = outside.any(axis=1)
    first_out = np.argmax(outside, axis=1)
    before = np.maximum(first_out - 1, 0)
    v_before, v_after = values[rows, before], values[rows, first_out]
    fraction = np.clip((v_before - 0.5) / np.maximum(v_before - v_after, 1e-9), 0.0, 1.0)
    far_distance = t_mm[before] + fraction * step_mm
    far_distance = np.where(has_crossing, far_distance, near_distance)
    return (near_distance + far_distance).astype(np.float32), inside
