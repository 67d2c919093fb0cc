"""Fixtures shared by the whole test suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# VTK renders off screen in tests that do not open a Qt window.
os.environ.setdefault("PYVISTA_OFF_SCREEN", "true")

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPOSITORY_ROOT.parent / "shared" / "data"
KNEE_SAMPLE = SHARED_DATA / "knee-sample"
DEEP_PAIN_STATS = SHARED_DATA / "deep-pain-stats"


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"sample data folder {path} is absent; it sits beside the repository in CI")
    return path


@pytest.fixture(scope="session")
def knee_sample_dir() -> Path:
    """The real knee sample (DESS label map, MESE T2 DICOM series, five femur meshes)."""
    return _require(KNEE_SAMPLE)


@pytest.fixture(scope="session")
def deep_pain_stats_dir() -> Path:
    """The published per-knee regression tables of the chronic-pain study."""
    return _require(DEEP_PAIN_STATS)
