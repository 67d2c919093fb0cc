"""Point-wise group test, FDR and permutation FWE on synthetic response matrices."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from statsmodels.stats.multitest import multipletests

from kneeviewer.stats.corrections import fdr_bh, fwe_permutation
from kneeviewer.stats.spm import build_design, pointwise_group_test, spm_with_corrections

N_PER_GROUP = 20
N_VERTICES = 600
PLANTED = slice(0, 60)


def _cohort(effect: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    group = np.repeat([1.0, 0.0], N_PER_GROUP)
    covariates = np.column_stack([rng.uniform(50, 75, 2 * N_PER_GROUP), rng.integers(0, 2, 2 * N_PER_GROUP), rng.uniform(20, 35, 2 * N_PER_GROUP)])
    response = 0.3 + 0.1 * rng.standard_normal((2 * N_PER_GROUP, N_VERTICES)) + 0.002 * (covariates[:, [0]] - 60)
    response[group == 1, PLANTED] += effect
    return response, group, covariates


def test_planted_difference_fwe_significant():
    response, group, covariates = _cohort(effect=0.3)
    result, p_fdr, p_fwe = spm_with_corrections(response, group, covariates, n_permutations=200, seed=1)
    assert np.all(p_fwe[PLANTED] < 0.05)
    assert np.mean(p_fwe[PLANTED.stop :] < 0.05) <= 0.05
    assert np.all(result.mean_group1[PLANTED] > result.mean_group0[PLANTED])


def test_null_false_positive_rate():
    response, group, covariates = _cohort(effect=0.0, seed=3)
    result = pointwise_group_test(response, group, covariates)
    assert np.mean(result.p < 0.05) <= 0.07


def test_matches_statsmodels_ols():
    response, group, covariates = _cohort(effect=0.1)
    result = pointwise_group_test(response, group, covariates)
    design = build_design(group, covariates)
    for vertex in (0, 100):
        fit = sm.OLS(response[:, vertex], design).fit()
        assert result.t[vertex] == pytest.approx(fit.tvalues[1], rel=1e-8)
        assert result.p[vertex] == pytest.approx(fit.pvalues[1], rel=1e-6)


def test_missing_values_match_subset_fit():
    response, group, covariates = _cohort(effect=0.1)
    response[[0, 5, 30], 7] = np.nan
    result = pointwise_group_test(response, group, covariates)
    keep = np.isfinite(response[:, 7])
    fit = sm.OLS(response[keep, 7], build_design(group, covariates)[keep]).fit()
    assert result.p[7] == pytest.approx(fit.pvalues[1], rel=1e-6)
    assert result.n_valid[7] == 37


def test_too_few_knees_give_nan():
    response, group, covariates = _cohort(effect=0.1)
    response[group == 1, 9] = np.nan
    response[2:, 11] = np.nan
    response[: 2 * N_PER_GROUP - 15, 13] = np.nan
    result = pointwise_group_test(response, group, covariates)
    assert np.isnan(result.p[9])
    assert np.isnan(result.p[11])
    assert np.isnan(result.p[13])
    assert np.isfinite(result.p[10])


def test_fdr_matches_statsmodels_and_keeps_nan():
    p = np.array([0.001, np.nan, 0.04, 0.03, 0.5])
    adjusted = fdr_bh(p)
    expected = multipletests(p[np.isfinite(p)], method="fdr_bh")[1]
    assert np.isnan(adjusted[1])
    assert np.allclose(adjusted[np.isfinite(p)], expected)


def test_fwe_robust_to_low_dof_vertices():
    response, group, covariates = _cohort(effect=0.3)
    # Vertices 100 to 149 keep only 11 of 40 knees after their own NaN pattern.
    rng = np.random.default_rng(5)
    for vertex in range(100, 150):
        keep = np.concatenate([rng.choice(N_PER_GROUP, 6, replace=False), N_PER_GROUP + rng.choice(N_PER_GROUP, 5, replace=False)])
        missing = np.setdiff1d(np.arange(2 * N_PER_GROUP), keep)
        response[missing, vertex] = np.nan
    result = pointwise_group_test(response, group, covariates, min_valid_fraction=0.0)
    design = build_design(group, covariates)
    p_fwe = fwe_permutation(design, response, result.p, n_permutations=100, seed=2, min_valid_fraction=0.0)
    assert np.all(p_fwe[PLANTED] < 0.05)


def test_fwe_seeded_and_conservative():
    response, group, covariates = _cohort(effect=0.1)
    result = pointwise_group_test(response, group, covariates)
    design = build_design(group, covariates)
    first = fwe_permutation(design, response, result.p, n_permutations=50, seed=7)
    second = fwe_permutation(design, response, result.p, n_permutations=50, seed=7)
    assert np.array_equal(first, second)
    assert np.all(first >= result.p - 1e-12)
