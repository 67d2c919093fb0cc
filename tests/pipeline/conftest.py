"""Pipeline results shared by the pipeline tests: each knee runs once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from kneeviewer.phantom import PhantomParams, make_phantom_knee, write_phantom
from kneeviewer.pipeline import KneeInputs, PipelineParams, run_knee


@pytest.fixture(scope="session")
def phantom_run(tmp_path_factory):
    """The phantom knee on the OAI DESS grid at SNR 50, with its pipeline results."""
    root = tmp_path_factory.mktemp("phantom-knee")
    params = PhantomParams(seed=3, snr=50.0, grid="oai")
    knee = make_phantom_knee(params)
    paths = write_phantom(root / "input", params, knee=knee)
    inputs = KneeInputs(labels=paths.labels, dess=paths.dess, msme=paths.msme, side="right")
    results = run_knee(inputs, root / "results", PipelineParams(target_vertices=12000, render=True))
    return {"params": params, "paths": paths, "inputs": inputs, "results": results,
            "knee": knee, "out_dir": root / "results"}


@pytest.fixture(scope="session")
def sample_run(knee_sample_dir, tmp_path_factory) -> Path:
    """The real sample knee's label map through ``kneeviewer run`` (the CLI, in this process)."""
    from kneeviewer.cli.main import main

    out_dir = tmp_path_factory.mktemp("sample-knee") / "results"
    status = main(["run", "--labels", str(knee_sample_dir / "dess_labels.nrrd"), "--out", str(out_dir), "--quiet"])
    assert status == 0
    return out_dir


@pytest.fixture(scope="session")
def coarse_phantom(tmp_path_factory):
    """A phantom knee on the coarse grid (labels only are needed by its users)."""
    root = tmp_path_factory.mktemp("coarse-phantom")
    return write_phantom(root, PhantomParams(seed=5, grid="coarse"))
