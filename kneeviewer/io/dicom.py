"""Reading DICOM series into :class:`Volume` and :class:`MultiEchoVolume`.

pydicom decodes the pixel data, so every transfer syntax it supports works,
Explicit VR Big Endian and RLE Lossless included (JPEG variants need the
optional pydicom pixel plugins). Slices are ordered and placed by
:mod:`kneeviewer.io.dicom_geometry`; folders are listed by
:mod:`kneeviewer.io.dicom_scan`. Only single-frame images are read.

Voxel values are float32 after RescaleSlope and RescaleIntercept.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pydicom

from kneeviewer.errors import SeriesError
from kneeviewer.io.dicom_geometry import SPACING_FLOOR_MM, series_context, stack_geometry
from kneeviewer.io.dicom_scan import (
    ECHO_TIME_TOLERANCE_MS,
    DicomHeader,
    SeriesInfo,
    find_series,
    laterality,
    select_series,
)
from kneeviewer.io.volume import Geometry, MultiEchoVolume, Volume

__all__ = ["SeriesInfo", "find_series", "read_multi_echo", "read_series"]

log = logging.getLogger(__name__)


def read_series(folder: str | Path, series_uid: str | None = None) -> Volume:
    """Read a single-echo 3D DICOM series.

    Parameters
    ----------
    folder : str or Path
        Folder that contains the series, searched recursively.
    series_uid : str, optional
        SeriesInstanceUID to read; needed when the folder contains several series.

    Returns
    -------
    Volume
        Voxel values (float32, after rescale) on the series' LPS grid.

    Raises
    ------
    SeriesError
        If the folder contains no series or several, the series has several
        echoes, or a slice is missing, duplicated, unreadable or misplaced.
    """
    folder = Path(folder)
    skipped: list[Path] = []
    headers = select_series(folder, series_uid, skipped)
    context = series_context(headers, folder, skipped)
    echoes = split_echoes(headers)
    if len(echoes) > 1:
        times = ", ".join(_format_echo(time_ms, index) for index, (time_ms, _) in enumerate(echoes))
        raise SeriesError(
            f"{context} has {len(echoes)} echoes ({times}); expected a single-echo series. "
            "Read it as a multi-echo series (kneeviewer t2 --msme) or pick another series."
        )
    ordered, geometry = stack_geometry(headers, context)
    data = _stack_pixels(ordered, context)
    return Volume(data, geometry)


def read_multi_echo(folder: str | Path, series_uid: str | None = None) -> MultiEchoVolume:
    """Read a multi-echo DICOM series (MSME or MESE T2 mapping), one volume per echo.

    Files are split into echoes by EchoTime, or by EchoNumbers when EchoTime
    does not tell the echoes apart. Every echo must cover the same slice
    positions.

    Parameters
    ----------
    folder : str or Path
        Folder that contains the series, searched recursively.
    series_uid : str, optional
        SeriesInstanceUID to read; needed when the folder contains several series.

    Returns
    -------
    MultiEchoVolume
        ``data`` of shape (n_echoes, ni, nj, nk), float32, echo times in ms
        increasing, and ``metadata`` with keys ``series_uid``,
        ``series_description``, ``laterality`` (``"L"``, ``"R"`` or None),
        ``echo_times_ms``, ``files`` (per echo, the file paths in slice
        order), ``folder``, ``patient_id`` and ``study_uid``.

    Raises
    ------
    SeriesError
        If the folder contains no series or several, an echo lacks EchoTime or
        has fewer slices than the others, or a slice is missing, duplicated,
        unreadable or misplaced.
    """
    folder = Path(folder)
    skipped: list[Path] = []
    headers = select_series(folder, series_uid, skipped)
    context = series_context(headers, folder, skipped)
    echoes = split_echoes(headers)

    for index, (time_ms, _) in enumerate(echoes):
        if time_ms is None:
            raise SeriesError(
                f"{context}: echo {index + 1} has no EchoTime, so T2 cannot be fitted. "
                "Export the series with its echo times."
            )
    _check_echo_counts(echoes, context)

    stacks = [stack_geometry(echo_headers, f"{context}, echo at TE {time_ms:g} ms") for time_ms, echo_headers in echoes]
    geometry = stacks[0][1]
    for (time_ms, _), (_, echo_geometry) in zip(echoes[1:], stacks[1:]):
        _check_same_grid(geometry, echo_geometry, time_ms, context)

    data = np.empty((len(echoes), *geometry.shape), dtype=np.float32)
    for index, (ordered, _) in enumerate(stacks):
        data[index] = _stack_pixels(ordered, context)

    echo_times_ms = np.array([time_ms for time_ms, _ in echoes], dtype=float)
    first = headers[0].dataset
    metadata = {
        "series_uid": str(first.SeriesInstanceUID),
        "series_description": str(first.get("SeriesDescription", "") or ""),
        "laterality": laterality(first),
        "echo_times_ms": echo_times_ms.tolist(),
        "files": [[str(h.path) for h in ordered] for ordered, _ in stacks],
        "folder": str(folder),
        "patient_id": str(first.get("PatientID", "") or ""),
        "study_uid": str(first.get("StudyInstanceUID", "") or ""),
    }
    log.info("Read %s: %d echoes, grid %s", context, len(echoes), geometry.shape)
    return MultiEchoVolume(data=data, echo_times_ms=echo_times_ms, geometry=geometry, metadata=metadata)


def split_echoes(headers: Sequence[DicomHeader]) -> list[tuple[float | None, list[DicomHeader]]]:
    """Group files into echoes, ordered by increasing echo time.

    Files are grouped by EchoTime when every file has one and EchoTime
    separates at least as many echoes as EchoNumbers does. Otherwise they
    are grouped by EchoNumbers, and a group's echo time is the median of
    its files' EchoTime (None when they have none).

    Returns
    -------
    list of (echo time in ms or None, headers of that echo)
    """
    times = [h.echo_time_ms for h in headers]
    numbers = [h.echo_number for h in headers]
    n_by_number = len({n for n in numbers if n is not None})

    groups: dict[object, list[DicomHeader]] = {}
    if all(t is not None for t in times) and _count_distinct_times(times) >= n_by_number:
        for header, time_ms in zip(headers, times):
            key = next((k for k in groups if abs(k - time_ms) <= ECHO_TIME_TOLERANCE_MS), time_ms)
            groups.setdefault(key, []).append(header)
        return [(float(np.median([h.echo_time_ms for h in g])), g) for _, g in sorted(groups.items())]

    if n_by_number > 1 and all(n is not None for n in numbers):
        for header, number in zip(headers, numbers):
            groups.setdefault(number, []).append(header)
        result = []
        for _, group in sorted(groups.items()):
            group_times = [h.echo_time_ms for h in group if h.echo_time_ms is not None]
            result.append((float(np.median(group_times)) if group_times else None, group))
        return sorted(result, key=lambda item: (item[0] is None, item[0] or 0.0))

    known = [t for t in times if t is not None]
    return [(float(np.median(known)) if known else None, list(headers))]


def _count_distinct_times(times: list[float | None]) -> int:
    distinct: list[float] = []
    for time_ms in sorted(t for t in times if t is not None):
        if not distinct or time_ms - distinct[-1] > ECHO_TIME_TOLERANCE_MS:
            distinct.append(time_ms)
    return len(distinct)


def _check_echo_counts(echoes: list[tuple[float | None, list[DicomHeader]]], context: str) -> None:
    counts = [len(group) for _, group in echoes]
    expected = max(counts)
    for index, (time_ms, group) in enumerate(echoes):
        if len(group) == expected:
            continue
        complete = next(g for _, g in echoes if len(g) == expected)
        missing_at = _missing_heights(complete, group)
        where = f" (missing at {', '.join(f'{h:.3f}' for h in missing_at[:5])} mm along the slice normal)" if missing_at else ""
        raise SeriesError(
            f"{context}: echo {_format_echo(time_ms, index)} has {len(group)} slices but other echoes have "
            f"{expected}{where}. A file of that echo is missing; copy it into the folder or export the "
            "series again."
        )


def _missing_heights(complete: list[DicomHeader], partial: list[DicomHeader]) -> list[float]:
    def heights(group: list[DicomHeader]) -> np.ndarray:
        values = []
        for header in group:
            dataset = header.dataset
            if dataset.get("ImagePositionPatient") is None or dataset.get("ImageOrientationPatient") is None:
                return np.empty(0)
            orientation = np.array([float(v) for v in dataset.ImageOrientationPatient])
            normal = np.cross(orientation[:3], orientation[3:])
            values.append(float(np.array([float(v) for v in dataset.ImagePositionPatient]) @ normal))
        return np.array(values)

    full, part = heights(complete), heights(partial)
    if full.size == 0 or part.size == 0:
        return []
    return sorted(float(h) for h in full if np.min(np.abs(part - h)) > 10 * SPACING_FLOOR_MM)


def _check_same_grid(reference: Geometry, other: Geometry, time_ms: float, context: str) -> None:
    tolerance_mm = 0.01 * float(np.min(reference.spacing_mm))
    same = (
        reference.shape == other.shape
        and np.allclose(reference.spacing_mm, other.spacing_mm, atol=tolerance_mm)
        and np.allclose(reference.origin_mm, other.origin_mm, atol=tolerance_mm)
        and np.allclose(reference.direction, other.direction, atol=1e-4)
    )
    if not same:
        raise SeriesError(
            f"{context}: the echo at TE {time_ms:g} ms lies on another grid than the first echo "
            f"(origin {np.round(other.origin_mm, 3).tolist()} mm versus {np.round(reference.origin_mm, 3).tolist()} mm, "
            f"shape {other.shape} versus {reference.shape}). Every echo must cover the same slices."
        )


def _stack_pixels(ordered: list[DicomHeader], context: str) -> np.ndarray:
    first = ordered[0].dataset
    data = np.empty((int(first.Columns), int(first.Rows), len(ordered)), dtype=np.float32)
    for k, header in enumerate(ordered):
        data[:, :, k] = _read_pixels(header, context).T
    return data


def _read_pixels(header: DicomHeader, context: str) -> np.ndarray:
    """Return one slice in (row, column) order, rescaled, as float32."""
    try:
        dataset = pydicom.dcmread(header.path)
        frames = int(dataset.get("NumberOfFrames", 1) or 1)
        if frames > 1:
            raise SeriesError(
                f"{context}: {header.path} is a multi-frame image ({frames} frames); only single-frame "
                "series are supported. Export the series as one file per slice."
            )
        pixels = dataset.pixel_array
    except SeriesError:
        raise
    except (OSError, EOFError, ValueError, AttributeError, KeyError, NotImplementedError, RuntimeError) as error:
        raise SeriesError(
            f"{context}: could not read the pixel data of {header.path}: {error}. The file may be truncated "
            "or use a compression that pydicom cannot decode here; export the series again, uncompressed."
        ) from error
    if pixels.ndim != 2:
        raise SeriesError(
            f"{context}: {header.path} contains pixel data of shape {pixels.shape}; expected one greyscale slice. "
            "Pick a greyscale single-frame series."
        )
    slope = float(dataset.get("RescaleSlope", 1.0) or 1.0)
    intercept = float(dataset.get("RescaleIntercept", 0.0) or 0.0)
    return pixels.astype(np.float32) * np.float32(slope) + np.float32(intercept)


def _format_echo(time_ms: float | None, index: int) -> str:
    return f"{index + 1} (TE {time_ms:g} ms)" if time_ms is not None else f"{index + 1} (no EchoTime)"
