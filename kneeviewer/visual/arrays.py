"""Display names, units and default colour maps of the per-vertex biomarker arrays.

The 3D view, the spherical map view and ``kneeviewer render`` share these
so that a legend reads the same everywhere, e.g. "Cartilage thickness (mm)".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

#: Colour shown for vertices without a value (NaN), as an RGB hex string.
NAN_COLOR = "#9a9a9a"

#: Bones in display order.
BONES = ("femur", "tibia", "patella")


@dataclass(frozen=True)
class ArrayInfo:
    """How one point array is labelled and coloured.

    Attributes
    ----------
    name : str
        Point array name, e.g. ``"thickness_mm"``.
    label : str
        Human-readable quantity, e.g. ``"Cartilage thickness"``.
    unit : str
        Unit shown in brackets in the legend; empty for unitless values.
    cmap : str
        Default matplotlib colour map name.
    """

    name: str
    label: str
    unit: str
    cmap: str

    @property
    def title(self) -> str:
        """Legend title with the unit, e.g. ``"Cartilage thickness (mm)"``."""
        return f"{self.label} ({self.unit})" if self.unit else self.label


_KNOWN = {
    "thickness_mm": ArrayInfo("thickness_mm", "Cartilage thickness", "mm", "viridis"),
    "t2_ms": ArrayInfo("t2_ms", "T2, full depth", "ms", "magma"),
    "t2_deep_ms": ArrayInfo("t2_deep_ms", "T2, deep layer", "ms", "magma"),
    "t2_superficial_ms": ArrayInfo("t2_superficial_ms", "T2, superficial layer", "ms", "magma"),
    "bone_shape_mm": ArrayInfo("bone_shape_mm", "Bone shape (distance to centroid)", "mm", "cividis"),
}

#: Order of the known arrays in selectors; Grad-CAM arrays follow.
ARRAY_ORDER = tuple(_KNOWN)

_UNIT_SUFFIXES = {"_mm": "mm", "_ms": "ms", "_mm2": "mm^2", "_mm3": "mm^3"}


def describe_array(name: str) -> ArrayInfo:
    """Return the label, unit and default colour map of a point array.

    Known biomarkers have fixed labels; ``gradcam_<strategy>`` arrays are
    unitless relevance in [0, 1]; any other name is shown as is, with the unit
    taken from a ``_mm`` or ``_ms`` suffix.
    """
    if name in _KNOWN:
        return _KNOWN[name]
    if name.startswith("gradcam_"):
        strategy = name.removeprefix("gradcam_").replace("_", " ")
        return ArrayInfo(name, f"Grad-CAM relevance, {strategy}", "", "inferno")
    for suffix, unit in _UNIT_SUFFIXES.items():
        if name.endswith(suffix):
            return ArrayInfo(name, name.removesuffix(suffix).replace("_", " ").capitalize(), unit, "viridis")
    return ArrayInfo(name, name.replace("_", " ").capitalize(), "", "viridis")


def is_biomarker(name: str) -> bool:
    """Tell whether a point array is a biomarker worth offering in a selector."""
    return name in _KNOWN or name.startswith("gradcam_")


def available_arrays(meshes: Mapping[str, object]) -> list[str]:
    """List the biomarker arrays present on any mesh, known ones first, then Grad-CAM by name.

    Parameters
    ----------
    meshes : mapping of str to pyvista.PolyData
        Bone name to mesh.
    """
    found: set[str] = set()
    for mesh in meshes.values():
        found.update(name for name in mesh.point_data.keys() if is_biomarker(name))
    known = [name for name in ARRAY_ORDER if name in found]
    return known + sorted(found - set(known))


def robust_range(values: Iterable[np.ndarray], percentiles: tuple[float, float] = (2.0, 98.0)) -> tuple[float, float]:
    """Return a colour range from the pooled finite values of several arrays.

    The 2nd and 98th percentiles keep a few outlier vertices (a failed T2 fit
    at 200 ms, a thickness spike at a cartilage edge) from washing out the
    colour scale. Returns ``(0.0, 1.0)`` when no value is finite.
    """
    pooled = np.concatenate([np.asarray(v, dtype=float).ravel() for v in values] or [np.empty(0)])
    finite = pooled[np.isfinite(pooled)]
    if finite.size == 0:
        return (0.0, 1.0)
    low, high = np.percentile(finite, percentiles)
    if high <= low:
        high = low + 1.0
    return (float(low), float(high))
