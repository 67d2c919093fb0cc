"""Off-screen rendering of bone meshes: files, sizes, legend colours, NaN grey and errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import pyvista as pv
from PIL import Image

from kneeviewer.errors import InputError
from kneeviewer.visual.arrays import available_arrays, describe_array, robust_range
from kneeviewer.visual.camera import VIEWS
from kneeviewer.visual.render import render_bones


def _bones() -> dict[str, pv.PolyData]:
    femur = pv.Sphere(radius=10.0, center=(0.0, 0.0, 12.0), theta_resolution=24, phi_resolution=24)
    z = femur.points[:, 2]
    femur.point_data["thickness_mm"] = (4.0 * (z - z.min()) / (z.max() - z.min())).astype(np.float32)
    tibia = pv.Sphere(radius=9.0, center=(0.0, 0.0, -10.0), theta_resolution=24, phi_resolution=24)
    tibia.point_data["thickness_mm"] = np.full(tibia.n_points, np.nan, dtype=np.float32)
    tibia.point_data["gradcam_pain"] = np.linspace(0.0, 1.0, tibia.n_points, dtype=np.float32)
    return {"femur": femur, "tibia": tibia}


def test_render_writes_scaled_png(tmp_path: Path) -> None:
    out = render_bones(_bones(), "thickness_mm", tmp_path / "a" / "fig.png", window_size=(160, 120), scale=2)
    image = Image.open(out)
    assert out.exists()
    assert image.size == (320, 240)


def test_render_transparent_background(tmp_path: Path) -> None:
    out = render_bones(_bones(), "thickness_mm", tmp_path / "fig.png", window_size=(160, 120), transparent=True)
    rgba = np.asarray(Image.open(out))
    assert rgba.shape[2] == 4
    assert rgba[0, 0, 3] == 0
    assert rgba[:, :, 3].max() == 255


def test_render_nan_vertices_grey(tmp_path: Path) -> None:
    # The tibia (lower sphere) is all NaN, so the centre of the lower half
    # must be a shade of the neutral grey: red, green and blue within 12 of
    # each other (lighting changes brightness, not hue).
    out = render_bones(_bones(), "thickness_mm", tmp_path / "fig.png", window_size=(200, 200))
    rgb = np.asarray(Image.open(out).convert("RGB")).astype(int)
    pixel = rgb[150, 90]
    assert pixel.max() - pixel.min() <= 12
    assert pixel.max() < 250


def test_render_every_view(tmp_path: Path) -> None:
    for view in VIEWS:
        out = render_bones(_bones(), "thickness_mm", tmp_path / f"{view}.png", view=view, window_size=(80, 60))
        assert out.exists(), view


def test_render_missing_array() -> None:
    with pytest.raises(InputError, match="t2_deep_ms"):
        render_bones(_bones(), "t2_deep_ms", "unused.png")


def test_render_unknown_view() -> None:
    with pytest.raises(InputError, match="oblique"):
        render_bones(_bones(), "thickness_mm", "unused.png", view="oblique")


def test_describe_array_units() -> None:
    assert describe_array("thickness_mm").title == "Cartilage thickness (mm)"
    assert describe_array("t2_deep_ms").unit == "ms"
    assert describe_array("gradcam_pain").unit == ""


def test_available_arrays_order() -> None:
    assert available_arrays(_bones()) == ["thickness_mm", "gradcam_pain"]


def test_robust_range_ignores_nan() -> None:
    low, high = robust_range([np.array([np.nan, 0.0, 10.0]), np.arange(11.0)], percentiles=(0.0, 100.0))
    assert low == 0.0
    assert high == 10.0
