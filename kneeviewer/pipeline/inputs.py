"""Loading and checking the inputs of one knee (the pipeline's first stage)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from kneeviewer.errors import InputError
from kneeviewer.io.labels import LabelSchema, default_schema, read_label_map, read_schema
from kneeviewer.io.side import normalise_side, to_right_convention
from kneeviewer.io.volume import Geometry, MultiEchoVolume, Volume, read_volume
from kneeviewer.pipeline.params import KneeInputs

log = logging.getLogger(__name__)


@dataclass
class LoadedKnee:
    """Images of one knee in right-knee convention.

    Attributes
    ----------
    labels : Volume
        Integer label map.
    schema : LabelSchema
        Names of the label values.
    side : str
        ``"left"`` or ``"right"``: the side of the knee as scanned.
    side_source : str
        Where the side came from: ``"option"``, ``"dicom"`` or ``"assumed"``.
    dess : Volume or None
        DESS image on the label grid.
    msme : MultiEchoVolume or None
        The MSME series in its own geometry.
    """

    labels: Volume
    schema: LabelSchema
    side: str
    side_source: str
    dess: Volume | None = None
    msme: MultiEchoVolume | None = None


def _read_dess(path) -> Volume:
    if path.is_dir():
        from kneeviewer.io.dicom import read_series

        return read_series(path)
    return read_volume(path)


def _check_same_grid(labels: Geometry, dess: Geometry, source: str) -> None:
    differences = []
    if labels.shape != dess.shape:
        differences.append(f"size {dess.shape} against {labels.shape} voxels")
    if not np.allclose(labels.spacing_mm, dess.spacing_mm, rtol=1e-3):
        differences.append(f"spacing {np.round(dess.spacing_mm, 4).tolist()} against {np.round(labels.spacing_mm, 4).tolist()} mm")
    if not np.allclose(labels.origin_mm, dess.origin_mm, atol=1e-2):
        differences.append(f"origin {np.round(dess.origin_mm, 2).tolist()} against {np.round(labels.origin_mm, 2).tolist()} mm")
    if not np.allclose(labels.direction, dess.direction, atol=1e-3):
        differences.append("direction cosines")
    if differences:
        raise InputError(
            f"DESS image {source} does not lie on the label map's grid: it differs in {'; '.join(differences)} "
            "(DESS against labels). Pass the DESS image that the segmentation was made on."
        )


def load_knee(inputs: KneeInputs) -> LoadedKnee:
    """Read, check and orient the images of one knee.

    Raises
    ------
    InputError
        If a file is missing or invalid, the label map lacks a structure of
        the schema, or the DESS image is on another grid.
    """
    _check_paths_exist(inputs)
    schema = read_schema(inputs.schema) if inputs.schema is not None else default_schema()
    labels = read_label_map(inputs.labels, schema)
    dess = None
    if inputs.dess is not None:
        dess = _read_dess(inputs.dess)
        _check_same_grid(labels.geometry, dess.geometry, str(inputs.dess))
    msme = None
    if inputs.msme is not None:
        from kneeviewer.io.dicom import read_multi_echo

        msme = read_multi_echo(inputs.msme, inputs.msme_series)

    side, side_source = _decide_side(inputs.side, msme)
    if side == "left":
        log.info("Mirroring a left knee to right-knee convention")
        labels = to_right_convention(labels, side)
        dess = to_right_convention(dess, side) if dess is not None else None
        msme = to_right_convention(msme, side) if msme is not None else None
    return LoadedKnee(labels=labels, schema=schema, side=side, side_source=side_source, dess=dess, msme=msme)


def _check_paths_exist(inputs: KneeInputs) -> None:
    """Fail early, before any long read, when a given path does not exist."""
    if inputs.labels.is_dir():
        raise InputError(f"Label map {inputs.labels} is a folder; give the label map file (NRRD, NIfTI or MHA).")
    if not inputs.labels.is_file():
        raise InputError(f"Image file not found: {inputs.labels}. Check the path of the label map.")
    if inputs.dess is not None and not inputs.dess.exists():
        raise InputError(f"DESS image not found: {inputs.dess}. Check the path given with --dess.")
    if inputs.msme is not None and inputs.msme.is_file():
        raise InputError(f"MSME {inputs.msme} is a file; give the folder of the multi-echo DICOM series.")
    if inputs.msme is not None and not inputs.msme.is_dir():
        raise InputError(f"MSME folder not found: {inputs.msme}. Pass the folder of the multi-echo DICOM series with --msme.")
    if inputs.schema is not None and not inputs.schema.is_file():
        raise InputError(f"Label schema file not found: {inputs.schema}. Check the path given with --schema.")


def _decide_side(option: str | None, msme: MultiEchoVolume | None) -> tuple[str, str]:
    dicom_side = normalise_side(msme.metadata.get("laterality")) if msme is not None else None
    if option is not None:
        side = normalise_side(option)
        if dicom_side is not None and dicom_side != side:
            log.warning("--side %s overrides the DICOM laterality %s", side, dicom_side)
        return side, "option"
    if dicom_side is not None:
        return dicom_side, "dicom"
    log.warning("Knee side unknown (no --side, no DICOM laterality); processing as a right knee. "
                "Pass --side left or --side right to set it.")
    return "right", "assumed"
