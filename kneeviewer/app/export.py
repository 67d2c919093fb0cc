"""Exports of the app: meshes with their arrays (VTP, PLY, STL) and per-compartment values (CSV).

These functions touch no widget and no renderer, so the app calls them on the
GUI thread without blocking it for long (a few MB of mesh data).
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import numpy as np
import pyvista as pv

from kneeviewer.errors import InputError

log = logging.getLogger(__name__)

MESH_FORMATS = (".vtp", ".ply", ".stl")


def export_meshes(meshes: dict[str, pv.PolyData], folder: str | Path, suffix: str = ".vtp") -> list[Path]:
    """Write each bone mesh to ``folder/<bone><suffix>`` and return the paths.

    VTP keeps every point array. PLY keeps every scalar point array as a
    vertex property. STL stores geometry only, because the format has no
    per-vertex values.
    """
    suffix = suffix.lower()
    if suffix not in MESH_FORMATS:
        raise InputError(f"Unsupported mesh format '{suffix}'. Use one of: {', '.join(MESH_FORMATS)}.")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for bone, mesh in meshes.items():
        path = folder / f"{bone}{suffix}"
        if suffix == ".ply":
            write_ply_with_arrays(mesh, path)
        else:
            mesh.save(path)
        written.append(path)
    if suffix == ".stl":
        log.warning("STL files hold geometry only; the biomarker arrays were not written to %s", folder)
    log.info("Exported %d meshes to %s", len(written), folder)
    return written


def write_ply_with_arrays(mesh: pv.PolyData, path: str | Path) -> Path:
    """Write a triangle mesh as binary PLY with every 1-component point array as a float vertex property.

    Hand-written because VTK's PLY writer (9.x) stores only colours and
    texture coordinates, not named scalar arrays. NaN is written as NaN.
    """
    path = Path(path)
    triangles = mesh.triangulate()
    faces = np.asarray(triangles.faces).reshape(-1, 4)[:, 1:].astype(np.int32)
    names = [name for name in triangles.point_data.keys() if np.asarray(triangles.point_data[name]).ndim == 1]
    columns = [np.asarray(triangles.points, dtype=np.float32)]
    columns += [np.asarray(triangles.point_data[name], dtype=np.float32)[:, None] for name in names]
    vertices = np.hstack(columns).astype("<f4")
    header = ["ply", "format binary_little_endian 1.0", f"element vertex {triangles.n_points}",
              "property float x", "property float y", "property float z"]
    header += [f"property float {name}" for name in names]
    header += [f"element face {len(faces)}", "property list uchar int vertex_indices", "end_header"]
    face_records = np.zeros(len(faces), dtype=[("n", "u1"), ("v", "<i4", (3,))])
    face_records["n"] = 3
    face_records["v"] = faces
    with path.open("wb") as stream:
        stream.write(("\n".join(header) + "\n").encode("ascii"))
        stream.write(vertices.tobytes())
        stream.write(face_records.tobytes())
    return path


def compartment_rows(summary: dict) -> list[dict]:
    """Flatten the per-bone and per-compartment values of ``summary.json`` into table rows.

    Each row has ``bone``, ``region`` (``whole`` for the bone, else the
    compartment name), ``statistic`` (mean or median), ``biomarker`` and ``value``
    (empty when the summary has no value).
    """
    rows = []
    for bone, figures in (summary.get("bones") or {}).items():
        for key, value in figures.items():
            for statistic in ("mean", "median"):
                if key.startswith(f"{statistic}_"):
                    rows.append({"bone": bone, "region": "whole", "statistic": statistic,
                                 "biomarker": key.removeprefix(f"{statistic}_"), "value": value})
        for region, values in (figures.get("compartments") or {}).items():
            for key, value in values.items():
                statistic, _, biomarker = key.partition("_")
                rows.append({"bone": bone, "region": region, "statistic": statistic, "biomarker": biomarker, "value": value})
    return rows


def export_compartment_csv(summary: dict, path: str | Path) -> Path:
    """Write :func:`compartment_rows` of a summary to a CSV file."""
    rows = compartment_rows(summary)
    if not rows:
        raise InputError("The results summary has no per-bone values to export. Run the pipeline first.")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=["bone", "region", "statistic", "biomarker", "value"])
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "value": "" if row["value"] is None else row["value"]})
    log.info("Wrote %d compartment values to %s", len(rows), path)
    return path
