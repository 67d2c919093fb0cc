"""Test-set evaluation of chronic-pain models, the PTF ensemble and the radiographic baseline.

Each test patient contributes the first timepoint of each knee. Metrics are
AUC, sensitivity and specificity (probability threshold 0.5, since the
models were trained with class-weighted loss) with bootstrap 95% intervals
(100 resamples, seeded). The PTF ensemble is the mean of the patella, tibia
and femur probabilities; ``ptf_<strategy>`` uses the three models of one
strategy and ``ptf`` the mean over each bone's models.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import roc_curve  # noqa: E402

from kneeviewer.errors import InputError  # noqa: E402
from kneeviewer.learning.baseline import fit_radiographic_baseline  # noqa: E402
from kneeviewer.learning.images import BONES, ImageStore  # noqa: E402
from kneeviewer.learning.metrics import bootstrap_metrics  # noqa: E402
from kneeviewer.learning.splits import load_splits, rows_of_split  # noqa: E402
from kneeviewer.learning.training import LoadedModel, load_model, predict_logits, prepare_inputs  # noqa: E402
from kneeviewer.progress import CancelCheck, ProgressCallback, check_cancel, report  # noqa: E402

log = logging.getLogger(__name__)

METRIC_NAMES = ("auc", "sensitivity", "specificity")


def predict_probabilities(loaded: LoadedModel, store: ImageStore, rows: np.ndarray, chunk: int = 128) -> np.ndarray:
    """Return the pain probability of each image row, shape (len(rows),)."""
    images = store.images(loaded.bone, loaded.strategy)
    probabilities = []
    for start in range(0, len(rows), chunk):
        part = np.asarray(rows[start : start + chunk])
        inputs = prepare_inputs(images[part], loaded.config.image_px)
        probabilities.append(1.0 / (1.0 + np.exp(-predict_logits(loaded.model, inputs).numpy().astype(float))))
    return np.concatenate(probabilities) if probabilities else np.zeros(0)


def ensemble_probabilities(probabilities: dict[str, np.ndarray], models: Sequence[LoadedModel]) -> dict[str, np.ndarray]:
    """Average model probabilities into PTF ensembles.

    Returns
    -------
    dict
        ``ptf_<strategy>`` for each strategy with models of all three bones,
        and ``ptf`` (mean over bones of each bone's mean model probability)
        when every bone has at least one model. Empty otherwise.
    """
    ensembles: dict[str, np.ndarray] = {}
    by_bone: dict[str, list[np.ndarray]] = {bone: [] for bone in BONES}
    by_strategy: dict[str, dict[str, np.ndarray]] = {}
    for loaded in models:
        by_bone[loaded.bone].append(probabilities[loaded.name])
        by_strategy.setdefault(loaded.strategy, {})[loaded.bone] = probabilities[loaded.name]
    for strategy, bones in by_strategy.items():
        if set(bones) == set(BONES):
            ensembles[f"ptf_{strategy}"] = np.mean([bones[bone] for bone in BONES], axis=0)
    if all(by_bone.values()):
        ensembles["ptf"] = np.mean([np.mean(by_bone[bone], axis=0) for bone in BONES], axis=0)
    return ensembles


def evaluate_models(
    cohort_dir: Path,
    model_dirs: Sequence[Path],
    out_dir: Path,
    n_resamples: int = 100,
    seed: int = 0,
    progress: ProgressCallback | None = None,
    should_cancel: CancelCheck | None = None,
) -> dict:
    """Evaluate trained models on the test split and write the reports.

    Writes ``metrics.json`` (model or ensemble -> metric -> value, ci_low,
    ci_high), ``table1.md`` and ``table1.csv``, ``roc.png``,
    ``predictions.csv`` and, when the cohort has the radiographic columns,
    ``baseline_odds_ratios.csv`` with the baseline in ``metrics.json`` under
    ``radiographic_baseline``.

    Returns
    -------
    dict
        The content of ``metrics.json``.
    """
    cohort_dir = Path(cohort_dir)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if not model_dirs:
        raise InputError("No model folders given; pass one or more folders written by 'kneeviewer train'.")
    store = ImageStore(cohort_dir / "images")
    assignment = load_splits(cohort_dir)
    test_rows = rows_of_split(store.index, assignment, "test", first_timepoint=True)
    labels = store.index.loc[test_rows, "pain"].to_numpy().astype(int)

    models = [load_model(path) for path in model_dirs]
    names = [loaded.name for loaded in models]
    if len(set(names)) != len(names):
        raise InputError(f"Two model folders hold the same bone and strategy ({names}); evaluate one of each.")
    probabilities: dict[str, np.ndarray] = {}
    for number, loaded in enumerate(models):
        check_cancel(should_cancel, "evaluation")
        probabilities[loaded.name] = predict_probabilities(loaded, store, test_rows)
        report(progress, "evaluation", (number + 1) / (len(models) + 1), f"predicted {loaded.name}")
    probabilities.update(ensemble_probabilities(probabilities, models))

    metrics = {name: bootstrap_metrics(labels, values, n_resamples, seed) for name, values in probabilities.items()}
    baseline_probabilities = _evaluate_baseline(store, assignment, test_rows, out_dir, metrics, n_resamples, seed)
    if baseline_probabilities is not None:
        probabilities["radiographic_baseline"] = baseline_probabilities

    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=1))
    predictions = store.index.loc[test_rows, ["patient_id", "timepoint", "side", "pain"]].copy()
    for name, values in probabilities.items():
        predictions[name] = values
    predictions.to_csv(out_dir / "predictions.csv", index_label="row")
    write_table(metrics, out_dir, n_knees=len(test_rows), n_pain=int(labels.sum()))
    plot_roc(labels, probabilities, out_dir / "roc.png")
    report(progress, "evaluation", 1.0, f"wrote {out_dir / 'metrics.json'}")
    return metrics


def _evaluate_baseline(store, assignment, test_rows, out_dir, metrics, n_resamples, seed) -> np.ndarray | None:
    needed = {"kl", "jsn_medial", "jsn_lateral", "min_jsw_medial_mm", "age", "sex", "bmi", "pain"}
    if not needed <= set(store.index.columns):
        log.info("Cohort lacks %s; radiographic baseline skipped", sorted(needed - set(store.index.columns)))
        return None
    train = store.index.loc[rows_of_split(store.index, assignment, "train")]
    odds_ratios, baseline_metrics, baseline_probabilities = fit_radiographic_baseline(
        train, store.index.loc[test_rows], n_resamples, seed
    )
    odds_ratios.to_csv(out_dir / "baseline_odds_ratios.csv", index_label="term")
    metrics["radiographic_baseline"] = baseline_metrics
    return baseline_probabilities


def write_table(metrics: dict, out_dir: Path, n_knees: int, n_pain: int) -> pd.DataFrame:
    """Write the Table-1-like summary as ``table1.csv`` and ``table1.md``."""
    rows = []
    for name, values in metrics.items():
        row = {"model": name}
        for metric in METRIC_NAMES:
            row[metric] = values[metric]["value"]
            row[f"{metric}_ci_low"] = values[metric]["ci_low"]
            row[f"{metric}_ci_high"] = values[metric]["ci_high"]
        rows.append(row)
    table = pd.DataFrame(rows)
    table.to_csv(out_dir / "table1.csv", index=False)
    lines = [
        f"Test set: first timepoint of each test patient, {n_knees} knees, {n_pain} with chronic pain. "
        "Values with bootstrap 95% intervals.",
        "",
        "| model | AUC | sensitivity | specificity |",
        "| --- | --- | --- | --- |",
    ]
    for row in rows:
        cells = [f"{row[m]:.3f} ({row[f'{m}_ci_low']:.3f} to {row[f'{m}_ci_high']:.3f})" for m in METRIC_NAMES]
        lines.append(f"| {row['model']} | " + " | ".join(cells) + " |")
    (out_dir / "table1.md").write_text("\n".join(lines) + "\n")
    return table


def plot_roc(labels: np.ndarray, probabilities: dict[str, np.ndarray], path: Path) -> None:
    """Draw the test ROC curve of every model and ensemble into a PNG."""
    figure, axes = plt.subplots(figsize=(5, 5), dpi=120)
    if labels.min() != labels.max():
        for name, values in probabilities.items():
            false_positive_rate, true_positive_rate, _ = roc_curve(labels, values)
            axes.plot(false_positive_rate, true_positive_rate, label=name, linewidth=1.2)
    axes.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=0.8)
    axes.set_xlabel("1 - specificity")
    axes.set_ylabel("sensitivity")
    axes.set_title("Chronic pain, test set")
    axes.legend(fontsize=7, loc="lower right")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
