"""Results of one knee plus the images for the slice view, as handed to the GUI thread (no Qt)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from kneeviewer.errors import KneeViewerError

log = logging.getLogger(__name__)


@dataclass
class LoadedResults:
    """Results of one knee with its display images, as a finished job hands them to the GUI thread.

    Attributes
    ----------
    results : KneeResults
        Meshes, spherical maps and summary of one knee.
    volumes : dict of str to Volume
        Images for the slice view in right-knee convention: ``"labels"``,
        and where available ``"dess"``, ``"t2_ms"`` and ``"msme"``
        (a MultiEchoVolume).
    """

    results: object
    volumes: dict = field(default_factory=dict)


def read_display_volumes(results) -> dict:
    """Read the images listed in ``results.volumes`` and orient them like the meshes.

    A volume that cannot be read is skipped with a warning, because the 3D
    results are still worth showing.
    """
    from kneeviewer.io.side import to_right_convention
    from kneeviewer.io.volume import read_volume

    side = (results.summary or {}).get("side") or "right"
    volumes = {}
    for name, path in results.volumes.items():
        path = Path(path)
        try:
            if path.is_dir():
                from kneeviewer.io import dicom

                volume = dicom.read_series(path)
            else:
                volume = read_volume(path)
            volumes[name] = to_right_convention(volume, side)
        except (KneeViewerError, OSError, RuntimeError, ImportError) as error:
            log.warning("Could not read %s image %s for the slice view: %s", name, path, error)
    inputs = (results.summary or {}).get("inputs") or {}
    if inputs.get("msme"):
        try:
            from kneeviewer.io import dicom

            echoes = dicom.read_multi_echo(Path(inputs["msme"]), inputs.get("msme_series"))
            volumes["msme"] = to_right_convention(echoes, side)
        except (KneeViewerError, OSError, RuntimeError, ImportError) as error:
            log.warning("Could not read the MSME series %s for the slice view: %s", inputs["msme"], error)
    return volumes


def load_for_display(results) -> LoadedResults:
    """Bundle ``results`` with its display images."""
    return LoadedResults(results, read_display_volumes(results))
