"""Parameters of the phantom knee: seed, noise, grid, shape factors and thickness patches."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from kneeviewer.errors import InputError

GRIDS: tuple[str, ...] = ("oai", "coarse")
PHANTOM_BONES: tuple[str, ...] = ("femur", "tibia", "patella")
T2_PROFILES: tuple[str, ...] = ("smooth", "linear", "step")


@dataclass(frozen=True)
class ThicknessPatch:
    """A localised, smooth change of cartilage thickness on one bone.

    The change is ``delta_mm * 0.5 * (1 + cos(pi * r / radius_mm))`` for a
    surface distance ``r < radius_mm`` from the patch centre (a raised-cosine
    bump) and zero beyond. The patch mask is ``r < radius_mm`` on
    cartilage-bearing surface.

    Attributes
    ----------
    bone : str
        ``"femur"``, ``"tibia"`` or ``"patella"``.
    centre_mm : tuple of float or None
        LPS point in mm; it is projected onto the bone's articular surface.
    direction : tuple of float or None
        LPS direction from the bone's reference centre. The patch centre is
        the articular surface point whose direction from that centre is
        closest to this one. Give either ``centre_mm`` or ``direction``.
    radius_mm : float
        Radius of the patch, measured in 3D from its centre on the surface.
    delta_mm : float
        Thickness change at the centre; negative values thin the cartilage.
        Thickness never drops below 0.2 mm.
    """

    bone: str
    centre_mm: tuple[float, float, float] | None = None
    direction: tuple[float, float, float] | None = None
    radius_mm: float = 8.0
    delta_mm: float = -0.8

    def __post_init__(self) -> None:
        for name in ("centre_mm", "direction"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, tuple(float(x) for x in value))
        if self.bone not in PHANTOM_BONES:
            raise InputError(f"Thickness patch bone '{self.bone}' is invalid; use one of {', '.join(PHANTOM_BONES)}.")
        if (self.centre_mm is None) == (self.direction is None):
            raise InputError("A thickness patch needs exactly one of centre_mm and direction.")
        if self.radius_mm <= 0:
            raise InputError(f"Thickness patch radius must be positive, got {self.radius_mm} mm.")
        if self.direction is not None and not np.any(np.asarray(self.direction, dtype=float)):
            raise InputError("Thickness patch direction must be a non-zero vector.")

    def to_dict(self) -> dict:
        """Return a JSON-ready description."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class PhantomParams:
    """Everything that defines one phantom knee; equal parameters give identical knees.

    Attributes
    ----------
    seed : int
        Seed of the noise and, with ``random_shape``, of the shape draw.
    snr : float
        Signal-to-noise ratio of the DESS and of the first MSME echo in
        cartilage: noiseless cartilage signal divided by the standard
        deviation of the Gaussian noise in each of the real and imaginary
        channels before the magnitude is taken (Rician noise).
    grid : str
        ``"oai"`` (384 x 384 x 160, 0.365 x 0.365 x 0.7 mm) or ``"coarse"``
        (192 x 192 x 80, twice the spacing, same field of view).
    size_scale : float
        Scale of the whole knee about the joint centre.
    width_scale : float
        Extra mediolateral (x) scale.
    condyle_radius_scale : float
        Scale of the femoral condyle radius.
    thickness_scale : float
        Scale of every cartilage thickness field.
    thickness_phase : float
        Phase in radians that shifts the pattern of the thickness fields.
    random_shape : bool
        Multiply the four scales above by random factors drawn from ``seed``
        (about 5 % SD for shapes, 10 % for thickness) and draw the phase.
    patches : tuple of ThicknessPatch
        Localised thickness changes.
    t2_deep_ms, t2_superficial_ms : float
        Mean T2 of the bone-side and articular halves of the cartilage.
    t2_profile : str
        Shape of T2 along the depth; the mean of each half is always that
        half's T2 field. ``"smooth"``: flat near bone and at the articular
        surface, rising across mid-depth, as in real cartilage.
        ``"linear"``: rising linearly from bone to articular surface.
        ``"step"``: constant in each half (not realistic; kept to measure
        what the step costs). See :mod:`kneeviewer.phantom.tissue`.
    subchondral_plate_mm : float
        Thickness of the signal-free subchondral bone plate under the bone
        surface in the MSME (cortical bone is dark in spin-echo images);
        0 gives marrow signal up to the bone surface.
    msme_rotation_deg : float
        Rotation of the MSME grid relative to the DESS grid.
    msme_shift_mm : tuple of float
        Shift of the MSME grid centre relative to the DESS grid centre (LPS).
    """

    seed: int = 0
    snr: float = 50.0
    grid: str = "oai"
    size_scale: float = 1.0
    width_scale: float = 1.0
    condyle_radius_scale: float = 1.0
    thickness_scale: float = 1.0
    thickness_phase: float = 0.0
    random_shape: bool = False
    patches: tuple[ThicknessPatch, ...] = field(default_factory=tuple)
    t2_deep_ms: float = 30.0
    t2_superficial_ms: float = 50.0
    t2_profile: str = "smooth"
    subchondral_plate_mm: float = 1.0
    msme_rotation_deg: float = 4.0
    msme_shift_mm: tuple[float, float, float] = (1.5, -2.0, 2.5)

    def __post_init__(self) -> None:
        object.__setattr__(self, "patches", tuple(self.patches))
        if self.grid not in GRIDS:
            raise InputError(f"Phantom grid '{self.grid}' is invalid; use 'oai' or 'coarse'.")
        if self.t2_profile not in T2_PROFILES:
            raise InputError(f"Phantom t2_profile '{self.t2_profile}' is invalid; use 'smooth', 'linear' or 'step'.")
        if not 0.0 <= self.subchondral_plate_mm <= 3.0:
            raise InputError(f"Phantom subchondral_plate_mm must lie in [0, 3] mm, got {self.subchondral_plate_mm}.")
        if not self.snr > 0:
            raise InputError(f"Phantom SNR must be positive, got {self.snr}.")
        for name in ("size_scale", "width_scale", "condyle_radius_scale", "thickness_scale"):
            value = getattr(self, name)
            if not 0.7 <= value <= 1.3:
                raise InputError(f"Phantom {name} must lie in [0.7, 1.3] so that bones stay apart, got {value}.")

    def resolved(self) -> PhantomParams:
        """Return the parameters with the random shape draw applied (``random_shape`` then False)."""
        if not self.random_shape:
            return self
        rng = np.random.default_rng(np.random.SeedSequence([int(self.seed), 1]))
        draws = rng.normal(0.0, 1.0, size=4)
        factors = np.clip(1.0 + np.array([0.05, 0.04, 0.05, 0.10]) * draws, 0.85, 1.15)
        return dataclasses.replace(
            self,
            size_scale=float(np.clip(self.size_scale * factors[0], 0.7, 1.3)),
            width_scale=float(np.clip(self.width_scale * factors[1], 0.7, 1.3)),
            condyle_radius_scale=float(np.clip(self.condyle_radius_scale * factors[2], 0.7, 1.3)),
            thickness_scale=float(np.clip(self.thickness_scale * factors[3], 0.7, 1.3)),
            thickness_phase=float(self.thickness_phase + rng.uniform(-np.pi, np.pi)),
            random_shape=False,
        )

    def to_dict(self) -> dict:
        """Return a JSON-ready description."""
        data = dataclasses.asdict(self)
        data["patches"] = [patch.to_dict() for patch in self.patches]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> PhantomParams:
        """Build parameters from :meth:`to_dict` output."""
        data = dict(data)
        data["patches"] = tuple(ThicknessPatch(**patch) for patch in data.get("patches", ()))
        for key in ("msme_shift_mm",):
            if key in data:
                data[key] = tuple(data[key])
        return cls(**data)
