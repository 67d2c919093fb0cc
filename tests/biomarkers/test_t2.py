"""T2 fit on synthetic and real multi-echo signals, and MSME-to-DESS resampling."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import curve_fit
from scipy.spatial.transform import Rotation

from kneeviewer.biomarkers.resample import resample_to_geometry, resample_volume
from kneeviewer.biomarkers.t2 import fit_t2, foreground_mask, log_linear_t2
from kneeviewer.errors import Cancelled, FitError, InputError
from kneeviewer.io.volume import Geometry, MultiEchoVolume, Volume

ECHO_TIMES_MS = 6.312 * np.arange(1, 9)


def _signal(t2_ms, amplitude=1000.0, offset=50.0, echo_times_ms=ECHO_TIMES_MS):
    t2_ms = np.asarray(t2_ms, dtype=float)
    decay = np.exp(-echo_times_ms.reshape(-1, *([1] * t2_ms.ndim)) / t2_ms)
    return amplitude * decay + offset


# -------------------------------------------------------------- synthetic


def test_fit_noise_free_exact():
    t2_true = np.linspace(10.0, 150.0, 50)
    fit = fit_t2(_signal(t2_true), ECHO_TIMES_MS)
    assert np.allclose(fit.t2_ms, t2_true, rtol=1e-4)
    assert np.allclose(fit.amplitude, 1000.0, rtol=1e-3)
    assert np.allclose(fit.offset, 50.0, atol=0.5)
    assert fit.counts["fitted"] == 50


def test_fit_noisy_known_t2():
    # Noise sigma 2 against amplitude 1000. The offset C trades off against
    # T2, so the spread grows with T2: about 0.3 ms at 30 ms and 1 ms at 50 ms.
    rng = np.random.default_rng(7)
    t2_true = rng.uniform(20.0, 60.0, size=(20, 25, 4))
    echoes = _signal(t2_true) + rng.normal(0.0, 2.0, size=(8, *t2_true.shape))
    fit = fit_t2(echoes, ECHO_TIMES_MS)
    error = fit.t2_ms - t2_true
    assert fit.counts["fitted"] == t2_true.size
    assert np.median(np.abs(error)) < 1.0
    assert abs(np.median(error)) < 0.2  # no bias beyond 0.2 ms in either direction
    assert np.all(fit.r2 > 0.99)


def test_fit_non_decaying_voxel_nan():
    echoes = _signal(np.array([40.0, 40.0, 40.0]))
    echoes[:, 1] = 500.0  # flat
    echoes[:, 2] = 100.0 + 10.0 * np.arange(8)  # rising
    fit = fit_t2(echoes, ECHO_TIMES_MS)
    assert np.isfinite(fit.t2_ms[0])
    assert np.isnan(fit.t2_ms[1])
    assert np.isnan(fit.t2_ms[2])
    assert np.isnan(fit.r2[2])
    assert fit.counts["implausible"] == 2
    assert fit.counts["fitted"] == 1


def test_fit_t2_outside_range_implausible():
    fit = fit_t2(_signal(np.array([40.0, 400.0])), ECHO_TIMES_MS, t2_range_ms=(1.0, 200.0))
    assert np.isfinite(fit.t2_ms[0])
    assert np.isnan(fit.t2_ms[1])
    assert fit.counts["implausible"] == 1


def test_fit_noise_low_r2_implausible():
    rng = np.random.default_rng(2)
    echoes = 1000.0 + rng.normal(0.0, 100.0, size=(8, 200))
    fit = fit_t2(echoes, ECHO_TIMES_MS, min_r2=0.8)
    assert fit.counts["fitted"] < 10
    assert fit.counts["implausible"] + fit.counts["failed"] + fit.counts["fitted"] == 200


def test_fit_mask_and_nan_signal():
    echoes = _signal(np.full((4, 5), 35.0))
    echoes[:, 0, 0] = np.nan
    mask = np.ones((4, 5), dtype=bool)
    mask[3] = False
    fit = fit_t2(echoes, ECHO_TIMES_MS, mask)
    assert fit.counts == {"fitted": 14, "failed": 0, "implausible": 0, "no_signal": 1, "masked_out": 5}
    assert np.all(np.isnan(fit.t2_ms[3]))
    assert np.isnan(fit.t2_ms[0, 0])
    assert fit.t2_ms.dtype == np.float32


def test_fit_chunks_give_same_result():
    rng = np.random.default_rng(5)
    t2_true = rng.uniform(20.0, 80.0, size=300)
    echoes = _signal(t2_true) + rng.normal(0.0, 5.0, size=(8, 300))
    whole = fit_t2(echoes, ECHO_TIMES_MS)
    chunked = fit_t2(echoes, ECHO_TIMES_MS, chunk_voxels=7)
    assert np.allclose(whole.t2_ms, chunked.t2_ms, equal_nan=True)


def test_fit_progress_and_cancel():
    echoes = _signal(np.full(50, 30.0))
    calls = []
    fit_t2(echoes, ECHO_TIMES_MS, chunk_voxels=10, progress=lambda stage, fraction, message: calls.append((stage, fraction)))
    assert calls[-1] == ("t2", 1.0)
    assert all(stage == "t2" for stage, _ in calls)
    with pytest.raises(Cancelled):
        fit_t2(echoes, ECHO_TIMES_MS, should_cancel=lambda: True)


def test_fit_rejects_three_echoes():
    with pytest.raises(FitError, match="at least 4 echoes"):
        fit_t2(np.ones((3, 10)), ECHO_TIMES_MS[:3])


def test_fit_rejects_mask_shape():
    with pytest.raises(FitError, match="Mask shape"):
        fit_t2(np.ones((8, 10)), ECHO_TIMES_MS, np.ones(9, dtype=bool))


def test_fit_rejects_duplicate_echo_times():
    with pytest.raises(FitError, match="distinct"):
        fit_t2(np.ones((4, 10)), np.array([10.0, 20.0, 20.0, 30.0]))


# -------------------------------------------------------------- real data


@pytest.mark.sample_data
def test_fit_agrees_with_curve_fit(knee_sample_dir):
    from kneeviewer.io.dicom import read_multi_echo

    series = read_multi_echo(knee_sample_dir / "mese_t2_dicom")
    # Cartilage-like voxels: bright on the first echo, log-linear T2 between 20 and 80 ms.
    signal = series.data.reshape(8, -1).astype(float)
    bright = np.flatnonzero(foreground_mask(series.data[0]).ravel())
    _, rate = log_linear_t2(signal[:, bright], series.echo_times_ms)
    candidates = bright[(rate > 1 / 80) & (rate < 1 / 20)]
    sample = np.random.default_rng(11).choice(candidates, size=300, replace=False)
    fit = fit_t2(signal[:, sample], series.echo_times_ms)

    def model(te, amplitude, rate_per_ms, offset):
        return amplitude * np.exp(-rate_per_ms * te) + offset

    differences = []
    for column, ours in zip(signal[:, sample].T, fit.t2_ms):
        scale = column.max()
        amplitude0, rate0 = log_linear_t2(column[:, np.newaxis] / scale, series.echo_times_ms)
        try:
            params, _ = curve_fit(
                model, series.echo_times_ms, column / scale, p0=[amplitude0[0], rate0[0], 0.0], method="lm", maxfev=5000
            )
        except RuntimeError:
            continue  # curve_fit did not converge
        if np.isfinite(ours) and params[1] > 0:
            differences.append(abs(1.0 / params[1] - ours))
    assert len(differences) >= 200
    assert np.median(differences) <= 0.5


# -------------------------------------------------------------- resampling


def _dess_geometry():
    return Geometry(shape=(40, 36, 30), spacing_mm=(0.5, 0.5, 0.7), origin_mm=(-10.0, -9.0, -10.0))


def _msme_geometry():
    direction = Rotation.from_euler("zx", [25.0, 10.0], degrees=True).as_matrix()
    return Geometry(shape=(30, 30, 12), spacing_mm=(0.8, 0.8, 2.0), origin_mm=(-12.0, -13.0, -9.0), direction=direction)


def _blob(geometry, centre_mm, sigma_mm=2.0):
    ijk = np.stack(np.meshgrid(*[np.arange(n) for n in geometry.shape], indexing="ij"), axis=-1)
    distance_squared = ((geometry.index_to_lps(ijk) - centre_mm) ** 2).sum(axis=-1)
    return 1000.0 * np.exp(-distance_squared / (2 * sigma_mm**2))


def test_resample_point_lands_on_dess_voxel():
    dess, msme = _dess_geometry(), _msme_geometry()
    centre_mm = dess.index_to_lps([21, 17, 14])
    echoes = np.stack([_blob(msme, centre_mm) * f for f in (1.0, 0.6, 0.3, 0.1)]).astype(np.float32)
    series = MultiEchoVolume(echoes, np.array([10.0, 20.0, 30.0, 40.0]), msme, {"series_uid": "1"})
    resampled = resample_to_geometry(series, dess)
    assert resampled.data.shape == (4, 40, 36, 30)
    peak = np.unravel_index(np.nanargmax(resampled.data[0]), dess.shape)
    assert peak == (21, 17, 14)
    assert resampled.data[0][peak] == pytest.approx(1000.0, rel=0.05)  # sigma 2 mm is smooth at 0.8 to 2 mm steps


def test_resample_same_transform_every_echo():
    dess, msme = _dess_geometry(), _msme_geometry()
    blob = _blob(msme, dess.index_to_lps([20, 18, 15]))
    series = MultiEchoVolume(np.stack([blob, 0.5 * blob]).astype(np.float32), np.array([10.0, 20.0]), msme)
    resampled = resample_to_geometry(series, dess)
    inside = np.isfinite(resampled.data[0]) & (resampled.data[0] > 1.0)
    assert np.allclose(resampled.data[1][inside], 0.5 * resampled.data[0][inside], rtol=1e-5)


def test_resample_outside_field_of_view_nan():
    dess, msme = _dess_geometry(), _msme_geometry()
    series = MultiEchoVolume(np.ones((2, *msme.shape), dtype=np.float32), np.array([10.0, 20.0]), msme)
    resampled = resample_to_geometry(series, dess)
    outside = np.any(np.isnan(resampled.data), axis=0)
    points = dess.index_to_lps(np.argwhere(outside))
    index = msme.lps_to_index(points)
    beyond = np.any((index < -0.5) | (index > np.array(msme.shape) - 0.5), axis=1)
    assert outside.any()
    assert np.all(beyond)
    assert np.all(np.isfinite(resampled.data[:, 20, 18, 15]))


def test_resample_volume_linear_ramp():
    dess, msme = _dess_geometry(), _msme_geometry()
    ijk = np.stack(np.meshgrid(*[np.arange(n) for n in msme.shape], indexing="ij"), axis=-1)
    ramp = msme.index_to_lps(ijk)[..., 0]  # value = LPS x in mm
    resampled = resample_volume(Volume(ramp.astype(np.float32), msme), dess, "linear")
    dess_ijk = np.stack(np.meshgrid(*[np.arange(n) for n in dess.shape], indexing="ij"), axis=-1)
    points = dess.index_to_lps(dess_ijk)
    expected = points[..., 0]
    # Within half a voxel of the border ITK repeats the edge value, so compare only between voxel centres.
    msme_index = msme.lps_to_index(points.reshape(-1, 3)).reshape(points.shape)
    inside = np.all((msme_index >= 0) & (msme_index <= np.array(msme.shape) - 1), axis=-1)
    assert inside.sum() > 1000
    assert np.all(np.isfinite(resampled.data[inside]))
    assert np.allclose(resampled.data[inside], expected[inside], atol=1e-3)


def test_resample_volume_nearest_keeps_labels():
    dess, msme = _dess_geometry(), _msme_geometry()
    labels = np.zeros(msme.shape, dtype=np.uint8)
    labels[10:20, 10:20, 4:8] = 3
    resampled = resample_volume(Volume(labels, msme), dess, "nearest")
    assert resampled.data.dtype == np.uint8
    assert set(np.unique(resampled.data)) <= {0, 3}


def test_resample_volume_unknown_interpolator():
    with pytest.raises(InputError, match="Unknown interpolator"):
        resample_volume(Volume(np.zeros((2, 2, 2)), Geometry((2, 2, 2), (1, 1, 1), (0, 0, 0))), _dess_geometry(), "cubic")
