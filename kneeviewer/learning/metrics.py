"""Classification metrics and their bootstrap confidence intervals."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

THRESHOLD = 0.5


def binary_metrics(labels: np.ndarray, probabilities: np.ndarray, threshold: float = THRESHOLD) -> dict[str, float]:
    """Compute AUC, sensitivity and specificity.

    Parameters
    ----------
    labels : (n,) array of 0/1
    probabilities : (n,) array in [0, 1]
    threshold : probability at and above which a knee is called positive

    Returns
    -------
    dict
        ``auc``, ``sensitivity``, ``specificity``; NaN when a class is absent.
    """
    labels = np.asarray(labels).astype(int)
    probabilities = np.asarray(probabilities, dtype=float)
    predicted = probabilities >= threshold
    positives = labels == 1
    negatives = ~positives
    auc = float(roc_auc_score(labels, probabilities)) if positives.any() and negatives.any() else float("nan")
    sensitivity = float(predicted[positives].mean()) if positives.any() else float("nan")
    specificity = float((~predicted[negatives]).mean()) if negatives.any() else float("nan")
    return {"auc": auc, "sensitivity": sensitivity, "specificity": specificity}


def bootstrap_metrics(
    labels: np.ndarray, probabilities: np.ndarray, n_resamples: int = 100, seed: int = 0, threshold: float = THRESHOLD
) -> dict[str, dict[str, float]]:
    """Bootstrap AUC, sensitivity and specificity with percentile 95% intervals.

    Knees are resampled with replacement ``n_resamples`` times; a resample
    with only one class gives NaN for the metrics it cannot define and is
    left out of that metric's interval.

    Returns
    -------
    dict
        metric -> ``{"value": full-sample value, "ci_low": 2.5th percentile,
        "ci_high": 97.5th percentile}``.
    """
    labels = np.asarray(labels).astype(int)
    probabilities = np.asarray(probabilities, dtype=float)
    rng = np.random.default_rng(seed)
    point = binary_metrics(labels, probabilities, threshold)
    samples: dict[str, list[float]] = {name: [] for name in point}
    for _ in range(n_resamples):
        chosen = rng.integers(0, len(labels), len(labels))
        for name, value in binary_metrics(labels[chosen], probabilities[chosen], threshold).items():
            samples[name].append(value)
    result = {}
    for name, value in point.items():
        values = np.asarray(samples[name])
        values = values[np.isfinite(values)]
        low, high = (np.percentile(values, [2.5, 97.5]) if len(values) else (np.nan, np.nan))
        result[name] = {"value": value, "ci_low": float(low), "ci_high": float(high)}
    return result
