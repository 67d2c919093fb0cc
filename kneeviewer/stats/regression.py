"""Nested logistic regressions of chronic pain and their likelihood-ratio test.

The base model explains pain by demographics and compartment cartilage
thickness; the full model adds the DL-guided thickness. Both are fitted on
exactly the same knees, and the likelihood-ratio chi-squared statistic
``2 * (llf_full - llf_base)`` with ``df_full - df_base`` degrees of freedom
compares them.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats as scipy_stats
from statsmodels.tools.sm_exceptions import ConvergenceWarning, PerfectSeparationWarning

from kneeviewer.errors import FitError, InputError

log = logging.getLogger(__name__)

#: Predicted probabilities closer than this to 0 or 1 for every knee mean the
#: classes are (quasi-)perfectly separated and the maximum-likelihood
#: estimates do not exist.
_SEPARATION_EPS = 1e-8


@dataclass
class LogitFit:
    """One fitted logistic regression.

    Attributes
    ----------
    outcome, predictors
        Column names; ``predictors`` excludes the intercept.
    n_knees
        Number of rows used.
    llf
        Log-likelihood at the estimate.
    df_model
        Number of predictors (intercept not counted).
    coefficients, standard_errors, p_values
        Per term, the intercept is named ``const``.
    sensitivity, specificity
        Of the in-sample predictions at ``threshold``.
    auc
        In-sample area under the ROC curve.
    """

    outcome: str
    predictors: list[str]
    n_knees: int
    llf: float
    df_model: int
    coefficients: dict[str, float]
    standard_errors: dict[str, float]
    p_values: dict[str, float]
    sensitivity: float
    specificity: float
    auc: float
    threshold: float = 0.5
    row_index: list = field(default_factory=list, repr=False)

    def to_dict(self) -> dict:
        """Return a JSON-ready dictionary (row index left out)."""
        return {
            "outcome": self.outcome,
            "predictors": self.predictors,
            "n_knees": self.n_knees,
            "llf": self.llf,
            "df_model": self.df_model,
            "coefficients": self.coefficients,
            "standard_errors": self.standard_errors,
            "p_values": self.p_values,
            "sensitivity": self.sensitivity,
            "specificity": self.specificity,
            "auc": self.auc,
            "threshold": self.threshold,
        }


@dataclass
class NestedLogitResult:
    """Base and full logistic models and their likelihood-ratio test."""

    base: LogitFit
    full: LogitFit
    lr_chi2: float
    lr_df: int
    lrt_p: float

    def to_dict(self) -> dict:
        """Return a JSON-ready dictionary with ``llf_base``, ``llf_full``, ``lr_chi2`` and ``lrt_p``."""
        return {
            "llf_base": self.base.llf,
            "llf_full": self.full.llf,
            "lr_chi2": self.lr_chi2,
            "lr_df": self.lr_df,
            "lrt_p": self.lrt_p,
            "n_knees": self.full.n_knees,
            "base": self.base.to_dict(),
            "full": self.full.to_dict(),
        }


def fit_logit(table: pd.DataFrame, outcome: str, predictors: list[str], threshold: float = 0.5) -> LogitFit:
    """Fit ``outcome ~ 1 + predictors`` by maximum likelihood (statsmodels ``Logit``).

    Parameters
    ----------
    table
        One row per knee. Every named column must be numeric and free of NaN.
    outcome
        Column coded 0 (no pain) and 1 (pain).
    predictors
        Columns of the linear predictor; an intercept is added.
    threshold
        Probability at or above which a knee is predicted as pain, for the
        reported sensitivity and specificity.

    Raises
    ------
    InputError
        A column is missing or non-numeric, contains NaN, or the outcome is
        not binary.
    FitError
        The classes are perfectly separated or the optimiser did not converge.
    """
    _check_columns(table, [outcome, *predictors])
    data = table[[outcome, *predictors]].astype(float)
    missing = data.isna().any(axis=1)
    if missing.any():
        columns = [c for c in data.columns if data[c].isna().any()]
        raise InputError(
            f"{int(missing.sum())} rows have missing values in {', '.join(columns)}; "
            "drop them for both nested models first (fit_nested_logit(..., drop_missing=True))."
        )
    y = data[outcome].to_numpy()
    if y.size == 0:
        raise InputError(f"The table for the regression of '{outcome}' has no rows; a logistic model needs knees of both classes.")
    if not np.all(np.isin(y, (0.0, 1.0))):
        raise InputError(f"Outcome column '{outcome}' must contain only 0 and 1, found {sorted(set(y))[:5]}.")
    if y.min() == y.max():
        raise InputError(f"Outcome column '{outcome}' has only one class ({int(y[0])}); a logistic model needs both.")

    design = sm.add_constant(data[predictors], has_constant="add")
    with warnings.catch_warnings():
        warnings.simplefilter("error", PerfectSeparationWarning)
        warnings.simplefilter("error", ConvergenceWarning)
        try:
            result = sm.Logit(y, design).fit(disp=0, maxiter=200)
        except PerfectSeparationWarning as error:
            raise FitError(_separation_message(outcome, predictors)) from error
        except ConvergenceWarning as error:
            raise FitError(
                f"Logistic regression of '{outcome}' on {', '.join(predictors)} did not converge; "
                "check for collinear predictors or (quasi-)separation."
            ) from error
        except np.linalg.LinAlgError as error:
            raise FitError(
                f"Logistic regression of '{outcome}' on {', '.join(predictors)} has a singular design; "
                "remove constant or collinear predictors."
            ) from error

    probability = np.asarray(result.predict(design))
    if np.all((probability < _SEPARATION_EPS) | (probability > 1 - _SEPARATION_EPS)):
        raise FitError(_separation_message(outcome, predictors))
    predicted = probability >= threshold
    positives = y == 1
    return LogitFit(
        outcome=outcome,
        predictors=list(predictors),
        n_knees=int(len(y)),
        llf=float(result.llf),
        df_model=int(round(result.df_model)),
        coefficients={k: float(v) for k, v in result.params.items()},
        standard_errors={k: float(v) for k, v in result.bse.items()},
        p_values={k: float(v) for k, v in result.pvalues.items()},
        sensitivity=float(np.mean(predicted[positives])),
        specificity=float(np.mean(~predicted[~positives])),
        auc=roc_auc(y, probability),
        threshold=threshold,
        row_index=list(data.index),
    )


def likelihood_ratio_test(base: LogitFit, full: LogitFit) -> tuple[float, int, float]:
    """Compare two nested fits; return ``(chi2, df, p)``.

    Raises
    ------
    FitError
        The fits used different knees, or ``base`` is not nested in ``full``.
    """
    if base.n_knees != full.n_knees or (base.row_index and base.row_index != full.row_index):
        raise FitError(
            f"The nested models were fitted to different knees ({base.n_knees} and {full.n_knees} rows); "
            "a likelihood-ratio test needs the same rows in both. Drop missing values over the full model's columns."
        )
    if base.outcome != full.outcome or not set(base.predictors) < set(full.predictors):
        raise FitError(
            f"Model with {base.predictors} is not nested in the model with {full.predictors}; "
            "the full model must contain every base predictor and at least one more."
        )
    chi2 = max(2.0 * (full.llf - base.llf), 0.0)
    df = full.df_model - base.df_model
    return chi2, df, float(scipy_stats.chi2.sf(chi2, df))


def fit_nested_logit(
    table: pd.DataFrame,
    outcome: str,
    base: list[str],
    added: list[str],
    drop_missing: bool = False,
    threshold: float = 0.5,
) -> NestedLogitResult:
    """Fit ``outcome ~ base`` and ``outcome ~ base + added`` on the same knees and test the addition.

    Parameters
    ----------
    table
        One row per knee.
    outcome
        Binary column (1 pain, 0 no pain).
    base, added
        Predictor columns of the base model and the columns the full model adds.
    drop_missing
        If True, drop every row with a NaN in any column of the full model
        (the same rows for both models) and log how many. If False, NaN
        raises :class:`InputError`.

    Raises
    ------
    InputError, FitError
        See :func:`fit_logit` and :func:`likelihood_ratio_test`.
    """
    if not added:
        raise InputError("The full model adds no predictor; name at least one column to add.")
    overlap = set(base) & set(added)
    if overlap:
        raise InputError(f"Columns {sorted(overlap)} are in both the base and the added predictors.")
    columns = [outcome, *base, *added]
    _check_columns(table, columns)
    if drop_missing:
        complete = table[columns].notna().all(axis=1)
        if not complete.all():
            log.warning("Dropping %d of %d knees with missing values in %s", int((~complete).sum()), len(table), columns)
        table = table.loc[complete]
    base_fit = fit_logit(table, outcome, list(base), threshold)
    full_fit = fit_logit(table, outcome, [*base, *added], threshold)
    chi2, df, p = likelihood_ratio_test(base_fit, full_fit)
    return NestedLogitResult(base=base_fit, full=full_fit, lr_chi2=chi2, lr_df=df, lrt_p=p)


def format_regression_table(results: dict[str, NestedLogitResult]) -> str:
    """Format nested fits per bone as a Markdown table like Table 3 of Morales et al. (2021).

    Parameters
    ----------
    results
        Bone name to its nested fits.
    """
    lines = [
        "| bone | model | term | estimate | SE | p | sensitivity | specificity | AUC | log-likelihood | LRT chi2 | LRT p |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for bone, nested in results.items():
        for label, fit in (("base", nested.base), ("full", nested.full)):
            for i, term in enumerate(fit.coefficients):
                summary = (
                    f"{fit.sensitivity:.3f} | {fit.specificity:.3f} | {fit.auc:.3f} | {fit.llf:.2f}"
                    if i == 0
                    else " |  |  | "
                )
                test = f"{nested.lr_chi2:.2f} | {nested.lrt_p:.3g}" if (label == "full" and i == 0) else " | "
                lines.append(
                    f"| {bone if (label == 'base' and i == 0) else ''} | {label if i == 0 else ''} | {term} | "
                    f"{fit.coefficients[term]:.4g} | {fit.standard_errors[term]:.3g} | {fit.p_values[term]:.3g} | "
                    f"{summary} | {test} |"
                )
    return "\n".join(lines) + "\n"


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Return the area under the ROC curve as the Mann-Whitney U statistic over n_pos * n_neg (ties count half).

    Written here (a few lines with scipy's ``rankdata``) to keep scikit-learn out of the dependencies.
    """
    labels = np.asarray(labels) == 1
    ranks = scipy_stats.rankdata(scores)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def _check_columns(table: pd.DataFrame, columns: list[str]) -> None:
    absent = [c for c in columns if c not in table.columns]
    if absent:
        raise InputError(f"Columns {absent} not found; the table has {list(table.columns)}.")
    for column in columns:
        if not pd.api.types.is_numeric_dtype(table[column]):
            raise InputError(f"Column '{column}' must be numeric, found dtype {table[column].dtype}.")


def _separation_message(outcome: str, predictors: list[str]) -> str:
    return (
        f"Perfect separation: '{outcome}' is predicted exactly by {', '.join(predictors)}, so the "
        "maximum-likelihood estimates do not exist. Remove the separating predictor or add knees."
    )
