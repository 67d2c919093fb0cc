"""Model selection of the grid search."""

from __future__ import annotations

import numpy as np
import pandas as pd

from kneeviewer.learning.grid import rank_models, run_grid
from kneeviewer.learning.presets import preset


def test_rank_prefers_smooth_training():
    table = pd.DataFrame(
        {
            "validation_sensitivity": [0.8, 0.8, np.nan],
            "validation_specificity": [0.7, 0.7, 0.9],
            "validation_auc": [0.8, 0.8, 0.9],
            "validation_auc_cv": [0.20, 0.05, 0.0],
            "model_dir": ["jumpy", "smooth", "undefined"],
        }
    )
    ranked = rank_models(table)
    assert list(ranked["model_dir"]) == ["smooth", "jumpy", "undefined"]


def test_grid_trains_each_combination(synthetic_cohort, tmp_path):
    base = preset("fast").with_overrides(image_px=32, max_epochs=1, batch_size=16, threads=1)
    table = run_grid(synthetic_cohort, "femur", "shape", base, tmp_path, learning_rates=(1e-3,), depths=(18,),
                     inits=("random",), freezes=("none", "all"))  # fmt: skip
    assert len(table) == 2
    assert set(table["freeze"]) == {"none", "all"}
    assert (tmp_path / "grid.csv").is_file()
