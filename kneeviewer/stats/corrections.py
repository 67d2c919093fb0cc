"""Multiple-comparison corrections of per-vertex p-values.

Two corrections are offered, and every map shows which one it uses:

- ``fdr``: Benjamini-Hochberg false discovery rate (statsmodels
  ``multipletests(method="fdr_bh")``), computed over the vertices with a
  p-value.
- ``fwe``: family-wise error by permutation of the group labels and the
  maximum |t| over vertices (Nichols and Holmes, Hum Brain Mapp 15:1-25,
  2002, doi:10.1002/hbm.1058). The adjusted p-value of a vertex is
  ``(1 + #{permutations with max|t| >= |t_v|}) / (1 + n_permutations)``.
"""

from __future__ import annotations

import logging

import numpy as np
from statsmodels.stats.multitest import multipletests

from kneeviewer.errors import InputError
from kneeviewer.progress import CancelCheck, ProgressCallback, check_cancel, report

log = logging.getLogger(__name__)

#: Names of the corrections, as shown in legends and accepted by the CLI.
CORRECTIONS = {
    "none": "uncorrected",
    "fdr": "Benjamini-Hochberg FDR",
    "fwe": "permutation FWE (max |t|)",
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


def fwe_max_t(
    design: np.ndarray,
    response: np.ndarray,
    observed_t: np.ndarray,
    n_permutations: int = 1000,
    seed: int = 0,
    group_column: int = 1,
    progress: ProgressCallback | None = None,
    should_cancel: CancelCheck | None = None,
) -> np.ndarray:
    """Return family-wise adjusted p-values by permuting the group column of ``design``.

    The group labels are shuffled across knees while the covariates stay in
    place, and the model is refitted at every vertex. Each permutation is one
    vectorised fit over all vertices.

    Parameters
    ----------
    design
        ``(n_knees, p)`` design; column ``group_column`` is the 0/1 group.
    response
        ``(n_knees, n_vertices)`` with NaN where a knee has no value.
    observed_t
        ``(n_vertices,)`` t statistics of the unpermuted fit.
    n_permutations
        Number of random permutations (at least 1).
    seed
        Seed of the permutation generator, so that runs repeat exactly.

    Returns
    -------
    numpy.ndarray
        ``(n_vertices,)`` adjusted p-values, NaN where ``observed_t`` is NaN.
    """
    from kneeviewer.stats.spm import group_t_statistic

    if n_permutations < 1:
        raise InputError(f"n_permutations must be at least 1, got {n_permutations}.")
    rng = np.random.default_rng(seed)
    valid = np.isfinite(response)
    max_t = np.empty(n_permutations)
    permuted = design.copy()
    for k in range(n_permutations):
        if k % 50 == 0:
            check_cancel(should_cancel, "permutations")
            report(progress, "permutations", k / n_permutations, f"permutation {k} of {n_permutations}")
        permuted[:, group_column] = rng.permutation(design[:, group_column])
        t = group_t_statistic(permuted, response, valid)
        max_t[k] = np.nanmax(np.abs(t)) if np.isfinite(t).any() else 0.0
    report(progress, "permutations", 1.0, "permutations done")
    observed = np.abs(np.asarray(observed_t, dtype=float))
    # Count permutations whose maximum reaches each observed |t| by a sorted search.
    sorted_max = np.sort(max_t)
    exceed = n_permutations - np.searchsorted(sorted_max, np.nan_to_num(observed, nan=np.inf), side="left")
    adjusted = (1.0 + exceed) / (1.0 + n_permutations)
    adjusted[~np.isfinite(observed)] = np.nan
    return adjusted
