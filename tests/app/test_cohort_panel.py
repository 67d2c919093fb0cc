"""The cohort panel on a small synthetic stats folder, under Xvfb."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "stats"))

pytest.importorskip("pyvistaqt")

from kneeviewer.app.cohort_panel import CohortPanel  # noqa: E402
from kneeviewer.errors import InputError  # noqa: E402


@pytest.fixture(scope="module")
def stats_dir(tmp_path_factory) -> Path:
    from synthetic_cohort import write_synthetic_cohort

    from kneeviewer.stats.cohort import run_cohort_stats

    root = tmp_path_factory.mktemp("panel")
    knees, probabilities = write_synthetic_cohort(root / "knees", n_per_group=5, n_outside=20)
    run_cohort_stats(knees, probabilities, root / "stats", bones=["femur"], n_permutations=50, n_samples=300)
    return root / "stats"


def test_panel_shows_views_and_table(qtbot, stats_dir):
    panel = CohortPanel(stats_dir)
    qtbot.addWidget(panel)
    panel.show()
    assert panel.bone == "femur"
    assert panel.strategy_box.currentText() == "thickness"
    assert panel.table.rowCount() == 13
    panel.set_correction("fwe")
    assert "FWE" in panel.view_labels[2].text()
    assert panel.plotters[0].renderer.GetActiveCamera() is panel.plotters[2].renderer.GetActiveCamera()
    panel.close_views()


def test_panel_exports_png(qtbot, stats_dir, tmp_path):
    panel = CohortPanel(stats_dir)
    qtbot.addWidget(panel)
    path = panel.export_figure(tmp_path / "figure.png", dpi=60)
    header = path.read_bytes()[:8]
    panel.close_views()
    assert header == b"\x89PNG\r\n\x1a\n"


def test_panel_rejects_empty_folder(qtbot, tmp_path):
    with pytest.raises(InputError):
        CohortPanel(tmp_path)
