"""Patient-level train, validation and test splits and their balance checks.

Every knee and timepoint of one patient goes to the same split, so no
patient's anatomy is seen both in training and in testing. The balance of
the splits is checked as in the chronic-pain study: Pearson chi-squared for
sex and a one-way MANOVA for (age, BMI) across the three splits.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import chi2_contingency
from statsmodels.multivariate.manova import MANOVA

from kneeviewer.errors import InputError

log = logging.getLogger(__name__)

SPLIT_NAMES = ("train", "validation", "test")
SPLITS_FILE = "splits.csv"


def split_patients(
    patient_ids: pd.Series | np.ndarray, ratios: tuple[float, float, float] = (0.6, 0.2, 0.2), seed: int = 0
) -> dict[str, str]:
    """Assign every patient to train, validation or test.

    Parameters
    ----------
    patient_ids : sequence of str
        Patient identifier of each knee row; repeats are fine.
    ratios : (train, validation, test)
        Fractions of patients; they are normalised to sum to 1.
    seed : int
        Seed of the shuffle.

    Returns
    -------
    dict
        Patient id -> split name.
    """
    ratio_array = np.asarray(ratios, dtype=float)
    if ratio_array.shape != (3,) or (ratio_array < 0).any() or ratio_array.sum() <= 0:
        raise InputError(f"Split ratios {ratios} are invalid; give three non-negative fractions such as (0.6, 0.2, 0.2).")
    patients = np.array(sorted(set(map(str, patient_ids))))
    if len(patients) < 3:
        raise InputError(f"Only {len(patients)} patients; at least 3 are needed for train, validation and test.")
    order = np.random.default_rng(seed).permutation(len(patients))
    fractions = ratio_array / ratio_array.sum()
    counts = np.floor(fractions * len(patients)).astype(int)
    # Give the remaining patients to the splits with the largest remainders,
    # then make sure that no split with a positive ratio is empty.
    remainder = fractions * len(patients) - counts
    for index in np.argsort(-remainder)[: len(patients) - counts.sum()]:
        counts[index] += 1
    for index in range(3):
        if fractions[index] > 0 and counts[index] == 0:
            counts[index] += 1
            counts[int(np.argmax(counts))] -= 1
    boundaries = np.cumsum(counts)
    assignment = {}
    for position, patient_index in enumerate(order):
        split = int(np.searchsorted(boundaries, position, side="right"))
        assignment[str(patients[patient_index])] = SPLIT_NAMES[split]
    return assignment


@dataclass(frozen=True)
class SplitBalance:
    """Independence checks of demographics across the splits (one row per patient)."""

    sex_chi2: float
    sex_dof: int
    sex_p_value: float
    age_bmi_wilks_lambda: float
    age_bmi_f: float
    age_bmi_p_value: float
    patients_per_split: dict[str, int]

    def as_dict(self) -> dict:
        """Return the fields as a JSON-ready dict."""
        return asdict(self)


def check_split_balance(table: pd.DataFrame, assignment: dict[str, str]) -> SplitBalance:
    """Test sex (chi-squared) and (age, BMI) (one-way MANOVA) across the splits.

    Parameters
    ----------
    table : DataFrame
        Columns ``patient_id``, ``sex`` ("M"/"F"), ``age`` (years), ``bmi``
        (kg/m^2); the first row of each patient is used.
    assignment : dict
        Patient id -> split name, from :func:`split_patients`.
    """
    patients = table.assign(patient_id=table["patient_id"].astype(str)).drop_duplicates("patient_id").copy()
    patients["split"] = patients["patient_id"].map(assignment)
    if patients["split"].isna().any():
        missing = patients.loc[patients["split"].isna(), "patient_id"].iloc[0]
        raise InputError(f"Patient {missing} has no split; rebuild the splits for this cohort.")
    contingency = pd.crosstab(patients["split"], patients["sex"])
    chi2, p_value, dof, _ = chi2_contingency(contingency.to_numpy(), correction=False)
    manova = MANOVA.from_formula("age + bmi ~ C(split)", data=patients[["age", "bmi", "split"]])
    wilks = manova.mv_test().results["C(split)"]["stat"].loc["Wilks' lambda"]
    return SplitBalance(
        sex_chi2=float(chi2),
        sex_dof=int(dof),
        sex_p_value=float(p_value),
        age_bmi_wilks_lambda=float(wilks["Value"]),
        age_bmi_f=float(wilks["F Value"]),
        age_bmi_p_value=float(wilks["Pr > F"]),
        patients_per_split={name: int((patients["split"] == name).sum()) for name in SPLIT_NAMES},
    )


def write_splits(cohort_dir: Path, table: pd.DataFrame, seed: int = 0, ratios=(0.6, 0.2, 0.2)) -> pd.DataFrame:
    """Split the cohort's patients and write ``splits.csv`` (patient_id, split) into ``cohort_dir``."""
    assignment = split_patients(table["patient_id"], ratios, seed)
    frame = pd.DataFrame(sorted(assignment.items()), columns=["patient_id", "split"])
    frame.to_csv(Path(cohort_dir) / SPLITS_FILE, index=False)
    return frame


def load_splits(cohort_dir: Path) -> dict[str, str]:
    """Read ``splits.csv`` of a cohort as patient id -> split name."""
    path = Path(cohort_dir) / SPLITS_FILE
    if not path.is_file():
        raise InputError(f"Splits {path} not found; build the cohort with 'kneeviewer cohort phantom' first.")
    frame = pd.read_csv(path, dtype={"patient_id": str})
    return dict(zip(frame["patient_id"], frame["split"], strict=True))


def rows_of_split(index: pd.DataFrame, assignment: dict[str, str], split: str, first_timepoint: bool = False) -> np.ndarray:
    """Return the image rows of one split, optionally only each patient's first timepoint.

    Parameters
    ----------
    index : DataFrame
        The image index (``patient_id``, ``timepoint`` columns, rows as index).
    """
    chosen = index[index["patient_id"].astype(str).map(assignment) == split]
    if first_timepoint:
        first = chosen.groupby(chosen["patient_id"].astype(str))["timepoint"].transform("min")
        chosen = chosen[chosen["timepoint"] == first]
    return chosen.index.to_numpy()
