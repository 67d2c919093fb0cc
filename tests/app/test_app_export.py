"""Exports: meshes with their arrays in VTP and PLY, STL geometry, compartment CSV, window screenshots."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import pyvista as pv
from app_sphere_results import write_sphere_results
from PIL import Image

from kneeviewer.app.export import compartment_rows, export_compartment_csv, export_meshes
from kneeviewer.cli.main import main
from kneeviewer.errors import InputError


def _meshes(tmp_path: Path) -> dict[str, pv.PolyData]:
    folder = write_sphere_results(tmp_path / "results")
    return {bone: pv.read(folder / f"{bone}.vtp") for bone in ("femur", "tibia")}


def test_export_vtp_keeps_arrays(tmp_path) -> None:
    meshes = _meshes(tmp_path)
    paths = export_meshes(meshes, tmp_path / "out", ".vtp")
    again = pv.read(paths[0])
    assert "thickness_mm" in again.point_data
    np.testing.assert_array_equal(np.asarray(again["thickness_mm"]), np.asarray(meshes["femur"]["thickness_mm"]))


def test_export_ply_keeps_arrays(tmp_path) -> None:
    meshes = _meshes(tmp_path)
    paths = export_meshes(meshes, tmp_path / "out", ".ply")
    again = pv.read(paths[1])
    assert again.n_points == meshes["tibia"].n_points
    assert again.n_cells == meshes["tibia"].n_cells
    header = paths[1].read_bytes()[:600].decode("ascii", errors="ignore")
    assert "property float gradcam_pain" in header
    assert "property float thickness_mm" in header


def test_export_stl_geometry_only(tmp_path) -> None:
    paths = export_meshes(_meshes(tmp_path), tmp_path / "out", ".stl")
    assert pv.read(paths[0]).n_cells > 0


def test_export_unknown_format(tmp_path) -> None:
    with pytest.raises(InputError, match=".obj"):
        export_meshes(_meshes(tmp_path), tmp_path / "out", ".obj")


def test_compartment_rows_from_summary() -> None:
    summary = {"bones": {"femur": {"mean_t2_ms": 40.0, "n_vertices": 10,
                                   "compartments": {"medial": {"mean_t2_ms": 38.0}, "lateral": {"mean_t2_ms": None}}}}}
    rows = compartment_rows(summary)
    assert {"bone": "femur", "region": "whole", "statistic": "mean", "biomarker": "t2_ms", "value": 40.0} in rows
    assert {"bone": "femur", "region": "medial", "statistic": "mean", "biomarker": "t2_ms", "value": 38.0} in rows
    assert len(rows) == 3


def test_compartment_csv_empty_value(tmp_path) -> None:
    summary = {"bones": {"femur": {"compartments": {"lateral": {"mean_thickness_mm": None}}}}}
    path = export_compartment_csv(summary, tmp_path / "values.csv")
    with path.open(encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    assert rows[0]["value"] == ""


def test_compartment_csv_without_values(tmp_path) -> None:
    with pytest.raises(InputError, match="no per-bone values"):
        export_compartment_csv({}, tmp_path / "values.csv")


@pytest.mark.gui
def test_view_screenshot_scaled_transparent(qtbot, window, tmp_path) -> None:
    from kneeviewer.app.worker import LoadedResults
    from kneeviewer.pipeline import load_results

    window.show_results(LoadedResults(load_results(write_sphere_results(tmp_path / "r")), {}))
    view = window.bone_view
    view.render_now()
    width, height = view.plotter.window_size
    view.screenshot(tmp_path / "view.png", scale=2, transparent=True)
    image = Image.open(tmp_path / "view.png")
    assert image.size == (2 * width, 2 * height)
    assert image.mode == "RGBA"


@pytest.mark.gui
def test_open_screenshot_cli(qapp, tmp_path) -> None:
    results = write_sphere_results(tmp_path / "results")
    out = tmp_path / "window.png"
    status = main(["open", str(results), "--screenshot", str(out), "--work-dir", str(tmp_path / "work")])
    assert status == 0
    assert Image.open(out).size[0] > 400


@pytest.mark.gui
def test_open_screenshot_cli_bad_path(qapp, tmp_path, capsys) -> None:
    out = tmp_path / "window.png"
    status = main(["open", str(tmp_path / "absent.nrrd"), "--screenshot", str(out), "--work-dir", str(tmp_path / "work")])
    assert status == 2
    assert not out.exists()
    assert "Path not found" in capsys.readouterr().err
