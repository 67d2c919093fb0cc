"""Ensemble segmentation with small TorchScript models."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from kneeviewer.errors import InputError
from kneeviewer.io.volume import Geometry, Volume
from kneeviewer.segmentation.ensemble import average_softmax, load_checkpoints, segment


class _Threshold(torch.nn.Module):
    """Two-class model: class 1 where the standardised image exceeds ``level``."""

    def __init__(self, level: float) -> None:
        super().__init__()
        self.level = level

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        foreground = 10.0 * (image - self.level)
        return torch.cat([-foreground, foreground], dim=1)


@pytest.fixture
def checkpoints(tmp_path):
    # TorchScript here: torch.export imports triton, whose bundled LLVM can crash a
    # process that already rendered with Mesa's llvmpipe (as other tests do). The
    # .pt2 path is tested in a fresh process below.
    paths = []
    for index, level in enumerate((0.0, 0.2, -0.2)):
        path = tmp_path / f"model{index}.pt"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated in PyTorch 2.14
            torch.jit.script(_Threshold(level)).save(str(path))
        paths.append(path)
    return paths


_EXPORT_SCRIPT = """
import sys, numpy as np, torch
sys.path.insert(0, sys.argv[2])
from test_ensemble import _Threshold
from kneeviewer.segmentation.ensemble import average_softmax, load_checkpoints
path = sys.argv[1]
torch.export.save(torch.export.export(_Threshold(0.0), (torch.zeros(1, 1, 6, 5, 4),)), path)
image = np.zeros((6, 5, 4), dtype=np.float32)
image[3:] = 1.0
probabilities = average_softmax(load_checkpoints([path]), image)
print(round(float(probabilities[1, 5, 0, 0]), 3), round(float(probabilities[1, 0, 0, 0]), 3))
"""


def test_export_program_checkpoint(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-c", _EXPORT_SCRIPT, str(tmp_path / "model.pt2"), str(Path(__file__).parent)],
        capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    foreground, background = map(float, completed.stdout.split())
    assert foreground > 0.99
    assert background < 0.01


def test_ensemble_averages_softmax(checkpoints):
    models = load_checkpoints(checkpoints)
    image = np.zeros((6, 5, 4), dtype=np.float32)
    image[3:] = 1.0
    probabilities = average_softmax(models, image)
    assert probabilities.shape == (2, 6, 5, 4)
    np.testing.assert_allclose(probabilities.sum(axis=0), 1.0, atol=1e-6)
    assert probabilities[1, 5, 0, 0] > 0.99
    assert probabilities[1, 0, 0, 0] < 0.01


def test_segment_maps_classes_to_labels(checkpoints):
    models = load_checkpoints(checkpoints)
    data = np.zeros((6, 5, 4), dtype=np.float32)
    data[3:] = 1.0
    image = Volume(data, Geometry((6, 5, 4), (0.5, 0.5, 1.0), (0, 0, 0)))
    labels = segment(models, image, class_labels=[0, 5])
    assert set(np.unique(labels.data).tolist()) == {0, 5}
    assert labels.geometry is image.geometry


def test_missing_checkpoint_is_named(tmp_path):
    missing = tmp_path / "absent.pt"
    with pytest.raises(InputError, match="absent.pt"):
        load_checkpoints([missing])


@pytest.mark.parametrize("suffix", [".pt"])
def test_invalid_checkpoint_is_rejected(tmp_path, suffix):
    bad = tmp_path / f"bad{suffix}"
    bad.write_bytes(b"not a model")
    with pytest.raises(InputError, match="could not be loaded"):
        load_checkpoints([bad])
