"""``kneeviewer run`` on the real sample knee, against pymskt's published figures."""

from __future__ import annotations

import json

import numpy as np
import pytest
import pyvista as pv

# pymskt 0.1.22 mean thickness where > 0, from the knee sample's README.
PYMSKT_MEAN_THICKNESS_MM = {"femur": 2.21, "tibia": 2.42, "patella": 1.58}


@pytest.mark.parametrize("bone", sorted(PYMSKT_MEAN_THICKNESS_MM))
def test_mean_thickness_near_pymskt(sample_run, bone):
    summary = json.loads((sample_run / "summary.json").read_text())
    mean = summary["bones"][bone]["mean_thickness_mm"]
    assert abs(mean - PYMSKT_MEAN_THICKNESS_MM[bone]) <= 0.25, f"{bone}: {mean:.2f} mm"


def test_sample_without_msme_has_no_t2(sample_run):
    mesh = pv.read(sample_run / "femur.vtp")
    assert "thickness_mm" in mesh.point_data
    assert "t2_ms" not in mesh.point_data
    with np.load(sample_run / "spherical_maps.npz") as maps:
        assert "femur/t2_ms" not in maps.files
        assert maps["femur/thickness_mm"].shape == (224, 224)


def test_sample_side_is_recorded(sample_run):
    summary = json.loads((sample_run / "summary.json").read_text())
    assert summary["side"] == "right"
    assert summary["side_source"] == "assumed"
