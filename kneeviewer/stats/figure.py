"""Multi-panel figure of a bone's cohort statistics (shared by the CLI and the app).

Rows are Grad-CAM strategies. Columns are the mean Grad-CAM of the first
group (TP_pain, or pain with the label grouping), that of the second
(TN_nopain or no_pain), both on one colour scale per row, and -log10 of the
group p-value. The significance threshold is a black contour on the bone and
a line on the colour bar, and the column title names the correction. Each bone view is an off-screen pyvista render; matplotlib
lays them out with colour bars and writes PNG, SVG or PDF.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pyvista as pv
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from kneeviewer.errors import InputError
from kneeviewer.stats.corrections import CORRECTIONS

log = logging.getLogger(__name__)

GRADCAM_CMAP = "inferno"
P_CMAP = "YlOrRd"
NAN_COLOUR = "#d9d9d9"
#: View direction (from the bone centre toward the camera, LPS) and view-up per bone:
#: the femur from below and in front (trochlea and distal condyles), the tibia from above (plateau),
#: the patella from behind (articular surface).
BONE_VIEWS = {
    "femur": ((0.0, -0.3, -1.0), (0.0, -1.0, 0.0)),
    "tibia": ((0.0, 0.35, 1.0), (0.0, -1.0, 0.0)),
    "patella": ((0.0, 1.0, 0.0), (0.0, 0.0, 1.0)),
}
SUFFIXES = (".png", ".svg", ".pdf")


def p_array_name(strategy: str, correction: str) -> str:
    """Return the atlas array holding ``strategy``'s p-values under ``correction`` (none, fdr or fwe)."""
    if correction not in CORRECTIONS:
        raise InputError(f"Unknown correction '{correction}'; expected one of {sorted(CORRECTIONS)}.")
    return f"p_{strategy}" if correction == "none" else f"p_{correction}_{strategy}"


def atlas_strategies(atlas: pv.PolyData) -> list[str]:
    """Return the strategies with a first-group mean array (``tp_mean_gradcam_<s>``) on the atlas, sorted."""
    prefix = "tp_mean_gradcam_"
    return sorted(name[len(prefix) :] for name in atlas.point_data if name.startswith(prefix))


def significant_vertices(p: np.ndarray, alpha: float) -> tuple[int, int]:
    """Return how many vertices have p below ``alpha`` and how many have a p-value at all."""
    p = np.asarray(p, dtype=float)
    tested = np.isfinite(p)
    return int(np.count_nonzero(p[tested] < alpha)), int(tested.sum())


def atlas_group_names(atlas: pv.PolyData) -> tuple[str, str]:
    """Return the names of the two compared groups, TP_pain and TN_nopain for atlases written before groupings."""
    if "group_names" in atlas.field_data:
        first, second = (str(name) for name in np.asarray(atlas.field_data["group_names"])[:2])
        return first, second
    return "TP_pain", "TN_nopain"


def read_atlas(stats_dir: Path, bone: str) -> pv.PolyData:
    """Read ``atlas_<bone>.vtp`` from a stats folder."""
    stats_dir = Path(stats_dir)
    if not stats_dir.is_dir():
        raise InputError(f"Stats folder {stats_dir} not found; run 'kneeviewer cohort stats --out {stats_dir}' first.")
    path = stats_dir / f"atlas_{bone}.vtp"
    if not path.is_file():
        present = sorted(atlas.stem.removeprefix("atlas_") for atlas in stats_dir.glob("atlas_*.vtp"))
        raise InputError(
            f"Atlas {path} not found: the stats folder has {', '.join(present) or 'no bones'}. "
            f"Choose one of those, or run 'kneeviewer cohort stats' again with --bones {bone}."
        )
    return pv.read(path)


def render_bone(
    mesh: pv.PolyData,
    scalars: np.ndarray,
    cmap: str,
    clim: tuple[float, float],
    bone: str,
    contour_level: float | None = None,
    window_size: tuple[int, int] = (700, 700),
) -> np.ndarray:
    """Render ``mesh`` coloured by ``scalars`` off screen; return the cropped ``(h, w, 3)`` uint8 image.

    ``contour_level`` draws the iso-line of ``scalars`` at that value in black.
    """
    surface = pv.PolyData(mesh.points, mesh.faces)
    surface.point_data["value"] = np.asarray(scalars, dtype=float)
    plotter = pv.Plotter(off_screen=True, window_size=list(window_size))
    try:
        plotter.background_color = "white"
        plotter.add_mesh(surface, scalars="value", cmap=cmap, clim=clim, nan_color=NAN_COLOUR, show_scalar_bar=False, smooth_shading=True)
        finite = np.isfinite(surface.point_data["value"])
        if contour_level is not None and finite.any() and np.nanmax(scalars) > contour_level:
            filled = surface.copy()
            filled.point_data["value"] = np.where(finite, surface.point_data["value"], 0.0)
            lines = filled.contour([contour_level], scalars="value")
            if lines.n_points:
                plotter.add_mesh(lines, color="black", line_width=3, render_lines_as_tubes=False)
        direction, view_up = BONE_VIEWS.get(bone, BONE_VIEWS["femur"])
        centre = np.asarray(surface.center)
        distance = 3.0 * surface.length
        plotter.camera_position = [tuple(centre + distance * np.asarray(direction) / np.linalg.norm(direction)), tuple(centre), view_up]
        plotter.reset_camera()
        plotter.camera.zoom(1.25)
        image = plotter.screenshot(return_img=True)
    finally:
        plotter.close()
    return _crop_background(np.asarray(image)[..., :3])


def side_label(bone: str) -> str:
    """Return "lateral <-  -> medial" (or mirrored) for the horizontal axis of a bone's view.

    In right-knee convention medial is +x; the screen's right-hand direction is
    the cross product of the viewing direction and the view-up vector.
    """
    direction, view_up = BONE_VIEWS.get(bone, BONE_VIEWS["femur"])
    right = np.cross(-np.asarray(direction, float), np.asarray(view_up, float))
    return "lateral \u2190     \u2192 medial" if right[0] > 0 else "medial \u2190     \u2192 lateral"


def build_cohort_figure(atlas: pv.PolyData, bone: str, correction: str = "none", alpha: float = 0.05) -> Figure:
    """Compose the figure of one atlas bone; see the module docstring for the layout.

    Parameters
    ----------
    atlas
        Atlas bone with the arrays written by :func:`kneeviewer.stats.cohort.run_cohort_stats`.
    correction
        ``"none"``, ``"fdr"`` or ``"fwe"``: which p-values the third column shows.
    alpha
        Significance threshold marked on the p-value maps.
    """
    strategies = atlas_strategies(atlas)
    if not strategies:
        raise InputError(
            f"The {bone} atlas has no tp_mean_gradcam_<strategy> arrays, because 'cohort stats' skipped the SPM: "
            "too few knees in one of the two groups (see groups.json) or no Grad-CAM on the meshes. "
            "Run 'kneeviewer gradcam' and use more knees or models that classify more knees correctly."
        )
    first, second = atlas_group_names(atlas)
    n_tp = int(np.asarray(atlas.field_data["n_tp"])[0]) if "n_tp" in atlas.field_data else None
    n_tn = int(np.asarray(atlas.field_data["n_tn"])[0]) if "n_tn" in atlas.field_data else None
    threshold = -np.log10(alpha)
    rows = len(strategies)
    # A bare Figure (no pyplot) leaves the process's matplotlib backend alone, which the Qt app relies on.
    figure = Figure(figsize=(9.6, 3.0 * rows + 0.8), layout="constrained")
    grid = figure.add_gridspec(rows, 5, width_ratios=[1, 1, 0.06, 1, 0.06])
    for row, strategy in enumerate(strategies):
        tp = np.asarray(atlas.point_data[f"tp_mean_gradcam_{strategy}"], float)
        tn = np.asarray(atlas.point_data[f"tn_mean_gradcam_{strategy}"], float)
        p = np.asarray(atlas.point_data[p_array_name(strategy, correction)], float)
        both = np.concatenate([tp[np.isfinite(tp)], tn[np.isfinite(tn)]])
        gradcam_clim = (0.0, float(both.max()) if both.size and both.max() > 0 else 1.0)
        log_p = -np.log10(np.clip(p, 1e-300, 1.0))
        p_max = float(np.nanmax(log_p)) if np.isfinite(log_p).any() else 0.0
        p_clim = (0.0, max(2.0 * threshold, p_max))

        panels = [
            (0, tp, GRADCAM_CMAP, gradcam_clim, None, f"{first} mean" + (f" (n = {n_tp})" if n_tp is not None else "")),
            (1, tn, GRADCAM_CMAP, gradcam_clim, None, f"{second} mean" + (f" (n = {n_tn})" if n_tn is not None else "")),
            (3, log_p, P_CMAP, p_clim, threshold, f"-log10 p, {CORRECTIONS[correction]}"),
        ]
        for column, values, cmap, clim, level, title in panels:
            axis = figure.add_subplot(grid[row, column])
            axis.imshow(render_bone(atlas, values, cmap, clim, bone, level))
            axis.set_xticks([])
            axis.set_yticks([])
            for spine in axis.spines.values():
                spine.set_visible(False)
            if row == 0:
                axis.set_title(title, fontsize=10)
            if column == 0:
                axis.set_ylabel(f"Grad-CAM {strategy}", fontsize=11)
            if column == 3:
                # The count covers the whole bone, including vertices this one view hides.
                significant, tested = significant_vertices(p, alpha)
                axis.text(
                    0.5, 1.0, f"{significant:,} of {tested:,} vertices p < {alpha:g} (all sides)",
                    transform=axis.transAxes, ha="center", va="top", fontsize=8,
                )  # fmt: skip
            if row == rows - 1:
                axis.set_xlabel(side_label(bone), fontsize=9)
        gradcam_bar = figure.colorbar(
            ScalarMappable(Normalize(*gradcam_clim), GRADCAM_CMAP), cax=figure.add_subplot(grid[row, 2])
        )
        gradcam_bar.set_label("Grad-CAM (0..1)", fontsize=9)
        p_bar = figure.colorbar(ScalarMappable(Normalize(*p_clim), P_CMAP), cax=figure.add_subplot(grid[row, 4]))
        p_bar.ax.axhline(threshold, color="black", linewidth=2)
        p_bar.set_label(f"-log10 p (line: p = {alpha:g})", fontsize=9)
    figure.suptitle(
        f"{bone.capitalize()}: Grad-CAM of {first} versus {second}, linear model adjusted for age, sex and BMI "
        f"({CORRECTIONS[correction]} p-values; black contour p < {alpha:g}; grey: no value)",
        fontsize=10,
        wrap=True,
    )
    return figure


def save_cohort_figure(
    stats_dir: Path, bone: str, out: Path, dpi: int = 200, correction: str = "none", alpha: float = 0.05
) -> Path:
    """Write the cohort figure of ``bone`` to ``out`` (.png at ``dpi``, .svg or .pdf) and return the path."""
    out = Path(out)
    if out.suffix.lower() not in SUFFIXES:
        raise InputError(f"Figure file {out} must end in .png, .svg or .pdf.")
    if dpi < 10 or dpi > 2400:
        raise InputError(f"Resolution {dpi} dpi is out of range; use 10 to 2400.")
    figure = build_cohort_figure(read_atlas(stats_dir, bone), bone, correction, alpha)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=dpi)
    log.info("Wrote cohort figure %s", out)
    return out


def _crop_background(image: np.ndarray, margin: int = 6) -> np.ndarray:
    foreground = np.any(image < 250, axis=2)
    if not foreground.any():
        return image
    rows = np.flatnonzero(foreground.any(axis=1))
    cols = np.flatnonzero(foreground.any(axis=0))
    top, bottom = max(rows[0] - margin, 0), min(rows[-1] + margin + 1, image.shape[0])
    left, right = max(cols[0] - margin, 0), min(cols[-1] + margin + 1, image.shape[1])
    return image[top:bottom, left:right]
