"""The pipeline layer: chains the stages for one knee, with caching on disk."""

from kneeviewer.pipeline.demo import demo_inputs
from kneeviewer.pipeline.knee import STAGES, run_knee
from kneeviewer.pipeline.params import KneeInputs, PipelineParams
from kneeviewer.pipeline.results import KneeResults, load_results

__all__ = ["STAGES", "KneeInputs", "KneeResults", "PipelineParams", "demo_inputs", "load_results", "run_knee"]
