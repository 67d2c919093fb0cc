"""``kneeviewer cohort stats`` on phantom cohorts after real training and Grad-CAM.

The cohorts, models and Grad-CAM are those of ``test_pain_models.py`` (the
fixtures of this folder's conftest). The SPM compares the ``pain`` and
``no_pain`` groups (``--groups label``), whose false-positive rate stays at
the nominal level without a pattern. TP_pain and TN_nopain differ by
construction (see :mod:`kneeviewer.stats.groups`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import pyvista as pv

from kneeviewer.cli.main import main


def _cohort_stats(cohort: Path, model: Path, out: Path, *extra: str) -> Path:
    arguments = ["cohort", "stats", "--cohort", str(cohort), "--models", str(model), "--out", str(out), "--samples", "500"]
    assert main([*arguments, *extra]) == 0
    return out


def _reference_truth(cohort: Path, stats_dir: Path) -> dict[str, np.ndarray]:
    """The truth masks of the knee that serves as the femur atlas."""
    groups = json.loads((stats_dir / "groups.json").read_text())
    row = int(groups["bones"]["femur"]["reference_knee"])
    index = pd.read_csv(cohort / "images" / "index.csv", index_col="row", dtype={"patient_id": str})
    knee_id = f"{index.loc[row, 'patient_id']}_T{index.loc[row, 'timepoint']}"
    return dict(np.load(cohort / "truth" / f"{knee_id}.npz"))


@pytest.fixture(scope="module")
def strong_stats(gradcam_done, strong_model, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("strong_stats") / "stats"
    return _cohort_stats(gradcam_done, strong_model, out, "--groups", "label", "--permutations", "200")


@pytest.fixture(scope="module")
def none_stats(none_cohort, none_model, tmp_path_factory) -> Path:
    assert main(["gradcam", "--cohort", str(none_cohort), "--models", str(none_model)]) == 0
    out = tmp_path_factory.mktemp("none_stats") / "stats"
    # FWE is not checked here, so a few permutations suffice.
    return _cohort_stats(none_cohort, none_model, out, "--groups", "label", "--permutations", "20")


def test_strong_planted_region_fwe_significant(gradcam_done, strong_stats):
    # Tolerance: at least 90 % of the risk-zone vertices of the atlas femur below FWE p = 0.05;
    # the zone's rim blurs through registration, so not every vertex is required.
    atlas = pv.read(strong_stats / "atlas_femur.vtp")
    zone = _reference_truth(gradcam_done, strong_stats)["femur/risk_zone"]
    p_fwe = np.asarray(atlas.point_data["p_fwe_thickness"])
    tested = zone & np.isfinite(p_fwe)
    assert tested.sum() > 20
    assert np.mean(p_fwe[tested] < 0.05) >= 0.9


def test_none_false_positive_rate(none_stats):
    # Tolerance: at most 7 % of the atlas vertices below uncorrected p = 0.05 without a pattern.
    atlas = pv.read(none_stats / "atlas_femur.vtp")
    p = np.asarray(atlas.point_data["p_thickness"])
    finite = np.isfinite(p)
    assert finite.sum() > 500
    assert np.mean(p[finite] < 0.05) <= 0.07


def test_label_groups_named_in_outputs(strong_stats):
    groups = json.loads((strong_stats / "groups.json").read_text())
    assert groups["grouping"] == "label"
    assert set(groups["bones"]["femur"]["groups"]) == {"pain", "no_pain"}
    atlas = pv.read(strong_stats / "atlas_femur.vtp")
    assert list(np.asarray(atlas.field_data["group_names"])) == ["pain", "no_pain"]
