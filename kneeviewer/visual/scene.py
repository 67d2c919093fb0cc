"""Bone meshes coloured by one biomarker, added to any pyvista plotter.

Shared by the off-screen :func:`kneeviewer.visual.render.render_bones` and the
desktop app's 3D view, so both draw the same figure. Every function here
calls VTK and must run on the thread that owns the plotter (the GUI thread
in the app).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pyvista as pv

from kneeviewer.visual.arrays import BONES, NAN_COLOR, describe_array, robust_range


@dataclass(frozen=True)
class ColourSettings:
    """Colour mapping of one biomarker.

    Attributes
    ----------
    array : str
        Point array name, e.g. ``"thickness_mm"``.
    clim : tuple of float
        Lower and upper end of the colour range, in the array's unit.
    cmap : str
        Matplotlib colour map name.
    """

    array: str
    clim: tuple[float, float]
    cmap: str


def resolve_colours(
    meshes: Mapping[str, pv.PolyData],
    array: str,
    clim: tuple[float, float] | None = None,
    cmap: str | None = None,
) -> ColourSettings:
    """Fill in the default colour map and range of ``array`` over all bones.

    The default range pools the finite values of every mesh that has the
    array (see :func:`~kneeviewer.visual.arrays.robust_range`).
    """
    if clim is None:
        clim = robust_range(np.asarray(mesh.point_data[array]) for mesh in meshes.values() if array in mesh.point_data)
    low, high = float(clim[0]), float(clim[1])
    if not high > low:
        high = low + 1e-6
    return ColourSettings(array, (low, high), cmap or describe_array(array).cmap)


def bone_order(meshes: Mapping[str, pv.PolyData]) -> list[str]:
    """Return the bone names of ``meshes``, femur, tibia, patella first."""
    return [bone for bone in BONES if bone in meshes] + sorted(set(meshes) - set(BONES))


def add_bones(
    plotter,
    meshes: Mapping[str, pv.PolyData],
    colours: ColourSettings,
    *,
    opacity: Mapping[str, float] | None = None,
    visible: Mapping[str, bool] | None = None,
    show_legend: bool = True,
    vertical_legend: bool = True,
) -> dict[str, object]:
    """Add each bone to ``plotter`` coloured by ``colours.array`` and return the actors by bone.

    Nothing is rendered and the camera is not moved, so the caller renders
    once at the end. One render of three 20k-vertex bones took 0.1 to 0.25 s
    with Mesa software OpenGL under Xvfb on a 2-core machine.

    A bone without the array is drawn in the NaN grey, as are vertices whose
    value is NaN. One legend (scalar bar) with the unit is shared by all bones.
    """
    actors: dict[str, object] = {}
    legend_mapper = None
    for bone in bone_order(meshes):
        mesh = meshes[bone]
        bone_opacity = float((opacity or {}).get(bone, 1.0))
        if colours.array in mesh.point_data:
            actor = plotter.add_mesh(
                mesh,
                scalars=colours.array,
                clim=colours.clim,
                cmap=colours.cmap,
                nan_color=NAN_COLOR,
                opacity=bone_opacity,
                smooth_shading=True,
                show_scalar_bar=False,
                name=bone,
                copy_mesh=True,
                reset_camera=False,
                render=False,
            )
            legend_mapper = legend_mapper or actor.mapper
        else:
            actor = plotter.add_mesh(
                mesh, color=NAN_COLOR, opacity=bone_opacity, smooth_shading=True, name=bone, copy_mesh=True,
                reset_camera=False, render=False,
            )
        actor.SetVisibility(bool((visible or {}).get(bone, True)))
        actors[bone] = actor
    if show_legend and legend_mapper is not None:
        add_legend(plotter, colours.array, legend_mapper, vertical=vertical_legend)
    return actors


def add_legend(plotter, array: str, mapper, *, vertical: bool = True) -> None:
    """Add a scalar bar titled with the array's quantity and unit, at the right or along the bottom."""
    placement = (
        {"position_x": 0.80, "position_y": 0.12, "height": 0.7, "width": 0.07}
        if vertical
        else {"position_x": 0.2, "position_y": 0.03, "height": 0.09, "width": 0.6}
    )
    plotter.add_scalar_bar(
        # The trailing newline lifts the title clear of the top tick label.
        title=describe_array(array).title + "\n",
        mapper=mapper,
        vertical=vertical,
        **placement,
        title_font_size=14,
        label_font_size=12,
        n_labels=5,
        fmt="%.3g",
        color="black",
        render=False,
    )
