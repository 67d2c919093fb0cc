"""Point-wise statistical parametric mapping of Grad-CAM between two groups.

At every atlas vertex ``v`` the linear model

    gradcam[i, v] = b0 + b_group * group[i] + b_age * age[i] + b_sex * sex[i] + b_bmi * bmi[i] + e

is fitted by ordinary least squares over the knees ``i`` that have a value
at ``v``. The p-value of the group term is the two-sided t-test of
``b_group``, which equals the 1-df F test of the group term in the ANOVA.
The fit is one batched solve of the per-vertex normal equations, with no
Python loop over vertices.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats

from kneeviewer.errors import InputError
from kneeviewer.progress import CancelCheck, ProgressCallback

log = logging.getLogger(__name__)

#: Column of the group indicator in designs built by :func:`build_design`.
GROUP_COLUMN = 1


@dataclass
class SpmResult:
    """Per-vertex group comparison.

    Attributes
    ----------
    t, p
        ``(n_vertices,)`` t statistic and two-sided p-value of the group
        term; NaN where too few knees have a value.
    mean_group1, mean_group0
        ``(n_vertices,)`` mean response of the knees with group 1 (TP_pain)
        and group 0 (TN_nopain), ignoring NaN.
    n_valid
        ``(n_vertices,)`` number of knees with a value.
    """

    t: np.ndarray
    p: np.ndarray
    mean_group1: np.ndarray
    mean_group0: np.ndarray
    n_valid: np.ndarray


def build_design(group: np.ndarray, covariates: np.ndarray | None = None) -> np.ndarray:
    """Stack ``[1, group, covariates...]`` into an ``(n_knees, p)`` design matrix.

    Parameters
    ----------
    group
        ``(n_knees,)`` 1 for TP_pain, 0 for TN_nopain.
    covariates
        ``(n_knees, k)`` covariates such as age (years), sex (0/1) and BMI
        (kg/m^2), or None.
    """
    group = np.asarray(group, dtype=float).reshape(-1, 1)
    columns = [np.ones_like(group), group]
    if covariates is not None:
        covariates = np.asarray(covariates, dtype=float)
        if covariates.ndim == 1:
            covariates = covariates[:, None]
        columns.append(covariates)
    return np.hstack(columns)


def pointwise_group_test(
    response: np.ndarray,
    group: np.ndarray,
    covariates: np.ndarray | None = None,
    min_knees_per_group: int = 3,
    min_valid_fraction: float = 0.5,
) -> SpmResult:
    """Test the group term of a per-vertex linear model at every vertex.

    Parameters
    ----------
    response
        ``(n_knees, n_vertices)`` values on the atlas (Grad-CAM), NaN where a
        knee has no value.
    group
        ``(n_knees,)`` 1 (TP_pain) or 0 (TN_nopain).
    covariates
        ``(n_knees, k)`` covariates without NaN, or None.
    min_knees_per_group
        Vertices with fewer valid knees in either group get NaN statistics.
    min_valid_fraction
        Vertices where fewer than this fraction of all knees have a value get
        NaN statistics, so that no p-value rests on a handful of knees.

    Raises
    ------
    InputError
        Shapes disagree, covariates contain NaN or a group is not 0/1.
    """
    response = np.asarray(response, dtype=float)
    group = np.asarray(group, dtype=float)
    if response.ndim != 2 or response.shape[0] != group.shape[0]:
        raise InputError(
            f"Response must be (n_knees, n_vertices) with n_knees = {group.shape[0]} group labels, got {response.shape}."
        )
    if not np.all(np.isin(group, (0.0, 1.0))):
        raise InputError("Group labels must be 0 (TN_nopain) or 1 (TP_pain).")
    design = build_design(group, covariates)
    if not np.all(np.isfinite(design)):
        raise InputError("Covariates contain NaN or infinite values; drop those knees before the SPM.")
    valid = np.isfinite(response)
    t = group_t_statistic(design, response, valid, min_knees_per_group, min_valid_fraction)
    dof = valid.sum(axis=0) - design.shape[1]
    with np.errstate(invalid="ignore"):
        p = 2.0 * scipy_stats.t.sf(np.abs(t), np.maximum(dof, 1))
    p[~np.isfinite(t)] = np.nan
    with warnings.catch_warnings():
        # All-NaN vertices give NaN means, which is the intended "no value".
        warnings.simplefilter("ignore", RuntimeWarning)
        mean1 = np.nanmean(response[group == 1], axis=0)
        mean0 = np.nanmean(response[group == 0], axis=0)
    return SpmResult(t=t, p=p, mean_group1=mean1, mean_group0=mean0, n_valid=valid.sum(axis=0))


def group_t_statistic(
    design: np.ndarray,
    response: np.ndarray,
    valid: np.ndarray,
    min_knees_per_group: int = 3,
    min_valid_fraction: float = 0.5,
) -> np.ndarray:
    """Return the ``(n_vertices,)`` t statistic of the column :data:`GROUP_COLUMN` of ``design``.

    Every vertex uses only its valid knees: the normal equations
    ``(X' M_v X) b_v = X' M_v y_v`` with the 0/1 mask ``M_v`` are built for
    all vertices at once with ``einsum`` and solved as one batch. Vertices
    where no value is missing share one least-squares solve instead.

    Parameters
    ----------
    design
        ``(n_knees, p)`` design matrix.
    response
        ``(n_knees, n_vertices)``; entries outside ``valid`` are ignored.
    valid
        ``(n_knees, n_vertices)`` boolean mask of usable entries.
    """
    n_knees, n_params = design.shape
    group = design[:, GROUP_COLUMN]
    n1 = (valid & (group[:, None] == 1)).sum(axis=0)
    n0 = (valid & (group[:, None] == 0)).sum(axis=0)
    n_valid = n1 + n0
    enough = (n1 >= min_knees_per_group) & (n0 >= min_knees_per_group) & (n_valid > n_params)
    enough &= n_valid >= min_valid_fraction * n_knees
    t = np.full(response.shape[1], np.nan)
    if not enough.any():
        return t
    # Vertices where every knee has a value share one design: one least-squares solve for all.
    complete = enough & valid.all(axis=0)
    if complete.any():
        t[complete] = _t_complete(design, response[:, complete])
    columns = np.flatnonzero(enough & ~complete)
    if columns.size == 0:
        return t
    mask = valid[:, columns].astype(float)
    y = np.where(valid[:, columns], response[:, columns], 0.0)
    # (n_vertices, p, p) masked Gram matrices and (n_vertices, p) moments.
    gram = np.einsum("iv,ij,ik->vjk", mask, design, design, optimize=True)
    moment = np.einsum("iv,ij->vj", y, design, optimize=True)
    try:
        inverse = np.linalg.inv(gram)
    except np.linalg.LinAlgError:
        # A singular vertex (all valid knees share a covariate value) spoils the batch; use pinv.
        inverse = np.linalg.pinv(gram)
    beta = np.einsum("vjk,vk->vj", inverse, moment)
    fitted = design @ beta.T
    rss = np.sum(mask * (y - fitted) ** 2, axis=0)
    dof = n_valid[columns] - n_params
    sigma2 = rss / dof
    variance = sigma2 * inverse[:, GROUP_COLUMN, GROUP_COLUMN]
    with np.errstate(divide="ignore", invalid="ignore"):
        t[columns] = np.where(variance > 0, beta[:, GROUP_COLUMN] / np.sqrt(variance), np.nan)
    return t


def _t_complete(design: np.ndarray, response: np.ndarray) -> np.ndarray:
    n_knees, n_params = design.shape
    inverse = np.linalg.pinv(design.T @ design)
    beta = inverse @ (design.T @ response)
    rss = np.sum((response - design @ beta) ** 2, axis=0)
    sigma2 = rss / (n_knees - n_params)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(sigma2 > 0, beta[GROUP_COLUMN] / np.sqrt(sigma2 * inverse[GROUP_COLUMN, GROUP_COLUMN]), np.nan)


def spm_with_corrections(
    response: np.ndarray,
    group: np.ndarray,
    covariates: np.ndarray | None = None,
    n_permutations: int = 1000,
    seed: int = 0,
    progress: ProgressCallback | None = None,
    should_cancel: CancelCheck | None = None,
) -> tuple[SpmResult, np.ndarray, np.ndarray]:
    """Run :func:`pointwise_group_test` and both corrections.

    Returns
    -------
    result, p_fdr, p_fwe
        The uncorrected result, Benjamini-Hochberg adjusted p-values and
        permutation (min p) family-wise adjusted p-values, each
        ``(n_vertices,)`` with NaN where ``result.p`` is NaN.
    """
    from kneeviewer.stats.corrections import fdr_bh, fwe_permutation

    result = pointwise_group_test(response, group, covariates)
    p_fdr = fdr_bh(result.p)
    design = build_design(group, covariates)
    p_fwe = fwe_permutation(
        design, np.asarray(response, float), result.p, n_permutations, seed, progress=progress, should_cancel=should_cancel
    )
    return result, p_fdr, p_fwe
