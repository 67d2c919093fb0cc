"""Keyboard shortcuts of the main window, and the Help > Shortcuts dialog listing them."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTableWidget, QTableWidgetItem, QVBoxLayout, QHeaderView

#: Action name to key sequence. The main window binds these and the dialog lists them.
SHORTCUTS: dict[str, str] = {
    "Open inputs": "Ctrl+O",
    "Open results folder": "Ctrl+Shift+O",
    "Run pipeline": "Ctrl+R",
    "Cancel run": "Escape",
    "Save screenshot of the 3D view": "Ctrl+Shift+S",
    "Export meshes": "Ctrl+E",
    "Export compartment values (CSV)": "Ctrl+Shift+E",
    "Anterior view": "1",
    "Posterior view": "2",
    "Medial view": "3",
    "Lateral view": "4",
    "Superior view": "5",
    "Lock colour range": "Ctrl+L",
    "Next biomarker": "Ctrl+]",
    "Previous biomarker": "Ctrl+[",
    "Next slice (slice view under the mouse)": "Wheel / Up",
    "Previous slice (slice view under the mouse)": "Wheel / Down",
    "Pick a vertex (3D view)": "Click without dragging",
    "Show the log panel": "Ctrl+Shift+L",
    "Shortcuts": "F1",
    "Quit": "Ctrl+Q",
}


class ShortcutsDialog(QDialog):
    """Table of every keyboard shortcut."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        table = QTableWidget(len(SHORTCUTS), 2, self)
        table.setHorizontalHeaderLabels(["Action", "Keys"])
        for row, (action, keys) in enumerate(SHORTCUTS.items()):
            table.setItem(row, 0, QTableWidgetItem(action))
            table.setItem(row, 1, QTableWidgetItem(keys))
        table.verticalHeader().setVisible(False)
        table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(table)
        layout.addWidget(buttons)
        self.resize(460, 520)
