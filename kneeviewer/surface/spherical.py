"""Spherical maps of bone-surface values (forward) and their projection back to vertices (inverse).

Each bone is centred at a given point (its centroid) and turned into a bone
frame in which the articular surface faces -z. A vertex is then described by
theta (azimuth in the frame's x-y plane from +x, in [-pi, pi]), phi
(elevation from the x-y plane, in [-pi/2, pi/2]) and rho (distance to the
centre in mm). A map is a 224 x 224 image: **rows are phi** (row 0 is the
lowest phi of the range, ``phi_range[0]``), **columns are theta** (column 0
is ``theta_range[0]``), sampled at pixel centres.

Forward: vertex values are interpolated over (theta, phi) with
Clough-Tocher piecewise cubic interpolation
(``scipy.interpolate.CloughTocher2DInterpolator``, what ``griddata`` uses
for ``method="cubic"``), with theta padded periodically so the seam at +-pi
is continuous. A surface that is not star-shaped from the centre has several
vertices on one ray (the femoral notch, the shafts seen from below). Only
the outermost sheet is kept, so the map shows what a viewer at infinity
along each ray would see.

Inverse: each vertex reads the map at its (theta, phi) with cubic splines
(``scipy.ndimage.map_coordinates``, order 3). Vertices of an inner sheet
read the value of the outer sheet on their ray.

References
----------
Morales AG et al. Uncovering associations between data-driven learned qMRI
biomarkers and chronic pain. Sci Rep 11:21989 (2021).
doi:10.1038/s41598-021-01111-x
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage
from scipy.interpolate import CloughTocher2DInterpolator, LinearNDInterpolator
from scipy.spatial import Delaunay, QhullError, cKDTree

from kneeviewer.errors import InputError

log = logging.getLogger(__name__)

MAP_SIZE = 224

#: Bone frames: rows of each matrix are the frame axes in right-knee LPS.
#: The femur's articular surface is distal (-z) already. The tibia is turned
#: 180 degrees about x so its superior plateau faces -z. The patella is
#: turned -90 degrees about x so its posterior facet (+y) faces -z.
BONE_FRAMES: dict[str, np.ndarray] = {
    "femur": np.eye(3),
    "tibia": np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]]),
    "patella": np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]]),
}

#: Width of the periodic theta padding, in radians.
_THETA_PAD = 0.35
#: Samples this close to a pole, in radians, are mirrored across it.
_POLE_BAND = 0.15
#: Vertices within this distance of the outermost vertex of their ray bin belong to the outer sheet, in mm.
_SHEET_TOLERANCE_MM = 2.0


@dataclass(frozen=True)
class SphericalConfig:
    """Sampling of one bone's spherical map.

    Attributes
    ----------
    theta_range : tuple of float
        Azimuth range in radians; the default is the full circle.
    phi_range : tuple of float
        Elevation range in radians; the default [-pi/2, pi/8] centres a
        surface that faces -z of the frame.
    size : int
        Number of rows and of columns.
    frame : ndarray, shape (3, 3)
        Rotation from right-knee LPS to the bone frame (rows are the frame axes).
    """

    theta_range: tuple[float, float] = (-np.pi, np.pi)
    phi_range: tuple[float, float] = (-np.pi / 2, np.pi / 8)
    size: int = MAP_SIZE
    frame: np.ndarray = field(default_factory=lambda: np.eye(3))

    @property
    def theta_step(self) -> float:
        return (self.theta_range[1] - self.theta_range[0]) / self.size

    @property
    def phi_step(self) -> float:
        return (self.phi_range[1] - self.phi_range[0]) / self.size

    def pixel_centres(self) -> tuple[np.ndarray, np.ndarray]:
        """Return theta of every column and phi of every row, each shape (size,)."""
        index = np.arange(self.size) + 0.5
        return self.theta_range[0] + index * self.theta_step, self.phi_range[0] + index * self.phi_step


def default_config(bone: str) -> SphericalConfig:
    """Return the default configuration of ``bone``.

    The femur and tibia use the range of the chronic-pain study, phi in
    [-pi/2, pi/8]. The study prints the same range for the patella; we use
    [-pi/2, 0] instead, the posterior half seen from the patella's centroid.
    Seen from the centroid of this thin bone, the facet spans phi from -pi/2
    to about -0.5, and the extra band up to pi/8 would show only anterior bone.
    """
    if bone not in BONE_FRAMES:
        raise InputError(f"Bone '{bone}' has no spherical map configuration; use femur, tibia or patella.")
    phi_range = (-np.pi / 2, 0.0) if bone == "patella" else (-np.pi / 2, np.pi / 8)
    return SphericalConfig(phi_range=phi_range, frame=BONE_FRAMES[bone].copy())


def to_spherical(
    points_mm: np.ndarray, centre_mm: np.ndarray, bone: str, *, config: SphericalConfig | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return theta, phi (radians) and rho (mm) of LPS points in the bone frame.

    Parameters
    ----------
    points_mm : ndarray, shape (n, 3)
        LPS points in right-knee convention.
    centre_mm : ndarray, shape (3,)
        Centre of the bone (its centroid).
    bone : str
        Selects the default frame when ``config`` is None.
    """
    config = config or default_config(bone)
    points_mm = np.asarray(points_mm, dtype=float).reshape(-1, 3)
    local = (points_mm - np.asarray(centre_mm, dtype=float).reshape(3)) @ np.asarray(config.frame).T
    rho = np.linalg.norm(local, axis=1)
    theta = np.arctan2(local[:, 1], local[:, 0])
    phi = np.arcsin(np.clip(local[:, 2] / np.where(rho > 0, rho, 1.0), -1.0, 1.0))
    return theta, phi, rho


def outer_sheet_mask(theta: np.ndarray, phi: np.ndarray, rho: np.ndarray, config: SphericalConfig) -> np.ndarray:
    """Mark the vertices on the outermost sheet of the surface seen from the centre.

    Rays are binned on the map's pixel grid; in each bin the vertices within
    2 mm of the largest rho are kept. Hand-written because no library offers
    this visibility test on scattered directions.
    """
    column = np.floor((theta - config.theta_range[0]) / config.theta_step).astype(int) % config.size
    row = np.clip(np.floor((phi - config.phi_range[0]) / config.phi_step).astype(int), -1, config.size)
    bins = (row + 1) * config.size + column
    outermost = np.full((config.size + 2) * config.size, -np.inf)
    np.maximum.at(outermost, bins, rho)
    return rho >= outermost[bins] - _SHEET_TOLERANCE_MM


def forward_map(
    points_mm: np.ndarray,
    values: np.ndarray,
    bone: str,
    centre_mm: np.ndarray,
    *,
    config: SphericalConfig | None = None,
) -> np.ndarray:
    """Interpolate per-vertex values onto a spherical map.

    Parameters
    ----------
    points_mm : ndarray, shape (n, 3)
        Bone-surface vertices, LPS mm.
    values : ndarray, shape (n,)
        Value of each vertex; NaN means no value.
    bone : str
        ``"femur"``, ``"tibia"`` or ``"patella"`` (selects the default config).
    centre_mm : ndarray, shape (3,)
        Centre of the bone.
    config : SphericalConfig, optional

    Returns
    -------
    ndarray, shape (size, size), float32
        Rows are phi, columns are theta. NaN where no vertex with a value is
        near: a pixel is NaN where the linear interpolation of the vertices'
        has-a-value indicator is below 0.5 or where no vertex lies around it.
        Values are clipped to the range of the vertex values.
    """
    config = config or default_config(bone)
    values = np.asarray(values, dtype=float).reshape(-1)
    points_mm = np.asarray(points_mm, dtype=float).reshape(-1, 3)
    if len(values) != len(points_mm):
        raise InputError(f"Got {len(values)} values for {len(points_mm)} vertices; expected one value per vertex.")
    theta, phi, rho = to_spherical(points_mm, centre_mm, bone, config=config)
    margin = 4.0 * config.phi_step
    keep = outer_sheet_mask(theta, phi, rho, config)
    keep &= (phi >= config.phi_range[0] - margin) & (phi <= config.phi_range[1] + margin)
    has_value = np.isfinite(values)
    result = np.full((config.size, config.size), np.nan, dtype=np.float32)
    if np.count_nonzero(keep & has_value) < 3:
        return result
    theta, phi, values, has_value = theta[keep], phi[keep], values[keep], has_value[keep]

    # Vertices without a value take their nearest valued neighbour's value, so
    # the cubic interpolant does not overshoot at plate edges. The indicator
    # below turns those regions back into NaN.
    filled = values.copy()
    if not np.all(has_value):
        tree = cKDTree(np.column_stack([theta[has_value], phi[has_value]]))
        _, nearest = tree.query(np.column_stack([theta[~has_value], phi[~has_value]]))
        filled[~has_value] = values[has_value][nearest]

    theta, phi, filled, indicator = _reflect_poles(theta, phi, filled, has_value.astype(float))
    sample_theta, sample_phi, sample_values, sample_valid = _pad_periodic(theta, phi, filled, indicator)
    column_theta, row_phi = config.pixel_centres()
    grid_theta, grid_phi = np.meshgrid(column_theta, row_phi)  # shape (rows = phi, columns = theta)
    with _single_threaded_blas():
        try:
            triangulation = Delaunay(np.column_stack([sample_theta, sample_phi]))
        except QhullError as error:
            log.warning("No spherical map for %s: the %d vertices on the map are degenerate (%s).", bone, len(theta), error)
            return result
        interpolated = CloughTocher2DInterpolator(triangulation, sample_values)(grid_theta, grid_phi)
        valid = LinearNDInterpolator(triangulation, sample_valid)(grid_theta, grid_phi)
    usable = np.isfinite(valid) & (valid >= 0.5) & np.isfinite(interpolated)
    # The cubic interpolant can overshoot where vertices are sparse or values
    # jump (a bone shape map once reached -46 mm), so the map keeps to the
    # range of the vertex values it was made from.
    low, high = np.nanmin(values[has_value]), np.nanmax(values[has_value])
    result[usable] = np.clip(interpolated[usable], low, high)
    return result


def inverse_map(
    points_mm: np.ndarray,
    image: np.ndarray,
    bone: str,
    centre_mm: np.ndarray,
    *,
    config: SphericalConfig | None = None,
) -> np.ndarray:
    """Read a spherical map back at every vertex by cubic spline interpolation.

    Parameters
    ----------
    points_mm : ndarray, shape (n, 3)
        Bone-surface vertices, LPS mm.
    image : ndarray, shape (size, size)
        A map with rows = phi and columns = theta (for example a Grad-CAM).
    bone, centre_mm, config
        As for :func:`forward_map`.

    Returns
    -------
    ndarray, shape (n,), float64
        NaN for vertices outside the phi range and where the map is NaN
        nearby (the bilinear interpolation of the map's has-a-value mask is
        below 0.5). Values are clipped to the range of the map.
    """
    config = config or default_config(bone)
    image = np.asarray(image, dtype=float)
    if image.shape != (config.size, config.size):
        raise InputError(f"Spherical map has shape {image.shape}; expected ({config.size}, {config.size}).")
    theta, phi, _ = to_spherical(points_mm, centre_mm, bone, config=config)
    result = np.full(len(theta), np.nan)
    if not np.any(np.isfinite(image)):
        return result

    valid = np.isfinite(image)
    filled = image.copy()
    if not np.all(valid):
        # NaN pixels take their nearest valued pixel so that the spline stays finite near edges.
        nearest = ndimage.distance_transform_edt(~valid, return_distances=False, return_indices=True)
        filled = image[tuple(nearest)]
    pad = 4
    # Theta wraps around (columns), phi is clamped (rows).
    padded = np.pad(filled, ((pad, pad), (0, 0)), mode="edge")
    padded = np.pad(padded, ((0, 0), (pad, pad)), mode="wrap")
    padded_valid = np.pad(valid.astype(float), ((pad, pad), (0, 0)), mode="edge")
    padded_valid = np.pad(padded_valid, ((0, 0), (pad, pad)), mode="wrap")

    in_range = (phi >= config.phi_range[0]) & (phi <= config.phi_range[1])
    column = (theta - config.theta_range[0]) / config.theta_step - 0.5
    if config.theta_range[1] - config.theta_range[0] >= 2 * np.pi - 1e-9:
        column = np.mod(column + 0.5, config.size) - 0.5
    else:
        in_range &= (theta >= config.theta_range[0]) & (theta <= config.theta_range[1])
    row = (phi - config.phi_range[0]) / config.phi_step - 0.5
    coordinates = np.vstack([row[in_range] + pad, column[in_range] + pad])
    values = ndimage.map_coordinates(padded, coordinates, order=3, mode="nearest")
    support = ndimage.map_coordinates(padded_valid, coordinates, order=1, mode="nearest")
    # Cubic splines overshoot next to steep edges; keep to the map's own range.
    values = np.clip(values, np.nanmin(image), np.nanmax(image))
    values[support < 0.5] = np.nan
    result[in_range] = values
    return result


def round_trip_error(
    points_mm: np.ndarray,
    values: np.ndarray,
    bone: str,
    centre_mm: np.ndarray,
    *,
    config: SphericalConfig | None = None,
    image: np.ndarray | None = None,
) -> dict[str, float]:
    """Compare per-knee means before and after a forward and inverse map.

    The chronic-pain study validated its maps this way (Bland-Altman of the
    per-knee mean thickness and T2 from the maps against the surface means).
    Both means are taken over the vertices that have a value and lie on the
    map (phi in range, outer sheet). ``image``, when given, must be
    ``forward_map(points_mm, values, bone, centre_mm, config=config)``: the
    pipeline passes the map it has just made, to skip making it twice.

    Returns
    -------
    dict
        ``mean_before``, ``mean_after``, ``difference`` (after - before),
        ``mean_abs_vertex_error``, ``n_compared`` (vertices in both means)
        and ``n_lost`` (vertices with a value that read NaN back).
    """
    config = config or default_config(bone)
    values = np.asarray(values, dtype=float).reshape(-1)
    if image is None:
        image = forward_map(points_mm, values, bone, centre_mm, config=config)
    back = inverse_map(points_mm, image, bone, centre_mm, config=config)
    theta, phi, rho = to_spherical(points_mm, centre_mm, bone, config=config)
    on_map = (phi >= config.phi_range[0]) & (phi <= config.phi_range[1]) & outer_sheet_mask(theta, phi, rho, config)
    candidates = on_map & np.isfinite(values)
    compared = candidates & np.isfinite(back)
    if not np.any(compared):
        nan = float("nan")
        return {"mean_before": nan, "mean_after": nan, "difference": nan, "mean_abs_vertex_error": nan,
                "n_compared": 0, "n_lost": int(candidates.sum())}
    before = float(np.mean(values[compared]))
    after = float(np.mean(back[compared]))
    return {
        "mean_before": before,
        "mean_after": after,
        "difference": after - before,
        "mean_abs_vertex_error": float(np.mean(np.abs(back[compared] - values[compared]))),
        "n_compared": int(compared.sum()),
        "n_lost": int((candidates & ~np.isfinite(back)).sum()),
    }


def group_minmax(maps: list[np.ndarray]) -> tuple[float, float]:
    """Return the minimum and maximum over every finite pixel of a cohort's maps of one biomarker."""
    finite = [m[np.isfinite(m)] for m in maps]
    finite = [values for values in finite if values.size]
    if not finite:
        raise InputError("Every spherical map of the group is empty (all NaN); cannot normalise.")
    return float(min(values.min() for values in finite)), float(max(values.max() for values in finite))


def to_uint8(image: np.ndarray, vmin: float, vmax: float) -> np.ndarray:
    """Scale a map to 0..255 with the group range ``[vmin, vmax]``.

    NaN (no value) becomes 0, the same as the group minimum: the networks of
    the study take 8-bit images, which have no "missing" code, and regions
    without cartilage read as the lowest value.
    """
    image = np.asarray(image, dtype=float)
    span = vmax - vmin
    scaled = np.zeros(image.shape) if span <= 0 else (image - vmin) / span
    scaled = np.clip(np.nan_to_num(scaled, nan=0.0), 0.0, 1.0)
    return np.round(scaled * 255.0).astype(np.uint8)


def _reflect_poles(theta: np.ndarray, phi: np.ndarray, *columns: np.ndarray) -> tuple[np.ndarray, ...]:
    """Add the mirror images of samples near the poles so that neighbours across a pole interpolate.

    A point at (theta, phi) close to the pole phi = -pi/2 lies next to
    (theta + pi, -pi - phi) on the surface; in the (theta, phi) chart they
    are far apart unless the mirror image is added. A vertex on the pole
    itself is repeated along the whole pole row.
    """
    near_south = phi < -np.pi / 2 + _POLE_BAND
    near_north = phi > np.pi / 2 - _POLE_BAND
    mirrored_theta = np.concatenate([theta[near_south], theta[near_north]]) + np.pi
    mirrored_theta = np.mod(mirrored_theta + np.pi, 2 * np.pi) - np.pi
    mirrored_phi = np.concatenate([-np.pi - phi[near_south], np.pi - phi[near_north]])
    theta_parts, phi_parts = [theta, mirrored_theta], [phi, mirrored_phi]
    column_parts = [[c, np.concatenate([c[near_south], c[near_north]])] for c in columns]

    on_pole = np.flatnonzero(np.abs(np.abs(phi) - np.pi / 2) < 1e-9)
    if on_pole.size:
        fan = np.linspace(-np.pi, np.pi, 90, endpoint=False)
        theta_parts.append(np.tile(fan, on_pole.size))
        phi_parts.append(np.repeat(phi[on_pole], fan.size))
        for parts, column in zip(column_parts, columns):
            parts.append(np.repeat(column[on_pole], fan.size))
    return (np.concatenate(theta_parts), np.concatenate(phi_parts), *[np.concatenate(parts) for parts in column_parts])


def _single_threaded_blas():
    """Limit BLAS to one thread: scipy's Delaunay.transform calls LAPACK once per
    triangle, and with several BLAS threads on a busy 2-core machine 64,000
    triangles took 5.7 s instead of 0.13 s (scipy 1.17, OpenBLAS 0.3.30)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _pad_periodic(theta: np.ndarray, phi: np.ndarray, *columns: np.ndarray) -> tuple[np.ndarray, ...]:
    """Repeat samples near theta = +-pi on the other side so the interpolation wraps around."""
    right = theta > np.pi - _THETA_PAD
    left = theta < -np.pi + _THETA_PAD
    theta_out = np.concatenate([theta, theta[right] - 2 * np.pi, theta[left] + 2 * np.pi])
    phi_out = np.concatenate([phi, phi[right], phi[left]])
    rest = [np.concatenate([c, c[right], c[left]]) for c in columns]
    return (theta_out, phi_out, *rest)
