"""Fixtures of the phantom tests: one coarse phantom knee with a thinning patch, built once."""

from __future__ import annotations

from pathlib import Path

import pytest

from kneeviewer.phantom import PhantomKnee, PhantomParams, PhantomPaths, ThicknessPatch, make_phantom_knee, write_phantom

#: A coarse knee with one femoral thinning patch under the distal medial condyle.
PATCHED_PARAMS = PhantomParams(
    seed=7,
    snr=40.0,
    grid="coarse",
    patches=(ThicknessPatch("femur", centre_mm=(21.0, 3.0, 0.0), radius_mm=8.0, delta_mm=-1.0),),
)


@pytest.fixture(scope="session")
def patched_params() -> PhantomParams:
    """Parameters of ``coarse_knee``."""
    return PATCHED_PARAMS


@pytest.fixture(scope="session")
def coarse_knee() -> PhantomKnee:
    """The coarse phantom knee of ``PATCHED_PARAMS``."""
    return make_phantom_knee(PATCHED_PARAMS)


@pytest.fixture(scope="session")
def written_knee(coarse_knee: PhantomKnee, tmp_path_factory: pytest.TempPathFactory) -> PhantomPaths:
    """The files of ``coarse_knee`` written by ``write_phantom``."""
    out_dir: Path = tmp_path_factory.mktemp("phantom")
    return write_phantom(out_dir, knee=coarse_knee)
