"""Resampling of volumes and multi-echo series onto another grid in LPS space.

MSME T2 series and DESS images of one session share the scanner's patient
coordinate system. The MSME is therefore aligned to the DESS rigidly from
the DICOM geometry alone, without image registration. Every DESS voxel
centre is mapped to the MSME's continuous index and interpolated there. Both inputs
must be in the same knee convention (both mirrored to right-knee convention
or neither).
"""

from __future__ import annotations

import logging

import numpy as np
import SimpleITK as sitk

from kneeviewer.errors import InputError
from kneeviewer.io.volume import Geometry, MultiEchoVolume, Volume, from_sitk, to_sitk
from kneeviewer.progress import CancelCheck, ProgressCallback, check_cancel, report

log = logging.getLogger(__name__)

#: SimpleITK interpolators by name. ``bspline`` is the cubic B-spline
#: (order 3), the bicubic interpolation used to match MSME to DESS.
INTERPOLATORS = {
    "nearest": sitk.sitkNearestNeighbor,
    "linear": sitk.sitkLinear,
    "bspline": sitk.sitkBSpline,
}


def resample_volume(
    volume: Volume,
    reference: Geometry,
    interpolator: str = "linear",
    transform: sitk.Transform | None = None,
) -> Volume:
    """Resample a volume onto the grid of ``reference``.

    Parameters
    ----------
    volume : Volume
        Image to resample.
    reference : Geometry
        Target grid in LPS mm.
    interpolator : {"linear", "nearest", "bspline"}
        ``"bspline"`` is cubic B-spline interpolation; use ``"nearest"`` for
        label maps.
    transform : SimpleITK.Transform, optional
        Maps reference points to ``volume`` points; identity when omitted,
        which is right for two images placed in one patient space.

    Returns
    -------
    Volume
        On ``reference``. float32 with NaN outside the field of view of
        ``volume``, except for ``"nearest"``, which keeps the input dtype
        and fills 0 there (integer label maps have no NaN).

    Raises
    ------
    InputError
        If ``interpolator`` is not one of the names above.
    """
    if interpolator not in INTERPOLATORS:
        raise InputError(f"Unknown interpolator {interpolator!r}; use one of {', '.join(INTERPOLATORS)}.")
    transform = transform if transform is not None else sitk.Transform(3, sitk.sitkIdentity)
    keep_dtype = interpolator == "nearest"
    image = to_sitk(volume if keep_dtype else volume.with_data(volume.data.astype(np.float32, copy=False)))
    resampled = sitk.Resample(
        image,
        _reference_image(reference),
        transform,
        INTERPOLATORS[interpolator],
        0.0 if keep_dtype else float("nan"),
        image.GetPixelID(),
    )
    return from_sitk(resampled)


def resample_to_geometry(
    series: MultiEchoVolume,
    reference: Geometry,
    *,
    progress: ProgressCallback | None = None,
    should_cancel: CancelCheck | None = None,
) -> MultiEchoVolume:
    """Resample every echo of a multi-echo series onto ``reference`` (the DESS grid).

    The alignment comes from the DICOM patient coordinates of both images
    (no image registration). The transform is found once, for the first
    echo, and applied to every echo; values are interpolated by cubic
    B-spline. Voxels of ``reference`` outside the series' field of view
    are NaN.

    Parameters
    ----------
    series : MultiEchoVolume
        Multi-echo series, for example MSME T2 mapping, in LPS mm.
    reference : Geometry
        Target grid, for example the DESS segmentation's.
    progress, should_cancel
        Progress callback (stage ``"resample"``) and cancel check, per echo.

    Returns
    -------
    MultiEchoVolume
        ``data`` of shape (n_echoes, *reference.shape), float32; same echo
        times; metadata copied with ``resampled_from`` set to the source
        grid's shape.
    """
    n_echoes = series.data.shape[0]
    transform = _patient_space_transform(series.geometry, reference)
    data = np.empty((n_echoes, *reference.shape), dtype=np.float32)
    for index in range(n_echoes):
        check_cancel(should_cancel, "resample")
        resampled = resample_volume(series.echo(index), reference, "bspline", transform)
        data[index] = resampled.data
        report(progress, "resample", (index + 1) / n_echoes, f"echo {index + 1} of {n_echoes}")

    inside = np.count_nonzero(np.isfinite(data[0]))
    log.info("Resampled %d echoes onto %s; %d of %d voxels inside the series' field of view",
             n_echoes, reference.shape, inside, data[0].size)
    metadata = dict(series.metadata)
    metadata["resampled_from"] = list(series.geometry.shape)
    return MultiEchoVolume(data=data, echo_times_ms=series.echo_times_ms.copy(), geometry=reference, metadata=metadata)


def _patient_space_transform(source: Geometry, reference: Geometry) -> sitk.Transform:
    """Return the rigid transform from ``reference`` points to ``source`` points.

    Both grids are placed in the same LPS patient space by their DICOM
    geometry, so the transform is the identity. It is computed once and
    shared by every echo so that all echoes are sampled at the same points.
    """
    if np.sign(np.linalg.det(source.direction)) != np.sign(np.linalg.det(reference.direction)):
        log.warning(
            "Source and reference grids differ in handedness; check that both are in the same knee convention."
        )
    return sitk.Euler3DTransform()


def _reference_image(geometry: Geometry) -> sitk.Image:
    image = sitk.Image([int(n) for n in geometry.shape], sitk.sitkUInt8)
    image.SetSpacing(tuple(float(s) for s in geometry.spacing_mm))
    image.SetOrigin(tuple(float(o) for o in geometry.origin_mm))
    image.SetDirection(tuple(float(d) for d in geometry.direction.ravel()))
    return image
