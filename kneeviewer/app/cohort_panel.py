"""Cohort statistics panel: atlas bones coloured by group means and p-values, and the regression table.

The panel reads a stats folder written by ``kneeviewer cohort stats``. For
the chosen bone and Grad-CAM strategy, three linked 3D views show the
TP_pain mean, the TN_nopain mean and -log10 p (uncorrected, FDR or FWE,
named in the view title) with the significance threshold drawn as a black
contour. Below them a table lists both nested regressions of the bone.
"Export figure" writes the multi-panel figure of
:mod:`kneeviewer.stats.figure`. Every method runs on the GUI thread.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pyvista as pv
from pyvistaqt import QtInteractor
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from kneeviewer.errors import InputError
from kneeviewer.stats.corrections import CORRECTIONS
from kneeviewer.stats.figure import (
    BONE_VIEWS,
    GRADCAM_CMAP,
    NAN_COLOUR,
    P_CMAP,
    atlas_group_names,
    atlas_strategies,
    p_array_name,
    save_cohort_figure,
)

log = logging.getLogger(__name__)

VIEW_TITLES = ("TP_pain mean Grad-CAM", "TN_nopain mean Grad-CAM", "-log10 p")
TABLE_COLUMNS = ("model", "term", "estimate", "SE", "p", "sensitivity", "specificity", "AUC", "log-likelihood", "LRT p")


class CohortPanel(QWidget):
    """Three linked atlas views and the regression table of a stats folder.

    Parameters
    ----------
    stats_dir
        Folder with ``atlas_<bone>.vtp`` and ``regression.json``.

    Raises
    ------
    InputError
        The folder contains no atlas.
    """

    def __init__(self, stats_dir: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.stats_dir = Path(stats_dir)
        self.atlases = {path.stem[len("atlas_") :]: path for path in sorted(self.stats_dir.glob("atlas_*.vtp"))}
        if not self.atlases:
            raise InputError(f"No atlas_<bone>.vtp in {self.stats_dir}; run 'kneeviewer cohort stats --out {self.stats_dir}' first.")
        regression_path = self.stats_dir / "regression.json"
        self.regression = json.loads(regression_path.read_text()) if regression_path.is_file() else {}
        self.atlas: pv.PolyData | None = None
        self.bone = ""
        self.setWindowTitle(f"Cohort statistics: {self.stats_dir}")

        self.bone_box = QComboBox()
        self.bone_box.addItems(list(self.atlases))
        self.strategy_box = QComboBox()
        self.correction_box = QComboBox()
        for key, label in CORRECTIONS.items():
            self.correction_box.addItem(label, key)
        self.alpha_box = QDoubleSpinBox()
        self.alpha_box.setRange(0.0001, 0.5)
        self.alpha_box.setDecimals(4)
        self.alpha_box.setSingleStep(0.01)
        self.alpha_box.setValue(0.05)
        self.dpi_box = QSpinBox()
        self.dpi_box.setRange(50, 1200)
        self.dpi_box.setValue(300)
        self.dpi_box.setSuffix(" dpi")
        self.export_button = QPushButton("Export figure...")

        controls = QHBoxLayout()
        for label, widget in (
            ("Bone", self.bone_box),
            ("Grad-CAM", self.strategy_box),
            ("p-values", self.correction_box),
            ("threshold p <", self.alpha_box),
            ("PNG", self.dpi_box),
        ):
            controls.addWidget(QLabel(label))
            controls.addWidget(widget)
        controls.addStretch(1)
        controls.addWidget(self.export_button)

        views = QGridLayout()
        self.view_labels: list[QLabel] = []
        self.plotters: list[QtInteractor] = []
        for column, title in enumerate(VIEW_TITLES):
            label = QLabel(title)
            self.view_labels.append(label)
            # Explicit, because PYVISTA_OFF_SCREEN (set for headless renders) would leave no interactor.
            plotter = QtInteractor(self, off_screen=False)
            plotter.set_background("white")
            self.plotters.append(plotter)
            views.addWidget(label, 0, column)
            views.addWidget(plotter.interactor, 1, column)
        self._link_cameras()

        self.table = QTableWidget(0, len(TABLE_COLUMNS))
        self.table.setHorizontalHeaderLabels(list(TABLE_COLUMNS))
        self.table_label = QLabel()

        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addLayout(views, stretch=3)
        layout.addWidget(self.table_label)
        layout.addWidget(self.table, stretch=1)

        self.bone_box.currentTextChanged.connect(self.set_bone)
        self.strategy_box.currentTextChanged.connect(lambda _text: self.update_views())
        self.correction_box.currentIndexChanged.connect(lambda _index: self.update_views())
        self.alpha_box.valueChanged.connect(lambda _value: self.update_views())
        self.export_button.clicked.connect(self._ask_export)
        self.set_bone(self.bone_box.currentText())

    @property
    def correction(self) -> str:
        """Key of the chosen correction: ``"none"``, ``"fdr"`` or ``"fwe"``."""
        return str(self.correction_box.currentData())

    def set_correction(self, correction: str) -> None:
        """Show ``"none"``, ``"fdr"`` or ``"fwe"`` p-values."""
        index = self.correction_box.findData(correction)
        if index < 0:
            raise InputError(f"Unknown correction '{correction}'; expected one of {sorted(CORRECTIONS)}.")
        self.correction_box.setCurrentIndex(index)

    def set_bone(self, bone: str) -> None:
        """Load the atlas of ``bone`` and refill the strategy list and the regression table."""
        if bone not in self.atlases:
            return
        self.bone = bone
        self.atlas = pv.read(self.atlases[bone])
        strategies = atlas_strategies(self.atlas)
        self.strategy_box.blockSignals(True)
        self.strategy_box.clear()
        self.strategy_box.addItems(strategies)
        self.strategy_box.blockSignals(False)
        self._fill_table()
        self.update_views(reset_camera=True)

    def update_views(self, reset_camera: bool = False) -> None:
        """Recolour the three views for the chosen strategy, correction and threshold."""
        strategy = self.strategy_box.currentText()
        if self.atlas is None or not strategy:
            for plotter in self.plotters:
                plotter.clear()
            return
        alpha = self.alpha_box.value()
        tp = np.asarray(self.atlas.point_data[f"tp_mean_gradcam_{strategy}"], float)
        tn = np.asarray(self.atlas.point_data[f"tn_mean_gradcam_{strategy}"], float)
        p = np.asarray(self.atlas.point_data[p_array_name(strategy, self.correction)], float)
        log_p = -np.log10(np.clip(p, 1e-300, 1.0))
        both = np.concatenate([tp[np.isfinite(tp)], tn[np.isfinite(tn)]])
        gradcam_clim = (0.0, float(both.max()) if both.size and both.max() > 0 else 1.0)
        threshold = -np.log10(alpha)
        p_max = float(np.nanmax(log_p)) if np.isfinite(log_p).any() else 0.0
        p_clim = (0.0, max(2.0 * threshold, p_max))
        panels = (
            (tp, GRADCAM_CMAP, gradcam_clim, "Grad-CAM", None),
            (tn, GRADCAM_CMAP, gradcam_clim, "Grad-CAM", None),
            (log_p, P_CMAP, p_clim, "-log10 p", threshold),
        )
        for plotter, (values, cmap, clim, bar_title, level) in zip(self.plotters, panels, strict=True):
            self._show(plotter, values, cmap, clim, bar_title, level)
        for label, name in zip(self.view_labels[:2], atlas_group_names(self.atlas), strict=True):
            label.setText(f"{name} mean Grad-CAM")
        self.view_labels[2].setText(f"-log10 p, {CORRECTIONS[self.correction]} (black contour: p < {alpha:g})")
        if reset_camera:
            direction, view_up = BONE_VIEWS.get(self.bone, BONE_VIEWS["femur"])
            centre = np.asarray(self.atlas.center)
            position = centre + 3.0 * self.atlas.length * np.asarray(direction) / np.linalg.norm(direction)
            self.plotters[0].camera_position = [tuple(position), tuple(centre), view_up]
            self.plotters[0].reset_camera()
        for plotter in self.plotters:
            plotter.render()

    def export_figure(self, path: Path, dpi: int | None = None) -> Path:
        """Write the multi-panel figure of the current bone (PNG, SVG or PDF) and return its path."""
        return save_cohort_figure(
            self.stats_dir, self.bone, Path(path), dpi=dpi or self.dpi_box.value(), correction=self.correction, alpha=self.alpha_box.value()
        )

    def close_views(self) -> None:
        """Release the VTK render windows; call before the panel is destroyed."""
        for plotter in self.plotters:
            plotter.close()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt API name
        self.close_views()
        super().closeEvent(event)

    def _show(self, plotter: QtInteractor, values, cmap, clim, bar_title, level) -> None:
        surface = pv.PolyData(self.atlas.points, self.atlas.faces)
        surface.point_data["value"] = values
        plotter.clear()
        plotter.add_mesh(
            surface,
            scalars="value",
            cmap=cmap,
            clim=clim,
            nan_color=NAN_COLOUR,
            smooth_shading=True,
            scalar_bar_args={"title": bar_title, "color": "black", "vertical": False},
            reset_camera=False,
        )
        finite = np.isfinite(values)
        if level is not None and finite.any() and np.nanmax(values) > level:
            filled = surface.copy()
            filled.point_data["value"] = np.where(finite, values, 0.0)
            lines = filled.contour([level], scalars="value")
            if lines.n_points:
                plotter.add_mesh(lines, color="black", line_width=3, reset_camera=False)

    def _link_cameras(self) -> None:
        # One vtkCamera object shared by the three renderers keeps the views identical;
        # an interaction in any view then re-renders the other two.
        shared = self.plotters[0].renderer.GetActiveCamera()
        for plotter in self.plotters[1:]:
            plotter.renderer.SetActiveCamera(shared)
        for plotter in self.plotters:
            plotter.iren.interactor.AddObserver("InteractionEvent", self._render_all)
            plotter.iren.interactor.AddObserver("EndInteractionEvent", self._render_all)

    def _render_all(self, *_args) -> None:
        for plotter in self.plotters:
            plotter.render()

    def _fill_table(self) -> None:
        entry = self.regression.get(self.bone, {})
        self.table.setRowCount(0)
        if not entry:
            self.table_label.setText(f"No regression results for the {self.bone} in {self.stats_dir / 'regression.json'}.")
            return
        if "error" in entry:
            self.table_label.setText(f"Regression of the {self.bone} failed: {entry['error']}")
            return
        self.table_label.setText(
            f"Nested logistic regressions of pain, {self.bone} ({entry['full']['n_knees']} knees): "
            f"LR chi2 = {entry['lr_chi2']:.2f}, p = {entry['lrt_p']:.3g}"
        )
        for label in ("base", "full"):
            fit = entry[label]
            for number, term in enumerate(fit["coefficients"]):
                first = number == 0
                cells = (
                    label if first else "",
                    term,
                    f"{fit['coefficients'][term]:.4g}",
                    f"{fit['standard_errors'][term]:.3g}",
                    f"{fit['p_values'][term]:.3g}",
                    f"{fit['sensitivity']:.3f}" if first else "",
                    f"{fit['specificity']:.3f}" if first else "",
                    f"{fit['auc']:.3f}" if first else "",
                    f"{fit['llf']:.2f}" if first else "",
                    f"{entry['lrt_p']:.3g}" if first and label == "full" else "",
                )
                row = self.table.rowCount()
                self.table.insertRow(row)
                for column, text in enumerate(cells):
                    self.table.setItem(row, column, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()

    def _ask_export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Export cohort figure", str(self.stats_dir / f"cohort_{self.bone}.png"), "PNG (*.png);;SVG (*.svg);;PDF (*.pdf)"
        )
        if path:
            written = self.export_figure(Path(path))
            log.info("Exported %s", written)
