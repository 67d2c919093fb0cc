"""The per-knee pipeline: label map and images in, bone meshes and spherical maps out.

Stages, in order (:data:`STAGES`):

1. ``thickness``: cartilage thickness by the sagittal skeleton method.
2. ``t2``: MSME resampled onto the DESS grid and fitted voxel by voxel.
3. ``surfaces``: shaft crop and marching cubes of each bone.
4. ``projection``: thickness, T2 and bone shape onto each bone surface.
5. ``spherical``: the 224 x 224 spherical maps of every array.
6. ``summary``: ``summary.json`` and the ``thickness.png`` rendering.

Every stage is cached under ``<out_dir>/stages`` (see
:mod:`kneeviewer.pipeline.cache`), so a cancelled or failed run keeps what
finished and a re-run starts where it stopped.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyvista as pv

from kneeviewer.errors import Cancelled, KneeViewerError, PipelineError
from kneeviewer.io.paths import ensure_output_folder
from kneeviewer.pipeline.cache import StageCache, file_fingerprint, stage_key
from kneeviewer.pipeline.inputs import LoadedKnee, load_knee
from kneeviewer.pipeline.params import KneeInputs, PipelineParams
from kneeviewer.pipeline.results import KneeResults, load_results, write_results
from kneeviewer.pipeline.sparse import load_sparse_field, save_sparse_field
from kneeviewer.progress import CancelCheck, ProgressCallback, check_cancel, report, sub_progress

log = logging.getLogger(__name__)

STAGES: tuple[str, ...] = ("thickness", "t2", "surfaces", "projection", "spherical", "summary")

#: Share of the overall progress bar that each stage takes (a rough guide from runs on the sample knee).
_STAGE_WEIGHTS = {"inputs": 0.05, "thickness": 0.25, "t2": 0.2, "surfaces": 0.2, "projection": 0.15, "spherical": 0.1, "summary": 0.05}


def _stage_span(stage: str) -> tuple[float, float]:
    order = ("inputs",) + STAGES
    start = sum(_STAGE_WEIGHTS[name] for name in order[: order.index(stage)])
    return start, start + _STAGE_WEIGHTS[stage]


class _Runner:
    """State shared by the stages of one run."""

    def __init__(self, inputs: KneeInputs, out_dir: Path, params: PipelineParams,
                 progress: ProgressCallback | None, should_cancel: CancelCheck | None) -> None:
        self.inputs = inputs
        self.out_dir = Path(out_dir)
        self.params = params
        self.progress = progress
        self.should_cancel = should_cancel
        self.cache = StageCache(self.out_dir)
        self.knee: LoadedKnee | None = None
        self.timings: dict[str, float] = {}
        self.reused: list[str] = []
        # Per-bone sub-grids, filled by kneeviewer.pipeline.stages.bone_region.
        self.regions: dict = {}
        self.label_objects: list | None = None
        self.fingerprint = {
            "labels": file_fingerprint(inputs.labels),
            "dess": file_fingerprint(inputs.dess),
            "msme": file_fingerprint(inputs.msme),
            "schema": file_fingerprint(inputs.schema),
            "side": inputs.side,
            "msme_series": inputs.msme_series,
        }

    def stage(self, name: str, dependencies: dict, compute: Callable[[Path, ProgressCallback | None], dict | None]) -> Path:
        """Run one stage, or reuse its cached folder when its key matches."""
        check_cancel(self.should_cancel, name)
        start, stop = _stage_span(name)
        key = stage_key(name, {"inputs": self.fingerprint, **dependencies})
        cached = self.cache.lookup(name, key)
        if cached is not None:
            log.info("Reusing finished stage %s from %s", name, cached)
            self.reused.append(name)
            report(self.progress, name, stop, "reused from an earlier run")
            return cached
        report(self.progress, name, start, "started")
        temporary = self.cache.begin(name)
        began = time.perf_counter()
        try:
            extra = compute(temporary, sub_progress(self.progress, start, stop))
        except BaseException:
            self.cache.discard(temporary)
            raise
        self.timings[name] = time.perf_counter() - began
        folder = self.cache.commit(name, key, temporary, {"seconds": self.timings[name], **(extra or {})})
        log.info("Stage %s finished in %.1f s", name, self.timings[name])
        report(self.progress, name, stop, f"finished in {self.timings[name]:.1f} s")
        return folder

    def loaded(self) -> LoadedKnee:
        """Return the knee's images, reading them on first use."""
        if self.knee is None:
            report(self.progress, "inputs", 0.0, "reading inputs")
            self.knee = load_knee(self.inputs)
            report(self.progress, "inputs", _STAGE_WEIGHTS["inputs"], "inputs read")
        return self.knee


def run_knee(
    inputs: KneeInputs,
    out_dir: str | Path,
    params: PipelineParams | None = None,
    progress: ProgressCallback | None = None,
    should_cancel: CancelCheck | None = None,
) -> KneeResults:
    """Run every stage of the pipeline for one knee.

    Parameters
    ----------
    inputs : KneeInputs
        Label map and optional DESS, MSME and schema.
    out_dir : path
        Results folder; created if needed. Finished stages are kept under
        ``out_dir/stages`` and reused by a later run with the same inputs and
        parameters.
    params : PipelineParams, optional
        Stage parameters; defaults follow the study.
    progress : callable, optional
        ``progress(stage, fraction, message)``.
    should_cancel : callable, optional
        Returns True to stop between steps.

    Returns
    -------
    KneeResults
        Meshes, spherical maps and the summary, as written to ``out_dir``.

    Raises
    ------
    InputError
        Bad input files or values.
    Cancelled
        ``should_cancel`` returned True; finished stages stay on disk.
    """
    params = params or PipelineParams()
    runner = _Runner(inputs, Path(out_dir), params, progress, should_cancel)
    ensure_output_folder(runner.out_dir)
    try:
        from kneeviewer.pipeline import stages

        thickness_dir = runner.stage("thickness", {"storage": "bone-box", "bones": list(params.bones)}, lambda tmp, cb: stages.compute_thickness(runner, tmp, cb))
        t2_dir = None
        if inputs.msme is not None:
            t2_params = {"t2_min_r2": params.t2_min_r2, "t2_range_ms": list(params.t2_range_ms)}
            t2_dir = runner.stage("t2", t2_params, lambda tmp, cb: stages.compute_t2(runner, tmp, cb))
        surface_params = {"target_vertices": params.target_vertices, "smoothing_iterations": params.smoothing_iterations,
                          "crop_shaft": params.crop_shaft, "bones": list(params.bones)}
        surfaces_dir = runner.stage("surfaces", surface_params, lambda tmp, cb: stages.compute_surfaces(runner, tmp, cb))
        projection_params = {**surface_params, "radius_mm": params.projection_radius_mm,
                             "max_distance_mm": params.max_projection_distance_mm, "t2": t2_dir is not None,
                             "t2_params": [params.t2_min_r2, list(params.t2_range_ms)]}
        projection_dir = runner.stage(
            "projection", projection_params,
            lambda tmp, cb: stages.compute_projection(runner, tmp, cb, thickness_dir, t2_dir, surfaces_dir),
        )
        spherical_dir = runner.stage(
            "spherical", projection_params,
            lambda tmp, cb: stages.compute_spherical(runner, tmp, cb, projection_dir),
        )
        check_cancel(should_cancel, "summary")
        start, stop = _stage_span("summary")
        report(progress, "summary", start, "writing results")
        results = write_results(runner, projection_dir, spherical_dir, t2_dir)
        report(progress, "summary", stop, "done")
        return results
    except (KneeViewerError, Cancelled):
        raise
    except MemoryError as error:
        raise PipelineError(
            f"Out of memory while processing {inputs.labels}. Lower --target-vertices or close other programs; "
            f"finished stages are kept in {runner.cache.root}."
        ) from error


__all__ = ["STAGES", "run_knee", "load_results"]
