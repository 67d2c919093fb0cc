"""Fixtures of the statistics tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from synthetic_cohort import write_synthetic_cohort


@pytest.fixture(scope="session")
def synthetic_stats_dir(tmp_path_factory) -> Path:
    """A stats folder computed from a small synthetic cohort with a planted femur Grad-CAM difference."""
    from kneeviewer.stats.cohort import run_cohort_stats

    root = tmp_path_factory.mktemp("cohort")
    knees, probabilities = write_synthetic_cohort(root / "knees", n_per_group=8, n_outside=24)
    out = root / "stats"
    run_cohort_stats(knees, probabilities, out, bones=["femur"], n_permutations=100, n_samples=500)
    return out
