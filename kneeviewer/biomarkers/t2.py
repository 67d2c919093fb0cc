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
solves them in closed form. Converged voxels are dropped from the working
arrays. The model is fitted in the rate ``R = 1 / T2``, which keeps the
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
#: Voxels fitted together. With 8 echoes each working array is then 1.3 MB;
#: on a 2-core x86_64 machine this ran twice as fast as chunks of 200,000.
DEFAULT_CHUNK_VOXELS = 20_000

_FTOL = 1e-8  # relative decrease of the residual sum of squares that counts as converged
_XTOL = 1e-8  # relative parameter step that counts as converged
_LAMBDA_START = 1e-3
#: Multiples of the log-linear rate tried as starting points.
_START_RATE_FACTORS = (1.0, 1.5, 2.25, 3.4)
#: A voxel stops iterating once its T2 leaves the plausible range widened by this factor.
_ESCAPE_FACTOR = 1.5
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
        Voxel counts, which sum to the number of voxels:

        - ``fitted``: accepted fits.
        - ``failed``: not converged or numerically invalid.
        - ``implausible``: non-decaying signal, T2 outside the range or
          R^2 below the threshold.
        - ``no_signal``: in the mask but some echo is NaN, for example
          outside the field of view after resampling.
        - ``masked_out``: outside the mask.
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
        values = signal[:, chunk].astype(float)
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

    Parameters
    ----------
    signal : ndarray, shape (n_echoes, n_voxels)
        Signal per echo and voxel; values below 1e-3 of the voxel's maximum
        are raised to that level before the logarithm.
    echo_times_ms : ndarray, shape (n_echoes,)

    Returns
    -------
    amplitude : ndarray, shape (n_voxels,)
    rate_per_ms : ndarray, shape (n_voxels,)
        1 / T2 in 1/ms; zero or negative where the signal does not decay.
    """
    t = echo_times_ms[:, np.newaxis]
    peak = np.max(signal, axis=0)
    clipped = np.maximum(signal, 1e-3 * np.maximum(peak, np.finfo(float).tiny))
    log_signal = np.log(clipped)
    weights = clipped**2
    weight_sum = weights.sum(axis=0)
    t_mean = (weights * t).sum(axis=0) / weight_sum
    log_mean = (weights * log_signal).sum(axis=0) / weight_sum
    dt = t - t_mean
    slope = (weights * dt * (log_signal - log_mean)).sum(axis=0) / (weights * dt**2).sum(axis=0)
    amplitude = np.exp(log_mean - slope * t_mean)
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
        raise FitError(
            f"Mask shape {mask.shape} does not match the echo shape {echoes.shape[1:]}; "
            "pass a mask on the grid of the echoes."
        )
    return mask.astype(bool)


def _fit_chunk(
    signal: np.ndarray, echo_times_ms: np.ndarray, max_iterations: int, t2_range_ms: tuple[float, float]
) -> dict[str, np.ndarray]:
    """Fit every column of ``signal`` (n_echoes, n_voxels); return maps and status flags per voxel.

    Arrays are echo-major so that numpy's inner loops run over voxels: with
    voxel-major (n_voxels, 8) arrays every operation loops over 8 elements
    per row, which measured about ten times slower.
    """
    n_voxels = signal.shape[1]
    scale = np.max(np.abs(signal), axis=0)
    usable = scale > 0
    normalised = signal / np.where(usable, scale, 1.0)

    _, rate = log_linear_t2(normalised, echo_times_ms)
    decaying = usable & (rate > 0) & np.isfinite(rate)
    params = np.zeros((3, n_voxels))
    converged = np.zeros(n_voxels, dtype=bool)
    escaped = np.zeros(n_voxels, dtype=bool)

    # Stop voxels whose T2 runs well beyond the plausible range.
    rate_limits = (1.0 / (_ESCAPE_FACTOR * t2_range_ms[1]), _ESCAPE_FACTOR / max(t2_range_ms[0], 1e-6))
    columns = np.flatnonzero(decaying)
    start = _starting_point(normalised[:, columns], echo_times_ms, rate[columns])
    params[:, columns], converged[columns], escaped[columns] = _levenberg_marquardt(
        normalised[:, columns], echo_times_ms, start, max_iterations, rate_limits
    )

    model = params[0] * np.exp(-params[1] * echo_times_ms[:, np.newaxis]) + params[2]
    residual = ((normalised - model) ** 2).sum(axis=0)
    total = ((normalised - normalised.mean(axis=0)) ** 2).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = 1.0 - residual / total
        t2_ms = 1.0 / params[1]
    return {
        "t2": t2_ms,
        "amplitude": params[0] * scale,
        "offset": params[2] * scale,
        "r2": r2,
        "converged": converged,
        "escaped": escaped,
        "decaying": decaying,
    }


def _starting_point(signal: np.ndarray, echo_times_ms: np.ndarray, rate: np.ndarray) -> np.ndarray:
    """Return start values (A, R, C), shape (3, n_voxels), from the log-linear rate.

    The log-linear rate ignores the offset C and so underestimates R when
    the signal levels off above zero. A few larger rates are tried too; for
    each, A and C follow by linear least squares, and the rate with the
    smallest residual wins. This costs about as much as two
    Levenberg-Marquardt iterations and saves several.
    """
    t = echo_times_ms[:, np.newaxis]
    n_echoes = echo_times_ms.size
    sum_y = signal.sum(axis=0)
    best_cost = np.full(rate.shape, np.inf)
    best = np.vstack([signal[0], rate, np.zeros_like(rate)])
    for factor in _START_RATE_FACTORS:
        candidate = rate * factor
        decay = np.exp(-candidate * t)
        # Normal equations of the 2-parameter linear fit y = A e + C.
        sum_e, sum_ee, sum_ey = decay.sum(axis=0), (decay * decay).sum(axis=0), (decay * signal).sum(axis=0)
        determinant = n_echoes * sum_ee - sum_e**2
        with np.errstate(divide="ignore", invalid="ignore"):
            amplitude = (n_echoes * sum_ey - sum_e * sum_y) / determinant
            offset = (sum_y - amplitude * sum_e) / n_echoes
            residual = signal - amplitude * decay - offset
        cost = (residual * residual).sum(axis=0)
        better = cost < best_cost  # False where the cost is NaN
        best_cost = np.where(better, cost, best_cost)
        best = np.where(better, np.vstack([amplitude, candidate, offset]), best)
    return best


def _levenberg_marquardt(
    signal: np.ndarray,
    echo_times_ms: np.ndarray,
    params: np.ndarray,
    max_iterations: int,
    rate_limits_per_ms: tuple[float, float],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Minimise sum over echoes of (signal - A exp(-R TE) - C)^2 for every voxel.

    Parameters
    ----------
    signal : ndarray, shape (n_echoes, n_voxels)
    echo_times_ms : ndarray, shape (n_echoes,)
    params : ndarray, shape (3, n_voxels)
        Start values of (A, R, C), R in 1/ms.
    max_iterations : int
    rate_limits_per_ms : (float, float)
        A voxel whose accepted R leaves this range stops and is flagged as
        escaped: its T2 is heading to a value that the plausibility check
        rejects anyway. Without this, nearly flat signals creep towards
        T2 = infinity for dozens of iterations.

    Returns
    -------
    params : ndarray, shape (3, n_voxels)
    converged : ndarray of bool, shape (n_voxels,)
    escaped : ndarray of bool, shape (n_voxels,)
    """
    n_voxels = params.shape[1]
    result = params.copy()
    converged = np.zeros(n_voxels, dtype=bool)
    escaped = np.zeros(n_voxels, dtype=bool)
    t = echo_times_ms[:, np.newaxis]
    n_echoes = float(echo_times_ms.size)

    # Working arrays hold only the voxels still iterating; `active` maps them back.
    active = np.arange(n_voxels)
    y, p = signal, params.copy()
    damping = np.full(n_voxels, _LAMBDA_START)
    growth = np.full(n_voxels, 2.0)
    running = np.ones(n_voxels, dtype=bool)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        decay = np.exp(-p[1] * t)
        residual = y - p[0] * decay - p[2]
        cost = (residual * residual).sum(axis=0)

        for _ in range(max_iterations):
            if active.size == 0:
                break
            amplitude = p[0]
            # Jacobian columns: d/dA = e, d/dR = -A TE e, d/dC = 1, with e = exp(-R TE).
            # Sums over echoes are written out elementwise: matrix products
            # would go through a multithreaded BLAS whose start-up costs more
            # than these small products, and einsum is slower still.
            decay_squared = decay * decay
            weighted = decay * residual
            t_decay_squared = t * decay_squared
            n00 = decay_squared.sum(axis=0)
            n01 = -amplitude * t_decay_squared.sum(axis=0)
            n02 = decay.sum(axis=0)
            n11 = amplitude**2 * (t * t_decay_squared).sum(axis=0)
            n12 = -amplitude * (t * decay).sum(axis=0)
            n22 = n_echoes
            g0 = weighted.sum(axis=0)
            g1 = -amplitude * (t * weighted).sum(axis=0)
            g2 = residual.sum(axis=0)

            # Marquardt's scaling: damp each parameter by its own curvature.
            factor = 1.0 + damping
            step = _solve_symmetric_3x3(
                n00 * factor + 1e-12 * damping, n01, n02,
                n11 * factor + 1e-12 * damping, n12,
                n22 * factor, g0, g1, g2,
            )  # fmt: skip

            trial = p + step
            trial_decay = np.exp(-trial[1] * t)
            trial_residual = y - trial[0] * trial_decay - trial[2]
            trial_cost = (trial_residual * trial_residual).sum(axis=0)
            better = trial_cost < cost  # False where trial_cost is NaN

            # Damping update of Nielsen (1999): shrink by the gain ratio of
            # actual to predicted decrease, grow geometrically on rejection.
            decrease = cost - trial_cost
            predicted = (
                step[0] * (g0 + damping * n00 * step[0])
                + step[1] * (g1 + damping * n11 * step[1])
                + step[2] * (g2 + damping * n22 * step[2])
            )
            gain = decrease / predicted
            damping = np.where(better, damping * np.maximum(1.0 / 3.0, 1.0 - (2.0 * gain - 1.0) ** 3), damping * growth)
            growth = np.where(better, 2.0, growth * 2.0)

            p = np.where(better, trial, p)
            decay = np.where(better, trial_decay, decay)
            residual = np.where(better, trial_residual, residual)
            cost = np.where(better, trial_cost, cost)

            small_decrease = better & (decrease <= _FTOL * (cost + decrease))
            small_step = better & np.all(np.abs(step) <= _XTOL * (np.abs(trial) + _XTOL), axis=0)
            exact = cost <= 1e-24
            stuck = damping > _LAMBDA_MAX
            left = (p[1] < rate_limits_per_ms[0]) | (p[1] > rate_limits_per_ms[1])
            done = running & (small_decrease | small_step | exact | stuck | left)
            if not np.any(done):
                continue

            finished = active[done]
            result[:, finished] = p[:, done]
            converged[finished] = ~left[done]
            escaped[finished] = left[done]
            running &= ~done
            # Finished voxels ride along (their results are already stored)
            # until half of the working set has finished, because compacting
            # the arrays costs as much as an iteration. On the sample MESE
            # series this was about 10 % faster than compacting after a
            # quarter, and also faster than after four fifths.
            if np.count_nonzero(running) < 0.5 * running.size:
                keep = running
                active, y, p, decay, residual = active[keep], y[:, keep], p[:, keep], decay[:, keep], residual[:, keep]
                cost, damping, growth, running = cost[keep], damping[keep], growth[keep], running[keep]

    result[:, active[running]] = p[:, running]
    converged &= np.all(np.isfinite(result), axis=0)
    return result, converged, escaped


def _solve_symmetric_3x3(
    a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray, e: np.ndarray, f: np.ndarray,
    x: np.ndarray, y: np.ndarray, z: np.ndarray,
) -> np.ndarray:  # fmt: skip
    """Solve the symmetric systems [[a, b, c], [b, d, e], [c, e, f]] s = (x, y, z) by the adjugate.

    Every argument has shape (n,) or is a scalar. Returns shape (3, n), NaN
    where a matrix is singular. Closed form, because ``np.linalg.solve`` on
    a stack raises as soon as one matrix is singular and is slower for
    3 x 3 blocks.
    """
    cofactor_00 = d * f - e * e
    cofactor_01 = c * e - b * f
    cofactor_02 = b * e - c * d
    cofactor_11 = a * f - c * c
    cofactor_12 = b * c - a * e
    cofactor_22 = a * d - b * b
    determinant = a * cofactor_00 + b * cofactor_01 + c * cofactor_02
    inverse = np.where(np.abs(determinant) > 1e-300, 1.0 / determinant, np.nan)
    return np.vstack(
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
            | (t2_ms < t2_range_ms[0])
            | (t2_ms > t2_range_ms[1])
            | (r2 < min_r2)
        )
    status[implausible | result["escaped"]] = _IMPLAUSIBLE
    status[result["decaying"] & ~result["escaped"] & (~result["converged"] | ~finite)] = _FAILED
    return status
