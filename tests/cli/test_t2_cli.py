"""``kneeviewer t2`` on a small multi-echo DICOM series written with pydicom."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

from kneeviewer.cli.main import main
from kneeviewer.io.volume import Geometry, Volume, read_volume, write_volume

ECHO_TIMES_MS = 10.0 * np.arange(1, 9)
SHAPE = (8, 6, 3)  # i (columns), j (rows), k (slices)
ORIGIN_MM = (-20.0, 5.0, 40.0)
SPACING_MM = (0.5, 0.5, 3.0)


def _true_t2_ms() -> np.ndarray:
    """T2 per voxel: 20 to 55 ms along i in the left half, background (no signal) in the right half."""
    t2 = np.full(SHAPE, np.nan)
    t2[:4] = np.linspace(20.0, 55.0, 4)[:, np.newaxis, np.newaxis]
    return t2


def _write_series(folder: Path) -> None:
    """Write an axial 8-echo series: 24 files, one per echo and slice."""
    folder.mkdir(parents=True)
    t2 = _true_t2_ms()
    series_uid = generate_uid()
    for echo, te in enumerate(ECHO_TIMES_MS):
        signal = np.where(np.isnan(t2), 0.0, 2000.0 * np.exp(-te / np.nan_to_num(t2, nan=1.0)) + 30.0)
        for k in range(SHAPE[2]):
            dataset = Dataset()
            dataset.file_meta = FileMetaDataset()
            dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
            dataset.file_meta.MediaStorageSOPClassUID = MRImageStorage
            dataset.SOPClassUID = MRImageStorage
            dataset.SOPInstanceUID = dataset.file_meta.MediaStorageSOPInstanceUID = generate_uid()
            dataset.SeriesInstanceUID = series_uid
            dataset.SeriesDescription = "MSME T2"
            dataset.Modality = "MR"
            dataset.EchoTime = f"{te:g}"
            dataset.EchoNumbers = echo + 1
            dataset.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
            dataset.ImagePositionPatient = [f"{ORIGIN_MM[0]:g}", f"{ORIGIN_MM[1]:g}", f"{ORIGIN_MM[2] + SPACING_MM[2] * k:g}"]
            dataset.PixelSpacing = [f"{SPACING_MM[1]:g}", f"{SPACING_MM[0]:g}"]
            pixels = np.round(signal[:, :, k].T).astype("<u2")
            dataset.Rows, dataset.Columns = pixels.shape
            dataset.SamplesPerPixel = 1
            dataset.PhotometricInterpretation = "MONOCHROME2"
            dataset.BitsAllocated = dataset.BitsStored = 16
            dataset.HighBit = 15
            dataset.PixelRepresentation = 0
            dataset.PixelData = pixels.tobytes()
            dataset.save_as(folder / f"E{echo}S{k}.dcm", enforce_file_format=True)


@pytest.fixture(scope="module")
def msme_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("t2cli") / "msme"
    _write_series(folder)
    return folder


def test_t2_writes_maps(msme_dir, tmp_path, capsys):
    out = tmp_path / "maps" / "t2.nrrd"
    status = main(["t2", "--msme", str(msme_dir), "--out", str(out), "--no-progress"])
    assert status == 0
    t2 = read_volume(out)
    r2 = read_volume(tmp_path / "maps" / "t2_r2.nrrd")
    truth = _true_t2_ms()
    assert np.allclose(t2.data[:4], truth[:4], atol=0.5)  # integer rounding of the stored signal only
    assert np.all(np.isnan(t2.data[4:]))
    assert np.all(r2.data[:4] > 0.999)
    assert np.allclose(t2.geometry.origin_mm, ORIGIN_MM, atol=1e-4)
    assert np.allclose(t2.geometry.spacing_mm, SPACING_MM, atol=1e-4)
    summary = capsys.readouterr().out.strip().splitlines()
    assert len(summary) == 1
    assert summary[0].startswith("T2 fitted in 72 voxels")


def test_t2_nifti_keeps_nan(msme_dir, tmp_path):
    # SimpleITK's NIfTI reader turns NaN into 0, so the file is checked with nibabel.
    nibabel = pytest.importorskip("nibabel")
    out = tmp_path / "t2.nii.gz"
    assert main(["t2", "--msme", str(msme_dir), "--out", str(out), "--no-progress"]) == 0
    t2 = np.asarray(nibabel.load(out).dataobj)
    r2 = np.asarray(nibabel.load(tmp_path / "t2_r2.nii.gz").dataobj)
    assert t2.shape == SHAPE
    assert np.all(np.isnan(t2[4:]))
    assert np.allclose(t2[:4], _true_t2_ms()[:4], atol=0.5)
    assert np.all(np.isnan(r2[4:]))


def test_t2_nrrd_with_mask(msme_dir, tmp_path, capsys):
    mask = np.zeros(SHAPE, dtype=np.uint8)
    mask[0] = 1
    geometry = Geometry(SHAPE, SPACING_MM, ORIGIN_MM)
    write_volume(Volume(mask, geometry), tmp_path / "mask.nrrd")
    out = tmp_path / "t2.nrrd"
    status = main(["t2", "--msme", str(msme_dir), "--out", str(out), "--mask", str(tmp_path / "mask.nrrd"), "--no-progress"])
    assert status == 0
    assert (tmp_path / "t2_r2.nrrd").exists()
    assert np.count_nonzero(np.isfinite(read_volume(out).data)) == 18
    assert "masked out 126" in capsys.readouterr().out


def test_t2_empty_folder_exit_2(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    status = main(["t2", "--msme", str(tmp_path / "empty"), "--out", str(tmp_path / "t2.nii.gz"), "--no-progress"])
    error = capsys.readouterr().err.strip()
    assert status == 2
    assert len(error.splitlines()) == 1
    assert f"No DICOM image files found in {tmp_path / 'empty'}" in error


def test_t2_bad_extension_exit_2(msme_dir, tmp_path, capsys):
    status = main(["t2", "--msme", str(msme_dir), "--out", str(tmp_path / "t2.png"), "--no-progress"])
    assert status == 2
    assert "Unsupported output file" in capsys.readouterr().err


def test_t2_subprocess(msme_dir, tmp_path):
    out = tmp_path / "t2.mha"
    completed = subprocess.run(
        [sys.executable, "-m", "kneeviewer", "t2", "--msme", str(msme_dir), "--out", str(out), "--min-r2", "0.9"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert "T2 fitted in 72 voxels" in completed.stdout
    assert out.exists()
    assert (tmp_path / "t2_r2.mha").exists()
