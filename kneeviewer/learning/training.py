"""Training of one chronic-pain ResNet with early stopping and checkpoints.

Class-weighted binary cross-entropy (``pos_weight`` = negatives / positives
of the training rows), Adam, early stopping on the validation loss, and the
best-validation-loss weights saved as ``model.pt`` beside ``model.json``
(configuration, history, validation metrics). Runs on the CPU with seeded
initialisation, a seeded batch order, single-threaded batch assembly and
``torch.use_deterministic_algorithms``, so one seed gives identical weights.

After every epoch the batch-normalisation statistics are recomputed over the
training rows (a "precise BN" pass) before the validation pass. On small
phantom cohorts an epoch is only a few optimiser steps, and the running
averages (momentum 0.1) then still mostly hold their initial values. The
validation predictions then all fell on one side of 0.5 and the validation
loss jumped between epochs, so early stopping kept a poor epoch: the fast
preset reached test AUC 0.83 on a 300-patient strong phantom cohort without
the pass and 0.96 on another such cohort with it.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from kneeviewer.errors import InputError
from kneeviewer.learning.images import ImageStore, check_bone, check_strategy
from kneeviewer.learning.metrics import binary_metrics
from kneeviewer.learning.models import build_resnet, freeze_layers, load_head_compatible
from kneeviewer.learning.presets import TrainConfig
from kneeviewer.learning.splits import load_splits, rows_of_split
from kneeviewer.progress import CancelCheck, ProgressCallback, check_cancel, report, sub_progress

log = logging.getLogger(__name__)

#: ImageNet channel statistics; the uint8 images are scaled to [0, 1] first.
CHANNEL_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
CHANNEL_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
MODEL_FILE = "model.pt"
CONFIG_FILE = "model.json"


def prepare_inputs(images: np.ndarray, image_px: int, chunk: int = 256) -> torch.Tensor:
    """Turn uint8 images into normalised float network inputs.

    Parameters
    ----------
    images : uint8 array, (n, 3, 224, 224)
    image_px : side of the output; area-weighted downsampling when smaller

    Returns
    -------
    Tensor, float32, (n, 3, image_px, image_px)
    """
    parts = []
    for start in range(0, len(images), chunk):
        batch = torch.from_numpy(np.ascontiguousarray(images[start : start + chunk])).float() / 255.0
        if batch.shape[-1] != image_px:
            batch = functional.interpolate(batch, size=(image_px, image_px), mode="area")
        parts.append((batch - CHANNEL_MEAN) / CHANNEL_STD)
    if not parts:
        return torch.zeros((0, 3, image_px, image_px))
    return torch.cat(parts)


@contextlib.contextmanager
def deterministic_torch(threads: int = 0) -> Iterator[None]:
    """Turn on deterministic algorithms, and set the CPU thread count unless 0, for a block."""
    previous = torch.are_deterministic_algorithms_enabled()
    previous_threads = torch.get_num_threads()
    torch.use_deterministic_algorithms(True)
    if threads > 0:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous)
        torch.set_num_threads(previous_threads)


@dataclass
class FitResult:
    """Best weights and the per-epoch history of one fit."""

    state: dict[str, torch.Tensor]
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    pos_weight: float = 1.0


def fit(
    model: nn.Module,
    inputs: torch.Tensor,
    labels: np.ndarray,
    train_rows: np.ndarray,
    validation_rows: np.ndarray,
    config: TrainConfig,
    max_epochs: int,
    progress: ProgressCallback | None = None,
    should_cancel: CancelCheck | None = None,
) -> FitResult:
    """Train ``model`` in place and return its best-validation-loss weights.

    Parameters
    ----------
    inputs : Tensor, (n, 3, px, px)
        Network inputs of every row that ``train_rows`` and
        ``validation_rows`` index.
    labels : (n,) array of 0/1
    """
    targets = torch.as_tensor(np.array(labels, dtype=np.float32))
    train_rows = np.array(train_rows, dtype=np.int64)  # a writable copy for torch.from_numpy
    validation_rows = np.array(validation_rows, dtype=np.int64)
    positives = float(targets[train_rows].sum())
    negatives = float(len(train_rows) - positives)
    if positives == 0 or negatives == 0:
        raise InputError(
            f"The training split has {int(positives)} positive and {int(negatives)} negative knees; "
            "both classes are needed. Use a larger cohort or other split ratios."
        )
    pos_weight = torch.tensor(negatives / positives)
    loss_function = nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    trainable = [parameter for parameter in model.parameters() if parameter.requires_grad]
    optimiser = torch.optim.Adam(trainable, lr=config.learning_rate)
    generator = torch.Generator().manual_seed(config.seed)

    result = FitResult(state=copy.deepcopy(model.state_dict()), pos_weight=float(pos_weight))
    best_loss = float("inf")
    epochs_without_improvement = 0
    for epoch in range(max_epochs):
        check_cancel(should_cancel, "training")
        model.train()
        order = torch.from_numpy(train_rows)[torch.randperm(len(train_rows), generator=generator)]
        train_loss = 0.0
        for start in range(0, len(order), config.batch_size):
            batch = order[start : start + config.batch_size]
            if len(batch) < 2:
                continue  # batch normalisation needs two samples in training mode
            optimiser.zero_grad()
            loss = loss_function(model(inputs[batch]).squeeze(1), targets[batch])
            loss.backward()
            optimiser.step()
            train_loss += float(loss.detach()) * len(batch)
        recalibrate_batch_norm(model, inputs, train_rows, config.batch_size)
        validation_logits = predict_logits(model, inputs[validation_rows], config.batch_size)
        validation_loss = float(loss_function(validation_logits, targets[validation_rows]))
        metrics = binary_metrics(targets[validation_rows].numpy(), torch.sigmoid(validation_logits).numpy())
        entry = {
            "epoch": epoch + 1,
            "train_loss": train_loss / max(len(order), 1),
            "validation_loss": validation_loss,
            **{f"validation_{name}": value for name, value in metrics.items()},
        }
        result.history.append(entry)
        log.info("Epoch %d: train loss %.4f, validation loss %.4f, AUC %.3f", epoch + 1, entry["train_loss"], validation_loss, metrics["auc"])
        report(progress, "training", (epoch + 1) / max_epochs, f"epoch {epoch + 1}, validation AUC {metrics['auc']:.3f}")
        if validation_loss < best_loss:
            best_loss = validation_loss
            result.best_epoch = epoch + 1
            result.state = copy.deepcopy(model.state_dict())
            epochs_without_improvement = 0
        else:
            epochs_without_improvement += 1
            if epochs_without_improvement >= config.patience:
                log.info("Early stop after epoch %d; best epoch %d", epoch + 1, result.best_epoch)
                break
    model.load_state_dict(result.state)
    return result


def recalibrate_batch_norm(model: nn.Module, inputs: torch.Tensor, rows: np.ndarray, batch_size: int) -> None:
    """Recompute the running statistics of the trainable batch-norm layers over ``inputs[rows]``.

    Each layer's statistics are reset and then averaged with equal weight over
    all batches (momentum None), without gradients. Layers whose affine
    parameters are frozen keep their statistics, as pretrained layers should.
    The model is left in evaluation mode.
    """
    norms = [
        module
        for module in model.modules()
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.weight is not None and module.weight.requires_grad
    ]
    if not norms or len(rows) < 2:
        model.eval()
        return
    momenta = [module.momentum for module in norms]
    for module in norms:
        module.reset_running_stats()
        module.momentum = None
    model.train()
    with torch.no_grad():
        for start in range(0, len(rows), batch_size):
            batch = torch.as_tensor(rows[start : start + batch_size])
            if len(batch) >= 2:
                model(inputs[batch])
    for module, momentum in zip(norms, momenta, strict=True):
        module.momentum = momentum
    model.eval()


def predict_logits(model: nn.Module, inputs: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """Return the logits (n,) of ``inputs`` in evaluation mode, without gradients."""
    model.eval()
    logits = []
    with torch.no_grad():
        for start in range(0, len(inputs), batch_size):
            logits.append(model(inputs[start : start + batch_size]).squeeze(1))
    return torch.cat(logits) if logits else torch.zeros(0)


def auc_coefficient_of_variation(history: list[dict[str, float]]) -> float:
    """Return std / mean of the validation AUC over the epochs (training smoothness; lower is smoother)."""
    values = np.array([entry["validation_auc"] for entry in history], dtype=float)
    values = values[np.isfinite(values)]
    if len(values) < 2 or values.mean() == 0:
        return float("nan")
    return float(values.std(ddof=1) / values.mean())


def train_model(
    cohort_dir: Path,
    bone: str,
    strategy: str,
    config: TrainConfig,
    out_dir: Path,
    progress: ProgressCallback | None = None,
    should_cancel: CancelCheck | None = None,
) -> Path:
    """Train one chronic-pain model on a cohort and write its checkpoint.

    Parameters
    ----------
    cohort_dir : Path
        A cohort with ``images/`` and ``splits.csv`` (see
        :mod:`kneeviewer.phantom.cohort`).
    bone, strategy : names from :data:`~kneeviewer.learning.images.BONES`
        and :data:`~kneeviewer.learning.images.STRATEGIES`.
    out_dir : Path
        Receives ``model.pt`` (state dict of the best validation loss) and
        ``model.json``.

    Returns
    -------
    Path
        ``out_dir``.
    """
    check_bone(bone)
    check_strategy(strategy)
    cohort_dir = Path(cohort_dir)
    store = ImageStore(cohort_dir / "images")
    assignment = load_splits(cohort_dir)
    train_rows = rows_of_split(store.index, assignment, "train")
    validation_rows = rows_of_split(store.index, assignment, "validation")
    used = np.sort(np.concatenate([train_rows, validation_rows]))
    images = store.images(bone, strategy)
    report(progress, "training", 0.0, "loading images")
    # Rows outside train and validation stay zero and are never read.
    # NOTE: all inputs are held in memory as float32, about 0.6 MB per knee at
    # 224 px (4.5 GB for the study's 7,437 images); the fast preset needs a quarter.
    inputs = torch.zeros((len(store.index), 3, config.image_px, config.image_px))
    inputs[used] = prepare_inputs(images[used], config.image_px)

    with deterministic_torch(config.threads):
        torch.manual_seed(config.seed)
        model = build_resnet(config.depth, config.init, config.weights_file)
        summary: dict = {}
        fine_tune_progress = progress
        if config.init == "oa":
            oa_labels = store.index["oa"].to_numpy().astype(int)
            pretraining = fit(
                model, inputs, oa_labels, train_rows, validation_rows, config, config.oa_max_epochs,
                sub_progress(progress, 0.0, 0.5), should_cancel,
            )  # fmt: skip
            load_head_compatible(model, pretraining.state)
            summary["oa_pretraining"] = {"history": pretraining.history, "best_epoch": pretraining.best_epoch}
            fine_tune_progress = sub_progress(progress, 0.5, 1.0)
        freeze_layers(model, config.freeze)
        pain = store.index["pain"].to_numpy().astype(int)
        result = fit(model, inputs, pain, train_rows, validation_rows, config, config.max_epochs, fine_tune_progress, should_cancel)

    best = result.history[result.best_epoch - 1] if result.history else {}
    summary.update(
        {
            "bone": bone,
            "strategy": strategy,
            "cohort_dir": str(cohort_dir.resolve()),
            "config": config.as_dict(),
            "pos_weight": result.pos_weight,
            "n_train": int(len(train_rows)),
            "n_validation": int(len(validation_rows)),
            "best_epoch": result.best_epoch,
            "validation": {key: best.get(f"validation_{key}") for key in ("loss", "auc", "sensitivity", "specificity")},
            "validation_auc_cv": auc_coefficient_of_variation(result.history),
            "history": result.history,
        }
    )
    save_checkpoint(out_dir, result.state, summary)
    report(progress, "training", 1.0, f"best epoch {result.best_epoch}")
    return Path(out_dir)


def save_checkpoint(out_dir: Path, state: dict[str, torch.Tensor], summary: dict) -> None:
    """Write ``model.pt`` and ``model.json`` into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.save(state, out_dir / MODEL_FILE)
    (out_dir / CONFIG_FILE).write_text(json.dumps(summary, indent=1, default=float))


@dataclass(frozen=True)
class LoadedModel:
    """A trained model in evaluation mode with its summary from ``model.json``."""

    model: nn.Module
    bone: str
    strategy: str
    config: TrainConfig
    summary: dict

    @property
    def name(self) -> str:
        """``<bone>_<strategy>``, the model's key in reports."""
        return f"{self.bone}_{self.strategy}"


def load_model(model_dir: Path) -> LoadedModel:
    """Read a checkpoint written by :func:`train_model`."""
    model_dir = Path(model_dir)
    config_path = model_dir / CONFIG_FILE
    if not config_path.is_file() or not (model_dir / MODEL_FILE).is_file():
        raise InputError(f"No trained model in {model_dir} (model.json and model.pt expected); run 'kneeviewer train' first.")
    summary = json.loads(config_path.read_text())
    config = TrainConfig(**summary["config"])
    model = build_resnet(config.depth, "random")
    model.load_state_dict(torch.load(model_dir / MODEL_FILE, map_location="cpu", weights_only=True))
    model.eval()
    return LoadedModel(model, summary["bone"], summary["strategy"], config, summary)
