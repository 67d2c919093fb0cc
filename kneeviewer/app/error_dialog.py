"""Error dialog: the one-line message up front, the traceback behind "Show Details"."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget


def error_box(parent: QWidget | None, title: str, message: str, details: str = "") -> QMessageBox:
    """Build (but do not show) a warning box with ``message`` and an expandable details section."""
    box = QMessageBox(parent)
    box.setObjectName("ErrorDialog")
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle(title)
    box.setText(message)
    if details:
        box.setDetailedText(details)
    box.setStandardButtons(QMessageBox.StandardButton.Ok)
    return box


def show_error(parent: QWidget | None, title: str, message: str, details: str = "") -> QMessageBox:
    """Show a non-blocking error box and return it (tests read its text)."""
    box = error_box(parent, title, message, details)
    box.setModal(True)
    box.open()
    return box
