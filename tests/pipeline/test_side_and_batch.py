"""Left knees are mirrored to right-knee convention; batches run on real Dask workers."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from kneeviewer.cli.main import main
from kneeviewer.pipeline import KneeInputs, PipelineParams, run_knee
from kneeviewer.pipeline.batch import read_knee_table, run_batch

FAST = PipelineParams(target_vertices=3000, render=False)


@pytest.fixture(scope="module")
def right_and_left(coarse_phantom, tmp_path_factory):
    root = tmp_path_factory.mktemp("sides")
    right = run_knee(KneeInputs(labels=coarse_phantom.labels, side="right"), root / "right", FAST)
    left = run_knee(KneeInputs(labels=coarse_phantom.labels, side="left"), root / "left", FAST)
    return right, left


def test_left_knee_is_mirrored_across_x(right_and_left):
    right, left = right_and_left
    for bone in ("femur", "tibia", "patella"):
        right_centre = np.asarray(right.summary["bones"][bone]["centroid_mm"])
        left_centre = np.asarray(left.summary["bones"][bone]["centroid_mm"])
        np.testing.assert_allclose(left_centre, right_centre * [-1, 1, 1], atol=1e-6)


def test_left_knee_keeps_thickness(right_and_left):
    right, left = right_and_left
    for bone in ("femur", "tibia", "patella"):
        assert left.summary["bones"][bone]["mean_thickness_mm"] == pytest.approx(
            right.summary["bones"][bone]["mean_thickness_mm"], abs=0.02)


def test_left_knee_swaps_compartments(right_and_left):
    # The phantom is a right knee: read as a left knee and mirrored, its
    # anatomically lateral side lands on +x, which is called medial.
    right, left = right_and_left
    right_femur = right.summary["bones"]["femur"]["compartments"]
    left_femur = left.summary["bones"]["femur"]["compartments"]
    assert left_femur["medial"]["mean_thickness_mm"] == pytest.approx(right_femur["lateral"]["mean_thickness_mm"], abs=0.05)


def test_summary_records_side(right_and_left):
    right, left = right_and_left
    assert left.summary["side"] == "left"
    assert left.summary["side_source"] == "option"
    assert "mirrored" in left.summary["processed_as"]
    assert right.summary["side"] == "right"


def test_batch_on_dask_workers(coarse_phantom, tmp_path):
    table = tmp_path / "knees.csv"
    with table.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["knee_id", "labels", "side"])
        writer.writerow(["knee_a", str(coarse_phantom.labels), "right"])
        writer.writerow(["knee_b", str(coarse_phantom.labels), "left"])
        writer.writerow(["broken", str(tmp_path / "absent.nrrd"), "right"])
    outcomes = run_batch(read_knee_table(table), tmp_path / "out", FAST, workers=2)
    status = {outcome.knee_id: outcome.status for outcome in outcomes}
    assert status == {"knee_a": "done", "knee_b": "done", "broken": "failed"}
    broken = next(o for o in outcomes if o.knee_id == "broken")
    assert "absent.nrrd" in broken.error
    summary = json.loads((tmp_path / "out" / "knee_b" / "summary.json").read_text())
    assert summary["side"] == "left"
    with (tmp_path / "out" / "batch.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [row["knee_id"] for row in rows] == ["broken", "knee_a", "knee_b"]


def test_batch_resumes_finished_knees(coarse_phantom, tmp_path, capsys):
    table = tmp_path / "knees.csv"
    table.write_text(f"knee_id,labels\nonly,{coarse_phantom.labels}\n")
    assert main(["batch", "--table", str(table), "--out", str(tmp_path / "out"), "--workers", "1",
                 "--target-vertices", "3000"]) == 0
    assert main(["batch", "--table", str(table), "--out", str(tmp_path / "out"), "--workers", "1"]) == 0
    assert "0 done, 1 skipped" in capsys.readouterr().out
