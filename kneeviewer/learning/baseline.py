"""Radiographic baseline: logistic regression of chronic pain on radiographic grades.

pain ~ KL + JSN medial + JSN lateral + minimum medial JSW + age + sex + BMI,
fitted with statsmodels on the training knees and tested on the first
timepoint of each test patient, as the chronic-pain study's comparison
model (its test AUC was 0.69).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf

from kneeviewer.errors import FitError
from kneeviewer.learning.metrics import bootstrap_metrics

log = logging.getLogger(__name__)

FORMULA = "pain ~ kl + jsn_medial + jsn_lateral + min_jsw_medial_mm + age + C(sex) + bmi"


def fit_radiographic_baseline(
    train: pd.DataFrame, test: pd.DataFrame, n_resamples: int = 100, seed: int = 0
) -> tuple[pd.DataFrame, dict[str, dict[str, float]], np.ndarray]:
    """Fit the baseline on ``train`` and evaluate it on ``test``.

    Parameters
    ----------
    train, test : DataFrame
        Cohort rows with ``pain``, ``kl``, ``jsn_medial``, ``jsn_lateral``,
        ``min_jsw_medial_mm`` (mm), ``age`` (years), ``sex`` ("M"/"F") and
        ``bmi`` (kg/m^2).

    Returns
    -------
    odds_ratios : DataFrame
        Index: model terms; columns ``odds_ratio``, ``ci_low``, ``ci_high``
        (95%), ``p_value``.
    metrics : dict
        Bootstrap AUC, sensitivity and specificity on ``test`` (see
        :func:`~kneeviewer.learning.metrics.bootstrap_metrics`), with the
        training prevalence as the decision threshold.
    probabilities : ndarray, (len(test),)
    """
    try:
        fitted = smf.logit(FORMULA, data=train).fit(disp=False, maxiter=200)
    except (np.linalg.LinAlgError, ValueError) as error:
        raise FitError(f"The radiographic baseline could not be fitted on {len(train)} training knees ({error}).") from error
    confidence = fitted.conf_int(alpha=0.05)
    odds_ratios = pd.DataFrame(
        {
            "odds_ratio": np.exp(fitted.params),
            "ci_low": np.exp(confidence[0]),
            "ci_high": np.exp(confidence[1]),
            "p_value": fitted.pvalues,
        }
    )
    probabilities = np.asarray(fitted.predict(test), dtype=float)
    # An unweighted logistic model is calibrated to the training prevalence,
    # so that prevalence is its balanced decision threshold.
    threshold = float(train["pain"].mean())
    metrics = bootstrap_metrics(test["pain"].to_numpy(), probabilities, n_resamples, seed, threshold)
    return odds_ratios, metrics, probabilities
