"""Grad-CAM against pytorch-grad-cam on the same model and input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pytorch_grad_cam import GradCAM

from kneeviewer.learning.gradcam import gradcam
from kneeviewer.learning.models import build_resnet


class LogitTarget:
    """pytorch-grad-cam target for a single-logit model: the logit itself."""

    def __call__(self, output: torch.Tensor) -> torch.Tensor:
        return output.reshape(-1)[0]


def reference_cam(model: torch.nn.Module, inputs: torch.Tensor) -> np.ndarray:
    with GradCAM(model=model, target_layers=[model.layer4[-1]]) as cam:
        return cam(input_tensor=inputs, targets=[LogitTarget() for _ in range(len(inputs))])


@pytest.fixture(scope="module")
def model_and_inputs():
    torch.manual_seed(3)
    model = build_resnet(18).eval()
    inputs = torch.randn(3, 3, 64, 64)
    return model, inputs


def test_gradcam_matches_reference(model_and_inputs):
    model, inputs = model_and_inputs
    ours = gradcam(model, inputs, normalise=True, size_px=64)
    reference = reference_cam(model, inputs)
    assert ours.shape == reference.shape
    assert np.abs(ours - reference).max() <= 1e-5


def test_gradcam_all_zero_map(model_and_inputs):
    model, inputs = model_and_inputs
    with torch.no_grad():
        model_zero = build_resnet(18).eval()
        model_zero.load_state_dict(model.state_dict())
        model_zero.fc.weight.zero_()  # the logit no longer depends on layer4
    ours = gradcam(model_zero, inputs, normalise=True, size_px=64)
    reference = reference_cam(model_zero, inputs)
    assert not np.isnan(ours).any()
    assert np.all(ours == 0)
    assert np.abs(ours - reference).max() <= 1e-5


def test_gradcam_raw_is_nonnegative(model_and_inputs):
    model, inputs = model_and_inputs
    raw = gradcam(model, inputs, normalise=False)
    assert raw.shape == (3, 224, 224)
    assert raw.min() >= 0
