"""Test-set evaluation, the PTF ensemble, the radiographic baseline and bootstrap intervals."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from kneeviewer.learning.baseline import fit_radiographic_baseline
from kneeviewer.learning.evaluation import evaluate_models
from kneeviewer.learning.metrics import binary_metrics, bootstrap_metrics
from kneeviewer.learning.presets import preset
from kneeviewer.learning.training import train_model

TINY = preset("fast").with_overrides(image_px=32, max_epochs=2, batch_size=16, threads=1)


@pytest.fixture(scope="module")
def evaluation(synthetic_cohort, tmp_path_factory):
    models = tmp_path_factory.mktemp("models")
    for bone in ("femur", "tibia", "patella"):
        train_model(synthetic_cohort, bone, "thickness", TINY, models / bone)
    out = tmp_path_factory.mktemp("evaluation")
    evaluate_models(synthetic_cohort, [models / bone for bone in ("femur", "tibia", "patella")], out)
    return out


def test_metrics_json_keys(evaluation):
    metrics = json.loads((evaluation / "metrics.json").read_text())
    for name in ("femur_thickness", "tibia_thickness", "patella_thickness", "ptf", "ptf_thickness", "radiographic_baseline"):
        assert name in metrics, name
        for metric in ("auc", "sensitivity", "specificity"):
            assert set(metrics[name][metric]) == {"value", "ci_low", "ci_high"}


def test_metrics_interval_contains_value(evaluation):
    metrics = json.loads((evaluation / "metrics.json").read_text())
    for name, values in metrics.items():
        for metric, entry in values.items():
            assert entry["ci_low"] <= entry["value"] + 1e-9, (name, metric)
            assert entry["value"] <= entry["ci_high"] + 1e-9, (name, metric)


def test_ptf_is_mean_of_bones(evaluation):
    predictions = pd.read_csv(evaluation / "predictions.csv")
    mean = predictions[["femur_thickness", "tibia_thickness", "patella_thickness"]].mean(axis=1)
    assert np.allclose(predictions["ptf"], mean)


def test_reports_written(evaluation):
    assert (evaluation / "table1.md").read_text().startswith("Test set")
    assert len(pd.read_csv(evaluation / "table1.csv")) == 6
    assert (evaluation / "roc.png").read_bytes()[:4] == b"\x89PNG"
    assert "kl" in pd.read_csv(evaluation / "baseline_odds_ratios.csv")["term"].tolist()


def test_test_rows_first_timepoint(evaluation):
    predictions = pd.read_csv(evaluation / "predictions.csv")
    assert predictions["patient_id"].is_unique
    assert (predictions["timepoint"] == 0).all()


def test_binary_metrics_perfect():
    metrics = binary_metrics(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.6, 0.9]))
    assert metrics == {"auc": 1.0, "sensitivity": 1.0, "specificity": 1.0}


def test_bootstrap_seeded():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 80)
    probabilities = rng.random(80)
    assert bootstrap_metrics(labels, probabilities, seed=4) == bootstrap_metrics(labels, probabilities, seed=4)


def test_baseline_odds_ratio_direction():
    # Pain rises with KL grade by construction: its odds ratio must exceed 1.
    rng = np.random.default_rng(2)
    n = 600
    table = pd.DataFrame(
        {
            "kl": rng.integers(0, 5, n),
            "jsn_medial": rng.integers(0, 4, n),
            "jsn_lateral": rng.integers(0, 4, n),
            "min_jsw_medial_mm": rng.uniform(1, 6, n),
            "age": rng.normal(64, 9, n),
            "sex": np.where(rng.random(n) < 0.47, "M", "F"),
            "bmi": rng.normal(28, 5, n),
        }
    )
    table["pain"] = (rng.random(n) < 1 / (1 + np.exp(-(table["kl"] - 2.0)))).astype(int)
    odds_ratios, metrics, probabilities = fit_radiographic_baseline(table.iloc[:400], table.iloc[400:])
    assert odds_ratios.loc["kl", "ci_low"] > 1.0
    assert metrics["auc"]["value"] > 0.7
    assert probabilities.shape == (200,)
