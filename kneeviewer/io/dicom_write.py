"""Writing a multi-echo MR series as DICOM files, one file per slice and echo.

The geometry follows DICOM: column index ``i`` runs along the row direction
(the first three values of ImageOrientationPatient), row index ``j`` along
the column direction, and PixelSpacing is (row spacing, column spacing),
that is ``(spacing_j, spacing_i)``. ImagePositionPatient is the centre of
the first pixel of each slice. The slice axis ``k`` must follow the normal
``row x column`` (a right-handed grid), because readers sort slices along
the normal and would otherwise rebuild a flipped grid. A left-handed grid
is rejected.
"""

from __future__ import annotations

import datetime
import logging
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, MRImageStorage, generate_uid

from kneeviewer.errors import InputError
from kneeviewer.io.volume import MultiEchoVolume

log = logging.getLogger(__name__)

SUPPORTED_TRANSFER_SYNTAXES = (ExplicitVRLittleEndian, ExplicitVRBigEndian)
_UINT16_MAX = 65535


def write_multi_echo_series(
    volume: MultiEchoVolume,
    folder: str | Path,
    *,
    laterality: str = "R",
    transfer_syntax: str = ExplicitVRLittleEndian,
    series_description: str = "MSME T2 map",
    repetition_time_ms: float = 2700.0,
) -> list[Path]:
    """Write every slice of every echo as an MR Image Storage file.

    Parameters
    ----------
    volume : MultiEchoVolume
        Signal, shape (n_echoes, ni, nj, nk), echo times in ms and the grid.
        Values are stored as 16-bit unsigned integers. Non-negative integer
        values up to 65535 are stored as they are. Other values are scaled
        to 0..4095 and the scale goes to RescaleSlope, so readers that
        apply it get the original values back within rounding.
    folder : str or Path
        Output folder, created if missing. Files are named
        ``e<echo>_s<slice>.dcm``.
    laterality : str
        ImageLaterality, ``"R"`` or ``"L"``.
    transfer_syntax : str
        Explicit VR Little Endian (default) or Explicit VR Big Endian.
    series_description : str
        SeriesDescription of every file.
    repetition_time_ms : float
        RepetitionTime of every file.

    Returns
    -------
    list of Path
        The written files, echo by echo, slice by slice.

    Raises
    ------
    InputError
        If the grid is left-handed, the laterality or transfer syntax is not
        supported, or the data shape does not match the echo times.
    """
    data = np.asarray(volume.data)
    geometry = volume.geometry
    if laterality not in ("R", "L"):
        raise InputError(f"Image laterality '{laterality}' is invalid; use 'R' or 'L'.")
    if transfer_syntax not in SUPPORTED_TRANSFER_SYNTAXES:
        raise InputError(
            f"Transfer syntax {transfer_syntax} is not supported for writing; use Explicit VR Little or Big Endian."
        )
    if data.ndim != 4 or data.shape[0] != len(volume.echo_times_ms) or data.shape[1:] != geometry.shape:
        raise InputError(
            f"Multi-echo data of shape {data.shape} does not match {len(volume.echo_times_ms)} echoes "
            f"on a grid of {geometry.shape}."
        )
    row, column, slice_axis = geometry.direction.T
    if np.dot(np.cross(row, column), slice_axis) <= 0:
        raise InputError(
            "The multi-echo grid is left-handed (slice axis opposite to row x column); "
            "reverse its slice axis before writing DICOM."
        )

    pixels, slope = _to_uint16(data)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    shared = _series_dataset(volume, laterality, series_description, repetition_time_ms, slope)
    big_endian = transfer_syntax == ExplicitVRBigEndian
    paths = []
    n_echoes, _, _, n_slices = data.shape
    for echo in range(n_echoes):
        for k in range(n_slices):
            dataset = _slice_dataset(shared, volume, echo, k, transfer_syntax)
            frame = pixels[echo, :, :, k].T  # rows are j, columns are i
            dataset.PixelData = frame.astype(">u2" if big_endian else "<u2").tobytes()
            path = folder / f"e{echo + 1:02d}_s{k + 1:03d}.dcm"
            dataset.save_as(path, enforce_file_format=True, little_endian=not big_endian, implicit_vr=False)
            paths.append(path)
    log.debug("Wrote %d DICOM files (%d echoes x %d slices) to %s", len(paths), n_echoes, n_slices, folder)
    return paths


def _to_uint16(data: np.ndarray) -> tuple[np.ndarray, float]:
    """Return the stored values and the RescaleSlope that maps them back."""
    finite = np.nan_to_num(data.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    is_integer = np.all(finite == np.round(finite)) and finite.min() >= 0 and finite.max() <= _UINT16_MAX
    if is_integer:
        return finite.astype(np.uint16), 1.0
    low = min(float(finite.min()), 0.0)
    if low < 0:
        log.warning("Negative signal values clipped to 0 for DICOM storage.")
    top = float(finite.max())
    slope = top / 4095.0 if top > 0 else 1.0
    return np.round(np.clip(finite, 0.0, None) / slope).astype(np.uint16), slope


def _series_dataset(
    volume: MultiEchoVolume, laterality: str, description: str, repetition_time_ms: float, slope: float
) -> Dataset:
    """Return the attributes shared by every file of the series."""
    now = datetime.datetime.now(datetime.timezone.utc)
    geometry = volume.geometry
    dataset = Dataset()
    dataset.SOPClassUID = MRImageStorage
    dataset.Modality = "MR"
    dataset.PatientName = "Phantom^Knee"
    dataset.PatientID = "PHANTOM"
    dataset.StudyInstanceUID = generate_uid()
    dataset.SeriesInstanceUID = generate_uid()
    dataset.FrameOfReferenceUID = generate_uid()

    dataset.StudyDate = now.strftime("%Y%m%d")
    dataset.StudyTime = now.strftime("%H%M%S")
    dataset.SeriesNumber = 1
    dataset.SeriesDescription = description
    dataset.BodyPartExamined = "KNEE"
    dataset.ImageLaterality = laterality
    dataset.Laterality = laterality

    dataset.ScanningSequence = "SE"
    dataset.SequenceVariant = "NONE"
    dataset.MRAcquisitionType = "2D"
    dataset.RepetitionTime = f"{repetition_time_ms:g}"
    dataset.EchoTrainLength = len(volume.echo_times_ms)

    dataset.ImageOrientationPatient = [f"{value:.8f}" for value in np.concatenate([geometry.direction[:, 0], geometry.direction[:, 1]])]
    dataset.PixelSpacing = [f"{geometry.spacing_mm[1]:.6f}", f"{geometry.spacing_mm[0]:.6f}"]
    dataset.SliceThickness = f"{geometry.spacing_mm[2]:.6f}"
    dataset.SpacingBetweenSlices = f"{geometry.spacing_mm[2]:.6f}"

    dataset.Rows = geometry.shape[1]
    dataset.Columns = geometry.shape[0]
    dataset.SamplesPerPixel = 1
    dataset.PhotometricInterpretation = "MONOCHROME2"
    dataset.BitsAllocated = 16
    dataset.BitsStored = 16
    dataset.HighBit = 15
    dataset.PixelRepresentation = 0

    if slope != 1.0:
        dataset.RescaleSlope = f"{slope:.10g}"
        dataset.RescaleIntercept = "0"
        dataset.RescaleType = "US"

    for key, value in volume.metadata.items():
        if key in ("PatientName", "PatientID", "StudyDescription") and isinstance(value, str):
            setattr(dataset, key, value)
    return dataset


def _slice_dataset(shared: Dataset, volume: MultiEchoVolume, echo: int, k: int, transfer_syntax: str) -> Dataset:
    """Return a copy of the series attributes completed for one slice of one echo."""
    geometry = volume.geometry
    n_slices = geometry.shape[2]
    dataset = Dataset()
    dataset.update(shared)
    sop_uid = generate_uid()
    dataset.SOPInstanceUID = sop_uid
    dataset.InstanceNumber = echo * n_slices + k + 1
    dataset.EchoTime = f"{float(volume.echo_times_ms[echo]):g}"
    dataset.EchoNumbers = echo + 1
    position = geometry.index_to_lps(np.array([0.0, 0.0, float(k)]))
    dataset.ImagePositionPatient = [f"{value:.6f}" for value in position]
    dataset.SliceLocation = f"{float(np.dot(position, geometry.direction[:, 2])):.6f}"

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = transfer_syntax
    meta.ImplementationClassUID = pydicom.uid.PYDICOM_IMPLEMENTATION_UID
    dataset.file_meta = meta
    return dataset
