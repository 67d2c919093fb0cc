"""Image grids and simulated DESS and MSME images of the phantom knee.

Noise is Rician: Gaussian noise of standard deviation ``sigma`` is added to
the real and imaginary channels of the noiseless (real) signal before the
magnitude is taken. ``sigma = reference_signal / snr``, where the reference
is the noiseless cartilage signal: 1000 in the DESS, and in the MSME the
mean of the deep and superficial cartilage signals at the first echo with
the nominal T2 values, ``0.5 * A * (exp(-TE1 / T2_deep) + exp(-TE1 / T2_superficial)) + C``.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from kneeviewer.io.volume import Geometry, MultiEchoVolume, Volume
from kneeviewer.phantom.anatomy import KneeAnatomy
from kneeviewer.phantom.params import PhantomParams
from kneeviewer.phantom.tissue import sample_tissue
from kneeviewer.progress import CancelCheck, check_cancel

#: Direction matrix of a real sagittal OAI-like DESS of a right knee
#: (columns: i toward posterior, j toward inferior, k toward patient right),
#: a rotation of about 5 degrees about z from the pure sagittal axes.
DESS_DIRECTION = np.array(
    [
        [-0.08715576, 0.0, -0.9961947],
        [0.9961947, 0.0, -0.08715576],
        [0.0, -1.0, 0.0],
    ]
)

#: LPS centre of every image grid: the knee spans y from about -51 to +26 mm.
GRID_CENTRE_MM = np.array([0.0, -12.0, 0.0])

DESS_GRIDS: dict[str, tuple[tuple[int, int, int], tuple[float, float, float]]] = {
    "oai": ((384, 384, 160), (0.364583, 0.364583, 0.7)),
    "coarse": ((192, 192, 80), (0.729167, 0.729167, 1.4)),
}
MSME_GRIDS: dict[str, tuple[tuple[int, int, int], tuple[float, float, float]]] = {
    "oai": ((256, 256, 36), (0.546875, 0.546875, 3.0)),
    "coarse": ((128, 128, 36), (1.09375, 1.09375, 3.0)),
}

ECHO_TIMES_MS = np.arange(1, 8) * 10.0

DESS_INTENSITY = {"cartilage": 1000.0, "bone": 300.0, "background": 150.0}
MSME_CARTILAGE_AMPLITUDE = 1000.0
MSME_BONE_AMPLITUDE = 600.0
MSME_BONE_T2_MS = 45.0
MSME_OFFSET = 20.0
#: Offsets in mm along the MSME slice normal at which the 3 mm slice profile is sampled.
MSME_SLICE_OFFSETS_MM = (-1.0, 0.0, 1.0)


def centred_geometry(shape: tuple[int, int, int], spacing_mm: tuple[float, float, float], direction: np.ndarray, centre_mm: np.ndarray) -> Geometry:
    """Return a grid of the given shape, spacing and direction whose centre lies at ``centre_mm``."""
    spacing = np.asarray(spacing_mm, dtype=float)
    half_extent = direction @ (spacing * (np.asarray(shape) - 1) / 2.0)
    return Geometry(shape, spacing, np.asarray(centre_mm) - half_extent, direction)


def dess_geometry(grid: str) -> Geometry:
    """Return the DESS grid ``"oai"`` or ``"coarse"`` (same field of view)."""
    shape, spacing = DESS_GRIDS[grid]
    return centred_geometry(shape, spacing, DESS_DIRECTION, GRID_CENTRE_MM)


def msme_geometry(params: PhantomParams) -> Geometry:
    """Return the MSME grid: sagittal 3 mm slices, rotated and shifted relative to the DESS."""
    shape, spacing = MSME_GRIDS[params.grid]
    axis = np.array([1.0, 2.0, 3.0]) / np.sqrt(14.0)
    rotation = Rotation.from_rotvec(np.deg2rad(params.msme_rotation_deg) * axis).as_matrix()
    return centred_geometry(shape, spacing, rotation @ DESS_DIRECTION, GRID_CENTRE_MM + np.asarray(params.msme_shift_mm))


def rician(signal: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Return the magnitude of ``signal`` plus complex Gaussian noise of SD ``sigma`` per channel."""
    real = signal + rng.normal(0.0, sigma, size=signal.shape).astype(np.float32)
    imaginary = rng.normal(0.0, sigma, size=signal.shape).astype(np.float32)
    return np.hypot(real, imaginary).astype(np.float32)


def msme_reference_signal(params: PhantomParams) -> float:
    """Noiseless first-echo cartilage signal that defines the MSME SNR."""
    first = ECHO_TIMES_MS[0]
    decay = 0.5 * (np.exp(-first / params.t2_deep_ms) + np.exp(-first / params.t2_superficial_ms))
    return float(MSME_CARTILAGE_AMPLITUDE * decay + MSME_OFFSET)


def voxelise(
    anatomy: KneeAnatomy,
    geometry: Geometry,
    rng: np.random.Generator,
    should_cancel: CancelCheck | None = None,
) -> tuple[Volume, Volume, float]:
    """Return the label map, the DESS-like image and its noise SD on ``geometry``."""
    labels = np.zeros(geometry.shape, dtype=np.uint8)
    clean = np.full(geometry.shape, DESS_INTENSITY["background"], dtype=np.float32)
    blur_mm = float(np.cbrt(geometry.voxel_volume_mm3()))
    for i_start, i_stop, points in _slabs(geometry, anatomy):
        check_cancel(should_cancel, "phantom labels")
        tissue = sample_tissue(anatomy, points, blur_mm)
        shape = (i_stop - i_start,) + geometry.shape[1:]
        labels[i_start:i_stop] = tissue.label.reshape(shape)
        cartilage = tissue.cartilage_fraction
        background = np.clip(1.0 - tissue.bone_fraction - cartilage, 0.0, 1.0)
        intensity = (
            DESS_INTENSITY["cartilage"] * cartilage
            + DESS_INTENSITY["bone"] * tissue.bone_fraction
            + DESS_INTENSITY["background"] * background
        )
        clean[i_start:i_stop] = intensity.reshape(shape)
    sigma = DESS_INTENSITY["cartilage"] / anatomy.params.snr
    dess = rician(clean, sigma, rng)
    return Volume(labels, geometry), Volume(dess, geometry), sigma


def simulate_msme(
    anatomy: KneeAnatomy,
    geometry: Geometry,
    rng: np.random.Generator,
    should_cancel: CancelCheck | None = None,
) -> tuple[MultiEchoVolume, float]:
    """Return the 7-echo MSME series (rounded to integers, as stored in DICOM) and its noise SD."""
    params = anatomy.params
    signal = np.zeros((len(ECHO_TIMES_MS),) + geometry.shape, dtype=np.float32)
    normal = geometry.direction[:, 2]
    in_plane_mm = float(np.sqrt(geometry.spacing_mm[0] * geometry.spacing_mm[1]))
    weight = 1.0 / len(MSME_SLICE_OFFSETS_MM)
    for i_start, i_stop, points in _slabs(geometry, anatomy):
        check_cancel(should_cancel, "phantom MSME")
        shape = (i_stop - i_start,) + geometry.shape[1:]
        for offset in MSME_SLICE_OFFSETS_MM:
            tissue = sample_tissue(anatomy, points + offset * normal, in_plane_mm)
            deep_t2 = np.nan_to_num(tissue.t2_deep_ms, nan=1.0)
            superficial_t2 = np.nan_to_num(tissue.t2_superficial_ms, nan=1.0)
            tissue_fraction = np.clip(tissue.bone_fraction + tissue.cartilage_fraction, 0.0, 1.0)
            for echo, te in enumerate(ECHO_TIMES_MS):
                value = (
                    MSME_CARTILAGE_AMPLITUDE * tissue.deep_fraction * np.exp(-te / deep_t2)
                    + MSME_CARTILAGE_AMPLITUDE * tissue.superficial_fraction * np.exp(-te / superficial_t2)
                    + MSME_BONE_AMPLITUDE * tissue.bone_fraction * np.exp(-te / MSME_BONE_T2_MS)
                    + MSME_OFFSET * tissue_fraction
                )
                signal[echo, i_start:i_stop] += weight * value.reshape(shape).astype(np.float32)
    sigma = msme_reference_signal(params) / params.snr
    noisy = np.round(rician(signal, sigma, rng))
    metadata = {
        "SeriesDescription": "phantom MSME T2",
        "ImageLaterality": "R",
        "snr": params.snr,
        "noise_sigma": sigma,
    }
    return MultiEchoVolume(noisy, ECHO_TIMES_MS.copy(), geometry, metadata), sigma


def _slabs(geometry: Geometry, anatomy: KneeAnatomy, voxels_per_slab: int = 600_000):
    """Yield ``(i_start, i_stop, points)`` slabs along index axis 0, points in LPS mm."""
    ni, nj, nk = geometry.shape
    step = max(1, voxels_per_slab // (nj * nk))
    j, k = np.meshgrid(np.arange(nj), np.arange(nk), indexing="ij")
    for i_start in range(0, ni, step):
        i_stop = min(ni, i_start + step)
        i = np.arange(i_start, i_stop)
        ijk = np.empty((len(i), nj, nk, 3))
        ijk[..., 0] = i[:, None, None]
        ijk[..., 1] = j[None]
        ijk[..., 2] = k[None]
        yield i_start, i_stop, geometry.index_to_lps(ijk.reshape(-1, 3))
