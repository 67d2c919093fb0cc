"""Medial and lateral compartments of a bone surface.

In right-knee convention (LPS) the medial side is toward +x. The split is a
sagittal plane through the x of the bone's volumetric centroid (of the
shaft-cropped mask) for all three bones. For the femur this plane runs
through the intercondylar notch: on the sample right knee the centroid lies
within about 1 mm of the highest point of the notch roof (measured on the
distal profile of the posterior condyles).
"""

from __future__ import annotations

import numpy as np

from kneeviewer.errors import InputError

BONES: tuple[str, ...] = ("femur", "tibia", "patella")
COMPARTMENTS: tuple[str, ...] = ("medial", "lateral")


def compartment_labels(points_mm: np.ndarray, bone: str, centroid_mm: np.ndarray) -> np.ndarray:
    """Label each surface point medial or lateral.

    Parameters
    ----------
    points_mm : ndarray, shape (n, 3)
        LPS points of one bone surface in right-knee convention.
    bone : {"femur", "tibia", "patella"}
        Which bone (all three use the centroid plane).
    centroid_mm : ndarray, shape (3,)
        Volumetric centroid of the bone.

    Returns
    -------
    ndarray of str, shape (n,)
        ``"medial"`` where x is greater than the centroid's x, else ``"lateral"``.
    """
    if bone not in BONES:
        raise InputError(f"Unknown bone '{bone}'; expected femur, tibia or patella.")
    points_mm = np.asarray(points_mm, dtype=float).reshape(-1, 3)
    split_x_mm = float(np.asarray(centroid_mm, dtype=float).reshape(3)[0])
    return np.where(points_mm[:, 0] > split_x_mm, "medial", "lateral")


def compartment_means(values: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Return the mean of ``values`` over non-NaN points of each compartment.

    Parameters
    ----------
    values : ndarray, shape (n,)
        Per-vertex values (NaN means no value).
    labels : ndarray of str, shape (n,)
        Output of :func:`compartment_labels`.

    Returns
    -------
    dict
        ``{"medial": mean, "lateral": mean}``, NaN for a compartment without values.
    """
    values = np.asarray(values, dtype=float).ravel()
    labels = np.asarray(labels).ravel()
    if values.shape != labels.shape:
        raise InputError(f"Got {values.size} values but {labels.size} compartment labels; they must match.")
    means: dict[str, float] = {}
    for compartment in COMPARTMENTS:
        selected = values[(labels == compartment) & np.isfinite(values)]
        means[compartment] = float(selected.mean()) if selected.size else float("nan")
    return means
