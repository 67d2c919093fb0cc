"""Skip voxels far from every surface when sampling the analytic knee on a grid.

The grid is cut into blocks of 4 x 4 x 4 voxels and each bone's signed
distance is evaluated at the block centres. A signed distance is
1-Lipschitz. So a block whose centre lies farther from a bone than the
block's half-diagonal plus the cartilage and blur margins is wholly outside
that bone and its cartilage. A block deep enough inside is wholly bone.
Only the remaining blocks, near a surface, are sampled voxel by voxel.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from kneeviewer.io.volume import Geometry
from kneeviewer.phantom.anatomy import KneeAnatomy

BLOCK = 4


def classify_blocks(anatomy: KneeAnatomy, geometry: Geometry, margin_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """Return per-voxel masks ``near`` (needs sampling) and ``inside_label`` (bone label, 0 elsewhere).

    ``margin_mm`` widens the near band on both sides (the blur of the
    partial-volume fractions plus any offset at which points are sampled).
    """
    block_counts = -(-np.asarray(geometry.shape) // BLOCK)
    centres = np.stack(np.meshgrid(*[np.arange(n) * BLOCK + (BLOCK - 1) / 2.0 for n in block_counts], indexing="ij"), axis=-1)
    centres_mm = geometry.index_to_lps(centres.reshape(-1, 3))
    half_diagonal = float(np.linalg.norm((BLOCK - 1) / 2.0 * geometry.spacing_mm))

    near_blocks = np.zeros(len(centres_mm), dtype=bool)
    inside_blocks = np.zeros(len(centres_mm), dtype=np.uint8)
    for bone in anatomy.bones.values():
        distance, _ = bone.sdf(centres_mm)
        outer = half_diagonal + margin_mm + bone.max_thickness_mm()
        inner = half_diagonal + margin_mm
        near_blocks |= (distance > -inner) & (distance < outer)
        inside_blocks[distance <= -inner] = bone.label
    near = _expand(near_blocks.reshape(block_counts), geometry.shape)
    inside_label = _expand(inside_blocks.reshape(block_counts), geometry.shape)
    inside_label[near] = 0
    return near, inside_label


def near_point_chunks(geometry: Geometry, near: np.ndarray, chunk: int = 500_000) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(flat_indices, points_mm)`` of the near voxels, ``chunk`` at a time."""
    flat = np.flatnonzero(near)
    for start in range(0, flat.size, chunk):
        indices = flat[start : start + chunk]
        ijk = np.column_stack(np.unravel_index(indices, geometry.shape))
        yield indices, geometry.index_to_lps(ijk)


def _expand(blocks: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """Repeat every block value over its voxels and cut to the grid shape."""
    expanded = blocks
    for axis in range(3):
        expanded = np.repeat(expanded, BLOCK, axis=axis)
    return np.ascontiguousarray(expanded[: shape[0], : shape[1], : shape[2]])
