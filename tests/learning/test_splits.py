"""Patient-level splits and their balance checks."""

from __future__ import annotations

import numpy as np
import pandas as pd

from kneeviewer.learning.splits import check_split_balance, rows_of_split, split_patients


def _table(n_patients: int = 90, timepoints: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    rows = []
    for patient in range(n_patients):
        sex = "M" if rng.random() < 0.47 else "F"
        age, bmi = rng.normal(63.9, 9.4), rng.normal(28, 5)
        for timepoint in range(timepoints):
            rows.append({"patient_id": f"P{patient}", "timepoint": timepoint, "sex": sex, "age": age + timepoint, "bmi": bmi})
    return pd.DataFrame(rows)


def test_split_no_patient_in_two_splits():
    table = _table()
    assignment = split_patients(table["patient_id"], (0.6, 0.2, 0.2), seed=3)
    rows = {name: set(table.loc[rows_of_split(table, assignment, name), "patient_id"]) for name in ("train", "validation", "test")}
    assert not rows["train"] & rows["validation"]
    assert not rows["train"] & rows["test"]
    assert not rows["validation"] & rows["test"]
    assert len(rows["train"] | rows["validation"] | rows["test"]) == 90


def test_split_ratios():
    assignment = split_patients([f"P{i}" for i in range(100)], (0.7, 0.1, 0.2), seed=0)
    counts = pd.Series(assignment).value_counts()
    assert counts["train"] == 70
    assert counts["validation"] == 10
    assert counts["test"] == 20


def test_split_seeded():
    ids = [f"P{i}" for i in range(50)]
    assert split_patients(ids, seed=5) == split_patients(ids, seed=5)
    assert split_patients(ids, seed=5) != split_patients(ids, seed=6)


def test_split_balance_statistics():
    table = _table()
    balance = check_split_balance(table, split_patients(table["patient_id"], seed=0))
    assert 0.0 <= balance.sex_p_value <= 1.0
    assert 0.0 <= balance.age_bmi_p_value <= 1.0
    assert 0.0 < balance.age_bmi_wilks_lambda <= 1.0
    assert balance.sex_dof == 2
    assert sum(balance.patients_per_split.values()) == 90


def test_first_timepoint_rows():
    table = _table(n_patients=30)
    assignment = split_patients(table["patient_id"], seed=0)
    rows = rows_of_split(table, assignment, "test", first_timepoint=True)
    assert (table.loc[rows, "timepoint"] == 0).all()
    assert table.loc[rows, "patient_id"].is_unique
