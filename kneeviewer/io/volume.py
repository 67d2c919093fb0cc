"""Image volumes with their physical geometry in DICOM patient space (LPS, mm).

Array index order is ``(i, j, k)``, the ITK and DICOM column-fastest order:
``data[i, j, k]`` is the voxel whose centre lies at
``origin_mm + direction @ (spacing_mm * (i, j, k))``. The columns of
``direction`` are the LPS unit vectors of the i, j and k axes. SimpleITK
arrays come in ``(k, j, i)`` order and are transposed here, at the edge, so
that the rest of kneeviewer never deals with that order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from kneeviewer.errors import InputError


@dataclass(frozen=True)
class Geometry:
    """Voxel grid placed in LPS patient space.

    Attributes
    ----------
    shape : tuple of int
        Number of voxels along i, j and k.
    spacing_mm : ndarray, shape (3,)
        Voxel size along i, j and k in mm.
    origin_mm : ndarray, shape (3,)
        LPS position of the centre of voxel (0, 0, 0) in mm.
    direction : ndarray, shape (3, 3)
        Columns are the LPS unit vectors of the i, j and k axes. The
        determinant is -1 after a left knee is mirrored to right-knee
        convention.
    """

    shape: tuple[int, int, int]
    spacing_mm: np.ndarray
    origin_mm: np.ndarray
    direction: np.ndarray = field(default_factory=lambda: np.eye(3))

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(n) for n in self.shape))
        object.__setattr__(self, "spacing_mm", np.asarray(self.spacing_mm, dtype=float).reshape(3))
        object.__setattr__(self, "origin_mm", np.asarray(self.origin_mm, dtype=float).reshape(3))
        object.__setattr__(self, "direction", np.asarray(self.direction, dtype=float).reshape(3, 3))
        if np.any(self.spacing_mm <= 0):
            raise InputError(f"Voxel spacing must be positive, got {self.spacing_mm.tolist()} mm.")

    @property
    def affine(self) -> np.ndarray:
        """4 x 4 matrix from homogeneous ``(i, j, k, 1)`` to LPS mm."""
        matrix = np.eye(4)
        matrix[:3, :3] = self.direction * self.spacing_mm[np.newaxis, :]
        matrix[:3, 3] = self.origin_mm
        return matrix

    def index_to_lps(self, ijk: np.ndarray) -> np.ndarray:
        """Map continuous indices, shape (..., 3), to LPS points in mm."""
        ijk = np.asarray(ijk, dtype=float)
        return ijk * self.spacing_mm @ self.direction.T + self.origin_mm

    def lps_to_index(self, points_mm: np.ndarray) -> np.ndarray:
        """Map LPS points in mm, shape (..., 3), to continuous indices."""
        points_mm = np.asarray(points_mm, dtype=float)
        return np.linalg.solve(self.direction, (points_mm - self.origin_mm).T).T / self.spacing_mm

    def axis_closest_to(self, lps_axis: int) -> int:
        """Return the index axis (0, 1 or 2) most parallel to LPS axis 0 (L), 1 (P) or 2 (S).

        The sagittal slice axis of a knee image is ``axis_closest_to(0)``.
        """
        return int(np.argmax(np.abs(self.direction[lps_axis, :])))

    def voxel_volume_mm3(self) -> float:
        """Volume of one voxel in mm^3."""
        return float(np.prod(self.spacing_mm))


@dataclass(frozen=True)
class Volume:
    """A scalar image on a :class:`Geometry`.

    Attributes
    ----------
    data : ndarray, shape ``geometry.shape``
        Voxel values in ``(i, j, k)`` order.
    geometry : Geometry
        Where the voxels are in LPS space.
    """

    data: np.ndarray
    geometry: Geometry

    def __post_init__(self) -> None:
        if tuple(self.data.shape) != self.geometry.shape:
            raise InputError(
                f"Volume data shape {tuple(self.data.shape)} does not match its geometry {self.geometry.shape}."
            )

    def with_data(self, data: np.ndarray) -> Volume:
        """Return a volume on the same geometry with other voxel values."""
        return Volume(np.asarray(data), self.geometry)


@dataclass(frozen=True)
class MultiEchoVolume:
    """One 3D volume per echo on a shared geometry.

    Attributes
    ----------
    data : ndarray, shape (n_echoes, ni, nj, nk)
        Signal of every echo.
    echo_times_ms : ndarray, shape (n_echoes,)
        Echo times in ms, increasing.
    geometry : Geometry
        Grid of every echo.
    metadata : dict
        Series description, SeriesInstanceUID, laterality and so on, as read.
    """

    data: np.ndarray
    echo_times_ms: np.ndarray
    geometry: Geometry
    metadata: dict = field(default_factory=dict)

    def echo(self, index: int) -> Volume:
        """Return one echo as a :class:`Volume`."""
        return Volume(self.data[index], self.geometry)


def geometry_from_sitk(image: sitk.Image) -> Geometry:
    """Read the geometry of a 3D SimpleITK image."""
    if image.GetDimension() != 3:
        raise InputError(f"Expected a 3D image, got {image.GetDimension()} dimensions.")
    return Geometry(
        shape=image.GetSize(),
        spacing_mm=image.GetSpacing(),
        origin_mm=image.GetOrigin(),
        direction=np.asarray(image.GetDirection()).reshape(3, 3),
    )


def from_sitk(image: sitk.Image) -> Volume:
    """Convert a 3D SimpleITK image to a :class:`Volume` in ``(i, j, k)`` order."""
    geometry = geometry_from_sitk(image)
    data = sitk.GetArrayFromImage(image).transpose(2, 1, 0)
    return Volume(np.ascontiguousarray(data), geometry)


def to_sitk(volume: Volume | np.ndarray, geometry: Geometry | None = None) -> sitk.Image:
    """Convert a :class:`Volume` (or an array plus a geometry) to a SimpleITK image."""
    if isinstance(volume, Volume):
        data, geometry = volume.data, volume.geometry
    else:
        data = volume
        if geometry is None:
            raise ValueError("to_sitk needs a geometry when given a bare array.")
    if data.dtype == bool:
        data = data.astype(np.uint8)
    image = sitk.GetImageFromArray(np.ascontiguousarray(np.asarray(data).transpose(2, 1, 0)))
    image.SetSpacing(tuple(float(s) for s in geometry.spacing_mm))
    image.SetOrigin(tuple(float(o) for o in geometry.origin_mm))
    image.SetDirection(tuple(float(d) for d in geometry.direction.ravel()))
    return image


def read_volume(path: str | Path) -> Volume:
    """Read a 3D image file (NRRD, NIfTI, MHA, ...) into a :class:`Volume`.

    Raises
    ------
    InputError
        If the file is missing, unreadable or not 3D.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"Image file not found: {path}. Check the path.")
    if path.is_dir():
        raise InputError(f"Expected an image file but {path} is a folder. Pass a NRRD, NIfTI or MHA file.")
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as error:
        first_line = str(error).strip().splitlines()[-1] if str(error).strip() else "unknown reader error"
        raise InputError(
            f"Could not read image {path}: {first_line}. Use a NRRD, NIfTI or MHA file."
        ) from error
    if image.GetDimension() != 3:
        raise InputError(f"Image {path} has {image.GetDimension()} dimensions; expected a 3D volume.")
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(f"Image {path} has {image.GetNumberOfComponentsPerPixel()} components per voxel; expected a scalar image.")
    return from_sitk(image)


def write_volume(volume: Volume, path: str | Path) -> Path:
    """Write a :class:`Volume` to NRRD, NIfTI or MHA, chosen by the file extension."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(to_sitk(volume), str(path), useCompression=True)
    return path
