"""The built-in demo knee: the phantom knee written once into a cache folder."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from kneeviewer.pipeline.params import KneeInputs

log = logging.getLogger(__name__)

_MARKER = "demo-inputs.json"


def demo_inputs(cache_dir: str | Path, *, seed: int = 0, snr: float = 50.0, grid: str = "oai") -> KneeInputs:
    """Write the phantom knee into ``cache_dir`` (once) and return its inputs.

    The phantom has a known thickness and T2 field; its ground truth lies in
    ``cache_dir/truth``.
    """
    from kneeviewer.phantom.knee import PhantomParams, write_phantom

    cache_dir = Path(cache_dir)
    marker = cache_dir / _MARKER
    settings = {"seed": seed, "snr": snr, "grid": grid}
    if marker.is_file():
        recorded = json.loads(marker.read_text(encoding="utf-8"))
        if recorded.get("settings") == settings:
            return KneeInputs(labels=Path(recorded["labels"]), dess=Path(recorded["dess"]), msme=Path(recorded["msme"]), side="right")
    log.info("Writing the phantom demo knee into %s", cache_dir)
    paths = write_phantom(cache_dir, PhantomParams(seed=seed, snr=snr, grid=grid))
    record = {"settings": settings, "labels": str(paths.labels), "dess": str(paths.dess), "msme": str(paths.msme)}
    marker.write_text(json.dumps(record, indent=2), encoding="utf-8")
    return KneeInputs(labels=Path(paths.labels), dess=Path(paths.dess), msme=Path(paths.msme), side="right")
