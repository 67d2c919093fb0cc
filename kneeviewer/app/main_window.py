"""The main window: 3D view, slice view, spherical maps, controls, log and background runs."""

from __future__ import annotations

import hashlib
import importlib.util
import logging
from pathlib import Path

import numpy as np
from PySide6.QtCore import QByteArray, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDockWidget,
    QFileDialog,
    QFormLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTabWidget,
)

from kneeviewer.app import settings as app_settings_module
from kneeviewer.app.display_panel import DisplayPanel
from kneeviewer.app.error_dialog import show_error
from kneeviewer.app.export import MESH_FORMATS, export_compartment_csv, export_meshes
from kneeviewer.app.input_paths import classify_paths
from kneeviewer.app.log_panel import LogDock, add_log_file
from kneeviewer.app.readout import PickReadout
from kneeviewer.app.shortcuts import SHORTCUTS, ShortcutsDialog
from kneeviewer.app.slice_view import SliceView
from kneeviewer.app.spherical_view import SphericalMapView
from kneeviewer.app.view3d import BoneView
from kneeviewer.app.worker import Job, JobRunner, LoadedResults, demo_job, pipeline_job, results_job
from kneeviewer.errors import KneeViewerError
from kneeviewer.visual.arrays import available_arrays, describe_array
from kneeviewer.visual.scene import ColourSettings, resolve_colours

log = logging.getLogger(__name__)

#: Preferred first biomarker when a knee opens.
DEFAULT_ARRAY = "thickness_mm"


def run_folder_name(labels: Path) -> str:
    """Return a results folder name for a label map: its stem plus a short hash of its full path."""
    digest = hashlib.sha1(str(Path(labels).resolve()).encode("utf-8")).hexdigest()[:8]
    stem = Path(labels).name.split(".")[0]
    return f"{stem}-{digest}"


class MainWindow(QMainWindow):
    """kneeviewer's main window.

    Parameters
    ----------
    work_dir : Path
        Folder for results of runs started from the app, the demo knee and the log file.

    Signals
    -------
    results_shown()
        A knee's results are on screen.
    job_failed(str)
        A run or load failed; the message as shown in the dialog.
    job_cancelled(str)
        A run was cancelled.
    """

    results_shown = Signal()
    job_failed = Signal(str)
    job_cancelled = Signal(str)

    def __init__(self, work_dir: Path) -> None:
        super().__init__()
        self.setObjectName("KneeViewerMainWindow")
        self.setWindowTitle("kneeviewer")
        self.setAcceptDrops(True)
        self.work_dir = Path(work_dir)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.log_file = self.work_dir / "kneeviewer.log"
        self._file_handler = add_log_file(self.log_file)
        self.results = None
        self.last_out_dir: Path | None = None
        self.last_error_box: QMessageBox | None = None
        self.cmaps: dict[str, str] = {}
        self.ranges: dict[str, tuple[float, float]] = {}
        self.locked_ranges: dict[str, tuple[float, float]] = self._read_locked_ranges()
        self._picking_from_slice = False
        self._closed = False
        self.preferred_array = DEFAULT_ARRAY

        self.bone_view = BoneView(self)
        self.slice_view = SliceView(self)
        self.spherical_view = SphericalMapView(self)
        self.tabs = QTabWidget(objectName="sideTabs")
        self.tabs.addTab(self.slice_view, "Slices")
        self.tabs.addTab(self.spherical_view, "Spherical map")
        splitter = QSplitter(Qt.Orientation.Horizontal, objectName="mainSplitter")
        splitter.addWidget(self.bone_view)
        splitter.addWidget(self.tabs)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([800, 560])
        splitter.setCollapsible(0, False)
        self.bone_view.setMinimumSize(320, 240)
        self.setCentralWidget(splitter)

        self.display_panel = DisplayPanel(self)
        self.display_dock = self._dock("Display", "DisplayDock", self.display_panel, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.readout = PickReadout(self)
        self.readout_dock = self._dock("Picked vertex", "ReadoutDock", self.readout, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.log_dock = LogDock(self)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.log_dock)

        self.runner = JobRunner(self)
        self._build_status_bar()
        self._build_menus()
        self._connect()
        self._restore_layout()
        if not self._layout_restored:
            self.resize(1500, 950)
            self.resizeDocks([self.log_dock], [130], Qt.Orientation.Vertical)
            self.resizeDocks([self.display_dock], [330], Qt.Orientation.Horizontal)
        log.info("kneeviewer window ready; log file %s", self.log_file)

    # Construction --------------------------------------------------------

    def _dock(self, title: str, name: str, widget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _build_status_bar(self) -> None:
        self.status_label = QLabel("Open a label map, DICOM folders or a results folder (File > Open).", objectName="statusLine")
        self.progress_bar = QProgressBar(objectName="progressBar")
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setMaximumWidth(260)
        self.progress_bar.setFormat("%p%")
        self.cancel_button = QPushButton("Cancel", objectName="cancelButton")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel_run)
        bar = self.statusBar()
        bar.addWidget(self.status_label, 1)
        bar.addPermanentWidget(self.progress_bar)
        bar.addPermanentWidget(self.cancel_button)

    def _action(self, menu, text: str, slot, shortcut_name: str | None = None) -> QAction:
        action = QAction(text, self)
        if shortcut_name:
            action.setShortcut(QKeySequence(SHORTCUTS[shortcut_name]))
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _build_menus(self) -> None:
        menus = self.menuBar()
        file_menu = menus.addMenu("&File")
        self._action(file_menu, "&Open inputs...", self.open_inputs_dialog, "Open inputs")
        self._action(file_menu, "Open &results folder...", self.open_results_dialog, "Open results folder")
        self.recent_menu = file_menu.addMenu("Open r&ecent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self._action(file_menu, "Run the &demo knee", self.run_demo)
        self.rerun_action = self._action(file_menu, "Run the pipeline &again", self.rerun, "Run pipeline")
        file_menu.addSeparator()
        self._action(file_menu, "Save &screenshot of the 3D view...", self.screenshot_dialog, "Save screenshot of the 3D view")
        self._action(file_menu, "Export &meshes...", self.export_meshes_dialog, "Export meshes")
        self._action(file_menu, "Export &compartment values (CSV)...", self.export_csv_dialog, "Export compartment values (CSV)")
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, "Quit")

        view_menu = menus.addMenu("&View")
        for name in ("anterior", "posterior", "medial", "lateral", "superior"):
            self._action(view_menu, f"{name.capitalize()} view", lambda _checked=False, v=name: self.bone_view.set_view(v), f"{name.capitalize()} view")
        view_menu.addSeparator()
        self.lock_action = self._action(view_menu, "&Lock colour range", lambda: self.display_panel.lock_box.toggle(), "Lock colour range")
        self._action(view_menu, "Next biomarker", lambda: self.display_panel.step_array(1), "Next biomarker")
        self._action(view_menu, "Previous biomarker", lambda: self.display_panel.step_array(-1), "Previous biomarker")
        view_menu.addSeparator()
        for dock in (self.display_dock, self.readout_dock, self.log_dock):
            view_menu.addAction(dock.toggleViewAction())
        self.log_dock.toggleViewAction().setShortcut(QKeySequence(SHORTCUTS["Show the log panel"]))
        self.cancel_action = self._action(view_menu, "Cancel the run", self.cancel_run, "Cancel run")

        cohort_menu = menus.addMenu("&Cohort")
        self.cohort_action = self._action(cohort_menu, "Open &statistics folder...", self.open_cohort_dialog)
        self.cohort_action.setEnabled(importlib.util.find_spec("kneeviewer.app.cohort_panel") is not None)

        help_menu = menus.addMenu("&Help")
        self._action(help_menu, "&Shortcuts", self.show_shortcuts, "Shortcuts")
        self._action(help_menu, "&About kneeviewer", self.show_about)

    def _connect(self) -> None:
        panel = self.display_panel
        panel.array_changed.connect(lambda _name: self.update_colours())
        panel.cmap_changed.connect(self._cmap_chosen)
        panel.range_changed.connect(self._range_chosen)
        panel.lock_changed.connect(self._lock_toggled)
        panel.bone_visibility_changed.connect(self.bone_view.set_bone_visible)
        panel.bone_opacity_changed.connect(self.bone_view.set_bone_opacity)
        panel.view_requested.connect(self.bone_view.set_view)
        self.bone_view.vertex_picked.connect(self._vertex_picked)
        self.slice_view.point_clicked.connect(self._slice_clicked)

    # Settings ------------------------------------------------------------

    def _restore_layout(self) -> None:
        store = app_settings_module.app_settings()
        geometry, state = store.value("window/geometry"), store.value("window/state")
        self._layout_restored = isinstance(geometry, QByteArray) and self.restoreGeometry(geometry)
        if isinstance(state, QByteArray):
            self.restoreState(state)

    def _read_locked_ranges(self) -> dict[str, tuple[float, float]]:
        store = app_settings_module.app_settings()
        ranges = {}
        store.beginGroup("locked_ranges")
        for key in store.childKeys():
            value = store.value(key)
            try:
                ranges[key] = (float(value[0]), float(value[1]))
            except (TypeError, ValueError, IndexError):
                continue
        store.endGroup()
        return ranges

    def _write_locked_ranges(self) -> None:
        store = app_settings_module.app_settings()
        store.remove("locked_ranges")
        for array, (low, high) in self.locked_ranges.items():
            store.setValue(f"locked_ranges/{array}", [low, high])

    # Opening -------------------------------------------------------------

    def open_paths(self, paths: list) -> None:
        """Open a results folder, or run the pipeline on a label map with optional DICOM folders."""
        try:
            request = classify_paths(paths)
        except KneeViewerError as error:
            self.report_error("Cannot open these inputs", str(error))
            self.job_failed.emit(str(error))
            return
        app_settings_module.add_recent(request.paths())
        if request.results is not None:
            self.open_results(request.results)
            return
        from kneeviewer.pipeline import KneeInputs

        self.start_run(KneeInputs(labels=request.labels, dess=request.dess, msme=request.msme))

    def open_results(self, folder: Path) -> None:
        """Load a finished results folder in the background."""
        self.last_out_dir = Path(folder)
        self._start(results_job(Path(folder)), f"Loading {folder}")

    def start_run(self, inputs, out_dir: Path | None = None, params=None) -> None:
        """Run the pipeline on ``inputs`` in the background; results go to ``out_dir`` (default: under the work folder)."""
        out_dir = Path(out_dir) if out_dir is not None else self.work_dir / "runs" / run_folder_name(inputs.labels)
        self.last_inputs, self.last_params, self.last_out_dir = inputs, params, out_dir
        self._start(pipeline_job(inputs, out_dir, params), f"Running the pipeline on {inputs.labels.name}")

    def run_demo(self, params=None) -> None:
        """Write the phantom knee (once) and run the pipeline on it."""
        self.last_out_dir = self.work_dir / "demo" / "results"
        self._start(demo_job(self.work_dir / "demo" / "inputs", self.last_out_dir, params), "Running the pipeline on the phantom demo knee")

    def rerun(self) -> None:
        """Run the last pipeline again (finished stages are reused from disk)."""
        if getattr(self, "last_inputs", None) is not None:
            self.start_run(self.last_inputs, self.last_out_dir, self.last_params)

    def open_inputs_dialog(self) -> None:
        """Show the File > Open dialog and run the pipeline on the chosen inputs."""
        from kneeviewer.app.open_dialog import OpenInputsDialog

        dialog = OpenInputsDialog(self)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        try:
            inputs = dialog.selected_inputs()
        except KneeViewerError as error:
            self.report_error("Cannot open these inputs", str(error))
            return
        app_settings_module.add_recent([p for p in (inputs.labels, inputs.dess, inputs.msme) if p is not None])
        self.start_run(inputs)

    def open_results_dialog(self) -> None:
        """Ask for a results folder and open it."""
        folder = QFileDialog.getExistingDirectory(self, "Results folder", app_settings_module.last_folder("results"))
        if folder:
            app_settings_module.remember_folder("results", folder)
            self.open_paths([folder])

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        entries = app_settings_module.recent_paths()
        if not entries:
            self.recent_menu.addAction("(none)").setEnabled(False)
        for entry in entries:
            label = " + ".join(Path(p).name for p in entry)
            action = self.recent_menu.addAction(label)
            action.setToolTip("\n".join(entry))
            action.triggered.connect(lambda _checked=False, paths=entry: self.open_paths(paths))

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_paths(paths)

    # Background jobs -----------------------------------------------------

    def _start(self, job: Job, status: str) -> None:
        if self.runner.is_running():
            self.report_error("A run is in progress", "A run is already in progress. Cancel it (Escape) before starting another.")
            return
        job.progress.connect(self._on_progress)
        job.finished.connect(self._on_finished)
        job.failed.connect(self._on_failed)
        job.cancelled.connect(self._on_cancelled)
        self.status_label.setText(status)
        self.progress_bar.setValue(0)
        self.cancel_button.setEnabled(True)
        log.info(status)
        self.runner.start(job)

    def cancel_run(self) -> None:
        """Ask the running job to stop after its current stage."""
        if self.runner.is_running():
            self.runner.cancel()
            self.status_label.setText("Cancelling after the current stage...")
            self.cancel_button.setEnabled(False)

    def _on_progress(self, stage: str, fraction: float, message: str) -> None:
        self.progress_bar.setValue(int(round(fraction * 1000)))
        self.progress_bar.setFormat(f"{stage}: %p%")
        if message:
            self.status_label.setText(message)

    def _on_finished(self, loaded: LoadedResults) -> None:
        self.cancel_button.setEnabled(False)
        self.progress_bar.setValue(1000)
        self.show_results(loaded)

    def _on_failed(self, message: str, details: str) -> None:
        self.cancel_button.setEnabled(False)
        self.progress_bar.setValue(0)
        self.status_label.setText(f"Failed: {message}")
        self.report_error("The run failed", message, details)
        self.job_failed.emit(message)

    def _on_cancelled(self, message: str) -> None:
        self.cancel_button.setEnabled(False)
        self.status_label.setText(message)
        self.job_cancelled.emit(message)

    def report_error(self, title: str, message: str, details: str = "") -> None:
        """Show an error dialog with the one-line message and an expandable details section."""
        full_details = details + (f"\nLog file: {self.log_file}" if details else f"Log file: {self.log_file}")
        self.last_error_box = show_error(self, title, message, full_details)

    # Showing results -----------------------------------------------------

    def show_results(self, loaded: LoadedResults) -> None:
        """Put a knee's meshes, maps and images on screen (GUI thread), then emit :attr:`results_shown`.

        The 3D view is drawn at once; the slices and the spherical map follow
        in later event-loop passes, so that no single step blocks the window
        for the whole display time.
        """
        results = loaded.results
        self.results = results
        arrays = available_arrays(results.meshes)
        current = self.display_panel.current_array()
        if current not in arrays:
            preferred = [name for name in (self.preferred_array, DEFAULT_ARRAY) if name in arrays]
            if self.preferred_array not in arrays:
                log.warning("The bones have no array %s; showing %s", self.preferred_array, (preferred or arrays or ["nothing"])[0])
            if preferred:
                current = preferred[0]
            elif arrays:
                current = arrays[0]
            else:
                current = None
        self.ranges = {}
        self.display_panel.set_arrays(arrays, current)
        self.readout.clear()
        colours = self.current_colours()
        if colours is not None:
            self.bone_view.set_meshes(results.meshes, colours)
        QTimer.singleShot(0, lambda: self._show_images(loaded, colours))

    def _show_images(self, loaded: LoadedResults, colours: ColourSettings | None) -> None:
        self.slice_view.set_volumes(loaded.volumes)
        QTimer.singleShot(0, lambda: self._show_maps(loaded, colours))

    def _show_maps(self, loaded: LoadedResults, colours: ColourSettings | None) -> None:
        results = loaded.results
        if colours is not None:
            self.spherical_view.colours = colours
        self.spherical_view.set_maps(results.spherical_maps)
        self.status_label.setText(f"Showing {results.out_dir}")
        self.setWindowTitle(f"kneeviewer - {Path(results.out_dir).name}")
        log.info("Showing results of %s", results.out_dir)
        self.results_shown.emit()

    def current_colours(self) -> ColourSettings | None:
        """Return the colour settings of the selected array: a locked range wins over the automatic one."""
        array = self.display_panel.current_array()
        if array is None or self.results is None:
            return None
        clim = self.locked_ranges.get(array) or self.ranges.get(array)
        colours = resolve_colours(self.results.meshes, array, clim, self.cmaps.get(array))
        self.ranges.setdefault(array, colours.clim)
        self.display_panel.set_display(array, colours.clim, colours.cmap)
        self.display_panel.lock_box.blockSignals(True)
        self.display_panel.lock_box.setChecked(array in self.locked_ranges)
        self.display_panel.lock_box.blockSignals(False)
        return colours

    def update_colours(self) -> None:
        """Recolour the 3D and spherical map views after a change of array, range or colour map."""
        colours = self.current_colours()
        if colours is None:
            return
        self.bone_view.set_colours(colours)
        self.spherical_view.set_colours(colours)

    def _cmap_chosen(self, name: str) -> None:
        array = self.display_panel.current_array()
        if array:
            self.cmaps[array] = name
            self.update_colours()

    def _range_chosen(self, low: float, high: float) -> None:
        array = self.display_panel.current_array()
        if not array:
            return
        self.ranges[array] = (low, high)
        if array in self.locked_ranges:
            self.locked_ranges[array] = (low, high)
            self._write_locked_ranges()
        self.update_colours()

    def _lock_toggled(self, locked: bool) -> None:
        array = self.display_panel.current_array()
        if not array:
            return
        if locked:
            self.locked_ranges[array] = (self.display_panel.low_spin.value(), self.display_panel.high_spin.value())
            log.info("Locked the %s range at %.3g to %.3g", array, *self.locked_ranges[array])
        else:
            self.locked_ranges.pop(array, None)
        self._write_locked_ranges()

    def lock_range(self, array: str, clim: tuple[float, float]) -> None:
        """Lock the colour range of ``array`` (in its unit); kept for later knees and sessions."""
        self.locked_ranges[array] = (float(clim[0]), float(clim[1]))
        self._write_locked_ranges()
        if array == self.display_panel.current_array():
            self.update_colours()

    def select_array(self, array: str) -> None:
        """Colour by another point array, as if chosen in the selector."""
        index = self.display_panel.array_box.findData(array)
        if index < 0:
            raise KeyError(f"No array {array} on the bones shown")
        self.display_panel.array_box.setCurrentIndex(index)

    def pick_thickest_femur_vertex(self) -> None:
        """Pick the femur vertex with the thickest cartilage, so the readout and slices show a cartilage point."""
        mesh = self.bone_view.meshes.get("femur")
        if mesh is None or "thickness_mm" not in mesh.point_data:
            return
        thickness = np.asarray(mesh.point_data["thickness_mm"], dtype=float)
        if np.isfinite(thickness).any():
            self.bone_view.pick_vertex("femur", int(np.nanargmax(thickness)))

    def _vertex_picked(self, bone: str, point_id: int) -> None:
        mesh = self.bone_view.meshes[bone]
        self.readout.show_vertex(bone, point_id, mesh)
        if not self._picking_from_slice:
            self.slice_view.set_point(np.asarray(mesh.points[point_id], dtype=float))

    def _slice_clicked(self, x: float, y: float, z: float) -> None:
        if not self.bone_view.meshes:
            return
        self._picking_from_slice = True
        try:
            self.bone_view.pick_nearest(np.array([x, y, z]))
        finally:
            self._picking_from_slice = False

    # Export --------------------------------------------------------------

    def screenshot_dialog(self) -> None:
        """Ask for a file, a scale factor and a transparent background, then save the 3D view."""
        dialog = QDialog(self)
        dialog.setWindowTitle("Screenshot of the 3D view")
        scale = QSpinBox(minimum=1, maximum=8, value=2)
        transparent = QCheckBox("Transparent background")
        form = QFormLayout(dialog)
        form.addRow("Scale factor", scale)
        form.addRow("", transparent)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(dialog.accept)
        buttons.rejected.connect(dialog.reject)
        form.addRow(buttons)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save screenshot", str(Path(app_settings_module.last_folder("export")) / "knee.png"), "PNG images (*.png)")
        if path:
            app_settings_module.remember_folder("export", path)
            self.bone_view.screenshot(path, scale=scale.value(), transparent=transparent.isChecked())
            self.status_label.setText(f"Saved {path}")

    def export_meshes_dialog(self) -> None:
        """Ask for a folder and a format, then write every bone mesh."""
        if self.results is None:
            self.report_error("Nothing to export", "No knee is open. Open a results folder or run the pipeline first.")
            return
        filters = "VTK PolyData, all arrays (*.vtp);;PLY, all scalar arrays (*.ply);;STL, geometry only (*.stl)"
        path, chosen = QFileDialog.getSaveFileName(self, "Export meshes (one file per bone)", str(Path(app_settings_module.last_folder("export")) / "bone.vtp"), filters)
        if not path:
            return
        suffix = next((s for s in MESH_FORMATS if s[1:] in chosen), Path(path).suffix or ".vtp")
        app_settings_module.remember_folder("export", path)
        written = export_meshes(self.results.meshes, Path(path).parent, suffix)
        self.status_label.setText(f"Exported {len(written)} meshes to {Path(path).parent}")

    def export_csv_dialog(self) -> None:
        """Ask for a CSV file and write the per-compartment values of ``summary.json``."""
        if self.results is None:
            self.report_error("Nothing to export", "No knee is open. Open a results folder or run the pipeline first.")
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export compartment values", str(Path(app_settings_module.last_folder("export")) / "compartments.csv"), "CSV files (*.csv)")
        if path:
            app_settings_module.remember_folder("export", path)
            try:
                export_compartment_csv(self.results.summary, path)
            except KneeViewerError as error:
                self.report_error("Export failed", str(error))
                return
            self.status_label.setText(f"Saved {path}")

    def save_window_screenshot(self, path: str | Path) -> Path:
        """Save an image of the whole main window to ``path``."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.bone_view.render_now()
        if not self.grab().save(str(path)):
            raise KneeViewerError(f"Could not write the screenshot {path}. Check that the folder is writable.")
        log.info("Saved a screenshot of the window to %s", path)
        return path

    # Other windows -------------------------------------------------------

    def open_cohort_dialog(self) -> None:
        """Ask for a statistics folder and show it in the cohort panel (when that panel is installed)."""
        try:
            from kneeviewer.app.cohort_panel import CohortPanel
        except ImportError:
            self.report_error("Cohort panel unavailable", "The cohort statistics panel is not installed in this version of kneeviewer.")
            return
        folder = QFileDialog.getExistingDirectory(self, "Cohort statistics folder", app_settings_module.last_folder("cohort"))
        if not folder:
            return
        app_settings_module.remember_folder("cohort", folder)
        try:
            panel = CohortPanel(Path(folder))
        except KneeViewerError as error:
            self.report_error("Cannot open the statistics folder", str(error))
            return
        dock = self._dock(f"Cohort: {Path(folder).name}", "CohortDock", panel, Qt.DockWidgetArea.RightDockWidgetArea)
        dock.show()

    def show_shortcuts(self) -> None:
        """Show the keyboard shortcuts."""
        ShortcutsDialog(self).exec()

    def show_about(self) -> None:
        """Show the version and the method reference."""
        from kneeviewer import __version__

        QMessageBox.about(
            self,
            "About kneeviewer",
            f"kneeviewer {__version__}\n\nKnee MRI biomarkers on bone surfaces after Morales et al., "
            "Sci Rep 11:21989 (2021), doi:10.1038/s41598-021-01111-x.",
        )

    # Shutdown ------------------------------------------------------------

    def closeEvent(self, event) -> None:
        if self._closed:
            super().closeEvent(event)
            return
        self._closed = True
        if self.runner.is_running():
            self.runner.cancel()
            self.status_label.setText("Waiting for the current stage to stop...")
            self.runner.wait()
        store = app_settings_module.app_settings()
        store.setValue("window/geometry", self.saveGeometry())
        store.setValue("window/state", self.saveState())
        self.log_dock.detach()
        logging.getLogger("kneeviewer").removeHandler(self._file_handler)
        self._file_handler.close()
        self.bone_view.close_view()
        super().closeEvent(event)
