"""End-to-end cohort statistics on a synthetic cohort, and the ``figure`` command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyvista as pv
import pytest
from synthetic_cohort import planted_mask, write_synthetic_cohort

from kneeviewer.cli.main import main
from kneeviewer.errors import InputError
from kneeviewer.stats.figure import save_cohort_figure

STRATEGY = "thickness"


def test_atlas_arrays_written(synthetic_stats_dir):
    atlas = pv.read(synthetic_stats_dir / "atlas_femur.vtp")
    for prefix in ("tp_mean_gradcam_", "tn_mean_gradcam_", "p_", "p_fdr_", "p_fwe_"):
        assert f"{prefix}{STRATEGY}" in atlas.point_data


def test_planted_region_significant_fwe(synthetic_stats_dir):
    atlas = pv.read(synthetic_stats_dir / "atlas_femur.vtp")
    inside = planted_mask(np.asarray(atlas.points))
    p_fwe = np.asarray(atlas.point_data[f"p_fwe_{STRATEGY}"])
    # The region edge blurs through registration and resampling, so most, not all, inside vertices pass.
    assert np.nanmean(p_fwe[inside] < 0.05) > 0.6
    assert np.nanmean(p_fwe[~inside] < 0.05) < 0.02


def test_group_means_differ_in_region(synthetic_stats_dir):
    atlas = pv.read(synthetic_stats_dir / "atlas_femur.vtp")
    inside = planted_mask(np.asarray(atlas.points))
    tp = np.asarray(atlas.point_data[f"tp_mean_gradcam_{STRATEGY}"])
    tn = np.asarray(atlas.point_data[f"tn_mean_gradcam_{STRATEGY}"])
    assert np.nanmean(tp[inside] - tn[inside]) > 0.3


def test_regression_json(synthetic_stats_dir):
    result = json.loads((synthetic_stats_dir / "regression.json").read_text())["femur"]
    assert 0.0 <= result["lrt_p"] <= 1.0
    assert result["llf_full"] >= result["llf_base"]
    assert "dl_guided_mm" in result["full"]["coefficients"]
    assert result["base"]["n_knees"] == result["full"]["n_knees"]


def test_groups_json(synthetic_stats_dir):
    groups = json.loads((synthetic_stats_dir / "groups.json").read_text())
    assert groups["bones"]["femur"]["groups"]["TP_pain"]["n"] == 8
    assert groups["bones"]["femur"]["groups"]["TN_nopain"]["n"] == 8


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_figure_command(synthetic_stats_dir, tmp_path, suffix):
    out = tmp_path / f"figure{suffix}"
    status = main(["figure", "--stats", str(synthetic_stats_dir), "--bone", "femur", "--out", str(out), "--dpi", "50", "--correction", "fwe"])
    assert status == 0
    assert out.stat().st_size > 1000


def test_figure_missing_atlas_raises(tmp_path):
    with pytest.raises(InputError, match="atlas_tibia"):
        save_cohort_figure(tmp_path, "tibia", tmp_path / "f.png")


def test_cohort_stats_command_registered(capsys):
    with pytest.raises(SystemExit) as raised:
        main(["cohort", "stats", "--help"])
    assert raised.value.code == 0
    assert "--permutations" in capsys.readouterr().out


def test_missing_gradcam_rejected_before_work(tmp_path):
    from kneeviewer.stats.cohort import run_cohort_stats

    knees, probabilities = write_synthetic_cohort(tmp_path / "knees", n_per_group=3, n_outside=0)
    path = Path(knees.iloc[0]["results_dir"]) / "femur.vtp"
    mesh = pv.read(path)
    for name in [name for name in mesh.point_data if name.startswith("gradcam_")]:
        del mesh.point_data[name]
    mesh.save(path)
    out = tmp_path / "stats"
    with pytest.raises(InputError, match="1 of 6 femur meshes have no Grad-CAM"):
        run_cohort_stats(knees, probabilities, out, bones=["femur"], n_permutations=10, n_samples=200)
    assert not out.exists() or not any(out.iterdir())


def test_empty_regression_table_rejected():
    import pandas as pd

    from kneeviewer.stats.regression import fit_logit

    with pytest.raises(InputError, match="has no rows"):
        fit_logit(pd.DataFrame({"pain": [], "age": []}), "pain", ["age"])
