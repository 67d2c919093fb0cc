"""Main window on a small results folder: colours, range lock, picking, slices, maps, settings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from app_sphere_results import write_sphere_results
from PySide6.QtCore import QPoint, Qt
from vtkmodules.vtkRenderingCore import vtkCoordinate

from kneeviewer.app import settings
from kneeviewer.io.volume import Geometry, Volume
from kneeviewer.app.worker import LoadedResults

pytestmark = pytest.mark.gui


@pytest.fixture
def sphere_window(window, qtbot, tmp_path):
    """The main window showing :func:`write_sphere_results`."""
    results = write_sphere_results(tmp_path / "results")
    with qtbot.waitSignal(window.results_shown, timeout=30_000):
        window.open_paths([results])
    return window


def test_window_selects_thickness_first(sphere_window) -> None:
    assert sphere_window.display_panel.current_array() == "thickness_mm"
    assert set(sphere_window.bone_view.actors) == {"femur", "tibia", "patella"}


def test_window_lists_gradcam_array(sphere_window) -> None:
    box = sphere_window.display_panel.array_box
    arrays = [box.itemData(i) for i in range(box.count())]
    assert arrays == ["thickness_mm", "t2_ms", "gradcam_pain"]


def test_locked_range_applies_to_actors(sphere_window) -> None:
    sphere_window.lock_range("thickness_mm", (0.5, 3.0))
    for bone, actor in sphere_window.bone_view.actors.items():
        assert actor.mapper.array_name == "thickness_mm", bone
        assert tuple(actor.mapper.scalar_range) == pytest.approx((0.5, 3.0)), bone
    assert sphere_window.display_panel.lock_box.isChecked()


def test_locked_range_kept_for_next_knee(sphere_window, qtbot, tmp_path) -> None:
    sphere_window.lock_range("thickness_mm", (0.25, 2.5))
    other = write_sphere_results(tmp_path / "other")
    with qtbot.waitSignal(sphere_window.results_shown, timeout=30_000):
        sphere_window.open_paths([other])
    actor = sphere_window.bone_view.actors["femur"]
    assert tuple(actor.mapper.scalar_range) == pytest.approx((0.25, 2.5))
    assert settings.app_settings().value("locked_ranges/thickness_mm") is not None


def test_array_switch_recolours(sphere_window) -> None:
    sphere_window.select_array("t2_ms")
    assert sphere_window.bone_view.actors["tibia"].mapper.array_name == "t2_ms"
    assert sphere_window.bone_view.legend_title() == "T2, full depth (ms)"


def test_bone_without_array_is_grey(sphere_window) -> None:
    # Only the tibia has gradcam_pain; the femur is drawn in the NaN grey without scalars.
    sphere_window.select_array("gradcam_pain")
    assert not sphere_window.bone_view.actors["femur"].mapper.scalar_visibility
    assert sphere_window.bone_view.actors["tibia"].mapper.array_name == "gradcam_pain"


def test_cmap_choice_applies(sphere_window) -> None:
    sphere_window.display_panel.cmap_box.setCurrentText("magma")
    assert sphere_window.bone_view.colours.cmap == "magma"
    assert sphere_window.spherical_view.colours.cmap == "magma"


def test_bone_visibility_and_opacity(sphere_window) -> None:
    sphere_window.display_panel.bone_checks["patella"].setChecked(False)
    sphere_window.display_panel.bone_sliders["tibia"].setValue(40)
    assert not sphere_window.bone_view.actors["patella"].GetVisibility()
    assert sphere_window.bone_view.actors["tibia"].GetProperty().GetOpacity() == pytest.approx(0.4)


def test_camera_presets_look_along_axes(sphere_window) -> None:
    expected = {"anterior": (0, -1, 0), "medial": (1, 0, 0), "superior": (0, 0, 1), "posterior": (0, 1, 0)}
    for view, direction in expected.items():
        sphere_window.bone_view.set_view(view)
        position, focal, _up = sphere_window.bone_view.plotter.camera_position
        offset = np.subtract(position, focal)
        assert offset / np.linalg.norm(offset) == pytest.approx(np.array(direction, dtype=float), abs=1e-6), view


def test_pick_readout_matches_mesh(sphere_window) -> None:
    mesh = sphere_window.bone_view.meshes["femur"]
    point_id = int(np.nanargmax(mesh.point_data["thickness_mm"]))
    sphere_window.bone_view.pick_vertex("femur", point_id)
    readout = sphere_window.readout.values
    assert readout["thickness_mm"] == pytest.approx(float(mesh.point_data["thickness_mm"][point_id]))
    assert readout["t2_ms"] == pytest.approx(35.0)


def test_pick_nan_vertex_reads_no_value(sphere_window) -> None:
    mesh = sphere_window.bone_view.meshes["femur"]
    point_id = int(np.flatnonzero(np.isnan(mesh.point_data["thickness_mm"]))[0])
    sphere_window.bone_view.pick_vertex("femur", point_id)
    assert np.isnan(sphere_window.readout.values["thickness_mm"])
    assert sphere_window.readout.table.item(0, 1).text() == "no value"


def test_pick_at_display_finds_vertex(sphere_window) -> None:
    # In the medial view the femur vertex with the largest x faces the camera;
    # a click at its projection picks it or a neighbour within 2 mm.
    view = sphere_window.bone_view
    view.set_view("medial")
    view.render_now()
    mesh = view.meshes["femur"]
    target = int(np.argmax(mesh.points[:, 0]))
    coordinate = vtkCoordinate()
    coordinate.SetCoordinateSystemToWorld()
    coordinate.SetValue(*mesh.points[target])
    x, y = coordinate.GetComputedDisplayValue(view.plotter.renderer)
    picked = view.pick_at_display(x, y)
    assert picked is not None
    assert picked[0] == "femur"
    assert np.linalg.norm(mesh.points[picked[1]] - mesh.points[target]) < 2.0


def _volume_around_spheres() -> Volume:
    geometry = Geometry(shape=(30, 40, 50), spacing_mm=(1.0, 1.0, 1.0), origin_mm=(-15.0, -25.0, -25.0))
    data = np.arange(30 * 40 * 50, dtype=np.float32).reshape(30, 40, 50)
    return Volume(data, geometry)


def test_pick_moves_slices_to_vertex(sphere_window) -> None:
    volume = _volume_around_spheres()
    sphere_window.slice_view.set_volumes({"dess": volume})
    mesh = sphere_window.bone_view.meshes["tibia"]
    sphere_window.bone_view.pick_vertex("tibia", 5)
    expected = np.rint(volume.geometry.lps_to_index(mesh.points[5])).astype(int)
    assert sphere_window.slice_view.current_index().tolist() == expected.tolist()


def test_slice_click_marks_nearest_vertex(sphere_window, qtbot) -> None:
    sphere_window.slice_view.set_volumes({"dess": _volume_around_spheres()})
    sphere_window.slice_view.set_point((0.0, 0.0, -19.0))
    plane = sphere_window.slice_view.planes["coronal"]
    rect = plane.image_rect()
    qtbot.mouseClick(plane, Qt.MouseButton.LeftButton, pos=QPoint(int(rect.center().x()), int(rect.center().y())))
    assert sphere_window.readout.header.text().startswith("Tibia")


def test_slice_scroll_steps_one_voxel(sphere_window) -> None:
    sphere_window.slice_view.set_volumes({"dess": _volume_around_spheres()})
    before = sphere_window.slice_view.current_index().copy()
    sphere_window.slice_view.step_slice("sagittal", 1)
    after = sphere_window.slice_view.current_index()
    assert after[0] - before[0] == 1
    assert after[1:].tolist() == before[1:].tolist()


def test_spherical_map_follows_selection(sphere_window) -> None:
    assert sphere_window.spherical_view.current_key() == "femur/thickness_mm"
    assert sphere_window.spherical_view.message.text().startswith("Azimuth")
    sphere_window.select_array("t2_ms")
    assert sphere_window.spherical_view.message.text().startswith("No spherical map")


def test_recent_inputs_remembered(sphere_window, tmp_path) -> None:
    assert settings.recent_paths()[0] == [str(tmp_path / "results")]


def test_bad_input_shows_dialog(window, tmp_path) -> None:
    window.open_paths([tmp_path / "absent.nrrd"])
    assert window.last_error_box is not None
    assert window.last_error_box.text().startswith("Path not found")
    assert "Traceback" not in window.last_error_box.text()


def test_shortcuts_listed_in_help(window) -> None:
    shortcuts = {action.shortcut().toString() for action in window.findChildren(type(window.rerun_action)) if not action.shortcut().isEmpty()}
    assert {"Ctrl+O", "Ctrl+R", "Esc", "F1", "1", "5"} <= shortcuts


def test_layout_saved_on_close(qtbot, tmp_path) -> None:
    from kneeviewer.app.main_window import MainWindow

    first = MainWindow(tmp_path / "work")
    qtbot.addWidget(first)
    first.close()
    assert settings.app_settings().value("window/state") is not None


def test_show_results_without_images(window) -> None:
    from kneeviewer.pipeline import load_results

    loaded = LoadedResults(load_results(write_sphere_results(Path(window.work_dir) / "r")), {})
    window.show_results(loaded)
    assert window.slice_view.current_volume() is None


def test_cohort_menu_enabled(window) -> None:
    # The cohort panel module ships with the app, so the menu action is live.
    assert window.cohort_action.isEnabled()
    assert window.cohort_action.text() == "Open &statistics folder..."


def test_drop_results_folder_opens_it(window, qtbot, tmp_path) -> None:
    from PySide6.QtCore import QMimeData, QPointF, QUrl
    from PySide6.QtGui import QDropEvent

    results = write_sphere_results(tmp_path / "dropped")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(results))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(window.results_shown, timeout=30_000):
        window.dropEvent(event)
    assert window.windowTitle() == "kneeviewer - dropped"
