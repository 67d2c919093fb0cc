"""Nested logistic regressions and the ``stats lrt`` command."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from kneeviewer.cli.main import main
from kneeviewer.errors import FitError, InputError
from kneeviewer.stats.regression import fit_logit, fit_nested_logit, likelihood_ratio_test, roc_auc

#: Published likelihood-ratio p-values (Morales et al., Sci Rep 11:21989, 2021).
PUBLISHED_P = {"femur": 7.01e-33, "tibia": 1.93e-14, "patella": 0.851}


@pytest.mark.parametrize("bone", ["femur", "tibia", "patella"])
def test_lrt_reproduces_published(bone, deep_pain_stats_dir, capsys):
    table = deep_pain_stats_dir / f"{bone}logisticvariables.csv"
    status = main(["stats", "lrt", "--table", str(table), "--outcome", "Outcome", "--base", "Age,BMI,Sex,MF,LF", "--added", "DLROI", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert status == 0
    assert float(f"{result['lrt_p']:.3g}") == PUBLISHED_P[bone]
    assert set(result) == {"llf_base", "llf_full", "lr_chi2", "lrt_p"}


def test_lrt_femur_loglikelihoods(deep_pain_stats_dir):
    table = pd.read_csv(deep_pain_stats_dir / "femurlogisticvariables.csv")
    result = fit_nested_logit(table, "Outcome", ["Age", "BMI", "Sex", "MF", "LF"], ["DLROI"])
    assert result.base.llf == pytest.approx(-1310.29, abs=0.01)
    assert result.full.llf == pytest.approx(-1238.97, abs=0.01)
    assert result.lr_df == 1


def test_lrt_text_output(deep_pain_stats_dir, capsys):
    table = deep_pain_stats_dir / "patellalogisticvariables.csv"
    main(["stats", "lrt", "--table", str(table), "--outcome", "Outcome", "--base", "Age,BMI,Sex,MF,LF", "--added", "DLROI"])
    out = capsys.readouterr().out
    assert "p-value: 0.851" in out
    assert "log-likelihood base" in out


def _random_table(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    logit = 0.8 * x[:, 0] - 0.5 * x[:, 2]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "y": y})


def test_logit_reports_metrics():
    fit = fit_logit(_random_table(), "y", ["a", "b", "c"])
    assert 0.6 < fit.auc < 1.0
    assert 0.0 <= fit.sensitivity <= 1.0
    assert set(fit.coefficients) == {"const", "a", "b", "c"}


def test_perfect_separation_raises():
    table = _random_table()
    table["separating"] = table["y"] * 2.0 - 1.0 + 0.01 * table["a"]
    with pytest.raises(FitError, match="separation"):
        fit_nested_logit(table, "y", ["a"], ["separating"])


def test_missing_values_raise():
    table = _random_table()
    table.loc[3, "c"] = np.nan
    with pytest.raises(InputError, match="missing"):
        fit_nested_logit(table, "y", ["a", "b"], ["c"])


def test_drop_missing_uses_same_rows():
    table = _random_table()
    table.loc[3, "c"] = np.nan
    result = fit_nested_logit(table, "y", ["a", "b"], ["c"], drop_missing=True)
    assert result.base.n_knees == 199
    assert result.full.n_knees == 199


def test_lrt_on_different_rows_raises():
    table = _random_table()
    base = fit_logit(table.iloc[:150], "y", ["a"])
    full = fit_logit(table, "y", ["a", "c"])
    with pytest.raises(FitError, match="different knees"):
        likelihood_ratio_test(base, full)


def test_lrt_not_nested_raises():
    table = _random_table()
    with pytest.raises(FitError, match="not nested"):
        likelihood_ratio_test(fit_logit(table, "y", ["a", "b"]), fit_logit(table, "y", ["a", "c"]))


def test_lrt_cli_missing_column_exits_2(tmp_path, capsys):
    path = tmp_path / "table.csv"
    _random_table().to_csv(path, index=False)
    status = main(["stats", "lrt", "--table", str(path), "--outcome", "y", "--base", "a", "--added", "nope"])
    assert status == 2
    assert "nope" in capsys.readouterr().err


def test_roc_auc_with_ties():
    assert roc_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.5, 0.5, 0.9])) == pytest.approx(0.875)
