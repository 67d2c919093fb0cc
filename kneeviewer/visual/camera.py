"""Named camera presets for knees in right-knee LPS convention.

In right-knee convention the medial side is toward +x, posterior is +y and
superior is +z, so "medial" looks at the knee from +x and "anterior" from -y.
"""

from __future__ import annotations

import numpy as np

from kneeviewer.errors import InputError

#: View name to (direction from the focal point to the camera, view-up vector), both LPS.
VIEWS: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "anterior": ((0.0, -1.0, 0.0), (0.0, 0.0, 1.0)),
    "posterior": ((0.0, 1.0, 0.0), (0.0, 0.0, 1.0)),
    "medial": ((1.0, 0.0, 0.0), (0.0, 0.0, 1.0)),
    "lateral": ((-1.0, 0.0, 0.0), (0.0, 0.0, 1.0)),
    "superior": ((0.0, 0.0, 1.0), (0.0, -1.0, 0.0)),
    "inferior": ((0.0, 0.0, -1.0), (0.0, -1.0, 0.0)),
}


def check_view(view: str) -> str:
    """Return ``view`` if it is a known preset, else raise :class:`InputError`."""
    if view not in VIEWS:
        raise InputError(f"Unknown view '{view}'. Use one of: {', '.join(VIEWS)}.")
    return view


def apply_view(plotter, view: str, bounds: tuple[float, ...] | None = None) -> None:
    """Point the camera of a pyvista plotter along a named preset and fit the scene.

    Parameters
    ----------
    plotter : pyvista.Plotter or pyvistaqt.QtInteractor
        Plotter whose camera is moved. Must be used on the GUI thread.
    view : str
        One of :data:`VIEWS`.
    bounds : tuple of 6 float, optional
        Scene bounds ``(xmin, xmax, ymin, ymax, zmin, zmax)`` in mm; the
        plotter's visible bounds by default.
    """
    direction, view_up = VIEWS[check_view(view)]
    if bounds is None:
        bounds = plotter.bounds
    box = np.asarray(bounds, dtype=float).reshape(3, 2)
    center = box.mean(axis=1)
    radius = max(float(np.linalg.norm(box[:, 1] - box[:, 0])) / 2.0, 1.0)
    position = center + 4.0 * radius * np.asarray(direction)
    plotter.camera_position = [tuple(position), tuple(center), view_up]
    plotter.renderer.reset_camera(render=False, bounds=tuple(box.ravel()))
    # reset_camera leaves a wide margin around the bounding sphere.
    plotter.camera.zoom(1.25)
