"""Throughput of chronic-pain model training, inference and Grad-CAM, per preset.

Measures images per second of kneeviewer's training step (the loop of
``kneeviewer.learning.training.fit`` with deterministic algorithms), its
inference and its Grad-CAM, against peers run in the same process: a plain
PyTorch training step through ``torch.utils.data.DataLoader`` without
deterministic algorithms, a plain forward pass, and pytorch-grad-cam's
``GradCAM``. Prints the median of ``--repeat`` timings and the ratio
kneeviewer / peer (above 1 means kneeviewer is faster).

With ``--phantom-patients N`` it also builds femur-only analytic phantom
cohorts of N patients with the strong and with no planted pattern, trains
the fast-preset femur thickness model on each and prints the test AUC, the
radiographic baseline AUC and the wall times.

Usage::

    python benchmarks/bench_learning.py [--repeat 5] [--batches 3] [--paper-batch 8] [--phantom-patients 300 --out DIR]

The ``paper`` preset (ResNet-50, 224 px) is timed with a smaller batch than
its 300 (``--paper-batch``) so that it fits a laptop; images per second
barely depend on the batch size on a CPU.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from pytorch_grad_cam import GradCAM
from torch.utils.data import DataLoader, TensorDataset

from kneeviewer.learning.gradcam import gradcam
from kneeviewer.learning.models import build_resnet
from kneeviewer.learning.presets import preset
from kneeviewer.learning.training import deterministic_torch, predict_logits


class LogitTarget:
    """pytorch-grad-cam target for a single-logit model."""

    def __call__(self, output: torch.Tensor) -> torch.Tensor:
        return output.reshape(-1)[0]


def time_call(function, repeat: int) -> float:
    """Return the median wall time of ``function()`` in seconds over ``repeat`` calls after one warm-up."""
    function()
    timings = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def bench_preset(name: str, batch: int, batches: int, repeat: int) -> list[tuple[str, float, float]]:
    """Return (measurement, kneeviewer images/s, peer images/s) rows of one preset."""
    config = preset(name)
    torch.manual_seed(0)
    inputs = torch.randn(batch * batches, 3, config.image_px, config.image_px)
    labels = (torch.rand(batch * batches) < 0.4).float()
    count = len(inputs)
    rows = []

    model = build_resnet(config.depth)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    loss_function = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(1.5))

    def kneeviewer_epoch() -> None:
        with deterministic_torch(config.threads):
            model.train()
            order = torch.randperm(count, generator=torch.Generator().manual_seed(0))
            for start in range(0, count, batch):
                index = order[start : start + batch]
                optimiser.zero_grad()
                loss_function(model(inputs[index]).squeeze(1), labels[index]).backward()
                optimiser.step()

    loader = DataLoader(TensorDataset(inputs, labels), batch_size=batch, shuffle=True, num_workers=0)

    def peer_epoch() -> None:
        model.train()
        for images, targets in loader:
            optimiser.zero_grad()
            loss_function(model(images).squeeze(1), targets).backward()
            optimiser.step()

    rows.append(("training", count / time_call(kneeviewer_epoch, repeat), count / time_call(peer_epoch, repeat)))

    def kneeviewer_inference() -> None:
        predict_logits(model, inputs, batch)

    def peer_inference() -> None:
        model.eval()
        with torch.inference_mode():
            for start in range(0, count, batch):
                model(inputs[start : start + batch])

    rows.append(("inference", count / time_call(kneeviewer_inference, repeat), count / time_call(peer_inference, repeat)))

    cam_inputs = inputs[:batch]

    def kneeviewer_gradcam() -> None:
        gradcam(model, cam_inputs, size_px=config.image_px)

    def peer_gradcam() -> None:
        with GradCAM(model=model, target_layers=[model.layer4[-1]]) as cam:
            cam(input_tensor=cam_inputs, targets=[LogitTarget() for _ in range(len(cam_inputs))])

    rows.append(("gradcam", batch / time_call(kneeviewer_gradcam, repeat), batch / time_call(peer_gradcam, repeat)))
    return rows


def bench_phantom(patients: int, out_dir: Path) -> None:
    """Build strong and no-effect cohorts, train and evaluate the fast femur thickness model, print the results."""
    from kneeviewer.learning.evaluation import evaluate_models
    from kneeviewer.learning.training import train_model
    from kneeviewer.phantom.cohort import CohortParams, build_cohort

    print(f"{'effect':<7} {'patients':>8} {'cohort s':>9} {'train s':>8} {'test AUC (95% CI)':>24} {'baseline AUC':>13}")
    for effect in ("strong", "none"):
        cohort = out_dir / f"{effect}_{patients}"
        params = CohortParams(patients, effect=effect, seed=1, source="analytic", bones=("femur",), target_vertices=1500)
        start = time.perf_counter()
        build_cohort(cohort, params, workers=2)
        cohort_seconds = time.perf_counter() - start
        start = time.perf_counter()
        train_model(cohort, "femur", "thickness", preset("fast"), cohort / "femur_thickness")
        train_seconds = time.perf_counter() - start
        metrics = evaluate_models(cohort, [cohort / "femur_thickness"], cohort / "evaluation")
        auc = metrics["femur_thickness"]["auc"]
        baseline = metrics["radiographic_baseline"]["auc"]["value"]
        interval = f"{auc['value']:.3f} ({auc['ci_low']:.3f}-{auc['ci_high']:.3f})"
        print(f"{effect:<7} {patients:>8} {cohort_seconds:>9.0f} {train_seconds:>8.0f} {interval:>24} {baseline:>13.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed repetitions per measurement (default 5)")
    parser.add_argument("--batches", type=int, default=3, help="batches per timed epoch (default 3)")
    parser.add_argument("--paper-batch", type=int, default=8, help="batch size for the paper preset (default 8)")
    parser.add_argument("--phantom-patients", type=int, default=0, help="also run the phantom AUC check with this many patients")
    parser.add_argument("--out", type=Path, default=Path("bench_learning_cohorts"), help="folder for the phantom cohorts")
    args = parser.parse_args()
    np.random.seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'preset':<7} {'measurement':<10} {'kneeviewer img/s':>17} {'peer img/s':>11} {'ratio':>6}")
    for name, batch in (("fast", preset("fast").batch_size), ("paper", args.paper_batch)):
        for measurement, ours, peer in bench_preset(name, batch, args.batches, args.repeat):
            print(f"{name:<7} {measurement:<10} {ours:>17.1f} {peer:>11.1f} {ours / peer:>6.2f}")
    if args.phantom_patients:
        bench_phantom(args.phantom_patients, args.out)


if __name__ == "__main__":
    main()
