"""Slice view: three orthogonal planes of an MR image with the label overlay.

Slices are cut along the image's own voxel axes (no resampling), so a plane
is exactly one voxel layer. Each plane is drawn as a QImage scaled to its
physical size in mm. Sagittal planes show anterior to the left. Coronal and
axial planes show the patient's left (+x, medial in a right knee) to the
right. Superior is up, and in axial planes anterior is up. The shared cursor is an LPS point in mm, so images
on different grids (DESS, MSME) stay aligned through their geometries.
"""

from __future__ import annotations

import logging

import numpy as np
from matplotlib import colormaps
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from kneeviewer.io.volume import Volume

log = logging.getLogger(__name__)

#: Plane name to (LPS axis normal to the plane, (horizontal LPS axis, +1 if it increases to the right),
#: (vertical LPS axis, +1 if it increases upward)).
PLANES = {
    "sagittal": (0, (1, +1), (2, +1)),
    "coronal": (1, (0, +1), (2, +1)),
    "axial": (2, (0, +1), (1, -1)),
}

#: Window/level presets: name to (low, high) percentiles of the nonzero voxels, or to fixed values in the image unit.
WINDOW_PRESETS = {
    "Auto (1st to 99th percentile)": ("percentile", 1.0, 99.0),
    "Cartilage contrast (20th to 99.5th percentile)": ("percentile", 20.0, 99.5),
    "Full range": ("percentile", 0.0, 100.0),
    "T2 map 0 to 80 ms": ("fixed", 0.0, 80.0),
    "T2 map 20 to 60 ms": ("fixed", 20.0, 60.0),
}

_LABEL_COLOURS = (colormaps["tab10"](np.arange(10))[:, :3] * 255).astype(np.uint8)


def window_from_preset(data: np.ndarray, preset: str) -> tuple[float, float]:
    """Return the (low, high) display window of ``data`` for a preset of :data:`WINDOW_PRESETS`."""
    kind, low, high = WINDOW_PRESETS[preset]
    if kind == "fixed":
        return float(low), float(high)
    sample = np.asarray(data[:: max(1, data.shape[0] // 64)], dtype=float).ravel()
    sample = sample[np.isfinite(sample) & (sample != 0)]
    if sample.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(sample, [low, high])
    return float(lo), float(max(hi, lo + 1e-6))


class SlicePlane(QWidget):
    """One orthogonal plane: paints a slice, a cursor and reports clicks and wheel steps.

    Signals
    -------
    clicked(float, float, float)
        LPS point in mm under a left click.
    scrolled(int)
        +1 or -1 slice step from the mouse wheel or the arrow keys.
    """

    clicked = Signal(float, float, float)
    scrolled = Signal(int)

    def __init__(self, name: str, parent=None) -> None:
        super().__init__(parent)
        self.name = name
        self.setObjectName(f"plane_{name}")
        self.setMinimumSize(160, 160)
        self.setFocusPolicy(Qt.FocusPolicy.WheelFocus)
        self.image: QImage | None = None
        self.size_mm = (1.0, 1.0)
        self.cursor_fraction: tuple[float, float] | None = None
        self.to_lps = None  # (column fraction, row fraction) -> LPS point, set by SliceView
        self.caption = name.capitalize()

    def set_slice(self, image: QImage, size_mm: tuple[float, float], cursor_fraction, to_lps, caption: str) -> None:
        """Show an RGB image of physical size ``size_mm`` (width, height) with the cursor at fractions of it."""
        self.image, self.size_mm, self.cursor_fraction, self.to_lps, self.caption = image, size_mm, cursor_fraction, to_lps, caption
        self.update()

    def clear(self) -> None:
        """Show nothing."""
        self.image = None
        self.update()

    def image_rect(self) -> QRectF:
        """Return the widget rectangle in which the slice is drawn, keeping its physical aspect."""
        width_mm, height_mm = self.size_mm
        scale = min(self.width() / width_mm, self.height() / height_mm)
        width, height = width_mm * scale, height_mm * scale
        return QRectF((self.width() - width) / 2, (self.height() - height) / 2, width, height)

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("black"))
        if self.image is not None:
            rect = self.image_rect()
            painter.drawImage(rect, self.image)
            if self.cursor_fraction is not None:
                x = rect.left() + self.cursor_fraction[0] * rect.width()
                y = rect.top() + self.cursor_fraction[1] * rect.height()
                painter.setPen(QPen(QColor(255, 220, 0, 170), 1))
                painter.drawLine(QPointF(rect.left(), y), QPointF(rect.right(), y))
                painter.drawLine(QPointF(x, rect.top()), QPointF(x, rect.bottom()))
        painter.setPen(QColor("white"))
        painter.drawText(6, 16, self.caption)
        painter.end()

    def mousePressEvent(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton or self.image is None or self.to_lps is None:
            return
        rect = self.image_rect()
        position = event.position()
        if not rect.contains(position):
            return
        fraction = ((position.x() - rect.left()) / rect.width(), (position.y() - rect.top()) / rect.height())
        point = self.to_lps(*fraction)
        self.clicked.emit(float(point[0]), float(point[1]), float(point[2]))

    def wheelEvent(self, event) -> None:
        delta = event.angleDelta().y()
        if delta:
            self.scrolled.emit(1 if delta > 0 else -1)

    def keyPressEvent(self, event) -> None:
        if event.key() in (Qt.Key.Key_Up, Qt.Key.Key_PageUp):
            self.scrolled.emit(1)
        elif event.key() in (Qt.Key.Key_Down, Qt.Key.Key_PageDown):
            self.scrolled.emit(-1)
        else:
            super().keyPressEvent(event)


class SliceView(QWidget):
    """Image selector, window/level, label overlay opacity and three orthogonal planes.

    Signals
    -------
    point_clicked(float, float, float)
        LPS point in mm clicked on a plane; the main window marks the nearest surface vertex.
    """

    point_clicked = Signal(float, float, float)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.images: dict[str, Volume] = {}
        self.labels: Volume | None = None
        self.point_mm = np.zeros(3)
        self.window = (0.0, 1.0)

        self.image_box = QComboBox(objectName="imageBox")
        self.preset_box = QComboBox(objectName="windowPreset")
        self.preset_box.addItems(list(WINDOW_PRESETS))
        self.low_spin = QDoubleSpinBox(objectName="windowLow", decimals=1, minimum=-1e7, maximum=1e7)
        self.high_spin = QDoubleSpinBox(objectName="windowHigh", decimals=1, minimum=-1e7, maximum=1e7)
        self.overlay_slider = QSlider(Qt.Orientation.Horizontal, objectName="overlayOpacity")
        self.overlay_slider.setRange(0, 100)
        self.overlay_slider.setValue(40)
        self.position_label = QLabel("", objectName="slicePosition")

        self.overlay_slider.setMinimumWidth(90)
        self.overlay_slider.setToolTip("Opacity of the label overlay")
        controls = QGridLayout()
        controls.addWidget(QLabel("Image"), 0, 0)
        controls.addWidget(self.image_box, 0, 1)
        controls.addWidget(QLabel("Label overlay"), 0, 2)
        controls.addWidget(self.overlay_slider, 0, 3)
        controls.addWidget(QLabel("Window"), 1, 0)
        controls.addWidget(self.preset_box, 1, 1)
        window_row = QHBoxLayout()
        window_row.addWidget(self.low_spin)
        window_row.addWidget(QLabel("to"))
        window_row.addWidget(self.high_spin)
        controls.addLayout(window_row, 1, 2, 1, 2)
        controls.setColumnStretch(1, 1)

        self.planes = {name: SlicePlane(name) for name in PLANES}
        grid = QGridLayout()
        grid.setSpacing(2)
        # ITK-SNAP-like 2 x 2 layout: sagittal and coronal on top, axial below.
        for position, name in zip(((0, 0), (0, 1), (1, 0)), PLANES):
            grid.addWidget(self.planes[name], *position)
            self.planes[name].clicked.connect(self._plane_clicked)
            self.planes[name].scrolled.connect(lambda step, n=name: self.step_slice(n, step))

        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(controls)
        self.position_label.setWordWrap(True)
        self.position_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        grid.addWidget(self.position_label, 1, 1)
        layout.addLayout(grid, 1)

        self.image_box.currentIndexChanged.connect(self._image_changed)
        self.preset_box.currentTextChanged.connect(self.apply_preset)
        self.low_spin.editingFinished.connect(self._window_edited)
        self.high_spin.editingFinished.connect(self._window_edited)
        self.overlay_slider.valueChanged.connect(lambda _value: self.refresh())

    # Data ----------------------------------------------------------------

    def set_volumes(self, volumes: dict) -> None:
        """Show new images: ``volumes`` maps names (dess, t2_ms, labels, msme) to Volume or MultiEchoVolume."""
        self.images = {}
        self.labels = volumes.get("labels")
        for name in ("dess", "t2_ms"):
            if name in volumes:
                self.images["DESS" if name == "dess" else "T2 map (ms)"] = volumes[name]
        msme = volumes.get("msme")
        if msme is not None:
            for index, echo_ms in enumerate(np.asarray(msme.echo_times_ms)):
                self.images[f"MSME echo {index + 1} ({echo_ms:.1f} ms)"] = msme.echo(index)
        if self.labels is not None:
            self.images["Label map"] = self.labels
        self.image_box.blockSignals(True)
        self.image_box.clear()
        self.image_box.addItems(list(self.images))
        self.image_box.blockSignals(False)
        if self.images:
            first = next(iter(self.images.values()))
            centre = (np.asarray(first.geometry.shape) - 1) / 2.0
            self.point_mm = first.geometry.index_to_lps(centre)
            self._image_changed(0)
        else:
            for plane in self.planes.values():
                plane.clear()

    def current_volume(self) -> Volume | None:
        """Return the image shown, or None."""
        return self.images.get(self.image_box.currentText())

    # Navigation ----------------------------------------------------------

    def set_point(self, point_mm) -> None:
        """Move all three planes through an LPS point in mm."""
        self.point_mm = np.asarray(point_mm, dtype=float)
        self.refresh()

    def current_index(self) -> np.ndarray | None:
        """Return the voxel index (i, j, k) of the cursor in the shown image, clamped to the grid."""
        volume = self.current_volume()
        if volume is None:
            return None
        index = np.rint(volume.geometry.lps_to_index(self.point_mm)).astype(int)
        return np.clip(index, 0, np.asarray(volume.geometry.shape) - 1)

    def step_slice(self, plane: str, step: int) -> None:
        """Move one voxel along the normal of ``plane`` (toward L, P or S for +1)."""
        volume = self.current_volume()
        if volume is None:
            return
        geometry = volume.geometry
        axis = geometry.axis_closest_to(PLANES[plane][0])
        sign = 1 if geometry.direction[PLANES[plane][0], axis] >= 0 else -1
        index = self.current_index().astype(float)
        index[axis] = np.clip(index[axis] + sign * step, 0, geometry.shape[axis] - 1)
        self.set_point(geometry.index_to_lps(index))

    # Window / level ------------------------------------------------------

    def apply_preset(self, preset: str) -> None:
        """Set the display window from a preset name of :data:`WINDOW_PRESETS`."""
        volume = self.current_volume()
        if volume is None or preset not in WINDOW_PRESETS:
            return
        self.set_window(*window_from_preset(volume.data, preset))

    def set_window(self, low: float, high: float) -> None:
        """Map ``low`` to black and ``high`` to white."""
        self.window = (float(low), float(max(high, low + 1e-6)))
        self.low_spin.setValue(self.window[0])
        self.high_spin.setValue(self.window[1])
        self.refresh()

    def _window_edited(self) -> None:
        if self.high_spin.value() > self.low_spin.value():
            self.set_window(self.low_spin.value(), self.high_spin.value())

    def _image_changed(self, _index: int) -> None:
        volume = self.current_volume()
        if volume is None:
            return
        preset = self.preset_box.currentText()
        if self.image_box.currentText().startswith("T2 map"):
            preset = "T2 map 0 to 80 ms"
        elif WINDOW_PRESETS[preset][0] == "fixed":
            preset = "Auto (1st to 99th percentile)"
        self.preset_box.blockSignals(True)
        self.preset_box.setCurrentText(preset)
        self.preset_box.blockSignals(False)
        self.apply_preset(preset)

    # Drawing -------------------------------------------------------------

    def refresh(self) -> None:
        """Redraw the three planes at the cursor."""
        volume = self.current_volume()
        if volume is None:
            return
        index = self.current_index()
        for name, plane in self.planes.items():
            self._draw_plane(name, plane, volume, index)
        x, y, z = self.point_mm
        self.position_label.setText(
            f"Cursor LPS ({x:.1f}, {y:.1f}, {z:.1f}) mm, voxel ({index[0]}, {index[1]}, {index[2]})"
        )

    def plane_axes(self, name: str, volume: Volume) -> tuple[int, int, int, bool, bool]:
        """Return (normal axis, horizontal axis, vertical axis, flip horizontal, flip vertical) in voxel indices."""
        geometry = volume.geometry
        normal_lps, (h_lps, h_sign), (v_lps, v_sign) = PLANES[name]
        normal = geometry.axis_closest_to(normal_lps)
        horizontal = geometry.axis_closest_to(h_lps)
        vertical = geometry.axis_closest_to(v_lps)
        if len({normal, horizontal, vertical}) < 3:
            # Strongly oblique images: fall back to the two remaining axes in order.
            horizontal, vertical = [axis for axis in range(3) if axis != normal]
        flip_h = np.sign(geometry.direction[h_lps, horizontal]) != h_sign
        # Row 0 is drawn at the top, so an axis that increases upward is flipped.
        flip_v = np.sign(geometry.direction[v_lps, vertical]) == v_sign
        return normal, horizontal, vertical, bool(flip_h), bool(flip_v)

    def _draw_plane(self, name: str, plane: SlicePlane, volume: Volume, index: np.ndarray) -> None:
        normal, horizontal, vertical, flip_h, flip_v = self.plane_axes(name, volume)
        section = np.take(volume.data, index[normal], axis=normal)
        # After removing the normal axis the remaining two keep their order.
        remaining = [axis for axis in range(3) if axis != normal]
        section = section if remaining == [vertical, horizontal] else section.T
        labels = None
        if self.labels is not None and self.labels.geometry.shape == volume.geometry.shape and self.overlay_slider.value() > 0:
            labels = np.take(self.labels.data, index[normal], axis=normal)
            labels = labels if remaining == [vertical, horizontal] else labels.T
        rows = slice(None, None, -1) if flip_v else slice(None)
        columns = slice(None, None, -1) if flip_h else slice(None)
        section = section[rows, columns]
        labels = labels[rows, columns] if labels is not None else None
        rgb = self._colourise(section, labels, volume is self.labels)
        height, width = rgb.shape[:2]
        image = QImage(rgb.tobytes(), width, height, 3 * width, QImage.Format.Format_RGB888).copy()
        spacing = volume.geometry.spacing_mm
        size_mm = (width * spacing[horizontal], height * spacing[vertical])
        cursor_h = index[horizontal] if not flip_h else width - 1 - index[horizontal]
        cursor_v = index[vertical] if not flip_v else height - 1 - index[vertical]
        cursor = ((cursor_h + 0.5) / width, (cursor_v + 0.5) / height)

        def to_lps(fx: float, fy: float, normal=normal, horizontal=horizontal, vertical=vertical) -> np.ndarray:
            column = min(int(fx * width), width - 1)
            row = min(int(fy * height), height - 1)
            voxel = index.astype(float).copy()
            voxel[horizontal] = width - 1 - column if flip_h else column
            voxel[vertical] = height - 1 - row if flip_v else row
            return volume.geometry.index_to_lps(voxel)

        caption = f"{name.capitalize()} {index[normal] + 1}/{volume.geometry.shape[normal]}"
        plane.set_slice(image, size_mm, cursor, to_lps, caption)

    def _colourise(self, section: np.ndarray, labels: np.ndarray | None, is_label_map: bool) -> np.ndarray:
        if is_label_map:
            values = np.asarray(section, dtype=int)
            rgb = np.where(values[..., None] > 0, _LABEL_COLOURS[values % 10], 0).astype(np.uint8)
            return np.ascontiguousarray(rgb)
        low, high = self.window
        values = np.asarray(section, dtype=float)
        scaled = np.clip((values - low) / (high - low), 0.0, 1.0)
        scaled[~np.isfinite(values)] = 0.0
        grey = (scaled * 255).astype(np.uint8)
        rgb = np.repeat(grey[..., None], 3, axis=2)
        if labels is not None:
            alpha = self.overlay_slider.value() / 100.0
            mask = labels > 0
            colours = _LABEL_COLOURS[np.asarray(labels, dtype=int) % 10]
            rgb[mask] = ((1 - alpha) * rgb[mask] + alpha * colours[mask]).astype(np.uint8)
        return np.ascontiguousarray(rgb)

    def _plane_clicked(self, x: float, y: float, z: float) -> None:
        self.set_point((x, y, z))
        self.point_clicked.emit(x, y, z)
