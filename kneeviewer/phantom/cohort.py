"""Phantom cohorts for the chronic-pain models, with a planted cartilage pattern.

Every patient gets one right knee, seen at one or more yearly timepoints
(``side`` is always ``right`` because the phantom is built in right-knee
convention). Demographics follow the OAI pain cohort: age 63.9 +/- 9.4
years, 47% men, BMI 28 +/- 5 kg/m^2. A latent OA severity rises with age
and BMI and drives the KL grade, the OARSI joint space narrowing (JSN)
grades, the minimum medial joint space width and a global cartilage
thinning.

Chronic pain is drawn from a logistic model::

    logit = -0.45 + k * (risk_mm - 1) - 0.5 * k * (protective_mm - 1)
            + 0.04 * (age - 63.9) + 0.06 * (bmi - 28)

where ``risk_mm`` is the size of a local cartilage change in the
weight-bearing zone of the medial femoral condyle, ``protective_mm`` the
depth of a thinning in a lateral anterior (trochlear) zone of the femur, both
drawn uniformly in [0, 2] mm per patient (the risk one grows by 0.1 mm a
year), and ``k`` is 10 (``strong``), 2 (``weak``) per mm or 0 (``none``,
which also plants nothing). The risk change is a focal swelling
(``risk_pattern="swelling"``, the default: thicker cartilage, as in early
OA) or a thinning (``"thinning"``). The signed changes at the zone centres
are the columns ``risk_delta_mm`` and ``protective_delta_mm``. The two zones
are saved as per-vertex masks of each bone's results mesh in
``truth/<knee_id>.npz`` (keys ``<bone>/risk_zone`` and
``<bone>/protective_zone``).

Why swelling by default: Grad-CAM keeps only the positive evidence for the
pain class, the places where features that raise the pain score are active.
A swelling is a bright spot in the thickness image and the pain Grad-CAM
sits on it (mean inside the risk zone about 3 times the mean outside, in
docs/learning.md). A thinning is a dark spot: the evidence for pain is an
absence of signal, and the pain Grad-CAM spreads over the rest of the image
(ratio 0.4 to 1.5) although the models classify about as well. The thinning
pattern is kept to show that limit of Grad-CAM.

Each knee is written as a phantom (label map, DESS, MSME) and run through
the per-knee pipeline, or, with ``source="analytic"``, its meshes and
spherical maps are made directly from the phantom's analytic truth fields
(no images, no segmentation, no T2 fitting), which is much faster.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from kneeviewer.errors import InputError, PipelineError
from kneeviewer.phantom.params import PhantomParams, ThicknessPatch
from kneeviewer.progress import CancelCheck, ProgressCallback, check_cancel, report, sub_progress

log = logging.getLogger(__name__)

EFFECTS = {"strong": 10.0, "weak": 2.0, "none": 0.0}
#: Sign of the thickness change in the risk zone per pattern.
RISK_PATTERNS = {"swelling": 1.0, "thinning": -1.0}
SOURCES = ("pipeline", "analytic")
BONES = ("femur", "tibia", "patella")

#: Direction from the femur's reference centre (the condyle axis) to the
#: distal, weight-bearing point of the medial condyle (right knee: medial +x).
RISK_DIRECTION = (1.0, 0.0, -1.0)
#: Direction to the lateral (-x), anterior (-y) part of the trochlea.
PROTECTIVE_DIRECTION = (-0.5, -0.85, 0.15)
ZONE_RADIUS_MM = 15.0
MAX_THINNING_MM = 2.0
RISK_PROGRESSION_MM_PER_YEAR = 0.1

COHORT_COLUMNS = (
    "patient_id", "timepoint", "side", "age", "sex", "bmi", "kl", "jsn_medial", "jsn_lateral",
    "min_jsw_medial_mm", "oa", "pain", "risk_delta_mm", "protective_delta_mm", "results_dir",
)  # fmt: skip


@dataclass(frozen=True)
class CohortParams:
    """Settings of a phantom cohort.

    Attributes
    ----------
    n_patients, n_timepoints : one right knee per patient, yearly timepoints.
    effect : "strong", "weak" or "none" (see the module docstring).
    risk_pattern : "swelling" or "thinning", the change in the risk zone.
    seed : seeds every draw; equal parameters give an identical cohort.
    grid : phantom image grid, "coarse" or "oai".
    target_vertices : approximate vertices of each bone mesh.
    source : "pipeline" (phantom images through the per-knee pipeline) or
        "analytic" (meshes and maps straight from the analytic fields).
    bones : bones to mesh, map and turn into images; fewer bones make
        small test cohorts faster.
    """

    n_patients: int
    n_timepoints: int = 1
    effect: str = "strong"
    risk_pattern: str = "swelling"
    seed: int = 0
    grid: str = "coarse"
    target_vertices: int = 2000
    source: str = "pipeline"
    bones: tuple[str, ...] = BONES

    def __post_init__(self) -> None:
        object.__setattr__(self, "bones", tuple(self.bones))
        if not self.bones or not set(self.bones) <= set(BONES):
            raise InputError(f"Bones {self.bones} are invalid; choose among {', '.join(BONES)}.")

        if self.n_patients < 3:
            raise InputError(f"A cohort needs at least 3 patients for train, validation and test, got {self.n_patients}.")
        if self.n_timepoints < 1:
            raise InputError(f"Timepoints must be at least 1, got {self.n_timepoints}.")
        if self.effect not in EFFECTS:
            raise InputError(f"Effect {self.effect!r} is unknown; expected one of {', '.join(EFFECTS)}.")
        if self.risk_pattern not in RISK_PATTERNS:
            raise InputError(f"Risk pattern {self.risk_pattern!r} is invalid; expected one of {', '.join(RISK_PATTERNS)}.")
        if self.source not in SOURCES:
            raise InputError(f"Source {self.source!r} is unknown; expected one of {', '.join(SOURCES)}.")


@dataclass(frozen=True)
class KneeSpec:
    """One knee at one timepoint: its clinical row and its phantom parameters."""

    knee_id: str
    row: dict
    phantom: dict


def draw_cohort(params: CohortParams) -> list[KneeSpec]:
    """Draw demographics, radiographic grades, the planted pattern and pain of every knee."""
    rng = np.random.default_rng(np.random.SeedSequence([params.seed, 7]))
    slope = EFFECTS[params.effect]
    risk_sign = RISK_PATTERNS[params.risk_pattern]
    specs = []
    for patient in range(params.n_patients):
        patient_id = f"P{patient + 1:05d}"
        age0 = float(np.clip(rng.normal(63.9, 9.4), 45.0, 79.0))
        sex = "M" if rng.random() < 0.47 else "F"
        bmi = float(np.clip(rng.normal(28.0, 5.0), 17.0, 48.0))
        severity0 = 0.04 * (age0 - 63.9) + 0.08 * (bmi - 28.0) + rng.normal(0.0, 1.0)
        risk0 = rng.uniform(0.0, MAX_THINNING_MM) if slope > 0 else 0.0
        protective = rng.uniform(0.0, MAX_THINNING_MM) if slope > 0 else 0.0
        shape_draws = rng.normal(0.0, 1.0, size=3)
        phase = float(rng.uniform(-np.pi, np.pi))
        for timepoint in range(params.n_timepoints):
            age = age0 + timepoint
            severity = severity0 + 0.15 * timepoint
            risk = min(risk0 + RISK_PROGRESSION_MM_PER_YEAR * timepoint, MAX_THINNING_MM + 0.5) if slope > 0 else 0.0
            kl = int(np.clip(np.round(1.3 + 1.1 * severity + rng.normal(0.0, 0.5)), 0, 4))
            jsn_medial = int(np.clip(np.round(0.6 + 0.8 * severity + rng.normal(0.0, 0.5)), 0, 3))
            jsn_lateral = int(np.clip(np.round(0.1 + 0.4 * severity + rng.normal(0.0, 0.5)), 0, 3))
            jsw = float(np.clip((5.6 if sex == "M" else 4.9) - 0.9 * jsn_medial + rng.normal(0.0, 0.5), 0.0, 8.0))
            logit = (
                -0.45
                + slope * (risk - 0.5 * MAX_THINNING_MM)
                - 0.5 * slope * (protective - 0.5 * MAX_THINNING_MM)
                + 0.04 * (age - 63.9)
                + 0.06 * (bmi - 28.0)
            )
            pain = int(rng.random() < 1.0 / (1.0 + np.exp(-logit)))
            knee_id = f"{patient_id}_T{timepoint}"
            patches = []
            if slope > 0:
                patches = [
                    asdict(ThicknessPatch("femur", direction=RISK_DIRECTION, radius_mm=ZONE_RADIUS_MM, delta_mm=risk_sign * risk)),
                    asdict(ThicknessPatch("femur", direction=PROTECTIVE_DIRECTION, radius_mm=ZONE_RADIUS_MM, delta_mm=-protective)),
                ]  # fmt: skip
            phantom = {
                "seed": int(params.seed * 1_000_003 + patient * 101 + timepoint),
                "grid": params.grid,
                "size_scale": float(np.clip(1.0 + 0.05 * shape_draws[0], 0.85, 1.15)),
                "width_scale": float(np.clip(1.0 + 0.04 * shape_draws[1], 0.85, 1.15)),
                "condyle_radius_scale": float(np.clip(1.0 + 0.05 * shape_draws[2], 0.85, 1.15)),
                "thickness_scale": float(np.clip(1.0 - 0.05 * severity + rng.normal(0.0, 0.03), 0.75, 1.25)),
                "thickness_phase": phase,
                "patches": patches,
            }
            row = {
                "patient_id": patient_id, "timepoint": timepoint, "side": "right", "age": round(age, 1),
                "sex": sex, "bmi": round(bmi, 1), "kl": kl, "jsn_medial": jsn_medial, "jsn_lateral": jsn_lateral,
                "min_jsw_medial_mm": round(jsw, 2), "oa": int(kl >= 2), "pain": pain,
                "risk_delta_mm": round(risk_sign * risk, 3) + 0.0, "protective_delta_mm": round(-protective, 3) + 0.0,
                "results_dir": f"knees/{knee_id}/results",
            }  # fmt: skip
            specs.append(KneeSpec(knee_id, row, phantom))
    return specs


def phantom_params(spec: KneeSpec) -> PhantomParams:
    """Return the :class:`PhantomParams` of one knee."""
    data = dict(spec.phantom)
    data["patches"] = tuple(ThicknessPatch(**{**patch, "direction": tuple(patch["direction"])}) for patch in data["patches"])
    return PhantomParams(**data)


def zone_masks(points_mm: np.ndarray, spec: KneeSpec, bone: str) -> dict[str, np.ndarray]:
    """Return the planted zones as boolean per-vertex masks of one bone.

    The zones are placed on this knee's own bone shape, also with
    ``effect="none"``, where nothing is planted in them.

    Returns
    -------
    dict
        ``risk_zone`` and ``protective_zone``, each (n_vertices,) bool.
    """
    from kneeviewer.phantom.anatomy import build_anatomy

    masks = {}
    for name, direction in (("risk_zone", RISK_DIRECTION), ("protective_zone", PROTECTIVE_DIRECTION)):
        if bone != "femur":
            masks[name] = np.zeros(len(points_mm), dtype=bool)
            continue
        marker = ThicknessPatch("femur", direction=direction, radius_mm=ZONE_RADIUS_MM, delta_mm=-1.0)
        data = {**spec.phantom, "patches": (marker,)}
        anatomy = build_anatomy(PhantomParams(**data))
        masks[name] = np.asarray(anatomy.bones["femur"].plate_fields(np.asarray(points_mm, dtype=float))["patch_mask"])
    return masks


def build_knee(spec: KneeSpec, cohort_dir: Path, params: CohortParams) -> str:
    """Produce one knee's results folder and truth masks; skip it if both exist.

    Returns
    -------
    str
        The knee id.
    """
    import pyvista as pv

    knee_dir = Path(cohort_dir) / "knees" / spec.knee_id
    results_dir = knee_dir / "results"
    truth_path = Path(cohort_dir) / "truth" / f"{spec.knee_id}.npz"
    if (results_dir / "spherical_maps.npz").is_file() and truth_path.is_file():
        return spec.knee_id
    knee_dir.mkdir(parents=True, exist_ok=True)
    (knee_dir / "phantom.json").write_text(json.dumps(spec.phantom, indent=1))
    if params.source == "pipeline":
        _run_pipeline(spec, knee_dir, params)
    else:
        write_analytic_results(phantom_params(spec), results_dir, params.target_vertices, params.bones)
    masks = {}
    for bone in params.bones:
        mesh = pv.read(results_dir / f"{bone}.vtp")
        for name, mask in zone_masks(np.asarray(mesh.points), spec, bone).items():
            masks[f"{bone}/{name}"] = mask
    truth_path.parent.mkdir(parents=True, exist_ok=True)
    temporary = truth_path.with_suffix(".partial.npz")
    np.savez_compressed(temporary, **masks)
    temporary.replace(truth_path)
    return spec.knee_id


def _run_pipeline(spec: KneeSpec, knee_dir: Path, params: CohortParams) -> None:
    from kneeviewer.phantom.knee import write_phantom
    from kneeviewer.pipeline import KneeInputs, PipelineParams, run_knee

    inputs_dir = knee_dir / "inputs"
    paths = write_phantom(inputs_dir, phantom_params(spec))
    run_knee(
        KneeInputs(labels=paths.labels, dess=paths.dess, msme=paths.msme, side="right"),
        knee_dir / "results",
        params=PipelineParams(target_vertices=params.target_vertices, render=False, bones=params.bones),
    )
    # The images are large and can be rebuilt from phantom.json; the results stay.
    shutil.rmtree(inputs_dir, ignore_errors=True)


def _check_same_parameters(out_dir: Path, params: CohortParams) -> None:
    """Raise :class:`InputError` when ``out_dir`` contains a cohort built with other parameters."""
    path = out_dir / "cohort.json"
    if not path.is_file():
        return
    try:
        previous = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise InputError(f"Failed to read {path} ({error}); delete the cohort folder {out_dir} or choose another --out.") from error
    requested = json.loads(json.dumps(asdict(params)))
    differences = [
        f"{name} {previous.get(name, 'not recorded')!r} there, {value!r} requested"
        for name, value in requested.items()
        if previous.get(name) != value
    ]
    if differences:
        raise InputError(
            f"The cohort folder {out_dir} was built with other parameters ({'; '.join(differences)}), and its "
            "finished knees would be kept. Choose a new --out folder or delete this one."
        )


def build_cohort(
    out_dir: Path,
    params: CohortParams,
    workers: int = 1,
    split_ratios: tuple[float, float, float] = (0.6, 0.2, 0.2),
    progress: ProgressCallback | None = None,
    should_cancel: CancelCheck | None = None,
) -> pd.DataFrame:
    """Build a phantom cohort: knees, truth masks, ``cohort.csv``, splits and images.

    Parameters
    ----------
    out_dir : Path
        Cohort folder. Knees already finished there are kept and skipped,
        so a folder built with other parameters is rejected
        (:class:`~kneeviewer.errors.InputError`).
    params : CohortParams
    workers : int
        Parallel knees: 1 runs in this process; more use a Dask
        ``LocalCluster`` on 127.0.0.1 with that many single-threaded worker
        processes (the scheduler's HTTP endpoint listens on 127.0.0.1 only,
        and no dashboard is served).

    Returns
    -------
    DataFrame
        The rows of ``cohort.csv``.
    """
    from kneeviewer.learning.images import build_image_store
    from kneeviewer.learning.splits import check_split_balance, write_splits

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _check_same_parameters(out_dir, params)
    (out_dir / "cohort.json").write_text(json.dumps(asdict(params), indent=1))
    specs = draw_cohort(params)
    knees_progress = sub_progress(progress, 0.0, 0.85)
    _build_knees(specs, out_dir, params, workers, knees_progress, should_cancel)

    table = pd.DataFrame([spec.row for spec in specs], columns=list(COHORT_COLUMNS))
    table.to_csv(out_dir / "cohort.csv", index=False)
    check_cancel(should_cancel, "splits")
    splits = write_splits(out_dir, table, seed=params.seed, ratios=split_ratios)
    balance = check_split_balance(table, dict(zip(splits["patient_id"], splits["split"], strict=True)))
    (out_dir / "split_balance.json").write_text(json.dumps(balance.as_dict(), indent=1))
    build_image_store(table, out_dir / "images", bones=params.bones, progress=sub_progress(progress, 0.85, 1.0), should_cancel=should_cancel)
    report(progress, "cohort", 1.0, f"{len(table)} knees in {out_dir}")
    return table


def _build_knees(
    specs: Sequence[KneeSpec], out_dir: Path, params: CohortParams, workers: int,
    progress: ProgressCallback | None, should_cancel: CancelCheck | None,
) -> None:  # fmt: skip
    if workers <= 1:
        for number, spec in enumerate(specs):
            check_cancel(should_cancel, f"knee {spec.knee_id}")
            build_knee(spec, out_dir, params)
            report(progress, "knees", (number + 1) / len(specs), f"knee {number + 1} of {len(specs)}")
        return

    from dask.distributed import Client, LocalCluster, as_completed

    failures: list[str] = []
    with (
        LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None, host="127.0.0.1") as cluster,
        Client(cluster) as client,
    ):
        futures = [client.submit(build_knee, spec, out_dir, params, pure=False, key=f"knee-{spec.knee_id}") for spec in specs]
        for number, future in enumerate(as_completed(futures)):
            if should_cancel is not None and should_cancel():
                client.cancel(futures)
                check_cancel(should_cancel, "knees")
            try:
                future.result()
            except Exception as error:  # a knee failure is reported with its id after the others finish
                failures.append(f"{future.key}: {type(error).__name__}: {error}")
                log.error("Phantom knee %s failed: %s", future.key, error)
            report(progress, "knees", (number + 1) / len(specs), f"knee {number + 1} of {len(specs)}")
    if failures:
        raise PipelineError(
            f"{len(failures)} of {len(specs)} phantom knees failed (first: {failures[0]}); "
            "run the command again to retry them, finished knees are kept."
        )


#: Box of each bone's analytic mesh along z, relative to its reference centre, in mm:
#: the femoral and tibial shafts are cut about one condyle diameter from the joint.
_Z_EXTENT_MM = {"femur": (-40.0, 35.0), "tibia": (-45.0, 40.0), "patella": (-40.0, 40.0)}
_MESH_SPACING_MM = 1.0
_RAY_TOLERANCE_MM = 1e-3
_RAY_MAX_STEPS = 300


def write_analytic_results(
    phantom: PhantomParams, results_dir: Path, target_vertices: int, bones: Sequence[str] = BONES
) -> None:
    """Write a results folder straight from the phantom's analytic truth.

    Each bone is meshed by marching cubes of its signed distance on a 1 mm
    grid (shafts cut by a plane) and decimated to about ``target_vertices``;
    its vertices carry the truth ``thickness_mm``, ``t2_deep_ms``,
    ``t2_superficial_ms``, ``t2_ms`` (mean of the two layers) and
    ``bone_shape_mm`` (distance to the vertex centroid). The spherical maps
    are not interpolated from the vertices: every pixel casts a ray from
    outside toward the centroid in the bone frame of
    :mod:`kneeviewer.surface.spherical`, finds the outermost bone surface
    by sphere tracing the signed distance and reads the truth there, so the
    maps are exact and cost a fraction of a second. Thickness and T2 maps
    get Gaussian measurement noise (0.05 mm, 1 ms per pixel). The folder
    holds ``<bone>.vtp``, ``spherical_maps.npz`` and a ``summary.json`` with
    each bone's ``centroid_mm``, the layout of the pipeline's results folder.
    """
    import pyvista as pv

    from kneeviewer.phantom.anatomy import build_anatomy

    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    anatomy = build_anatomy(phantom)
    rng = np.random.default_rng(np.random.SeedSequence([phantom.seed, 11]))
    maps: dict[str, np.ndarray] = {}
    summary: dict = {"source": "analytic phantom", "phantom": phantom.to_dict(), "bones": {}}
    for bone_name in bones:
        bone = anatomy.bones[bone_name]
        low, high = bone.bounds_mm(2.0 * _MESH_SPACING_MM)
        z_low, z_high = _Z_EXTENT_MM[bone_name]
        low[2] = max(low[2], bone.reference_centre_mm[2] + z_low)
        high[2] = min(high[2], bone.reference_centre_mm[2] + z_high)

        def distance_mm(points: np.ndarray, bone=bone, low=low, high=high) -> np.ndarray:
            # Intersect the bone with the box so that the cut shafts close the surface.
            inset_low, inset_high = low + _MESH_SPACING_MM, high - _MESH_SPACING_MM
            box = np.maximum(np.max(inset_low - points, axis=1), np.max(points - inset_high, axis=1))
            return np.maximum(bone.sdf(points)[0], box)

        mesh = _mesh_surface(distance_mm, low, high, target_vertices)
        points = np.asarray(mesh.points, dtype=float)
        centroid = points.mean(axis=0)
        vertex_fields = _truth_fields(bone, points, centroid)
        for name, values in vertex_fields.items():
            mesh.point_data[name] = values.astype(np.float32)
        mesh.field_data["centroid_mm"] = centroid
        mesh.save(results_dir / f"{bone_name}.vtp")

        corners = np.array([[x, y, z] for x in (low[0], high[0]) for y in (low[1], high[1]) for z in (low[2], high[2])])
        hits, hit = _cast_rays(distance_mm, bone_name, centroid, float(np.linalg.norm(corners - centroid, axis=1).max()))
        pixel_fields = _truth_fields(bone, hits, centroid)
        for name, values in pixel_fields.items():
            noise = {"thickness_mm": 0.05, "bone_shape_mm": 0.0}.get(name, 1.0)
            values = np.where(hit, values + rng.normal(0.0, noise, values.shape), np.nan)
            maps[f"{bone_name}/{name}"] = values.reshape(_map_shape()).astype(np.float32)
        summary["bones"][bone_name] = {"centroid_mm": centroid.tolist(), "vertices": int(len(points))}
    (results_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    np.savez_compressed(results_dir / "spherical_maps.npz", **maps)


def _map_shape() -> tuple[int, int]:
    from kneeviewer.surface.spherical import MAP_SIZE

    return MAP_SIZE, MAP_SIZE


def _mesh_surface(distance_mm, low: np.ndarray, high: np.ndarray, target_vertices: int):
    """Triangulate the zero level of ``distance_mm`` with about ``target_vertices`` vertices.

    Marching cubes runs once on the 1 mm grid to measure the surface, then
    once more on a grid coarse enough for the target, which is much faster
    than decimating the fine mesh.
    """
    import pyvista as pv
    from skimage.measure import marching_cubes

    spacing_mm = _MESH_SPACING_MM
    for _attempt in range(2):
        axes = [np.arange(low[axis], high[axis] + spacing_mm, spacing_mm) for axis in range(3)]
        grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
        volume = distance_mm(grid).reshape([len(axis) for axis in axes])
        vertices, faces, _, _ = marching_cubes(volume, level=0.0, spacing=(spacing_mm,) * 3)
        coarser = spacing_mm * np.sqrt(len(vertices) / target_vertices)
        if coarser < 1.2 * spacing_mm:
            break
        spacing_mm = coarser
    mesh = pv.PolyData(vertices + low, np.column_stack([np.full(len(faces), 3), faces]).ravel())
    return mesh.compute_normals(auto_orient_normals=True, split_vertices=False)


def _truth_fields(bone, points: np.ndarray, centroid: np.ndarray) -> dict[str, np.ndarray]:
    fields = bone.plate_fields(points)
    return {
        "thickness_mm": fields["thickness_mm"],
        "t2_deep_ms": fields["t2_deep_ms"],
        "t2_superficial_ms": fields["t2_superficial_ms"],
        "t2_ms": 0.5 * (fields["t2_deep_ms"] + fields["t2_superficial_ms"]),
        "bone_shape_mm": np.linalg.norm(points - centroid, axis=1),
    }


def _cast_rays(distance_mm, bone_name: str, centre_mm: np.ndarray, start_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """Find the outermost surface point along every pixel's ray by sphere tracing.

    Hand-written because the signed distance is analytic and a mesh ray
    caster would only approximate it. Returns the hit points, shape
    (size * size, 3) in LPS mm, and whether each ray hit the bone.
    """
    from kneeviewer.surface.spherical import default_config

    config = default_config(bone_name)
    theta, phi = config.pixel_centres()
    grid_theta, grid_phi = np.meshgrid(theta, phi)  # rows are phi, columns theta
    local = np.column_stack(
        [np.cos(grid_phi.ravel()) * np.cos(grid_theta.ravel()), np.cos(grid_phi.ravel()) * np.sin(grid_theta.ravel()), np.sin(grid_phi.ravel())]
    )
    directions = local @ np.asarray(config.frame)  # frame rows are the axes, so this maps back to LPS
    along = np.full(len(directions), start_mm)
    active = np.ones(len(directions), dtype=bool)
    hit = np.zeros(len(directions), dtype=bool)
    for _ in range(_RAY_MAX_STEPS):
        index = np.flatnonzero(active)
        if index.size == 0:
            break
        distance = distance_mm(centre_mm + along[index, None] * directions[index])
        landed = distance < _RAY_TOLERANCE_MM
        hit[index[landed]] = True
        active[index[landed]] = False
        along[index[~landed]] -= np.maximum(distance[~landed], 0.05)
        passed = index[~landed][along[index[~landed]] <= 0.0]
        active[passed] = False
    return centre_mm + along[:, None] * directions, hit
