"""Dense correspondence between two bone surfaces by Coherent Point Drift.

A knee's bone (moving) is mapped onto the atlas bone (fixed) in two steps
on a random subsample of vertices (``n_samples``, 2500 by default, which
bounds memory at a few ``n_samples^2`` float64 matrices whatever the mesh
size):

1. Rigid CPD with isotropic scale on the coordinates alone. It follows
   pycpd's ``RigidRegistration`` update for update (a test checks they
   agree) but computes distances by matrix products instead of an
   ``(m, n, 3)`` broadcast, which makes it several times faster.
2. Deformable CPD (Myronenko and Song, IEEE TPAMI 32:2262-2275, 2010,
   doi:10.1109/TPAMI.2010.46) in which the posterior probability that a
   moving point matches a fixed point uses the squared distance between
   points *plus* the squared difference of their principal-curvature
   features. Features therefore steer which points correspond (a ridge
   matches a ridge), while only the coordinates move. This equals running
   CPD on points with the scaled features appended as extra coordinates
   that the transform leaves unchanged.

The deformation is a sum of Gaussian radial basis functions centred on
``n_control`` control points taken from the moving subsample (the
"low-rank" form of CPD). pycpd instead uses every sample point as a centre
and solves an ``n_samples x n_samples`` system each iteration. The control
points shrink each iteration's solve to ``n_control x n_control``, and the
deformation can be evaluated at every vertex of the full mesh afterwards.
With ``n_control = n_samples`` and ``feature_weight = 0`` the update equals
pycpd's; a test checks the two agree.

All fitting happens in normalised coordinates: both samples are centred on
the fixed sample's centroid and divided by its RMS radius, so that the
defaults of ``beta`` and ``lambda`` hold for any bone size.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

import numpy as np
import pyvista as pv
from scipy.spatial import cKDTree

from kneeviewer.errors import InputError
from kneeviewer.progress import CancelCheck, ProgressCallback, check_cancel, report
from kneeviewer.stats.curvature import curvature_features, principal_curvatures

log = logging.getLogger(__name__)

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # optional: without it BLAS keeps its own thread count
    threadpool_limits = None

#: Points per chunk when the deformation is evaluated at every vertex.
_CHUNK = 20000


@dataclass
class SurfaceCorrespondence:
    """A fitted map from moving-bone coordinates to fixed-bone coordinates (LPS mm).

    Attributes
    ----------
    centre_mm, scale_mm
        Normalisation: ``u = (x - centre_mm) / scale_mm``.
    rigid_scale, rigid_rotation, rigid_translation
        Rigid step in normalised units: ``u' = s * u @ R + t`` (pycpd's convention).
    control_points
        ``(n_control, 3)`` Gaussian centres in normalised, rigidly aligned units.
    weights
        ``(n_control, 3)`` deformation coefficients.
    beta
        Gaussian width in normalised units.
    sigma2
        Final CPD variance in normalised units squared.
    iterations
        Deformable iterations run.
    """

    centre_mm: np.ndarray
    scale_mm: float
    rigid_scale: float
    rigid_rotation: np.ndarray
    rigid_translation: np.ndarray
    control_points: np.ndarray
    weights: np.ndarray
    beta: float
    sigma2: float
    iterations: int

    def rigid_points(self, points_mm: np.ndarray) -> np.ndarray:
        """Return ``(n, 3)`` points after the rigid step only, in LPS mm of the fixed bone."""
        u = (np.asarray(points_mm, float) - self.centre_mm) / self.scale_mm
        return (self.rigid_scale * u @ self.rigid_rotation + self.rigid_translation) * self.scale_mm + self.centre_mm

    def warp(self, points_mm: np.ndarray) -> np.ndarray:
        """Map ``(n, 3)`` moving-bone points (LPS mm) onto the fixed bone (LPS mm), in chunks."""
        points_mm = np.asarray(points_mm, float)
        out = np.empty_like(points_mm)
        for start in range(0, len(points_mm), _CHUNK):
            u = (points_mm[start : start + _CHUNK] - self.centre_mm) / self.scale_mm
            u = self.rigid_scale * u @ self.rigid_rotation + self.rigid_translation
            u = u + _gaussian_kernel(u, self.control_points, self.beta) @ self.weights
            out[start : start + _CHUNK] = u * self.scale_mm + self.centre_mm
        return out


def register_surfaces(
    moving: pv.PolyData,
    fixed: pv.PolyData,
    n_samples: int = 2500,
    n_control: int = 400,
    beta: float = 2.0,
    lambda_: float = 2.0,
    feature_weight: float = 0.15,
    outlier_weight: float = 0.1,
    max_iterations: int = 80,
    tolerance: float = 1e-5,
    seed: int = 0,
    progress: ProgressCallback | None = None,
    should_cancel: CancelCheck | None = None,
) -> SurfaceCorrespondence:
    """Fit a rigid then deformable CPD map from ``moving`` onto ``fixed``.

    Parameters
    ----------
    moving, fixed
        Bone surfaces in LPS mm (triangle meshes), same bone type and knee
        convention.
    n_samples
        Vertices drawn (without replacement, seeded) from each mesh for the fit.
    n_control
        Gaussian centres of the deformation, drawn from the moving sample.
    beta
        Width of the Gaussian deformation kernel in units of the fixed bone's
        RMS radius (about 30 mm on a distal femur, so 2 is a smooth,
        nearly global deformation). 2 and ``lambda_ = 2`` are the defaults
        of Myronenko and Song for normalised data.
    lambda_
        Smoothness regularisation of the deformation (CPD's lambda).
    feature_weight
        Scale of the curvature features relative to the normalised
        coordinates; 0 matches on coordinates alone.
    outlier_weight
        CPD's uniform-noise weight ``w`` in [0, 1).
    max_iterations, tolerance
        Deformable CPD stops after ``max_iterations`` or when the relative
        change of sigma^2 falls below ``tolerance``.
    seed
        Seed of the vertex subsampling.

    Raises
    ------
    InputError
        A mesh has too few points.
    """
    for name, mesh in (("moving", moving), ("fixed", fixed)):
        if mesh.n_points < 10:
            raise InputError(f"The {name} mesh has {mesh.n_points} points; registration needs at least 10.")
    rng = np.random.default_rng(seed)
    moving_index = _subsample(moving.n_points, n_samples, rng)
    fixed_index = _subsample(fixed.n_points, n_samples, rng)
    report(progress, "correspondence", 0.0, "curvature features")
    moving_features = curvature_features(principal_curvatures(moving))[moving_index] * feature_weight
    fixed_features = curvature_features(principal_curvatures(fixed))[fixed_index] * feature_weight
    check_cancel(should_cancel, "correspondence")

    fixed_points = np.asarray(fixed.points, float)[fixed_index]
    centre = fixed_points.mean(axis=0)
    scale = float(np.sqrt(np.mean(np.sum((fixed_points - centre) ** 2, axis=1))))
    x = (fixed_points - centre) / scale
    y = (np.asarray(moving.points, float)[moving_index] - centre) / scale
    # Bring the moving centroid onto the fixed one before the rigid CPD, which converges
    # from small offsets only.
    y_shift = x.mean(axis=0) - y.mean(axis=0)

    report(progress, "correspondence", 0.1, "rigid CPD")
    with _single_threaded_blas():
        s, rotation, translation = rigid_cpd(x, y + y_shift, outlier_weight=outlier_weight)
    rigid_y = s * (y + y_shift) @ rotation + translation
    translation = np.asarray(translation, float) + s * y_shift @ rotation
    check_cancel(should_cancel, "correspondence")

    control_index = _subsample(len(rigid_y), n_control, rng)
    control = rigid_y[control_index]
    report(progress, "correspondence", 0.3, "deformable CPD")
    with _single_threaded_blas():
        weights, sigma2, iterations = deformable_cpd(
            x,
            rigid_y,
            control,
            beta=beta,
            lambda_=lambda_,
            fixed_features=fixed_features,
            moving_features=moving_features,
            outlier_weight=outlier_weight,
            max_iterations=max_iterations,
            tolerance=tolerance,
            should_cancel=should_cancel,
        )
    report(progress, "correspondence", 1.0, f"deformable CPD done after {iterations} iterations")
    return SurfaceCorrespondence(
        centre_mm=centre,
        scale_mm=scale,
        rigid_scale=float(s),
        rigid_rotation=np.asarray(rotation, float),
        rigid_translation=translation,
        control_points=control,
        weights=weights,
        beta=beta,
        sigma2=sigma2,
        iterations=iterations,
    )


def rigid_cpd(
    x: np.ndarray,
    y: np.ndarray,
    outlier_weight: float = 0.1,
    max_iterations: int = 100,
    tolerance: float = 1e-6,
) -> tuple[float, np.ndarray, np.ndarray]:
    """Fit ``s * y @ R + t`` onto ``x`` by rigid CPD with scale (pycpd's convention and updates).

    Parameters
    ----------
    x, y
        ``(n, 3)`` fixed and ``(m, 3)`` moving points.

    Returns
    -------
    scale, rotation, translation
        ``s``, ``(3, 3)`` ``R`` and ``(3,)`` ``t``.
    """
    n, dim = x.shape
    m = len(y)
    s, rotation, translation = 1.0, np.eye(dim), np.zeros(dim)
    moved = y.copy()
    sigma2 = float(np.sum(_squared_distances(moved, x))) / (dim * m * n)
    q = np.inf
    for _ in range(max_iterations):
        posterior = _posterior(moved, x, sigma2, outlier_weight, dim)
        p1 = posterior.sum(axis=1)
        pt1 = posterior.sum(axis=0)
        n_p = p1.sum()
        mu_x = pt1 @ x / n_p
        mu_y = p1 @ y / n_p
        x_hat = x - mu_x
        y_hat = y - mu_y
        ypy = float(p1 @ np.sum(y_hat**2, axis=1))
        a = x_hat.T @ posterior.T @ y_hat
        u, _, vt = np.linalg.svd(a)
        c = np.ones(dim)
        c[-1] = np.linalg.det(u @ vt)
        rotation = (u @ np.diag(c) @ vt).T
        s = float(np.trace(a.T @ rotation.T) / ypy)
        translation = mu_x - s * rotation.T @ mu_y
        moved = s * y @ rotation + translation

        tr_ar = float(np.trace(a @ rotation))
        xpx = float(pt1 @ np.sum(x_hat**2, axis=1))
        q_previous = q
        q = (xpx - 2 * s * tr_ar + s * s * ypy) / (2 * sigma2) + dim * n_p / 2 * np.log(sigma2)
        sigma2 = max((xpx - s * tr_ar) / (n_p * dim), 1e-10)
        if abs(q - q_previous) < tolerance:
            break
    return s, rotation, translation


def _posterior(moved: np.ndarray, x: np.ndarray, sigma2: float, outlier_weight: float, dim: int, extra_d2=None):
    """Return the ``(m, n)`` CPD posterior of moving point m generating fixed point n."""
    m, n = len(moved), len(x)
    # float32 halves the memory traffic of the (m, n) matrices. The sums stay accurate to
    # about 1e-6 relative, far below the tolerance of the EM iterations.
    d2 = _squared_distances(moved.astype(np.float32), x.astype(np.float32))
    if extra_d2 is not None:
        d2 += extra_d2
    d2 *= np.float32(-0.5 / sigma2)
    posterior = np.exp(d2, out=d2)
    uniform = (2.0 * np.pi * sigma2) ** (dim / 2.0) * outlier_weight / (1.0 - outlier_weight) * m / n
    denominator = posterior.sum(axis=0, keepdims=True)
    denominator[denominator == 0] = np.finfo(float).eps
    posterior /= denominator + np.float32(uniform)
    return posterior


def deformable_cpd(
    x: np.ndarray,
    y: np.ndarray,
    control: np.ndarray,
    beta: float,
    lambda_: float,
    fixed_features: np.ndarray | None = None,
    moving_features: np.ndarray | None = None,
    outlier_weight: float = 0.1,
    max_iterations: int = 80,
    tolerance: float = 1e-5,
    should_cancel: CancelCheck | None = None,
) -> tuple[np.ndarray, float, int]:
    """Fit ``T(y) = y + G(y, control) W`` that moves ``y`` onto ``x`` (deformable CPD, EM).

    Parameters
    ----------
    x
        ``(n, 3)`` fixed points.
    y
        ``(m, 3)`` moving points.
    control
        ``(k, 3)`` Gaussian centres, in the same space as ``y``.
    beta, lambda_
        Kernel width and smoothness weight.
    fixed_features, moving_features
        ``(n, f)`` and ``(m, f)`` features compared in the E-step but never moved.

    Returns
    -------
    weights, sigma2, iterations
        ``(k, 3)`` coefficients, the final variance and the iterations run.
    """
    n, dim = x.shape
    m = len(y)
    if fixed_features is None or moving_features is None or fixed_features.shape[1] == 0:
        fixed_features = np.zeros((n, 0))
        moving_features = np.zeros((m, 0))
    dim_total = dim + fixed_features.shape[1]
    kernel = _gaussian_kernel(y, control, beta)
    kernel_control = _gaussian_kernel(control, control, beta)
    feature_d2 = _squared_distances(moving_features, fixed_features).astype(np.float32)
    weights = np.zeros((len(control), dim))
    moved = y.copy()
    sigma2 = float(np.sum(_squared_distances(moved, x)) + np.sum(feature_d2)) / (dim_total * m * n)
    iterations = 0
    for iterations in range(1, max_iterations + 1):
        if iterations % 10 == 0:
            check_cancel(should_cancel, "deformable CPD")
        posterior = _posterior(moved, x, sigma2, outlier_weight, dim_total, feature_d2)
        p1 = posterior.sum(axis=1)
        pt1 = posterior.sum(axis=0)
        px = posterior @ x
        n_p = p1.sum()

        lhs = kernel.T @ (p1[:, None] * kernel) + lambda_ * sigma2 * kernel_control
        rhs = kernel.T @ (px - p1[:, None] * y)
        # A wide kernel makes G nearly singular; a ridge of 1e-9 of the mean diagonal keeps the solve stable.
        ridge = 1e-9 * np.trace(lhs) / len(control)
        weights = np.linalg.solve(lhs + ridge * np.eye(len(control)), rhs)
        moved = y + kernel @ weights

        spatial = np.sum(pt1 * np.sum(x**2, axis=1)) - 2.0 * np.sum(px * moved) + np.sum(p1 * np.sum(moved**2, axis=1))
        feature = float(np.sum(posterior * feature_d2)) if feature_d2.size and feature_d2.any() else 0.0
        new_sigma2 = max(float(spatial + feature) / (n_p * dim_total), 1e-10)
        change = abs(new_sigma2 - sigma2) / sigma2
        sigma2 = new_sigma2
        if change < tolerance:
            break
    log.debug("Deformable CPD stopped after %d iterations, sigma2 %.3g", iterations, sigma2)
    return weights, sigma2, iterations


def resample_to_reference(
    values: np.ndarray,
    warped_points_mm: np.ndarray,
    reference_points_mm: np.ndarray,
    n_neighbours: int = 4,
    max_distance_mm: float = 5.0,
) -> np.ndarray:
    """Carry per-vertex values of a registered knee onto the reference vertices.

    Each reference vertex gets the inverse-distance-weighted mean of the
    ``n_neighbours`` nearest registered knee vertices that have a value.
    A reference vertex farther than ``max_distance_mm`` from every
    registered vertex gets NaN.

    Parameters
    ----------
    values
        ``(n_moving,)`` or ``(n_moving, c)`` values on the knee's vertices; NaN means no value.
    warped_points_mm
        ``(n_moving, 3)`` the knee's vertices after :meth:`SurfaceCorrespondence.warp`.
    reference_points_mm
        ``(n_reference, 3)`` atlas vertices.

    Returns
    -------
    numpy.ndarray
        ``(n_reference,)`` or ``(n_reference, c)``.
    """
    values = np.asarray(values, float)
    squeeze = values.ndim == 1
    if squeeze:
        values = values[:, None]
    if len(values) != len(warped_points_mm):
        raise InputError(f"{len(values)} values for {len(warped_points_mm)} registered points; they must match.")
    out = np.full((len(reference_points_mm), values.shape[1]), np.nan)
    for c in range(values.shape[1]):
        has_value = np.isfinite(values[:, c])
        if not has_value.any():
            continue
        tree = cKDTree(warped_points_mm[has_value])
        k = min(n_neighbours, int(has_value.sum()))
        distance, index = tree.query(reference_points_mm, k=k)
        distance = distance.reshape(len(reference_points_mm), k)
        index = index.reshape(len(reference_points_mm), k)
        weight = 1.0 / np.maximum(distance, 1e-6)
        column = values[has_value, c][index]
        result = np.sum(weight * column, axis=1) / np.sum(weight, axis=1)
        result[distance[:, 0] > max_distance_mm] = np.nan
        out[:, c] = result
    return out[:, 0] if squeeze else out


def mean_symmetric_distance(points_a_mm: np.ndarray, points_b_mm: np.ndarray) -> float:
    """Return the mean of the vertex-to-nearest-vertex distances from a to b and from b to a, in mm."""
    a_to_b, _ = cKDTree(points_b_mm).query(points_a_mm)
    b_to_a, _ = cKDTree(points_a_mm).query(points_b_mm)
    return float((a_to_b.mean() + b_to_a.mean()) / 2.0)


def _single_threaded_blas():
    """Limit BLAS to one thread for the EM loops.

    Their products have an inner dimension of 3 and their solves are at most
    ``n_control`` square, too small to gain from threads. On a busy 2-core
    machine the thread hand-offs made one 500-sample registration 21 s
    instead of 0.8 s.
    """
    if threadpool_limits is None:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _subsample(n_points: int, n_samples: int, rng: np.random.Generator) -> np.ndarray:
    if n_points <= n_samples:
        return np.arange(n_points)
    return np.sort(rng.choice(n_points, size=n_samples, replace=False))


def _squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.shape[1] == 0:
        return np.zeros((len(a), len(b)))
    d2 = a @ b.T
    d2 *= -2.0
    d2 += np.sum(a**2, axis=1)[:, None]
    d2 += np.sum(b**2, axis=1)[None, :]
    return np.maximum(d2, 0.0, out=d2)


def _gaussian_kernel(a: np.ndarray, b: np.ndarray, beta: float) -> np.ndarray:
    return np.exp(-_squared_distances(a, b) / (2.0 * beta**2))
