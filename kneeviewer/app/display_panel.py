"""Side panel of the 3D view: biomarker, colour map, range lock, bones and camera presets."""

from __future__ import annotations

import matplotlib
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from kneeviewer.visual.arrays import BONES, describe_array

#: Colour maps offered in the selector; any matplotlib name works from the CLI.
COLOUR_MAPS = ("viridis", "magma", "inferno", "plasma", "cividis", "turbo", "coolwarm", "RdBu_r", "jet", "gray")

#: Camera presets with buttons, in button order.
VIEW_BUTTONS = ("anterior", "posterior", "medial", "lateral", "superior")


class DisplayPanel(QWidget):
    """Controls of what the 3D and spherical map views show.

    Signals
    -------
    array_changed(str), cmap_changed(str)
        Another biomarker or colour map was chosen.
    range_changed(float, float)
        The user edited the colour range.
    lock_changed(bool)
        The range lock was switched; a locked range is kept across arrays' reloads and knees.
    bone_visibility_changed(str, bool), bone_opacity_changed(str, float)
        Per-bone display settings.
    view_requested(str)
        A camera preset button was pressed.
    """

    array_changed = Signal(str)
    cmap_changed = Signal(str)
    range_changed = Signal(float, float)
    lock_changed = Signal(bool)
    bone_visibility_changed = Signal(str, bool)
    bone_opacity_changed = Signal(str, float)
    view_requested = Signal(str)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._updating = False

        self.array_box = QComboBox(objectName="arrayBox")
        self.cmap_box = QComboBox(objectName="cmapBox")
        self.cmap_box.addItems([name for name in COLOUR_MAPS if name in matplotlib.colormaps])
        self.low_spin = self._range_spin("rangeLow")
        self.high_spin = self._range_spin("rangeHigh")
        self.lock_box = QCheckBox("Lock range", objectName="lockRange")
        self.lock_box.setToolTip("Keep this range when switching knees or reloading results")
        self.unit_label = QLabel("")

        colour_group = QGroupBox("Biomarker")
        form = QFormLayout(colour_group)
        form.addRow("Array", self.array_box)
        form.addRow("Colour map", self.cmap_box)
        range_row = QHBoxLayout()
        range_row.addWidget(self.low_spin)
        range_row.addWidget(QLabel("to"))
        range_row.addWidget(self.high_spin)
        range_row.addWidget(self.unit_label)
        form.addRow("Range", range_row)
        form.addRow("", self.lock_box)

        bone_group = QGroupBox("Bones")
        grid = QGridLayout(bone_group)
        self.bone_checks: dict[str, QCheckBox] = {}
        self.bone_sliders: dict[str, QSlider] = {}
        for row, bone in enumerate(BONES):
            check = QCheckBox(bone.capitalize(), objectName=f"show_{bone}")
            check.setChecked(True)
            check.toggled.connect(lambda on, b=bone: self.bone_visibility_changed.emit(b, on))
            slider = QSlider(Qt.Orientation.Horizontal, objectName=f"opacity_{bone}")
            slider.setRange(0, 100)
            slider.setValue(100)
            slider.setToolTip("Opacity")
            slider.valueChanged.connect(lambda value, b=bone: self.bone_opacity_changed.emit(b, value / 100.0))
            grid.addWidget(check, row, 0)
            grid.addWidget(slider, row, 1)
            self.bone_checks[bone] = check
            self.bone_sliders[bone] = slider

        view_group = QGroupBox("Camera")
        view_grid = QGridLayout(view_group)
        self.view_buttons: dict[str, QPushButton] = {}
        for index, view in enumerate(VIEW_BUTTONS):
            button = QPushButton(view.capitalize(), objectName=f"view_{view}")
            button.setToolTip(f"Look at the knee from the {view} side (key {index + 1})")
            button.clicked.connect(lambda _checked=False, v=view: self.view_requested.emit(v))
            view_grid.addWidget(button, index // 3, index % 3)
            self.view_buttons[view] = button

        layout = QVBoxLayout(self)
        layout.addWidget(colour_group)
        layout.addWidget(bone_group)
        layout.addWidget(view_group)
        layout.addStretch(1)

        self.array_box.currentIndexChanged.connect(self._array_index_changed)
        self.cmap_box.currentTextChanged.connect(self._cmap_text_changed)
        self.low_spin.editingFinished.connect(self._range_edited)
        self.high_spin.editingFinished.connect(self._range_edited)
        self.lock_box.toggled.connect(self.lock_changed)

    @staticmethod
    def _range_spin(name: str) -> QDoubleSpinBox:
        spin = QDoubleSpinBox(objectName=name)
        spin.setDecimals(3)
        spin.setRange(-1e6, 1e6)
        spin.setKeyboardTracking(False)
        return spin

    # Programmatic updates (no signals) -----------------------------------

    def set_arrays(self, arrays: list[str], current: str | None) -> None:
        """Fill the biomarker selector with ``arrays`` (point array names) and select ``current``."""
        self._updating = True
        try:
            self.array_box.clear()
            for name in arrays:
                self.array_box.addItem(describe_array(name).title, name)
            if current in arrays:
                self.array_box.setCurrentIndex(arrays.index(current))
        finally:
            self._updating = False

    def set_display(self, array: str, clim: tuple[float, float], cmap: str) -> None:
        """Show the colour settings in effect without emitting signals."""
        self._updating = True
        try:
            index = self.array_box.findData(array)
            if index >= 0:
                self.array_box.setCurrentIndex(index)
            if self.cmap_box.findText(cmap) < 0:
                self.cmap_box.addItem(cmap)
            self.cmap_box.setCurrentText(cmap)
            self.low_spin.setValue(clim[0])
            self.high_spin.setValue(clim[1])
            self.unit_label.setText(describe_array(array).unit)
        finally:
            self._updating = False

    def current_array(self) -> str | None:
        """Return the point array name selected, or None when the list is empty."""
        return self.array_box.currentData()

    def step_array(self, step: int) -> None:
        """Select the next (+1) or previous (-1) biomarker."""
        count = self.array_box.count()
        if count:
            self.array_box.setCurrentIndex((self.array_box.currentIndex() + step) % count)

    # Signal relays -------------------------------------------------------

    def _array_index_changed(self, _index: int) -> None:
        if not self._updating and self.array_box.currentData():
            self.array_changed.emit(self.array_box.currentData())

    def _cmap_text_changed(self, name: str) -> None:
        if not self._updating and name:
            self.cmap_changed.emit(name)

    def _range_edited(self) -> None:
        if self._updating:
            return
        low, high = self.low_spin.value(), self.high_spin.value()
        if high > low:
            self.range_changed.emit(low, high)
