"""Primitive solids of the phantom bones, given by signed distance functions.

Each primitive returns the signed distance in mm (negative inside) and, for
a point near its surface, the foot point on the surface and two surface
coordinates ``(u, v)`` that stay constant along the surface normal. The
cartilage plates are parametrised by these coordinates, so the thickness
along the normal from any bone-surface point is known exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CylinderX:
    """Capped cylinder with its axis along LPS x (a femoral condyle or the trochlea).

    Surface coordinates: ``u = x`` in mm and ``v = alpha``, the angle in the
    sagittal plane around the axis, 0 toward -z (distal), +pi/2 toward +y
    (posterior), -pi/2 toward -y (anterior).
    """

    y_mm: float
    z_mm: float
    radius_mm: float
    x_min_mm: float
    x_max_mm: float

    def sdf(self, points: np.ndarray) -> np.ndarray:
        radial = np.hypot(points[:, 1] - self.y_mm, points[:, 2] - self.z_mm) - self.radius_mm
        half = 0.5 * (self.x_max_mm - self.x_min_mm)
        axial = np.abs(points[:, 0] - 0.5 * (self.x_min_mm + self.x_max_mm)) - half
        return _capped_distance(radial, axial)

    def surface_coordinates(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        dy = points[:, 1] - self.y_mm
        dz = points[:, 2] - self.z_mm
        alpha = np.arctan2(dy, -dz)
        foot = np.column_stack(
            [points[:, 0], self.y_mm + self.radius_mm * np.sin(alpha), self.z_mm - self.radius_mm * np.cos(alpha)]
        )
        return points[:, 0].copy(), alpha, foot


@dataclass(frozen=True)
class CylinderZ:
    """Capped cylinder with its axis along LPS z (a bone shaft). It bears no cartilage."""

    x_mm: float
    y_mm: float
    radius_mm: float
    z_min_mm: float
    z_max_mm: float

    def sdf(self, points: np.ndarray) -> np.ndarray:
        radial = np.hypot(points[:, 0] - self.x_mm, points[:, 1] - self.y_mm) - self.radius_mm
        half = 0.5 * (self.z_max_mm - self.z_min_mm)
        axial = np.abs(points[:, 2] - 0.5 * (self.z_min_mm + self.z_max_mm)) - half
        return _capped_distance(radial, axial)

    def surface_coordinates(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        nan = np.full(len(points), np.nan)
        return nan, nan.copy(), points.copy()


@dataclass(frozen=True)
class RoundedBox:
    """Axis-aligned box with rounded edges (the tibial plateau, the patella).

    Cartilage lies on the flat face whose outward normal is ``+face_axis``
    (2 = +z for the tibial plateau, 1 = +y for the posterior patella).
    Surface coordinates are the two other LPS coordinates of the point, in
    increasing axis order. They equal the foot point's coordinates on the flat
    part of that face. They are NaN for points deeper than the rounding below
    that face (the far side of the box).
    """

    centre_mm: tuple[float, float, float]
    half_size_mm: tuple[float, float, float]
    rounding_mm: float
    face_axis: int

    def sdf(self, points: np.ndarray) -> np.ndarray:
        centre = np.asarray(self.centre_mm)
        inner = np.asarray(self.half_size_mm) - self.rounding_mm
        q = np.abs(points - centre) - inner
        outside = np.linalg.norm(np.maximum(q, 0.0), axis=1)
        inside = np.minimum(q.max(axis=1), 0.0)
        return outside + inside - self.rounding_mm

    def surface_coordinates(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        others = [axis for axis in range(3) if axis != self.face_axis]
        face_level = self.centre_mm[self.face_axis] + self.half_size_mm[self.face_axis]
        foot = points.copy()
        foot[:, self.face_axis] = face_level
        u = points[:, others[0]].copy()
        v = points[:, others[1]].copy()
        # Points on the far side of the box share (u, v) with the face but bear no cartilage.
        far_side = points[:, self.face_axis] < face_level - self.rounding_mm
        u[far_side] = np.nan
        v[far_side] = np.nan
        return u, v, foot


def _capped_distance(radial: np.ndarray, axial: np.ndarray) -> np.ndarray:
    """Combine radial and axial distances into the exact distance of a capped cylinder."""
    outside = np.hypot(np.maximum(radial, 0.0), np.maximum(axial, 0.0))
    inside = np.minimum(np.maximum(radial, axial), 0.0)
    return outside + inside
