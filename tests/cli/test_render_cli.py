"""``kneeviewer render``: the figure matches a stored reference, and bad options fail cleanly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import pyvista as pv
from PIL import Image

from kneeviewer.cli.main import main

REFERENCE = Path(__file__).resolve().parents[1] / "data" / "render_spheres_anterior.png"

#: Largest mean absolute difference per channel (0 to 255) accepted against the
#: reference; VTK versions and GPU drivers shift anti-aliased edges by a few levels.
MEAN_TOLERANCE = 4.0


def write_sphere_results(folder: Path) -> Path:
    """Write a results folder with two spheres as femur and tibia.

    The femur's ``thickness_mm`` rises from 0 mm at its bottom to 4 mm at its
    top; its medial third (x > 4 mm) is NaN. The tibia has ``t2_ms`` only.
    """
    folder.mkdir(parents=True, exist_ok=True)
    femur = pv.Sphere(radius=10.0, center=(0.0, 0.0, 12.0), theta_resolution=32, phi_resolution=32)
    z = femur.points[:, 2]
    thickness = 4.0 * (z - z.min()) / (z.max() - z.min())
    thickness[femur.points[:, 0] > 4.0] = np.nan
    femur.point_data["thickness_mm"] = thickness.astype(np.float32)
    tibia = pv.Sphere(radius=9.0, center=(0.0, 0.0, -10.0), theta_resolution=32, phi_resolution=32)
    tibia.point_data["t2_ms"] = np.full(tibia.n_points, 40.0, dtype=np.float32)
    femur.save(folder / "femur.vtp")
    tibia.save(folder / "tibia.vtp")
    return folder


def _render_reference_figure(results: Path, out: Path) -> int:
    return main([
        "render", "--results", str(results), "--array", "thickness_mm", "--view", "anterior",
        "--out", str(out), "--clim", "0", "4", "--cmap", "viridis",
    ])


def test_render_matches_reference(tmp_path: Path) -> None:
    results = write_sphere_results(tmp_path / "results")
    out = tmp_path / "figure.png"
    status = _render_reference_figure(results, out)
    assert status == 0
    produced = np.asarray(Image.open(out).convert("RGB").resize((300, 225), Image.Resampling.BILINEAR), dtype=float)
    reference = np.asarray(Image.open(REFERENCE).convert("RGB"), dtype=float)
    assert produced.shape == reference.shape
    assert np.abs(produced - reference).mean() < MEAN_TOLERANCE


def test_render_cli_transparent_scale(tmp_path: Path) -> None:
    results = write_sphere_results(tmp_path / "results")
    out = tmp_path / "figure.png"
    status = main(["render", "--results", str(results), "--array", "thickness_mm", "--view", "medial",
                   "--out", str(out), "--size", "200", "150", "--scale", "2", "--transparent"])
    image = Image.open(out)
    assert status == 0
    assert image.size == (400, 300)
    assert image.mode == "RGBA"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--array", "t2_deep_ms"], "t2_deep_ms"),
        (["--cmap", "no_such_map"], "no_such_map"),
        (["--clim", "5", "1"], "LOW < HIGH"),
    ],
)
def test_render_cli_bad_option(tmp_path: Path, capsys, extra: list[str], message: str) -> None:
    results = write_sphere_results(tmp_path / "results")
    status = main(["render", "--results", str(results), "--out", str(tmp_path / "x.png"), *extra])
    assert status == 2
    assert message in capsys.readouterr().err


def test_render_cli_missing_results(tmp_path: Path, capsys) -> None:
    status = main(["render", "--results", str(tmp_path / "absent"), "--out", str(tmp_path / "x.png")])
    assert status == 2
    assert "Results folder not found" in capsys.readouterr().err
