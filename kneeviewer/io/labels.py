"""Label maps and the label schema that names their values.

A schema is a TOML file with a ``[structures]`` table that maps structure
names to lists of label values::

    [structures]
    femur = [5]
    femoral_cartilage = [1]

The three bones and their cartilage are required; menisci and fibula are
optional. The schema of the pymskt knee sample is built in as the default.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from kneeviewer.errors import InputError, SchemaError
from kneeviewer.io.volume import Volume, read_volume

BONES: tuple[str, ...] = ("femur", "tibia", "patella")

#: Cartilage structures that lie on each bone.
BONE_CARTILAGE: dict[str, tuple[str, ...]] = {
    "femur": ("femoral_cartilage",),
    "tibia": ("medial_tibial_cartilage", "lateral_tibial_cartilage"),
    "patella": ("patellar_cartilage",),
}

REQUIRED_STRUCTURES: tuple[str, ...] = BONES + tuple(c for cs in BONE_CARTILAGE.values() for c in cs)
OPTIONAL_STRUCTURES: tuple[str, ...] = ("fibula", "medial_meniscus", "lateral_meniscus")


@dataclass(frozen=True)
class LabelSchema:
    """Mapping from structure names to the label values that make them.

    Attributes
    ----------
    structures : dict of str to tuple of int
        Label values of each structure.
    name : str
        A short name for reports.
    source : str
        Where the schema came from (a path, or ``"built-in"``).
    """

    structures: dict[str, tuple[int, ...]]
    name: str = "custom"
    source: str = "built-in"

    def values(self, structure: str) -> tuple[int, ...]:
        """Return the label values of ``structure``."""
        try:
            return self.structures[structure]
        except KeyError:
            raise SchemaError(
                f"Label schema '{self.name}' ({self.source}) has no structure '{structure}'. "
                f"Known structures: {', '.join(sorted(self.structures))}."
            ) from None

    def mask(self, labels: np.ndarray, structure: str) -> np.ndarray:
        """Return a boolean mask of ``structure`` in an integer label array."""
        values = self.values(structure)
        if len(values) == 1:
            return labels == values[0]  # several times faster than np.isin on a full DESS grid
        return np.isin(labels, values)

    def cartilage_mask(self, labels: np.ndarray, bone: str) -> np.ndarray:
        """Return the union of the cartilage structures that lie on ``bone``."""
        mask = np.zeros(labels.shape, dtype=bool)
        for structure in BONE_CARTILAGE[bone]:
            mask |= self.mask(labels, structure)
        return mask

    def to_dict(self) -> dict:
        """Return a JSON-ready description for summaries."""
        return {"name": self.name, "source": self.source, "structures": {k: list(v) for k, v in self.structures.items()}}


def _parse_schema(document: dict, name_hint: str, source: str) -> LabelSchema:
    table = document.get("structures")
    if not isinstance(table, dict):
        raise SchemaError(f"Label schema {source} has no [structures] table. Add one that maps names to label values.")
    structures: dict[str, tuple[int, ...]] = {}
    for structure, raw in table.items():
        values = raw if isinstance(raw, list) else [raw]
        if not values or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in values):
            raise SchemaError(
                f"Label schema {source}: structure '{structure}' must map to positive integer label values, got {raw!r}."
            )
        structures[structure] = tuple(values)
    missing = [s for s in REQUIRED_STRUCTURES if s not in structures]
    if missing:
        raise SchemaError(f"Label schema {source} lacks the required structures {', '.join(missing)}.")
    seen: dict[int, str] = {}
    for structure, values in structures.items():
        for value in values:
            if value in seen:
                raise SchemaError(
                    f"Label schema {source}: label value {value} is given to both '{seen[value]}' and '{structure}'."
                )
            seen[value] = structure
    return LabelSchema(structures=structures, name=str(document.get("name", name_hint)), source=source)


def read_schema(path: str | Path) -> LabelSchema:
    """Read a label schema TOML file.

    Raises
    ------
    SchemaError
        If the file is missing, not valid TOML, or lacks a required structure.
    """
    path = Path(path)
    if not path.is_file():
        raise SchemaError(f"Label schema file not found: {path}.")
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise SchemaError(f"Label schema {path} is not valid TOML: {error}.") from error
    return _parse_schema(document, path.stem, str(path))


def default_schema() -> LabelSchema:
    """Return the built-in schema of the pymskt knee sample and the phantom knee."""
    text = resources.files("kneeviewer.resources").joinpath("default_schema.toml").read_text(encoding="utf-8")
    return _parse_schema(tomllib.loads(text), "default", "built-in")


def read_label_map(path: str | Path, schema: LabelSchema | None = None) -> Volume:
    """Read an integer label map and check it against ``schema``.

    Raises
    ------
    InputError
        If the file cannot be read, is not an integer image, or lacks a bone
        or a cartilage structure of the schema.
    """
    volume = read_volume(path)
    if not np.issubdtype(volume.data.dtype, np.integer):
        rounded = np.round(volume.data)
        if not np.allclose(rounded, volume.data):
            raise InputError(f"Label map {path} has non-integer values ({volume.data.dtype}); expected integer labels.")
        volume = volume.with_data(rounded.astype(np.int32))
    check_label_map(volume.data, schema or default_schema(), str(path))
    return volume


def check_label_map(labels: np.ndarray, schema: LabelSchema, source: str = "label map") -> None:
    """Raise :class:`InputError` if a required structure of ``schema`` is absent from ``labels``."""
    present = set(np.unique(labels).tolist())
    if present <= {0}:
        raise InputError(f"Label map {source} is empty (only background). Check that it is a segmentation.")
    missing = [s for s in REQUIRED_STRUCTURES if not present.intersection(schema.values(s))]
    if missing:
        found = ", ".join(str(v) for v in sorted(present - {0}))
        raise InputError(
            f"Label map {source} has no voxels of {', '.join(missing)} "
            f"(schema '{schema.name}' expects labels {', '.join(str(schema.values(s)) for s in missing)}; "
            f"found labels {found}). Pass the matching schema with --schema."
        )


def structure_volumes_mm3(labels: Volume, schema: LabelSchema) -> dict[str, float]:
    """Volume of every structure of ``schema`` in mm^3 (0 for absent ones)."""
    voxel = labels.geometry.voxel_volume_mm3()
    return {name: float(np.count_nonzero(schema.mask(labels.data, name))) * voxel for name in schema.structures}
