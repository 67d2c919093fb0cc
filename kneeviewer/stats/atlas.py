"""Atlas bones: the reference knee per bone and every knee's arrays resampled onto it."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyvista as pv

from kneeviewer.errors import InputError
from kneeviewer.progress import CancelCheck, ProgressCallback, check_cancel, report
from kneeviewer.stats.correspondence import register_surfaces, resample_to_reference

log = logging.getLogger(__name__)

#: Demographic columns compared when choosing the reference knee.
DEMOGRAPHIC_COLUMNS = ("age", "sex", "bmi")


def choose_reference(demographics: pd.DataFrame, target: pd.Series | None = None) -> object:
    """Return the index of the knee whose demographics are closest to ``target``.

    Each column is standardised by its standard deviation over the knees
    (a constant column is left out). The knee with the smallest Euclidean
    distance to the target wins, and ties go to the first knee.

    Parameters
    ----------
    demographics
        One row per knee with columns ``age``, ``sex`` and ``bmi``.
    target
        The values to match; None uses the column means (the test-set mean
        when ``demographics`` contains the test knees).
    """
    absent = [c for c in DEMOGRAPHIC_COLUMNS if c not in demographics.columns]
    if absent:
        raise InputError(f"Columns {absent} are needed to choose the reference knee; found {list(demographics.columns)}.")
    table = demographics[list(DEMOGRAPHIC_COLUMNS)].astype(float).dropna()
    if table.empty:
        raise InputError("No knee has age, sex and BMI; the reference knee cannot be chosen.")
    target = table.mean() if target is None else target[list(DEMOGRAPHIC_COLUMNS)].astype(float)
    spread = table.std(ddof=0).replace(0.0, np.nan)
    distance = (((table - target) / spread) ** 2).sum(axis=1, min_count=0)
    return distance.idxmin()


def map_onto_atlas(
    atlas: pv.PolyData,
    knees: Sequence[pv.PolyData],
    array_names: Sequence[str],
    n_samples: int = 2500,
    seed: int = 0,
    progress: ProgressCallback | None = None,
    should_cancel: CancelCheck | None = None,
    **registration,
) -> dict[str, np.ndarray]:
    """Register every knee onto the atlas bone and resample the named point arrays.

    Parameters
    ----------
    atlas
        Reference bone in LPS mm.
    knees
        The same bone of every knee. The atlas knee itself may be in the list;
        it is registered like any other, which checks the identity map.
    array_names
        Point arrays to carry; a knee without one of them gets NaN.
    registration
        Extra keyword arguments of :func:`register_surfaces`.

    Returns
    -------
    dict
        Array name to ``(n_knees, n_atlas_vertices)`` values on the atlas, NaN where none.
    """
    atlas_points = np.asarray(atlas.points, dtype=float)
    out = {name: np.full((len(knees), atlas.n_points), np.nan) for name in array_names}
    for number, knee in enumerate(knees):
        check_cancel(should_cancel, "atlas")
        report(progress, "atlas", number / max(len(knees), 1), f"registering knee {number + 1} of {len(knees)}")
        correspondence = register_surfaces(knee, atlas, n_samples=n_samples, seed=seed, **registration)
        warped = correspondence.warp(np.asarray(knee.points, dtype=float))
        present = [name for name in array_names if name in knee.point_data]
        if not present:
            continue
        values = np.column_stack([np.asarray(knee.point_data[name], dtype=float) for name in present])
        resampled = resample_to_reference(values, warped, atlas_points)
        for column, name in enumerate(present):
            out[name][number] = resampled[:, column]
    report(progress, "atlas", 1.0, f"registered {len(knees)} knees")
    return out
