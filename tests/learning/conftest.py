"""Cohorts for the learning tests: a synthetic image store and phantom cohorts built once per session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kneeviewer.learning.images import BONES, STRATEGIES
from kneeviewer.learning.splits import write_splits


def write_synthetic_cohort(cohort_dir: Path, n_patients: int = 60, seed: int = 0) -> Path:
    """Write a cohort folder whose images carry a bright square exactly in the pain knees.

    Every bone and strategy gets the same images: uniform noise (0..100)
    with, for pain knees, a 40 x 40 square of 230 at rows and columns
    90..130. The index has the cohort columns of a phantom cohort.
    """
    rng = np.random.default_rng(seed)
    images_dir = cohort_dir / "images"
    images_dir.mkdir(parents=True)
    pain = (np.arange(n_patients) % 2).astype(int)
    rng.shuffle(pain)
    table = pd.DataFrame(
        {
            "patient_id": [f"P{i:05d}" for i in range(n_patients)],
            "timepoint": 0,
            "side": "right",
            "age": rng.normal(63.9, 9.4, n_patients).round(1),
            "sex": np.where(rng.random(n_patients) < 0.47, "M", "F"),
            "bmi": rng.normal(28, 5, n_patients).round(1),
            "kl": rng.integers(0, 5, n_patients),
            "jsn_medial": rng.integers(0, 4, n_patients),
            "jsn_lateral": rng.integers(0, 4, n_patients),
            "min_jsw_medial_mm": rng.uniform(1, 6, n_patients).round(2),
            "pain": pain,
            "results_dir": [f"knees/P{i:05d}_T0/results" for i in range(n_patients)],
        }
    )
    table["oa"] = (table["kl"] >= 2).astype(int)
    images = rng.integers(0, 100, size=(n_patients, 3, 224, 224), dtype=np.uint8)
    images[pain == 1, :, 90:130, 90:130] = 230
    for bone in BONES:
        for strategy in STRATEGIES:
            np.save(images_dir / f"{bone}_{strategy}.npy", images)
    table.to_csv(images_dir / "index.csv", index_label="row")
    table.to_csv(cohort_dir / "cohort.csv", index=False)
    write_splits(cohort_dir, table, seed=seed)
    return cohort_dir


@pytest.fixture(scope="session")
def synthetic_cohort(tmp_path_factory) -> Path:
    """A 60-patient synthetic cohort (bright square = pain) with every bone and strategy."""
    return write_synthetic_cohort(tmp_path_factory.mktemp("synthetic_cohort"))


#: Phantom cohorts of the learning tests. Only the femur is built (the
#: planted zones lie on it), with the analytic source. The test splits are
#: large so that test AUCs are stable: 60 knees (strong), 165 (none).
STRONG_PATIENTS = 150
STRONG_SPLIT = (0.45, 0.15, 0.4)
NONE_PATIENTS = 300
NONE_SPLIT = (0.3, 0.15, 0.55)


def _phantom_cohort(out: Path, patients: int, effect: str, seed: int, split: tuple[float, float, float]) -> Path:
    from kneeviewer.phantom.cohort import CohortParams, build_cohort

    params = CohortParams(patients, effect=effect, seed=seed, source="analytic", bones=("femur",), target_vertices=1500)
    build_cohort(out, params, workers=2, split_ratios=split)
    return out


def _train_fast(cohort: Path, out: Path) -> Path:
    from kneeviewer.cli.main import main

    status = main(["train", "--cohort", str(cohort), "--bone", "femur", "--strategy", "thickness", "--preset", "fast",
                   "--threads", "1", "--seed", "0", "--out", str(out)])  # fmt: skip
    assert status == 0
    return out


@pytest.fixture(scope="session")
def strong_cohort(tmp_path_factory) -> Path:
    """150 phantom patients with the strong planted pattern (femur only)."""
    return _phantom_cohort(tmp_path_factory.mktemp("strong_cohort"), STRONG_PATIENTS, "strong", seed=1, split=STRONG_SPLIT)


@pytest.fixture(scope="session")
def strong_model(strong_cohort) -> Path:
    """The femur thickness model of the strong cohort, fast preset, trained through the CLI."""
    return _train_fast(strong_cohort, strong_cohort / "models" / "femur_thickness")


@pytest.fixture(scope="session")
def gradcam_done(strong_cohort, strong_model) -> Path:
    """The strong cohort after ``kneeviewer gradcam`` with its femur thickness model."""
    from kneeviewer.cli.main import main

    assert main(["gradcam", "--cohort", str(strong_cohort), "--models", str(strong_model)]) == 0
    return strong_cohort


@pytest.fixture(scope="session")
def none_cohort(tmp_path_factory) -> Path:
    """300 phantom patients without any planted pattern (femur only)."""
    return _phantom_cohort(tmp_path_factory.mktemp("none_cohort"), NONE_PATIENTS, "none", seed=2, split=NONE_SPLIT)


@pytest.fixture(scope="session")
def none_model(none_cohort) -> Path:
    """The femur thickness model of the no-effect cohort."""
    return _train_fast(none_cohort, none_cohort / "models" / "femur_thickness")
