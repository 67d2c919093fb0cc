"""Figure: where the pain Grad-CAM sits for the swelling and the thinning risk patterns.

Usage::

    kneeviewer cohort phantom --out S --patients 300 --effect strong --source analytic --seed 2
    kneeviewer cohort phantom --out T --patients 300 --effect strong --source analytic --seed 2 --risk-pattern thinning
    # for C in S T: kneeviewer train --cohort C --bone femur --strategy thickness --preset fast --out C/models/femur_thickness
    #               kneeviewer evaluate ... --out C/evaluation; kneeviewer gradcam ...
    python benchmarks/figure_gradcam_localisation.py --cohorts S T --out resources/gradcam_localisation.png

Each row is one cohort. Columns: the mean thickness image of the test knees
with pain minus that of the knees without (spherical map, 224 x 224), the
mean pain Grad-CAM of the true-positive test knees in the same map, and
the ratio of the mean surface Grad-CAM inside the risk zone to the mean
outside it (the value the tests check), per true-positive knee.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pyvista as pv  # noqa: E402

from kneeviewer.learning.gradcam import gradcam  # noqa: E402
from kneeviewer.learning.images import ImageStore  # noqa: E402
from kneeviewer.learning.splits import load_splits, rows_of_split  # noqa: E402
from kneeviewer.learning.training import load_model, predict_logits, prepare_inputs  # noqa: E402

MODEL = "models/femur_thickness"


def cohort_panels(cohort: Path) -> dict:
    """Return the mean images, the mean Grad-CAM and the per-knee surface ratios of one cohort."""
    import torch

    store = ImageStore(cohort / "images")
    loaded = load_model(cohort / MODEL)
    rows = rows_of_split(store.index, load_splits(cohort), "test", first_timepoint=True)
    images = np.asarray(store.images("femur", "thickness")[rows])
    inputs = prepare_inputs(images, loaded.config.image_px)
    probability = torch.sigmoid(predict_logits(loaded.model, inputs)).numpy()
    pain = store.index.loc[rows, "pain"].to_numpy()
    true_positive = (pain == 1) & (probability >= 0.5)
    cams = gradcam(loaded.model, inputs[torch.as_tensor(np.flatnonzero(true_positive))])
    ratios = []
    for row in rows[true_positive]:
        entry = store.index.loc[row]
        values = np.asarray(pv.read(store.results_dir(int(row)) / "femur.vtp")["gradcam_thickness"])
        zone = np.load(cohort / "truth" / f"{entry['patient_id']}_T{entry['timepoint']}.npz")["femur/risk_zone"]
        finite = np.isfinite(values)
        ratios.append((values[zone & finite].mean(), values[~zone & finite].mean()))
    inside, outside = np.array(ratios).T
    return {
        "difference": images[pain == 1, 0].mean(axis=0) - images[pain == 0, 0].mean(axis=0),
        "gradcam": cams.mean(axis=0),
        "ratio": float(inside.mean() / outside.mean()),
        "n_tp": int(true_positive.sum()),
        "pattern": pd.read_csv(cohort / "cohort.csv")["risk_delta_mm"].gt(0).any(),
    }


def main() -> None:
    """Draw the figure."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cohorts", type=Path, nargs="+", required=True, help="strong cohorts with a trained femur thickness model")
    parser.add_argument("--out", type=Path, required=True, help="PNG to write")
    args = parser.parse_args()
    figure, axes = plt.subplots(len(args.cohorts), 2, figsize=(8.4, 3.9 * len(args.cohorts)), squeeze=False, layout="constrained")
    for row, cohort in enumerate(args.cohorts):
        panels = cohort_panels(cohort)
        name = "swelling" if panels["pattern"] else "thinning"
        limit = float(np.abs(panels["difference"]).max())
        image = axes[row, 0].imshow(panels["difference"], cmap="RdBu_r", vmin=-limit, vmax=limit)
        figure.colorbar(image, ax=axes[row, 0], label="grey levels (pain - no pain)")
        axes[row, 0].set_title(f"Risk pattern: {name}\nthickness image, pain minus no pain", fontsize=10)
        image = axes[row, 1].imshow(panels["gradcam"], cmap="magma", vmin=0.0, vmax=1.0)
        figure.colorbar(image, ax=axes[row, 1], label="Grad-CAM (0..1)")
        axes[row, 1].set_title(
            f"mean pain Grad-CAM, {panels['n_tp']} true-positive knees\nsurface ratio inside / outside risk zone: {panels['ratio']:.2f}",
            fontsize=10,
        )
        for axis in axes[row]:
            axis.set_xlabel("azimuth theta (-pi to +pi)")
            axis.set_ylabel("elevation phi")
            axis.set_xticks([])
            axis.set_yticks([])
        print(f"{cohort}: {name}, {panels['n_tp']} true positives, ratio {panels['ratio']:.2f}")
    figure.savefig(args.out, dpi=110)


if __name__ == "__main__":
    main()
