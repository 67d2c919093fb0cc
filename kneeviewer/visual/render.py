"""Off-screen figures of the knee bones coloured by a biomarker (no Qt, no display).

:func:`render_bones` is what ``kneeviewer render`` and the pipeline's
``thickness.png`` use. It draws the same scene as the app's 3D view.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import pyvista as pv

from kneeviewer.errors import InputError
from kneeviewer.visual.arrays import describe_array
from kneeviewer.visual.camera import apply_view, check_view
from kneeviewer.visual.scene import add_bones, resolve_colours

log = logging.getLogger(__name__)


def render_bones(
    meshes: Mapping[str, pv.PolyData],
    array: str,
    out_path: str | Path,
    *,
    view: str = "anterior",
    clim: tuple[float, float] | None = None,
    cmap: str | None = None,
    scale: int = 1,
    transparent: bool = False,
    window_size: tuple[int, int] = (1200, 900),
    title: str | None = None,
) -> Path:
    """Render bone meshes coloured by one point array to a PNG file.

    Parameters
    ----------
    meshes : mapping of str to pyvista.PolyData
        Bone name (``"femur"``, ``"tibia"``, ``"patella"``) to mesh in LPS mm,
        right-knee convention. A bone without ``array`` is drawn in grey.
    array : str
        Point array to colour by, e.g. ``"thickness_mm"``. NaN vertices are grey.
    out_path : str or Path
        PNG file to write; parent folders are created.
    view : str
        Camera preset: anterior, posterior, medial, lateral, superior or inferior.
    clim : tuple of float, optional
        Colour range in the array's unit; by default the pooled 2nd to 98th
        percentile of all bones.
    cmap : str, optional
        Matplotlib colour map; the array's default (e.g. viridis for thickness).
    scale : int
        Image size multiplier applied to ``window_size``.
    transparent : bool
        Write an RGBA image with a transparent background.
    window_size : tuple of int
        Width and height in pixels before scaling.
    title : str, optional
        Text drawn at the top left.

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    InputError
        If no mesh is given, no mesh carries ``array``, the view is unknown
        or ``scale`` is below 1.
    """
    out_path = Path(out_path)
    check_view(view)
    if not meshes:
        raise InputError("No bone meshes to render. Pass at least one of femur, tibia, patella.")
    if not any(array in mesh.point_data for mesh in meshes.values()):
        present = sorted({name for mesh in meshes.values() for name in mesh.point_data.keys()})
        raise InputError(
            f"No bone mesh has the point array '{array}'. Available arrays: {', '.join(present) or 'none'}."
        )
    if int(scale) < 1:
        raise InputError(f"Scale must be a whole number of at least 1, got {scale}.")
    colours = resolve_colours(meshes, array, clim, cmap)
    out_path.parent.mkdir(parents=True, exist_ok=True)

    plotter = pv.Plotter(off_screen=True, window_size=list(window_size))
    try:
        plotter.set_background("white")
        plotter.enable_anti_aliasing("ssaa")
        add_bones(plotter, meshes, colours)
        if title:
            plotter.add_text(title, position="upper_left", font_size=12, color="black")
        apply_view(plotter, view)
        plotter.screenshot(str(out_path), transparent_background=transparent, scale=int(scale))
    finally:
        plotter.close()
    log.info("Wrote %s (%s, %s view, range %.3g to %.3g)", out_path, describe_array(array).title, view, *colours.clim)
    return out_path
