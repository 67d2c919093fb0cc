"""The window on the real sample knee: a pipeline run, locked colour range, picking, cancel and worker errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kneeviewer.io.volume import read_volume, write_volume

pytestmark = [pytest.mark.gui, pytest.mark.sample_data]


@pytest.fixture
def sample_window(window, qtbot, sample_results_dir):
    """The main window showing the sample knee results made once per session."""
    with qtbot.waitSignal(window.results_shown, timeout=60_000):
        window.open_paths([sample_results_dir])
    return window


def test_sample_run_writes_bones(sample_results_dir) -> None:
    for bone in ("femur", "tibia", "patella"):
        assert (sample_results_dir / f"{bone}.vtp").is_file(), bone


def test_sample_actors_use_locked_range(sample_window) -> None:
    sample_window.select_array("thickness_mm")
    sample_window.lock_range("thickness_mm", (0.0, 3.0))
    for bone in ("femur", "tibia", "patella"):
        actor = sample_window.bone_view.actors[bone]
        assert actor.mapper.array_name == "thickness_mm", bone
        assert tuple(actor.mapper.scalar_range) == pytest.approx((0.0, 3.0)), bone


def test_sample_pick_matches_mesh_value(sample_window) -> None:
    mesh = sample_window.bone_view.meshes["tibia"]
    thickness = np.asarray(mesh.point_data["thickness_mm"])
    point_id = int(np.flatnonzero(np.isfinite(thickness))[0])
    sample_window.bone_view.pick_vertex("tibia", point_id)
    assert sample_window.readout.values["thickness_mm"] == pytest.approx(float(thickness[point_id]))
    assert sample_window.readout.values["bone_shape_mm"] == pytest.approx(float(mesh.point_data["bone_shape_mm"][point_id]))


def test_sample_slices_show_label_map(sample_window) -> None:
    assert sample_window.slice_view.current_volume() is not None
    assert sample_window.slice_view.planes["sagittal"].image is not None


def test_cancel_keeps_finished_stages(window, qtbot, knee_sample_dir, tmp_path, sample_results_dir) -> None:
    from kneeviewer.pipeline import KneeInputs

    out_dir = tmp_path / "cancelled"
    stages_seen: list[str] = []

    def cancel_after_first_stage(stage: str, _fraction: float, _message: str) -> None:
        stages_seen.append(stage)
        if stage not in ("inputs", "thickness"):
            window.cancel_run()

    with qtbot.waitSignal(window.job_cancelled, timeout=240_000):
        window.start_run(KneeInputs(labels=knee_sample_dir / "dess_labels.nrrd"), out_dir)
        window.runner.job.progress.connect(cancel_after_first_stage)
    assert (out_dir / "stages" / "thickness").is_dir()
    assert not (out_dir / "summary.json").exists()
    assert not window.runner.is_running()
    # The window still works: it opens finished results afterwards.
    with qtbot.waitSignal(window.results_shown, timeout=60_000):
        window.open_paths([sample_results_dir])
    assert set(window.bone_view.actors) == {"femur", "tibia", "patella"}


def test_worker_error_shows_dialog(window, qtbot, knee_sample_dir, tmp_path) -> None:
    from kneeviewer.pipeline import KneeInputs

    # The sample label map with the femur (label 5) removed: the pipeline must reject it.
    labels = read_volume(knee_sample_dir / "dess_labels.nrrd")
    no_femur = np.where(labels.data == 5, 0, labels.data)
    path = write_volume(labels.with_data(no_femur.astype(labels.data.dtype)), tmp_path / "no_femur.nrrd")
    with qtbot.waitSignal(window.job_failed, timeout=120_000) as failure:
        window.start_run(KneeInputs(labels=path), tmp_path / "out")
    message = failure.args[0]
    box = window.last_error_box
    assert "femur" in message
    assert box.text() == message
    assert "Traceback" in box.detailedText()
    assert "Traceback" not in box.text()
