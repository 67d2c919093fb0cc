"""File > Open dialog: a label map, a DESS DICOM folder and an MSME DICOM folder.

The series found in each chosen folder are listed as a Patient > Study >
Series tree with file and echo counts, so the user can tell a DESS series
(one echo) from an MSME series (several echoes) before running.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from kneeviewer.app.settings import last_folder, remember_folder
from kneeviewer.errors import KneeViewerError

log = logging.getLogger(__name__)

LABEL_FILTER = "Label maps (*.nrrd *.nhdr *.nii *.nii.gz *.mha *.mhd);;All files (*)"


def fill_series_tree(tree: QTreeWidget, folder: Path, role: str) -> int:
    """Add the DICOM series of ``folder`` under Patient > Study > Series items; return how many were found."""
    from kneeviewer.io.dicom_scan import find_series

    try:
        series = find_series(folder)
    except KneeViewerError as error:
        QTreeWidgetItem(tree, [f"{role}: {error}"])
        return 0
    patients: dict[str, QTreeWidgetItem] = {}
    studies: dict[str, QTreeWidgetItem] = {}
    for info in series:
        patient_key = info.patient_id or info.patient_name or "unknown patient"
        if patient_key not in patients:
            patients[patient_key] = QTreeWidgetItem(tree, [f"{role}: patient {info.patient_name or info.patient_id or 'unknown'}", "", ""])
        study_key = info.study_uid
        if study_key not in studies:
            studies[study_key] = QTreeWidgetItem(patients[patient_key], [f"Study {info.study_description or info.study_uid} {info.study_date}".strip(), "", ""])
        echoes = ", ".join(f"{t:.1f}" for t in info.echo_times_ms)
        item = QTreeWidgetItem(
            studies[study_key],
            [f"Series {info.series_number or ''} {info.series_description}".strip(), str(info.n_files), f"{info.n_echoes} ({echoes} ms)" if echoes else str(info.n_echoes)],
        )
        item.setData(0, Qt.ItemDataRole.UserRole, (role, info.series_uid))
    tree.expandAll()
    return len(series)


class OpenInputsDialog(QDialog):
    """Choose the label map, DESS and MSME inputs and the knee side of a new run."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Open knee inputs")
        self.labels_edit = QLineEdit(objectName="labelsPath")
        self.dess_edit = QLineEdit(objectName="dessPath")
        self.msme_edit = QLineEdit(objectName="msmePath")
        self.side_box = QComboBox(objectName="sideBox")
        self.side_box.addItems(["from DICOM (right if unknown)", "right", "left"])
        self.msme_series: str | None = None
        self.tree = QTreeWidget(objectName="seriesTree")
        self.tree.setHeaderLabels(["Patient / study / series", "Files", "Echoes"])
        self.tree.setColumnWidth(0, 320)
        self.tree.itemSelectionChanged.connect(self._series_selected)

        form = QFormLayout()
        form.addRow("Label map", self._with_browse(self.labels_edit, self._browse_labels))
        form.addRow("DESS DICOM folder", self._with_browse(self.dess_edit, lambda: self._browse_folder(self.dess_edit, "DESS")))
        form.addRow("MSME DICOM folder", self._with_browse(self.msme_edit, lambda: self._browse_folder(self.msme_edit, "MSME")))
        form.addRow("Knee side", self.side_box)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.tree, 1)
        layout.addWidget(buttons)
        self.resize(640, 460)

    @staticmethod
    def _with_browse(edit: QLineEdit, callback) -> QWidget:
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(edit, 1)
        button = QPushButton("Browse...")
        button.clicked.connect(callback)
        layout.addWidget(button)
        return row

    def _browse_labels(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Label map", last_folder("labels"), LABEL_FILTER)
        if path:
            remember_folder("labels", path)
            self.labels_edit.setText(path)

    def _browse_folder(self, edit: QLineEdit, role: str) -> None:
        folder = QFileDialog.getExistingDirectory(self, f"{role} DICOM folder", last_folder("dicom"))
        if folder:
            remember_folder("dicom", folder)
            edit.setText(folder)
            self.show_series(Path(folder), role)

    def show_series(self, folder: Path, role: str) -> int:
        """List the series of ``folder`` in the tree, replacing those listed for the same role."""
        for index in reversed(range(self.tree.topLevelItemCount())):
            if self.tree.topLevelItem(index).text(0).startswith(f"{role}:"):
                self.tree.takeTopLevelItem(index)
        return fill_series_tree(self.tree, folder, role)

    def _series_selected(self) -> None:
        items = self.tree.selectedItems()
        data = items[0].data(0, Qt.ItemDataRole.UserRole) if items else None
        if data and data[0] == "MSME":
            self.msme_series = data[1]

    def selected_inputs(self):
        """Return the chosen inputs as :class:`~kneeviewer.pipeline.KneeInputs` (labels must be set)."""
        from kneeviewer.errors import InputError
        from kneeviewer.pipeline import KneeInputs

        labels = self.labels_edit.text().strip()
        if not labels:
            raise InputError("No label map chosen. Choose a label map file (NRRD, NIfTI or MHA).")
        side = {1: "right", 2: "left"}.get(self.side_box.currentIndex())
        return KneeInputs(
            labels=Path(labels),
            dess=Path(self.dess_edit.text().strip()) if self.dess_edit.text().strip() else None,
            msme=Path(self.msme_edit.text().strip()) if self.msme_edit.text().strip() else None,
            side=side,
            msme_series=self.msme_series,
        )
