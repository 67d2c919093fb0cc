"""Spherical map view: the 224 x 224 map of one bone and biomarker, coloured like the 3D view."""

from __future__ import annotations

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from kneeviewer.visual.arrays import NAN_COLOR, describe_array
from kneeviewer.visual.scene import ColourSettings


class SphericalMapView(QWidget):
    """Shows ``spherical_maps["<bone>/<array>"]`` with the 3D view's colour map and range."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.maps: dict[str, np.ndarray] = {}
        self.colours: ColourSettings | None = None
        self.bone_box = QComboBox(objectName="sphericalBone")
        self.figure = Figure(figsize=(4, 4), layout="constrained")
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.message = QLabel("", objectName="sphericalMessage")
        top = QHBoxLayout()
        top.addWidget(QLabel("Bone"))
        top.addWidget(self.bone_box, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.canvas, 1)
        layout.addWidget(self.message)
        self.bone_box.currentTextChanged.connect(lambda _text: self.redraw())

    def set_maps(self, maps: dict[str, np.ndarray]) -> None:
        """Set the maps of a knee; keys are ``"<bone>/<array name>"``, values 224 x 224 float arrays."""
        self.maps = dict(maps)
        bones = sorted({key.split("/", 1)[0] for key in self.maps}, key=lambda b: ("femur", "tibia", "patella", b).index(b) if b in ("femur", "tibia", "patella") else 3)
        current = self.bone_box.currentText()
        self.bone_box.blockSignals(True)
        self.bone_box.clear()
        self.bone_box.addItems(bones)
        if current in bones:
            self.bone_box.setCurrentText(current)
        self.bone_box.blockSignals(False)
        self.redraw()

    def set_colours(self, colours: ColourSettings) -> None:
        """Use the array, range and colour map of the 3D view."""
        self.colours = colours
        self.redraw()

    def current_key(self) -> str | None:
        """Return the key of the map shown, or None."""
        if self.colours is None or not self.bone_box.currentText():
            return None
        return f"{self.bone_box.currentText()}/{self.colours.array}"

    def redraw(self) -> None:
        """Draw the current map with a colour bar, or a message why there is none."""
        self.figure.clear()
        key = self.current_key()
        if key is None or key not in self.maps:
            self.message.setText("No spherical map for this bone and biomarker." if key else "")
            self.canvas.draw_idle()
            return
        self.message.setText("Azimuth and elevation about the bone centroid, 224 x 224 samples; grey: no value.")
        cmap = colormaps[self.colours.cmap].with_extremes(bad=NAN_COLOR)
        axes = self.figure.add_subplot()
        image = axes.imshow(np.asarray(self.maps[key], dtype=float), cmap=cmap, vmin=self.colours.clim[0], vmax=self.colours.clim[1], interpolation="nearest")
        axes.set_title(f"{self.bone_box.currentText().capitalize()}: {describe_array(self.colours.array).label}", fontsize=10)
        axes.set_xticks([])
        axes.set_yticks([])
        self.figure.colorbar(image, ax=axes, label=describe_array(self.colours.array).title, shrink=0.8)
        self.canvas.draw_idle()
