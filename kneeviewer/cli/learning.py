"""``kneeviewer train``, ``evaluate`` and ``gradcam``: the chronic-pain models."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from kneeviewer.cli.progress_bar import ProgressBar

BONE_CHOICES = ("femur", "tibia", "patella")
STRATEGY_CHOICES = ("thickness", "shape", "t2", "thickness_shape", "t2_thickness", "all")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``train``, ``evaluate`` and ``gradcam`` commands."""
    train = subparsers.add_parser("train", help="train one chronic-pain ResNet on a cohort's images")
    train.add_argument("--cohort", type=Path, required=True, help="cohort folder with images/ and splits.csv")
    train.add_argument("--bone", choices=BONE_CHOICES, required=True)
    train.add_argument("--strategy", choices=STRATEGY_CHOICES, required=True, help="which biomarkers fill the three channels")
    train.add_argument("--preset", choices=("fast", "paper"), default="fast", help="hyperparameter preset (default fast)")
    train.add_argument("--init", choices=("random", "imagenet", "oa"), default=None, help="initialisation (default: the preset's)")
    train.add_argument("--weights", type=Path, default=None, help="local torchvision ResNet state dict for --init imagenet")
    train.add_argument("--freeze", choices=("none", "first_layer", "first_two_layers", "all"), default=None)
    train.add_argument("--depth", type=int, choices=(18, 34, 50), default=None, help="ResNet depth (default: the preset's)")
    train.add_argument("--lr", type=float, default=None, help="Adam learning rate (default: the preset's)")
    train.add_argument("--epochs", type=int, default=None, help="maximum epochs (default: the preset's)")
    train.add_argument("--seed", type=int, default=0, help="seed of initialisation and batch order (default 0)")
    train.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    train.add_argument("--out", type=Path, required=True, help="model folder for model.pt and model.json")
    train.set_defaults(func=run_train)

    evaluate = subparsers.add_parser("evaluate", help="test metrics, PTF ensemble, radiographic baseline and ROC curves")
    evaluate.add_argument("--cohort", type=Path, required=True)
    evaluate.add_argument("--models", type=Path, nargs="+", required=True, help="model folders written by 'kneeviewer train'")
    evaluate.add_argument("--out", type=Path, required=True, help="folder for metrics.json, table1.md/.csv and roc.png")
    evaluate.add_argument("--bootstrap", type=int, default=100, help="bootstrap resamples (default 100)")
    evaluate.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default 0)")
    evaluate.set_defaults(func=run_evaluate)

    gradcam = subparsers.add_parser(
        "gradcam",
        help="add Grad-CAM arrays gradcam_<strategy> to the test knees' bone meshes",
        description="Compute Grad-CAM of the pain class on layer4 of every model for the test knees (all knees with "
        "--all-knees), map it back onto each knee's bone mesh through the inverse spherical map and store it as the "
        "point array gradcam_<strategy>, scaled to 0..1 per knee. 'cohort stats' needs these arrays.",
    )
    gradcam.add_argument("--cohort", type=Path, required=True, help="cohort folder with images/, splits.csv and knees/")
    gradcam.add_argument("--models", type=Path, nargs="+", required=True, help="model folders written by 'kneeviewer train'")
    gradcam.add_argument("--all-knees", action="store_true", help="map every knee, not only the test split")
    gradcam.set_defaults(func=run_gradcam)


def run_train(args: argparse.Namespace) -> int:
    """Train one model."""
    from kneeviewer.learning.presets import preset
    from kneeviewer.learning.training import train_model

    config = preset(args.preset).with_overrides(
        init=args.init,
        weights_file=str(args.weights) if args.weights else None,
        freeze=args.freeze,
        depth=args.depth,
        learning_rate=args.lr,
        max_epochs=args.epochs,
        seed=args.seed,
        threads=args.threads,
    )
    if config.init == "imagenet":
        from kneeviewer.learning.models import load_weights_file

        load_weights_file(args.weights)  # fails early with a clear message
    with ProgressBar(f"train {args.bone} {args.strategy}") as bar:
        train_model(args.cohort, args.bone, args.strategy, config, args.out, progress=bar)
    summary = json.loads((args.out / "model.json").read_text())
    validation = summary["validation"]
    print(
        f"Best epoch {summary['best_epoch']}: validation AUC {validation['auc']:.3f}, "
        f"sensitivity {validation['sensitivity']:.3f}, specificity {validation['specificity']:.3f}; saved in {args.out}",
        file=sys.stdout,
    )
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    """Evaluate models on the test split."""
    from kneeviewer.learning.evaluation import evaluate_models

    with ProgressBar("evaluate") as bar:
        evaluate_models(args.cohort, args.models, args.out, n_resamples=args.bootstrap, seed=args.seed, progress=bar)
    print((args.out / "table1.md").read_text(), file=sys.stdout)
    return 0


def run_gradcam(args: argparse.Namespace) -> int:
    """Map Grad-CAM onto the bone meshes of the test knees."""
    from kneeviewer.learning.surface_gradcam import gradcam_cohort

    with ProgressBar("gradcam") as bar:
        count = gradcam_cohort(args.cohort, args.models, test_only=not args.all_knees, progress=bar)
    print(f"Wrote Grad-CAM arrays to {count} bone meshes.", file=sys.stdout)
    return 0
