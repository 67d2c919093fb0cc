"""Fixtures that write small DICOM MR series with pydicom for the reader tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, MRImageStorage, RLELossless, generate_uid


def write_dicom_series(
    folder: Path,
    data: np.ndarray,
    *,
    pixel_spacing_mm: tuple[float, float] = (0.5, 0.6),
    orientation: Sequence[float] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
    origin_mm: Sequence[float] = (-10.0, -20.0, 30.0),
    slice_heights_mm: Sequence[float] | None = None,
    slice_step_mm: float = 2.0,
    echo_times_ms: Sequence[float] | None = None,
    series_uid: str | None = None,
    description: str = "test series",
    transfer_syntax: str = ExplicitVRLittleEndian,
    laterality: str | None = None,
    rescale: tuple[float, float] | None = None,
    file_names: Sequence[str] | None = None,
    instance_numbers: Sequence[int] | None = None,
) -> list[Path]:
    """Write one file per echo and slice; return the paths in (echo, slice) order.

    ``data`` has shape (ni, nj, nk) or (n_echoes, ni, nj, nk) and contains
    stored integer values, ``data[..., i, j, k]`` being column i, row j of
    slice k. Slice k lies at ``origin_mm + heights[k] * normal``, where the
    heights default to ``k * slice_step_mm``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    data = np.asarray(data)
    if data.ndim == 3:
        data = data[np.newaxis]
    n_echoes, _, _, n_slices = data.shape
    orientation = np.asarray(orientation, dtype=float)
    normal = np.cross(orientation[:3], orientation[3:])
    heights = np.arange(n_slices) * slice_step_mm if slice_heights_mm is None else np.asarray(slice_heights_mm)
    series_uid = series_uid or generate_uid()
    study_uid = "1.2.826.0.1.3680043.8.498.1"
    count = n_echoes * n_slices
    file_names = list(file_names) if file_names is not None else [f"IM{n:04d}.dcm" for n in range(count)]
    instance_numbers = list(instance_numbers) if instance_numbers is not None else list(range(1, count + 1))

    paths = []
    for echo in range(n_echoes):
        for k in range(n_slices):
            n = echo * n_slices + k
            dataset = _mr_dataset(data[echo, :, :, k].T.astype(np.int16), transfer_syntax)
            dataset.SeriesInstanceUID = series_uid
            dataset.StudyInstanceUID = study_uid
            dataset.SeriesDescription = description
            dataset.PatientID = "PHANTOM01"
            dataset.PatientName = "Phantom^Knee"
            dataset.StudyDate = "20260101"
            dataset.Modality = "MR"
            dataset.SeriesNumber = 7
            dataset.InstanceNumber = int(instance_numbers[n])
            dataset.ImageOrientationPatient = [f"{v:.6f}" for v in orientation]
            dataset.ImagePositionPatient = [f"{v:.4f}" for v in np.asarray(origin_mm) + heights[k] * normal]
            dataset.PixelSpacing = [f"{v:g}" for v in pixel_spacing_mm]
            dataset.SliceThickness = f"{slice_step_mm:g}"
            if echo_times_ms is not None:
                dataset.EchoTime = f"{echo_times_ms[echo]:g}"
                dataset.EchoNumbers = echo + 1
            if laterality is not None:
                dataset.Laterality = laterality
            if rescale is not None:
                dataset.RescaleSlope = f"{rescale[0]:g}"
                dataset.RescaleIntercept = f"{rescale[1]:g}"
            path = folder / file_names[n]
            dataset.save_as(path, enforce_file_format=True)
            paths.append(path)
    return paths


def _mr_dataset(pixels: np.ndarray, transfer_syntax: str) -> Dataset:
    dataset = Dataset()
    dataset.file_meta = FileMetaDataset()
    dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset.file_meta.MediaStorageSOPClassUID = MRImageStorage
    dataset.SOPClassUID = MRImageStorage
    dataset.SOPInstanceUID = generate_uid()
    dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    dataset.Rows, dataset.Columns = pixels.shape
    dataset.SamplesPerPixel = 1
    dataset.PhotometricInterpretation = "MONOCHROME2"
    dataset.BitsAllocated = 16
    dataset.BitsStored = 16
    dataset.HighBit = 15
    dataset.PixelRepresentation = 1
    if transfer_syntax == RLELossless:
        dataset.PixelData = pixels.tobytes()
        dataset.compress(RLELossless, pixels)
    elif transfer_syntax == ExplicitVRBigEndian:
        # pydicom writes the elements big-endian but leaves Pixel Data bytes as given.
        dataset.file_meta.TransferSyntaxUID = ExplicitVRBigEndian
        dataset.PixelData = pixels.astype(">i2").tobytes()
    else:
        dataset.file_meta.TransferSyntaxUID = transfer_syntax
        dataset.PixelData = pixels.astype("<i2").tobytes()
    return dataset


def edit_dicom(path: Path, **elements: object) -> None:
    """Overwrite elements (by keyword) of one written file."""
    dataset = pydicom.dcmread(path)
    for keyword, value in elements.items():
        setattr(dataset, keyword, value)
    dataset.save_as(path)


@pytest.fixture
def dicom_series() -> Callable[..., list[Path]]:
    """The :func:`write_dicom_series` helper."""
    return write_dicom_series


@pytest.fixture
def edit_dicom_file() -> Callable[..., None]:
    """The :func:`edit_dicom` helper."""
    return edit_dicom
