"""Slice order and voxel grid of a stack of 2D DICOM images.

Slices are ordered by their ImagePositionPatient projected on the slice
normal, the cross product of the ImageOrientationPatient row and column
directions. File names, InstanceNumber and SliceLocation are not used for
ordering: exporters number them inconsistently. The slice step is measured
from the positions, because SpacingBetweenSlices and SliceThickness are
often absent or differ (a 2D series with 3 mm slices every 4 mm has
SliceThickness 3).

DICOM's PixelSpacing is (row spacing, column spacing): the first value is
the distance between rows, that is the step along the column direction
(index j here), and the second is the step along the row direction (index i).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from kneeviewer.errors import SeriesError
from kneeviewer.io.dicom_scan import DicomHeader, series_label, skipped_note
from kneeviewer.io.volume import Geometry

log = logging.getLogger(__name__)

#: Largest difference between direction cosines of one series' slices.
ORIENTATION_TOLERANCE = 1e-4
#: Largest relative deviation of a slice step from the median step.
SPACING_TOLERANCE = 1e-2
#: Smallest absolute deviation of a slice step that counts as uneven, in mm.
#: Scanners round ImagePositionPatient, so steps of 4 mm vary by about 1e-3 mm.
SPACING_FLOOR_MM = 2e-3
#: Offset of a slice from the line through the first slice along the normal,
#: in pixels, above which the stack is sheared (gantry tilt).
SHEAR_TOLERANCE_PIXELS = 0.5

_REQUIRED = ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "Rows", "Columns")


def stack_geometry(headers: list[DicomHeader], context: str) -> tuple[list[DicomHeader], Geometry]:
    """Order the slices of one echo along the slice normal and build their grid.

    Parameters
    ----------
    headers : list of DicomHeader
        One file per slice, all of one echo, in any order.
    context : str
        Start of every error message, naming the series and the folder.

    Returns
    -------
    ordered : list of DicomHeader
        The headers sorted by position along the slice normal.
    geometry : Geometry
        Grid with ``i`` along the row direction, ``j`` along the column
        direction and ``k`` along the slice normal, in LPS mm.

    Raises
    ------
    SeriesError
        If a file lacks geometry tags, the slices have mixed orientations,
        sizes or pixel spacings, two slices share a position, a slice is
        missing, the spacing is uneven or the stack is sheared.
    """
    for header in headers:
        missing = [keyword for keyword in _REQUIRED if header.dataset.get(keyword) in (None, "")]
        if missing:
            raise SeriesError(
                f"{context}: file {header.path} lacks {', '.join(missing)}. The file may be truncated "
                "or not a cross-sectional image; export the series again."
            )

    orientation = _orientation(headers, context)
    _check_same(headers, context, "Rows", "image size (rows)")
    _check_same(headers, context, "Columns", "image size (columns)")
    pixel_spacing = _pixel_spacing(headers, context)

    row_direction, column_direction = orientation[:3], orientation[3:]
    normal = np.cross(row_direction, column_direction)
    positions = np.array([[float(v) for v in h.dataset.ImagePositionPatient] for h in headers])
    heights = positions @ normal
    order = np.argsort(heights, kind="stable")
    ordered = [headers[index] for index in order]
    positions, heights = positions[order], heights[order]

    step_mm = _slice_step(ordered, heights, context)
    _check_shear(ordered, positions, normal, float(min(pixel_spacing)), context)

    geometry = Geometry(
        shape=(int(headers[0].dataset.Columns), int(headers[0].dataset.Rows), len(ordered)),
        spacing_mm=(pixel_spacing[1], pixel_spacing[0], step_mm),
        origin_mm=positions[0],
        direction=np.column_stack([row_direction, column_direction, normal]),
    )
    return ordered, geometry


def series_context(headers: list[DicomHeader], folder: Path, skipped: list[Path] | None = None) -> str:
    """Return the prefix of error messages: the series UID, description, folder and any skipped files."""
    context = f"Series {series_label(headers)} in {folder}"
    if skipped:
        context += f" ({skipped_note(skipped)})"
    return context


def _orientation(headers: list[DicomHeader], context: str) -> np.ndarray:
    orientations = np.array([[float(v) for v in h.dataset.ImageOrientationPatient] for h in headers])
    deviation = np.abs(orientations - orientations[0]).max(axis=1)
    odd = np.flatnonzero(deviation > ORIENTATION_TOLERANCE)
    if odd.size:
        first_odd = headers[int(odd[0])]
        raise SeriesError(
            f"{context} mixes slice orientations: {headers[0].path.name} has ImageOrientationPatient "
            f"{_format(orientations[0])} but {first_odd.path.name} has {_format(orientations[odd[0]])} "
            f"({odd.size} of {len(headers)} files differ). One series must be one stack of parallel slices; "
            "export the orientations as separate series or pick another series."
        )
    # Direction cosines are stored with about six digits; make them exactly orthonormal.
    row_direction = orientations[0, :3] / np.linalg.norm(orientations[0, :3])
    column_direction = orientations[0, 3:] - (orientations[0, 3:] @ row_direction) * row_direction
    column_direction /= np.linalg.norm(column_direction)
    return np.concatenate([row_direction, column_direction])


def _check_same(headers: list[DicomHeader], context: str, keyword: str, description: str) -> None:
    values = [int(h.dataset.get(keyword)) for h in headers]
    for header, value in zip(headers, values):
        if value != values[0]:
            raise SeriesError(
                f"{context} mixes {description}: {headers[0].path.name} has {keyword} {values[0]} but "
                f"{header.path.name} has {value}. Pick a series whose slices all have one size."
            )


def _pixel_spacing(headers: list[DicomHeader], context: str) -> np.ndarray:
    spacings = np.array([[float(v) for v in h.dataset.PixelSpacing] for h in headers])
    odd = np.flatnonzero(np.abs(spacings - spacings[0]).max(axis=1) > 1e-4)
    if odd.size:
        raise SeriesError(
            f"{context} mixes pixel spacings: {headers[0].path.name} has PixelSpacing {_format(spacings[0])} mm "
            f"but {headers[int(odd[0])].path.name} has {_format(spacings[odd[0]])} mm. "
            "Pick a series whose slices all have one pixel spacing."
        )
    if np.any(spacings[0] <= 0):
        raise SeriesError(
            f"{context}: PixelSpacing {_format(spacings[0])} mm of {headers[0].path.name} is not positive. "
            "Export the series again with a valid PixelSpacing."
        )
    return spacings[0]


def _slice_step(ordered: list[DicomHeader], heights: np.ndarray, context: str) -> float:
    if len(ordered) == 1:
        dataset = ordered[0].dataset
        for keyword in ("SpacingBetweenSlices", "SliceThickness"):
            value = dataset.get(keyword)
            if value not in (None, "") and float(value) > 0:
                return float(value)
        return 1.0

    steps = np.diff(heights)
    duplicate = np.flatnonzero(steps < SPACING_FLOOR_MM)
    if duplicate.size:
        index = int(duplicate[0])
        raise SeriesError(
            f"{context} has two slices at the same position ({heights[index]:.3f} mm along the slice normal): "
            f"{ordered[index].path.name} and {ordered[index + 1].path.name}. The series may hold several "
            "acquisitions or echoes without EchoTime; remove the duplicates or export one acquisition."
        )

    step_mm = float(np.median(steps))
    tolerance_mm = max(SPACING_TOLERANCE * step_mm, SPACING_FLOOR_MM)
    for index in np.flatnonzero(np.abs(steps - step_mm) > tolerance_mm):
        ratio = steps[index] / step_mm
        before, after = ordered[index], ordered[index + 1]
        if ratio > 1.5 and abs(ratio - round(ratio)) * step_mm <= tolerance_mm:
            n_missing = int(round(ratio)) - 1
            raise SeriesError(
                f"{context} is missing {n_missing} slice(s) between {before.path.name} at "
                f"{heights[index]:.3f} mm and {after.path.name} at {heights[index + 1]:.3f} mm along the "
                f"slice normal (the other slices are {step_mm:.3f} mm apart). Copy the missing file(s) "
                "into the folder or export the series again."
            )
    uneven = np.abs(steps - step_mm) > tolerance_mm
    if np.any(uneven):
        index = int(np.flatnonzero(uneven)[0])
        raise SeriesError(
            f"{context} has uneven slice spacing: steps from {steps.min():.3f} to {steps.max():.3f} mm "
            f"(median {step_mm:.3f} mm), for example {steps[index]:.3f} mm between "
            f"{ordered[index].path.name} and {ordered[index + 1].path.name}. kneeviewer needs evenly "
            "spaced slices; resample the series to an even grid or pick another series."
        )
    return step_mm


def _check_shear(
    ordered: list[DicomHeader], positions: np.ndarray, normal: np.ndarray, pixel_mm: float, context: str
) -> None:
    offsets = positions - positions[0]
    in_plane = offsets - np.outer(offsets @ normal, normal)
    drift_mm = np.linalg.norm(in_plane, axis=1)
    worst = int(np.argmax(drift_mm))
    if drift_mm[worst] > SHEAR_TOLERANCE_PIXELS * pixel_mm:
        raise SeriesError(
            f"{context} is sheared: slice {ordered[worst].path.name} is offset {drift_mm[worst]:.3f} mm "
            "sideways from the slice normal through the first slice (gantry tilt). kneeviewer needs an "
            "orthogonal grid; export the series without tilt or resample it first."
        )
    if drift_mm[worst] > 0.1 * pixel_mm:
        log.warning("%s: slices drift up to %.3f mm sideways from the slice normal.", context, drift_mm[worst])


def _format(values: np.ndarray) -> str:
    return "[" + ", ".join(f"{v:.4g}" for v in values) + "]"
