"""Cohort statistics of one phantom or study cohort, written to a stats folder.

For every bone this computes the atlas, the two groups (TP_pain and
TN_nopain, or pain and no_pain with ``grouping="label"``), the
point-wise SPM of every Grad-CAM strategy (with FDR and FWE corrections)
and the nested logistic regressions with the DL-guided thickness. It writes

- ``atlas_<bone>.vtp``: the reference bone with point arrays
  ``tp_mean_gradcam_<strategy>``, ``tn_mean_gradcam_<strategy>``,
  ``t_<strategy>``, ``p_<strategy>``, ``p_fdr_<strategy>``,
  ``p_fwe_<strategy>`` and field data ``reference_knee``, ``group_names``,
  ``n_tp`` and ``n_tn`` (the ``tp_``/``n_tp`` names hold
  the first group, also with ``grouping="label"``);
- ``regression.json``: per bone both models' log-likelihoods, coefficients,
  standard errors, p-values, sensitivity, specificity, AUC and ``lrt_p``
  (or ``error`` when the fit is impossible);
- ``regression.md``: the same as a Table-3-like Markdown table;
- ``regression_<bone>.csv``: the per-knee regression table;
- ``groups.json``: group sizes and demographics per bone, the models used,
  the reference knee and the settings.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyvista as pv

from kneeviewer.errors import FitError, InputError
from kneeviewer.progress import CancelCheck, ProgressCallback, check_cancel, report, sub_progress
from kneeviewer.stats.atlas import choose_reference, map_onto_atlas
from kneeviewer.stats.dlguided import compartment_thickness, dl_guided_thickness, vertex_areas
from kneeviewer.stats.groups import describe_groups, group_names, select_groups
from kneeviewer.stats.regression import NestedLogitResult, fit_nested_logit, format_regression_table
from kneeviewer.stats.spm import spm_with_corrections

log = logging.getLogger(__name__)

BONES = ("femur", "tibia", "patella")
GRADCAM_PREFIX = "gradcam_"
#: Columns of the base regression model; the full model adds ``dl_guided_mm``.
BASE_PREDICTORS = ["age", "bmi", "sex", "medial_mm", "lateral_mm"]


def encode_sex(values: pd.Series) -> pd.Series:
    """Return sex as numbers: numeric codes unchanged, ``"F"`` -> 1 and ``"M"`` -> 0."""
    if pd.api.types.is_numeric_dtype(values):
        return values.astype(float)
    mapping = {"F": 1.0, "FEMALE": 1.0, "M": 0.0, "MALE": 0.0}
    encoded = values.astype(str).str.strip().str.upper().map(mapping)
    unknown = sorted(set(values[encoded.isna() & values.notna()].astype(str)))
    if unknown:
        raise InputError(f"Unknown sex codes {unknown}; expected numbers or F/M.")
    return encoded


def run_cohort_stats(
    knees: pd.DataFrame,
    probabilities: pd.DataFrame,
    out_dir: Path,
    bones: Sequence[str] = BONES,
    models: Sequence[str] | None = None,
    reference: dict[str, object] | None = None,
    dl_strategy: str = "thickness",
    threshold: float = 0.5,
    grouping: str = "correct",
    n_permutations: int = 1000,
    n_samples: int = 2500,
    seed: int = 0,
    progress: ProgressCallback | None = None,
    should_cancel: CancelCheck | None = None,
) -> dict:
    """Compute and write the cohort statistics of every bone.

    Parameters
    ----------
    knees
        One row per test knee with columns ``age``, ``sex``, ``bmi``,
        ``pain`` (0/1) and ``results_dir`` (absolute path of the knee's
        results folder with ``<bone>.vtp`` and its ``gradcam_<strategy>``,
        ``thickness_mm`` arrays).
    probabilities
        Predicted pain probability per knee (same index) and model
        (columns ``<bone>_<strategy>``).
    out_dir
        Stats folder to write.
    models
        Model columns for the group intersection; None uses all columns.
    reference
        Bone to the index of the knee to use as atlas; missing bones use
        :func:`choose_reference` on the knees' demographics.
    dl_strategy
        Grad-CAM strategy whose map weights the DL-guided thickness.
    threshold
        Probability at or above which a model predicts pain.
    grouping
        ``"correct"`` (TP_pain against TN_nopain, the study's) or ``"label"``
        (all knees with pain against all without); see
        :mod:`kneeviewer.stats.groups`.
    n_permutations, seed
        Permutations and seed of the FWE correction; ``seed`` also seeds
        the registration subsampling.

    Returns
    -------
    dict
        The content of ``regression.json``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    required = {"age", "sex", "bmi", "pain", "results_dir"}
    if not required <= set(knees.columns):
        raise InputError(f"The knee table needs columns {sorted(required)}; it has {list(knees.columns)}.")
    knees = knees.copy()
    knees["sex"] = encode_sex(knees["sex"])
    check_gradcam(knees, bones)
    names = group_names(grouping)
    groups = select_groups(probabilities, knees["pain"], models, threshold, grouping)
    reference = dict(reference or {})
    regression: dict[str, dict] = {}
    nested_results: dict[str, NestedLogitResult] = {}
    groups_report: dict[str, object] = {
        "models": list(probabilities.columns if models is None else models),
        "threshold": threshold,
        "grouping": grouping,
        "sex_codes": "F and FEMALE are 1, M and MALE are 0; numeric codes are kept as given",
        "group_names": list(names),
        "n_permutations": n_permutations,
        "seed": seed,
        "bones": {},
    }
    for number, bone in enumerate(bones):
        check_cancel(should_cancel, f"{bone} statistics")
        bone_progress = sub_progress(progress, number / len(bones), (number + 1) / len(bones))
        if bone not in reference:
            reference[bone] = choose_reference(knees)
        atlas_summary = _bone_spm(
            knees, groups, names, bone, reference[bone], out_dir, n_permutations, n_samples, seed, bone_progress, should_cancel
        )
        groups_report["bones"][bone] = {
            "reference_knee": str(reference[bone]),
            **_knee_identity(knees, reference[bone]),
            "groups": describe_groups(groups, knees, names),
            **atlas_summary,
        }
        table = regression_table(knees, bone, dl_strategy)
        table.to_csv(out_dir / f"regression_{bone}.csv", index_label="knee")
        try:
            nested = fit_nested_logit(table, "pain", BASE_PREDICTORS, ["dl_guided_mm"], drop_missing=True)
        except (FitError, InputError) as error:
            log.warning("Regression of the %s not possible: %s", bone, error)
            regression[bone] = {"error": str(error)}
            continue
        nested_results[bone] = nested
        regression[bone] = nested.to_dict()
    report(progress, "statistics", 1.0, f"wrote {out_dir}")
    (out_dir / "regression.json").write_text(json.dumps(_nan_to_none(regression), indent=1, default=_json_default))
    (out_dir / "regression.md").write_text(format_regression_table(nested_results) if nested_results else "No regression could be fitted.\n")
    (out_dir / "groups.json").write_text(json.dumps(_nan_to_none(groups_report), indent=1, default=_json_default))
    return regression


def check_gradcam(knees: pd.DataFrame, bones: Sequence[str]) -> None:
    """Raise :class:`InputError` unless every knee's mesh of every bone has a ``gradcam_<strategy>`` array.

    Checked before any work so that a stats folder is never left half written.
    """
    for bone in bones:
        lacking = [
            str(Path(entry["results_dir"]) / f"{bone}.vtp")
            for _, entry in knees.iterrows()
            if not any(name.startswith(GRADCAM_PREFIX) for name in _read_mesh(entry["results_dir"], bone).point_data)
        ]
        if lacking:
            raise InputError(
                f"{len(lacking)} of {len(knees)} {bone} meshes have no Grad-CAM (for example {lacking[0]}); "
                "run 'kneeviewer gradcam --cohort COHORT --models MODELDIR...' with the same cohort and models first."
            )


def _bone_spm(knees, groups, names, bone, reference_id, out_dir, n_permutations, n_samples, seed, progress, should_cancel) -> dict:
    """Map the group knees onto the atlas, run the SPM of every strategy and save ``atlas_<bone>.vtp``."""
    atlas = _read_mesh(knees.loc[reference_id, "results_dir"], bone)
    atlas_out = pv.PolyData(atlas.points.copy(), atlas.faces.copy())
    strategies = sorted(name[len(GRADCAM_PREFIX) :] for name in atlas.point_data if name.startswith(GRADCAM_PREFIX))
    first, second = names
    members = groups.index[groups.isin([first, second])]
    summary = {"strategies": strategies, "n_tp": int((groups == first).sum()), "n_tn": int((groups == second).sum())}
    if not strategies:
        log.warning("The %s atlas has no gradcam_<strategy> arrays; run 'kneeviewer gradcam' first.", bone)
    if summary["n_tp"] < 2 or summary["n_tn"] < 2:
        log.warning("Too few knees for the %s SPM (%d %s, %d %s); p-values are NaN.", bone, summary["n_tp"], first, summary["n_tn"], second)
    elif strategies:
        meshes = [_read_mesh(knees.loc[knee, "results_dir"], bone) for knee in members]
        names = [GRADCAM_PREFIX + strategy for strategy in strategies]
        mapped = map_onto_atlas(
            atlas, meshes, names, n_samples=n_samples, seed=seed, progress=sub_progress(progress, 0.0, 0.6), should_cancel=should_cancel
        )
        group = (groups.loc[members] == first).to_numpy(dtype=float)
        covariates = knees.loc[members, ["age", "sex", "bmi"]].to_numpy(dtype=float)
        for number, strategy in enumerate(strategies):
            check_cancel(should_cancel, f"{bone} SPM")
            start = 0.6 + 0.4 * number / len(strategies)
            result, p_fdr, p_fwe = spm_with_corrections(
                mapped[GRADCAM_PREFIX + strategy],
                group,
                covariates,
                n_permutations=n_permutations,
                seed=seed,
                progress=sub_progress(progress, start, start + 0.4 / len(strategies)),
                should_cancel=should_cancel,
            )
            atlas_out.point_data[f"tp_mean_gradcam_{strategy}"] = result.mean_group1
            atlas_out.point_data[f"tn_mean_gradcam_{strategy}"] = result.mean_group0
            atlas_out.point_data[f"t_{strategy}"] = result.t
            atlas_out.point_data[f"p_{strategy}"] = result.p
            atlas_out.point_data[f"p_fdr_{strategy}"] = p_fdr
            atlas_out.point_data[f"p_fwe_{strategy}"] = p_fwe
    atlas_out.field_data["reference_knee"] = np.array([str(reference_id)])
    atlas_out.field_data["group_names"] = np.array([first, second])
    atlas_out.field_data["n_tp"] = np.array([summary["n_tp"]])
    atlas_out.field_data["n_tn"] = np.array([summary["n_tn"]])
    atlas_out.save(out_dir / f"atlas_{bone}.vtp")
    return summary


def regression_table(knees: pd.DataFrame, bone: str, dl_strategy: str) -> pd.DataFrame:
    """Build the per-knee table ``age, bmi, sex, medial_mm, lateral_mm, dl_guided_mm, pain`` of one bone.

    Compartments follow :func:`kneeviewer.surface.compartments.compartment_labels`
    (a sagittal plane through the bone centroid). Knees whose mesh lacks
    ``thickness_mm`` or the Grad-CAM of ``dl_strategy`` get NaN in the
    affected columns.
    """
    from kneeviewer.surface.compartments import compartment_labels

    rows = []
    for knee, entry in knees.iterrows():
        mesh = _read_mesh(entry["results_dir"], bone)
        thickness = np.asarray(mesh.point_data["thickness_mm"], float) if "thickness_mm" in mesh.point_data else np.full(mesh.n_points, np.nan)
        areas = vertex_areas(mesh)
        points = np.asarray(mesh.points, dtype=float)
        labels = compartment_labels(points, bone, _centroid_mm(mesh, entry["results_dir"], bone))
        means = compartment_thickness(thickness, labels, areas)
        name = GRADCAM_PREFIX + dl_strategy
        dl = dl_guided_thickness(thickness, np.asarray(mesh.point_data[name], float), areas) if name in mesh.point_data else np.nan
        rows.append(
            {
                "knee": knee,
                **({"patient_id": entry["patient_id"]} if "patient_id" in entry.index else {}),
                "age": entry["age"],
                "bmi": entry["bmi"],
                "sex": entry["sex"],
                "medial_mm": means.get("medial", np.nan),
                "lateral_mm": means.get("lateral", np.nan),
                "dl_guided_mm": dl,
                "pain": entry["pain"],
            }
        )
    return pd.DataFrame(rows).set_index("knee")


def _centroid_mm(mesh: pv.PolyData, results_dir, bone: str) -> np.ndarray:
    if "centroid_mm" in mesh.field_data:
        return np.asarray(mesh.field_data["centroid_mm"], dtype=float).reshape(3)
    summary_path = Path(results_dir) / "summary.json"
    try:
        return np.asarray(json.loads(summary_path.read_text())["bones"][bone]["centroid_mm"], dtype=float).reshape(3)
    except (OSError, KeyError, ValueError):
        # NOTE: without a stored volumetric centroid the vertex mean is used instead, which
        # shifts the medial/lateral plane slightly toward the more densely sampled side.
        return np.asarray(mesh.points, dtype=float).mean(axis=0)


def _knee_identity(knees: pd.DataFrame, knee) -> dict[str, object]:
    """Return the reference knee's ``reference_patient_id`` and ``reference_timepoint`` where the table has them."""
    identity: dict[str, object] = {}
    for column in ("patient_id", "timepoint"):
        if column in knees.columns:
            value = knees.loc[knee, column]
            identity[f"reference_{column}"] = value.item() if hasattr(value, "item") else value
    return identity


def _read_mesh(results_dir, bone: str) -> pv.PolyData:
    path = Path(results_dir) / f"{bone}.vtp"
    if not path.is_file():
        raise InputError(f"Bone mesh {path} not found; run the knee pipeline for this knee first.")
    return pv.read(path)


def _nan_to_none(value):
    """Replace NaN floats by None so that the JSON files stay valid (``null``)."""
    if isinstance(value, dict):
        return {key: _nan_to_none(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_nan_to_none(item) for item in value]
    if isinstance(value, float) and np.isnan(value):
        return None
    return value


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    return str(value)
