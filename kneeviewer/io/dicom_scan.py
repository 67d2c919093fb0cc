"""Scanning a folder for DICOM series from the file headers alone.

Only headers are read (``stop_before_pixels=True``), so listing a folder of a
few thousand files stays cheap enough for a file dialog. Files are grouped by
SeriesInstanceUID; file names and folder layout play no part.
"""

from __future__ import annotations

import logging
import struct
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from kneeviewer.errors import SeriesError

log = logging.getLogger(__name__)

_DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"

#: Echo times closer than this (ms) are treated as the same echo.
ECHO_TIME_TOLERANCE_MS = 1e-3


@dataclass(frozen=True)
class DicomHeader:
    """Header of one DICOM file, read without its pixel data.

    Attributes
    ----------
    path : Path
        The file.
    dataset : pydicom.Dataset
        Every element before the pixel data.
    """

    path: Path
    dataset: Dataset

    @property
    def series_uid(self) -> str:
        """SeriesInstanceUID of the file."""
        return str(self.dataset.SeriesInstanceUID)

    @property
    def echo_time_ms(self) -> float | None:
        """EchoTime in ms, or None when absent or empty."""
        return _float_or_none(self.dataset.get("EchoTime"))

    @property
    def echo_number(self) -> int | None:
        """First value of EchoNumbers, or None when absent or empty."""
        value = self.dataset.get("EchoNumbers")
        if value is None or value == "":
            return None
        if isinstance(value, pydicom.multival.MultiValue):
            value = value[0]
        return int(value)


@dataclass(frozen=True)
class SeriesInfo:
    """Summary of one DICOM series found in a folder, from headers only.

    Attributes
    ----------
    patient_id, patient_name : str
        PatientID and PatientName, empty when blank.
    study_uid, study_description, study_date : str
        StudyInstanceUID, StudyDescription and StudyDate (``YYYYMMDD``).
    series_uid, series_description : str
        SeriesInstanceUID and SeriesDescription.
    series_number : int or None
        SeriesNumber.
    modality : str
        Modality, for example ``"MR"``.
    n_files : int
        Number of files in the series.
    n_echoes : int
        Number of distinct echoes (by EchoTime, else by EchoNumbers).
    echo_times_ms : tuple of float
        Distinct echo times in ms, increasing; empty when the files have none.
    image_orientation : tuple of float
        ImageOrientationPatient of the first file (row then column direction
        cosines, LPS); empty when absent.
    laterality : str or None
        ``"L"`` or ``"R"`` from ImageLaterality or Laterality, None when blank.
    folder : Path
        Folder that contains the first file of the series.
    """

    patient_id: str
    patient_name: str
    study_uid: str
    study_description: str
    study_date: str
    series_uid: str
    series_description: str
    series_number: int | None
    modality: str
    n_files: int
    n_echoes: int
    echo_times_ms: tuple[float, ...]
    image_orientation: tuple[float, ...]
    laterality: str | None
    folder: Path = field(default_factory=Path)

    def label(self) -> str:
        """Return a one-line description: UID, description and file count."""
        description = self.series_description or "no description"
        files = "1 file" if self.n_files == 1 else f"{self.n_files} files"
        echoes = "1 echo" if self.n_echoes == 1 else f"{self.n_echoes} echoes"
        return f"{self.series_uid} ('{description}', {files}, {echoes})"


def find_series(folder: str | Path) -> list[SeriesInfo]:
    """List the DICOM series under ``folder``, searching subfolders too.

    Parameters
    ----------
    folder : str or Path
        Folder to scan recursively. Files that are not DICOM are skipped.

    Returns
    -------
    list of SeriesInfo
        One entry per SeriesInstanceUID, sorted by patient, study date,
        study UID and series number. Empty when the folder contains no DICOM
        image files.

    Raises
    ------
    SeriesError
        If ``folder`` does not exist or is not a folder.
    """
    groups = scan_headers(folder)
    infos = [_series_info(headers) for headers in groups.values()]
    return sorted(
        infos,
        key=lambda info: (
            info.patient_id,
            info.study_date,
            info.study_uid,
            info.series_number if info.series_number is not None else -1,
            info.series_uid,
        ),
    )


def scan_headers(folder: str | Path, skipped: list[Path] | None = None) -> dict[str, list[DicomHeader]]:
    """Read the header of every DICOM image file under ``folder``, grouped by SeriesInstanceUID.

    Files that are not DICOM, DICOMDIR indexes and DICOM files without a
    SeriesInstanceUID (often truncated files) are skipped and logged.

    NOTE: files without the 128-byte preamble and "DICM" prefix (old
    ACR-NEMA style) are skipped as not DICOM.

    Parameters
    ----------
    folder : str or Path
        Folder to scan recursively.
    skipped : list of Path, optional
        Receives the DICOM files that were skipped as unreadable or
        incomplete, so that later error messages can name them.

    Raises
    ------
    SeriesError
        If ``folder`` does not exist or is not a folder.
    """
    folder = Path(folder)
    if not folder.exists():
        raise SeriesError(f"DICOM folder not found: {folder}. Check the path.")
    if not folder.is_dir():
        raise SeriesError(f"Expected a folder of DICOM files but {folder} is a file. Pass the folder that contains it.")

    groups: dict[str, list[DicomHeader]] = defaultdict(list)
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        header = read_header(path, skipped)
        if header is not None:
            groups[header.series_uid].append(header)
    return dict(groups)


def read_header(path: Path, skipped: list[Path] | None = None) -> DicomHeader | None:
    """Read one file's header; return None when it is not a DICOM image file.

    DICOM files that cannot be read or lack a SeriesInstanceUID are logged
    and appended to ``skipped`` when it is given.
    """
    try:
        dataset = pydicom.dcmread(path, stop_before_pixels=True)
    except InvalidDicomError:
        return None
    except (OSError, EOFError, ValueError, KeyError, TypeError, IndexError, struct.error) as error:
        log.warning("Skipped unreadable DICOM file %s: %s", path, error)
        if skipped is not None:
            skipped.append(path)
        return None
    if dataset.get("SOPClassUID") == _DICOMDIR_SOP_CLASS or "DirectoryRecordSequence" in dataset:
        return None
    if not dataset.get("SeriesInstanceUID"):
        log.warning("Skipped DICOM file %s: it has no SeriesInstanceUID (truncated or not an image).", path)
        if skipped is not None:
            skipped.append(path)
        return None
    return DicomHeader(path=path, dataset=dataset)


def select_series(
    folder: str | Path, series_uid: str | None = None, skipped: list[Path] | None = None
) -> list[DicomHeader]:
    """Return the headers of one series in ``folder``.

    Parameters
    ----------
    folder : str or Path
        Folder to scan recursively.
    series_uid : str, optional
        SeriesInstanceUID to pick. Required when the folder contains several
        series.
    skipped : list of Path, optional
        Receives the DICOM files skipped as unreadable (see :func:`scan_headers`).

    Raises
    ------
    SeriesError
        If the folder contains no DICOM image files, if ``series_uid`` is not
        among its series, or if it contains several series and no
        ``series_uid`` was given.
    """
    folder = Path(folder)
    skipped = skipped if skipped is not None else []
    groups = scan_headers(folder, skipped)
    if not groups:
        unreadable = f" ({skipped_note(skipped)})" if skipped else ""
        raise SeriesError(
            f"No DICOM image files found in {folder} or its subfolders{unreadable}. "
            "Choose the folder that contains the series' DICOM files."
        )
    if series_uid is not None:
        if series_uid not in groups:
            available = "; ".join(_series_info(headers).label() for headers in groups.values())
            raise SeriesError(
                f"Series {series_uid} not found in {folder}. Available series: {available}. "
                "Pass one of these SeriesInstanceUIDs (kneeviewer run: --msme-series, kneeviewer t2: --series)."
            )
        return groups[series_uid]
    if len(groups) > 1:
        listing = "; ".join(_series_info(headers).label() for headers in groups.values())
        raise SeriesError(
            f"{folder} contains {len(groups)} DICOM series: {listing}. "
            "Choose one by its SeriesInstanceUID (kneeviewer run: --msme-series UID, kneeviewer t2: --series UID) or pick it in the app's series dialog."
        )
    return next(iter(groups.values()))


def skipped_note(skipped: list[Path]) -> str:
    """Return ``"skipped N unreadable DICOM file(s): a, b, c"`` naming up to three files."""
    names = ", ".join(str(path) for path in skipped[:3])
    more = f" and {len(skipped) - 3} more" if len(skipped) > 3 else ""
    return f"skipped {len(skipped)} unreadable or truncated DICOM file(s): {names}{more}"


def series_label(headers: list[DicomHeader]) -> str:
    """Return ``"<uid> ('<description>')"`` for error messages."""
    dataset = headers[0].dataset
    description = str(dataset.get("SeriesDescription", "") or "no description")
    return f"{dataset.SeriesInstanceUID} ('{description}')"


def distinct_echo_times(headers: list[DicomHeader]) -> list[float]:
    """Return the distinct echo times (ms) of the headers, increasing, merged within a tolerance."""
    times = sorted(t for t in (h.echo_time_ms for h in headers) if t is not None)
    distinct: list[float] = []
    for time_ms in times:
        if not distinct or time_ms - distinct[-1] > ECHO_TIME_TOLERANCE_MS:
            distinct.append(time_ms)
    return distinct


def laterality(dataset: Dataset) -> str | None:
    """Return ``"L"`` or ``"R"`` from ImageLaterality or Laterality, or None when blank."""
    for keyword in ("ImageLaterality", "Laterality"):
        value = str(dataset.get(keyword, "") or "").strip().upper()
        if value in ("L", "R"):
            return value
    return None


def _series_info(headers: list[DicomHeader]) -> SeriesInfo:
    dataset = headers[0].dataset
    echo_times = distinct_echo_times(headers)
    echo_numbers = {h.echo_number for h in headers if h.echo_number is not None}
    n_echoes = max(len(echo_times), len(echo_numbers), 1)
    orientation = dataset.get("ImageOrientationPatient")
    series_number = dataset.get("SeriesNumber")
    return SeriesInfo(
        patient_id=str(dataset.get("PatientID", "") or ""),
        patient_name=str(dataset.get("PatientName", "") or ""),
        study_uid=str(dataset.get("StudyInstanceUID", "") or ""),
        study_description=str(dataset.get("StudyDescription", "") or ""),
        study_date=str(dataset.get("StudyDate", "") or ""),
        series_uid=str(dataset.SeriesInstanceUID),
        series_description=str(dataset.get("SeriesDescription", "") or ""),
        series_number=int(series_number) if series_number not in (None, "") else None,
        modality=str(dataset.get("Modality", "") or ""),
        n_files=len(headers),
        n_echoes=n_echoes,
        echo_times_ms=tuple(echo_times),
        image_orientation=tuple(float(v) for v in orientation) if orientation else (),
        laterality=laterality(dataset),
        folder=headers[0].path.parent,
    )


def _float_or_none(value: object) -> float | None:
    if value is None or value == "":
        return None
    return float(value)
