"""The 3D view: femur, tibia and patella coloured by one biomarker, with picking.

Embeds a :class:`pyvistaqt.QtInteractor` in a plain QWidget. Every method
runs on the GUI thread.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pyvista as pv
from pyvistaqt import QtInteractor
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget
from vtkmodules.vtkRenderingCore import vtkCellPicker

from kneeviewer.visual.arrays import describe_array
from kneeviewer.visual.camera import apply_view
from kneeviewer.visual.scene import ColourSettings, add_bones, bone_order

log = logging.getLogger(__name__)

#: Mouse travel in pixels below which a press and release count as a click (a pick), not a rotation.
CLICK_TOLERANCE_PX = 3


class BoneView(QWidget):
    """Interactive 3D view of the bone meshes.

    Signals
    -------
    vertex_picked(bone, point_id)
        A vertex was picked by a click or by :meth:`pick_vertex`.
    """

    vertex_picked = Signal(str, int)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        # Explicit, because PYVISTA_OFF_SCREEN (set for headless renders) would leave no interactor.
        # auto_update=False: pyvistaqt otherwise re-renders 5 times a second, which
        # with software OpenGL keeps the GUI thread busy. Changes render explicitly.
        self.plotter = QtInteractor(self, off_screen=False, auto_update=False)
        self.plotter.set_background("white")
        self.plotter.enable_anti_aliasing("fxaa")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plotter.interactor)
        self.meshes: dict[str, pv.PolyData] = {}
        self.actors: dict[str, object] = {}
        self.colours: ColourSettings | None = None
        self.opacity: dict[str, float] = {}
        self.visible: dict[str, bool] = {}
        self.view_name = "anterior"
        self._marker_name = "picked-vertex"
        self._press_position: tuple[int, int] | None = None
        self._picker = vtkCellPicker()
        self._picker.SetTolerance(0.0005)
        interactor = self.plotter.iren.interactor
        interactor.AddObserver("LeftButtonPressEvent", self._on_press, 1.0)
        interactor.AddObserver("LeftButtonReleaseEvent", self._on_release, 1.0)

    # Scene -------------------------------------------------------------

    def set_meshes(self, meshes: Mapping[str, pv.PolyData], colours: ColourSettings) -> None:
        """Replace the bones on screen and colour them, then show the current camera preset."""
        self.meshes = dict(meshes)
        self.colours = colours
        self._rebuild()
        self.set_view(self.view_name)

    def set_colours(self, colours: ColourSettings) -> None:
        """Colour the bones by another array, range or colour map, keeping the camera."""
        self.colours = colours
        camera = self.plotter.camera_position
        self._rebuild()
        self.plotter.camera_position = camera
        self.plotter.render()

    def set_bone_visible(self, bone: str, visible: bool) -> None:
        """Show or hide one bone."""
        self.visible[bone] = visible
        if bone in self.actors:
            self.actors[bone].SetVisibility(visible)
            self.plotter.render()

    def set_bone_opacity(self, bone: str, opacity: float) -> None:
        """Set the opacity of one bone, 0 (invisible) to 1 (opaque)."""
        self.opacity[bone] = float(opacity)
        if bone in self.actors:
            self.actors[bone].GetProperty().SetOpacity(float(opacity))
            self.plotter.render()

    def set_view(self, view: str) -> None:
        """Move the camera to a named preset (anterior, posterior, medial, lateral, superior)."""
        self.view_name = view
        if self.meshes:
            apply_view(self.plotter, view, self._bounds())
            self.plotter.render()

    def render_now(self) -> None:
        """Render at once; pyvistaqt's ``render()`` only schedules a render on the event loop."""
        self.plotter.ren_win.Render()

    def clear(self) -> None:
        """Remove every bone and marker."""
        for name in list(self.plotter.scalar_bars.keys()):
            self.plotter.remove_scalar_bar(name, render=False)
        self.plotter.clear_actors()
        self.meshes, self.actors = {}, {}
        self.plotter.render()

    def _bounds(self) -> tuple[float, ...]:
        boxes = np.array([self.meshes[bone].bounds for bone in self.meshes]).reshape(-1, 3, 2)
        return tuple(np.column_stack([boxes[:, :, 0].min(axis=0), boxes[:, :, 1].max(axis=0)]).ravel())

    def _rebuild(self) -> None:
        for name in list(self.plotter.scalar_bars.keys()):
            self.plotter.remove_scalar_bar(name, render=False)
        for name in list(self.actors):
            self.plotter.remove_actor(name, render=False)
        if self.colours is None or not self.meshes:
            self.actors = {}
            return
        self.actors = add_bones(
            self.plotter, self.meshes, self.colours, opacity=self.opacity, visible=self.visible, vertical_legend=False
        )

    # Picking -----------------------------------------------------------

    def pick_vertex(self, bone: str, point_id: int) -> None:
        """Mark vertex ``point_id`` of ``bone`` and emit :attr:`vertex_picked`."""
        mesh = self.meshes[bone]
        point = np.asarray(mesh.points[point_id], dtype=float)
        size = max(0.8, 0.006 * float(np.linalg.norm(np.ptp(np.asarray(mesh.points), axis=0))))
        self.plotter.add_mesh(
            pv.Sphere(radius=size, center=point), color="red", name=self._marker_name, pickable=False, reset_camera=False, render=False
        )
        self.plotter.render()
        self.vertex_picked.emit(bone, int(point_id))

    def pick_nearest(self, point_mm: np.ndarray) -> tuple[str, int] | None:
        """Pick the visible-bone vertex nearest to an LPS point; return (bone, point id) or None."""
        best: tuple[float, str, int] | None = None
        for bone in bone_order(self.meshes):
            if not self.visible.get(bone, True):
                continue
            mesh = self.meshes[bone]
            index = int(mesh.find_closest_point(np.asarray(point_mm, dtype=float)))
            distance = float(np.linalg.norm(mesh.points[index] - point_mm))
            if best is None or distance < best[0]:
                best = (distance, bone, index)
        if best is None:
            return None
        self.pick_vertex(best[1], best[2])
        return best[1], best[2]

    def pick_at_display(self, x: int, y: int) -> tuple[str, int] | None:
        """Pick the vertex under display position (x, y), VTK pixels from the bottom left."""
        renderer = self.plotter.renderer
        self.render_now()
        if not self._picker.Pick(x, y, 0, renderer):
            return None
        actor = self._picker.GetActor()
        bone = next((name for name, candidate in self.actors.items() if candidate is actor), None)
        if bone is None:
            return None
        position = np.asarray(self._picker.GetPickPosition())
        point_id = int(self.meshes[bone].find_closest_point(position))
        self.pick_vertex(bone, point_id)
        return bone, point_id

    def _on_press(self, interactor, _event) -> None:
        self._press_position = interactor.GetEventPosition()

    def _on_release(self, interactor, _event) -> None:
        start, self._press_position = self._press_position, None
        if start is None or not self.meshes:
            return
        x, y = interactor.GetEventPosition()
        if abs(x - start[0]) <= CLICK_TOLERANCE_PX and abs(y - start[1]) <= CLICK_TOLERANCE_PX:
            self.pick_at_display(x, y)

    # Export ------------------------------------------------------------

    def screenshot(self, path, *, scale: int = 1, transparent: bool = False) -> None:
        """Save the 3D view as PNG, ``scale`` times the on-screen size."""
        self.plotter.screenshot(str(path), transparent_background=transparent, scale=int(scale))
        log.info("Saved a screenshot of the 3D view to %s", path)

    def legend_title(self) -> str:
        """Return the legend title of the current array."""
        return describe_array(self.colours.array).title if self.colours else ""

    def close_view(self) -> None:
        """Release the VTK render window (call before the widget is destroyed)."""
        self.plotter.close()
