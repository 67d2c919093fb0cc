"""Reading and writing surface meshes with their per-vertex arrays.

VTK XML PolyData (``.vtp``) and legacy VTK (``.vtk``) keep every point
array. PLY keeps every 1-component float point array as a vertex property:
VTK's PLY writer stores only colours, so PLY is written and read here with
numpy (binary little-endian). STL stores geometry only and drops all arrays.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import pyvista as pv

from kneeviewer.errors import InputError

logger = logging.getLogger(__name__)

MESH_SUFFIXES: tuple[str, ...] = (".vtp", ".vtk", ".ply", ".stl")


def write_mesh(mesh: pv.PolyData, path: str | Path) -> Path:
    """Write a mesh to ``.vtp``, ``.vtk``, ``.ply`` or ``.stl``, chosen by the extension.

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    InputError
        If the extension is not one of the four supported ones.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in MESH_SUFFIXES:
        raise InputError(f"Cannot write mesh {path}: unsupported extension '{suffix}'. Use one of {', '.join(MESH_SUFFIXES)}.")
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".ply":
        _write_ply(mesh, path)
    elif suffix == ".stl":
        if mesh.point_data.keys():
            logger.info("STL keeps no point arrays; %s is written without %s.", path, ", ".join(mesh.point_data.keys()))
        _as_triangles(mesh).save(str(path), binary=True)
    else:
        mesh.save(str(path), binary=True)
    return path


def read_mesh(path: str | Path) -> pv.PolyData:
    """Read a ``.vtp``, ``.vtk``, ``.ply`` or ``.stl`` mesh with its point arrays.

    Raises
    ------
    InputError
        If the file is missing, has an unsupported extension or cannot be parsed.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if not path.is_file():
        raise InputError(f"Mesh file not found: {path}. Check the path.")
    if suffix not in MESH_SUFFIXES:
        raise InputError(f"Cannot read mesh {path}: unsupported extension '{suffix}'. Use one of {', '.join(MESH_SUFFIXES)}.")
    # pyvista reports VTK reader failures as warnings and returns an empty mesh.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            mesh = _read_ply(path) if suffix == ".ply" else pv.read(str(path))
        except (ValueError, OSError, RuntimeError, KeyError) as error:
            raise InputError(f"Could not read mesh {path}: {error}. Check that the file is a valid {suffix} mesh.") from error
    if not isinstance(mesh, pv.PolyData):
        mesh = mesh.extract_surface(algorithm="dataset_surface")
    if mesh.n_points == 0:
        reason = f" (reader: {str(caught[0].message).splitlines()[0]})" if caught else ""
        raise InputError(f"Could not read mesh {path}: no points found{reason}. Check that the file is a valid {suffix} surface mesh.")
    for warning in caught:
        logger.debug("Reading %s: %s", path, warning.message)
    return mesh


def _as_triangles(mesh: pv.DataSet) -> pv.PolyData:
    """Return the mesh as triangulated PolyData (unchanged when it already is)."""
    if not isinstance(mesh, pv.PolyData):
        mesh = mesh.extract_surface(algorithm="dataset_surface")
    return mesh if mesh.is_all_triangles else mesh.triangulate()


_PLY_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1",
    "short": "i2", "int16": "i2", "ushort": "u2", "uint16": "u2",
    "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}


def _write_ply(mesh: pv.PolyData, path: Path) -> None:
    surface = _as_triangles(mesh)
    faces = surface.faces.reshape(-1, 4)[:, 1:]
    names = ["x", "y", "z"]
    columns = [surface.points[:, axis].astype(np.float32) for axis in range(3)]
    for name, values in surface.point_data.items():
        values = np.asarray(values)
        if values.ndim == 1 and values.dtype.kind in "fiu":
            names.append(name)
            columns.append(values.astype(np.float32))
        elif values.ndim == 2 and values.shape[1] == 3 and name == "Normals":
            names.extend(["nx", "ny", "nz"])
            columns.extend(values[:, axis].astype(np.float32) for axis in range(3))
        else:
            logger.info("PLY keeps 1-component point arrays only; '%s' is not written to %s.", name, path)
    header = ["ply", "format binary_little_endian 1.0", f"element vertex {surface.n_points}"]
    header += [f"property float {name}" for name in names]
    header += [f"element face {len(faces)}", "property list uchar int vertex_indices", "end_header"]
    vertex_block = np.empty(surface.n_points, dtype=[(name, "<f4") for name in names])
    for name, column in zip(names, columns):
        vertex_block[name] = column
    face_block = np.empty(len(faces), dtype=[("count", "u1"), ("index", "<i4", (3,))])
    face_block["count"] = 3
    face_block["index"] = faces
    with open(path, "wb") as stream:
        stream.write(("\n".join(header) + "\n").encode("ascii"))
        stream.write(vertex_block.tobytes())
        stream.write(face_block.tobytes())


def _read_ply(path: Path) -> pv.PolyData:
    with open(path, "rb") as stream:
        data = stream.read()
    end = data.find(b"end_header\n")
    if not data.startswith(b"ply") or end < 0:
        raise ValueError("no PLY header")
    header = data[:end].decode("ascii").splitlines()
    body = data[end + len(b"end_header\n") :]

    if "format binary_little_endian 1.0" not in header:
        # ASCII and big-endian PLY files: VTK reads their geometry.
        return pv.read(str(path))
    elements: list[tuple[str, int, list]] = []
    for line in header[1:]:
        words = line.split()
        if words and words[0] == "element":
            elements.append((words[1], int(words[2]), []))
        elif words and words[0] == "property":
            elements[-1][2].append(words[1:])

    offset = 0
    points = None
    arrays: dict[str, np.ndarray] = {}
    faces = np.empty((0, 3), dtype=np.int64)
    for name, count, properties in elements:
        if properties and properties[0][0] == "list":
            count_type, index_type = _PLY_TYPES[properties[0][1]], _PLY_TYPES[properties[0][2]]
            record = np.dtype([("count", "<" + count_type), ("index", "<" + index_type, (3,))])
            block = np.frombuffer(body, dtype=record, count=count, offset=offset)
            if count and np.any(block["count"] != 3):
                return pv.read(str(path))  # polygons other than triangles: let VTK parse them
            offset += record.itemsize * count
            if name == "face":
                faces = block["index"].astype(np.int64)
            continue
        record = np.dtype([(words[1], "<" + _PLY_TYPES[words[0]]) for words in properties])
        block = np.frombuffer(body, dtype=record, count=count, offset=offset)
        offset += record.itemsize * count
        if name == "vertex":
            points = np.stack([block[axis].astype(float) for axis in "xyz"], axis=1)
            for field in record.names:
                if field not in ("x", "y", "z", "nx", "ny", "nz"):
                    arrays[field] = np.array(block[field])
            if {"nx", "ny", "nz"} <= set(record.names):
                arrays["Normals"] = np.stack([block[axis] for axis in ("nx", "ny", "nz")], axis=1).astype(np.float32)

    if points is None:
        raise ValueError("no vertex element")
    mesh = pv.PolyData(points, np.hstack([np.full((len(faces), 1), 3), faces]).ravel() if len(faces) else None)
    for field, values in arrays.items():
        mesh.point_data[field] = values
    return mesh
