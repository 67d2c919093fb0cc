"""Voxel-wise T2 relaxometry from a multi-echo spin-echo series.

Each voxel's signal is fitted with the mono-exponential model with offset

    S(TE) = A exp(-TE / T2) + C

by Levenberg-Marquardt, as in Morales et al., "Uncovering associations
between data-driven learned qMRI biomarkers and chronic pain", Sci Rep 11,
21989 (2021), doi:10.1038/s41598-021-01111-x.

scipy's least-squares routines solve one problem per call, and a Python loop
over a million voxels costs minutes. The fit here is therefore a
hand-written Levenberg-Marquardt that runs on all voxels of a chunk at once:
each iteration builds every voxel's 3 x 3 normal equations with numpy and
solves them in closed form. Voxels drop out of the iteration as they
converge. The model is fitted in the rate ``R = 1 / T2``, which keeps the
Jacobian bounded as T2 grows, on signals divided by their per-voxel maximum,
so that one set of tolerances suits every voxel.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from kneeviewer.errors import FitError
from kneeviewer.progress import CancelCheck, ProgressCallback, check_cancel, report

log = logging.getLogger(__name__)

#: Plausible T2 range in ms. Knee T2 mapping samples echoes between about 6
#: and 100 ms; cartilage T2 lies around 20 to 80 ms. A fitted T2 below 1 ms
#: has decayed before the first echo and one above 200 ms barely decays over
#: the echo train, so neither is measured by the data.
DEFAULT_T2_RANGE_MS = (1.0, 200.0)
#: Smallest coefficient of determination of an accepted fit.
DEFAULT_MIN_R2 = 0.8
#: Voxels fitted together; bounds the memory to about 100 MB for 8 echoes.
DEFAULT_CHUNK_VOXELS = 200_000

_FTOL = 1e-8  # relative decrease of the residual sum of squares that counts as converged
_XTOL = 1e-8  # relative parameter step that counts as converged
_LAMBDA_START = 1e-3
ESCAPE = 2.0
_LAMBDA_MAX = 1e12  # a damping this large means no step lowers the cost: a minimum


@dataclass(frozen=True)
class T2Fit:
    """Result of a voxel-wise T2 fit.

    Attributes
    ----------
    t2_ms : ndarray, float32, shape like one echo
        T2 in ms; NaN outside the mask and where the fit failed or is implausible.
    amplitude : ndarray, float32, shape like one echo
        A of the model, in signal units; NaN where ``t2_ms`` is NaN.
    offset : ndarray, float32, shape like one echo
        C of the model, in signal units; NaN where ``t2_ms`` is NaN.
    r2 : ndarray, float32, shape like one echo
        Coefficient of determination of the fit; NaN where ``t2_ms`` is NaN.
    counts : dict of str to int
        Voxel counts: ``fitted`` (accepted), ``failed`` (not converged or
        numerically invalid), ``implausible`` (non-decaying signal, T2
        outside the range or R^2 below the threshold), ``no_signal`` (in
        the mask but some echo is NaN, for example outside the field of
        view after resampling) and ``masked_out``. They sum to the number
        of voxels.
    """

    t2_ms: np.ndarray
    amplitude: np.ndarray
    offset: np.ndarray
    r2: np.ndarray
    counts: dict[str, int] = field(default_factory=dict)


def fit_t2(
    echoes: np.ndarray,
    echo_times_ms: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    min_r2: float = DEFAULT_MIN_R2,
    t2_range_ms: tuple[float, float] = DEFAULT_T2_RANGE_MS,
    max_iterations: int = 100,
    chunk_voxels: int = DEFAULT_CHUNK_VOXELS,
    progress: ProgressCallback | None = None,
    should_cancel: CancelCheck | None = None,
) -> T2Fit:
    """Fit S(TE) = A exp(-TE / T2) + C in every masked voxel.

    Parameters
    ----------
    echoes : ndarray, shape (n_echoes, ...)
        Signal of each echo; any number of spatial dimensions.
    echo_times_ms : ndarray, shape (n_echoes,)
        Echo times in ms, distinct and positive. At least 4 echoes are
        needed, so that a 3-parameter fit leaves a residual to judge.
    mask : ndarray of bool, shape ``echoes.shape[1:]``, optional
        Voxels to fit; all voxels when omitted.
    min_r2 : float
        Fits with a coefficient of determination below this are implausible.
    t2_range_ms : (float, float)
        Fits with T2 outside this closed range in ms are implausible.
    max_iterations : int
        Levenberg-Marquardt iterations per voxel before it counts as failed.
    chunk_voxels : int
        Voxels fitted at once; lower it to save memory.
    progress, should_cancel
        Progress callback (stage ``"t2"``) and cancel check, called per chunk.

    Returns
    -------
    T2Fit
        Maps shaped like one echo and the voxel counts.

    Raises
    ------
    FitError
        If the shapes disagree, fewer than 4 echoes are given, the echo
        times are not distinct and positive or a parameter is out of range.
    """
    echoes = np.asarray(echoes)
    echo_times_ms = np.asarray(echo_times_ms, dtype=float)
    mask = _validate(echoes, echo_times_ms, mask, min_r2, t2_range_ms, max_iterations, chunk_voxels)

    spatial_shape = echoes.shape[1:]
    signal = echoes.reshape(echoes.shape[0], -1)
    selected = mask.reshape(-1)
    finite = np.all(np.isfinite(signal), axis=0)
    voxels = np.flatnonzero(selected & finite)

    maps = {name: np.full(signal.shape[1], np.nan, dtype=np.float32) for name in ("t2", "amplitude", "offset", "r2")}
    counts = {
        "fitted": 0,
        "failed": 0,
        "implausible": 0,
        "no_signal": int(np.count_nonzero(selected & ~finite)),
        "masked_out": int(np.count_nonzero(~selected)),
    }

    report(progress, "t2", 0.0, f"fitting T2 in {voxels.size} voxels")
    for start in range(0, voxels.size, chunk_voxels):
        check_cancel(should_cancel, "t2")
        chunk = voxels[start : start + chunk_voxels]
        values = signal[:, chunk].T.astype(float)
        result = _fit_chunk(values, echo_times_ms, max_iterations, t2_range_ms)
        status = _classify(result, min_r2, t2_range_ms)
        accepted = status == _ACCEPTED
        for name in maps:
            maps[name][chunk[accepted]] = result[name][accepted]
        counts["fitted"] += int(np.count_nonzero(accepted))
        counts["failed"] += int(np.count_nonzero(status == _FAILED))
        counts["implausible"] += int(np.count_nonzero(status == _IMPLAUSIBLE))
        done = start + chunk.size
        report(progress, "t2", done / voxels.size, f"{done} of {voxels.size} voxels")
    report(progress, "t2", 1.0, "T2 fit done")
    log.info("T2 fit counts: %s", counts)

    return T2Fit(
        t2_ms=maps["t2"].reshape(spatial_shape),
        amplitude=maps["amplitude"].reshape(spatial_shape),
        offset=maps["offset"].reshape(spatial_shape),
        r2=maps["r2"].reshape(spatial_shape),
        counts=counts,
    )


def foreground_mask(first_echo: np.ndarray) -> np.ndarray:
    """Return the voxels brighter than Otsu's threshold of the first echo.

    A mask for fitting a whole series when no segmentation is at hand:
    background air and noise are left out.

    Parameters
    ----------
    first_echo : ndarray
        Signal of the shortest echo; NaN voxels are left out.

    Returns
    -------
    ndarray of bool, same shape
    """
    from skimage.filters import threshold_otsu

    finite = np.isfinite(first_echo)
    if not np.any(finite):
        return np.zeros(first_echo.shape, dtype=bool)
    threshold = threshold_otsu(first_echo[finite])
    return finite & (np.nan_to_num(first_echo, nan=-np.inf) > threshold)


def log_linear_t2(signal: np.ndarray, echo_times_ms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fit log S = log A - TE / T2 per voxel by weighted least squares (weights S^2).

    The starting point of the Levenberg-Marquardt fit, with offset C = 0.

    Parameters
    ----------
    signal : ndarray, shape (n_voxels, n_echoes)
        Signal per voxel; values below 1e-3 of the voxel's maximum are clipped there.
    echo_times_ms : ndarray, shape (n_echoes,)

    Returns
    -------
    amplitude : ndarray, shape (n_voxels,)
    rate_per_ms : ndarray, shape (n_voxels,)
        1 / T2; zero or negative where the signal does not decay.
    """
    peak = np.max(signal, axis=1, keepdims=True)
    clipped = np.maximum(signal, 1e-3 * np.maximum(peak, np.finfo(float).tiny))
    log_signal = np.log(clipped)
    weights = clipped**2
    w_sum = weights.sum(axis=1)
    t_mean = (weights * echo_times_ms).sum(axis=1) / w_sum
    y_mean = (weights * log_signal).sum(axis=1) / w_sum
    dt = echo_times_ms[np.newaxis, :] - t_mean[:, np.newaxis]
    slope = (weights * dt * (log_signal - y_mean[:, np.newaxis])).sum(axis=1) / (weights * dt**2).sum(axis=1)
    amplitude = np.exp(y_mean - slope * t_mean)
    return amplitude, -slope


_ACCEPTED, _FAILED, _IMPLAUSIBLE = 0, 1, 2


def _validate(
    echoes: np.ndarray,
    echo_times_ms: np.ndarray,
    mask: np.ndarray | None,
    min_r2: float,
    t2_range_ms: tuple[float, float],
    max_iterations: int,
    chunk_voxels: int,
) -> np.ndarray:
    if echoes.ndim < 2:
        raise FitError(f"Expected echoes of shape (n_echoes, ...), got shape {echoes.shape}.")
    if echo_times_ms.shape != (echoes.shape[0],):
        raise FitError(
            f"Got {echoes.shape[0]} echoes but echo times of shape {echo_times_ms.shape}; "
            "pass one echo time per echo."
        )
    if echoes.shape[0] < 4:
        raise FitError(
            f"T2 fitting needs at least 4 echoes for 3 parameters and a residual, got {echoes.shape[0]}. "
            "Use a multi-echo T2 mapping series."
        )
    if not np.all(np.isfinite(echo_times_ms)) or np.any(echo_times_ms <= 0):
        raise FitError(f"Echo times must be positive, got {echo_times_ms.tolist()} ms.")
    if np.unique(echo_times_ms).size != echo_times_ms.size:
        raise FitError(f"Echo times must be distinct, got {echo_times_ms.tolist()} ms.")
    low, high = t2_range_ms
    if not 0 <= low < high:
        raise FitError(f"Invalid plausible T2 range {t2_range_ms} ms; expected 0 <= low < high.")
    if not -np.inf < min_r2 <= 1:
        raise FitError(f"Invalid minimum R^2 {min_r2}; expected a number up to 1.")
    if max_iterations < 1 or chunk_voxels < 1:
        raise FitError(f"max_iterations ({max_iterations}) and chunk_voxels ({chunk_voxels}) must be at least 1.")
    if mask is None:
        return np.ones(echoes.shape[1:], dtype=bool)
    mask = np.asarray(mask)
    if mask.shape != echoes.shape[1:]:
        raise FitError(f"Mask shape {mask.shape} does not match the echo shape {echoes.shape[1:]}.")
    return mask.astype(bool)


def _fit_chunk(
    signal: np.ndarray, echo_times_ms: np.ndarray, max_iterations: int, t2_range_ms: tuple[float, float]
) -> dict[str, np.ndarray]:
    """Fit every row of ``signal`` (n_voxels, n_echoes); return parameters and a convergence flag."""
    n_voxels = signal.shape[0]
    scale = np.max(np.abs(signal), axis=1)
    usable = scale > 0
    normalised = signal / np.where(usable, scale, 1.0)[:, np.newaxis]

    amplitude, rate = log_linear_t2(normalised, echo_times_ms)
    decaying = usable & (rate > 0) & np.isfinite(rate)
    params = np.column_stack([amplitude, rate, np.zeros(n_voxels)])
    converged = np.zeros(n_voxels, dtype=bool)
    escaped = np.zeros(n_voxels, dtype=bool)

    # Stop voxels whose T2 runs beyond 10 times the plausible range.
    rate_limits = (1.0 / (ESCAPE * t2_range_ms[1]), ESCAPE / max(t2_range_ms[0], 1e-6))
    rows = np.flatnonzero(decaying)
    params[rows], converged[rows], escaped[rows] = _levenberg_marquardt(
        normalised[rows], echo_times_ms, params[rows], max_iterations, rate_limits
    )

    model = params[:, [0]] * np.exp(-params[:, [1]] * echo_times_ms) + params[:, [2]]
    residual = ((normalised - model) ** 2).sum(axis=1)
    total = ((normalised - normalised.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = 1.0 - residual / total
        t2_ms = 1.0 / params[:, 1]
    return {
        "t2": t2_ms,
        "amplitude": params[:, 0] * scale,
        "offset": params[:, 2] * scale,
        "r2": r2,
        "converged": converged,
        "escaped": escaped,
        "decaying": decaying,
    }


def _levenberg_marquardt(
    signal: np.ndarray,
    echo_times_ms: np.ndarray,
    params: np.ndarray,
    max_iterations: int,
    rate_limits_per_ms: tuple[float, float],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Minimise sum (signal - A exp(-R TE) - C)^2 per row, starting from ``params``.

    Parameters
    ----------
    signal : ndarray, shape (n_voxels, n_echoes)
    echo_times_ms : ndarray, shape (n_echoes,)
    params : ndarray, shape (n_voxels, 3)
        Start values of (A, R, C), R in 1/ms.
    max_iterations : int
    rate_limits_per_ms : (float, float)
        A voxel whose accepted R leaves this range stops and is flagged as
        escaped: its T2 is heading to a value that the plausibility check
        rejects anyway. Without this, nearly flat signals creep towards
        T2 = infinity for hundreds of iterations.

    Returns
    -------
    params : ndarray, shape (n_voxels, 3)
    converged : ndarray of bool, shape (n_voxels,)
    escaped : ndarray of bool, shape (n_voxels,)
    """
    params = params.copy()
    n_voxels = params.shape[0]
    converged = np.zeros(n_voxels, dtype=bool)
    escaped = np.zeros(n_voxels, dtype=bool)
    t, t_squared = echo_times_ms, echo_times_ms**2
    n_echoes = float(t.size)

    # Working arrays hold only the voxels still iterating; `active` maps them back.
    active = np.arange(n_voxels)
    y, p = signal, params.copy()
    damping = np.full(n_voxels, _LAMBDA_START)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        decay = np.exp(-p[:, 1:2] * t)
        residual = y - p[:, 0:1] * decay - p[:, 2:3]
        cost = np.einsum("ve,ve->v", residual, residual)

        for _ in range(max_iterations):
            if active.size == 0:
                break
            amplitude = p[:, 0]
            decay_squared = decay * decay
            # Jacobian columns: d/dA = e, d/dR = -A TE e, d/dC = 1, with e = exp(-R TE).
            n00 = decay_squared.sum(axis=1)
            n01 = -amplitude * (decay_squared @ t)
            n02 = decay.sum(axis=1)
            n11 = amplitude**2 * (decay_squared @ t_squared)
            n12 = -amplitude * (decay @ t)
            n22 = np.full_like(n00, n_echoes)
            weighted = decay * residual
            g0 = weighted.sum(axis=1)
            g1 = -amplitude * (weighted @ t)
            g2 = residual.sum(axis=1)

            # Marquardt's scaling: damp each parameter by its own curvature.
            factor = 1.0 + damping
            step = _solve_symmetric_3x3(
                n00 * factor + 1e-12 * damping, n01, n02,
                n11 * factor + 1e-12 * damping, n12,
                n22 * factor, g0, g1, g2,
            )  # fmt: skip

            trial = p + step
            trial_decay = np.exp(-trial[:, 1:2] * t)
            trial_residual = y - trial[:, 0:1] * trial_decay - trial[:, 2:3]
            trial_cost = np.einsum("ve,ve->v", trial_residual, trial_residual)
            better = trial_cost < cost  # False where trial_cost is NaN

            p[better] = trial[better]
            decay[better] = trial_decay[better]
            residual[better] = trial_residual[better]
            decrease = cost - trial_cost
            cost = np.where(better, trial_cost, cost)
            damping = np.where(better, damping / 10.0, damping * 10.0)

            small_decrease = better & (decrease <= _FTOL * (cost + decrease))
            small_step = better & np.all(np.abs(step) <= _XTOL * (np.abs(trial) + _XTOL), axis=1)
            exact = cost <= 1e-24
            stuck = damping > _LAMBDA_MAX
            left = (p[:, 1] < rate_limits_per_ms[0]) | (p[:, 1] > rate_limits_per_ms[1])
            done = small_decrease | small_step | exact | stuck | left
            if not np.any(done):
                continue

            finished = active[done]
            params[finished] = p[done]
            converged[finished] = ~left[done]
            escaped[finished] = left[done]
            keep = ~done
            active, y, p, decay, residual = active[keep], y[keep], p[keep], decay[keep], residual[keep]
            cost, damping = cost[keep], damping[keep]

    params[active] = p
    converged &= np.all(np.isfinite(params), axis=1)
    return params, converged, escaped


def _solve_symmetric_3x3(
    a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray, e: np.ndarray, f: np.ndarray,
    x: np.ndarray, y: np.ndarray, z: np.ndarray,
) -> np.ndarray:  # fmt: skip
    """Solve the symmetric systems [[a, b, c], [b, d, e], [c, e, f]] s = (x, y, z) by the adjugate.

    Every argument has shape (n,). Returns shape (n, 3), NaN where a matrix
    is singular. Closed form, because ``np.linalg.solve`` on a stack raises
    as soon as one matrix is singular and is slower for 3 x 3 blocks.
    """
    cofactor_00 = d * f - e * e
    cofactor_01 = c * e - b * f
    cofactor_02 = b * e - c * d
    cofactor_11 = a * f - c * c
    cofactor_12 = b * c - a * e
    cofactor_22 = a * d - b * b
    determinant = a * cofactor_00 + b * cofactor_01 + c * cofactor_02
    inverse = np.where(np.abs(determinant) > 1e-300, 1.0 / determinant, np.nan)
    return np.column_stack(
        [
            (cofactor_00 * x + cofactor_01 * y + cofactor_02 * z) * inverse,
            (cofactor_01 * x + cofactor_11 * y + cofactor_12 * z) * inverse,
            (cofactor_02 * x + cofactor_12 * y + cofactor_22 * z) * inverse,
        ]
    )


def _classify(result: dict[str, np.ndarray], min_r2: float, t2_range_ms: tuple[float, float]) -> np.ndarray:
    """Return per voxel _ACCEPTED, _FAILED or _IMPLAUSIBLE."""
    t2_ms, amplitude, r2 = result["t2"], result["amplitude"], result["r2"]
    status = np.full(t2_ms.shape, _ACCEPTED, dtype=np.int8)
    finite = np.isfinite(t2_ms) & np.isfinite(amplitude) & np.isfinite(result["offset"]) & np.isfinite(r2)
    with np.errstate(invalid="ignore"):
        implausible = (
            ~result["decaying"]
            | (amplitude <= 0)
            | (t2_ms <= 0)
            | (t2_ms < t2_range_ms[0])
            | (t2_ms > t2_range_ms[1])
            | (r2 < min_r2)
        )
    status[implausible | result["escaped"]] = _IMPLAUSIBLE
    status[result["decaying"] & ~result["escaped"] & (~result["converged"] | ~finite)] = _FAILED
    return status
