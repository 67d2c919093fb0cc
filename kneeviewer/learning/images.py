"""Three-channel 8-bit spherical images for the chronic-pain models.

Each knee's results folder holds ``spherical_maps.npz`` with 224 x 224
float32 maps named ``<bone>/<array>`` (NaN where there is no value). This
module scales every bone and biomarker by its minimum and maximum over the
whole cohort (group normalisation, not per knee), stacks three maps per
strategy and stores one uint8 memory-mapped ``.npy`` file per bone and
strategy with shape (n_knees, 3, 224, 224), plus ``index.csv`` that names
the knee behind each row.

References
----------
Morales AG et al. Uncovering associations between data-driven learned qMRI
biomarkers and chronic pain. Sci Rep 11:21989 (2021).
doi:10.1038/s41598-021-01111-x
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from kneeviewer.errors import InputError
from kneeviewer.progress import CancelCheck, ProgressCallback, check_cancel, report

log = logging.getLogger(__name__)

BONES = ("femur", "tibia", "patella")
IMAGE_SIZE_PX = 224
MAPS_FILE = "spherical_maps.npz"

#: Strategy name -> the point array behind each of the three channels
#: (None is a channel of zeros).
STRATEGIES: dict[str, tuple[str | None, str | None, str | None]] = {
    "thickness": ("thickness_mm", "thickness_mm", "thickness_mm"),
    "shape": ("bone_shape_mm", "bone_shape_mm", "bone_shape_mm"),
    "t2": ("t2_deep_ms", "t2_superficial_ms", "t2_ms"),
    "thickness_shape": ("thickness_mm", "bone_shape_mm", None),
    "t2_thickness": ("t2_deep_ms", "t2_superficial_ms", "thickness_mm"),
    "all": ("thickness_mm", "bone_shape_mm", "t2_ms"),
}

#: Every biomarker that some strategy reads.
BIOMARKERS = tuple(sorted({name for channels in STRATEGIES.values() for name in channels if name is not None}))


def check_bone(bone: str) -> str:
    """Return ``bone`` or raise :class:`InputError` naming the valid bones."""
    if bone not in BONES:
        raise InputError(f"Unknown bone {bone!r}; expected one of {', '.join(BONES)}.")
    return bone


def check_strategy(strategy: str) -> str:
    """Return ``strategy`` or raise :class:`InputError` naming the valid strategies."""
    if strategy not in STRATEGIES:
        raise InputError(f"Unknown image strategy {strategy!r}; expected one of {', '.join(STRATEGIES)}.")
    return strategy


@dataclass(frozen=True)
class GroupRange:
    """Minimum and maximum of one bone's biomarker over a cohort, in the biomarker's unit."""

    minimum: float
    maximum: float


def scale_to_uint8(values: np.ndarray, value_range: GroupRange) -> np.ndarray:
    """Scale a map linearly from ``value_range`` to 0..255.

    Parameters
    ----------
    values : ndarray, any shape
        Map in the biomarker's unit; NaN where there is no value.
    value_range : GroupRange
        Cohort minimum and maximum of this bone and biomarker.

    Returns
    -------
    ndarray of uint8, same shape
        NaN becomes 0, the same as the group minimum, because a CNN input
        needs a number everywhere.
    """
    span = value_range.maximum - value_range.minimum
    if not np.isfinite(span) or span <= 0:
        scaled = np.zeros(values.shape, dtype=np.float64)
    else:
        scaled = (np.asarray(values, dtype=np.float64) - value_range.minimum) / span
    scaled = np.nan_to_num(scaled, nan=0.0)
    return np.round(np.clip(scaled, 0.0, 1.0) * 255.0).astype(np.uint8)


def load_maps(results_dir: Path) -> dict[str, np.ndarray]:
    """Read ``spherical_maps.npz`` of one knee's results folder.

    Returns
    -------
    dict
        ``"<bone>/<array>"`` -> (224, 224) float32 map, NaN where no value.
    """
    path = Path(results_dir) / MAPS_FILE
    if not path.is_file():
        raise InputError(f"Spherical maps {path} not found; run the knee pipeline on that knee first.")
    with np.load(path) as archive:
        return {key: archive[key].astype(np.float32) for key in archive.files}


def compute_group_ranges(
    results_dirs: Sequence[Path], bones: Sequence[str] = BONES, biomarkers: Sequence[str] = BIOMARKERS
) -> dict[str, GroupRange]:
    """Compute the cohort minimum and maximum of every bone and biomarker.

    Returns
    -------
    dict
        ``"<bone>/<array>"`` -> :class:`GroupRange`; maps missing in every knee
        get a range of NaN and later scale to zeros.
    """
    minima = {f"{bone}/{name}": np.inf for bone in bones for name in biomarkers}
    maxima = {key: -np.inf for key in minima}
    for results_dir in results_dirs:
        maps = load_maps(results_dir)
        for key in minima:
            values = maps.get(key)
            if values is None or not np.isfinite(values).any():
                continue
            minima[key] = min(minima[key], float(np.nanmin(values)))
            maxima[key] = max(maxima[key], float(np.nanmax(values)))
    ranges = {}
    for key in minima:
        if np.isfinite(minima[key]):
            ranges[key] = GroupRange(minima[key], maxima[key])
        else:
            ranges[key] = GroupRange(float("nan"), float("nan"))
    return ranges


def compose_image(maps: dict[str, np.ndarray], bone: str, strategy: str, ranges: dict[str, GroupRange]) -> np.ndarray:
    """Stack one knee's three channels for ``bone`` and ``strategy``.

    Returns
    -------
    ndarray of uint8, shape (3, 224, 224)
    """
    image = np.zeros((3, IMAGE_SIZE_PX, IMAGE_SIZE_PX), dtype=np.uint8)
    for channel, name in enumerate(STRATEGIES[strategy]):
        if name is None:
            continue
        key = f"{bone}/{name}"
        values = maps.get(key)
        if values is None:
            log.debug("Map %s missing; channel %d stays zero", key, channel)
            continue
        image[channel] = scale_to_uint8(values, ranges[key])
    return image


def build_image_store(
    table: pd.DataFrame,
    out_dir: Path,
    bones: Sequence[str] = BONES,
    strategies: Sequence[str] = tuple(STRATEGIES),
    progress: ProgressCallback | None = None,
    should_cancel: CancelCheck | None = None,
) -> Path:
    """Write the group-normalised images of a cohort.

    Parameters
    ----------
    table : DataFrame
        One row per knee and timepoint with a ``results_dir`` column (an
        absolute path or one relative to ``out_dir``'s parent) and the
        cohort columns, which are copied to ``index.csv``.
    out_dir : Path
        Folder for ``<bone>_<strategy>.npy`` (uint8, n x 3 x 224 x 224),
        ``index.csv`` and ``normalisation.json``.

    Returns
    -------
    Path
        ``out_dir``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    base = out_dir.parent
    results_dirs = [_resolve(base, value) for value in table["results_dir"]]
    report(progress, "images", 0.0, "group minimum and maximum")
    ranges = compute_group_ranges(results_dirs, bones)
    stores = {
        (bone, strategy): np.lib.format.open_memmap(
            out_dir / f"{bone}_{strategy}.npy",
            mode="w+",
            dtype=np.uint8,
            shape=(len(results_dirs), 3, IMAGE_SIZE_PX, IMAGE_SIZE_PX),
        )
        for bone in bones
        for strategy in strategies
    }
    for row, results_dir in enumerate(results_dirs):
        check_cancel(should_cancel, "images")
        maps = load_maps(results_dir)
        for (bone, strategy), store in stores.items():
            store[row] = compose_image(maps, bone, strategy, ranges)
        report(progress, "images", (row + 1) / len(results_dirs), f"knee {row + 1} of {len(results_dirs)}")
    for store in stores.values():
        store.flush()
    del stores
    table.reset_index(drop=True).to_csv(out_dir / "index.csv", index_label="row")
    (out_dir / "normalisation.json").write_text(
        json.dumps({key: [r.minimum, r.maximum] for key, r in ranges.items()}, indent=1)
    )
    log.info("Wrote images of %d knees to %s", len(results_dirs), out_dir)
    return out_dir


def _resolve(base: Path, value: str | Path) -> Path:
    path = Path(value)
    return path if path.is_absolute() else base / path


class ImageStore:
    """Read access to the images written by :func:`build_image_store`.

    Parameters
    ----------
    images_dir : Path
        The folder with ``index.csv`` and the ``.npy`` files.
    """

    def __init__(self, images_dir: Path) -> None:
        self.images_dir = Path(images_dir)
        index_path = self.images_dir / "index.csv"
        if not self.images_dir.parent.is_dir():
            raise InputError(
                f"Cohort folder {self.images_dir.parent} not found; build one with 'kneeviewer cohort phantom --out "
                f"{self.images_dir.parent} ...' or give the folder of an existing cohort."
            )
        if not index_path.is_file():
            raise InputError(
                f"Image index {index_path} not found; build the images with 'kneeviewer cohort phantom' "
                "or kneeviewer.learning.images.build_image_store first."
            )
        self.index = pd.read_csv(index_path, index_col="row")

    def images(self, bone: str, strategy: str) -> np.ndarray:
        """Return the read-only memmap, uint8 of shape (n_knees, 3, 224, 224)."""
        path = self.images_dir / f"{check_bone(bone)}_{check_strategy(strategy)}.npy"
        if not path.is_file():
            raise InputError(f"Images {path} not found; rebuild the image store with this bone and strategy.")
        return np.load(path, mmap_mode="r")

    def results_dir(self, row: int) -> Path:
        """Return the results folder of the knee in ``row``."""
        return _resolve(self.images_dir.parent, self.index.loc[row, "results_dir"])
