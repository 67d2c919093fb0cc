"""The results folder of one knee: writing it at the end of a run and reading it back."""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyvista as pv

from kneeviewer import __version__
from kneeviewer.errors import InputError
from kneeviewer.io.volume import write_volume

if TYPE_CHECKING:
    from kneeviewer.pipeline.knee import _Runner

log = logging.getLogger(__name__)

BONE_FILES = ("femur", "tibia", "patella")


@dataclass
class KneeResults:
    """Everything the pipeline produced for one knee.

    Attributes
    ----------
    out_dir : Path
        The results folder.
    meshes : dict of str to pyvista.PolyData
        Bone meshes in LPS mm (right-knee convention) with point arrays.
    spherical_maps : dict of str to ndarray
        Keys ``"<bone>/<array>"``, values 224 x 224 float32 with NaN.
    summary : dict
        The content of ``summary.json``.
    volumes : dict of str to Path
        Image files for display: ``labels``, and ``dess``, ``t2_ms`` when present.
    """

    out_dir: Path
    meshes: dict[str, pv.PolyData]
    spherical_maps: dict[str, np.ndarray]
    summary: dict
    volumes: dict[str, Path] = field(default_factory=dict)


def _finite_mean(values: np.ndarray) -> float | None:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else None


def _finite_median(values: np.ndarray) -> float | None:
    finite = values[np.isfinite(values)]
    return float(np.median(finite)) if finite.size else None


def bone_summary(mesh: pv.PolyData) -> dict:
    """Per-bone figures of ``summary.json``: means, compartment means, vertex and NaN counts."""
    summary: dict = {"n_vertices": int(mesh.n_points), "nan_counts": {}, "compartments": {"medial": {}, "lateral": {}}}
    medial = np.asarray(mesh.point_data["medial"]).astype(bool) if "medial" in mesh.point_data else None
    for name in ("thickness_mm", "bone_shape_mm", "t2_ms", "t2_deep_ms", "t2_superficial_ms"):
        if name not in mesh.point_data:
            continue
        values = np.asarray(mesh.point_data[name], dtype=float)
        summary[f"mean_{name}"] = _finite_mean(values)
        summary[f"median_{name}"] = _finite_median(values)
        summary["nan_counts"][name] = int(np.count_nonzero(~np.isfinite(values)))
        if medial is not None:
            summary["compartments"]["medial"][f"mean_{name}"] = _finite_mean(values[medial])
            summary["compartments"]["lateral"][f"mean_{name}"] = _finite_mean(values[~medial])
    if "centroid_mm" in mesh.field_data:
        summary["centroid_mm"] = [float(c) for c in np.asarray(mesh.field_data["centroid_mm"]).ravel()]
    return summary


def write_results(runner: _Runner, projection_dir: Path, spherical_dir: Path, t2_dir: Path | None) -> KneeResults:
    """Copy the final stage outputs into the results folder and write ``summary.json`` and ``thickness.png``."""
    out_dir = runner.out_dir
    # The summary needs the side and schema even when every stage came from the cache,
    # so the inputs are read here in any case (about a second for a DESS label map).
    knee = runner.loaded()
    meshes: dict[str, pv.PolyData] = {}
    for bone in runner.params.bones:
        shutil.copyfile(projection_dir / f"{bone}.vtp", out_dir / f"{bone}.vtp")
        meshes[bone] = pv.read(out_dir / f"{bone}.vtp")
    shutil.copyfile(spherical_dir / "spherical_maps.npz", out_dir / "spherical_maps.npz")

    volumes: dict[str, Path] = {"labels": Path(runner.inputs.labels)}
    if runner.inputs.dess is not None:
        volumes["dess"] = Path(runner.inputs.dess)
    t2_facts = None
    if t2_dir is not None:
        t2_facts = json.loads((t2_dir / "t2_counts.json").read_text(encoding="utf-8"))
        t2_path = out_dir / "t2_ms.nrrd"
        if not t2_path.exists() or "t2" not in runner.reused:
            from kneeviewer.pipeline.sparse import load_sparse_field

            write_volume(knee.labels.with_data(load_sparse_field(t2_dir / "t2_ms.npz")), t2_path)
        volumes["t2_ms"] = t2_path

    round_trip = json.loads((spherical_dir / "round_trip.json").read_text(encoding="utf-8"))
    bones = {}
    for bone, mesh in meshes.items():
        bones[bone] = bone_summary(mesh)
        if t2_facts is not None:
            bones[bone]["t2_fit_counts"] = t2_facts["by_bone"].get(bone, {})
        bones[bone]["spherical_round_trip"] = {k.split("/", 1)[1]: v for k, v in round_trip.items() if k.startswith(f"{bone}/")}
    summary = {
        "software": {"name": "kneeviewer", "version": __version__},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "inputs": runner.inputs.to_dict(),
        "schema": knee.schema.to_dict(),
        "side": knee.side,
        "side_source": knee.side_source,
        "processed_as": "right-knee convention (left knees mirrored across x = 0 in LPS)",
        "coordinates": "LPS, mm",
        "parameters": runner.params.to_dict(),
        "bones": bones,
        "t2_fit": t2_facts,
        "stage_seconds": runner.timings,
        "stages_reused": runner.reused,
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, allow_nan=False, default=_json_default), encoding="utf-8")
    if runner.params.render:
        _render_thickness(meshes, out_dir / "thickness.png")
    elif (out_dir / "thickness.png").exists():
        # A rendering from an earlier run would no longer match these meshes.
        (out_dir / "thickness.png").unlink()
    return KneeResults(out_dir=out_dir, meshes=meshes, spherical_maps=load_spherical_maps(out_dir), summary=summary, volumes=volumes)


def _json_default(value: object) -> object:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def _render_thickness(meshes: dict[str, pv.PolyData], path: Path) -> None:
    from kneeviewer.visual.render import render_bones

    render_bones(meshes, "thickness_mm", path, view="anterior")


def load_spherical_maps(out_dir: Path) -> dict[str, np.ndarray]:
    """Read ``spherical_maps.npz`` of a results folder (an empty dict if absent)."""
    path = Path(out_dir) / "spherical_maps.npz"
    if not path.is_file():
        return {}
    with np.load(path) as stored:
        return {key: stored[key] for key in stored.files}


def load_results(out_dir: str | Path) -> KneeResults:
    """Read a finished results folder.

    Raises
    ------
    InputError
        If the folder lacks ``summary.json`` or a bone mesh.
    """
    out_dir = Path(out_dir)
    summary_path = out_dir / "summary.json"
    if not summary_path.is_file():
        raise InputError(f"{out_dir} is not a kneeviewer results folder (no summary.json). Run 'kneeviewer run' first.")
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    bones = summary.get("parameters", {}).get("bones", list(BONE_FILES))
    meshes = {}
    for bone in bones:
        path = out_dir / f"{bone}.vtp"
        if not path.is_file():
            raise InputError(f"Results folder {out_dir} lacks {path.name}. Run 'kneeviewer run' again.")
        meshes[bone] = pv.read(path)
    volumes: dict[str, Path] = {}
    inputs = summary.get("inputs", {})
    for key in ("labels", "dess"):
        if inputs.get(key):
            volumes[key] = Path(inputs[key])
    if (out_dir / "t2_ms.nrrd").is_file():
        volumes["t2_ms"] = out_dir / "t2_ms.nrrd"
    return KneeResults(out_dir=out_dir, meshes=meshes, spherical_maps=load_spherical_maps(out_dir), summary=summary, volumes=volumes)
