"""DICOM series reading: geometry, echoes, transfer syntaxes and every input error."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.uid import ExplicitVRBigEndian, RLELossless

from kneeviewer.errors import SeriesError
from kneeviewer.io.dicom import find_series, read_multi_echo, read_series

ECHO_TIMES_MS = (10.0, 20.0, 30.0)
# Oblique sagittal orientation: rows run along +y, columns along -z tilted towards x.
OBLIQUE = (0.0, 1.0, 0.0, 0.2, 0.0, -0.9797958971)


def _volume(shape=(6, 5, 4), seed=0):
    return np.random.default_rng(seed).integers(0, 3000, size=shape).astype(np.int16)


def _echoes(shape=(6, 5, 4)):
    base = _volume(shape)
    return np.stack([base // (1 + n) for n in range(len(ECHO_TIMES_MS))])


# ---------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def mese(knee_sample_dir):
    return read_multi_echo(knee_sample_dir / "mese_t2_dicom")


@pytest.mark.sample_data
def test_mese_echoes(mese):
    assert mese.data.shape == (8, 256, 256, 24)
    assert np.allclose(mese.echo_times_ms, 6.312 * np.arange(1, 9))
    assert np.all(np.diff(mese.echo_times_ms) > 0)


@pytest.mark.sample_data
def test_mese_spacing(mese):
    assert np.allclose(mese.geometry.spacing_mm, (0.625, 0.625, 4.0), atol=1e-3)


@pytest.mark.sample_data
def test_mese_geometry_matches_files(mese):
    for k in (0, 11, 23):
        dataset = pydicom.dcmread(mese.metadata["files"][3][k])
        corner = mese.geometry.index_to_lps([0, 0, k])
        assert np.allclose(corner, [float(v) for v in dataset.ImagePositionPatient], atol=0.01)
        orientation = np.array([float(v) for v in dataset.ImageOrientationPatient])
        assert np.allclose(mese.geometry.direction[:, 0], orientation[:3], atol=1e-4)
        assert np.allclose(mese.geometry.direction[:, 1], orientation[3:], atol=1e-4)
        assert np.array_equal(mese.data[3, :, :, k], dataset.pixel_array.T.astype(np.float32))
        assert float(dataset.EchoTime) == pytest.approx(mese.echo_times_ms[3])


@pytest.mark.sample_data
def test_mese_find_series(knee_sample_dir):
    (info,) = find_series(knee_sample_dir / "mese_t2_dicom")
    assert info.n_files == 192
    assert info.n_echoes == 8
    assert info.echo_times_ms[-1] == pytest.approx(50.496)
    assert info.modality == "MR"
    assert info.series_uid == "2.25.104491756213133361843376561617585069749"


# ------------------------------------------------------ synthetic, readable


def test_series_values_and_geometry(tmp_path, dicom_series):
    data = _volume()
    dicom_series(tmp_path, data, orientation=OBLIQUE, origin_mm=(5.0, -3.0, 12.0), slice_step_mm=2.5, rescale=(0.5, -10))
    volume = read_series(tmp_path)
    assert np.array_equal(volume.data, data.astype(np.float32) * 0.5 - 10)
    assert np.allclose(volume.geometry.spacing_mm, (0.6, 0.5, 2.5))
    assert np.allclose(volume.geometry.origin_mm, (5.0, -3.0, 12.0))
    assert np.allclose(volume.geometry.direction[:, 2], np.cross(OBLIQUE[:3], OBLIQUE[3:]), atol=1e-6)


def test_series_shuffled_files_ordered_by_position(tmp_path, dicom_series):
    data = _volume(shape=(4, 3, 7))
    order = np.random.default_rng(3).permutation(7)
    dicom_series(
        tmp_path,
        data,
        orientation=OBLIQUE,
        file_names=[f"slice_{n}.dcm" for n in order],
        instance_numbers=[int(n) + 1 for n in np.random.default_rng(4).permutation(7)],
    )
    volume = read_series(tmp_path)
    assert np.array_equal(volume.data, data.astype(np.float32))


def test_series_descending_heights_sorted(tmp_path, dicom_series):
    data = _volume(shape=(4, 3, 5))
    dicom_series(tmp_path, data, slice_heights_mm=[8.0, 6.0, 4.0, 2.0, 0.0])
    volume = read_series(tmp_path)
    assert np.array_equal(volume.data, data[:, :, ::-1].astype(np.float32))
    assert volume.geometry.origin_mm[2] == pytest.approx(30.0)


def test_series_big_endian(tmp_path, dicom_series):
    data = _volume()
    dicom_series(tmp_path, data, transfer_syntax=ExplicitVRBigEndian)
    assert pydicom.dcmread(next(tmp_path.iterdir())).file_meta.TransferSyntaxUID == ExplicitVRBigEndian
    assert np.array_equal(read_series(tmp_path).data, data.astype(np.float32))


def test_series_rle_lossless(tmp_path, dicom_series):
    data = _volume()
    dicom_series(tmp_path, data, transfer_syntax=RLELossless)
    assert pydicom.dcmread(next(tmp_path.iterdir())).file_meta.TransferSyntaxUID == RLELossless
    assert np.array_equal(read_series(tmp_path).data, data.astype(np.float32))


def test_multi_echo_split_by_echo_time(tmp_path, dicom_series):
    data = _echoes()
    dicom_series(tmp_path, data, echo_times_ms=ECHO_TIMES_MS, laterality="L", description="MSME T2")
    series = read_multi_echo(tmp_path)
    assert np.allclose(series.echo_times_ms, ECHO_TIMES_MS)
    assert np.array_equal(series.data, data.astype(np.float32))
    assert series.metadata["laterality"] == "L"
    assert series.metadata["series_description"] == "MSME T2"
    assert len(series.metadata["files"]) == 3


def test_multi_echo_split_by_echo_number(tmp_path, dicom_series, edit_dicom_file):
    data = _echoes()
    paths = dicom_series(tmp_path, data, echo_times_ms=ECHO_TIMES_MS)
    for path in paths:  # every file gets the same EchoTime, so only EchoNumbers separates the echoes
        edit_dicom_file(path, EchoTime="10")
    series = read_multi_echo(tmp_path)
    assert series.data.shape[0] == 3
    assert np.array_equal(series.data, data.astype(np.float32))


def test_find_series_summary(tmp_path, dicom_series):
    dicom_series(tmp_path / "a", _echoes(), echo_times_ms=ECHO_TIMES_MS, laterality="R", description="MSME")
    dicom_series(tmp_path / "b" / "deeper", _volume(), description="DESS")
    (tmp_path / "notes.txt").write_text("not DICOM")
    infos = {info.series_description: info for info in find_series(tmp_path)}
    assert set(infos) == {"MSME", "DESS"}
    assert infos["MSME"].n_files == 12
    assert infos["MSME"].n_echoes == 3
    assert infos["MSME"].echo_times_ms == ECHO_TIMES_MS
    assert infos["MSME"].laterality == "R"
    assert infos["DESS"].n_echoes == 1
    assert infos["DESS"].patient_id == "PHANTOM01"


def test_series_chosen_by_uid(tmp_path, dicom_series):
    dicom_series(tmp_path, _volume(seed=1), series_uid="1.2.3.4", description="first")
    data = _volume(seed=2)
    dicom_series(tmp_path, data, series_uid="1.2.3.5", description="second", file_names=[f"B{n}.dcm" for n in range(4)])
    assert np.array_equal(read_series(tmp_path, "1.2.3.5").data, data.astype(np.float32))


# ------------------------------------------------------------------ errors


def test_error_missing_slice(tmp_path, dicom_series):
    paths = dicom_series(tmp_path, _volume(shape=(4, 3, 6)), series_uid="1.2.3.9", description="knee")
    paths[2].unlink()
    with pytest.raises(SeriesError) as error:
        read_series(tmp_path)
    message = str(error.value)
    assert "missing 1 slice(s)" in message
    assert "1.2.3.9" in message
    assert "'knee'" in message
    assert str(tmp_path) in message
    assert paths[1].name in message


def test_error_missing_echo(tmp_path, dicom_series):
    paths = dicom_series(tmp_path, _echoes(), echo_times_ms=ECHO_TIMES_MS, series_uid="1.2.3.10")
    paths[4 + 2].unlink()  # echo 2, slice 2
    with pytest.raises(SeriesError) as error:
        read_multi_echo(tmp_path)
    message = str(error.value)
    assert "echo 2 (TE 20 ms) has 3 slices but other echoes have 4" in message
    assert "missing at 34.000" in message
    assert "1.2.3.10" in message
    assert str(tmp_path) in message


def test_error_mixed_orientation(tmp_path, dicom_series, edit_dicom_file):
    paths = dicom_series(tmp_path, _volume(), series_uid="1.2.3.11")
    edit_dicom_file(paths[3], ImageOrientationPatient=[str(v) for v in OBLIQUE])
    with pytest.raises(SeriesError) as error:
        read_series(tmp_path)
    message = str(error.value)
    assert "mixes slice orientations" in message
    assert paths[3].name in message
    assert "1.2.3.11" in message


def test_error_uneven_spacing(tmp_path, dicom_series):
    dicom_series(tmp_path, _volume(shape=(4, 3, 5)), slice_heights_mm=[0.0, 2.0, 4.0, 6.7, 8.7], series_uid="1.2.3.12")
    with pytest.raises(SeriesError) as error:
        read_series(tmp_path)
    message = str(error.value)
    assert "uneven slice spacing" in message
    assert "2.700 mm" in message
    assert "1.2.3.12" in message


def test_error_duplicate_position(tmp_path, dicom_series):
    dicom_series(tmp_path, _volume(shape=(4, 3, 4)), slice_heights_mm=[0.0, 2.0, 2.0, 4.0])
    with pytest.raises(SeriesError, match="two slices at the same position"):
        read_series(tmp_path)


def test_error_several_series(tmp_path, dicom_series):
    dicom_series(tmp_path, _volume(), series_uid="1.2.3.13", description="sag T2")
    dicom_series(tmp_path / "sub", _volume(), series_uid="1.2.3.14", description="cor PD")
    with pytest.raises(SeriesError) as error:
        read_multi_echo(tmp_path)
    message = str(error.value)
    assert "contains 2 DICOM series" in message
    assert "1.2.3.13 ('sag T2', 4 files" in message
    assert "1.2.3.14 ('cor PD', 4 files" in message
    assert "--series UID" in message
    assert "dialog" in message


def test_error_unknown_series_uid(tmp_path, dicom_series):
    dicom_series(tmp_path, _volume(), series_uid="1.2.3.15")
    with pytest.raises(SeriesError) as error:
        read_series(tmp_path, "9.9.9")
    assert "9.9.9 not found" in str(error.value)
    assert "1.2.3.15" in str(error.value)


def test_error_empty_folder(tmp_path):
    (tmp_path / "readme.txt").write_text("no images here")
    with pytest.raises(SeriesError) as error:
        read_series(tmp_path)
    assert f"No DICOM image files found in {tmp_path}" in str(error.value)


def test_error_missing_folder(tmp_path):
    with pytest.raises(SeriesError, match="not found"):
        find_series(tmp_path / "absent")


def test_error_truncated_file(tmp_path, dicom_series):
    paths = dicom_series(tmp_path, _volume(shape=(40, 30, 4)), series_uid="1.2.3.16")
    content = paths[2].read_bytes()
    paths[2].write_bytes(content[: len(content) - 1000])
    with pytest.raises(SeriesError) as error:
        read_series(tmp_path)
    message = str(error.value)
    assert str(paths[2]) in message
    assert "truncated" in message
    assert "1.2.3.16" in message


def test_error_single_echo_reader_on_multi_echo(tmp_path, dicom_series):
    dicom_series(tmp_path, _echoes(), echo_times_ms=ECHO_TIMES_MS)
    with pytest.raises(SeriesError, match="has 3 echoes"):
        read_series(tmp_path)


def test_error_truncated_header_named(tmp_path, dicom_series):
    paths = dicom_series(tmp_path, _volume(shape=(4, 3, 5)), series_uid="1.2.3.17")
    content = paths[2].read_bytes()
    paths[2].write_bytes(content[:200])  # cut inside the header, before SeriesInstanceUID
    with pytest.raises(SeriesError) as error:
        read_series(tmp_path)
    message = str(error.value)
    assert "missing 1 slice(s)" in message
    assert f"skipped 1 unreadable or truncated DICOM file(s): {paths[2]}" in message
