"""Tests of the phantom knee, its DICOM series and its truth files, on the coarse grid."""

from __future__ import annotations

import json

import numpy as np
import pydicom
import pytest
import pyvista as pv
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian
from scipy import ndimage

from kneeviewer.cli.main import main
from kneeviewer.errors import InputError
from kneeviewer.io.dicom import read_multi_echo
from kneeviewer.io.dicom_write import write_multi_echo_series
from kneeviewer.io.volume import Geometry, MultiEchoVolume, read_volume
from kneeviewer.phantom import PhantomParams, ThicknessPatch, make_phantom_knee
from kneeviewer.phantom.anatomy import LABELS, build_anatomy
from kneeviewer.phantom.imaging import dess_geometry
from kneeviewer.phantom.tissue import sample_tissue

CARTILAGE = ("femoral_cartilage", "medial_tibial_cartilage", "lateral_tibial_cartilage", "patellar_cartilage")


def test_phantom_same_seed_identical(coarse_knee, patched_params):
    again = make_phantom_knee(patched_params)
    assert np.array_equal(again.labels.data, coarse_knee.labels.data)
    assert np.array_equal(again.dess.data, coarse_knee.dess.data)
    assert np.array_equal(again.msme.data, coarse_knee.msme.data)


def test_phantom_random_shape_depends_on_seed():
    first = PhantomParams(seed=1, grid="coarse", random_shape=True).resolved()
    second = PhantomParams(seed=2, grid="coarse", random_shape=True).resolved()
    assert first == PhantomParams(seed=1, grid="coarse", random_shape=True).resolved()
    assert first.size_scale != second.size_scale
    assert not first.random_shape


def test_labels_every_structure(coarse_knee):
    present = set(np.unique(coarse_knee.labels.data).tolist())
    for name, value in LABELS.items():
        assert value in present, name


def test_oai_grid_geometry():
    geometry = dess_geometry("oai")
    assert geometry.shape == (384, 384, 160)
    assert np.allclose(geometry.spacing_mm, [0.364583, 0.364583, 0.7])
    assert geometry.axis_closest_to(0) == 2


@pytest.mark.parametrize("structure", CARTILAGE)
def test_cartilage_volume_matches_analytic(coarse_knee, structure):
    # Centre-rule voxelisation on an oblique grid: no systematic bias is
    # expected; 3 % covers the plate edges on 0.73 x 0.73 x 1.4 mm voxels.
    geometry = coarse_knee.labels.geometry
    measured = np.count_nonzero(coarse_knee.labels.data == LABELS[structure]) * geometry.voxel_volume_mm3()
    analytic = coarse_knee.cartilage_volume_mm3(structure)
    assert measured == pytest.approx(analytic, rel=0.03)


def test_femoral_and_tibial_cartilage_apart(coarse_knee):
    labels = coarse_knee.labels.data
    geometry = coarse_knee.labels.geometry
    distance_mm = ndimage.distance_transform_edt(labels != LABELS["femoral_cartilage"], sampling=geometry.spacing_mm)
    tibial = np.isin(labels, [LABELS["medial_tibial_cartilage"], LABELS["lateral_tibial_cartilage"]])
    assert distance_mm[tibial].min() > 1.0


def test_patch_thins_cartilage(coarse_knee):
    femur_point = np.array([[21.0, 3.0, 2.5]])
    thinned = coarse_knee.true_thickness_mm(femur_point, "femur")[0]
    unpatched = build_anatomy(PhantomParams(grid="coarse"))
    original = unpatched.bones["femur"].plate_fields(femur_point)["thickness_mm"][0]
    assert thinned == pytest.approx(original - 1.0, abs=0.05)
    assert coarse_knee.patch_mask(femur_point, "femur")[0]


def test_truth_nan_off_cartilage(coarse_knee):
    shaft_point = np.array([[0.0, 15.0, 60.0]])
    assert np.isnan(coarse_knee.true_thickness_mm(shaft_point, "femur")[0])
    assert np.isnan(coarse_knee.true_t2_ms(shaft_point, "femur", "deep")[0])


def test_truth_t2_layers(coarse_knee):
    tibia_point = np.array([[20.0, 2.0, -7.5]])
    deep = coarse_knee.true_t2_ms(tibia_point, "tibia", "deep")[0]
    superficial = coarse_knee.true_t2_ms(tibia_point, "tibia", "superficial")[0]
    total = coarse_knee.true_t2_ms(tibia_point, "tibia", "total")[0]
    assert 25.0 < deep < 35.0
    assert 42.0 < superficial < 58.0
    assert total == pytest.approx(0.5 * (deep + superficial))


def test_truth_t2_invalid_layer(coarse_knee):
    with pytest.raises(InputError, match="middle"):
        coarse_knee.true_t2_ms(np.zeros((1, 3)), "tibia", "middle")


def test_msme_snr_matches_request(coarse_knee, patched_params):
    # Background (no signal): the magnitude is Rayleigh, E[M^2] = 2 sigma^2.
    first_echo = coarse_knee.msme.data[0]
    geometry = coarse_knee.msme.geometry
    ijk = np.argwhere(np.ones(geometry.shape, dtype=bool))
    points = geometry.index_to_lps(ijk)
    normal = geometry.direction[:, 2]
    pure_cartilage = np.ones(len(points), dtype=bool)
    empty = np.ones(len(points), dtype=bool)
    for offset in (-1.5, -1.0, 0.0, 1.0, 1.5):
        tissue = sample_tissue(coarse_knee.anatomy, points + offset * normal, geometry.spacing_mm[0])
        pure_cartilage &= tissue.cartilage_fraction >= 0.999
        empty &= (tissue.cartilage_fraction + tissue.bone_fraction) == 0.0
    values = first_echo.reshape(-1)
    sigma = np.sqrt(np.mean(values[empty].astype(float) ** 2) / 2.0)
    assert sigma == pytest.approx(coarse_knee.msme_noise_sigma, rel=0.05)
    # The T2 fields vary about their nominal means, so the cartilage signal varies by a few percent.
    assert np.mean(values[pure_cartilage]) / sigma == pytest.approx(patched_params.snr, rel=0.1)
    assert np.count_nonzero(pure_cartilage) > 50
    assert np.count_nonzero(empty) > 10_000


def test_dess_noise_matches_request(coarse_knee):
    labels = coarse_knee.labels.data
    far = ndimage.distance_transform_edt(labels == 0) > 6
    background = coarse_knee.dess.data[far]
    assert background.std() == pytest.approx(coarse_knee.dess_noise_sigma, rel=0.05)


def test_msme_rotated_and_shifted(coarse_knee):
    dess = coarse_knee.labels.geometry
    msme = coarse_knee.msme.geometry
    cosine = np.dot(dess.direction[:, 2], msme.direction[:, 2])
    angle_deg = np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))
    assert 1.0 < angle_deg < 10.0
    dess_centre = dess.index_to_lps((np.asarray(dess.shape) - 1) / 2.0)
    msme_centre = msme.index_to_lps((np.asarray(msme.shape) - 1) / 2.0)
    assert np.linalg.norm(msme_centre - dess_centre) > 1.0


def test_msme_dicom_files_and_headers(written_knee):
    files = sorted(written_knee.msme.glob("*.dcm"))
    headers = [pydicom.dcmread(path, stop_before_pixels=True) for path in files]
    assert len(files) == 7 * 36
    assert sorted({float(h.EchoTime) for h in headers}) == [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0]
    assert len({h.SeriesInstanceUID for h in headers}) == 1
    assert {h.Modality for h in headers} == {"MR"}
    assert {h.ImageLaterality for h in headers} == {"R"}
    assert {float(h.SliceThickness) for h in headers} == {3.0}
    assert {h.file_meta.TransferSyntaxUID for h in headers} == {ExplicitVRLittleEndian}
    assert {int(h.EchoNumbers) for h in headers} == set(range(1, 8))


def test_msme_dicom_reads_back(coarse_knee, written_knee):
    series = read_multi_echo(written_knee.msme)
    expected = coarse_knee.msme.geometry
    assert series.geometry.shape == expected.shape
    assert np.allclose(series.geometry.spacing_mm, expected.spacing_mm, atol=1e-4)
    assert np.allclose(series.geometry.origin_mm, expected.origin_mm, atol=1e-4)
    assert np.allclose(series.geometry.direction, expected.direction, atol=1e-6)
    assert np.allclose(series.echo_times_ms, np.arange(10.0, 71.0, 10.0))
    assert np.array_equal(series.data, coarse_knee.msme.data)


def test_dicom_big_endian_round_trip(tmp_path):
    geometry = Geometry((5, 4, 3), (0.5, 0.6, 3.0), (10.0, -20.0, 5.0), np.eye(3))
    rng = np.random.default_rng(0)
    data = rng.uniform(0.0, 900.0, size=(2, 5, 4, 3))
    volume = MultiEchoVolume(data, np.array([10.0, 20.0]), geometry)
    files = write_multi_echo_series(volume, tmp_path, transfer_syntax=ExplicitVRBigEndian)
    series = read_multi_echo(tmp_path)
    assert pydicom.dcmread(files[0]).file_meta.TransferSyntaxUID == ExplicitVRBigEndian
    assert np.allclose(series.data, data, atol=900.0 / 4095.0)
    assert np.allclose(series.geometry.origin_mm, geometry.origin_mm)


def test_dicom_rejects_left_handed_grid(tmp_path):
    direction = np.diag([1.0, 1.0, -1.0])
    geometry = Geometry((2, 2, 2), (1.0, 1.0, 3.0), (0.0, 0.0, 0.0), direction)
    volume = MultiEchoVolume(np.zeros((1, 2, 2, 2)), np.array([10.0]), geometry)
    with pytest.raises(InputError, match="left-handed"):
        write_multi_echo_series(volume, tmp_path)


def test_truth_files_and_arrays(written_knee, patched_params):
    for bone in ("femur", "tibia", "patella"):
        mesh = pv.read(written_knee.truth_dir / f"{bone}.vtp")
        for name in ("thickness_mm", "t2_ms", "t2_deep_ms", "t2_superficial_ms"):
            assert name in mesh.point_data, (bone, name)
        thickness = mesh["thickness_mm"]
        assert np.any(np.isnan(thickness)), bone
        assert 1.4 < np.nanmean(thickness) < 3.0, bone
    femur = pv.read(written_knee.truth_dir / "femur.vtp")
    assert femur["patch_mask"].sum() > 10
    summary = json.loads((written_knee.truth_dir / "phantom.json").read_text())
    assert PhantomParams.from_dict(summary["params"]) == patched_params


def test_written_images_match(coarse_knee, written_knee):
    labels = read_volume(written_knee.labels)
    dess = read_volume(written_knee.dess)
    assert np.array_equal(labels.data, coarse_knee.labels.data)
    assert np.allclose(dess.geometry.direction, coarse_knee.labels.geometry.direction, atol=1e-5)


def test_params_reject_bad_values():
    with pytest.raises(InputError, match="grid"):
        PhantomParams(grid="fine")
    with pytest.raises(InputError, match="centre_mm"):
        ThicknessPatch("femur")


def test_cli_phantom_writes_folder(tmp_path):
    status = main(["phantom", "--out", str(tmp_path / "knee"), "--grid", "coarse", "--seed", "2"])
    assert status == 0
    assert (tmp_path / "knee" / "labels.nrrd").exists()
    assert (tmp_path / "knee" / "truth" / "phantom.json").exists()


def _tibial_column(profile: str, plate_mm: float = 1.0):
    """Tissue every 0.005 mm along the normal through a tibial plateau point, from 3 mm below the bone surface."""
    anatomy = build_anatomy(PhantomParams(grid="coarse", t2_profile=profile, subchondral_plate_mm=plate_mm))
    surface_point = np.array([[20.0, 2.0, -7.5]])
    thickness_mm = anatomy.bones["tibia"].plate_fields(surface_point)["thickness_mm"][0]
    heights_mm = np.arange(-3.0, thickness_mm + 0.5, 0.005)
    points = surface_point + heights_mm[:, np.newaxis] * np.array([0.0, 0.0, 1.0])
    return anatomy, surface_point, heights_mm, thickness_mm, sample_tissue(anatomy, points, blur_mm=1e-3)


@pytest.mark.parametrize("profile", ["smooth", "linear", "step"])
def test_t2_profile_layer_means(profile):
    # Tolerance 0.05 ms: the depth sampling every 0.005 mm, not the profile, limits the agreement.
    anatomy, surface_point, heights_mm, thickness_mm, tissue = _tibial_column(profile)
    local_t2_ms = np.nansum(tissue.layer_fractions * tissue.layer_t2_ms, axis=0)
    relative_depth = heights_mm / thickness_mm
    deep = (relative_depth > 0.0) & (relative_depth < 0.5)
    superficial = (relative_depth >= 0.5) & (relative_depth < 1.0)
    truth = anatomy.bones["tibia"].plate_fields(surface_point)
    assert np.mean(local_t2_ms[deep]) == pytest.approx(truth["t2_deep_ms"][0], abs=0.05)
    assert np.mean(local_t2_ms[superficial]) == pytest.approx(truth["t2_superficial_ms"][0], abs=0.05)


def test_smooth_t2_profile_rises_with_depth():
    _, _, heights_mm, thickness_mm, tissue = _tibial_column("smooth")
    inside = (heights_mm > 0.0) & (heights_mm < thickness_mm)
    local_t2_ms = np.nansum(tissue.layer_fractions * tissue.layer_t2_ms, axis=0)[inside]
    assert np.all(np.diff(local_t2_ms) >= 0.0)
    assert local_t2_ms[-1] - local_t2_ms[0] > 25.0


def test_subchondral_plate_has_no_marrow():
    _, _, heights_mm, _, tissue = _tibial_column("smooth", plate_mm=1.0)
    in_plate = (heights_mm < -0.05) & (heights_mm > -0.95)
    in_marrow = heights_mm < -1.05
    assert np.all(tissue.bone_fraction[in_plate] == 1.0)
    assert np.all(tissue.marrow_fraction[in_plate] == 0.0)
    assert np.all(tissue.marrow_fraction[in_marrow] == 1.0)


def test_params_reject_bad_t2_profile():
    with pytest.raises(InputError, match="t2_profile"):
        PhantomParams(t2_profile="sigmoid")
    with pytest.raises(InputError, match="subchondral_plate_mm"):
        PhantomParams(subchondral_plate_mm=-1.0)
