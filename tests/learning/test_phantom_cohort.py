"""Phantom cohorts: the table, truth masks, splits, re-runs and the CLI."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest
import pyvista as pv

from kneeviewer.cli.main import main
from kneeviewer.errors import InputError
from kneeviewer.phantom.cohort import COHORT_COLUMNS, CohortParams, build_knee, draw_cohort


def test_cohort_csv_columns(strong_cohort):
    table = pd.read_csv(strong_cohort / "cohort.csv")
    assert tuple(table.columns) == COHORT_COLUMNS
    assert len(table) == 150


def test_cohort_demographics():
    # Drawn like the OAI pain cohort: 63.9 +/- 9.4 years, 47% men, BMI 28 +/- 5.
    table = pd.DataFrame([spec.row for spec in draw_cohort(CohortParams(3000, effect="strong"))])
    assert abs(table["age"].mean() - 63.9) < 0.6
    assert abs(table["age"].std() - 9.4) < 0.8  # clipped to 45..79, so slightly narrower
    assert abs((table["sex"] == "M").mean() - 0.47) < 0.03
    assert abs(table["bmi"].mean() - 28.0) < 0.4
    assert set(table["kl"]) == {0, 1, 2, 3, 4}
    assert (table["oa"] == (table["kl"] >= 2)).all()


def test_cohort_timepoints():
    specs = draw_cohort(CohortParams(5, n_timepoints=3, effect="weak"))
    table = pd.DataFrame([spec.row for spec in specs])
    assert len(table) == 15
    assert table.groupby("patient_id")["timepoint"].nunique().eq(3).all()
    ages = table[table["patient_id"] == "P00001"]["age"].to_numpy()
    assert np.allclose(np.diff(ages), 1.0)


def test_cohort_none_plants_nothing():
    specs = draw_cohort(CohortParams(20, effect="none"))
    assert all(spec.phantom["patches"] == [] for spec in specs)
    assert all(spec.row["risk_delta_mm"] == 0 and spec.row["protective_delta_mm"] == 0 for spec in specs)


@pytest.mark.parametrize(("pattern", "sign"), [("swelling", 1), ("thinning", -1)])
def test_risk_pattern_sets_sign(pattern, sign):
    specs = draw_cohort(CohortParams(20, effect="strong", risk_pattern=pattern))
    deltas = np.array([spec.row["risk_delta_mm"] for spec in specs])
    assert np.all(sign * deltas >= 0)
    assert np.any(deltas != 0)
    assert all(spec.row["protective_delta_mm"] <= 0 for spec in specs)


def test_unknown_risk_pattern_is_rejected():
    with pytest.raises(InputError, match="Risk pattern 'bulge' is invalid"):
        CohortParams(20, risk_pattern="bulge")


def test_truth_masks_on_femur(strong_cohort):
    table = pd.read_csv(strong_cohort / "cohort.csv")
    knee_id = f"{table.loc[0, 'patient_id']}_T0"
    truth = np.load(strong_cohort / "truth" / f"{knee_id}.npz")
    mesh = pv.read(strong_cohort / table.loc[0, "results_dir"] / "femur.vtp")
    assert truth["femur/risk_zone"].shape == (mesh.n_points,)
    assert truth["femur/risk_zone"].any()
    assert truth["femur/protective_zone"].any()
    assert not (truth["femur/risk_zone"] & truth["femur/protective_zone"]).any()


def test_risk_zone_is_medial_distal(strong_cohort):
    table = pd.read_csv(strong_cohort / "cohort.csv")
    mesh = pv.read(strong_cohort / table.loc[0, "results_dir"] / "femur.vtp")
    truth = np.load(strong_cohort / "truth" / f"{table.loc[0, 'patient_id']}_T0.npz")
    zone = np.asarray(mesh.points)[truth["femur/risk_zone"]]
    centre = np.asarray(mesh.points).mean(axis=0)
    assert zone[:, 0].mean() > centre[0]  # medial is +x in right-knee convention
    assert zone[:, 2].mean() < centre[2]  # distal


def test_planted_change_in_zone(strong_cohort):
    # Knees with a large risk swelling (the default pattern) have thicker cartilage in the risk zone.
    table = pd.read_csv(strong_cohort / "cohort.csv")
    means = []
    for _, row in table.iterrows():
        mesh = pv.read(strong_cohort / row["results_dir"] / "femur.vtp")
        zone = np.load(strong_cohort / "truth" / f"{row['patient_id']}_T0.npz")["femur/risk_zone"]
        means.append(np.nanmean(np.asarray(mesh["thickness_mm"])[zone]))
    correlation = np.corrcoef(table["risk_delta_mm"], means)[0, 1]
    assert correlation > 0.7


def test_split_balance_written(strong_cohort):
    balance = json.loads((strong_cohort / "split_balance.json").read_text())
    assert 0.0 <= balance["sex_p_value"] <= 1.0
    assert 0.0 <= balance["age_bmi_p_value"] <= 1.0


def test_finished_knee_skipped(strong_cohort):
    params = CohortParams(150, effect="strong", seed=1, source="analytic", bones=("femur",), target_vertices=1500)
    spec = draw_cohort(params)[0]
    maps = strong_cohort / "knees" / spec.knee_id / "results" / "spherical_maps.npz"
    before = os.stat(maps).st_mtime_ns
    build_knee(spec, strong_cohort, params)
    assert os.stat(maps).st_mtime_ns == before


def test_cohort_cli(tmp_path, capsys):
    status = main(["cohort", "phantom", "--out", str(tmp_path / "c"), "--patients", "4", "--timepoints", "2",
                   "--source", "analytic", "--target-vertices", "800", "--seed", "3"])  # fmt: skip
    assert status == 0
    table = pd.read_csv(tmp_path / "c" / "cohort.csv")
    assert len(table) == 8
    images = np.load(tmp_path / "c" / "images" / "patella_t2.npy", mmap_mode="r")
    assert images.shape == (8, 3, 224, 224)
    assert "8 knees" in capsys.readouterr().out


def test_cohort_rebuild_with_other_pattern_rejected(tmp_path, capsys):
    arguments = ["cohort", "phantom", "--out", str(tmp_path / "c"), "--patients", "3", "--source", "analytic",
                 "--target-vertices", "800", "--seed", "3"]  # fmt: skip
    assert main(arguments) == 0
    assert main(arguments) == 0  # the same parameters resume the folder
    capsys.readouterr()
    assert main([*arguments, "--risk-pattern", "thinning"]) == 2
    error = capsys.readouterr().err
    assert "risk_pattern 'swelling' there, 'thinning' requested" in error
    assert "new --out folder" in error


def test_cohort_rejects_bad_effect():
    with pytest.raises(InputError, match="strong"):
        CohortParams(10, effect="huge")


def test_pipeline_source_knee(tmp_path):
    # One knee through phantom images and the full knee pipeline (coarse grid).
    params = CohortParams(3, source="pipeline", grid="coarse", target_vertices=1500)
    spec = draw_cohort(params)[0]
    build_knee(spec, tmp_path, params)
    maps = np.load(tmp_path / "knees" / spec.knee_id / "results" / "spherical_maps.npz")
    assert np.isfinite(maps["femur/thickness_mm"]).any()
    assert not (tmp_path / "knees" / spec.knee_id / "inputs").exists()
    truth = np.load(tmp_path / "truth" / f"{spec.knee_id}.npz")
    assert truth["femur/risk_zone"].any()
    assert not truth["tibia/risk_zone"].any()
