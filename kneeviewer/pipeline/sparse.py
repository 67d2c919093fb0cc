"""Compact storage of voxel fields that have values only inside cartilage."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def save_sparse_field(path: Path, field: np.ndarray) -> None:
    """Store the finite voxels of ``field`` (flat indices and float32 values)."""
    flat = field.ravel()
    indices = np.flatnonzero(np.isfinite(flat))
    np.savez_compressed(path, shape=np.asarray(field.shape), indices=indices.astype(np.int64), values=flat[indices].astype(np.float32))


def load_sparse_field(path: Path) -> np.ndarray:
    """Rebuild a float32 voxel field saved by :func:`save_sparse_field` (NaN elsewhere)."""
    with np.load(path) as stored:
        field = np.full(int(np.prod(stored["shape"])), np.nan, dtype=np.float32)
        field[stored["indices"]] = stored["values"]
        return field.reshape(tuple(int(n) for n in stored["shape"]))
