"""Inputs and parameters of the per-knee pipeline."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from kneeviewer.biomarkers.t2 import DEFAULT_MIN_R2, DEFAULT_T2_RANGE_MS


@dataclass(frozen=True)
class KneeInputs:
    """Files of one knee.

    Attributes
    ----------
    labels : Path
        Label map (NRRD, NIfTI or MHA) on the DESS grid.
    dess : Path or None
        DESS image: a file or a DICOM folder. Used for display and to check
        that the label map lies on its grid.
    msme : Path or None
        Folder of a multi-echo spin-echo DICOM series for T2 mapping.
    schema : Path or None
        Label schema TOML file; None uses the built-in schema.
    side : str or None
        ``"left"`` or ``"right"``; None reads DICOM laterality and falls back
        to right with a warning recorded in the summary.
    msme_series : str or None
        SeriesInstanceUID to pick when the MSME folder contains several series.
    """

    labels: Path
    dess: Path | None = None
    msme: Path | None = None
    schema: Path | None = None
    side: str | None = None
    msme_series: str | None = None

    def __post_init__(self) -> None:
        for name in ("labels", "dess", "msme", "schema"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Path):
                object.__setattr__(self, name, Path(value))

    def to_dict(self) -> dict:
        """Return a JSON-ready description."""
        return {key: (str(value) if isinstance(value, Path) else value) for key, value in asdict(self).items()}


@dataclass(frozen=True)
class PipelineParams:
    """Parameters of every stage; all of them are recorded in ``summary.json``.

    Attributes
    ----------
    target_vertices : int
        Approximate number of vertices of each bone mesh after decimation.
    smoothing_iterations : int
        Windowed-sinc smoothing iterations of the bone meshes.
    crop_shaft : bool
        Crop the femoral and tibial shafts to the mediolateral width.
    projection_radius_mm : float
        Radius of the projection cylinder around each vertex normal; the
        study used 0.729 mm, twice the DESS in-plane pixel size.
    max_projection_distance_mm : float
        How far out from the bone surface the cylinder reaches.
    t2_min_r2 : float
        Fits with a lower coefficient of determination are NaN.
    t2_range_ms : tuple of float
        Fitted T2 values outside this range are implausible and set to NaN.
    render : bool
        Write ``thickness.png`` with an off-screen rendering.
    """

    target_vertices: int = 20000
    smoothing_iterations: int = 15
    crop_shaft: bool = True
    projection_radius_mm: float = 0.729
    max_projection_distance_mm: float = 10.0
    t2_min_r2: float = DEFAULT_MIN_R2
    t2_range_ms: tuple[float, float] = DEFAULT_T2_RANGE_MS
    render: bool = True
    bones: tuple[str, ...] = field(default=("femur", "tibia", "patella"))

    def to_dict(self) -> dict:
        """Return a JSON-ready description."""
        data = asdict(self)
        data["t2_range_ms"] = list(self.t2_range_ms)
        data["bones"] = list(self.bones)
        return data
