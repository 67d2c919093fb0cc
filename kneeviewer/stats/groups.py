"""TP_pain and TN_nopain groups: knees that every chosen model classifies correctly."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from kneeviewer.errors import InputError

log = logging.getLogger(__name__)

TP_PAIN = "TP_pain"
TN_NOPAIN = "TN_nopain"


def select_groups(
    probabilities: pd.DataFrame,
    pain: pd.Series,
    models: Sequence[str] | None = None,
    threshold: float = 0.5,
) -> pd.Series:
    """Label knees TP_pain, TN_nopain or NaN from the models' predictions.

    A knee is TP_pain when it has pain and every chosen model predicts pain
    (probability >= ``threshold``), and TN_nopain when it has no pain and
    every chosen model predicts no pain. The intersection over models
    follows Morales et al., Sci Rep 11:21989 (2021).

    Parameters
    ----------
    probabilities
        One row per knee, one column per model, predicted pain probability.
        A knee with a missing probability for a chosen model is in no group.
    pain
        1 (chronic pain) or 0 (no pain), same index as ``probabilities``.
    models
        Columns to intersect over; None uses every column.

    Returns
    -------
    pandas.Series
        ``"TP_pain"``, ``"TN_nopain"`` or NaN per knee.
    """
    models = list(probabilities.columns if models is None else models)
    if not models:
        raise InputError("No models chosen for the groups; name at least one model column.")
    absent = [name for name in models if name not in probabilities.columns]
    if absent:
        raise InputError(f"Models {absent} have no predictions; available: {list(probabilities.columns)}.")
    if not probabilities.index.equals(pain.index):
        raise InputError("Predictions and pain labels must list the same knees in the same order.")
    chosen = probabilities[models].to_numpy(dtype=float)
    complete = np.all(np.isfinite(chosen), axis=1)
    predicted_pain = np.all(chosen >= threshold, axis=1) & complete
    predicted_none = np.all(chosen < threshold, axis=1) & complete
    truth = pain.to_numpy(dtype=float)
    labels = pd.Series(np.nan, index=pain.index, dtype=object)
    labels[(truth == 1) & predicted_pain] = TP_PAIN
    labels[(truth == 0) & predicted_none] = TN_NOPAIN
    log.info("Groups over %d models: %d TP_pain, %d TN_nopain", len(models), (labels == TP_PAIN).sum(), (labels == TN_NOPAIN).sum())
    return labels


def describe_groups(groups: pd.Series, demographics: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Summarise group sizes and demographics.

    Parameters
    ----------
    groups
        Output of :func:`select_groups`.
    demographics
        Columns ``age`` (years), ``sex`` and ``bmi`` (kg/m^2), same index.

    Returns
    -------
    dict
        Group name to ``n``, ``age_mean``, ``age_sd``, ``bmi_mean``,
        ``bmi_sd`` and ``sex_<value>`` counts.
    """
    summary = {}
    for name in (TP_PAIN, TN_NOPAIN):
        members = demographics.loc[groups == name]
        entry: dict[str, float] = {"n": int(len(members))}
        for column in ("age", "bmi"):
            if column in members and len(members) > 0:
                entry[f"{column}_mean"] = float(members[column].mean())
                entry[f"{column}_sd"] = float(members[column].std())
        if "sex" in members:
            for value, count in members["sex"].value_counts().sort_index().items():
                code = int(value) if isinstance(value, (int, float)) and float(value).is_integer() else value
                entry[f"sex_{code}"] = int(count)
        summary[name] = entry
    return summary
