"""Grad-CAM of the chronic-pain class, from the image to the bone surface.

For a single-logit ResNet, the gradient of the logit (before the sigmoid)
with respect to the feature maps of the last residual block
(``layer4[-1]``) is averaged over each map to a channel weight; the
weighted sum of the maps goes through a ReLU and is upsampled bilinearly
to 224 x 224. With ``normalise=True`` each map is scaled to [0, 1] first
(minimum subtracted, divided by maximum + 1e-7) exactly as pytorch-grad-cam
1.5 does, so an all-zero map stays zero and never becomes NaN. The maps are
then read back onto the bone surface by
:mod:`kneeviewer.learning.surface_gradcam`.

The hooks are written here rather than taken from pytorch-grad-cam so that
the core has no OpenCV dependency; a test proves both equal within 1e-5.

References
----------
Selvaraju RR et al. Grad-CAM: visual explanations from deep networks via
gradient-based localization. ICCV 2017. doi:10.1109/ICCV.2017.74
"""

from __future__ import annotations

import logging
import numpy as np
import torch
from torch import nn
from torch.nn import functional

from kneeviewer.learning.images import IMAGE_SIZE_PX

log = logging.getLogger(__name__)

#: Added to the maximum before dividing, as pytorch-grad-cam does.
NORMALISE_EPSILON = 1e-7


def gradcam(
    model: nn.Module, inputs: torch.Tensor, layer: nn.Module | None = None, normalise: bool = True, size_px: int = IMAGE_SIZE_PX
) -> np.ndarray:
    """Compute Grad-CAM of the positive (pain) logit.

    Parameters
    ----------
    model : ResNet with a single output logit; put in evaluation mode here.
    inputs : Tensor, (n, 3, h, w)
        Normalised network inputs.
    layer : module whose output is explained; ``model.layer4[-1]`` by default.
    normalise : scale each map to [0, 1] before upsampling (see module docstring).
    size_px : side of the returned maps.

    Returns
    -------
    ndarray, float32, (n, size_px, size_px)
        Non-negative maps; zero where the logit does not depend positively
        on the features.
    """
    layer = model.layer4[-1] if layer is None else layer
    captured: dict[str, torch.Tensor] = {}

    def keep_activation(_module, _inputs, output):
        captured["activation"] = output
        output.register_hook(lambda gradient: captured.__setitem__("gradient", gradient))

    handle = layer.register_forward_hook(keep_activation)
    model.eval()
    try:
        inputs = inputs.detach().clone().requires_grad_(True)
        model.zero_grad()
        logits = model(inputs).reshape(len(inputs), -1)[:, 0]
        logits.sum().backward()
    finally:
        handle.remove()
    activation = captured["activation"].detach()
    gradient = captured["gradient"].detach()
    weights = gradient.mean(dim=(2, 3), keepdim=True)
    cams = torch.relu((weights * activation).sum(dim=1, keepdim=True))
    if normalise:
        flat = cams.flatten(1)
        flat = flat - flat.min(dim=1, keepdim=True).values
        flat = flat / (NORMALISE_EPSILON + flat.max(dim=1, keepdim=True).values)
        cams = flat.view_as(cams)
    upsampled = functional.interpolate(cams, size=(size_px, size_px), mode="bilinear", align_corners=False)
    return upsampled[:, 0].numpy().astype(np.float32)

