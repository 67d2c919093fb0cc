"""Fixtures of the app tests: temporary settings, a main window and the sample knee run once through the GUI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import pyvista as pv
from PySide6.QtCore import QEventLoop, QTimer

from kneeviewer.app.settings import use_settings_folder

#: Longest wait for one pipeline run on the sample knee (about 25 s on 2 cores when idle).
PIPELINE_TIMEOUT_S = 300


@pytest.fixture(scope="session", autouse=True)
def temporary_settings(tmp_path_factory) -> Path:
    """Keep QSettings (recent files, layout, locked ranges) out of the user's profile."""
    folder = tmp_path_factory.mktemp("qsettings")
    use_settings_folder(folder)
    return folder


def wait_for_any(signals, timeout_s: float) -> tuple[int, tuple]:
    """Run the Qt event loop until one of ``signals`` fires; return its index and arguments.

    Raises TimeoutError after ``timeout_s``. Works outside pytest-qt's
    function-scoped ``qtbot``, for session fixtures.
    """
    loop = QEventLoop()
    fired: list = []
    connections = []
    for index, signal in enumerate(signals):
        def handler(*args, index=index):
            fired.append((index, args))
            loop.quit()

        signal.connect(handler)
        connections.append((signal, handler))
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    loop.exec()
    for signal, handler in connections:
        signal.disconnect(handler)
    if not fired:
        raise TimeoutError(f"No signal within {timeout_s} s")
    return fired[0]


@pytest.fixture
def window(qtbot, tmp_path):
    """A shown main window with its own work folder; closed after the test."""
    from kneeviewer.app.main_window import MainWindow

    main_window = MainWindow(tmp_path / "work")
    qtbot.addWidget(main_window)
    main_window.show()
    qtbot.waitExposed(main_window)
    yield main_window
    main_window.close()


@pytest.fixture(scope="session")
def sample_results_dir(knee_sample_dir, tmp_path_factory, qapp) -> Path:
    """Results folder of the real sample knee, made once per session by a run started from the window."""
    from kneeviewer.app.main_window import MainWindow
    from kneeviewer.pipeline import KneeInputs

    out_dir = tmp_path_factory.mktemp("sample") / "results"
    main_window = MainWindow(out_dir.parent / "work")
    main_window.show()
    main_window.start_run(KneeInputs(labels=knee_sample_dir / "dess_labels.nrrd"), out_dir)
    index, args = wait_for_any([main_window.results_shown, main_window.job_failed, main_window.job_cancelled], PIPELINE_TIMEOUT_S)
    main_window.close()
    if index != 0:
        pytest.fail(f"The sample knee pipeline did not finish in the window: {args}")
    return out_dir


def write_sphere_results(folder: Path) -> Path:
    """Write a small results folder: three spheres with known arrays, a spherical map and a summary.

    ``thickness_mm`` on the femur rises with z from 0 to 4 mm and is NaN on
    the lateral half (x < 0); ``t2_ms`` is 35 ms everywhere; the tibia has
    ``gradcam_pain`` from 0 to 1.
    """
    folder.mkdir(parents=True, exist_ok=True)
    centres = {"femur": (0.0, 0.0, 12.0), "tibia": (0.0, 0.0, -10.0), "patella": (0.0, -14.0, 14.0)}
    for bone, centre in centres.items():
        mesh = pv.Sphere(radius=8.0, center=centre, theta_resolution=24, phi_resolution=24)
        z = mesh.points[:, 2]
        thickness = 4.0 * (z - z.min()) / (z.max() - z.min())
        if bone == "femur":
            thickness[mesh.points[:, 0] < 0] = np.nan
        mesh.point_data["thickness_mm"] = thickness.astype(np.float32)
        mesh.point_data["t2_ms"] = np.full(mesh.n_points, 35.0, dtype=np.float32)
        mesh.point_data["medial"] = (mesh.points[:, 0] > 0).astype(np.uint8)
        if bone == "tibia":
            mesh.point_data["gradcam_pain"] = np.linspace(0.0, 1.0, mesh.n_points, dtype=np.float32)
        mesh.save(folder / f"{bone}.vtp")
    grid = np.linspace(0.0, 4.0, 224, dtype=np.float32)
    np.savez(folder / "spherical_maps.npz", **{"femur/thickness_mm": np.tile(grid, (224, 1))})
    summary = {
        "side": "right",
        "inputs": {},
        "parameters": {"bones": list(centres)},
        "bones": {
            "femur": {
                "mean_thickness_mm": 2.0,
                "median_thickness_mm": 2.1,
                "compartments": {"medial": {"mean_thickness_mm": 1.5}, "lateral": {"mean_thickness_mm": None}},
            }
        },
    }
    (folder / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    return folder
