"""ResNet classifiers with one output logit, their initialisation and layer freezing.

Initialisations: ``random``; ``imagenet`` from a local torchvision weights
file (nothing is ever downloaded); ``oa``, a model first trained on OA
status (KL 0-1 vs 2-4) whose weights :mod:`kneeviewer.learning.training`
passes in as a state dict before fine-tuning on chronic pain.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn
from torchvision.models import resnet18, resnet34, resnet50

from kneeviewer.errors import InputError

log = logging.getLogger(__name__)

DEPTHS = {18: resnet18, 34: resnet34, 50: resnet50}
INITS = ("random", "imagenet", "oa")
#: Freezing variants. ``first_layer`` is the stem (conv1 and bn1),
#: ``first_two_layers`` the stem and ``layer1``, ``all`` every layer but the
#: final fully connected one.
FREEZES = ("none", "first_layer", "first_two_layers", "all")


def build_resnet(depth: int, init: str = "random", weights_file: Path | None = None) -> nn.Module:
    """Build a torchvision ResNet with a single-logit head.

    Parameters
    ----------
    depth : 18, 34 or 50
    init : "random", "imagenet" or "oa"
        ``imagenet`` loads ``weights_file`` (a torchvision ResNet state dict,
        e.g. ``resnet50-0676ba61.pth``) before the head is replaced. ``oa``
        builds a random model here; the caller loads the OA-pretrained state.
    weights_file : Path, optional
        Required with ``init="imagenet"``.
    """
    if depth not in DEPTHS:
        raise InputError(f"ResNet depth {depth} is not supported; expected one of {sorted(DEPTHS)}.")
    if init not in INITS:
        raise InputError(f"Initialisation {init!r} is unknown; expected one of {', '.join(INITS)}.")
    model = DEPTHS[depth](weights=None)
    if init == "imagenet":
        model.load_state_dict(load_weights_file(weights_file))
    model.fc = nn.Linear(model.fc.in_features, 1)
    return model


def load_weights_file(weights_file: Path | None) -> dict[str, torch.Tensor]:
    """Read a local ImageNet state dict; raise :class:`InputError` if it is missing or unreadable."""
    if weights_file is None:
        raise InputError(
            "ImageNet initialisation needs a local weights file; pass --weights FILE with a torchvision "
            "ResNet state dict (kneeviewer never downloads weights)."
        )
    path = Path(weights_file)
    if not path.is_file():
        raise InputError(f"Weights file {path} not found; pass the path of a torchvision ResNet state dict.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several unrelated types for a bad file
        raise InputError(f"Weights file {path} could not be read as a PyTorch state dict ({error}).") from error
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    return state


def freeze_layers(model: nn.Module, freeze: str) -> None:
    """Turn off gradients of the layers named by ``freeze`` (see :data:`FREEZES`)."""
    if freeze not in FREEZES:
        raise InputError(f"Freezing variant {freeze!r} is unknown; expected one of {', '.join(FREEZES)}.")
    groups = {
        "none": [],
        "first_layer": [model.conv1, model.bn1],
        "first_two_layers": [model.conv1, model.bn1, model.layer1],
        "all": [model.conv1, model.bn1, model.layer1, model.layer2, model.layer3, model.layer4],
    }[freeze]
    for module in groups:
        for parameter in module.parameters():
            parameter.requires_grad_(False)


def load_head_compatible(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load a state dict from another single-logit model of the same depth (the OA model)."""
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise InputError(
            f"The pretrained state does not match this ResNet (missing {missing[:3]}, unexpected {unexpected[:3]}); "
            "pretrain with the same depth."
        )
