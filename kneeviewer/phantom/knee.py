"""The phantom knee: a synthetic right knee with known cartilage thickness and T2.

``make_phantom_knee`` builds the analytic anatomy of
:mod:`kneeviewer.phantom.anatomy`, voxelises it on a DESS grid (label map
and a DESS-like image with Rician noise) and simulates a 7-echo MSME series
on a rotated and shifted grid. ``write_phantom`` also writes the truth: bone
meshes with per-vertex thickness and T2, and the parameters.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyvista as pv

from kneeviewer import __version__
from kneeviewer.errors import InputError
from kneeviewer.io.dicom_write import write_multi_echo_series
from kneeviewer.io.volume import MultiEchoVolume, Volume, write_volume
from kneeviewer.phantom.anatomy import LABELS, KneeAnatomy, build_anatomy
from kneeviewer.phantom.imaging import dess_geometry, msme_geometry, msme_reference_signal, simulate_msme, voxelise
from kneeviewer.phantom.params import PHANTOM_BONES, PhantomParams
from kneeviewer.phantom.truth import bone_surface, cartilage_volume_mm3, truth_arrays
from kneeviewer.progress import CancelCheck, ProgressCallback, check_cancel, report

log = logging.getLogger(__name__)

#: Sampling step of the truth meshes for each grid, in mm.
TRUTH_MESH_SPACING_MM = {"oai": 0.5, "coarse": 1.0}
T2_LAYERS = ("total", "deep", "superficial")


@dataclass
class PhantomKnee:
    """One phantom knee: images and the analytic truth behind them.

    Attributes
    ----------
    params : PhantomParams
        The parameters with any random shape draw applied.
    anatomy : KneeAnatomy
        The analytic bones and cartilage plates.
    labels : Volume
        uint8 label map on the DESS grid (default schema values).
    dess : Volume
        int16 DESS-like image on the same grid.
    msme : MultiEchoVolume
        7-echo MSME signal, integer-valued float32, on its own grid.
    dess_noise_sigma, msme_noise_sigma : float
        Standard deviation of the Gaussian noise per channel.
    msme_reference_signal : float
        Noiseless first-echo cartilage signal; ``snr = reference / sigma``.
    """

    params: PhantomParams
    anatomy: KneeAnatomy
    labels: Volume
    dess: Volume
    msme: MultiEchoVolume
    dess_noise_sigma: float
    msme_noise_sigma: float
    msme_reference_signal: float

    def true_thickness_mm(self, points_mm: np.ndarray, bone: str) -> np.ndarray:
        """Return the cartilage thickness along the normal at bone-surface points, NaN off cartilage.

        Parameters
        ----------
        points_mm : ndarray, shape (n, 3)
            LPS points on (or within about a voxel of) the bone surface.
        bone : str
            ``"femur"``, ``"tibia"`` or ``"patella"``.
        """
        return truth_arrays(self._bone(bone), points_mm)["thickness_mm"]

    def true_t2_ms(self, points_mm: np.ndarray, bone: str, layer: str = "total") -> np.ndarray:
        """Return the T2 of the cartilage above bone-surface points, NaN off cartilage.

        ``layer`` is ``"deep"`` (bone-side half), ``"superficial"``
        (articular half) or ``"total"`` (their mean, the mean along the normal).
        """
        if layer not in T2_LAYERS:
            raise InputError(f"T2 layer '{layer}' is invalid; use one of {', '.join(T2_LAYERS)}.")
        name = "t2_ms" if layer == "total" else f"t2_{layer}_ms"
        return truth_arrays(self._bone(bone), points_mm)[name]

    def patch_mask(self, points_mm: np.ndarray, bone: str) -> np.ndarray:
        """Return True at bone-surface points inside a thickness patch."""
        return truth_arrays(self._bone(bone), points_mm)["patch_mask"]

    def cartilage_volume_mm3(self, structure: str) -> float:
        """Return the analytic volume of a cartilage structure in mm^3."""
        for bone in self.anatomy.bones.values():
            if any(plate.structure == structure for plate in bone.plates):
                return cartilage_volume_mm3(bone, structure)
        raise InputError(f"Phantom structure '{structure}' is not a cartilage plate; use one of {', '.join(LABELS)}.")

    def bone_surface(self, bone: str, spacing_mm: float | None = None) -> pv.PolyData:
        """Return the analytic bone surface (cut to the DESS field of view) with truth point arrays."""
        spacing = TRUTH_MESH_SPACING_MM[self.params.grid] if spacing_mm is None else spacing_mm
        return bone_surface(self._bone(bone), self.labels.geometry, spacing)

    def _bone(self, bone: str):
        try:
            return self.anatomy.bones[bone]
        except KeyError:
            raise InputError(f"Phantom bone '{bone}' is unknown; use one of {', '.join(PHANTOM_BONES)}.") from None


@dataclass(frozen=True)
class PhantomPaths:
    """Files written by :func:`write_phantom`.

    Attributes
    ----------
    labels : Path
        ``labels.nrrd``, the label map (default schema).
    dess : Path
        ``dess.nii.gz``, the DESS-like image.
    msme : Path
        ``msme/``, the folder of MSME DICOM files.
    truth_dir : Path
        ``truth/`` with ``<bone>.vtp`` and ``phantom.json``.
    """

    labels: Path
    dess: Path
    msme: Path
    truth_dir: Path


def make_phantom_knee(
    params: PhantomParams | None = None,
    progress: ProgressCallback | None = None,
    should_cancel: CancelCheck | None = None,
) -> PhantomKnee:
    """Build a phantom knee; equal parameters give identical arrays.

    Parameters
    ----------
    params : PhantomParams, optional
        Defaults to ``PhantomParams()`` (seed 0, SNR 50, OAI grid).
    progress, should_cancel : callable, optional
        Progress and cancellation callbacks.
    """
    params = (params or PhantomParams()).resolved()
    dess_seed, msme_seed = np.random.SeedSequence([int(params.seed), 2]).spawn(2)
    anatomy = build_anatomy(params)
    report(progress, "phantom", 0.05, "voxelising the phantom knee")
    labels, dess, dess_sigma = voxelise(anatomy, dess_geometry(params.grid), np.random.default_rng(dess_seed), should_cancel)
    check_cancel(should_cancel, "phantom MSME")
    report(progress, "phantom", 0.6, "simulating the MSME series")
    msme, msme_sigma = simulate_msme(anatomy, msme_geometry(params), np.random.default_rng(msme_seed), should_cancel)
    report(progress, "phantom", 0.8, "phantom images done")
    return PhantomKnee(params, anatomy, labels, dess, msme, dess_sigma, msme_sigma, msme_reference_signal(params))


def write_phantom(
    out_dir: str | Path,
    params: PhantomParams | None = None,
    progress: ProgressCallback | None = None,
    should_cancel: CancelCheck | None = None,
    *,
    knee: PhantomKnee | None = None,
) -> PhantomPaths:
    """Write a phantom knee and its truth to ``out_dir``.

    Writes ``labels.nrrd``, ``dess.nii.gz``, ``msme/`` (one DICOM file per
    slice and echo), ``truth/<bone>.vtp`` (bone meshes with point arrays
    ``thickness_mm``, ``t2_ms``, ``t2_deep_ms``, ``t2_superficial_ms``, NaN
    without cartilage, and ``patch_mask`` when patches exist) and
    ``truth/phantom.json`` (parameters, noise and analytic volumes).
    Pass ``knee`` to write an already built knee.
    """
    out_dir = Path(out_dir)
    if knee is None:
        knee = make_phantom_knee(params, progress, should_cancel)
    params = knee.params
    paths = PhantomPaths(out_dir / "labels.nrrd", out_dir / "dess.nii.gz", out_dir / "msme", out_dir / "truth")
    out_dir.mkdir(parents=True, exist_ok=True)
    write_volume(knee.labels, paths.labels)
    write_volume(knee.dess, paths.dess)
    check_cancel(should_cancel, "phantom DICOM")
    report(progress, "phantom", 0.85, "writing the MSME DICOM series")
    write_multi_echo_series(knee.msme, paths.msme, laterality="R", series_description="phantom MSME T2")
    paths.truth_dir.mkdir(parents=True, exist_ok=True)
    for index, bone in enumerate(PHANTOM_BONES):
        check_cancel(should_cancel, "phantom truth meshes")
        report(progress, "phantom", 0.9 + 0.03 * index, f"writing the {bone} truth mesh")
        knee.bone_surface(bone).save(paths.truth_dir / f"{bone}.vtp")
    summary = {
        "kneeviewer_version": __version__,
        "params": params.to_dict(),
        "labels": LABELS,
        "dess_noise_sigma": knee.dess_noise_sigma,
        "msme_noise_sigma": knee.msme_noise_sigma,
        "msme_reference_signal": knee.msme_reference_signal,
        "snr_definition": "noiseless cartilage signal (MSME: first echo) / SD of the Gaussian noise per channel",
        "echo_times_ms": knee.msme.echo_times_ms.tolist(),
        "cartilage_volume_mm3": {
            structure: knee.cartilage_volume_mm3(structure)
            for structure in ("femoral_cartilage", "medial_tibial_cartilage", "lateral_tibial_cartilage", "patellar_cartilage")
        },
    }
    (paths.truth_dir / "phantom.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    report(progress, "phantom", 1.0, f"phantom knee written to {out_dir}")
    log.info("Phantom knee (seed %d, SNR %g, grid %s) written to %s", params.seed, params.snr, params.grid, out_dir)
    return paths
