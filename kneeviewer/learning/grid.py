"""Grid search over learning rate, depth, initialisation and freezing, with model selection.

Every combination is trained on the same cohort, bone and strategy. The
selection follows the chronic-pain study's criteria on the validation
split: sensitivity, specificity and AUC at the best epoch, and the
coefficient of variation of the validation AUC over the epochs (training
smoothness). Combinations are ranked by
``mean(sensitivity, specificity, AUC) - coefficient of variation``; this
single score is our choice, the study does not state how it weighed them.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from kneeviewer.learning.presets import TrainConfig
from kneeviewer.learning.training import CONFIG_FILE, train_model
from kneeviewer.progress import CancelCheck, ProgressCallback, check_cancel, report, sub_progress

log = logging.getLogger(__name__)


def run_grid(
    cohort_dir: Path,
    bone: str,
    strategy: str,
    base: TrainConfig,
    out_dir: Path,
    learning_rates: Sequence[float] = (1e-4, 1e-5),
    depths: Sequence[int] = (18, 34, 50),
    inits: Sequence[str] = ("random", "oa"),
    freezes: Sequence[str] = ("none", "first_layer", "first_two_layers", "all"),
    progress: ProgressCallback | None = None,
    should_cancel: CancelCheck | None = None,
) -> pd.DataFrame:
    """Train every combination into ``out_dir/<name>`` and rank them.

    Returns
    -------
    DataFrame
        One row per combination with its settings, ``validation_auc``,
        ``validation_sensitivity``, ``validation_specificity``,
        ``validation_auc_cv``, ``score`` and ``model_dir``, best first; also
        written to ``out_dir/grid.csv``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    combinations = list(itertools.product(learning_rates, depths, inits, freezes))
    rows = []
    for number, (learning_rate, depth, init, freeze) in enumerate(combinations):
        check_cancel(should_cancel, "grid")
        name = f"lr{learning_rate:g}_resnet{depth}_{init}_{freeze}"
        config = base.with_overrides(learning_rate=learning_rate, depth=depth, init=init, freeze=freeze)
        model_dir = out_dir / name
        if not (model_dir / CONFIG_FILE).is_file():
            span = sub_progress(progress, number / len(combinations), (number + 1) / len(combinations))
            train_model(cohort_dir, bone, strategy, config, model_dir, span, should_cancel)
        summary = json.loads((model_dir / CONFIG_FILE).read_text())
        rows.append(
            {
                "learning_rate": learning_rate,
                "depth": depth,
                "init": init,
                "freeze": freeze,
                **{f"validation_{key}": summary["validation"][key] for key in ("auc", "sensitivity", "specificity")},
                "validation_auc_cv": summary["validation_auc_cv"],
                "model_dir": str(model_dir),
            }
        )
        report(progress, "grid", (number + 1) / len(combinations), name)
    table = rank_models(pd.DataFrame(rows))
    table.to_csv(out_dir / "grid.csv", index=False)
    return table


def rank_models(table: pd.DataFrame) -> pd.DataFrame:
    """Add ``score`` and sort best first (see the module docstring); a NaN metric ranks last."""
    quality = table[["validation_sensitivity", "validation_specificity", "validation_auc"]].mean(axis=1, skipna=False)
    table = table.assign(score=quality - table["validation_auc_cv"].fillna(0.0))
    return table.sort_values("score", ascending=False, na_position="last").reset_index(drop=True)
