"""Analytic anatomy of the phantom knee: bones, cartilage plates and their truth fields.

Right-knee LPS convention, in mm: medial is +x, posterior +y, superior +z,
and the joint centre is the origin. The femur is the union of two condyles
(cylinders along x), a trochlea (a wider cylinder along x, anterior and
superior to the condyles) and a shaft. The tibia is a plateau (a rounded
box) on a shaft; the patella is a rounded box anterior to the trochlea.

Each cartilage plate lies on one primitive and is a shell of the bone:
a point ``q`` belongs to the plate when its nearest primitive carries the
plate, its foot point lies inside the plate outline and
``0 < sdf(q) < T(foot)``. Because the surface coordinates of a primitive are
constant along its normal, ``T(foot)`` is exactly the cartilage thickness
along the normal of the bone-surface point ``foot``. The bone-side half of
the shell is the deep layer, the articular half the superficial layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from kneeviewer.phantom.params import PhantomParams, ThicknessPatch
from kneeviewer.phantom.shapes import CylinderX, CylinderZ, RoundedBox

#: Label values of the built-in default schema.
LABELS: dict[str, int] = {
    "femoral_cartilage": 1,
    "medial_tibial_cartilage": 2,
    "lateral_tibial_cartilage": 3,
    "patellar_cartilage": 4,
    "femur": 5,
    "tibia": 6,
    "patella": 7,
}

#: Thinnest cartilage that a negative patch leaves, in mm.
MIN_THICKNESS_MM = 0.2


@dataclass(frozen=True)
class Plate:
    """One cartilage plate on one primitive of a bone.

    Attributes
    ----------
    structure : str
        Structure name of the schema (``femoral_cartilage`` and so on).
    component : int
        Index of the primitive in the bone's component list.
    centre_uv : tuple of float
        Centre of the outline in surface coordinates.
    half_uv : tuple of float
        Half extent of the outline in surface coordinates.
    ellipse : bool
        Elliptical outline if True, rectangular otherwise.
    phase : float
        Phase of this plate's thickness and T2 patterns, in radians.
    """

    structure: str
    component: int
    centre_uv: tuple[float, float]
    half_uv: tuple[float, float]
    ellipse: bool
    phase: float

    def normalised(self, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return normalised coordinates in [-1, 1] and a mask of points inside the outline."""
        un = (u - self.centre_uv[0]) / self.half_uv[0]
        vn = (v - self.centre_uv[1]) / self.half_uv[1]
        with np.errstate(invalid="ignore"):
            if self.ellipse:
                inside = un**2 + vn**2 <= 1.0
            else:
                inside = (np.abs(un) <= 1.0) & (np.abs(vn) <= 1.0)
        return un, vn, inside


@dataclass
class BoneModel:
    """One bone: primitives (their union is the bone) and the plates on them."""

    name: str
    components: list
    plates: list[Plate]
    reference_centre_mm: np.ndarray
    thickness_scale: float
    t2_deep_ms: float
    t2_superficial_ms: float
    patch_centres_mm: list[np.ndarray] = field(default_factory=list)
    patches: list[ThicknessPatch] = field(default_factory=list)

    @property
    def label(self) -> int:
        return LABELS[self.name]

    def sdf(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return the signed distance to the bone (exact outside) and the nearest primitive."""
        distances = np.stack([component.sdf(points) for component in self.components], axis=1)
        nearest = np.argmin(distances, axis=1)
        return distances[np.arange(len(points)), nearest], nearest

    def plate_fields(self, points: np.ndarray, nearest: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Evaluate the plate truth at the foot points of ``points`` on their nearest primitive.

        Returns
        -------
        dict
            ``plate`` (int index into ``plates``, -1 without cartilage),
            ``thickness_mm``, ``t2_deep_ms``, ``t2_superficial_ms`` and
            ``patch_mask``, each of shape (n,), NaN (or -1, False) where no
            plate lies under the point.
        """
        points = np.asarray(points, dtype=float).reshape(-1, 3)
        if nearest is None:
            nearest = self.sdf(points)[1]
        count = len(points)
        plate_index = np.full(count, -1)
        un_all = np.full(count, np.nan)
        vn_all = np.full(count, np.nan)
        foot_all = points.copy()
        for component_index, component in enumerate(self.components):
            selected = np.flatnonzero(nearest == component_index)
            if selected.size == 0:
                continue
            u, v, foot = component.surface_coordinates(points[selected])
            foot_all[selected] = foot
            for index, plate in enumerate(self.plates):
                if plate.component != component_index:
                    continue
                un, vn, inside = plate.normalised(u, v)
                plate_index[selected[inside]] = index
                un_all[selected[inside]] = un[inside]
                vn_all[selected[inside]] = vn[inside]
        thickness = np.full(count, np.nan)
        deep = np.full(count, np.nan)
        superficial = np.full(count, np.nan)
        for index, plate in enumerate(self.plates):
            on_plate = plate_index == index
            un, vn = un_all[on_plate], vn_all[on_plate]
            thickness[on_plate] = self.thickness_scale * _thickness_pattern(un, vn, plate.phase)
            deep[on_plate] = self.t2_deep_ms + 3.0 * np.cos(0.5 * np.pi * un + plate.phase) * np.cos(0.4 * np.pi * vn)
            superficial[on_plate] = self.t2_superficial_ms + 6.0 * np.sin(0.5 * np.pi * vn + 0.7 * plate.phase) * np.cos(
                0.3 * np.pi * un
            )
        patch_mask = np.zeros(count, dtype=bool)
        has_plate = plate_index >= 0
        for patch, centre in zip(self.patches, self.patch_centres_mm):
            distance = np.linalg.norm(foot_all - centre, axis=1)
            inside = has_plate & (distance < patch.radius_mm)
            bump = 0.5 * (1.0 + np.cos(np.pi * distance[inside] / patch.radius_mm))
            thickness[inside] = np.maximum(thickness[inside] + patch.delta_mm * bump, MIN_THICKNESS_MM)
            patch_mask |= inside
        return {
            "plate": plate_index,
            "thickness_mm": thickness,
            "t2_deep_ms": deep,
            "t2_superficial_ms": superficial,
            "patch_mask": patch_mask,
        }

    def max_thickness_mm(self) -> float:
        """Upper bound of the cartilage thickness on this bone, patches included."""
        increase = max([patch.delta_mm for patch in self.patches if patch.delta_mm > 0] + [0.0])
        return self.thickness_scale * 2.95 + increase

    def plate_sample_points(self, per_axis: int = 41) -> tuple[np.ndarray, np.ndarray]:
        """Return points on every plate's bone surface, shape (n, 3), and their plate index."""
        grid = np.linspace(-1.0, 1.0, per_axis)
        un, vn = np.meshgrid(grid, grid, indexing="ij")
        un, vn = un.ravel(), vn.ravel()
        points, owners = [], []
        for index, plate in enumerate(self.plates):
            keep = un**2 + vn**2 <= 1.0 if plate.ellipse else np.ones(un.shape, dtype=bool)
            u = plate.centre_uv[0] + plate.half_uv[0] * un[keep]
            v = plate.centre_uv[1] + plate.half_uv[1] * vn[keep]
            points.append(surface_point(self.components[plate.component], u, v))
            owners.append(np.full(int(keep.sum()), index))
        return np.concatenate(points), np.concatenate(owners)

    def bounds_mm(self, margin_mm: float) -> np.ndarray:
        """Return an LPS box (2, 3) holding the bone and its cartilage, widened by ``margin_mm``."""
        lows, highs = [], []
        for component in self.components:
            low, high = _component_bounds(component)
            lows.append(low)
            highs.append(high)
        return np.array([np.min(lows, axis=0) - margin_mm, np.max(highs, axis=0) + margin_mm])


def _thickness_pattern(un: np.ndarray, vn: np.ndarray, phase: float) -> np.ndarray:
    """Smooth thickness in mm over a plate, between 1.55 and 2.95 mm before scaling."""
    return (
        2.25
        + 0.55 * np.cos(0.7 * np.pi * un + phase) * np.cos(0.6 * np.pi * vn)
        + 0.15 * np.sin(np.pi * vn + 2.0 * phase)
    )


def surface_point(component, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Return the bone-surface point of a primitive at surface coordinates ``(u, v)``."""
    if isinstance(component, CylinderX):
        return np.column_stack(
            [u, component.y_mm + component.radius_mm * np.sin(v), component.z_mm - component.radius_mm * np.cos(v)]
        )
    if isinstance(component, RoundedBox):
        points = np.empty((len(u), 3))
        others = [axis for axis in range(3) if axis != component.face_axis]
        points[:, others[0]] = u
        points[:, others[1]] = v
        points[:, component.face_axis] = component.centre_mm[component.face_axis] + component.half_size_mm[component.face_axis]
        return points
    raise TypeError(f"{type(component).__name__} bears no cartilage.")


def _component_bounds(component) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(component, CylinderX):
        r = component.radius_mm
        return (
            np.array([component.x_min_mm, component.y_mm - r, component.z_mm - r]),
            np.array([component.x_max_mm, component.y_mm + r, component.z_mm + r]),
        )
    if isinstance(component, CylinderZ):
        r = component.radius_mm
        return (
            np.array([component.x_mm - r, component.y_mm - r, component.z_min_mm]),
            np.array([component.x_mm + r, component.y_mm + r, component.z_max_mm]),
        )
    centre, half = np.asarray(component.centre_mm), np.asarray(component.half_size_mm)
    return centre - half, centre + half


@dataclass
class KneeAnatomy:
    """The three bones of one phantom knee."""

    bones: dict[str, BoneModel]
    params: PhantomParams


def build_anatomy(params: PhantomParams) -> KneeAnatomy:
    """Build the analytic knee of (resolved) ``params``; see the module docstring for the layout."""
    params = params.resolved()
    s = params.size_scale
    sx = s * params.width_scale
    phase = params.thickness_phase
    radius = 20.0 * s * params.condyle_radius_scale
    femur_distal_z = 2.5 * s
    tibia_top_z = -7.5 * s
    condyle_y = 6.0 * s

    condyles = [
        CylinderX(condyle_y, femur_distal_z + radius, radius, 9.0 * sx, 33.0 * sx),
        CylinderX(condyle_y, femur_distal_z + radius, radius, -33.0 * sx, -9.0 * sx),
    ]
    trochlea = CylinderX(-6.0 * s, 30.0 * s, 17.0 * s, -30.0 * sx, 30.0 * sx)
    femur_shaft = CylinderZ(0.0, 0.0, 15.0 * s, 25.0 * s, 250.0)
    femur_plates = [
        Plate("femoral_cartilage", 0, (21.0 * sx, 0.65), (10.5 * sx, 1.25), False, phase),
        Plate("femoral_cartilage", 1, (-21.0 * sx, 0.65), (10.5 * sx, 1.25), False, phase + 1.1),
        Plate("femoral_cartilage", 2, (0.0, -1.45), (27.0 * sx, 0.65), False, phase + 2.3),
    ]

    plateau = RoundedBox((0.0, 2.0 * s, tibia_top_z - 11.0 * s), (38.0 * sx, 24.0 * s, 11.0 * s), 4.0 * s, 2)
    tibia_shaft = CylinderZ(0.0, 2.0 * s, 17.0 * s, -250.0, tibia_top_z - 15.0 * s)
    tibia_plates = [
        Plate("medial_tibial_cartilage", 0, (20.0 * sx, 2.0 * s), (13.0 * sx, 17.0 * s), True, phase + 0.4),
        Plate("lateral_tibial_cartilage", 0, (-20.0 * sx, 2.0 * s), (13.0 * sx, 17.0 * s), True, phase + 1.7),
    ]

    patella_box = RoundedBox((0.0, -43.0 * s, 31.0 * s), (20.0 * sx, 8.0 * s, 19.0 * s), 4.0 * s, 1)
    patella_plates = [Plate("patellar_cartilage", 0, (0.0, 31.0 * s), (15.0 * sx, 14.0 * s), True, phase + 2.9)]

    common = {
        "thickness_scale": params.thickness_scale,
        "t2_deep_ms": params.t2_deep_ms,
        "t2_superficial_ms": params.t2_superficial_ms,
    }
    bones = {
        "femur": BoneModel(
            "femur", [*condyles, trochlea, femur_shaft], femur_plates,
            np.array([0.0, condyle_y, femur_distal_z + radius]), **common,
        ),
        "tibia": BoneModel(
            "tibia", [plateau, tibia_shaft], tibia_plates, np.array(plateau.centre_mm), **common,
        ),
        "patella": BoneModel(
            "patella", [patella_box], patella_plates, np.array(patella_box.centre_mm), **common,
        ),
    }
    for patch in params.patches:
        bone = bones[patch.bone]
        bone.patches.append(patch)
        bone.patch_centres_mm.append(_patch_centre(bone, patch))
    return KneeAnatomy(bones, params)


def _patch_centre(bone: BoneModel, patch: ThicknessPatch) -> np.ndarray:
    """Place a patch centre on the bone's articular surface."""
    if patch.centre_mm is not None:
        point = np.asarray(patch.centre_mm, dtype=float).reshape(1, 3)
        _, nearest = bone.sdf(point)
        _, _, foot = bone.components[int(nearest[0])].surface_coordinates(point)
        return foot[0]
    direction = np.asarray(patch.direction, dtype=float)
    direction = direction / np.linalg.norm(direction)
    samples, _ = bone.plate_sample_points(61)
    offsets = samples - bone.reference_centre_mm
    cosines = offsets @ direction / np.linalg.norm(offsets, axis=1)
    return samples[int(np.argmax(cosines))]
