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
from kneeviewer.phantom.sampling import classify_blocks, near_point_chunks
from kneeviewer.phantom.tissue import sample_tissue
from kneeviewer.progress import CancelCheck, check_cancel

#: Direction matrix of a real sagittal DESS of a right knee (columns: i
#: toward posterior, j toward inferior, k toward patient right), a rotation
#: of 5 degrees about z from the pure sagittal axes.
SAMPLE_DESS_DIRECTION = np.array(
    [
        [-0.08715576, 0.0, -0.9961947],
        [0.9961947, 0.0, -0.08715576],
        [0.0, -1.0, 0.0],
    ]
)

#: The phantom DESS grid is that sample direction tilted a further 7 degrees
#: about x and 4 degrees about y (an oblique sagittal plan). The 7 degrees in
#: the sagittal plane stand for the posterior slope of a real tibial plateau
#: and a slightly flexed knee. Without a tilt the flat tibial plateau would lie
#: exactly along voxel rows, and the centre rule would round its bone face by
#: the same fraction of a voxel everywhere, biasing tibial thickness by up to
#: half a voxel. At 2 degrees the rounding still stayed the same over runs of
#: about 10 pixels (3.6 mm), wider than the projection cylinder, which doubled
#: the per-vertex thickness error of the flat tibial and patellar plates.
DESS_DIRECTION = Rotation.from_rotvec(np.deg2rad([7.0, 4.0, 0.0])).as_matrix() @ SAMPLE_DESS_DIRECTION

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
    real = rng.standard_normal(size=signal.shape, dtype=np.float32)
    real *= np.float32(sigma)
    real += signal
    imaginary = rng.standard_normal(size=signal.shape, dtype=np.float32)
    imaginary *= np.float32(sigma)
    return np.hypot(real, imaginary, out=real)


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
    """Return the label map (uint8), the DESS-like image (int16) and its noise SD on ``geometry``."""
    blur_mm = float(np.cbrt(geometry.voxel_volume_mm3()))
    near, inside_label = classify_blocks(anatomy, geometry, blur_mm)
    labels = inside_label.copy()
    clean = np.where(inside_label > 0, DESS_INTENSITY["bone"], DESS_INTENSITY["background"]).astype(np.float32)
    flat_labels = labels.reshape(-1)
    flat_clean = clean.reshape(-1)
    for indices, points in near_point_chunks(geometry, near):
        check_cancel(should_cancel, "phantom labels")
        tissue = sample_tissue(anatomy, points, blur_mm)
        flat_labels[indices] = tissue.label
        cartilage = tissue.cartilage_fraction
        background = np.clip(1.0 - tissue.bone_fraction - cartilage, 0.0, 1.0)
        flat_clean[indices] = (
            DESS_INTENSITY["cartilage"] * cartilage
            + DESS_INTENSITY["bone"] * tissue.bone_fraction
            + DESS_INTENSITY["background"] * background
        )
    sigma = DESS_INTENSITY["cartilage"] / anatomy.params.snr
    # Stored as integers like a scanner's DESS; that also makes dess.nii.gz 3x smaller and faster to write.
    dess = np.clip(np.round(rician(clean, sigma, rng)), 0, np.iinfo(np.int16).max).astype(np.int16)
    return Volume(labels, geometry), Volume(dess, geometry), sigma


def simulate_msme(
    anatomy: KneeAnatomy,
    geometry: Geometry,
    rng: np.random.Generator,
    should_cancel: CancelCheck | None = None,
) -> tuple[MultiEchoVolume, float]:
    """Return the 7-echo MSME series (rounded to integers, as stored in DICOM) and its noise SD.

    Each voxel averages the signal at three depths through its 3 mm slice
    (the slice profile); in-plane edges use partial-volume fractions.
    Cartilage signal sums the T2 sublayers of :mod:`kneeviewer.phantom.tissue`;
    bone gives marrow signal only below the signal-free subchondral plate
    (``params.subchondral_plate_mm``).
    """
    params = anatomy.params
    normal = geometry.direction[:, 2]
    in_plane_mm = float(np.sqrt(geometry.spacing_mm[0] * geometry.spacing_mm[1]))
    largest_offset = max(abs(offset) for offset in MSME_SLICE_OFFSETS_MM)
    # Far inside a bone is marrow; the near band must hold the dark subchondral plate.
    margin_mm = max(in_plane_mm + largest_offset, params.subchondral_plate_mm + in_plane_mm)
    near, inside_label = classify_blocks(anatomy, geometry, margin_mm)
    bone_signal = MSME_BONE_AMPLITUDE * np.exp(-ECHO_TIMES_MS / MSME_BONE_T2_MS) + MSME_OFFSET
    signal = np.zeros((len(ECHO_TIMES_MS),) + geometry.shape, dtype=np.float32)
    signal[:, inside_label > 0] = bone_signal[:, np.newaxis]
    flat_signal = signal.reshape(len(ECHO_TIMES_MS), -1)
    weight = 1.0 / len(MSME_SLICE_OFFSETS_MM)
    for indices, points in near_point_chunks(geometry, near):
        check_cancel(should_cancel, "phantom MSME")
        accumulated = np.zeros((len(ECHO_TIMES_MS), len(indices)), dtype=np.float32)
        for offset in MSME_SLICE_OFFSETS_MM:
            tissue = sample_tissue(anatomy, points + offset * normal, in_plane_mm)
            layer_t2 = np.nan_to_num(tissue.layer_t2_ms, nan=1.0)
            tissue_fraction = np.clip(tissue.bone_fraction + tissue.cartilage_fraction, 0.0, 1.0)
            for echo, te in enumerate(ECHO_TIMES_MS):
                cartilage = np.sum(tissue.layer_fractions * np.exp(-te / layer_t2), axis=0)
                accumulated[echo] += weight * (
                    MSME_CARTILAGE_AMPLITUDE * cartilage
                    + MSME_BONE_AMPLITUDE * tissue.marrow_fraction * np.exp(-te / MSME_BONE_T2_MS)
                    + MSME_OFFSET * tissue_fraction
                )
        flat_signal[:, indices] = accumulated
    sigma = msme_reference_signal(params) / params.snr
    noisy = np.round(rician(signal, sigma, rng))
    metadata = {
        "SeriesDescription": "phantom MSME T2",
        "ImageLaterality": "R",
        "snr": params.snr,
        "noise_sigma": sigma,
    }
    return MultiEchoVolume(noisy, ECHO_TIMES_MS.copy(), geometry, metadata), sigma
