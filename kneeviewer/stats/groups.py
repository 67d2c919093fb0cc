"""The two groups that the SPM compares.

``grouping="correct"`` (the study's): TP_pain and TN_nopain, the knees that
every chosen model classifies correctly. ``grouping="label"``: every test
knee with predictions, split by its pain label into ``pain`` and
``no_pain``.

Why the second one: Grad-CAM of ``layer4`` of a torchvision ResNet with one
output has channel weights ``w_k / (h * w)``, the fully connected weights
spread over the pooled cells. They are the same for every image, so the map
before the ReLU averages exactly to ``(logit - bias) / (h * w)``. TP_pain knees have
logits above the threshold and TN_nopain knees below it, so their pain
Grad-CAM differs by construction, in any cohort. On a phantom cohort with no
planted pattern, 96 % of the atlas vertices had uncorrected p < 0.05 between
TP_pain and TN_nopain. Split by the label instead, the groups do not depend
on the model: the same maps gave 0.3 % (docs/statistics.md).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from kneeviewer.errors import InputError

log = logging.getLogger(__name__)

TP_PAIN = "TP_pain"
TN_NOPAIN = "TN_nopain"
PAIN = "pain"
NO_PAIN = "no_pain"
#: Grouping to the names of (first group, second group); the SPM tests first minus second.
GROUPINGS = {"correct": (TP_PAIN, TN_NOPAIN), "label": (PAIN, NO_PAIN)}


def group_names(grouping: str) -> tuple[str, str]:
    """Return the names of the two groups of ``grouping`` ("correct" or "label")."""
    if grouping not in GROUPINGS:
        raise InputError(f"Grouping {grouping!r} is invalid; expected one of {', '.join(GROUPINGS)}.")
    return GROUPINGS[grouping]


def select_groups(
    probabilities: pd.DataFrame,
    pain: pd.Series,
    models: Sequence[str] | None = None,
    threshold: float = 0.5,
    grouping: str = "correct",
) -> pd.Series:
    """Label knees TP_pain, TN_nopain or NaN from the models' predictions.

    With ``grouping="label"`` every knee with all chosen predictions is
    labelled ``pain`` or ``no_pain`` by ``pain`` alone (see the module
    docstring).

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
        ``"TP_pain"``, ``"TN_nopain"`` (or ``"pain"``, ``"no_pain"``) or NaN per knee.
    """
    first, second = group_names(grouping)
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
    if grouping == "label":
        labels[(truth == 1) & complete] = first
        labels[(truth == 0) & complete] = second
    else:
        labels[(truth == 1) & predicted_pain] = first
        labels[(truth == 0) & predicted_none] = second
    log.info(
        "Groups (%s) over %d models: %d %s, %d %s",
        grouping, len(models), (labels == first).sum(), first, (labels == second).sum(), second,
    )  # fmt: skip
    return labels


def describe_groups(
    groups: pd.Series, demographics: pd.DataFrame, names: tuple[str, str] = (TP_PAIN, TN_NOPAIN)
) -> dict[str, dict[str, float]]:
    """Summarise group sizes and demographics.

    Parameters
    ----------
    groups
        Output of :func:`select_groups`.
    demographics
        Columns ``age`` (years), ``sex`` and ``bmi`` (kg/m^2), same index.
    names
        The two group names, :func:`group_names` of the grouping.

    Returns
    -------
    dict
        Group name to ``n``, ``age_mean``, ``age_sd``, ``bmi_mean``,
        ``bmi_sd`` and ``sex_<value>`` counts.
    """
    summary = {}
    for name in names:
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
