"""Table of every biomarker value at the picked vertex."""

from __future__ import annotations

import numpy as np
import pyvista as pv
from PySide6.QtWidgets import QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget, QHeaderView

from kneeviewer.visual.arrays import describe_array, is_biomarker


def vertex_values(mesh: pv.PolyData, point_id: int) -> list[tuple[str, float]]:
    """Return ``(array name, value)`` of every scalar biomarker array at one vertex; NaN stays NaN."""
    values = []
    for name in mesh.point_data.keys():
        data = np.asarray(mesh.point_data[name])
        if data.ndim == 1 and is_biomarker(name):
            values.append((name, float(data[point_id])))
    return values


def format_value(value: float) -> str:
    """Format a biomarker value with 3 significant decimals, or "no value" for NaN."""
    return "no value" if not np.isfinite(value) else f"{value:.3f}"


class PickReadout(QWidget):
    """Shows bone, vertex, LPS position and every biomarker at the picked vertex."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.header = QLabel("Click a bone to read its values.", objectName="pickHeader")
        self.header.setWordWrap(True)
        self.table = QTableWidget(0, 3, self, objectName="pickTable")
        self.table.setHorizontalHeaderLabels(["Biomarker", "Value", "Unit"])
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.header)
        layout.addWidget(self.table)
        self.values: dict[str, float] = {}

    def show_vertex(self, bone: str, point_id: int, mesh: pv.PolyData) -> None:
        """Fill the table from vertex ``point_id`` of ``mesh``."""
        x, y, z = (float(c) for c in mesh.points[point_id])
        self.header.setText(f"{bone.capitalize()}, vertex {point_id}, LPS ({x:.1f}, {y:.1f}, {z:.1f}) mm")
        values = vertex_values(mesh, point_id)
        self.values = dict(values)
        self.table.setRowCount(len(values))
        for row, (name, value) in enumerate(values):
            info = describe_array(name)
            self.table.setItem(row, 0, QTableWidgetItem(info.label))
            self.table.setItem(row, 1, QTableWidgetItem(format_value(value)))
            self.table.setItem(row, 2, QTableWidgetItem(info.unit))

    def clear(self) -> None:
        """Empty the table."""
        self.values = {}
        self.table.setRowCount(0)
        self.header.setText("Click a bone to read its values.")
