"""Multiple-comparison corrections of per-vertex p-values.

Two corrections are offered, and every map shows which one it uses:

- ``fdr``: Benjamini-Hochberg false discovery rate (statsmodels
  ``multipletests(method="fdr_bh")``), computed over the vertices with a
  p-value.
- ``fwe``: family-wise error by permutation of the group labels and the
  minimum p-value over vertices as the maximum statistic (Nichols and
  Holmes, Hum Brain Mapp 15:1-25, 2002, doi:10.1002/hbm.1058). The adjusted
  p-value of a vertex is
  ``(1 + #{permutations with min p <= p_v}) / (1 + n_permutations)``.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy import stats as scipy_stats
from statsmodels.stats.multitest import multipletests

from kneeviewer.errors import InputError
from kneeviewer.progress import CancelCheck, ProgressCallback, check_cancel, report

log = logging.getLogger(__name__)

#: Names of the corrections, as shown in legends and accepted by the CLI.
CORRECTIONS = {
    "none": "uncorrected",
    "fdr": "Benjamini-Hochberg FDR",
    "fwe": "permutation FWE (min p)",
}


def fdr_bh(p_values: np.ndarray) -> np.ndarray:
    """Return Benjamini-Hochberg adjusted p-values; NaN entries stay NaN and are not counted.

    Parameters
    ----------
    p_values
        ``(n_vertices,)`` uncorrected p-values.
    """
    p_values = np.asarray(p_values, dtype=float)
    adjusted = np.full_like(p_values, np.nan)
    finite = np.isfinite(p_values)
    if finite.any():
        adjusted[finite] = multipletests(p_values[finite], method="fdr_bh")[1]
    return adjusted


def fwe_permutation(
    design: np.ndarray,
    response: np.ndarray,
    observed_p: np.ndarray,
    n_permutations: int = 1000,
    seed: int = 0,
    group_column: int = 1,
    min_knees_per_group: int = 3,
    min_valid_fraction: float = 0.5,
    progress: ProgressCallback | None = None,
    should_cancel: CancelCheck | None = None,
) -> np.ndarray:
    """Return family-wise adjusted p-values by permuting the group column of ``design``.

    The group labels are shuffled across knees while the covariates stay in
    place, and the model is refitted at every vertex (one vectorised fit per
    permutation). The maximum statistic is the smallest uncorrected p-value
    over vertices. It equals the maximum |t| when every vertex has the same
    degrees of freedom, and it stays valid when missing knees give vertices
    different degrees of freedom, where a few low-dof vertices would
    otherwise dominate the maximum |t|.

    Parameters
    ----------
    design
        ``(n_knees, p)`` design; column ``group_column`` is the 0/1 group.
    response
        ``(n_knees, n_vertices)`` with NaN where a knee has no value.
    observed_p
        ``(n_vertices,)`` uncorrected p-values of the unpermuted fit.
    n_permutations
        Number of random permutations (at least 1).
    seed
        Seed of the permutation generator, so that runs repeat exactly.
    min_knees_per_group, min_valid_fraction
        The vertex criteria of the unpermuted fit
        (:func:`kneeviewer.stats.spm.pointwise_group_test`).

    Returns
    -------
    numpy.ndarray
        ``(n_vertices,)`` adjusted p-values, NaN where ``observed_p`` is NaN.
    """
    from kneeviewer.stats.spm import group_t_statistic

    if n_permutations < 1:
        raise InputError(f"n_permutations must be at least 1, got {n_permutations}.")
    rng = np.random.default_rng(seed)
    valid = np.isfinite(response)
    dof = valid.sum(axis=0) - design.shape[1]
    dof_values = np.unique(dof[dof > 0])
    min_p = np.empty(n_permutations)
    permuted = design.copy()
    for k in range(n_permutations):
        if k % 50 == 0:
            check_cancel(should_cancel, "permutations")
            report(progress, "permutations", k / n_permutations, f"permutation {k} of {n_permutations}")
        permuted[:, group_column] = rng.permutation(design[:, group_column])
        t = np.abs(group_t_statistic(permuted, response, valid, min_knees_per_group, min_valid_fraction))
        # The smallest p over vertices is reached at the largest |t| within each dof value.
        smallest = 1.0
        for value in dof_values:
            same = (dof == value) & np.isfinite(t)
            if same.any():
                smallest = min(smallest, float(2.0 * scipy_stats.t.sf(t[same].max(), value)))
        min_p[k] = smallest
    report(progress, "permutations", 1.0, "permutations done")
    observed = np.asarray(observed_p, dtype=float)
    sorted_min = np.sort(min_p)
    # Count permutations whose smallest p reaches each observed p, by a sorted search.
    reached = np.searchsorted(sorted_min, np.nan_to_num(observed, nan=-1.0), side="right")
    adjusted = (1.0 + reached) / (1.0 + n_permutations)
    adjusted[~np.isfinite(observed)] = np.nan
    return adjusted
