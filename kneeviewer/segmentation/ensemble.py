"""Segmentation by an ensemble of models whose softmax outputs are averaged.

The study segmented bones with five 3D V-Nets and cartilage with three 2D and
three 3D V-Nets, averaging their outputs. kneeviewer ships no trained
weights; this module runs any ensemble of exported models that map a
``(1, 1, ni, nj, nk)`` float image to ``(1, n_classes, ni, nj, nk)`` logits:
``torch.export`` programs (``.pt2``, the format PyTorch recommends now) or
TorchScript files (any other extension; deprecated since PyTorch 2.14 but
still common).
"""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path

import numpy as np
import torch

from kneeviewer.errors import InputError
from kneeviewer.io.volume import Volume
from kneeviewer.progress import CancelCheck, ProgressCallback, check_cancel, report

log = logging.getLogger(__name__)


def load_checkpoints(paths: list[str | Path]) -> list[torch.nn.Module]:
    """Load exported segmentation models for CPU inference.

    Raises
    ------
    InputError
        If a file is missing, or is neither a ``torch.export`` program
        (``.pt2``) nor a TorchScript module.
    """
    if not paths:
        raise InputError("No segmentation checkpoints given; pass at least one TorchScript file.")
    models = []
    for path in map(Path, paths):
        if not path.is_file():
            raise InputError(f"Segmentation checkpoint not found: {path}.")
        try:
            if path.suffix == ".pt2":
                # NOTE: torch.export imports triton, whose bundled LLVM was seen to crash a
                # process that had already rendered with Mesa's llvmpipe; load models first.
                model = torch.export.load(str(path)).module()
            else:
                model = torch.jit.load(str(path), map_location="cpu")
                model.eval()
        except (RuntimeError, ValueError, OSError, zipfile.BadZipFile) as error:
            raise InputError(f"Segmentation checkpoint {path} could not be loaded as a torch.export program (.pt2) "
                             f"or a TorchScript module ({type(error).__name__}). Export the model with torch.export.save.") from error
        models.append(model)
    return models


def _normalise(image: np.ndarray) -> np.ndarray:
    finite = image[np.isfinite(image)]
    if finite.size == 0:
        raise InputError("The image to segment has no finite voxels.")
    mean, std = float(finite.mean()), float(finite.std())
    return np.nan_to_num((image - mean) / (std if std > 0 else 1.0)).astype(np.float32)


def average_softmax(models: list[torch.nn.Module], image: np.ndarray, *,
                    progress: ProgressCallback | None = None, should_cancel: CancelCheck | None = None) -> np.ndarray:
    """Mean of the models' softmax probabilities, shape (n_classes, ni, nj, nk).

    The image is standardised to zero mean and unit variance first.
    """
    tensor = torch.from_numpy(_normalise(np.asarray(image, dtype=np.float32)))[None, None]
    total: torch.Tensor | None = None
    with torch.inference_mode():
        for index, model in enumerate(models):
            check_cancel(should_cancel, "segmentation")
            report(progress, "segmentation", index / len(models), f"model {index + 1} of {len(models)}")
            logits = model(tensor)
            if logits.ndim != 5 or logits.shape[2:] != tensor.shape[2:]:
                raise InputError(
                    f"Segmentation model {index + 1} returned shape {tuple(logits.shape)}; "
                    f"expected (1, n_classes, {', '.join(map(str, tensor.shape[2:]))})."
                )
            probabilities = torch.softmax(logits.float(), dim=1)
            if total is not None and probabilities.shape != total.shape:
                raise InputError("Segmentation models disagree on the number of classes; use one ensemble per task.")
            total = probabilities if total is None else total + probabilities
    report(progress, "segmentation", 1.0, "done")
    return (total / len(models))[0].numpy()


def segment(models: list[torch.nn.Module], image: Volume, class_labels: list[int] | None = None, **kwargs) -> Volume:
    """Label map from the ensemble's averaged softmax (arg-max per voxel).

    Parameters
    ----------
    models : list of torch.nn.Module
        The ensemble.
    image : Volume
        The image to segment (DESS).
    class_labels : list of int, optional
        Label value written for each output class (default: the class index).
    """
    probabilities = average_softmax(models, image.data, **kwargs)
    classes = np.argmax(probabilities, axis=0)
    if class_labels is not None:
        if len(class_labels) != probabilities.shape[0]:
            raise InputError(f"{len(class_labels)} class labels given for {probabilities.shape[0]} model classes.")
        classes = np.asarray(class_labels, dtype=np.int32)[classes]
    return image.with_data(classes.astype(np.uint8 if classes.max() < 256 else np.int32))
